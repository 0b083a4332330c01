"""GET /{id}, PATCH /{id}, DELETE /{id} and DELETE /groups/{groupId}."""

from datetime import timedelta

import pytest

from tests.video_calls.conftest import BASE, assert_error, create, listed, listed_ids

PAST = "2020-01-01T00:00:00Z"


async def get(tenant, call_id: str) -> dict:
    r = await tenant.client.get(f"{BASE}/{call_id}")
    assert r.status_code == 200, r.text
    return r.json()


async def patch(tenant, call_id: str, **fields) -> dict:
    r = await tenant.client.patch(f"{BASE}/{call_id}", json=fields)
    assert r.status_code == 200, r.text
    return r.json()


async def series_ids(tenant, group_id: str) -> list[str]:
    page = await listed(tenant, startDate=PAST, limit=100)
    return [c["_id"] for g in page["data"] for c in g["calls"] if c["groupId"] == group_id]


# GET one


async def test_get_one_call(tenant, mango):
    created = await create(tenant, mango, title="One", timezoneName="Europe/London", fromTime="10:00")
    call = await get(tenant, created["_id"])
    assert call["_id"] == created["_id"]
    assert call["title"] == "One"
    assert call["fromTime"] == "2030-01-02T10:00:00.000Z"
    assert call["toTime"] == "2030-01-02T11:00:00.000Z"
    assert call["status"] == "scheduled"
    assert call["timezoneName"] == "Europe/London"
    assert call["mango"]["_id"] == mango


