import re
from datetime import datetime
from uuid import UUID

import phonenumbers
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.directory import repository
from callgrid.directory.models import Contact, Host, Product, Subscription
from callgrid.db.errors import is_unique_violation
from callgrid.directory.schemas import ContactCreate, HostCreate, HostUpdate, ProductCreate
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import ScheduleError
from callgrid.scheduling.availability import parse_working_hours


async def get_or_404(session: AsyncSession, model, organization_id: UUID, id: UUID, what: str):
    row = await repository.get(session, model, organization_id, id)
    if row is None:
        raise NotFound(f"no {what} with id {id}", field=f"{what}_id")
    return row


async def _ensure_email_free(session: AsyncSession, organization_id: UUID, email: str, except_id: UUID | None = None):
    """Emails are compared ignoring case, deleted hosts included (theirs stays taken)."""
    existing = (
        await session.execute(
            select(Host.id, Host.number).where(Host.organization_id == organization_id, func.lower(Host.email) == email.lower())
        )
    ).first()
    if existing is not None and existing.id != except_id:
        raise Conflict(
            f"host {existing.number} has the email {email} (emails are compared ignoring case)",
            field="email", extra={"host_id": str(existing.id)},
        )


# How each database names the indexes on hosts' emails when it refuses a row (PostgreSQL the
# first schema's constraint or the lower(email) index, SQLite the columns or the index).
_EMAIL_UNIQUE = ('"uq_hosts_organization_id"', "uq_hosts_organization_id_lower_email", "hosts.email")


async def _flush_email(session: AsyncSession, email: str) -> None:
    """Flush a host's row. Its email was checked before, but a concurrent create or change may
    have taken it since: the unique index refuses ours, the same 409 (the request is rolled back)."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc) or not any(name in str(exc.orig) for name in _EMAIL_UNIQUE):
            raise
        raise Conflict(f"a host with the email {email} exists (emails are compared ignoring case)", field="email") from None


def _hours(data) -> dict:
    return {day: [r.model_dump() if hasattr(r, "model_dump") else r for r in ranges] for day, ranges in data.items()}


def _checked_hours(working_hours: dict, date_overrides: dict) -> tuple[dict, dict]:
    """The JSON forms, once their rules hold (sorted, not overlapping, real dates)."""
    working_hours, date_overrides = _hours(working_hours), _hours(date_overrides)
    try:
        parse_working_hours(working_hours, date_overrides)
    except ScheduleError as exc:
        raise BadRequest(f"{exc.field}: {exc.rule}", field=exc.field) from None
    return working_hours, dict(sorted(date_overrides.items()))


PROFILE = ("user_slug", "phone", "profile_pic_url", "country", "currency", "is_deactivated")


def slug_of(name: str) -> str | None:
    """`Ada Lovelace` -> `ada-lovelace` (None when nothing of the name is left)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-") or None


def dial_code(phone: str | None) -> str | None:
    """The country calling code of an E.164 number: `+919876543210` -> `+91`."""
    if not phone:
        return None
    return f"+{phonenumbers.parse(phone, None).country_code}"


async def create_host(session: AsyncSession, organization_id: UUID, data: HostCreate) -> Host:
    await _ensure_email_free(session, organization_id, data.email)
    working_hours, date_overrides = _checked_hours(data.working_hours, data.date_overrides)
    host = Host(organization_id=organization_id, name=data.name, email=data.email, timezone=data.timezone,
                working_hours=working_hours, date_overrides=date_overrides,
                user_slug=data.user_slug or slug_of(data.name), phone=data.phone, dial_code=dial_code(data.phone),
                profile_pic_url=data.profile_pic_url, country=data.country, currency=data.currency,
                is_deactivated=data.is_deactivated)
    session.add(host)
    await _flush_email(session, data.email)
    return host


async def update_host(session: AsyncSession, organization_id: UUID, host_id: UUID, data: HostUpdate) -> Host:
    host = await get_or_404(session, Host, organization_id, host_id, "host")
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "email", "timezone", "working_hours", "date_overrides", "is_deactivated"):
        if changes.get(name) is None and name in changes:
            changes.pop(name)
    if "phone" in changes:  # (null clears the profile's fields)
        changes["dial_code"] = dial_code(changes["phone"])
    if "email" in changes:
        await _ensure_email_free(session, organization_id, changes["email"], except_id=host.id)
    if "working_hours" in changes or "date_overrides" in changes:
        changes["working_hours"], changes["date_overrides"] = _checked_hours(
            changes.get("working_hours", host.working_hours), changes.get("date_overrides", host.date_overrides or {})
        )
    for name, value in changes.items():
        setattr(host, name, value)
    await _flush_email(session, host.email)
    return host


async def contact_with_email(session: AsyncSession, organization_id: UUID, email: str) -> Contact | None:
    """The organization's contact with this email, whatever its case."""
    return await repository.contact_by_email(session, organization_id, email)


async def create_contact(session: AsyncSession, organization_id: UUID, data: ContactCreate) -> Contact:
    if data.email is not None:
        existing = await contact_with_email(session, organization_id, data.email)
        if existing is not None:
            raise Conflict(
                f"contact {existing.number} has this email (emails are compared ignoring case)",
                field="email", extra={"contact_id": str(existing.id)},
            )
    contact = Contact(organization_id=organization_id, **data.model_dump())
    session.add(contact)
    await session.flush()
    return contact


async def create_product(session: AsyncSession, organization_id: UUID, creator_id: UUID, data: ProductCreate) -> Product:
    product = Product(organization_id=organization_id, creator_id=creator_id, **data.model_dump())
    session.add(product)
    await session.flush()
    return product


async def delete_contact(session: AsyncSession, organization_id: UUID, contact_id: UUID, *, now: datetime) -> None:
    """Kept for the calls they took part in, gone from lists and gets; their subscriptions end
    and their email is free for a new contact."""
    contact = await repository.get(session, Contact, organization_id, contact_id, for_update=True)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id}", field="contact_id")
    contact.deleted_at = now
    contact.updated_at = now
    await session.execute(delete(Subscription).where(Subscription.contact_id == contact.id))
    await session.flush()


async def delete_product(session: AsyncSession, organization_id: UUID, product_id: UUID, *, now: datetime) -> None:
    """Kept for its calls (which still show it), gone from lists and gets: no new call, no new
    subscriber. Its calls already planned stay as they are."""
    product = await repository.get(session, Product, organization_id, product_id, for_update=True)
    if product is None:
        raise NotFound(f"no product with id {product_id}", field="product_id")
    product.deleted_at = now
    product.updated_at = now
    await session.flush()


async def subscribe(session: AsyncSession, organization_id: UUID, product_id: UUID, contact_id: UUID) -> Contact:
    await get_or_404(session, Product, organization_id, product_id, "product")
    contact = await get_or_404(session, Contact, organization_id, contact_id, "contact")
    if await repository.get_subscription(session, product_id, contact_id) is None:
        session.add(Subscription(organization_id=organization_id, product_id=product_id, contact_id=contact_id))
        await session.flush()
    return contact


async def unsubscribe(session: AsyncSession, organization_id: UUID, product_id: UUID, contact_id: UUID) -> None:
    await get_or_404(session, Product, organization_id, product_id, "product")
    subscription = await repository.get_subscription(session, product_id, contact_id)
    if subscription is None or subscription.organization_id != organization_id:
        raise NotFound(f"contact {contact_id} does not subscribe to this product", field="contact_id")
    await session.delete(subscription)
    await session.flush()
