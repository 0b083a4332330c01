"""recordings: one row per participant session's recording file (rooms with `record: true`)

Revision ID: 20261124_recordings
Revises: 20261123_products_creator
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from callgrid.db.base import UTCDateTime

revision = "20261124_recordings"
down_revision = "20261123_products_creator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_recordings_organization_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_recordings_room_id_rooms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index("ix_recordings_room_id_started_at", "recordings", ["room_id", "started_at"], unique=False)
    op.create_index("ix_recordings_status", "recordings", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_recordings_status", table_name="recordings")
    op.drop_index("ix_recordings_room_id_started_at", table_name="recordings")
    op.drop_table("recordings")
