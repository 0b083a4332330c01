from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime
from callgrid.tenancy import numbers


class Host(IdMixin, TimestampMixin, Base):
    """A person who runs calls: a creator, a closer, a moderator."""

    __tablename__ = "hosts"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),  # the first schema's; implied by the next
        # One host per email in an organization, whatever its case (deleted hosts keep theirs).
        Index("uq_hosts_organization_id_lower_email", "organization_id", func.lower(text("email")), unique=True),
        UniqueConstraint("organization_id", "number", name="uq_hosts_organization_id_number"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Per organization, 1, 2, 3, ... (callgrid.tenancy.numbers): the event-calls API's ids.
    number: Mapped[int] = mapped_column(Integer)
    # {"monday": [{"start": "09:00", "end": "17:00"}], ...}: local wall-clock ranges in
    # `timezone` (callgrid.scheduling.availability.parse_working_hours has the rules).
    working_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    # {"2026-12-24": [], ...}: the hours of those dates instead of the week's.
    date_overrides: Mapped[dict] = mapped_column(JSON, default=dict)
    # The profile the video-calls API's `creator` shows (its seed's fields).
    user_slug: Mapped[str | None] = mapped_column(String(64), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)  # E.164
    dial_code: Mapped[str | None] = mapped_column(String(8), default=None)  # "+91", from `phone`
    profile_pic_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    country: Mapped[str | None] = mapped_column(String(64), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)  # ISO 4217
    is_deactivated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Deleted: kept for the calls it held (history), out of lists, gets and bookings.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Contact(IdMixin, TimestampMixin, Base):
    """A person who attends: an invitee, a subscriber, a participant, a guest."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_organization_id_email", "organization_id", "email"),
        # One contact per email in an organization, whatever its case.
        # (Among contacts not deleted: a deleted one keeps its email without holding it.)
        Index(
            "uq_contacts_organization_id_lower_email", "organization_id", func.lower(text("email")), unique=True,
            sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL"),
        ),
        UniqueConstraint("organization_id", "number", name="uq_contacts_organization_id_number"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str] = mapped_column(String(255), default="")
    # Deleted: kept for the calls they took part in, out of lists and gets.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Product(IdMixin, TimestampMixin, Base):
    """What a creator sells; contacts subscribe to it ("mango" in the video-calls API)."""

    __tablename__ = "products"

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    # NO ACTION: checked at the end of the statement (an organization deleted with its hosts
    # and products in one cascade), while a host with products cannot be deleted alone.
    creator_id: Mapped[UUID] = mapped_column(ForeignKey("hosts.id", ondelete="NO ACTION"))
    title: Mapped[str] = mapped_column(String(255))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    recurring_type: Mapped[str] = mapped_column(String(32), default="ONETIME")
    no_of_days: Mapped[int | None] = mapped_column(Integer, default=None)
    affiliate_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Deleted: kept for its past calls, out of lists and gets, no new calls.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Subscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("product_id", "contact_id"),
        Index("ix_subscriptions_contact_id", "contact_id"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    product_id: Mapped[UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    contact_id: Mapped[UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))


@event.listens_for(Host, "before_insert")
@event.listens_for(Contact, "before_insert")
def _number(mapper, connection, target) -> None:
    """Hosts and contacts written through the ORM take their number as they are inserted;
    Core inserts take theirs with `callgrid.tenancy.numbers.take_step`."""
    if target.number is None:
        target.number = numbers.take_on(connection, target.organization_id, mapper.local_table.name)
