"""GET /api/v1/appointments/: paging, order, filters."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.appointments.conftest import BASE, LIST_ITEM_KEYS, assert_problem, create, ids, listed, person


async def test_an_empty_list(tenant):
    assert await listed(tenant) == {"count": 0, "next": None, "previous": None, "results": []}


async def test_list_items_carry_the_contracts_fields(tenant):
    created = await create(
        tenant, participants=[person("a", "moderator"), person("b"), person("c")], duration_minutes=45
    )
    page = await listed(tenant)
    assert page["count"] == 1
    [item] = page["results"]
    assert set(item) == LIST_ITEM_KEYS
    assert item == {
        "id": created["id"],
        "title": created["title"],
        "start_date_time": created["start_date_time"],
        "duration_minutes": 45,
        "status": "scheduled",
        "participant_count": 3,
        "organization_name": "Acme",
        "created_at": created["created_at"],
    }


async def test_sorted_by_start_then_id_and_cancelled_ones_included(tenant):
    late = await create(tenant, start_date_time="2030-03-01T09:00:00Z")
    early = await create(tenant, start_date_time="2030-01-05T09:00:00Z")
    same_a = await create(tenant, start_date_time="2030-02-01T09:00:00Z")
    same_b = await create(tenant, start_date_time="2030-02-01T09:00:00Z")
    await tenant.client.delete(f"{BASE}/{early['id']}/")
    page = await listed(tenant)
    assert ids(page) == [early["id"], *sorted([same_a["id"], same_b["id"]]), late["id"]]
    assert [item["status"] for item in page["results"]] == ["cancelled", "scheduled", "scheduled", "scheduled"]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_paging_with_count_next_previous_and_404_past_the_end(tenant):
    made = [await create(tenant, start_date_time=f"2030-01-{day:02d}T10:00:00Z") for day in range(2, 9)]  # 7
    expected = [a["id"] for a in made]

    first = await listed(tenant, page_size=3)
    assert first["count"] == 7
    assert ids(first) == expected[:3]
    assert first["previous"] is None
    assert first["next"] == f"http://callgrid.test{BASE}/?page_size=3&page=2"

    r = await tenant.client.get(first["next"])
    second = r.json()
    assert ids(second) == expected[3:6]
    assert second["count"] == 7
    assert query(second["previous"]) == {"page_size": ["3"], "page": ["1"]}
    assert query(second["next"]) == {"page_size": ["3"], "page": ["3"]}

    third = (await tenant.client.get(second["next"])).json()
    assert ids(third) == expected[6:]
    assert third["next"] is None
    assert query(third["previous"]) == {"page_size": ["3"], "page": ["2"]}

    assert_problem(await tenant.client.get(f"{BASE}/", params={"page": 4, "page_size": 3}), 404, "page", "4")
    assert_problem(await tenant.client.get(f"{BASE}/", params={"page": 2}), 404, "page")
    # The default page size is 20.
    assert ids(await listed(tenant)) == expected
    assert (await listed(tenant))["next"] is None


async def test_next_and_previous_keep_the_filters(tenant):
    for day in range(2, 6):
        await create(tenant, start_date_time=f"2030-01-{day:02d}T10:00:00Z")
    page = await listed(tenant, page=2, page_size=1, participant_unique_id="admin@example.com", start_date="2030-01-01T00:00:00Z")
    for link, number in ((page["next"], "3"), (page["previous"], "1")):
        assert urlsplit(link).path == f"{BASE}/"
        assert query(link) == {
            "page": [number],
            "page_size": ["1"],
            "participant_unique_id": ["admin@example.com"],
            "start_date": ["2030-01-01T00:00:00Z"],
        }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "two"}, "page"),
        ({"page": 10**7}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": "x"}, "page_size"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2030-13-01T00:00:00Z"}, "end_date"),
        ({"participant_unique_id": ""}, "participant_unique_id"),
        ({"participant_unique_id": "x" * 256}, "participant_unique_id"),
        ({"start_date": "2030-01-05T00:00:00Z", "end_date": "2030-01-05T00:00:00Z"}, "end_date"),
        ({"start_date": "2030-01-05T00:00:00Z", "end_date": "2030-01-04T00:00:00Z"}, "end_date"),
    ],
)
async def test_bad_query_values_are_a_400_naming_the_parameter(tenant, params, field):
    assert_problem(await tenant.client.get(f"{BASE}/", params=params), 400, field)


async def test_page_size_bounds_are_inclusive(tenant):
    await create(tenant)
    assert (await listed(tenant, page_size=1))["count"] == 1
    assert (await listed(tenant, page_size=100))["count"] == 1


async def test_filter_by_participant_unique_id_is_exact(tenant):
    ann = await create(tenant, participants=[person("ann@example.com", "moderator")], start_date_time="2030-01-03T10:00:00Z")
    both = await create(
        tenant, participants=[person("bob@example.com", "moderator"), person("ann@example.com")], start_date_time="2030-01-04T10:00:00Z"
    )
    bob = await create(tenant, participants=[person("bob@example.com", "moderator")], start_date_time="2030-01-02T10:00:00Z")
    assert ids(await listed(tenant, participant_unique_id="ann@example.com")) == [ann["id"], both["id"]]
    assert ids(await listed(tenant, participant_unique_id="bob@example.com")) == [bob["id"], both["id"]]
    for near_miss in ("ANN@example.com", "ann", "ann@example.com ", "%@example.com", "ann@example.co_"):
        page = await listed(tenant, participant_unique_id=near_miss)
        assert page == {"count": 0, "next": None, "previous": None, "results": []}, near_miss
    # participant_count counts everyone, not only the one filtered on.
    page = await listed(tenant, participant_unique_id="ann@example.com")
    assert [item["participant_count"] for item in page["results"]] == [1, 2]
    # A participant removed is no longer found.
    ann_in_both = [p for p in both["participants"] if p["unique_id"] == "ann@example.com"][0]
    r = await tenant.client.post(f"{BASE}/{both['id']}/remove-participants/", json=[{"id": ann_in_both["id"]}])
    assert r.status_code == 200
    assert ids(await listed(tenant, participant_unique_id="ann@example.com")) == [ann["id"]]


async def test_filter_by_start_date_and_end_date_is_half_open(tenant):
    at = {
        hour: await create(tenant, start_date_time=f"2030-01-02T{hour:02d}:00:00Z", title=f"{hour}")
        for hour in (8, 9, 10, 11)
    }
    assert ids(await listed(tenant, start_date="2030-01-02T09:00:00Z")) == [at[9]["id"], at[10]["id"], at[11]["id"]]
    assert ids(await listed(tenant, end_date="2030-01-02T10:00:00Z")) == [at[8]["id"], at[9]["id"]]
    page = await listed(tenant, start_date="2030-01-02T09:00:00Z", end_date="2030-01-02T11:00:00Z")
    assert ids(page) == [at[9]["id"], at[10]["id"]]
    assert page["count"] == 2
    # Offsets are honoured; the seed's space-separated form works in a query too.
    assert ids(await listed(tenant, start_date="2030-01-02T11:30:00+02:00")) == [at[10]["id"], at[11]["id"]]
    assert ids(await listed(tenant, end_date="2030-01-02 09:00:00.000001+00:00")) == [at[8]["id"], at[9]["id"]]
    # An appointment that started before start_date is left out even if it is still going on.
    assert ids(await listed(tenant, start_date="2030-01-02T08:30:00Z")) == [at[h]["id"] for h in (9, 10, 11)]


async def test_all_filters_together_with_paging(tenant):
    for day in range(2, 12):
        who = "ann" if day % 2 else "bob"
        await create(tenant, start_date_time=f"2030-01-{day:02d}T10:00:00Z", participants=[person(who, "moderator")])
    page = await listed(
        tenant, participant_unique_id="ann", start_date="2030-01-04T00:00:00Z", end_date="2030-01-10T00:00:00Z", page_size=2
    )
    # ann: days 3, 5, 7, 9, 11; within [4, 10): 5, 7, 9.
    assert page["count"] == 3
    assert [item["start_date_time"][:10] for item in page["results"]] == ["2030-01-05", "2030-01-07"]
    page = (await tenant.client.get(page["next"])).json()
    assert [item["start_date_time"][:10] for item in page["results"]] == ["2030-01-09"]
    assert page["next"] is None
