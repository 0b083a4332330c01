"""/api/v1/hosts: create, list, get, update."""

import pytest

from tests.directory.conftest import MISSING, assert_page, assert_problem

HOURS = {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}], "friday": [{"start": "10:00", "end": "24:00"}]}


async def create_host(tenant, **fields) -> dict:
    payload = {"name": "Priya", "email": "priya@example.com", **fields}
    r = await tenant.client.post("/api/v1/hosts", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_answers_the_host(tenant):
    host = await create_host(tenant, timezone="Asia/Calcutta", working_hours=HOURS)
    assert set(host) == {
        "id", "number", "name", "email", "timezone", "working_hours", "date_overrides", "created_at", "updated_at",
        "user_slug", "phone", "dial_code", "profile_pic_url", "country", "currency", "is_deactivated",
    }
    assert host["number"] == 2  # the owner host is 1
    assert host["name"] == "Priya"
    assert host["email"] == "priya@example.com"
    assert host["timezone"] == "Asia/Calcutta"
    assert host["working_hours"] == HOURS
    r = await tenant.client.get(f"/api/v1/hosts/{host['id']}")
    assert r.status_code == 200
    assert r.json() == host


async def test_defaults(tenant):
    host = await create_host(tenant)
    assert host["timezone"] == "UTC"
    assert host["working_hours"] == {}
    assert host["date_overrides"] == {}


async def test_email_is_normalised_and_unique_in_the_organization(tenant, other_tenant):
    host = await create_host(tenant, email="  Priya@EXAMPLE.com ")
    assert host["email"] == "Priya@example.com"
    r = await tenant.client.post("/api/v1/hosts", json={"name": "Again", "email": "Priya@example.com"})
    assert_problem(r, 409, "email")
    # Another organization may have a host with the same email.
    r = await other_tenant.client.post("/api/v1/hosts", json={"name": "Priya", "email": "Priya@example.com"})
    assert r.status_code == 201, r.text


async def test_list_pages_in_creation_order(tenant):
    owner = assert_page(await tenant.client.get("/api/v1/hosts"), total=1)
    assert [h["id"] for h in owner] == [tenant.host_id]
    created = [await create_host(tenant, name=f"Host {n}", email=f"host{n}@example.com") for n in range(4)]
    items = assert_page(await tenant.client.get("/api/v1/hosts", params={"page_size": 2}), total=5, max_page=3)
    assert [h["id"] for h in items] == [tenant.host_id, created[0]["id"]]
    items = assert_page(await tenant.client.get("/api/v1/hosts", params={"page_size": 2, "page": 3}), total=5, max_page=3)
    assert [h["id"] for h in items] == [created[3]["id"]]
    items = assert_page(await tenant.client.get("/api/v1/hosts", params={"page_size": 2, "page": 4}), total=5, max_page=3)
    assert items == []


@pytest.mark.parametrize(
    "params, field",
    [({"page": 0}, "page"), ({"page_size": 0}, "page_size"), ({"page_size": 101}, "page_size"), ({"page": "x"}, "page")],
)
async def test_bad_paging_is_400_naming_the_parameter(tenant, params, field):
    assert_problem(await tenant.client.get("/api/v1/hosts", params=params), 400, field)


async def test_update_changes_only_given_fields(tenant):
    host = await create_host(tenant, working_hours=HOURS)
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"name": "Priya R.", "timezone": "Europe/London"})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["name"] == "Priya R."
    assert updated["timezone"] == "Europe/London"
    assert updated["email"] == host["email"]
    assert updated["working_hours"] == HOURS
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"working_hours": {}})
    assert r.json()["working_hours"] == {}
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"email": "new@example.com", "name": None})
    assert (r.json()["email"], r.json()["name"]) == ("new@example.com", "Priya R.")
    assert (await tenant.client.get(f"/api/v1/hosts/{host['id']}")).json() == r.json()


async def test_update_to_a_taken_email_is_409_and_to_its_own_is_fine(tenant):
    a = await create_host(tenant, email="a@example.com")
    await create_host(tenant, name="B", email="b@example.com")
    assert_problem(await tenant.client.patch(f"/api/v1/hosts/{a['id']}", json={"email": "b@example.com"}), 409, "email")
    r = await tenant.client.patch(f"/api/v1/hosts/{a['id']}", json={"email": "a@example.com"})
    assert r.status_code == 200, r.text


