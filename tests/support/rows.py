"""Rows a service-level test starts from, written straight into its session (no API, no keys)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.directory.models import Host
from callgrid.tenancy.models import Organization


async def add_organization(session: AsyncSession, name: str = "Acme") -> tuple[Organization, Host]:
    """An organization and its first host."""
    organization = Organization(name=name, slug=f"{name.lower()}-{uuid.uuid4().hex[:8]}")
    session.add(organization)
    await session.flush()
    return organization, await add_host(session, organization, f"Owner of {name}")


async def add_host(session: AsyncSession, organization: Organization, name: str, timezone: str = "UTC") -> Host:
    host = Host(
        organization_id=organization.id,
        name=name,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        timezone=timezone,
        working_hours={},
    )
    session.add(host)
    await session.flush()
    return host
