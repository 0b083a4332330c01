from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime


class CallKind(StrEnum):
    VIDEO_CALL = "video_call"
    APPOINTMENT = "appointment"
    BOOKING = "booking"


class StoredStatus(StrEnum):
    """What is written down. `active` and `completed` by time are derived (calls.status)."""

    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Role(StrEnum):
    MODERATOR = "moderator"
    PARTICIPANT = "participant"


class Series(IdMixin, TimestampMixin, Base):
    """The rule a recurring call was expanded from; every occurrence is its own `Call` row."""

    __tablename__ = "series"

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[UUID | None] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    frequency: Mapped[str] = mapped_column(String(16))
    weekdays: Mapped[list[int] | None] = mapped_column(JSON, default=None)  # 0 = Monday
    local_start: Mapped[str] = mapped_column(String(5))  # HH:MM wall time in `timezone`
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)


class Call(IdMixin, TimestampMixin, Base):
    """One scheduled occurrence. Video calls, appointments and bookings are all calls.

    On PostgreSQL the migration adds an exclusion constraint: two calls of one host that are
    not cancelled and were not created with `allow_overlap` never overlap.
    """

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_host_id_starts_at", "host_id", "starts_at"),
        Index("ix_calls_organization_id_kind_starts_at", "organization_id", "kind", "starts_at", "id"),
        Index("ix_calls_series_id", "series_id"),
        Index("ix_calls_product_id_starts_at", "product_id", "starts_at"),
        # A call looked up by id with what the lists check: read from the index alone.
        Index("ix_calls_id_organization_id_kind_starts_at", "id", "organization_id", "kind", "starts_at"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    host_id: Mapped[UUID | None] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(16), default=StoredStatus.SCHEDULED)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    allow_overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    series_id: Mapped[UUID | None] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    product_id: Mapped[UUID | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    # Per-call feature flags (the appointments API's `config`).
    config: Mapped[dict | None] = mapped_column(JSON, default=None)
    # An appointment's host for who may see it (appointments have no `host_id`: they are outside
    # the double-booking check): the host of the key that created it.
    created_by_host_id: Mapped[UUID | None] = mapped_column(default=None)


class Participant(IdMixin, TimestampMixin, Base):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("call_id", "unique_id"),
        # The lists' filters by participant: read from the index alone.
        Index("ix_participants_unique_id_organization_id_call_id", "unique_id", "organization_id", "call_id"),
        Index("ix_participants_contact_id_call_id", "contact_id", "call_id"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    unique_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(16), default=Role.PARTICIPANT)
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))


# Stands for "none" in CallDayCount's key (a primary key cannot hold NULL).
NIL_ID = UUID(int=0)


class CallDayCount(Base):
    """How many calls of one organization, kind, host and product start on one UTC day:
    `live` ones and `cancelled` ones. Derived data, kept exact by triggers on `calls` (every
    insert, delete, and update of a column in the key, of `starts_at` or of `status`; see the
    migration 20261123_list_counts): nothing else writes it.

    The lists count and seek with it: their `total` is the sum over the whole days of the
    window plus a count, call by call, of the partial days at its edges; a deep page starts at
    the day that holds its first call instead of skipping every call before it. Without it the
    count alone read every matching index entry (45,000 appointments: 10 to 20 ms).
    """

    __tablename__ = "call_day_counts"
    __table_args__ = (
        Index("ix_call_day_counts_product_id_day", "product_id", "day"),
        # An organization's counts of one kind (of some products) in a window of days, from the index alone.
        Index("ix_call_day_counts_organization_id_kind_day", "organization_id", "kind", "day", "product_id", "live", "cancelled"),
    )

    organization_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    host_id: Mapped[UUID] = mapped_column(primary_key=True)  # NIL_ID: no host
    product_id: Mapped[UUID] = mapped_column(primary_key=True)  # NIL_ID: no product
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # of starts_at, in UTC
    live: Mapped[int] = mapped_column(Integer, default=0)  # not cancelled
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
