"""GET /video-calls: grouping by date at x-timezone-offset, white-label host, paging, filters."""

import re
from datetime import timedelta

import pytest

from tests.video_calls.conftest import BASE, assert_error, colleague, create, listed, listed_ids, make_mango

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PAST = "2020-01-01T00:00:00Z"


async def test_empty_list(tenant):
    assert await listed(tenant) == {"total": 0, "data": []}


async def test_a_call_has_the_seed_fields(tenant):
    mango = await make_mango(
        tenant, "Introduction to Coding", price=500, description="A guide.", recurring_type="monthly", no_of_days=30
    )
    created = await create(tenant, mango, title="Weekly Team Standup", timezoneName="Asia/Calcutta", fromTime="19:30")
    page = await listed(tenant)
    assert page["total"] == 1
    assert [group["date"] for group in page["data"]] == ["2030-01-02"]
    [call] = page["data"][0]["calls"]
    assert call["_id"] == created["_id"]
    assert call["title"] == "Weekly Team Standup"
    assert call["fromTime"] == "2030-01-02T14:00:00.000Z"
    assert call["toTime"] == "2030-01-02T15:00:00.000Z"
    assert call["status"] == "scheduled"
    assert call["videocallType"] == "group"
    assert call["ongoingCallType"] == "workshop"
    assert call["platform"] == "callgrid"
    # The call's room page with its room key (tests/rooms check that the key lets one in).
    assert re.fullmatch(rf"http://callgrid\.test/rooms/{created['_id']}\?key=[A-Za-z0-9_-]{{22}}", call["meetingUrl"])
    assert call["whitelabelHost"] is None
    assert call["groupId"] is None
    assert call["timezoneName"] == "Asia/Calcutta"
    creator = call["creator"]
    assert creator["_id"] == tenant.host_id
    assert creator["name"] == "Acme"
    assert "@" in creator["email"]
    assert creator["host"] == "callgrid.test"
    # The seed's other fields, from the host's profile (empty for the owner made with the
    # organization) and its completed calls (none yet: first of everyone, as everyone is).
    assert {k: creator[k] for k in ("userSlug", "phone", "dialCode", "profilePicUrl", "country", "currency")} == {
        "userSlug": "acme", "phone": None, "dialCode": None, "profilePicUrl": None, "country": None, "currency": None,
    }
    assert (creator["isDeactivated"], creator["onboarding"]) == (False, "creator_pending")
    assert creator["score"] == {"lifetime": 0, "month": 0, "week": 0}
    assert creator["leaderboardRank"] == {"lifetime": 1, "month": 1, "week": 1}
    product = call["mango"]
    assert product["_id"] == mango
    assert product["creator"] == tenant.host_id
    assert product["title"] == "Introduction to Coding"
    assert product["price"] == 500
    assert product["description"] == "A guide."
    assert product["recurringType"] == "MONTHLY"
    assert product["noOfDays"] == 30
    assert product["affiliateEnabled"] is False
    assert TIMESTAMP.match(product["createdAt"]) and TIMESTAMP.match(product["updatedAt"])
    # One call reads the same through GET /{id}, whose detail adds the host's own link.
    one = (await tenant.client.get(f"{BASE}/{created['_id']}")).json()
    assert one.pop("hostMeetingUrl").startswith(f"http://callgrid.test/rooms/{created['_id']}?token=")
    # (The creator's score and rank are the list's.)
    listed_creator = {k: v for k, v in call["creator"].items() if k not in ("score", "leaderboardRank")}
    assert one == {**call, "creator": listed_creator}


async def test_calls_group_by_start_date_at_the_timezone_offset(tenant, mango):
    morning = await create(tenant, mango, title="Morning", fromTime="10:00")
    evening = await create(tenant, mango, title="Evening", fromTime="20:00")
    # +5:30: 10:00Z is 15:30 on the 2nd, 20:00Z is 01:30 on the 3rd.
    page = await listed(tenant, headers={"x-timezone-offset": "330"})
    assert page["total"] == 2
    assert [(g["date"], [c["_id"] for c in g["calls"]]) for g in page["data"]] == [
        ("2030-01-02", [morning["_id"]]),
        ("2030-01-03", [evening["_id"]]),
    ]
    # The timestamps themselves stay in UTC.
    assert page["data"][1]["calls"][0]["fromTime"] == "2030-01-02T20:00:00.000Z"
    page = await listed(tenant)
    assert [(g["date"], len(g["calls"])) for g in page["data"]] == [("2030-01-02", 2)]
    page = await listed(tenant, headers={"x-timezone-offset": "-720"})
    assert [g["date"] for g in page["data"]] == ["2030-01-01", "2030-01-02"]
    page = await listed(tenant, headers={"x-timezone-offset": "840"})
    assert [g["date"] for g in page["data"]] == ["2030-01-03"]


