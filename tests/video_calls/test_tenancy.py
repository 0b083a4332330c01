"""Tenant isolation (another organization's ids read as missing, on every verb), the key's
host as the scope of a creator's calls, and strange input that must never be a 500."""

import pytest

from tests.video_calls.conftest import BASE, CHECK, assert_error, body, colleague, create, listed, listed_ids, make_mango

PAST = "2020-01-01T00:00:00Z"


async def test_another_organizations_ids_are_404_on_every_verb(tenant, other_tenant, mango):
    call = await create(tenant, mango, title="Private")
    series = await create(tenant, mango, startDate="2030-01-03", endDate="2030-01-05")
    missing = "00000000-0000-0000-0000-000000000000"
    for target in (call["_id"], missing):
        for r in (
            await other_tenant.client.get(f"{BASE}/{target}"),
            await other_tenant.client.patch(f"{BASE}/{target}", json={"title": "Hijacked"}),
            await other_tenant.client.delete(f"{BASE}/{target}"),
        ):
            data = assert_error(r, 404, "_id")
            assert call["_id"] not in data["message"] or target == call["_id"]
    for target in (series["groupId"], missing):
        assert_error(await other_tenant.client.delete(f"{BASE}/groups/{target}"), 404, "groupId")
    # Creating on the other organization's product is as if it did not exist.
    assert_error(await other_tenant.client.post(BASE, json=body(mango)), 404, "mango")
    # Nothing of ours changed.
    page = await listed(tenant, startDate=PAST)
    assert page["total"] == 4
    titles = {c["title"] for g in page["data"] for c in g["calls"]}
    assert titles == {"Private", "Webinar"}
    assert all(c["status"] == "scheduled" for g in page["data"] for c in g["calls"])


async def test_lists_and_checks_do_not_cross_organizations(tenant, other_tenant, mango):
    ours = await create(tenant, mango)
    their_mango = await make_mango(other_tenant)
    theirs = await create(other_tenant, their_mango)
    assert listed_ids(await listed(tenant)) == [ours["_id"]]
    assert listed_ids(await listed(other_tenant)) == [theirs["_id"]]
    # Filtering by the other organization's product finds nothing.
    assert await listed(tenant, mangoes=their_mango) == {"total": 0, "data": []}
    # Their contact is not a user here.
    r = await other_tenant.client.post("/api/v1/contacts", json={"email": "theirs@example.com"})
    their_contact = r.json()["id"]
    await other_tenant.client.post(f"/api/v1/products/{their_mango}/subscribers", json={"contact_id": their_contact})
    assert_error(await tenant.client.get(BASE, params={"userId": their_contact}), 404, "userId")
    # Excluding their call in our check neither fails nor leaves ours out.
    r = await tenant.client.post(
        CHECK,
        json={"startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC", "duration": 60, "excludeVideocall": theirs["_id"]},
    )
    assert r.json()["maximumOverlap"] == 1
    assert r.json()["overlapList"][0]["existing"]["_id"] == ours["_id"]


async def test_another_host_of_the_organization_is_a_separate_creator(app, tenant, mango):
    """Changed with the roles (issue 13): the owner's key is an admin key and sees and manages every
    host's calls; a host key still reads another host's calls and series as missing."""
    partner = await colleague(app, tenant)
    async with partner.client:
        theirs = await create(partner, mango, title="Colleague's")
        # Same slot, different host: no conflict either way.
        ours = await create(tenant, mango, title="Ours")
        series = await create(partner, mango, startDate="2030-01-03", endDate="2030-01-04")
        assert (await listed(tenant))["total"] == 4
        assert (await listed(partner))["total"] == 3
        # A host key acts as its host: the other host's calls read as missing.
        assert_error(await partner.client.get(f"{BASE}/{ours['_id']}"), 404)
        assert_error(await partner.client.patch(f"{BASE}/{ours['_id']}", json={"title": "x"}), 404)
        assert_error(await partner.client.delete(f"{BASE}/{ours['_id']}"), 404)
        page = await listed(partner)
        assert all(c["status"] == "scheduled" for g in page["data"] for c in g["calls"])
        assert page["data"][0]["calls"][0]["creator"]["_id"] == partner.host_id
        # The admin key reads and manages them, the creator staying the partner.
        got = await tenant.client.get(f"{BASE}/{theirs['_id']}")
        assert got.status_code == 200 and got.json()["creator"]["_id"] == partner.host_id, got.text
        changed = await tenant.client.patch(f"{BASE}/{theirs['_id']}", json={"title": "Renamed by the admin"})
        assert changed.status_code == 200, changed.text
        assert (await tenant.client.delete(f"{BASE}/groups/{series['groupId']}")).status_code == 200