async def test_get_an_occurrence_of_a_series(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-03")
    ids = await series_ids(tenant, series["groupId"])
    call = await get(tenant, ids[1])
    assert call["groupId"] == series["groupId"]
    assert call["fromTime"] == "2030-01-03T10:00:00.000Z"
    # A series id is not a call id.
    assert_error(await tenant.client.get(f"{BASE}/{series['groupId']}"), 404, "_id")


@pytest.mark.parametrize(
    "call_id", ["00000000-0000-0000-0000-000000000000", "garbage", "66c4964c11e7fef26751f3a7", "1" * 60, "%20", "null"]
)
async def test_unknown_call_is_404_on_every_verb(tenant, call_id):
    assert_error(await tenant.client.get(f"{BASE}/{call_id}"), 404)
    assert_error(await tenant.client.patch(f"{BASE}/{call_id}", json={"title": "x"}), 404)
    assert_error(await tenant.client.delete(f"{BASE}/{call_id}"), 404)
    assert_error(await tenant.client.delete(f"{BASE}/groups/{call_id}"), 404)


async def test_a_cancelled_call_can_still_be_read(tenant, mango):
    created = await create(tenant, mango)
    await tenant.client.delete(f"{BASE}/{created['_id']}")
    assert (await get(tenant, created["_id"]))["status"] == "cancelled"


async def test_status_follows_the_clock(tenant, mango, clock):
    created = await create(tenant, mango, startDate="2030-01-02", fromTime="10:00")
    assert (await get(tenant, created["_id"]))["status"] == "scheduled"
    clock.advance(timedelta(hours=22))  # 10:00Z exactly: it has started
    assert (await get(tenant, created["_id"]))["status"] == "active"
    clock.advance(timedelta(hours=1))  # 11:00Z: ended
    assert (await get(tenant, created["_id"]))["status"] == "completed"


# PATCH


async def test_rename_keeps_the_time(tenant, mango, clock):
    created = await create(tenant, mango, title="Old")
    before = await get(tenant, created["_id"])
    clock.advance(timedelta(minutes=5))
    after = await patch(tenant, created["_id"], title="New name")
    assert after["title"] == "New name"
    assert (after["fromTime"], after["toTime"]) == (before["fromTime"], before["toTime"])
    assert after["updatedAt"] > before["updatedAt"]
    assert after["createdAt"] == before["createdAt"]
    assert await get(tenant, created["_id"]) == after


async def test_reschedule_to_a_new_date_and_time(tenant, mango):
    created = await create(tenant, mango, timezoneName="Asia/Kolkata", fromTime="10:00")
    moved = await patch(tenant, created["_id"], startDate="2030-01-05", fromTime="15:30")
    assert moved["fromTime"] == "2030-01-05T10:00:00.000Z"
    assert moved["toTime"] == "2030-01-05T11:00:00.000Z"
    assert moved["timezoneName"] == "Asia/Kolkata"


async def test_reschedule_one_field_at_a_time(tenant, mango):
    created = await create(tenant, mango, timezoneName="America/New_York", startDate="2030-01-02", fromTime="10:00")
    call_id = created["_id"]
    assert (await get(tenant, call_id))["fromTime"] == "2030-01-02T15:00:00.000Z"
    moved = await patch(tenant, call_id, duration=90)
    assert (moved["fromTime"], moved["toTime"]) == ("2030-01-02T15:00:00.000Z", "2030-01-02T16:30:00.000Z")
    moved = await patch(tenant, call_id, fromTime="09:00")
    assert (moved["fromTime"], moved["toTime"]) == ("2030-01-02T14:00:00.000Z", "2030-01-02T15:30:00.000Z")
    # Across the spring-forward change the local time is kept.
    moved = await patch(tenant, call_id, startDate="2030-03-12")
    assert (moved["fromTime"], moved["toTime"]) == ("2030-03-12T13:00:00.000Z", "2030-03-12T14:30:00.000Z")
    # A new time zone keeps the local date and time there.
    moved = await patch(tenant, call_id, timezoneName="Europe/London")
    assert (moved["fromTime"], moved["toTime"]) == ("2030-03-12T09:00:00.000Z", "2030-03-12T10:30:00.000Z")
    assert moved["timezoneName"] == "Europe/London"


async def test_reschedule_into_a_conflict_is_409_and_changes_nothing(tenant, mango):
    a = await create(tenant, mango, title="A", fromTime="10:00")
    b = await create(tenant, mango, title="B", fromTime="12:00")
    r = await tenant.client.patch(f"{BASE}/{b['_id']}", json={"fromTime": "10:30", "title": "B moved"})
    data = assert_error(r, 409, "overlap")
    assert data["maximumOverlap"] == 1
    assert data["overlapList"] == [
        {
            "proposed": {"fromTime": "2030-01-02T10:30:00.000Z", "toTime": "2030-01-02T11:30:00.000Z"},
            "existing": {
                "_id": a["_id"],
                "title": "A",
                "fromTime": "2030-01-02T10:00:00.000Z",
                "toTime": "2030-01-02T11:00:00.000Z",
                "groupId": None,
            },
        }
    ]
    unchanged = await get(tenant, b["_id"])
    assert (unchanged["title"], unchanged["fromTime"]) == ("B", "2030-01-02T12:00:00.000Z")


async def test_reschedule_over_its_own_old_time_is_not_a_conflict(tenant, mango):
    created = await create(tenant, mango, fromTime="10:00")
    moved = await patch(tenant, created["_id"], fromTime="10:30")
    assert moved["fromTime"] == "2030-01-02T10:30:00.000Z"
    longer = await patch(tenant, created["_id"], duration=120)
    assert longer["toTime"] == "2030-01-02T12:30:00.000Z"


async def test_reschedule_back_to_back_is_fine(tenant, mango):
    await create(tenant, mango, fromTime="10:00")
    b = await create(tenant, mango, fromTime="12:00")
    moved = await patch(tenant, b["_id"], fromTime="11:00")
    assert moved["fromTime"] == "2030-01-02T11:00:00.000Z"


async def test_reschedule_with_allow_overlap(tenant, mango):
    await create(tenant, mango, fromTime="10:00")
    b = await create(tenant, mango, fromTime="12:00")
    moved = await patch(tenant, b["_id"], fromTime="10:30", allowOverlap=True)
    assert moved["fromTime"] == "2030-01-02T10:30:00.000Z"
    assert (await listed(tenant))["total"] == 2


async def test_reschedule_conflicts_with_its_own_series_siblings(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-03")
    first, second = await series_ids(tenant, series["groupId"])
    r = await tenant.client.patch(f"{BASE}/{first}", json={"startDate": "2030-01-03", "fromTime": "10:30"})
    data = assert_error(r, 409)
    assert [o["existing"]["_id"] for o in data["overlapList"]] == [second]


async def test_editing_one_occurrence_touches_that_row_alone(tenant, mango):
    series = await create(tenant, mango, title="Daily", startDate="2030-01-02", endDate="2030-01-04")
    ids = await series_ids(tenant, series["groupId"])
    moved = await patch(tenant, ids[1], title="Special", fromTime="14:00")
    assert moved["groupId"] == series["groupId"]
    calls = [await get(tenant, i) for i in ids]
    assert [(c["title"], c["fromTime"]) for c in calls] == [
        ("Daily", "2030-01-02T10:00:00.000Z"),
        ("Special", "2030-01-03T14:00:00.000Z"),
        ("Daily", "2030-01-04T10:00:00.000Z"),
    ]


async def test_reschedule_into_the_past_is_400(tenant, mango):
    created = await create(tenant, mango)
    r = await tenant.client.patch(f"{BASE}/{created['_id']}", json={"startDate": "2029-12-31"})
    assert_error(r, 400, "startDate")
    assert (await get(tenant, created["_id"]))["fromTime"] == "2030-01-02T10:00:00.000Z"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"duration": 29}, "duration"),
        ({"duration": 301}, "duration"),
        ({"duration": "60"}, "duration"),
        ({"startDate": "2030/01/05"}, "startDate"),
        ({"fromTime": "25:00"}, "fromTime"),
        ({"timezoneName": "Not/AZone"}, "timezoneName"),
        ({"allowOverlap": "true"}, "allowOverlap"),
        ({"endDate": "2030-01-09"}, "endDate"),  # a single occurrence has no end date
        ({"mango": "anything"}, "mango"),
        ({"status": "cancelled"}, "status"),
    ],
)
async def test_bad_patch_is_400_naming_the_field(tenant, mango, fields, field):
    created = await create(tenant, mango)
    before = await get(tenant, created["_id"])
    r = await tenant.client.patch(f"{BASE}/{created['_id']}", json=fields)
    assert_error(r, 400, field)
    assert await get(tenant, created["_id"]) == before


