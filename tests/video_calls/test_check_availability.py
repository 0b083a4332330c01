"""POST /video-calls/check-availability: maximumOverlap, overlapList, exclusions."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from callgrid.db.session import write_session

from tests.video_calls.conftest import CHECK, assert_error, create, make_mango, schedule


async def check(tenant, **fields) -> dict:
    r = await tenant.client.post(CHECK, json=schedule(**fields))
    assert r.status_code == 200, r.text
    return r.json()


def pairs(report: dict) -> list[tuple[str, str]]:
    return [(o["proposed"]["fromTime"], o["existing"]["_id"]) for o in report["overlapList"]]


async def test_empty_calendar_has_no_overlap(tenant):
    assert await check(tenant) == {"maximumOverlap": 0, "overlapList": []}
    assert await check(tenant, endDate="2030-12-31") == {"maximumOverlap": 0, "overlapList": []}


async def test_one_overlap_is_reported_in_full(tenant, mango):
    existing = await create(tenant, mango, title="Standup", fromTime="10:30", duration=30)
    assert await check(tenant) == {
        "maximumOverlap": 1,
        "overlapList": [
            {
                "proposed": {"fromTime": "2030-01-02T10:00:00.000Z", "toTime": "2030-01-02T11:00:00.000Z"},
                "existing": {
                    "_id": existing["_id"],
                    "title": "Standup",
                    "fromTime": "2030-01-02T10:30:00.000Z",
                    "toTime": "2030-01-02T11:00:00.000Z",
                    "groupId": None,
                },
            }
        ],
    }


async def test_maximum_is_distinct_calls_per_occurrence_not_a_total(tenant, mango):
    # Wednesday 2nd: two calls overlap the proposed 10:00-11:00 (one allowed to overlap the other).
    b = await create(tenant, mango, title="B", startDate="2030-01-02", fromTime="10:30", duration=60)
    a = await create(tenant, mango, title="A", startDate="2030-01-02", fromTime="09:30", duration=45, allowOverlap=True)
    # Thursday 3rd: one call. Friday 4th: one touching call, not an overlap.
    c = await create(tenant, mango, title="C", startDate="2030-01-03", fromTime="10:59", duration=30)
    await create(tenant, mango, title="D", startDate="2030-01-04", fromTime="11:00", duration=30)
    report = await check(tenant, startDate="2030-01-02", endDate="2030-01-04")
    assert report["maximumOverlap"] == 2  # three distinct calls overlap, but at most two at once
    assert pairs(report) == [
        ("2030-01-02T10:00:00.000Z", a["_id"]),  # proposed start, then existing start
        ("2030-01-02T10:00:00.000Z", b["_id"]),
        ("2030-01-03T10:00:00.000Z", c["_id"]),
    ]
    assert [o["existing"]["title"] for o in report["overlapList"]] == ["A", "B", "C"]


async def test_maximum_counts_three_stacked_calls(tenant, mango):
    ids = []
    for minute in ("00", "15", "30"):
        created = await create(tenant, mango, fromTime=f"10:{minute}", duration=30, allowOverlap=True)
        ids.append(created["_id"])
    report = await check(tenant, fromTime="10:10", duration=30)
    assert report["maximumOverlap"] == 3
    assert pairs(report) == [("2030-01-02T10:10:00.000Z", i) for i in ids]


async def test_overlaps_are_ordered_by_proposed_then_existing_start_not_creation(tenant, mango):
    late = await create(tenant, mango, startDate="2030-01-05", fromTime="10:15", duration=30)
    early_series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-03", fromTime="10:45", duration=30)
    first = await create(tenant, mango, startDate="2030-01-02", fromTime="09:30", duration=45)
    report = await check(tenant, startDate="2030-01-02", endDate="2030-01-06")
    proposed = [o["proposed"]["fromTime"] for o in report["overlapList"]]
    existing = [o["existing"]["fromTime"] for o in report["overlapList"]]
    assert proposed == [
        "2030-01-02T10:00:00.000Z",
        "2030-01-02T10:00:00.000Z",
        "2030-01-03T10:00:00.000Z",
        "2030-01-05T10:00:00.000Z",
    ]
    assert existing == [
        "2030-01-02T09:30:00.000Z",
        "2030-01-02T10:45:00.000Z",
        "2030-01-03T10:45:00.000Z",
        "2030-01-05T10:15:00.000Z",
    ]
    assert report["overlapList"][0]["existing"]["_id"] == first["_id"]
    assert report["overlapList"][3]["existing"]["_id"] == late["_id"]
    assert {o["existing"]["groupId"] for o in report["overlapList"][1:3]} == {early_series["groupId"]}
    assert report["maximumOverlap"] == 2


async def test_weekly_check_only_reports_its_own_days(tenant, mango):
    monday = await create(tenant, mango, startDate="2030-01-07")
    await create(tenant, mango, startDate="2030-01-08")  # a Tuesday
    report = await check(tenant, startDate="2030-01-01", endDate="2030-01-14", repeatingDays=["Mon", 3])
    assert pairs(report) == [("2030-01-07T10:00:00.000Z", monday["_id"])]


async def test_check_expands_in_the_given_time_zone(tenant, mango):
    existing = await create(tenant, mango, startDate="2030-01-02", fromTime="04:30")  # 10:00 in Kolkata
    report = await check(tenant, timezoneName="Asia/Calcutta", fromTime="10:00")
    assert pairs(report) == [("2030-01-02T04:30:00.000Z", existing["_id"])]


async def test_touching_end_to_start_is_not_an_overlap(tenant, mango):
    await create(tenant, mango, fromTime="10:00")
    assert (await check(tenant, fromTime="11:00"))["maximumOverlap"] == 0
    assert (await check(tenant, fromTime="09:00"))["maximumOverlap"] == 0
    assert (await check(tenant, fromTime="09:01"))["maximumOverlap"] == 1
    assert (await check(tenant, fromTime="10:59", duration=30))["maximumOverlap"] == 1


async def test_exclude_videocall_leaves_that_call_out(tenant, mango):
    mine = await create(tenant, mango, fromTime="10:00")
    other = await create(tenant, mango, fromTime="11:00")
    report = await check(tenant, fromTime="10:30", excludeVideocall=mine["_id"])
    assert pairs(report) == [("2030-01-02T10:30:00.000Z", other["_id"])]
    assert report["maximumOverlap"] == 1
    report = await check(tenant, fromTime="10:00", excludeVideocall=mine["_id"])
    assert report == {"maximumOverlap": 0, "overlapList": []}


async def test_group_id_leaves_the_series_out_but_not_other_calls(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-06")
    single = await create(tenant, mango, startDate="2030-01-07")
    report = await check(tenant, startDate="2030-01-02", endDate="2030-01-08", groupId=series["groupId"])
    assert pairs(report) == [("2030-01-07T10:00:00.000Z", single["_id"])]
    report = await check(tenant, startDate="2030-01-02", endDate="2030-01-08")
    assert report["maximumOverlap"] == 1
    assert len(report["overlapList"]) == 6


async def test_both_exclusions_together(tenant, mango):
    series = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-03")
    single = await create(tenant, mango, startDate="2030-01-04")
    report = await check(
        tenant, startDate="2030-01-02", endDate="2030-01-04", groupId=series["groupId"], excludeVideocall=single["_id"]
    )
    assert report == {"maximumOverlap": 0, "overlapList": []}


@pytest.mark.parametrize("field", ["excludeVideocall", "groupId"])
@pytest.mark.parametrize("value", ["garbage", "00000000-0000-0000-0000-000000000000", "66c4964c11e7fef26751f3a7"])
async def test_an_exclusion_naming_nothing_leaves_nothing_out(tenant, mango, field, value):
    await create(tenant, mango)
    report = await check(tenant, **{field: value})
    assert report["maximumOverlap"] == 1


async def test_cancelled_calls_are_ignored(tenant, mango):
    call = await create(tenant, mango)
    series = await create(tenant, mango, startDate="2030-01-03", endDate="2030-01-05")
    assert (await tenant.client.delete(f"/api/v1/external/workshops/video-calls/{call['_id']}")).status_code == 200
    assert (await tenant.client.delete(f"/api/v1/external/workshops/video-calls/groups/{series['groupId']}")).status_code == 200
    assert await check(tenant, startDate="2030-01-02", endDate="2030-01-05") == {"maximumOverlap": 0, "overlapList": []}


async def test_ended_calls_are_ignored_and_ongoing_ones_count(tenant, mango, clock):
    call = await create(tenant, mango, startDate="2030-01-02", fromTime="10:00")
    clock.advance(timedelta(hours=22, minutes=30))  # 2030-01-02 10:30Z: the call is on
    report = await check(tenant, fromTime="10:45", duration=30)
    assert pairs(report) == [("2030-01-02T10:45:00.000Z", call["_id"])]
    clock.advance(timedelta(hours=1))  # 11:30Z: it has ended
    assert (await check(tenant, fromTime="10:00"))["maximumOverlap"] == 0


async def test_other_hosts_and_organizations_are_not_counted(tenant, other_tenant, mango):
    other_mango = await make_mango(other_tenant)
    await create(other_tenant, other_mango)
    assert (await check(tenant))["maximumOverlap"] == 0
    mine = await create(tenant, mango)
    report = await check(tenant)
    assert pairs(report) == [("2030-01-02T10:00:00.000Z", mine["_id"])]
    other_report = await check(other_tenant)
    assert mine["_id"] not in {o["existing"]["_id"] for o in other_report["overlapList"]}


async def test_year_long_daily_check_against_a_busy_calendar(tenant, mango):
    await create(tenant, mango, startDate="2030-01-02", endDate="2030-12-31", fromTime="10:30", duration=30)
    report = await check(tenant, startDate="2030-01-02", endDate="2031-01-01")
    assert report["maximumOverlap"] == 1
    assert len(report["overlapList"]) == 364
    assert report["overlapList"][0]["proposed"]["fromTime"] == "2030-01-02T10:00:00.000Z"
    assert report["overlapList"][-1]["proposed"]["fromTime"] == "2030-12-31T10:00:00.000Z"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"duration": 29}, "duration"),
        ({"fromTime": "7pm"}, "fromTime"),
        ({"startDate": "tomorrow"}, "startDate"),
        ({"timezoneName": "Nowhere/Land"}, "timezoneName"),
        ({"endDate": "2029-12-31"}, "endDate"),
        ({"endDate": "2031-12-31"}, "endDate"),
        ({"endDate": "2030-01-09", "repeatingDays": []}, "repeatingDays"),
        ({"repeatingDays": ["mon"]}, "endDate"),
        ({"excludeVideocall": 12}, "excludeVideocall"),
        ({"groupId": ["a"]}, "groupId"),
        ({"title": "not a field here"}, "title"),
        ({"startDate": "0001-01-01", "fromTime": "00:00"}, "startDate"),
    ],
)
async def test_bad_check_is_400_naming_the_field(tenant, fields, field):
    r = await tenant.client.post(CHECK, json=schedule(**fields))
    assert_error(r, 400, field)


async def test_a_check_for_the_past_is_answered(tenant):
    # Only creating refuses a start in the past; checking it simply finds nothing upcoming.
    assert await check(tenant, startDate="2029-06-01") == {"maximumOverlap": 0, "overlapList": []}


async def test_checking_only_reads_so_it_does_not_queue_behind_writers(app, tenant, mango):
    """On SQLite a write takes the database's one write lock; a check must not wait for it."""
    existing = await create(tenant, mango)
    async with write_session(app.state.sessionmaker) as writer:
        await writer.execute(text("SELECT 1"))  # the write lock is held from here on SQLite
        report = await asyncio.wait_for(check(tenant), timeout=10)
        assert report["maximumOverlap"] == 1
        assert report["overlapList"][0]["existing"]["_id"] == existing["_id"]
        await writer.rollback()