@pytest.mark.parametrize("offset", ["841", "-721", "abc", "5.5", "", "99999999999999999999999", "330; drop"])
async def test_bad_timezone_offset_is_400_naming_the_header(tenant, mango, offset):
    await create(tenant, mango)
    r = await tenant.client.get(BASE, headers={"x-timezone-offset": offset})
    assert_error(r, 400, "x-timezone-offset")


async def test_registered_whitelabel_host_is_used_in_urls(tenant, mango):
    r = await tenant.client.post("/api/v1/whitelabel-domains", json={"hostname": "calls.acme.test"})
    assert r.status_code == 201, r.text
    created = await create(tenant, mango)
    for header in ("calls.acme.test", "Calls.ACME.test", " calls.acme.test "):
        page = await listed(tenant, headers={"x-whitelabel-host": header})
        [call] = page["data"][0]["calls"]
        assert call["whitelabelHost"] == "calls.acme.test"
        assert call["meetingUrl"].startswith(f"https://calls.acme.test/rooms/{created['_id']}?key=")
        assert call["creator"]["host"] == "calls.acme.test"
    one = (await tenant.client.get(f"{BASE}/{created['_id']}", headers={"x-whitelabel-host": "calls.acme.test"})).json()
    assert one["meetingUrl"] == call["meetingUrl"]
    assert one["hostMeetingUrl"].startswith(f"https://calls.acme.test/rooms/{created['_id']}?token=")


@pytest.mark.parametrize("header", ["unknown.acme.test", "string", "mydomain.tagmango.com"])
async def test_an_unregistered_whitelabel_host_is_taken_but_not_for_links(tenant, mango, header):
    """The seed's header is the dashboard's host name (its example is `string`): any valid host
    name is taken and shown as the creator's host; the links stay on CALLGRID_PUBLIC_URL."""
    await tenant.client.post("/api/v1/whitelabel-domains", json={"hostname": "calls.acme.test"})
    created = await create(tenant, mango)
    r = await tenant.client.get(BASE, headers={"x-whitelabel-host": header})
    assert r.status_code == 200, r.text
    [call] = r.json()["data"][0]["calls"]
    assert call["whitelabelHost"] is None
    assert call["meetingUrl"].startswith(f"http://callgrid.test/rooms/{created['_id']}?key=")
    assert call["creator"]["host"] == header
    one = await tenant.client.get(f"{BASE}/{created['_id']}", headers={"x-whitelabel-host": header})
    assert one.status_code == 200 and one.json()["hostMeetingUrl"].startswith("http://callgrid.test/rooms/")


@pytest.mark.parametrize("header", ["", " ", "calls.acme.test:8443", "x" * 300, "-bad-.test", "a..b", "https://calls.acme.test"])
async def test_a_whitelabel_host_that_is_not_a_host_name_is_400(tenant, mango, header):
    await create(tenant, mango)
    r = await tenant.client.get(BASE, headers={"x-whitelabel-host": header})
    assert_error(r, 400, "x-whitelabel-host")


async def test_another_organizations_whitelabel_host_brands_nothing(tenant, other_tenant, mango):
    r = await other_tenant.client.post("/api/v1/whitelabel-domains", json={"hostname": "globex.test"})
    assert r.status_code == 201
    created = await create(tenant, mango)
    r = await tenant.client.get(BASE, headers={"x-whitelabel-host": "globex.test"})
    assert r.status_code == 200, r.text
    [call] = r.json()["data"][0]["calls"]
    assert call["whitelabelHost"] is None and call["meetingUrl"].startswith(f"http://callgrid.test/rooms/{created['_id']}")


