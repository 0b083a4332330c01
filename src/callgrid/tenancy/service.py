import re
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.tenancy import repository, revocations
from callgrid.tenancy.keys import generate_key, hash_key
from callgrid.tenancy.models import ApiKey, Organization, WhitelabelDomain
from callgrid.tenancy.schemas import DomainCreate


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "org"


async def create_organization(session: AsyncSession, name: str, *, slug: str | None = None) -> Organization:
    """The organization alone; `callgrid.onboarding` gives it its owner host and first key."""
    name = name.strip()
    if not name:
        raise BadRequest("must not be empty", field="name")
    slug = slugify(slug or name)
    if await repository.get_organization_by_slug(session, slug):
        raise Conflict(f"an organization with slug {slug!r} exists", field="slug")
    organization = Organization(name=name, slug=slug)
    session.add(organization)
    await session.flush()
    return organization


async def create_api_key(session: AsyncSession, organization_id: UUID, host_id: UUID, *, name: str = "") -> str:
    """A new key acting as `host_id`, which the caller has checked is a host of the organization."""
    return (await add_api_key(session, organization_id, host_id, name=name))[1]


async def add_api_key(session: AsyncSession, organization_id: UUID, host_id: UUID, *, name: str = "") -> tuple[ApiKey, str]:
    """A new key acting as `host_id` (checked by the caller): its row and the key itself, which
    is stored only as a hash."""
    key = generate_key()
    row = ApiKey(organization_id=organization_id, host_id=host_id, name=name, prefix=key[:8], key_hash=hash_key(key))
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(session: AsyncSession, organization_id: UUID, key_id: UUID, *, now: datetime) -> ApiKey:
    """Revoke a working key of the organization (404 for a revoked one, or another
    organization's); every process stops taking it when this commits."""
    key = await repository.get_key(session, organization_id, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound(f"no API key with id {key_id}", field="key_id")
    await revoke_keys(session, [key], now=now)
    return key


async def revoke_keys(session: AsyncSession, keys: list[ApiKey], *, now: datetime) -> None:
    """Revoke these keys (rows of the session), telling every process when it commits."""
    live = [key for key in keys if key.revoked_at is None]
    for key in live:
        key.revoked_at = now
    await session.flush()
    await revocations.announce(session, [key.key_hash for key in live])


async def add_domain(session: AsyncSession, organization_id: UUID, data: DomainCreate) -> WhitelabelDomain:
    hostname = data.hostname.lower()
    if await repository.get_domain(session, organization_id, hostname) is not None:
        raise Conflict(f"{hostname} is already registered", field="hostname")
    domain = WhitelabelDomain(organization_id=organization_id, hostname=hostname)
    session.add(domain)
    await session.flush()
    return domain


async def remove_domain(session: AsyncSession, organization_id: UUID, domain_id: UUID) -> None:
    domain = (
        await session.execute(
            select(WhitelabelDomain).where(WhitelabelDomain.id == domain_id, WhitelabelDomain.organization_id == organization_id)
        )
    ).scalar_one_or_none()
    if domain is None:
        raise NotFound(f"no white-label domain with id {domain_id}", field="domain_id")
    await session.delete(domain)
    await session.flush()
