"""/api/v1/event-types: create (defaults, every rule), slugs, list, get, PATCH, DELETE, tenancy."""

import uuid

import pytest

from tests.bookings.conftest import add_event_type, add_host, book
from tests.support.problems import assert_problem

BASE = "/api/v1/event-types"
MISSING = "00000000-0000-0000-0000-000000000000"
FIELDS = {
    "id", "number", "title", "slug", "link_prefix", "booking_url", "description", "duration_minutes", "hosts",
    "slot_interval_minutes", "minimum_notice_minutes", "booking_window_days", "buffer_before_minutes",
    "buffer_after_minutes", "redirect_url", "created_at", "updated_at",
}


async def test_create_answers_201_with_the_defaults(tenant):
    kai = await add_host(tenant, "Kai", timezone="Europe/Berlin")
    r = await tenant.client.post(BASE, json={"title": "Intro call", "slug": "intro", "duration_minutes": 45,
                                             "hosts": [{"host_id": kai["id"]}]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == FIELDS
    uuid.UUID(created["id"])
    assert created["number"] == 1
    assert created["title"] == "Intro call"
    assert created["slug"] == "intro"
    assert created["link_prefix"] == "acme/intro"
    assert created["booking_url"] == "http://callgrid.test/book/acme/intro"
    assert created["description"] == ""
    assert created["duration_minutes"] == 45
    assert created["slot_interval_minutes"] == 45  # the duration
    assert created["minimum_notice_minutes"] == 60
    assert created["booking_window_days"] == 60
    assert created["buffer_before_minutes"] == 0
    assert created["buffer_after_minutes"] == 0
    assert created["redirect_url"] is None
    assert created["hosts"] == [{"host_id": kai["id"], "number": kai["number"], "name": "Kai", "priority": "medium"}]
    assert created["created_at"] == created["updated_at"]
    assert created["created_at"].startswith("2030-01-01T12:00")

    r = await tenant.client.get(f"{BASE}/{created['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == created


async def test_every_field_given_is_kept(tenant):
    kai = await add_host(tenant, "Kai")
    lea = await add_host(tenant, "Lea")
    created = await add_event_type(
        tenant, [{"host_id": lea["id"], "priority": "low"}, {"host_id": kai["id"], "priority": "high"}],
        title="Demo", slug="demo-2", duration_minutes=720, slot_interval_minutes=5, minimum_notice_minutes=0,
        booking_window_days=730, buffer_before_minutes=720, buffer_after_minutes=15,
        redirect_url="https://example.com/thanks?from=callgrid", description="A *long* talk.",
    )
    assert {k: created[k] for k in (
        "title", "slug", "duration_minutes", "slot_interval_minutes", "minimum_notice_minutes", "booking_window_days",
        "buffer_before_minutes", "buffer_after_minutes", "redirect_url", "description", "link_prefix",
    )} == {
        "title": "Demo", "slug": "demo-2", "duration_minutes": 720, "slot_interval_minutes": 5,
        "minimum_notice_minutes": 0, "booking_window_days": 730, "buffer_before_minutes": 720,
        "buffer_after_minutes": 15, "redirect_url": "https://example.com/thanks?from=callgrid",
        "description": "A *long* talk.", "link_prefix": "acme/demo-2",
    }
    # Hosts by their number, each with its priority.
    assert created["hosts"] == [
        {"host_id": kai["id"], "number": kai["number"], "name": "Kai", "priority": "high"},
        {"host_id": lea["id"], "number": lea["number"], "name": "Lea", "priority": "low"},
    ]


async def test_numbers_count_up_per_organization(tenant, other_tenant):
    kai = await add_host(tenant, "Kai")
    numbers = [(await add_event_type(tenant, [kai], slug=f"e{n}"))["number"] for n in range(3)]
    assert numbers == [1, 2, 3]
    zed = await add_host(other_tenant, "Zed")
    theirs = await add_event_type(other_tenant, [zed], slug="e0")
    assert theirs["number"] == 1
    assert theirs["link_prefix"] == "globex/e0"


def _body(host_id: str, **fields) -> dict:
    return {"title": "Intro", "slug": "intro", "duration_minutes": 30, "hosts": [{"host_id": host_id}], **fields}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration_minutes": 4}, "duration_minutes"),
        ({"duration_minutes": 721}, "duration_minutes"),
        ({"duration_minutes": "thirty"}, "duration_minutes"),
        ({"duration_minutes": 30.5}, "duration_minutes"),
        ({"duration_minutes": None}, "duration_minutes"),
        ({"hosts": []}, "hosts"),
        ({"hosts": None}, "hosts"),
        ({"hosts": [{"host_id": "not-a-uuid"}]}, "hosts[0].host_id"),
        ({"hosts": [{}]}, "hosts[0].host_id"),
        ({"hosts": [{"host_id": MISSING}]}, "hosts[0].host_id"),
        ({"hosts": [{"host_id": "OWNER", "priority": "urgent"}]}, "hosts[0].priority"),
        ({"hosts": [{"host_id": "OWNER", "priority": "HIGH"}]}, "hosts[0].priority"),
        ({"hosts": [{"host_id": "OWNER", "priority": None}]}, "hosts[0].priority"),
        ({"hosts": [{"host_id": "OWNER", "weight": 3}]}, "hosts[0].weight"),
        ({"hosts": [{"host_id": "OWNER"}, {"host_id": "OWNER", "priority": "low"}]}, "hosts"),
        ({"slug": ""}, "slug"),
        ({"slug": "Intro"}, "slug"),
        ({"slug": "intro call"}, "slug"),
        ({"slug": "-intro"}, "slug"),
        ({"slug": "intro-"}, "slug"),
        ({"slug": "intro/call"}, "slug"),
        ({"slug": "é"}, "slug"),
        ({"slug": "a" * 65}, "slug"),
        ({"title": ""}, "title"),
        ({"title": "t" * 256}, "title"),
        ({"redirect_url": "not a url"}, "redirect_url"),
        ({"redirect_url": "example.com/thanks"}, "redirect_url"),
        ({"redirect_url": "ftp://example.com/thanks"}, "redirect_url"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
        ({"redirect_url": "https://example.com/" + "a" * 2048}, "redirect_url"),
        ({"buffer_before_minutes": -1}, "buffer_before_minutes"),
        ({"buffer_before_minutes": 721}, "buffer_before_minutes"),
        ({"buffer_after_minutes": -5}, "buffer_after_minutes"),
        ({"buffer_after_minutes": 10_000}, "buffer_after_minutes"),
        ({"slot_interval_minutes": 4}, "slot_interval_minutes"),
        ({"slot_interval_minutes": 721}, "slot_interval_minutes"),
        ({"minimum_notice_minutes": -1}, "minimum_notice_minutes"),
        ({"minimum_notice_minutes": 525_601}, "minimum_notice_minutes"),
        ({"booking_window_days": 0}, "booking_window_days"),
        ({"booking_window_days": 731}, "booking_window_days"),
        ({"description": "d" * 10_001}, "description"),
        ({"color": "red"}, "color"),
        ({"hostIds": []}, "hostIds"),
    ],
)
async def test_each_rule_is_a_400_naming_the_field_and_nothing_is_created(tenant, fields, field):
    if "hosts" in fields and fields["hosts"]:
        fields = {"hosts": [
            {**h, "host_id": tenant.host_id} if h.get("host_id") == "OWNER" else h for h in fields["hosts"]
        ]}
    r = await tenant.client.post(BASE, json=_body(tenant.host_id, **fields))
    assert_problem(r, 400, field)
    listed = await tenant.client.get(BASE)
    assert listed.json()["pagination"]["total_count"] == 0


@pytest.mark.parametrize("missing", ["title", "slug", "duration_minutes", "hosts"])
async def test_required_fields(tenant, missing):
    body = _body(tenant.host_id)
    del body[missing]
    assert_problem(await tenant.client.post(BASE, json=body), 400, missing)


async def test_another_organizations_host_is_refused_like_an_unknown_one(tenant, other_tenant):
    kai = await add_host(tenant, "Kai")
    theirs = await add_host(other_tenant, "Zed")
    body = _body(kai["id"])
    body["hosts"].append({"host_id": theirs["id"]})
    problem = assert_problem(await tenant.client.post(BASE, json=body), 400, "hosts[1].host_id")
    assert theirs["id"] in problem["detail"]
    assert (await tenant.client.get(BASE)).json()["pagination"]["total_count"] == 0


async def test_limits_are_inclusive(tenant):
    low = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="a", duration_minutes=5,
                               slot_interval_minutes=5, buffer_before_minutes=0, minimum_notice_minutes=0,
                               booking_window_days=1)
    assert low["duration_minutes"] == 5
    high = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="b" * 64, duration_minutes=720,
                                slot_interval_minutes=720, buffer_after_minutes=720, minimum_notice_minutes=525_600,
                                booking_window_days=730, description="d" * 10_000)
    assert high["slug"] == "b" * 64
    assert high["buffer_after_minutes"] == 720
    one = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="1")
    assert one["link_prefix"] == "acme/1"


