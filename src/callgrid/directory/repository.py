from typing import TypeVar
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.base import Base
from callgrid.directory.models import Contact, Host, Subscription

M = TypeVar("M", bound=Base)


def _live(model):
    """Hosts, contacts and products that were deleted are kept (for the calls they held) and
    read as missing everywhere else."""
    deleted_at = getattr(model, "deleted_at", None)
    return [] if deleted_at is None else [deleted_at.is_(None)]


async def get(session: AsyncSession, model: type[M], organization_id: UUID, id: UUID, *, for_update: bool = False) -> M | None:
    """A row of the organization; another organization's id, or a deleted row, reads as missing."""
    statement = select(model).where(model.id == id, model.organization_id == organization_id, *_live(model))
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


def list_of(model: type[M], organization_id: UUID) -> Select:
    return (
        select(model)
        .where(model.organization_id == organization_id, *_live(model))
        .order_by(model.created_at, model.id)
    )


def subscribers_of(organization_id: UUID, product_id: UUID) -> Select:
    return (
        select(Contact)
        .join(Subscription, Subscription.contact_id == Contact.id)
        .where(
            Subscription.organization_id == organization_id, Subscription.product_id == product_id,
            Contact.deleted_at.is_(None),
        )
        .order_by(Subscription.created_at, Subscription.id)
    )


async def get_subscription(session: AsyncSession, product_id: UUID, contact_id: UUID) -> Subscription | None:
    return (
        await session.execute(
            select(Subscription).where(Subscription.product_id == product_id, Subscription.contact_id == contact_id)
        )
    ).scalar_one_or_none()


async def get_owner_host(session: AsyncSession, organization_id: UUID) -> Host | None:
    """The organization's first host: the one created with it."""
    return (
        await session.execute(
            select(Host).where(Host.organization_id == organization_id).order_by(Host.created_at, Host.id).limit(1)
        )
    ).scalar_one_or_none()


async def contact_by_email(session: AsyncSession, organization_id: UUID, email: str) -> Contact | None:
    """Case-insensitive, among the contacts not deleted: reads the (organization_id, lower(email))
    unique index."""
    found = await session.execute(
        select(Contact).where(
            Contact.organization_id == organization_id,
            func.lower(Contact.email) == email.lower(),
            Contact.deleted_at.is_(None),
        )
    )
    return found.scalar_one_or_none()
