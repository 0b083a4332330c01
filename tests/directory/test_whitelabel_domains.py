"""/api/v1/whitelabel-domains: create, list."""

import pytest

from tests.directory.conftest import assert_page, assert_problem

BASE = "/api/v1/whitelabel-domains"


async def test_register_and_list(tenant):
    r = await tenant.client.post(BASE, json={"hostname": "Calls.Example.COM"})
    assert r.status_code == 201, r.text
    domain = r.json()
    assert set(domain) == {"id", "hostname", "created_at"}
    assert domain["hostname"] == "calls.example.com"
    await tenant.client.post(BASE, json={"hostname": "localhost"})
    items = assert_page(await tenant.client.get(BASE), total=2)
    assert [d["hostname"] for d in items] == ["calls.example.com", "localhost"]
    assert items[0] == domain


async def test_a_host_name_is_registered_once_per_organization(tenant, other_tenant):
    await tenant.client.post(BASE, json={"hostname": "calls.example.com"})
    assert_problem(await tenant.client.post(BASE, json={"hostname": "CALLS.example.com"}), 409, "hostname")
    assert_page(await tenant.client.get(BASE), total=1)
    assert_page(await other_tenant.client.get(BASE), total=0)


@pytest.mark.parametrize(
    "hostname",
    ["", "https://calls.example.com", "calls.example.com/path", "calls example.com", "-bad.example.com", "a" * 64 + ".com",
     "calls.example.com:8443", "*.example.com", 42, None],
)
async def test_bad_host_name_is_400(tenant, hostname):
    assert_problem(await tenant.client.post(BASE, json={"hostname": hostname}), 400, "hostname")
    assert_page(await tenant.client.get(BASE), total=0)