async def test_a_slug_is_unique_in_the_organization_and_free_again_after_delete(tenant, other_tenant):
    first = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="intro")
    r = await tenant.client.post(BASE, json=_body(tenant.host_id, slug="intro", title="Again"))
    problem = assert_problem(r, 409, "slug")
    assert "intro" in problem["detail"]
    # Another organization may use it.
    theirs = await add_event_type(other_tenant, [{"host_id": other_tenant.host_id}], slug="intro")
    assert theirs["link_prefix"] == "globex/intro"
    # A PATCH onto a taken slug is a 409 too.
    second = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="other")
    assert_problem(await tenant.client.patch(f"{BASE}/{second['id']}", json={"slug": "intro"}), 409, "slug")
    # Its own slug is no conflict.
    r = await tenant.client.patch(f"{BASE}/{first['id']}", json={"slug": "intro", "title": "Renamed"})
    assert r.status_code == 200, r.text

    assert (await tenant.client.delete(f"{BASE}/{first['id']}")).status_code == 204
    again = await add_event_type(tenant, [{"host_id": tenant.host_id}], slug="intro", title="Intro, again")
    assert again["number"] == 3
    assert again["link_prefix"] == "acme/intro"
    # The slug of the deleted one may be taken by PATCH too.
    assert (await tenant.client.delete(f"{BASE}/{again['id']}")).status_code == 204
    r = await tenant.client.patch(f"{BASE}/{second['id']}", json={"slug": "intro"})
    assert r.status_code == 200, r.text
    assert r.json()["link_prefix"] == "acme/intro"


