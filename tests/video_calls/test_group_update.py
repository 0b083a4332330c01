"""PATCH /video-calls/groups/{groupId}: a series' title, time, duration, days or end changed from
a date on, checked for overlaps and written all at once like a create."""

import asyncio
import json
from uuid import UUID

import pytest
from sqlalchemy import select

from callgrid.webhooks.models import WebhookEvent
from tests.video_calls.conftest import BASE, assert_error, colleague, create, listed

GROUPS = f"{BASE}/groups"


async def events(app, organization_id: str) -> list[tuple[str, dict]]:
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(WebhookEvent.type, WebhookEvent.payload)
                .where(WebhookEvent.organization_id == UUID(organization_id), WebhookEvent.type.startswith("video_call."))
                .order_by(WebhookEvent.id)
            )
        ).all()
    return [(t, json.loads(p)) for t, p in rows]


async def calls_of(tenant, group_id: str) -> list[dict]:
    page = await listed(tenant, groupId=group_id, limit=100, startDate="2029-01-01T00:00:00Z")
    return [call for group in page["data"] for call in group["calls"]]


async def listed_calls(tenant) -> list[dict]:
    page = await listed(tenant, limit=100, startDate="2029-01-01T00:00:00Z")
    return [call for group in page["data"] for call in group["calls"]]


async def daily(tenant, mango, **fields) -> dict:
    """2030-01-02 .. 2030-01-06, 10:00 UTC for an hour, every day (the clock is at 2030-01-01 12:00)."""
    return await create(tenant, mango, title="Daily", startDate="2030-01-02", endDate="2030-01-06", **fields)


async def test_time_duration_and_title_change_from_a_date_on(app, tenant, mango):
    series = await daily(tenant, mango)
    before = await calls_of(tenant, series["groupId"])
    r = await tenant.client.patch(
        f"{GROUPS}/{series['groupId']}", json={"fromDate": "2030-01-04", "fromTime": "11:00", "duration": 90, "title": "Later"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "_id": series["groupId"],
        "groupId": series["groupId"],
        "fromDate": "2030-01-04",
        "scheduledMeetingDates": [f"2030-01-0{d}T11:00:00.000Z to 2030-01-0{d}T12:30:00.000Z" for d in (4, 5, 6)],
        "cancelledMeetingDates": [],
        "updatedCount": 3,
        "createdCount": 0,
        "cancelledCount": 0,
    }
    after = await calls_of(tenant, series["groupId"])
    # Same occurrences (ids, rooms, links); the first two as they were.
    assert [c["_id"] for c in after] == [c["_id"] for c in before]
    assert after[:2] == before[:2]
    for call in after[2:]:
        assert (call["title"], call["fromTime"][11:], call["toTime"][11:]) == ("Later", "11:00:00.000Z", "12:30:00.000Z")
        assert call["meetingUrl"] == next(c["meetingUrl"] for c in before if c["_id"] == call["_id"])
    updated = [data for kind, data in await events(app, tenant.organization_id) if kind == "video_call.updated"]
    assert [u["_id"] for u in updated] == [c["_id"] for c in after[2:]]
    assert {u["title"] for u in updated} == {"Later"}


async def test_days_change_cancels_lost_days_and_creates_new_ones(app, tenant, mango):
    # Mondays, Wednesdays and Fridays from Wednesday 2030-01-02 to Friday 2030-01-11.
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-11", repeatingDays=["mon", "wed", "fri"])
    assert len(series["scheduledMeetingDates"]) == 5  # 2, 4, 7, 9, 11
    before = {c["fromTime"][:10]: c for c in await calls_of(tenant, series["groupId"])}
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromDate": "2030-01-07", "repeatingDays": ["mon", "tue", "thu"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scheduledMeetingDates"] == [f"2030-01-{d:02d}T10:00:00.000Z to 2030-01-{d:02d}T11:00:00.000Z" for d in (7, 8, 10)]
    assert body["cancelledMeetingDates"] == [f"2030-01-{d:02d}T10:00:00.000Z to 2030-01-{d:02d}T11:00:00.000Z" for d in (9, 11)]
    assert (body["updatedCount"], body["createdCount"], body["cancelledCount"]) == (0, 2, 2)
    after = {c["fromTime"][:10]: c for c in await calls_of(tenant, series["groupId"])}
    assert sorted(after) == ["2030-01-02", "2030-01-04", "2030-01-07", "2030-01-08", "2030-01-10"]
    assert after["2030-01-07"] == before["2030-01-07"]  # a day it keeps, unchanged
    for day in ("2030-01-08", "2030-01-10"):  # new occurrences, each with its own room
        assert after[day]["groupId"] == series["groupId"] and after[day]["title"] == "Webinar"
        assert (await tenant.client.get(f"/v1/rooms/{after[day]['_id']}")).json()["room"]["is_terminated"] is False
    for day in ("2030-01-09", "2030-01-11"):  # cancelled: their rooms end
        gone = before[day]["_id"]
        assert (await tenant.client.get(f"{BASE}/{gone}")).json()["status"] == "cancelled"
        assert (await tenant.client.get(f"/v1/rooms/{gone}")).json()["room"]["is_terminated"] is True
    kinds = [kind for kind, _ in await events(app, tenant.organization_id)]
    assert kinds.count("video_call.created") == 5 + 2 and kinds.count("video_call.cancelled") == 2
    # Every day of the week again (null), and the end moved on: new days are created.
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromDate": "2030-01-10", "repeatingDays": None, "endDate": "2030-01-12"})
    assert r.status_code == 200, r.text
    assert [d[:10] for d in r.json()["scheduledMeetingDates"]] == ["2030-01-10", "2030-01-11", "2030-01-12"]
    assert (r.json()["updatedCount"], r.json()["createdCount"], r.json()["cancelledCount"]) == (0, 2, 0)


