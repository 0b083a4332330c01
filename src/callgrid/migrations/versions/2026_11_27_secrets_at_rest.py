"""webhook signing secrets and custom header values stored encrypted (issue 13)

Revision ID: 20261127_secrets_at_rest
Revises: 20261126_management
Create Date: 2026-11-27

The column of signing secrets widens to hold a Fernet token. The values themselves are not
encrypted here (a migration has no key: CALLGRID_SECRET_KEY is the server's setting): the CLI
encrypts what is still plaintext right after it migrates (`callgrid migrate`, `serve`), and
until then plaintext is read as it is (callgrid.db.encrypted).
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_secrets_at_rest"
down_revision = "20261126_management"
branch_labels = None
depends_on = None

_SECRET_WIDTH = 512


def _sqlite_retype_secret(width: int) -> None:
    # SQLite's batch mode copies and drops the table, and the drop would cascade to every
    # delivery and attempt (foreign keys are on): the column is replaced in place instead.
    # Its DEFAULT '' is only there because SQLite adds a NOT NULL column with a default.
    op.execute("ALTER TABLE webhook_endpoints RENAME COLUMN secret TO secret_before")
    op.execute(f"ALTER TABLE webhook_endpoints ADD COLUMN secret VARCHAR({width}) NOT NULL DEFAULT ''")
    op.execute("UPDATE webhook_endpoints SET secret = secret_before")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN secret_before")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_retype_secret(_SECRET_WIDTH)
    else:
        op.alter_column("webhook_endpoints", "secret", type_=sa.String(_SECRET_WIDTH),
                        existing_type=sa.String(128), existing_nullable=False)


def downgrade() -> None:
    # The version before reads no encrypted value: refuse rather than hand it ciphertext.
    sealed = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM webhook_endpoints WHERE secret LIKE 'fernet:%' OR CAST(headers AS TEXT) LIKE '%\"fernet:%'")).scalar()
    if sealed:
        raise RuntimeError(
            f"{sealed} webhook endpoints hold encrypted secrets, which the earlier version cannot read; "
            "delete them (DELETE /api/v1/webhook-endpoints/{id}, or the room's webhook) before downgrading"
        )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_retype_secret(128)
    else:
        op.alter_column("webhook_endpoints", "secret", type_=sa.String(128),
                        existing_type=sa.String(_SECRET_WIDTH), existing_nullable=False)