async def test_list_is_paged_by_number_without_the_deleted(tenant, other_tenant):
    made = [await add_event_type(tenant, [{"host_id": tenant.host_id}], slug=f"e{n}") for n in range(5)]
    await add_event_type(other_tenant, [{"host_id": other_tenant.host_id}], slug="theirs")
    r = await tenant.client.get(BASE, params={"page_size": 2})
    assert r.status_code == 200, r.text
    assert r.json()["pagination"] == {"total_count": 5, "max_page": 3}
    assert r.json()["items"] == made[:2]
    r = await tenant.client.get(BASE, params={"page_size": 2, "page": 3})
    assert [e["slug"] for e in r.json()["items"]] == ["e4"]
    assert (await tenant.client.delete(f"{BASE}/{made[1]['id']}")).status_code == 204
    r = await tenant.client.get(BASE)
    assert r.json()["pagination"] == {"total_count": 4, "max_page": 1}
    assert [e["slug"] for e in r.json()["items"]] == ["e0", "e2", "e3", "e4"]
    assert_problem(await tenant.client.get(BASE, params={"page_size": 101}), 400, "page_size")
    assert_problem(await tenant.client.get(BASE, params={"page": 0}), 400, "page")


async def test_patch_changes_only_the_fields_given(tenant, now):
    kai = await add_host(tenant, "Kai")
    lea = await add_host(tenant, "Lea")
    created = await add_event_type(tenant, [kai], buffer_after_minutes=10, redirect_url="https://example.com/x",
                                   description="Before")
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"title": "Renamed", "duration_minutes": 60})
    assert r.status_code == 200, r.text
    changed = r.json()
    expected = {**created, "title": "Renamed", "duration_minutes": 60, "slot_interval_minutes": 60,
                "updated_at": changed["updated_at"]}
    assert changed == expected
    assert changed["updated_at"] >= created["updated_at"]
    assert (await tenant.client.get(f"{BASE}/{created['id']}")).json() == changed

    # hosts replaces the list.
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"hosts": [{"host_id": lea["id"], "priority": "high"}]})
    assert r.status_code == 200, r.text
    assert r.json()["hosts"] == [{"host_id": lea["id"], "number": lea["number"], "name": "Lea", "priority": "high"}]
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={
        "hosts": [{"host_id": lea["id"]}, {"host_id": kai["id"], "priority": "low"}]})
    assert [(h["name"], h["priority"]) for h in r.json()["hosts"]] == [("Kai", "low"), ("Lea", "medium")]

    # A set interval stays when the duration changes; null goes back to the duration.
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"slot_interval_minutes": 15})
    assert r.json()["slot_interval_minutes"] == 15
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"duration_minutes": 45})
    assert (r.json()["duration_minutes"], r.json()["slot_interval_minutes"]) == (45, 15)
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"slot_interval_minutes": None})
    assert r.json()["slot_interval_minutes"] == 45
    # redirect_url null removes it.
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"redirect_url": None})
    assert r.json()["redirect_url"] is None
    # An empty PATCH changes nothing.
    before = (await tenant.client.get(f"{BASE}/{created['id']}")).json()
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={})
    assert r.status_code == 200, r.text
    assert {k: v for k, v in r.json().items() if k != "updated_at"} == {k: v for k, v in before.items() if k != "updated_at"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration_minutes": 3}, "duration_minutes"),
        ({"duration_minutes": None}, "duration_minutes"),
        ({"title": None}, "title"),
        ({"slug": None}, "slug"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"hosts": []}, "hosts"),
        ({"hosts": None}, "hosts"),
        ({"hosts": [{"host_id": MISSING}]}, "hosts[0].host_id"),
        ({"hosts": [{"host_id": "OWNER"}, {"host_id": "OWNER"}]}, "hosts"),
        ({"redirect_url": "nope"}, "redirect_url"),
        ({"buffer_before_minutes": 721}, "buffer_before_minutes"),
        ({"buffer_after_minutes": None}, "buffer_after_minutes"),
        ({"minimum_notice_minutes": None}, "minimum_notice_minutes"),
        ({"booking_window_days": 0}, "booking_window_days"),
        ({"description": None}, "description"),
        ({"number": 9}, "number"),
        ({"id": MISSING}, "id"),
    ],
)
async def test_a_bad_patch_is_a_400_naming_the_field_and_changes_nothing(tenant, fields, field):
    created = await add_event_type(tenant, [{"host_id": tenant.host_id}])
    if fields.get("hosts"):
        fields = {"hosts": [{"host_id": tenant.host_id} if h["host_id"] == "OWNER" else h for h in fields["hosts"]]}
    assert_problem(await tenant.client.patch(f"{BASE}/{created['id']}", json=fields), 400, field)
    assert (await tenant.client.get(f"{BASE}/{created['id']}")).json() == created


