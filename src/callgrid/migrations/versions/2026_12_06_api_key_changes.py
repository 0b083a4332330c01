"""api_key_changes: one row that every revocation or deletion of an API key moves (SQLite)

A SQLite process trusts its key cache while `PRAGMA data_version` stands still; when another
connection has committed, it read the keys' revocation state, `count(revoked_at)`,
`max(revoked_at)` and `count(*)` of `api_keys`: every key's row, 0.75 ms at 10,000 keys, and
another connection commits with nearly every write (the process's own writer among them). It
now reads this one row by its primary key. Triggers move it on SQLite; PostgreSQL processes
hear of revocations through NOTIFY and do not read it.

Revision ID: 20261206_api_key_changes
Revises: 20261206_day_counts_by_day
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "20261206_api_key_changes"
down_revision = "20261206_day_counts_by_day"
branch_labels = None
depends_on = None

# An upsert: the row is there from this migration on, and comes back if it was deleted.
_MOVE = "INSERT INTO api_key_changes (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = version + 1"
TRIGGERS = {
    "api_keys_revoked_moves_changes": f"AFTER UPDATE OF revoked_at ON api_keys BEGIN {_MOVE}; END",
    "api_keys_deleted_moves_changes": f"AFTER DELETE ON api_keys BEGIN {_MOVE}; END",
}


def upgrade() -> None:
    op.create_table(
        "api_key_changes",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key_changes")),
    )
    op.execute("INSERT INTO api_key_changes (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for name, body in TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("api_key_changes")
