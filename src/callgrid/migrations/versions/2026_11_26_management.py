"""the complete management API: API keys' `last_used_at`; hosts, contacts and products deleted
softly (`deleted_at`: kept for the calls they held); hosts' profile (the video-calls API's
`creator`); products' `affiliate_enabled`; one contact per email among those not deleted

Revision ID: 20261126_management
Revises: 20261125_room_timeline
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from callgrid.db.base import UTCDateTime

revision = "20261126_management"
down_revision = "20261125_room_timeline"
branch_labels = None
depends_on = None

_HOST_PROFILE = (
    ("user_slug", sa.String(length=64)),
    ("phone", sa.String(length=32)),
    ("dial_code", sa.String(length=8)),
    ("profile_pic_url", sa.String(length=2048)),
    ("country", sa.String(length=64)),
    ("currency", sa.String(length=3)),
)
_CONTACT_EMAIL = "uq_contacts_organization_id_lower_email"


def upgrade() -> None:
    # Nullable columns, or NOT NULL with a constant default: plain ALTER TABLE ... ADD COLUMN on
    # SQLite too (no copy of the table, whose drop would cascade to the rows referring to it).
    op.add_column("api_keys", sa.Column("last_used_at", UTCDateTime(), nullable=True))
    for table in ("hosts", "contacts", "products"):
        op.add_column(table, sa.Column("deleted_at", UTCDateTime(), nullable=True))
    for name, type_ in _HOST_PROFILE:
        op.add_column("hosts", sa.Column(name, type_, nullable=True))
    op.add_column("hosts", sa.Column("is_deactivated", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("products", sa.Column("affiliate_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
    # A deleted contact keeps its email (history) without holding it: a new contact may take it.
    op.drop_index(_CONTACT_EMAIL, table_name="contacts")
    op.create_index(
        _CONTACT_EMAIL, "contacts", ["organization_id", sa.text("lower(email)")], unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(_CONTACT_EMAIL, table_name="contacts")
    op.execute("DELETE FROM contacts WHERE deleted_at IS NOT NULL")  # so the full index can be built again
    op.create_index(_CONTACT_EMAIL, "contacts", ["organization_id", sa.text("lower(email)")], unique=True)
    # SQLite 3.35+ drops a column in place (no copy of the table).
    op.drop_column("products", "affiliate_enabled")
    op.drop_column("hosts", "is_deactivated")
    for name, _ in reversed(_HOST_PROFILE):
        op.drop_column("hosts", name)
    for table in ("products", "contacts", "hosts"):
        op.drop_column(table, "deleted_at")
    op.drop_column("api_keys", "last_used_at")
