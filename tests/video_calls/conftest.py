"""Helpers for the video-calls API tests.

Every test here runs with the app's clock moved to a fixed moment (`NOW`, a Tuesday), so
dates in bodies and the exact timestamps in answers are the same on every run.
"""

from uuid import UUID

import pytest

from callgrid import onboarding
from callgrid.db.session import write_session
from tests.support.tenants import Tenant, client
from tests.support.time import NOW, now  # noqa: F401 (autouse: every test here runs at NOW, a Tuesday)

BASE = "/api/v1/external/workshops/video-calls"
CHECK = f"{BASE}/check-availability"

SEED_WORDS = {
    400: ("Bad request", "BAD_REQUEST"),
    401: ("Unauthorized", "UNAUTHORIZED"),
    404: ("Not found", "NOT_FOUND"),
    405: ("Method not allowed", "METHOD_NOT_ALLOWED"),
    409: ("Conflict", "CONFLICT"),
}


async def make_mango(tenant, title: str = "Mango", **fields) -> str:
    r = await tenant.client.post("/api/v1/products", json={"title": title, "price": 500, **fields})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
async def mango(tenant) -> str:
    return await make_mango(tenant)


def body(mango: str, /, **fields) -> dict:
    """A valid one-time call on 2030-01-02 10:00 UTC for an hour, with `fields` over it."""
    base = {
        "title": "Webinar",
        "mango": mango,
        "startDate": "2030-01-02",
        "fromTime": "10:00",
        "timezoneName": "UTC",
        "duration": 60,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def schedule(**fields) -> dict:
    """Schedule fields only (for check-availability)."""
    base = {"startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC", "duration": 60}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


async def create(tenant, mango: str, /, **fields) -> dict:
    r = await tenant.client.post(BASE, json=body(mango, **fields))
    assert r.status_code == 201, r.text
    return r.json()


async def listed(tenant, **params) -> dict:
    headers = params.pop("headers", {})
    r = await tenant.client.get(BASE, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def listed_ids(page: dict) -> list[str]:
    return [call["_id"] for group in page["data"] for call in group["calls"]]


def assert_error(response, status: int, *fragments: str) -> dict:
    """The seed's error shape, with a message containing every fragment."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    kind, word = SEED_WORDS[status]
    assert data["code"] == status
    assert data["type"] == kind
    assert data["statusMessage"] == word
    assert data["success"] is False
    assert isinstance(data["message"], str) and data["message"]
    for fragment in fragments:
        assert fragment in data["message"], (fragment, data["message"])
    return data


async def colleague(app, tenant, name: str = "Colleague"):
    """Another host of `tenant`'s organization, with a key acting as that host."""
    r = await tenant.client.post("/api/v1/hosts", json={"name": name, "email": f"{name.lower()}@example.com"})
    assert r.status_code == 201, r.text
    host_id = r.json()["id"]
    async with write_session(app.state.sessionmaker) as session:
        key = await onboarding.create_api_key(session, UUID(tenant.organization_id), UUID(host_id), name=name)
        await session.commit()
    return Tenant(client(app, key), tenant.organization_id, host_id, key)