BAD_HOSTS = [
    ({"name": ""}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": 5}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"email": ""}, "email"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"working_hours": {"funday": []}}, "working_hours.funday"),
    ({"working_hours": {"monday": [{"start": "9:00", "end": "17:00"}]}}, "working_hours.monday[0]"),
    ({"working_hours": {"monday": [{"start": "17:00", "end": "09:00"}]}}, "working_hours.monday[0]"),
    ({"working_hours": {"monday": [{"start": "09:00"}]}}, "working_hours.monday[0].end"),
    ({"working_hours": {"monday": "9-5"}}, "working_hours.monday"),
    ({"working_hours": []}, "working_hours"),
    (
        {"working_hours": {"monday": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}]}},
        "working_hours.monday[1].start",
    ),
    (
        {"working_hours": {"monday": [{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "17:00"}]}},
        "working_hours.monday[1].start",
    ),
    ({"date_overrides": {"2026-02-30": []}}, "date_overrides.2026-02-30"),
    ({"date_overrides": {"24.12.2026": []}}, "date_overrides.24.12.2026"),
    ({"date_overrides": {"2026-12-27": [{"start": "14:00", "end": "10:00"}]}}, "date_overrides.2026-12-27[0]"),
    (
        {"date_overrides": {"2026-12-27": [{"start": "10:00", "end": "14:00"}, {"start": "13:00", "end": "15:00"}]}},
        "date_overrides.2026-12-27[1].start",
    ),
    ({"role": "admin"}, "role"),
]


@pytest.mark.parametrize("fields, field", BAD_HOSTS)
async def test_bad_create_is_400_naming_the_field(tenant, fields, field):
    r = await tenant.client.post("/api/v1/hosts", json={"name": "Priya", "email": "priya@example.com", **fields})
    assert_problem(r, 400, field)
    assert_page(await tenant.client.get("/api/v1/hosts"), total=1)


@pytest.mark.parametrize("fields, field", [f for f in BAD_HOSTS if f[0].get("name") != ""])
async def test_bad_update_is_400_naming_the_field_and_changes_nothing(tenant, fields, field):
    host = await create_host(tenant)
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json=fields)
    assert_problem(r, 400, field)
    assert (await tenant.client.get(f"/api/v1/hosts/{host['id']}")).json() == host


async def test_missing_required_fields_are_named(tenant):
    assert_problem(await tenant.client.post("/api/v1/hosts", json={}), 400, ("name", "email"))


async def test_non_json_body_is_400(tenant):
    r = await tenant.client.post("/api/v1/hosts", content=b"{nope", headers={"content-type": "application/json"})
    assert_problem(r, 400, "body", "not valid JSON")


async def test_unknown_and_other_organizations_hosts_are_404(tenant, other_tenant):
    theirs = await create_host(other_tenant)
    for host_id in (MISSING, theirs["id"], other_tenant.host_id):
        assert_problem(await tenant.client.get(f"/api/v1/hosts/{host_id}"), 404, "host_id")
        assert_problem(await tenant.client.patch(f"/api/v1/hosts/{host_id}", json={"name": "Mine now"}), 404, "host_id")
    assert (await other_tenant.client.get(f"/api/v1/hosts/{theirs['id']}")).json()["name"] == "Priya"
    ids = [h["id"] for h in assert_page(await tenant.client.get("/api/v1/hosts"), total=1)]
    assert ids == [tenant.host_id]


async def test_a_garbage_id_is_400_naming_it(tenant):
    assert_problem(await tenant.client.get("/api/v1/hosts/not-a-uuid"), 400, "host_id")


async def test_date_overrides_are_kept_and_updated_alone(tenant):
    overrides = {"2026-12-27": [{"start": "10:00", "end": "14:00"}], "2026-12-24": []}
    host = await create_host(tenant, working_hours=HOURS, date_overrides=overrides)
    assert host["date_overrides"] == overrides
    assert list(host["date_overrides"]) == ["2026-12-24", "2026-12-27"]  # by date
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"date_overrides": {"2026-12-31": []}})
    assert r.status_code == 200, r.text
    assert r.json()["date_overrides"] == {"2026-12-31": []}
    assert r.json()["working_hours"] == HOURS


async def test_numbers_count_per_organization_without_gaps(tenant, other_tenant):
    numbers = [(await create_host(tenant, email=f"h{n}@example.com"))["number"] for n in range(3)]
    assert numbers == [2, 3, 4]
    # A refused create takes no number.
    r = await tenant.client.post("/api/v1/hosts", json={"name": "Again", "email": "h0@example.com"})
    assert_problem(r, 409, "email")
    assert (await create_host(tenant, email="h9@example.com"))["number"] == 5
    assert (await create_host(other_tenant))["number"] == 2
