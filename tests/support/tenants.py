"""Organizations as the HTTP tests see them: ids and a client holding the organization's key,
talking to the app in this process."""

import httpx

from callgrid import onboarding
from callgrid.db.session import write_session

BASE_URL = "http://callgrid.test"


class Tenant:
    """An organization as a test sees it: its ids and an HTTP client holding its key."""

    def __init__(self, client: httpx.AsyncClient, organization_id: str, host_id: str, key: str):
        self.client = client
        self.organization_id = organization_id
        self.host_id = host_id
        self.key = key


def client(app, key: str | None = None) -> httpx.AsyncClient:
    """An HTTP client of `app` (in this process), with `key` as its bearer when given."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers)


async def make_tenant(app, name: str) -> Tenant:
    """A new organization with its owner host and key (committed), and a client holding the key."""
    async with write_session(app.state.database) as session:
        created = await onboarding.create_organization_with_owner(session, name)
        await session.commit()
    return Tenant(client(app, created.api_key), str(created.organization.id), str(created.host.id), created.api_key)


async def add_key(app, tenant: Tenant, host_id: str | None = None, *, role: str = "host") -> httpx.AsyncClient:
    """A client holding a new key of `tenant`'s organization with `role`, acting as `host_id`
    (the owner host when None), committed."""
    from uuid import UUID

    from callgrid.tenancy.models import KeyRole

    async with write_session(app.state.database) as session:
        key = await onboarding.create_api_key(
            session, UUID(tenant.organization_id), UUID(host_id) if host_id else None, role=KeyRole(role)
        )
        await session.commit()
    return client(app, key)
