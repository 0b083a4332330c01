"""API keys get a role: admin or host (issue 13)

Revision ID: 20261127_key_roles
Revises: 20261127_unique_names
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_key_roles"
down_revision = "20261127_unique_names"
branch_labels = None
depends_on = None

# The organization's owner host: its first host, the one created with it (onboarding).
_OWNER_OF = (
    "(SELECT h.id FROM hosts AS h WHERE h.organization_id = {table}.organization_id "
    "ORDER BY h.created_at, h.id LIMIT 1)"
)


def upgrade() -> None:
    # Columns added in place on both databases (no batch copy: on SQLite, copying `rooms` or
    # `calls` would drop the old table, and with it every row referring to it).
    op.add_column("api_keys", sa.Column("role", sa.String(length=16), nullable=False, server_default="host"))
    # The owner's keys acted for the whole organization: they become admin; the rest stay host.
    op.execute(f"UPDATE api_keys SET role = 'admin' WHERE host_id = {_OWNER_OF.format(table='api_keys')}")

    op.add_column("calls", sa.Column("created_by_host_id", sa.Uuid(), nullable=True))
    op.execute(f"UPDATE calls SET created_by_host_id = {_OWNER_OF.format(table='calls')} WHERE kind = 'appointment'")

    op.add_column("rooms", sa.Column("host_id", sa.Uuid(), nullable=True))
    # A call's room is its host's (an appointment's, the owner's); a room made by the API, the owner's.
    op.execute(
        "UPDATE rooms SET host_id = COALESCE((SELECT calls.host_id FROM calls WHERE calls.id = rooms.id), "
        f"{_OWNER_OF.format(table='rooms')}) WHERE parent_id IS NULL"
    )
    op.execute(
        "UPDATE rooms SET host_id = (SELECT main.host_id FROM rooms AS main WHERE main.id = rooms.parent_id) "
        "WHERE parent_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("rooms", "host_id")
    op.drop_column("calls", "created_by_host_id")
    op.drop_column("api_keys", "role")
