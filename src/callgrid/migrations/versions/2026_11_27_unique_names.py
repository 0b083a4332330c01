"""white-label host names unique across organizations; host emails unique per organization ignoring case (issue 13)

Revision ID: 20261127_unique_names
Revises: 20261127_idempotency
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_unique_names"
down_revision = "20261127_idempotency"
branch_labels = None
depends_on = None

_HOSTNAME = "uq_whitelabel_domains_hostname"
_PER_ORGANIZATION = "uq_whitelabel_domains_organization_id"
_HOST_EMAIL = "uq_hosts_organization_id_lower_email"


def _refuse_hosts_sharing_an_email() -> None:
    """Two hosts of one organization whose emails differ only in case cannot be merged here (their
    calls, keys and bookings are theirs): the upgrade stops and says which to change."""
    rows = op.get_bind().execute(sa.text(
        "SELECT organization_id, lower(email) AS email, COUNT(*) AS n FROM hosts "
        "GROUP BY organization_id, lower(email) HAVING COUNT(*) > 1 ORDER BY 1, 2"
    )).all()
    if rows:
        shared = "; ".join(f"organization {r.organization_id}: {r.n} hosts with email {r.email}" for r in rows)
        raise RuntimeError(
            "host emails must be unique in an organization ignoring case, and these are not: "
            f"{shared}. Change the email of all but one of each (PATCH /api/v1/hosts/{{id}} with the "
            "previous version of Callgrid, or UPDATE hosts) and migrate again."
        )


def upgrade() -> None:
    # A host name registered by several organizations stays with the first that registered it
    # (it brands that organization's links); the later registrations are removed.
    op.execute(
        "DELETE FROM whitelabel_domains WHERE EXISTS (SELECT 1 FROM whitelabel_domains AS earlier "
        "WHERE earlier.hostname = whitelabel_domains.hostname AND (earlier.created_at < whitelabel_domains.created_at "
        "OR (earlier.created_at = whitelabel_domains.created_at AND earlier.id < whitelabel_domains.id)))"
    )
    # Nothing refers to white-label domains: SQLite's copy of the table drops nothing else.
    with op.batch_alter_table("whitelabel_domains", schema=None) as batch_op:
        batch_op.drop_constraint(_PER_ORGANIZATION, type_="unique")
    op.create_index(_HOSTNAME, "whitelabel_domains", ["hostname"], unique=True)

    _refuse_hosts_sharing_an_email()
    # Over every host, deleted ones too: a deleted host's email stays taken. The first schema's
    # UNIQUE (organization_id, email) stays (implied by this one): dropping it would copy the
    # table on SQLite, whose drop would cascade to every row referring to a host.
    op.create_index(_HOST_EMAIL, "hosts", ["organization_id", sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_index(_HOST_EMAIL, table_name="hosts")
    op.drop_index(_HOSTNAME, table_name="whitelabel_domains")
    with op.batch_alter_table("whitelabel_domains", schema=None) as batch_op:
        batch_op.create_unique_constraint(_PER_ORGANIZATION, ["organization_id", "hostname"])
