from decimal import Decimal
from uuid import UUID

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, event, func, text
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin
from callgrid.tenancy import numbers


class Host(IdMixin, TimestampMixin, Base):
    """A person who runs calls: a creator, a closer, a moderator."""

    __tablename__ = "hosts"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),
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


class Contact(IdMixin, TimestampMixin, Base):
    """A person who attends: an invitee, a subscriber, a participant, a guest."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_organization_id_email", "organization_id", "email"),
        # One contact per email in an organization, whatever its case.
        Index("uq_contacts_organization_id_lower_email", "organization_id", func.lower(text("email")), unique=True),
        UniqueConstraint("organization_id", "number", name="uq_contacts_organization_id_number"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str] = mapped_column(String(255), default="")


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
