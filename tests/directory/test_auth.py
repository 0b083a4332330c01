"""Every management route needs an organization's key; a missing or wrong one is a 401 problem."""

import pytest

from tests.directory.conftest import MISSING, assert_problem

ROUTES = [
    ("POST", "/api/v1/hosts", {"name": "x", "email": "x@example.com"}),
    ("GET", "/api/v1/hosts", None),
    ("GET", f"/api/v1/hosts/{MISSING}", None),
    ("PATCH", f"/api/v1/hosts/{MISSING}", {"name": "x"}),
    ("POST", "/api/v1/contacts", {"email": "x@example.com"}),
    ("GET", "/api/v1/contacts", None),
    ("GET", f"/api/v1/contacts/{MISSING}", None),
    ("POST", "/api/v1/products", {"title": "x"}),
    ("GET", "/api/v1/products", None),
    ("GET", f"/api/v1/products/{MISSING}", None),
    ("POST", f"/api/v1/products/{MISSING}/subscribers", {"contact_id": MISSING}),
    ("GET", f"/api/v1/products/{MISSING}/subscribers", None),
    ("DELETE", f"/api/v1/products/{MISSING}/subscribers/{MISSING}", None),
    ("POST", "/api/v1/whitelabel-domains", {"hostname": "x.example.com"}),
    ("GET", "/api/v1/whitelabel-domains", None),
    ("DELETE", f"/api/v1/whitelabel-domains/{MISSING}", None),
    ("DELETE", f"/api/v1/hosts/{MISSING}", None),
    ("DELETE", f"/api/v1/contacts/{MISSING}", None),
    ("DELETE", f"/api/v1/products/{MISSING}", None),
    ("GET", "/api/v1/api-keys", None),
    ("POST", "/api/v1/api-keys", {"name": "x"}),
    ("DELETE", f"/api/v1/api-keys/{MISSING}", None),
]


@pytest.mark.parametrize("method, path, payload", ROUTES)
async def test_missing_or_wrong_key_is_401(app, anonymous, method, path, payload):
    for headers in ({}, {"authorization": "Bearer not-a-key"}, {"authorization": "Basic Zm9vOmJhcg=="}):
        r = await anonymous.request(method, path, json=payload, headers=headers)
        assert_problem(r, 401)


async def test_nothing_is_written_without_a_key(tenant, anonymous):
    await anonymous.post("/api/v1/products", json={"title": "Sneaky"})
    await anonymous.post("/api/v1/contacts", json={"email": "sneaky@example.com"})
    assert (await tenant.client.get("/api/v1/products")).json()["pagination"]["total_count"] == 0
    assert (await tenant.client.get("/api/v1/contacts")).json()["pagination"]["total_count"] == 0


async def test_a_key_sees_only_its_organization(tenant, other_tenant):
    await tenant.client.post("/api/v1/products", json={"title": "Ours"})
    await other_tenant.client.post("/api/v1/products", json={"title": "Theirs"})
    assert [p["title"] for p in (await tenant.client.get("/api/v1/products")).json()["items"]] == ["Ours"]
    assert [p["title"] for p in (await other_tenant.client.get("/api/v1/products")).json()["items"]] == ["Theirs"]
    assert [h["id"] for h in (await tenant.client.get("/api/v1/hosts")).json()["items"]] == [tenant.host_id]


async def test_the_key_alone_without_bearer_is_accepted(tenant, anonymous):
    r = await anonymous.get("/api/v1/hosts", headers={"authorization": tenant.key})
    assert r.status_code == 200, r.text
    assert r.json()["pagination"]["total_count"] == 1
    r = await anonymous.get("/api/v1/hosts", headers={"authorization": "not-a-key"})
    assert_problem(r, 401)
