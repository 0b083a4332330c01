"""POST /video-calls: one-time, daily and weekly calls, time zones, overlap refusal."""

import asyncio
from datetime import timedelta

import pytest

from tests.video_calls.conftest import BASE, assert_error, body, create, listed, listed_ids, make_mango


async def test_one_time_call_answers_its_id_and_the_seed_timestamps(tenant, mango):
    r = await tenant.client.post(
        BASE,
        json={
            "title": "Weekly Marketing Call",
            "mango": mango,
            "startDate": "2030-01-02",
            "fromTime": "10:00",
            "timezoneName": "Asia/Kolkata",
            "duration": 60,
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"_id", "scheduledMeetingDates"}
    assert created["scheduledMeetingDates"] == ["2030-01-02T04:30:00.000Z to 2030-01-02T05:30:00.000Z"]

    r = await tenant.client.get(f"{BASE}/{created['_id']}")
    assert r.status_code == 200, r.text
    call = r.json()
    assert call["_id"] == created["_id"]
    assert call["title"] == "Weekly Marketing Call"
    assert call["fromTime"] == "2030-01-02T04:30:00.000Z"
    assert call["toTime"] == "2030-01-02T05:30:00.000Z"
    assert call["status"] == "scheduled"
    assert call["timezoneName"] == "Asia/Kolkata"
    assert call["groupId"] is None
    assert call["mango"]["_id"] == mango
    assert call["creator"]["_id"] == tenant.host_id


async def test_legacy_alias_asia_calcutta_is_accepted_and_kept(tenant, mango):
    created = await create(tenant, mango, timezoneName="Asia/Calcutta", fromTime="10:00")
    assert created["scheduledMeetingDates"] == ["2030-01-02T04:30:00.000Z to 2030-01-02T05:30:00.000Z"]
    call = (await tenant.client.get(f"{BASE}/{created['_id']}")).json()
    assert call["timezoneName"] == "Asia/Calcutta"


async def test_durations_at_both_bounds_are_accepted(tenant, mango):
    short = await create(tenant, mango, duration=30, fromTime="08:00")
    long = await create(tenant, mango, duration=300, fromTime="09:00")
    assert short["scheduledMeetingDates"] == ["2030-01-02T08:00:00.000Z to 2030-01-02T08:30:00.000Z"]
    assert long["scheduledMeetingDates"] == ["2030-01-02T09:00:00.000Z to 2030-01-02T14:00:00.000Z"]


async def test_title_of_255_characters_is_accepted(tenant, mango):
    created = await create(tenant, mango, title="x" * 255)
    call = (await tenant.client.get(f"{BASE}/{created['_id']}")).json()
    assert call["title"] == "x" * 255


async def test_daily_series_with_end_date_alone(tenant, mango):
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-02", endDate="2030-01-04", fromTime="09:15"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"_id", "groupId", "scheduledMeetingDates"}
    assert created["_id"] == created["groupId"]
    assert created["scheduledMeetingDates"] == [
        "2030-01-02T09:15:00.000Z to 2030-01-02T10:15:00.000Z",
        "2030-01-03T09:15:00.000Z to 2030-01-03T10:15:00.000Z",
        "2030-01-04T09:15:00.000Z to 2030-01-04T10:15:00.000Z",
    ]
    page = await listed(tenant)
    assert page["total"] == 3
    calls = [call for group in page["data"] for call in group["calls"]]
    assert {call["groupId"] for call in calls} == {created["groupId"]}
    assert len({call["_id"] for call in calls}) == 3
    assert created["groupId"] not in {call["_id"] for call in calls}


async def test_one_day_series_is_still_a_series(tenant, mango):
    created = await create(tenant, mango, startDate="2030-01-02", endDate="2030-01-02")
    assert created["_id"] == created["groupId"]
    assert created["scheduledMeetingDates"] == ["2030-01-02T10:00:00.000Z to 2030-01-02T11:00:00.000Z"]


WEEKLY_MON_WED = [
    "2030-01-02T10:00:00.000Z to 2030-01-02T11:00:00.000Z",  # Wednesday
    "2030-01-07T10:00:00.000Z to 2030-01-07T11:00:00.000Z",  # Monday
    "2030-01-09T10:00:00.000Z to 2030-01-09T11:00:00.000Z",  # Wednesday
    "2030-01-14T10:00:00.000Z to 2030-01-14T11:00:00.000Z",  # Monday
]


@pytest.mark.parametrize(
    "days",
    [
        ["monday", "wednesday"],
        ["MONDAY", "Wednesday"],
        ["Mon", "wED"],
        [" mon ", "wed"],
        [1, 3],
        ["1", "3"],
        ["wed", 1, "Monday"],
        ["monday", "mon", 1, "wednesday"],  # repeats name one day once
    ],
)
async def test_weekly_series_takes_day_names_in_any_case_or_numbers(tenant, mango, days):
    created = await create(tenant, mango, startDate="2030-01-01", endDate="2030-01-14", repeatingDays=days)
    assert created["_id"] == created["groupId"]
    assert created["scheduledMeetingDates"] == WEEKLY_MON_WED


@pytest.mark.parametrize("days", [[0], ["0"], ["sunday"], ["Sun"], ["SUNDAY", 0]])
async def test_weekly_zero_is_sunday(tenant, mango, days):
    created = await create(tenant, mango, startDate="2030-01-01", endDate="2030-01-14", repeatingDays=days)
    assert created["scheduledMeetingDates"] == [
        "2030-01-06T10:00:00.000Z to 2030-01-06T11:00:00.000Z",
        "2030-01-13T10:00:00.000Z to 2030-01-13T11:00:00.000Z",
    ]


async def test_six_is_saturday(tenant, mango):
    created = await create(tenant, mango, startDate="2030-01-01", endDate="2030-01-07", repeatingDays=[6])
    assert created["scheduledMeetingDates"] == ["2030-01-05T10:00:00.000Z to 2030-01-05T11:00:00.000Z"]


async def test_daily_series_keeps_local_time_across_spring_forward(tenant, mango):
    created = await create(
        tenant, mango, startDate="2030-03-08", endDate="2030-03-12", fromTime="10:00", timezoneName="America/New_York"
    )
    # 10:00 EST is 15:00Z; from Sunday 10 March (EDT) 10:00 is 14:00Z.
    assert created["scheduledMeetingDates"] == [
        "2030-03-08T15:00:00.000Z to 2030-03-08T16:00:00.000Z",
        "2030-03-09T15:00:00.000Z to 2030-03-09T16:00:00.000Z",
        "2030-03-10T14:00:00.000Z to 2030-03-10T15:00:00.000Z",
        "2030-03-11T14:00:00.000Z to 2030-03-11T15:00:00.000Z",
        "2030-03-12T14:00:00.000Z to 2030-03-12T15:00:00.000Z",
    ]


async def test_daily_series_keeps_local_time_across_fall_back(tenant, mango):
    created = await create(
        tenant, mango, startDate="2030-11-02", endDate="2030-11-04", fromTime="10:00", timezoneName="America/New_York"
    )
    assert created["scheduledMeetingDates"] == [
        "2030-11-02T14:00:00.000Z to 2030-11-02T15:00:00.000Z",
        "2030-11-03T15:00:00.000Z to 2030-11-03T16:00:00.000Z",
        "2030-11-04T15:00:00.000Z to 2030-11-04T16:00:00.000Z",
    ]


async def test_local_time_in_the_spring_forward_gap_moves_forward_by_the_gap(tenant, mango):
    created = await create(tenant, mango, startDate="2030-03-10", fromTime="02:30", timezoneName="America/New_York")
    assert created["scheduledMeetingDates"] == ["2030-03-10T07:30:00.000Z to 2030-03-10T08:30:00.000Z"]


async def test_ambiguous_local_time_at_fall_back_takes_the_first_instant(tenant, mango):
    created = await create(tenant, mango, startDate="2030-11-03", fromTime="01:30", timezoneName="America/New_York")
    assert created["scheduledMeetingDates"] == ["2030-11-03T05:30:00.000Z to 2030-11-03T06:30:00.000Z"]


async def test_series_of_366_days_is_accepted(tenant, mango):
    created = await create(tenant, mango, startDate="2030-01-02", endDate="2031-01-02", duration=30)
    dates = created["scheduledMeetingDates"]
    assert len(dates) == 366
    assert dates[0] == "2030-01-02T10:00:00.000Z to 2030-01-02T10:30:00.000Z"
    assert dates[-1] == "2031-01-02T10:00:00.000Z to 2031-01-02T10:30:00.000Z"
    assert (await listed(tenant, limit=1))["total"] == 366


async def test_overlap_is_refused_with_409_and_nothing_is_created(tenant, mango):
    first = await create(tenant, mango, title="Existing")
    r = await tenant.client.post(BASE, json=body(mango, title="Newcomer", fromTime="10:30"))
    data = assert_error(r, 409, "overlap")
    assert data["maximumOverlap"] == 1
    assert data["overlapList"] == [
        {
            "proposed": {"fromTime": "2030-01-02T10:30:00.000Z", "toTime": "2030-01-02T11:30:00.000Z"},
            "existing": {
                "_id": first["_id"],
                "title": "Existing",
                "fromTime": "2030-01-02T10:00:00.000Z",
                "toTime": "2030-01-02T11:00:00.000Z",
                "groupId": None,
            },
        }
    ]
    assert listed_ids(await listed(tenant)) == [first["_id"]]


async def test_series_with_one_overlapping_occurrence_creates_nothing(tenant, mango):
    existing = await create(tenant, mango, startDate="2030-01-04", fromTime="10:30", duration=30)
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-02", endDate="2030-01-08"))
    data = assert_error(r, 409)
    assert data["maximumOverlap"] == 1
    assert [(o["proposed"]["fromTime"], o["existing"]["_id"]) for o in data["overlapList"]] == [
        ("2030-01-04T10:00:00.000Z", existing["_id"])
    ]
    page = await listed(tenant)
    assert page["total"] == 1
    assert listed_ids(page) == [existing["_id"]]


async def test_409_answers_what_check_availability_answers(tenant, mango):
    await create(tenant, mango, startDate="2030-01-03", fromTime="10:15", duration=30)
    await create(tenant, mango, startDate="2030-01-03", fromTime="09:30", duration=45)
    await create(tenant, mango, startDate="2030-01-05", fromTime="10:59", duration=30)
    proposed = {"startDate": "2030-01-02", "endDate": "2030-01-06", "fromTime": "10:00", "timezoneName": "UTC", "duration": 60}
    check = await tenant.client.post(f"{BASE}/check-availability", json=proposed)
    assert check.status_code == 200, check.text
    r = await tenant.client.post(BASE, json={"title": "Series", "mango": mango, **proposed})
    data = assert_error(r, 409)
    assert data["maximumOverlap"] == check.json()["maximumOverlap"] == 2
    assert data["overlapList"] == check.json()["overlapList"]


async def test_allow_overlap_true_creates_the_overlapping_call(tenant, mango):
    first = await create(tenant, mango)
    second = await create(tenant, mango, fromTime="10:30", allowOverlap=True)
    page = await listed(tenant)
    assert page["total"] == 2
    assert listed_ids(page) == [first["_id"], second["_id"]]


async def test_allow_overlap_false_is_the_default_and_explicit_false_refuses(tenant, mango):
    await create(tenant, mango)
    r = await tenant.client.post(BASE, json=body(mango, fromTime="10:30", allowOverlap=False))
    assert_error(r, 409)


async def test_back_to_back_calls_do_not_conflict(tenant, mango):
    await create(tenant, mango, fromTime="10:00")
    await create(tenant, mango, fromTime="11:00")
    await create(tenant, mango, fromTime="09:00")
    page = await listed(tenant)
    assert [c["fromTime"] for g in page["data"] for c in g["calls"]] == [
        "2030-01-02T09:00:00.000Z",
        "2030-01-02T10:00:00.000Z",
        "2030-01-02T11:00:00.000Z",
    ]


async def test_a_cancelled_call_frees_its_slot(tenant, mango):
    first = await create(tenant, mango)
    assert (await tenant.client.delete(f"{BASE}/{first['_id']}")).status_code == 200
    await create(tenant, mango)


async def test_an_ended_call_does_not_block_and_a_past_start_is_refused(tenant, mango, clock):
    await create(tenant, mango, startDate="2030-01-02", fromTime="10:00")
    clock.advance(timedelta(days=1))
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-02", fromTime="10:00"))
    assert_error(r, 400, "startDate")


async def test_calls_of_different_products_of_one_host_still_conflict(tenant, mango):
    other_mango = await make_mango(tenant, "Other")
    await create(tenant, mango)
    r = await tenant.client.post(BASE, json=body(other_mango))
    assert_error(r, 409)


async def test_other_organizations_do_not_conflict(tenant, other_tenant, mango):
    other_mango = await make_mango(other_tenant)
    await create(tenant, mango)
    await create(other_tenant, other_mango)


async def test_concurrent_creates_for_one_slot_leave_exactly_one_call(tenant, mango):
    async def attempt(n: int):
        return await tenant.client.post(BASE, json=body(mango, title=f"Attempt {n}", fromTime=f"10:{n:02d}"))

    responses = await asyncio.gather(*(attempt(n) for n in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["maximumOverlap"] == 1
    assert (await listed(tenant))["total"] == 1
