from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime


class EventType(IdMixin, TimestampMixin, Base):
    """Something invitees book: a duration, the hosts who take it, the rules of its slots.
    Deleting one keeps it (`deleted_at`) for its bookings' history; it can no longer be booked."""

    __tablename__ = "event_types"
    __table_args__ = (
        UniqueConstraint("organization_id", "number", name="uq_event_types_organization_id_number"),
        # A slug names one live event type of the organization; a deleted one frees it.
        Index(
            "uq_event_types_organization_id_slug",
            "organization_id",
            "slug",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int] = mapped_column(Integer)
    slot_interval_minutes: Mapped[int | None] = mapped_column(Integer, default=None)  # None: the duration
    minimum_notice_minutes: Mapped[int] = mapped_column(Integer, default=60)
    booking_window_days: Mapped[int] = mapped_column(Integer, default=60)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    redirect_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class EventTypeHost(Base):
    """A host who takes bookings of an event type, and how much it is preferred."""

    __tablename__ = "event_type_hosts"
    __table_args__ = (Index("ix_event_type_hosts_host_id", "host_id"),)

    event_type_id: Mapped[UUID] = mapped_column(ForeignKey("event_types.id", ondelete="CASCADE"), primary_key=True)
    host_id: Mapped[UUID] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True)
    priority: Mapped[str] = mapped_column(String(8), default="medium")


class BookingStatus:
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"  # cancelled by a reschedule: `rescheduled_to_id` is the new one


class Booking(IdMixin, TimestampMixin, Base):
    """An invitee's booking of an event type: its call (kind `booking`, the host's calendar),
    who booked, the buffers it keeps clear around the call, and how it is managed."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("organization_id", "number", name="uq_bookings_organization_id_number"),
        UniqueConstraint("call_id", name="uq_bookings_call_id"),
        UniqueConstraint("token", name="uq_bookings_token"),
        UniqueConstraint("public_id", name="uq_bookings_public_id"),
        # The host whose last booking of the event type is the oldest is chosen first.
        Index("ix_bookings_event_type_id_host_id_created_at", "event_type_id", "host_id", "created_at"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    event_type_id: Mapped[UUID] = mapped_column(ForeignKey("event_types.id", ondelete="CASCADE"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    host_id: Mapped[UUID] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    contact_id: Mapped[UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    time_zone: Mapped[str] = mapped_column(String(64))  # the invitee's
    status: Mapped[str] = mapped_column(String(16), default=BookingStatus.CONFIRMED)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str] = mapped_column(String(64))  # the invitee's manage link: unguessable
    public_id: Mapped[str] = mapped_column(String(32))  # `previewId`
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    rescheduled_from_id: Mapped[UUID | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"), default=None)
    rescheduled_to_id: Mapped[UUID | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"), default=None)