async def test_an_overlap_refuses_the_whole_change(app, tenant, mango):
    series = await daily(tenant, mango)
    other = await create(tenant, mango, title="Other", startDate="2030-01-05", fromTime="11:30")
    before = await calls_of(tenant, series["groupId"])
    count = len(await events(app, tenant.organization_id))
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromTime": "11:00"})
    data = assert_error(r, 409, "overlap")
    assert data["maximumOverlap"] == 1
    assert data["overlapList"] == [
        {
            "proposed": {"fromTime": "2030-01-05T11:00:00.000Z", "toTime": "2030-01-05T12:00:00.000Z"},
            "existing": {"_id": other["_id"], "title": "Other", "fromTime": "2030-01-05T11:30:00.000Z",
                         "toTime": "2030-01-05T12:30:00.000Z", "groupId": None},
        }
    ]
    assert await calls_of(tenant, series["groupId"]) == before
    assert len(await events(app, tenant.organization_id)) == count
    # With allowOverlap it goes through.
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromTime": "11:00", "allowOverlap": True})
    assert r.status_code == 200, r.text
    assert r.json()["updatedCount"] == 5


async def test_started_and_individually_cancelled_occurrences_are_left_alone(app, tenant, mango, clock):
    series = await daily(tenant, mango)
    before = await calls_of(tenant, series["groupId"])
    assert (await tenant.client.delete(f"{BASE}/{before[2]['_id']}")).status_code == 200  # the 4th of January
    from datetime import timedelta

    clock.advance(timedelta(hours=22, minutes=30))  # 2030-01-02 10:30: the first has started
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromTime": "12:00"})
    assert r.status_code == 200, r.text
    assert [d[:16] for d in r.json()["scheduledMeetingDates"]] == [
        "2030-01-02T10:00", "2030-01-03T12:00", "2030-01-05T12:00", "2030-01-06T12:00",
    ]
    assert r.json()["updatedCount"] == 3 and r.json()["createdCount"] == 0
    assert (await tenant.client.get(f"{BASE}/{before[2]['_id']}")).json()["status"] == "cancelled"


