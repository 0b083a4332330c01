"""A recording: one participant session's media in one file."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime


class RecordingStatus(StrEnum):
    RECORDING = "recording"  # being written by a live process
    READY = "ready"  # stopped and closed: the file is complete
    INTERRUPTED = "interrupted"  # its process died while writing: the file holds what was flushed


class Recording(IdMixin, TimestampMixin, Base):
    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_room_id_started_at", "room_id", "started_at"),
        Index("ix_recordings_status", "status"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    room_id: Mapped[UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(255), default=None)
    # started_at is the moment of the file's time zero (its first frame); ended_at when it
    # stopped (for an interrupted one: started_at plus what the file holds).
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=RecordingStatus.RECORDING)
    # The file's key in the recording storage (a path under CALLGRID_RECORDINGS_DIR).
    path: Mapped[str] = mapped_column(String(512))
    # While `recording`: the process writing it ("host/pid/instance") and when it last said so.
    owner: Mapped[str | None] = mapped_column(String(255), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
