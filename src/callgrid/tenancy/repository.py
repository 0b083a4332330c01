from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.tenancy.models import ApiKey, Organization, WhitelabelDomain


async def get_by_key_hash(session: AsyncSession, key_hash: str) -> tuple[ApiKey, Organization] | None:
    row = (
        await session.execute(
            select(ApiKey, Organization)
            .join(Organization, Organization.id == ApiKey.organization_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_organization_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    return (await session.execute(select(Organization).where(Organization.slug == slug))).scalar_one_or_none()


async def count_organizations(session: AsyncSession) -> int:
    return len((await session.execute(select(Organization.id).limit(1))).all())


async def get_domain(session: AsyncSession, organization_id: UUID, hostname: str) -> WhitelabelDomain | None:
    return (
        await session.execute(
            select(WhitelabelDomain).where(
                WhitelabelDomain.organization_id == organization_id, WhitelabelDomain.hostname == hostname.lower()
            )
        )
    ).scalar_one_or_none()


async def domain_by_hostname(session: AsyncSession, hostname: str) -> WhitelabelDomain | None:
    """Whichever organization registered it (host names are unique across organizations)."""
    return (
        await session.execute(select(WhitelabelDomain).where(WhitelabelDomain.hostname == hostname.lower()))
    ).scalar_one_or_none()


def domains_of(organization_id: UUID) -> Select:
    return (
        select(WhitelabelDomain)
        .where(WhitelabelDomain.organization_id == organization_id)
        .order_by(WhitelabelDomain.created_at, WhitelabelDomain.id)
    )


def keys_of(organization_id: UUID, host_id: UUID | None = None) -> Select:
    """The organization's keys that work (not revoked), oldest first; with `host_id`, that host's."""
    statement = (
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    if host_id is not None:
        statement = statement.where(ApiKey.host_id == host_id)
    return statement


async def get_key(session: AsyncSession, organization_id: UUID, key_id: UUID) -> ApiKey | None:
    """The organization's key, revoked or not; another organization's reads as missing."""
    return (
        await session.execute(select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == organization_id))
    ).scalar_one_or_none()