async def test_delete_then_404_not_listed_and_not_bookable(tenant):
    kai = await add_host(tenant, "Kai")
    created = await add_event_type(tenant, [kai])
    kept = await add_event_type(tenant, [kai], slug="kept")
    r = await tenant.client.delete(f"{BASE}/{created['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(await tenant.client.get(f"{BASE}/{created['id']}"), 404, "id")
    assert_problem(await tenant.client.get(f"{BASE}/{created['id']}/slots",
                                           params={"start": "2030-01-02", "end": "2030-01-02"}), 404, "id")
    assert_problem(await tenant.client.patch(f"{BASE}/{created['id']}", json={"title": "x"}), 404, "id")
    assert_problem(await tenant.client.delete(f"{BASE}/{created['id']}"), 404, "id")
    assert [e["id"] for e in (await tenant.client.get(BASE)).json()["items"]] == [kept["id"]]
    # Not bookable, by eventId or by linkPrefix.
    assert_problem(await book(tenant, dateTime="2030-01-02T09:00:00Z", eventId=created["number"]), 404, "eventId")
    assert_problem(await book(tenant, dateTime="2030-01-02T09:00:00Z", linkPrefix="acme/intro"), 404, "linkPrefix")
    # Numbers are not reused.
    assert (await add_event_type(tenant, [kai], slug="third"))["number"] == 3


async def test_another_organizations_event_type_is_a_404_for_every_verb(tenant, other_tenant):
    theirs = await add_event_type(other_tenant, [{"host_id": other_tenant.host_id}])
    path = f"{BASE}/{theirs['id']}"
    assert_problem(await tenant.client.get(path), 404, "id")
    assert_problem(await tenant.client.patch(path, json={"title": "Mine"}), 404, "id")
    assert_problem(await tenant.client.delete(path), 404, "id")
    assert_problem(await tenant.client.get(f"{path}/slots", params={"start": "2030-01-02", "end": "2030-01-02"}), 404, "id")
    assert (await tenant.client.get(BASE)).json()["items"] == []
    # Untouched.
    assert (await other_tenant.client.get(path)).json() == theirs


async def test_an_unknown_id_is_a_404_and_a_malformed_one_a_400_naming_it(tenant):
    # Like every management path (hosts, contacts, webhook endpoints): the id is a UUID.
    assert_problem(await tenant.client.get(f"{BASE}/{MISSING}"), 404, "id")
    assert_problem(await tenant.client.delete(f"{BASE}/{MISSING}"), 404, "id")
    for malformed in ("not-a-uuid", "1"):
        assert_problem(await tenant.client.get(f"{BASE}/{malformed}"), 400, "event_type_id")
        assert_problem(await tenant.client.patch(f"{BASE}/{malformed}", json={}), 400, "event_type_id")


async def test_no_key_is_a_401(anonymous):
    r = await anonymous.get(BASE)
    assert r.status_code == 401, r.text
    r = await anonymous.post(BASE, json={})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [("[]", "application/json"), ("null", "application/json"), ("{", "application/json"), ("42", "application/json")],
)
async def test_bodies_that_are_not_an_object_are_a_400(tenant, content, content_type):
    r = await tenant.client.post(BASE, content=content, headers={"Content-Type": content_type})
    assert r.status_code == 400, r.text


async def test_two_creates_racing_for_one_slug_give_one_201_and_one_409(tenant):
    import asyncio

    bodies = [_body(tenant.host_id, title=f"Racer {n}") for n in range(4)]
    answers = await asyncio.gather(*(tenant.client.post(BASE, json=body) for body in bodies))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, 409, "slug")
    listed = (await tenant.client.get(BASE)).json()
    assert listed["pagination"]["total_count"] == 1
    assert listed["items"][0]["number"] == 1
