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


def domains_of(organization_id: UUID) -> Select:
    return (
        select(WhitelabelDomain)
        .where(WhitelabelDomain.organization_id == organization_id)
        .order_by(WhitelabelDomain.created_at, WhitelabelDomain.id)
    )
