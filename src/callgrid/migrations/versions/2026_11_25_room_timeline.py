"""rooms' timelines and breakout rooms: `room_events` (everything that happens in a room, with
its time), and on `rooms` the breakout's `parent_id` and time limit (`closes_at`)

Revision ID: 20261125_room_timeline
Revises: 20261124_recordings
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from callgrid.db.base import UTCDateTime

revision = "20261125_room_timeline"
down_revision = "20261124_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without constraints: an ALTER TABLE ... ADD COLUMN on SQLite too (no
    # copy of the table, whose drop would cascade to its members).
    op.add_column("rooms", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.add_column("rooms", sa.Column("closes_at", UTCDateTime(), nullable=True))
    op.create_index("ix_rooms_parent_id", "rooms", ["parent_id"], unique=False)

    op.create_table(
        "room_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_room_events_room_id_rooms"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_events")),
    )
    op.create_index("ix_room_events_room_id_at_id", "room_events", ["room_id", "at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_room_events_room_id_at_id", table_name="room_events")
    op.drop_table("room_events")
    op.drop_index("ix_rooms_parent_id", table_name="rooms")
    # SQLite 3.35+ drops a column in place (no copy of the table).
    op.drop_column("rooms", "closes_at")
    op.drop_column("rooms", "parent_id")
