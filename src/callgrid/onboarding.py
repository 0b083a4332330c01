"""An organization with its owner host and first API key, and keys for its other hosts.

Here because it needs both `tenancy` (organizations, keys) and `directory` (hosts), which
otherwise know nothing of each other in that direction: directory depends on tenancy.
"""

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.directory import repository as directory_repository
from callgrid.directory.models import Host
from callgrid.errors import NotFound
from callgrid.tenancy import service as tenancy
from callgrid.tenancy.models import ApiKey, KeyRole, Organization


@dataclass(frozen=True)
class NewOrganization:
    organization: Organization
    host: Host
    api_key: str


async def create_organization_with_owner(
    session: AsyncSession, name: str, *, slug: str | None = None, owner_name: str | None = None,
    owner_email: str | None = None,
) -> NewOrganization:
    organization = await tenancy.create_organization(session, name, slug=slug)
    host = Host(
        organization_id=organization.id,
        name=owner_name or organization.name,
        email=owner_email or f"owner@{organization.slug}.invalid",
        timezone="UTC",
        working_hours={},
        user_slug=organization.slug,
    )
    session.add(host)
    await session.flush()
    key = await tenancy.create_api_key(session, organization.id, host.id, name="owner", role=KeyRole.ADMIN)
    return NewOrganization(organization, host, key)


async def create_api_key(
    session: AsyncSession, organization_id: UUID, host_id: UUID | None = None, *, name: str = "", role: KeyRole = KeyRole.HOST
) -> str:
    """A key with `role` acting as `host_id`, a host of the organization; as its owner host when None."""
    return (await add_api_key(session, organization_id, host_id, name=name, role=role))[1]


async def add_api_key(
    session: AsyncSession, organization_id: UUID, host_id: UUID | None = None, *, name: str = "", role: KeyRole = KeyRole.HOST
) -> tuple[ApiKey, str]:
    """`create_api_key`'s row and key. A deleted host takes no new key."""
    if host_id is None:
        host = await directory_repository.get_owner_host(session, organization_id)
    else:
        host = await session.get(Host, host_id)
    if host is None or host.organization_id != organization_id or host.deleted_at is not None:
        raise NotFound(f"no host with id {host_id} in this organization", field="host_id")
    return await tenancy.add_api_key(session, organization_id, host.id, name=name, role=role)