async def test_pages_are_cut_from_start_order_then_grouped(tenant, mango):
    ids = []
    for day in range(2, 7):
        ids.append((await create(tenant, mango, startDate=f"2030-01-0{day}"))["_id"])
    first = await listed(tenant, limit=2)
    assert first["total"] == 5
    assert listed_ids(first) == ids[:2]
    assert [g["date"] for g in first["data"]] == ["2030-01-02", "2030-01-03"]
    assert listed_ids(await listed(tenant, limit=2, page=2)) == ids[2:4]
    last = await listed(tenant, limit=2, page=3)
    assert listed_ids(last) == ids[4:]
    assert last["total"] == 5
    beyond = await listed(tenant, limit=2, page=4)
    assert beyond == {"total": 5, "data": []}


async def test_default_limit_is_10_and_limit_goes_to_100(tenant, mango):
    await create(tenant, mango, startDate="2030-01-02", endDate="2030-05-01", duration=30)
    page = await listed(tenant)
    assert page["total"] == 120
    assert len(listed_ids(page)) == 10
    assert len(listed_ids(await listed(tenant, limit=100))) == 100
    assert len(listed_ids(await listed(tenant, limit=100, page=2))) == 20


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": 10**30}, "page"),
        ({"startDate": "yesterday"}, "startDate"),
        ({"endDate": "2030-13-45T00:00:00Z"}, "endDate"),
        ({"startDate": "2030-01-01T00:00:00"}, "startDate"),  # no offset: ambiguous
        ({"startDate": "2030-01-02T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"}, "endDate"),
        ({"startDate": "2030-01-02T00:00:00Z", "endDate": "2030-01-02T00:00:00Z"}, "endDate"),
        ({"startDate": "0001-01-01T00:00:00+05:00"}, "startDate"),
        ({"endDate": "9999-12-31T23:59:59-05:00"}, "endDate"),
        ({"mangoes": "not-an-id"}, "mangoes"),
        ({"userId": "x" * 100}, "userId"),
    ],
)
async def test_bad_query_is_400_naming_the_parameter(tenant, params, field):
    r = await tenant.client.get(BASE, params=params)
    assert_error(r, 400, field)


async def test_window_defaults_to_now_onwards_and_keeps_ongoing_calls(tenant, mango, clock):
    earlier = await create(tenant, mango, startDate="2030-01-02", fromTime="08:00")
    ongoing = await create(tenant, mango, startDate="2030-01-02", fromTime="10:00", duration=120)
    later = await create(tenant, mango, startDate="2030-01-03", fromTime="10:00")
    clock.advance(timedelta(hours=22, minutes=30))  # 2030-01-02 10:30Z
    page = await listed(tenant)
    assert listed_ids(page) == [ongoing["_id"], later["_id"]]
    assert [c["status"] for g in page["data"] for c in g["calls"]] == ["active", "scheduled"]
    page = await listed(tenant, startDate=PAST)
    assert listed_ids(page) == [earlier["_id"], ongoing["_id"], later["_id"]]
    assert [c["status"] for g in page["data"] for c in g["calls"]] == ["completed", "active", "scheduled"]


@pytest.mark.parametrize(
    "start, end, shown",
    [
        ("2030-01-02T10:30:00Z", "2030-01-02T12:00:00Z", True),
        ("2030-01-02T09:00:00Z", "2030-01-02T10:01:00Z", True),
        ("2030-01-02T10:15:00Z", "2030-01-02T10:45:00Z", True),  # window inside the call
        ("2030-01-02T09:00:00Z", "2030-01-02T12:00:00Z", True),  # call inside the window
        ("2030-01-02T11:00:00Z", "2030-01-02T12:00:00Z", False),  # touches the end
        ("2030-01-02T09:00:00Z", "2030-01-02T10:00:00Z", False),  # touches the start
        ("2030-01-02T15:30:00+05:30", "2030-01-02T16:00:00+05:30", True),  # 10:00Z..10:30Z
        ("2030-01-02T11:00:00+01:00", "2030-01-02T11:30:00+01:00", True),
        ("2030-01-03T00:00:00Z", None, False),
        (None, "2030-01-02T10:00:00Z", False),
        (None, "2030-01-02T10:00:01Z", True),
    ],
)
async def test_a_call_is_listed_when_it_overlaps_the_window(tenant, mango, start, end, shown):
    call = await create(tenant, mango, fromTime="10:00")
    params = {k: v for k, v in {"startDate": start, "endDate": end}.items() if v}
    page = await listed(tenant, **params)
    assert listed_ids(page) == ([call["_id"]] if shown else [])
    assert page["total"] == (1 if shown else 0)


