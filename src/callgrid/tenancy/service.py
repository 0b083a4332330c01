import re
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.errors import BadRequest, Conflict
from callgrid.tenancy import repository
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
    key = generate_key()
    session.add(ApiKey(organization_id=organization_id, host_id=host_id, name=name, prefix=key[:8], key_hash=hash_key(key)))
    await session.flush()
    return key


async def add_domain(session: AsyncSession, organization_id: UUID, data: DomainCreate) -> WhitelabelDomain:
    hostname = data.hostname.lower()
    if await repository.get_domain(session, organization_id, hostname) is not None:
        raise Conflict(f"{hostname} is already registered", field="hostname")
    domain = WhitelabelDomain(organization_id=organization_id, hostname=hostname)
    session.add(domain)
    await session.flush()
    return domain