STRANGE_BODIES = [
    {"title": "x", "mango": "y", "startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC", "duration": 1e308},
    {"title": "x", "mango": "y", "startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC", "duration": -(10**400)},
    {"title": ["a"], "mango": {"$ne": None}, "startDate": [], "fromTime": {}, "timezoneName": None, "duration": "NaN"},
    {"title": "\u0000", "mango": "\u0000", "startDate": "\u0000", "fromTime": "\u0000", "timezoneName": "\u0000", "duration": 60},
    {"title": "x", "mango": "y", "startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC\u0000", "duration": 60},
    {"title": "x", "mango": "y", "startDate": "２０３０-01-02", "fromTime": "１０:００", "timezoneName": "UTC", "duration": 60},
    {"repeatingDays": [[1]], "endDate": 5},
    {"repeatingDays": [{"day": 1}], "endDate": "2030-01-09"},
    {"repeatingDays": [10**100], "endDate": "2030-01-09"},
    {"repeatingDays": ["m" * 10_000], "endDate": "2030-01-09"},
    {"timezoneName": "Etc/GMT+99"},
    {"timezoneName": "America/../../../../etc/passwd"},
    {"timezoneName": "\\\\server\\share"},
    [],
    "string",
    12,
    None,
]


@pytest.mark.parametrize("payload", STRANGE_BODIES)
@pytest.mark.parametrize("method, path", [("POST", BASE), ("POST", CHECK), ("PATCH", f"{BASE}/{{call}}")])
async def test_strange_bodies_are_4xx_never_500(tenant, mango, payload, method, path):
    call = await create(tenant, mango)
    if isinstance(payload, dict) and len(payload) < 6:
        payload = {**body(mango), **payload} if method == "POST" and path == BASE else payload
    r = await tenant.client.request(method, path.format(call=call["_id"]), json=payload)
    assert 400 <= r.status_code < 500, r.text
    assert_error(r, r.status_code)


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"title": "x",}', b"\x00\x01\x02", b'{"title": "\\ud800"}', b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000],
)
async def test_malformed_json_is_400(tenant, mango, content):
    call = await create(tenant, mango)
    for method, path in (("POST", BASE), ("POST", CHECK), ("PATCH", f"{BASE}/{call['_id']}")):
        r = await tenant.client.request(method, path, content=content, headers={"content-type": "application/json"})
        assert_error(r, 400)


async def test_oversized_body_is_refused(tenant, mango):
    r = await tenant.client.post(BASE, json=body(mango, title="x" * 2_000_000))
    assert r.status_code == 413
    assert (await listed(tenant))["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"page": "99999999999999999999999999"},
        {"limit": "-0"},
        {"startDate": "2030-01-01T00:00:00+99:00"},
        {"startDate": "1e309"},
        {"endDate": "2030-01-01T25:00:00Z"},
        {"mangoes": "," * 3000},
        {"mangoes": "x" * 5000},
        {"userId": "'; drop table calls; --"},
        {"userId": ""},
        {"page": ["1", "2"]},
    ],
)
async def test_strange_query_parameters_are_4xx_never_500(tenant, mango, params):
    await create(tenant, mango)
    r = await tenant.client.get(BASE, params=params)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert_error(r, r.status_code)
    assert (await listed(tenant))["total"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"x-timezone-offset": "1e3"},
        {"x-timezone-offset": "NaN"},
        {"x-timezone-offset": "\u00a0330"},
        {"x-whitelabel-host": "a" * 10_000},
        {"x-whitelabel-host": "ÿ.example"},
        {"x-whitelabel-host": "%00"},
    ],
)
async def test_strange_headers_are_4xx_never_500(tenant, mango, headers):
    created = await create(tenant, mango)
    for method, path in (("GET", BASE), ("GET", f"{BASE}/{created['_id']}"), ("DELETE", f"{BASE}/{created['_id']}")):
        r = await tenant.client.request(method, path, headers={k: v.encode() for k, v in headers.items()})
        assert 400 <= r.status_code < 500, r.text
        assert_error(r, r.status_code)
    assert (await listed(tenant))["total"] == 1