async def test_empty_patch_changes_nothing(tenant, mango):
    created = await create(tenant, mango)
    before = await get(tenant, created["_id"])
    after = await patch(tenant, created["_id"])
    assert {k: v for k, v in after.items() if k != "updatedAt"} == {k: v for k, v in before.items() if k != "updatedAt"}


@pytest.mark.parametrize(
    "advance, status", [(timedelta(hours=22), "active"), (timedelta(hours=22, minutes=59), "active"), (timedelta(hours=23), "completed")]
)
async def test_a_call_that_started_or_ended_cannot_be_changed(tenant, mango, clock, advance, status):
    created = await create(tenant, mango, startDate="2030-01-02", fromTime="10:00")
    clock.advance(advance)
    for fields in ({"title": "Late rename"}, {"startDate": "2030-02-01"}, {"duration": 30}):
        r = await tenant.client.patch(f"{BASE}/{created['_id']}", json=fields)
        assert_error(r, 409, status)
    r = await tenant.client.delete(f"{BASE}/{created['_id']}")
    assert_error(r, 409, status)
    call = await get(tenant, created["_id"])
    assert (call["title"], call["status"], call["fromTime"]) == ("Webinar", status, "2030-01-02T10:00:00.000Z")


async def test_a_cancelled_call_cannot_be_changed(tenant, mango):
    created = await create(tenant, mango)
    await tenant.client.delete(f"{BASE}/{created['_id']}")
    r = await tenant.client.patch(f"{BASE}/{created['_id']}", json={"title": "Revived"})
    assert_error(r, 409, "cancelled")
    assert (await get(tenant, created["_id"]))["title"] == "Webinar"