async def test_cancelled_calls_are_not_listed(tenant, mango):
    kept = await create(tenant, mango, fromTime="09:00")
    gone = await create(tenant, mango, fromTime="10:00")
    series = await create(tenant, mango, startDate="2030-01-03", endDate="2030-01-05")
    assert (await tenant.client.delete(f"{BASE}/{gone['_id']}")).status_code == 200
    assert (await tenant.client.delete(f"{BASE}/groups/{series['groupId']}")).status_code == 200
    page = await listed(tenant, startDate=PAST)
    assert page["total"] == 1
    assert listed_ids(page) == [kept["_id"]]


async def test_calls_sort_by_start_across_series_and_creation_order(tenant, mango):
    c = await create(tenant, mango, startDate="2030-01-04", fromTime="09:00")
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-05", fromTime="12:00")
    a = await create(tenant, mango, startDate="2030-01-02", fromTime="08:00")
    page = await listed(tenant, limit=100)
    starts = [call["fromTime"] for g in page["data"] for call in g["calls"]]
    assert starts == sorted(starts)
    ids = listed_ids(page)
    assert ids[0] == a["_id"]
    assert ids.index(c["_id"]) == 3  # 2nd 08:00, 2nd 12:00, 3rd 12:00, 4th 09:00
    assert [g["date"] for g in page["data"]] == ["2030-01-02", "2030-01-03", "2030-01-04", "2030-01-05"]
    assert [len(g["calls"]) for g in page["data"]] == [2, 1, 2, 1]
    assert all(call["groupId"] == series["groupId"] for g in page["data"] for call in g["calls"] if call["fromTime"].endswith("12:00:00.000Z"))


async def test_mangoes_filter(tenant, mango):
    other = await make_mango(tenant, "Other")
    third = await make_mango(tenant, "Third")
    a = await create(tenant, mango, fromTime="08:00")
    b = await create(tenant, other, fromTime="10:00")
    assert listed_ids(await listed(tenant, mangoes=mango)) == [a["_id"]]
    assert listed_ids(await listed(tenant, mangoes=other)) == [b["_id"]]
    assert listed_ids(await listed(tenant, mangoes=f"{mango},{other}")) == [a["_id"], b["_id"]]
    assert listed_ids(await listed(tenant, mangoes=f" {other} , ,")) == [b["_id"]]
    assert await listed(tenant, mangoes=third) == {"total": 0, "data": []}
    assert await listed(tenant, mangoes="00000000-0000-0000-0000-000000000000") == {"total": 0, "data": []}
    assert (await listed(tenant, mangoes=f"{mango},{other}", limit=1))["total"] == 2
    # Blank is the same as not given: every mango.
    for blank in ("", " ", ",,"):
        assert listed_ids(await listed(tenant, mangoes=blank)) == [a["_id"], b["_id"]]


async def test_a_host_key_lists_its_own_calls_and_an_admin_key_every_hosts(app, tenant, mango):
    mine = await create(tenant, mango, fromTime="08:00")
    partner = await colleague(app, tenant)
    async with partner.client:
        theirs = await create(partner, mango, fromTime="10:00")
        assert listed_ids(await listed(partner)) == [theirs["_id"]]
    assert listed_ids(await listed(tenant)) == [mine["_id"], theirs["_id"]]


