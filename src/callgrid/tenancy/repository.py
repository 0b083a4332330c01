from uuid import UUID

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callgrid.db.sections import read_engine_rows
from callgrid.tenancy.models import ApiKey, Organization, WhitelabelDomain


_KEY_HOLDER = (
    select(Organization.id, Organization.name, ApiKey.host_id, ApiKey.id, ApiKey.role)
    .join(Organization, Organization.id == ApiKey.organization_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


async def key_holder(engine: AsyncEngine, key_hash: str) -> tuple | None:
    """(organization id, organization name, host id, key id, role) of a working key, else None.
    One row by an index: on SQLite read on the event loop's reader (db.sections), which is
    what every request whose key has left the cache does at once: through a session, each
    read took trips to the driver's thread, and all the requests under way waited for theirs,
    0.5 s once every `CALLGRID_API_KEY_CACHE_SECONDS` under a steady load of creates."""
    rows = await read_engine_rows(engine, _KEY_HOLDER, {"key_hash": key_hash})
    return rows[0] if rows else None


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