# DELETE one


async def test_cancel_answers_the_cancelled_call(tenant, mango):
    created = await create(tenant, mango, title="Doomed")
    r = await tenant.client.delete(f"{BASE}/{created['_id']}")
    assert r.status_code == 200, r.text
    call = r.json()
    assert call["_id"] == created["_id"]
    assert call["status"] == "cancelled"
    assert call["title"] == "Doomed"
    assert call["fromTime"] == "2030-01-02T10:00:00.000Z"
    assert await listed(tenant) == {"total": 0, "data": []}
    # Cancelling again answers the same state.
    again = await tenant.client.delete(f"{BASE}/{created['_id']}")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


async def test_cancel_one_occurrence_leaves_the_rest(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-04")
    ids = await series_ids(tenant, series["groupId"])
    r = await tenant.client.delete(f"{BASE}/{ids[1]}")
    assert r.json()["status"] == "cancelled"
    assert listed_ids(await listed(tenant)) == [ids[0], ids[2]]


# DELETE /groups/{groupId}


async def test_cancel_group_cancels_only_occurrences_not_started(tenant, mango, clock):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-06", fromTime="10:00")
    ids = await series_ids(tenant, series["groupId"])
    # One occurrence was cancelled on its own before.
    await tenant.client.delete(f"{BASE}/{ids[4]}")
    clock.advance(timedelta(days=1, hours=22, minutes=30))  # 2030-01-03 10:30Z: the 3rd is on
    r = await tenant.client.delete(f"{BASE}/groups/{series['groupId']}")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "_id": series["groupId"],
        "groupId": series["groupId"],
        "cancelledCount": 2,
        "cancelledMeetingDates": [
            "2030-01-04T10:00:00.000Z to 2030-01-04T11:00:00.000Z",
            "2030-01-05T10:00:00.000Z to 2030-01-05T11:00:00.000Z",
        ],
    }
    statuses = [(await get(tenant, i))["status"] for i in ids]
    assert statuses == ["completed", "active", "cancelled", "cancelled", "cancelled"]
    assert listed_ids(await listed(tenant, startDate=PAST)) == ids[:2]
    # Again: nothing left to cancel.
    r = await tenant.client.delete(f"{BASE}/groups/{series['groupId']}")
    assert r.status_code == 200
    assert r.json()["cancelledCount"] == 0
    assert r.json()["cancelledMeetingDates"] == []


async def test_cancel_group_frees_the_slots(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-04")
    await tenant.client.delete(f"{BASE}/groups/{series['groupId']}")
    await create(tenant, mango, startDate="2030-01-03")


async def test_cancel_group_with_a_call_id_is_404(tenant, mango):
    created = await create(tenant, mango)
    assert_error(await tenant.client.delete(f"{BASE}/groups/{created['_id']}"), 404, "groupId")
    assert (await get(tenant, created["_id"]))["status"] == "scheduled"


async def test_withdrawing_allow_overlap_from_an_overlapping_call_is_409(tenant, mango):
    a = await create(tenant, mango, title="A", fromTime="10:00")
    b = await create(tenant, mango, title="B", fromTime="10:30", allowOverlap=True)
    r = await tenant.client.patch(f"{BASE}/{b['_id']}", json={"allowOverlap": False})
    data = assert_error(r, 409)
    assert [o["existing"]["_id"] for o in data["overlapList"]] == [a["_id"]]
    # Where nothing overlaps, withdrawing it is fine.
    c = await create(tenant, mango, title="C", fromTime="15:00", allowOverlap=True)
    assert (await patch(tenant, c["_id"], allowOverlap=False))["title"] == "C"
