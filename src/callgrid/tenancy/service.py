import re
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.directory.models import Host
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.tenancy import repository
from callgrid.tenancy.keys import generate_key, hash_key
from callgrid.tenancy.models import ApiKey, Organization


@dataclass(frozen=True)
class NewOrganization:
    organization: Organization
    host: Host
    api_key: str


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "org"


async def create_organization(
    session: AsyncSession, name: str, *, slug: str | None = None, owner_name: str | None = None,
    owner_email: str | None = None,
) -> NewOrganization:
    name = name.strip()
    if not name:
        raise BadRequest("must not be empty", field="name")
    slug = slugify(slug or name)
    if await repository.get_organization_by_slug(session, slug):
        raise Conflict(f"an organization with slug {slug!r} exists", field="slug")
    organization = Organization(name=name, slug=slug)
    session.add(organization)
    await session.flush()
    host = Host(
        organization_id=organization.id,
        name=owner_name or name,
        email=owner_email or f"owner@{slug}.invalid",
        timezone="UTC",
        working_hours={},
    )
    session.add(host)
    await session.flush()
    key = await create_api_key(session, organization.id, host.id, name="owner")
    return NewOrganization(organization, host, key)


async def create_api_key(session: AsyncSession, organization_id: UUID, host_id: UUID, *, name: str = "") -> str:
    host = await session.get(Host, host_id)
    if host is None or host.organization_id != organization_id:
        raise NotFound("no such host in this organization", field="host")
    key = generate_key()
    session.add(ApiKey(organization_id=organization_id, host_id=host_id, name=name, prefix=key[:8], key_hash=hash_key(key)))
    await session.flush()
    return key