async def test_a_title_alone_keeps_every_occurrence_where_it_is(app, tenant, mango):
    series = await daily(tenant, mango)
    before = await calls_of(tenant, series["groupId"])
    moved = await tenant.client.patch(f"{BASE}/{before[3]['_id']}", json={"fromTime": "15:00"})
    assert moved.status_code == 200, moved.text
    r = await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"title": "Renamed", "fromDate": "2030-01-03"})
    assert r.status_code == 200, r.text
    after = await calls_of(tenant, series["groupId"])
    assert [c["title"] for c in after] == ["Daily", "Renamed", "Renamed", "Renamed", "Renamed"]
    assert after[3]["fromTime"] == "2030-01-05T15:00:00.000Z"  # moved on its own: still there


@pytest.mark.parametrize(
    "change, field",
    [
        ({"endDate": "2030-01-03", "fromDate": "2030-01-04", "fromTime": "09:00"}, "endDate"),
        ({"repeatingDays": ["someday"]}, "repeatingDays"),
        ({"repeatingDays": []}, "repeatingDays"),
        ({"timezoneName": "Mars/Olympus"}, "timezoneName"),
        ({"duration": 10}, "duration"),
        ({"fromTime": "25:00"}, "fromTime"),
        ({"fromDate": "tomorrow"}, "fromDate"),
        ({"color": "red"}, "color"),
    ],
)
async def test_bad_changes_are_400_naming_the_field(app, tenant, mango, change, field):
    series = await daily(tenant, mango)
    before = await calls_of(tenant, series["groupId"])
    assert_error(await tenant.client.patch(f"{GROUPS}/{series['groupId']}", json=change), 400, field)
    assert await calls_of(tenant, series["groupId"]) == before


async def test_missing_or_someone_elses_group_is_404(app, tenant, other_tenant, mango):
    series = await daily(tenant, mango)
    for group_id in ("00000000-0000-0000-0000-000000000000", "nope"):
        assert_error(await tenant.client.patch(f"{GROUPS}/{group_id}", json={"title": "x"}), 404, "groupId")
    assert_error(await other_tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"title": "x"}), 404, "groupId")
    bea = await colleague(app, tenant, "Bea")
    async with bea.client:
        assert_error(await bea.client.patch(f"{GROUPS}/{series['groupId']}", json={"title": "x"}), 404, "groupId")


async def test_a_change_and_a_create_racing_for_one_slot_one_wins(app, tenant, mango):
    """The series' move to 14:00 and a new call at 14:00 on the 5th: exactly one of them is booked."""
    for _ in range(3):
        series = await daily(tenant, mango, fromTime="08:00")
        patch = tenant.client.patch(f"{GROUPS}/{series['groupId']}", json={"fromTime": "14:00"})
        post = tenant.client.post(BASE, json={"title": "Racer", "mango": mango, "startDate": "2030-01-05", "fromTime": "14:30",
                                              "timezoneName": "UTC", "duration": 60})
        changed, created = await asyncio.gather(patch, post)
        assert (changed.status_code, created.status_code) in {(200, 409), (409, 201)}, (changed.text, created.text)
        fifth = sorted((c["fromTime"], c["toTime"]) for c in await listed_calls(tenant) if c["fromTime"].startswith("2030-01-05"))
        if changed.status_code == 200:  # the series moved; the new call was refused
            assert fifth == [("2030-01-05T14:00:00.000Z", "2030-01-05T15:00:00.000Z")]
        else:  # the new call is booked; the series stayed where it was
            assert fifth == [("2030-01-05T08:00:00.000Z", "2030-01-05T09:00:00.000Z"), ("2030-01-05T14:30:00.000Z", "2030-01-05T15:30:00.000Z")]
        # Clean up for the next round: cancel both.
        await tenant.client.delete(f"{GROUPS}/{series['groupId']}")
        if created.status_code == 201:
            await tenant.client.delete(f"{BASE}/{created.json()['_id']}")
