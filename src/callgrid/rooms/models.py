"""Rooms, their members, and the server's own secret (which signs join tokens and room keys).

Live state (who is connected, the running meeting clock) is not here: it is the presence
hub's (in the process, or in Redis). A room row keeps what outlives a connection: the meeting
time up to the last moment the clock stopped, when two first met, when it ended.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime
from callgrid.db.server_secrets import ServerSecret  # noqa: F401 (the installation's, which signs join tokens and room keys)


class RoomType(StrEnum):
    OPEN = "open"
    PUBLIC = "public"
    PRIVATE = "private"


class MemberType(StrEnum):
    HOST = "host"
    MEMBER = "member"
    GUEST = "guest"


class RoomSource(StrEnum):
    """Who made the room: the rooms API, or a call (then the room's id is the call's id)."""

    API = "api"
    VIDEO_CALL = "video_call"
    APPOINTMENT = "appointment"
    BOOKING = "booking"
    BREAKOUT = "breakout"  # a breakout room of another room (`parent_id`): callgrid.rooms.breakouts


class Room(IdMixin, TimestampMixin, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        Index("ix_rooms_organization_id_id", "organization_id", "id"),
        Index("ix_rooms_parent_id", "parent_id"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16), default=RoomSource.API)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    max_meeting_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    thumbnail_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # Milliseconds with two or more connected, up to the last time the clock stopped (the
    # hub adds the running stretch).
    meeting_time_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    termination_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # The room's webhook: an endpoint of kind `room` (raw body, its own secret).
    webhook_endpoint_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="SET NULL"), default=None
    )
    # A breakout room: the room it was opened from (rooms are deleted only with their
    # organization, which takes both), and when its time limit closes it (None: no limit).
    parent_id: Mapped[UUID | None] = mapped_column(default=None)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The host it belongs to (a host key sees only its own host's rooms): the creating key's host,
    # a call's host, a breakout's main room's. No foreign key: hosts are only ever soft-deleted.
    host_id: Mapped[UUID | None] = mapped_column(default=None)


class RoomMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "room_members"
    __table_args__ = (UniqueConstraint("room_id", "user_id"),)

    room_id: Mapped[UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default=MemberType.MEMBER)
    name: Mapped[str | None] = mapped_column(String(255), default=None)


class RoomEvent(Base):
    """One thing that happened in a room, for its timeline (callgrid.rooms.timeline): joins and
    leaves, chat, hands, mute changes, whiteboard strokes, breakouts. Written in batches."""

    __tablename__ = "room_events"
    __table_args__ = (Index("ix_room_events_room_id_at_id", "room_id", "at", "id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    room_id: Mapped[UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(64), default=None)
    member_id: Mapped[str | None] = mapped_column(String(64), default=None)
    user_id: Mapped[str | None] = mapped_column(String(255), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    data: Mapped[dict | None] = mapped_column(JSON, default=None)