async def test_user_id_lists_the_calls_of_products_the_contact_subscribes_to(app, tenant, mango):
    other = await make_mango(tenant, "Other")
    r = await tenant.client.post("/api/v1/contacts", json={"email": "fan@example.com", "first_name": "Fan"})
    assert r.status_code == 201, r.text
    fan = r.json()["id"]
    r = await tenant.client.post("/api/v1/contacts", json={"email": "nobody@example.com"})
    nobody = r.json()["id"]
    r = await tenant.client.post(f"/api/v1/products/{mango}/subscribers", json={"contact_id": fan})
    assert r.status_code == 201, r.text
    subscribed = await create(tenant, mango, fromTime="08:00")
    await create(tenant, other, fromTime="10:00")
    partner = await colleague(app, tenant)
    async with partner.client:
        by_colleague = await create(partner, mango, fromTime="12:00")
        expected = [subscribed["_id"], by_colleague["_id"]]
        assert listed_ids(await listed(tenant, userId=fan)) == expected
        # A host key: the contact's calls that are its own, not the other hosts'.
        assert listed_ids(await listed(partner, userId=fan)) == [by_colleague["_id"]]
    page = await listed(tenant, userId=fan)
    assert page["total"] == 2
    assert page["data"][0]["calls"][1]["creator"]["name"] == "Colleague"
    assert await listed(tenant, userId=nobody) == {"total": 0, "data": []}
    assert listed_ids(await listed(tenant, userId=fan, mangoes=other)) == []
    # Unsubscribed, the contact sees nothing.
    r = await tenant.client.delete(f"/api/v1/products/{mango}/subscribers/{fan}")
    assert r.status_code == 204
    assert await listed(tenant, userId=fan) == {"total": 0, "data": []}


async def test_blank_user_id_is_the_same_as_none(tenant, mango):
    created = await create(tenant, mango)
    assert listed_ids(await listed(tenant, userId="")) == [created["_id"]]


@pytest.mark.parametrize("user_id", ["00000000-0000-0000-0000-000000000000", "not-a-contact", "66c4964c11e7fef26751f3a7"])
async def test_unknown_user_id_is_404_naming_user_id(tenant, user_id):
    r = await tenant.client.get(BASE, params={"userId": user_id})
    assert_error(r, 404, "userId")


async def test_group_id_lists_the_occurrences_of_one_series(app, tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-06")  # daily, 5
    other = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-04", fromTime="14:00")
    single = await create(tenant, mango, startDate="2030-01-03", fromTime="18:00")
    everything = await listed(tenant, limit=100)
    assert everything["total"] == 9
    page = await listed(tenant, groupId=series["groupId"])
    assert page["total"] == 5
    calls = [call for group in page["data"] for call in group["calls"]]
    assert {call["groupId"] for call in calls} == {series["groupId"]}
    assert [group["date"] for group in page["data"]] == [f"2030-01-0{day}" for day in range(2, 7)]
    assert single["_id"] not in listed_ids(page) and other["groupId"] != series["groupId"]
    # Paged, and with the other filters.
    second = await listed(tenant, groupId=series["groupId"], limit=2, page=2)
    assert second["total"] == 5 and listed_ids(second) == listed_ids(page)[2:4]
    later = await listed(tenant, groupId=series["groupId"], startDate="2030-01-04T00:00:00Z", endDate="2030-01-05T23:00:00Z")
    assert later["total"] == 2 and listed_ids(later) == listed_ids(page)[2:4]
    assert (await listed(tenant, groupId=series["groupId"], mangoes=mango))["total"] == 5
    # A cancelled occurrence is not listed.
    assert (await tenant.client.delete(f"{BASE}/{listed_ids(page)[0]}")).status_code == 200
    assert (await listed(tenant, groupId=series["groupId"]))["total"] == 4
    # Blank is no filter.
    assert (await listed(tenant, groupId=" "))["total"] == 8


@pytest.mark.parametrize("group_id", ["00000000-0000-0000-0000-000000000000", "not-an-id"])
async def test_unknown_group_id_is_404_naming_group_id(tenant, group_id):
    r = await tenant.client.get(BASE, params={"groupId": group_id})
    assert_error(r, 404, "groupId")


async def test_another_hosts_or_organizations_group_reads_as_missing(app, tenant, other_tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-03")
    assert_error(await other_tenant.client.get(BASE, params={"groupId": series["groupId"]}), 404, "groupId")
    bea = await colleague(app, tenant, "Bea")
    async with bea.client:
        assert_error(await bea.client.get(BASE, params={"groupId": series["groupId"]}), 404, "groupId")
