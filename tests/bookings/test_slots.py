"""GET /api/v1/event-types/{id}/slots: the range's rules, days keyed in the visitor's zone,
working hours (default, set, overrides), buffers, notice and window, several hosts, DST.

Expectations are written out by hand (UTC instants worked out from the zones' offsets), not
taken from the implementation. The app's clock stands still at NOW (2030-01-01 12:00 UTC, a
Tuesday) in this module, so the edges of notice and window are exact."""

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.bookings.conftest import add_event_type, add_host, book
from tests.support.problems import assert_problem
from tests.support.tenants import Tenant, add_key
from tests.support.time import NOW

BASE = "/api/v1/event-types"
ALL_DAY = {day: [{"start": "00:00", "end": "24:00"}] for day in (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}


@pytest.fixture(autouse=True)
def frozen(app):
    """The app's clock at NOW exactly, for the whole test."""
    app.state.clock = lambda: NOW


async def slots(tenant, event_type, start: str, end: str | None = None, time_zone: str | None = None) -> dict:
    params = {"start": start, "end": end or start}
    if time_zone is not None:
        params["time_zone"] = time_zone
    r = await tenant.client.get(f"{BASE}/{event_type['id']}/slots", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"time_zone", "slots"}
    assert body["time_zone"] == (time_zone or "UTC")
    for day in body["slots"].values():
        for slot in day:
            assert set(slot) == {"start", "hosts_available"}
            assert slot["start"].endswith(".000Z"), slot
    return body["slots"]


def starts(day: list[dict]) -> list[str]:
    return [slot["start"] for slot in day]


def z(text: str) -> str:
    """`2030-01-02 09:00` (UTC) as the API writes it."""
    return text.replace(" ", "T") + ":00.000Z"


def every(first: str, last: str, minutes: int) -> list[str]:
    """UTC starts from `first` to `last` (both included), `minutes` apart."""
    at = datetime.fromisoformat(first).replace(tzinfo=UTC)
    end = datetime.fromisoformat(last).replace(tzinfo=UTC)
    out = []
    while at <= end:
        out.append(at.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        at += timedelta(minutes=minutes)
    return out


# --- the range -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2030-01-10", "end": "2030-01-09"}, "end"),
        ({"start": "2030-01-01", "end": "2030-02-01"}, "end"),  # 32 days
        ({"start": "2030-01-01", "end": "2031-01-01"}, "end"),
        ({"start": "2030-02-30", "end": "2030-03-01"}, "start"),
        ({"start": "2030-01-01", "end": "2030-13-01"}, "end"),
        ({"start": "tomorrow", "end": "2030-01-02"}, "start"),
        ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-02"}, "start"),
        ({"start": "", "end": "2030-01-02"}, "start"),
        ({"start": "1893456000", "end": "2030-01-02"}, "start"),
        ({"start": "2030-01-02", "end": "2030-1-3"}, "end"),
        ({"start": "02/01/2030", "end": "2030-01-03"}, "start"),
        ({"end": "2030-01-02"}, "start"),
        ({"start": "2030-01-02"}, "end"),
        ({"start": "2030-01-02", "end": "2030-01-02", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"start": "2030-01-02", "end": "2030-01-02", "time_zone": ""}, "time_zone"),
        ({"start": "2030-01-02", "end": "2030-01-02", "time_zone": "+05:30"}, "time_zone"),
        ({"start": "2030-01-02", "end": "2030-01-02", "time_zone": "../../etc/passwd"}, "time_zone"),
    ],
)
async def test_a_bad_range_is_a_400_naming_the_parameter(tenant, params, field):
    event_type = await add_event_type(tenant, [{"host_id": tenant.host_id}])
    r = await tenant.client.get(f"{BASE}/{event_type['id']}/slots", params=params)
    assert_problem(r, 400, field)


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "0001-01-01"), ("9999-12-31", "9999-12-31"), ("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31")],
)
async def test_dates_at_the_calendars_edges_are_days_without_slots_or_a_400(tenant, start, end):
    event_type = await add_event_type(tenant, [{"host_id": tenant.host_id}])
    for time_zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        r = await tenant.client.get(f"{BASE}/{event_type['id']}/slots",
                                    params={"start": start, "end": end, "time_zone": time_zone})
        if r.status_code == 200:
            assert all(day == [] for day in r.json()["slots"].values()), r.text
        else:
            assert_problem(r, 400, "start" if start < "5000" else "end")


async def test_every_date_of_the_range_is_a_key_31_days_at_most(tenant):
    kai = await add_host(tenant, "Kai")
    event_type = await add_event_type(tenant, [kai])
    days = await slots(tenant, event_type, "2030-01-01", "2030-01-31")
    assert list(days) == [(date(2030, 1, 1) + timedelta(days=n)).isoformat() for n in range(31)]
    one = await slots(tenant, event_type, "2030-01-05")
    assert one == {"2030-01-05": []}  # a Saturday
    # Days in the past are there, empty.
    assert await slots(tenant, event_type, "2029-12-30", "2029-12-31") == {"2029-12-30": [], "2029-12-31": []}


# --- working hours ---------------------------------------------------------------------------


async def test_empty_working_hours_are_monday_to_friday_9_to_5_in_the_hosts_zone(tenant):
    # New York in January is UTC-5: 09:00-17:00 there is 14:00-22:00 UTC.
    ny = await add_host(tenant, "Nia", timezone="America/New_York")
    event_type = await add_event_type(tenant, [ny])
    days = await slots(tenant, event_type, "2030-01-04", "2030-01-07")
    assert days == {
        "2030-01-04": [{"start": s, "hosts_available": 1} for s in every("2030-01-04 14:00", "2030-01-04 21:30", 30)],
        "2030-01-05": [],
        "2030-01-06": [],
        "2030-01-07": [{"start": s, "hosts_available": 1} for s in every("2030-01-07 14:00", "2030-01-07 21:30", 30)],
    }


async def test_today_starts_after_the_minimum_notice(tenant):
    kai = await add_host(tenant, "Kai")  # UTC, 09:00-17:00 on weekdays
    event_type = await add_event_type(tenant, [kai])  # notice 60: from 13:00
    assert starts((await slots(tenant, event_type, "2030-01-01"))["2030-01-01"]) == every("2030-01-01 13:00", "2030-01-01 16:30", 30)


async def test_set_working_hours_are_exactly_the_days_given(tenant):
    kai = await add_host(tenant, "Kai", working_hours={
        "wednesday": [{"start": "09:00", "end": "10:30"}, {"start": "13:15", "end": "15:00"}],
        "saturday": [{"start": "22:00", "end": "24:00"}],
    })
    event_type = await add_event_type(tenant, [kai], duration_minutes=45)
    days = await slots(tenant, event_type, "2030-01-01", "2030-01-06")
    assert {d: starts(s) for d, s in days.items()} == {
        "2030-01-01": [],
        # The grid starts at each interval's start; a call must fit in one interval.
        "2030-01-02": [z("2030-01-02 09:00"), z("2030-01-02 09:45"), z("2030-01-02 13:15"), z("2030-01-02 14:00")],
        "2030-01-03": [],
        "2030-01-04": [],
        "2030-01-05": [z("2030-01-05 22:00"), z("2030-01-05 22:45")],
        "2030-01-06": [],
    }


async def test_a_slot_interval_shorter_than_the_duration(tenant):
    kai = await add_host(tenant, "Kai", working_hours={"thursday": [{"start": "10:00", "end": "12:00"}]})
    event_type = await add_event_type(tenant, [kai], duration_minutes=60, slot_interval_minutes=20)
    days = await slots(tenant, event_type, "2030-01-03")
    assert starts(days["2030-01-03"]) == every("2030-01-03 10:00", "2030-01-03 11:00", 20)


async def test_date_overrides_replace_the_week_on_their_dates(tenant):
    kai = await add_host(tenant, "Kai", date_overrides={
        "2030-01-02": [],  # a Wednesday off
        "2030-01-03": [{"start": "10:00", "end": "12:00"}],  # a short Thursday
        "2030-01-05": [{"start": "10:00", "end": "11:00"}],  # a working Saturday
    })
    event_type = await add_event_type(tenant, [kai])
    days = await slots(tenant, event_type, "2030-01-02", "2030-01-06")
    assert {d: starts(s) for d, s in days.items()} == {
        "2030-01-02": [],
        "2030-01-03": every("2030-01-03 10:00", "2030-01-03 11:30", 30),
        "2030-01-04": every("2030-01-04 09:00", "2030-01-04 16:30", 30),
        "2030-01-05": [z("2030-01-05 10:00"), z("2030-01-05 10:30")],
        "2030-01-06": [],
    }


async def test_changing_a_hosts_hours_changes_the_slots(tenant):
    kai = await add_host(tenant, "Kai")
    event_type = await add_event_type(tenant, [kai], duration_minutes=60)
    r = await tenant.client.patch(f"/api/v1/hosts/{kai['id']}", json={
        "working_hours": {"wednesday": [{"start": "08:00", "end": "10:00"}]}, "date_overrides": {"2030-01-09": []}})
    assert r.status_code == 200, r.text
    days = await slots(tenant, event_type, "2030-01-02", "2030-01-09")
    assert {d: starts(s) for d, s in days.items() if s} == {"2030-01-02": [z("2030-01-02 08:00"), z("2030-01-02 09:00")]}


# --- the visitor's zone ----------------------------------------------------------------------


async def test_days_are_keyed_in_the_requested_time_zone(tenant):
    # Berlin in January is UTC+1. Its Monday 06:00-10:00 is 05:00-09:00 UTC, and 20:00-24:00
    # is 19:00-23:00 UTC. Los Angeles is UTC-8: 05:00 UTC is Sunday 21:00 there. Kolkata is
    # UTC+5:30: 19:00 UTC is Tuesday 00:30 there.
    berlin = await add_host(tenant, "Bea", timezone="Europe/Berlin", working_hours={
        "monday": [{"start": "06:00", "end": "10:00"}, {"start": "20:00", "end": "24:00"}]})
    event_type = await add_event_type(tenant, [berlin], duration_minutes=60)
    morning = [z(f"2030-01-07 0{h}:00") for h in (5, 6, 7, 8)]
    evening = [z(f"2030-01-07 {h}:00") for h in (19, 20, 21, 22)]

    utc = await slots(tenant, event_type, "2030-01-06", "2030-01-08")
    assert {d: starts(s) for d, s in utc.items()} == {"2030-01-06": [], "2030-01-07": morning + evening, "2030-01-08": []}

    la = await slots(tenant, event_type, "2030-01-06", "2030-01-07", "America/Los_Angeles")
    assert {d: starts(s) for d, s in la.items()} == {"2030-01-06": morning[:3], "2030-01-07": morning[3:] + evening}

    kolkata = await slots(tenant, event_type, "2030-01-07", "2030-01-08", "Asia/Kolkata")
    assert {d: starts(s) for d, s in kolkata.items()} == {"2030-01-07": morning, "2030-01-08": evening}
    # One day in Kolkata is not one day in UTC.
    assert {d: starts(s) for d, s in (await slots(tenant, event_type, "2030-01-08", "2030-01-08", "Asia/Kolkata")).items()} == {
        "2030-01-08": evening}
    # A legacy alias names the same zone.
    assert await slots(tenant, event_type, "2030-01-08", "2030-01-08", "Asia/Calcutta") == {"2030-01-08": [
        {"start": s, "hosts_available": 1} for s in evening]}


async def test_the_range_edge_in_a_zone_far_from_utc_keeps_exactly_its_days(tenant):
    # Kiritimati is UTC+14: its 2030-01-03 runs from 2030-01-02 10:00 to 2030-01-03 10:00 UTC.
    kai = await add_host(tenant, "Kai", working_hours=ALL_DAY)
    event_type = await add_event_type(tenant, [kai], duration_minutes=60)
    days = await slots(tenant, event_type, "2030-01-03", "2030-01-03", "Pacific/Kiritimati")
    assert starts(days["2030-01-03"]) == every("2030-01-02 10:00", "2030-01-03 09:00", 60)


# --- DST ---------------------------------------------------------------------------------------


async def test_a_dst_week_in_new_york_keeps_9_to_5_on_the_wall(tenant):
    # 2030-03-10 (Sunday) New York goes from UTC-5 to UTC-4: 09:00 is 14:00 UTC on Friday the
    # 8th and 13:00 UTC on Monday the 11th.
    ny = await add_host(tenant, "Nia", timezone="America/New_York")
    event_type = await add_event_type(tenant, [ny], duration_minutes=60, booking_window_days=120)
    days = await slots(tenant, event_type, "2030-03-08", "2030-03-11")
    assert {d: starts(s) for d, s in days.items()} == {
        "2030-03-08": every("2030-03-08 14:00", "2030-03-08 21:00", 60),
        "2030-03-09": [],
        "2030-03-10": [],
        "2030-03-11": every("2030-03-11 13:00", "2030-03-11 20:00", 60),
    }
    # Asked in New York's own zone, the same slots on the same dates.
    assert await slots(tenant, event_type, "2030-03-08", "2030-03-11", "America/New_York") == days


async def test_the_spring_forward_night_in_new_york_is_an_hour_shorter(tenant):
    # Sunday 2030-03-10 00:00-06:00 on the wall: 00:00 EST is 05:00 UTC, 06:00 EDT is 10:00 UTC;
    # five real hours, the grid steps by elapsed time: 00:00, 01:00, 03:00, 04:00, 05:00 local.
    ny = await add_host(tenant, "Nia", timezone="America/New_York",
                        working_hours={"sunday": [{"start": "00:00", "end": "06:00"}]})
    event_type = await add_event_type(tenant, [ny], duration_minutes=60, booking_window_days=120)
    days = await slots(tenant, event_type, "2030-03-10", "2030-03-10", "America/New_York")
    assert starts(days["2030-03-10"]) == every("2030-03-10 05:00", "2030-03-10 09:00", 60)
    # The week before, six real hours: 05:00 to 10:00 UTC.
    before = await slots(tenant, event_type, "2030-03-03", "2030-03-03", "America/New_York")
    assert starts(before["2030-03-03"]) == every("2030-03-03 05:00", "2030-03-03 10:00", 60)
    # The week after, EDT: 04:00 to 09:00 UTC.
    after = await slots(tenant, event_type, "2030-03-17", "2030-03-17", "America/New_York")
    assert starts(after["2030-03-17"]) == every("2030-03-17 04:00", "2030-03-17 09:00", 60)


async def test_the_fall_back_night_in_new_york_is_an_hour_longer(tenant):
    # Sunday 2030-11-03 00:00-04:00 on the wall: 00:00 EDT is 04:00 UTC, 04:00 EST is 09:00 UTC.
    ny = await add_host(tenant, "Nia", timezone="America/New_York",
                        working_hours={"sunday": [{"start": "00:00", "end": "04:00"}]})
    event_type = await add_event_type(tenant, [ny], duration_minutes=60, booking_window_days=400)
    days = await slots(tenant, event_type, "2030-11-03")
    assert starts(days["2030-11-03"]) == every("2030-11-03 04:00", "2030-11-03 08:00", 60)


async def test_berlins_change_night_seen_from_utc_and_from_berlin(tenant):
    # 2030-03-31 (Sunday) Berlin goes from UTC+1 to UTC+2 at 01:00 UTC. Sunday 00:00-05:00 on
    # its wall is 2030-03-30 23:00 to 2030-03-31 03:00 UTC: four real hours.
    berlin = await add_host(tenant, "Bea", timezone="Europe/Berlin",
                            working_hours={"sunday": [{"start": "00:00", "end": "05:00"}]})
    event_type = await add_event_type(tenant, [berlin], duration_minutes=60, booking_window_days=120)
    local = await slots(tenant, event_type, "2030-03-31", "2030-03-31", "Europe/Berlin")
    expected = [z("2030-03-30 23:00"), z("2030-03-31 00:00"), z("2030-03-31 01:00"), z("2030-03-31 02:00")]
    assert starts(local["2030-03-31"]) == expected
    utc = await slots(tenant, event_type, "2030-03-30", "2030-03-31")
    assert {d: starts(s) for d, s in utc.items()} == {"2030-03-30": expected[:1], "2030-03-31": expected[1:]}
    # A visitor whose own zone changes a week earlier (New York) sees them on the 30th (EDT, UTC-4).
    ny = await slots(tenant, event_type, "2030-03-30", "2030-03-31", "America/New_York")
    assert {d: starts(s) for d, s in ny.items()} == {"2030-03-30": expected, "2030-03-31": []}


async def test_weekday_hours_in_berlin_across_its_change(tenant):
    # Friday 2030-03-29 09:00-17:00 CET is 08:00-16:00 UTC; Monday 2030-04-01 CEST is 07:00-15:00.
    berlin = await add_host(tenant, "Bea", timezone="Europe/Berlin")
    event_type = await add_event_type(tenant, [berlin], duration_minutes=120, booking_window_days=120)
    days = await slots(tenant, event_type, "2030-03-29", "2030-04-01", "Asia/Kolkata")
    assert {d: starts(s) for d, s in days.items()} == {
        "2030-03-29": every("2030-03-29 08:00", "2030-03-29 14:00", 120),
        "2030-03-30": [],
        "2030-03-31": [],
        "2030-04-01": every("2030-04-01 07:00", "2030-04-01 13:00", 120),
    }


# --- notice and window -----------------------------------------------------------------------


async def test_minimum_notice_and_booking_window_bound_the_starts(tenant):
    kai = await add_host(tenant, "Kai", working_hours=ALL_DAY)
    event_type = await add_event_type(tenant, [kai], duration_minutes=60, minimum_notice_minutes=120,
                                      booking_window_days=2)
    days = await slots(tenant, event_type, "2029-12-31", "2030-01-04")
    # From now + 2 h (14:00 included) to before now + 2 days (2030-01-03 12:00 excluded).
    assert {d: starts(s) for d, s in days.items()} == {
        "2029-12-31": [],
        "2030-01-01": every("2030-01-01 14:00", "2030-01-01 23:00", 60),
        "2030-01-02": every("2030-01-02 00:00", "2030-01-02 23:00", 60),
        "2030-01-03": every("2030-01-03 00:00", "2030-01-03 11:00", 60),
        "2030-01-04": [],
    }


async def test_no_notice_offers_the_next_grid_start(tenant):
    kai = await add_host(tenant, "Kai")
    event_type = await add_event_type(tenant, [kai], minimum_notice_minutes=0, slot_interval_minutes=15)
    days = await slots(tenant, event_type, "2030-01-01")
    assert days["2030-01-01"][0]["start"] == z("2030-01-01 12:00")  # now itself is a start
    assert days["2030-01-01"][-1]["start"] == z("2030-01-01 16:30")


async def test_a_window_of_sixty_days_ends_on_the_sixtieth_day(tenant):
    kai = await add_host(tenant, "Kai")
    event_type = await add_event_type(tenant, [kai])  # window 60 days: before 2030-03-02 12:00
    days = await slots(tenant, event_type, "2030-02-25", "2030-03-04")
    assert starts(days["2030-02-28"]) == every("2030-02-28 09:00", "2030-02-28 16:30", 30)  # a Thursday
    assert starts(days["2030-03-01"]) == every("2030-03-01 09:00", "2030-03-01 16:30", 30)  # Friday
    assert days["2030-03-04"] == []  # Monday, beyond


# --- busy hosts, buffers, several hosts -------------------------------------------------------


async def test_a_booking_takes_its_slot_and_its_buffers_hide_the_neighbours(tenant):
    kai = await add_host(tenant, "Kai")
    buffered = await add_event_type(tenant, [kai], buffer_before_minutes=15, buffer_after_minutes=15)
    plain = await add_event_type(tenant, [kai], slug="plain")
    r = await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=buffered["number"])
    assert r.status_code == 201, r.text
    all_day = every("2030-01-02 09:00", "2030-01-02 16:30", 30)
    hidden = {z("2030-01-02 09:30"), z("2030-01-02 10:00"), z("2030-01-02 10:30")}
    # The event's own buffers keep 09:30 and 10:30 off; so do the booking's, for an event without any.
    assert starts((await slots(tenant, buffered, "2030-01-02"))["2030-01-02"]) == [s for s in all_day if s not in hidden]
    assert starts((await slots(tenant, plain, "2030-01-02"))["2030-01-02"]) == [s for s in all_day if s not in hidden]


async def test_buffers_facing_each_other_overlap_rather_than_add_up(tenant):
    kai = await add_host(tenant, "Kai")
    after_30 = await add_event_type(tenant, [kai], buffer_after_minutes=30)
    assert (await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=after_30["number"])).status_code == 201
    # 10:00-10:30 keeps 10:30-11:00 clear; 11:00 is offered (its own 30 min after do not
    # reach back, and 10:30-11:00 is both buffers at once for 09:00... only 10:30 is lost).
    day = starts((await slots(tenant, after_30, "2030-01-02"))["2030-01-02"])
    all_day = every("2030-01-02 09:00", "2030-01-02 16:30", 30)
    # 09:30-10:00 would need 10:00-10:30 clear after it: the booking is there.
    assert day == [s for s in all_day if s not in {z("2030-01-02 09:30"), z("2030-01-02 10:00"), z("2030-01-02 10:30")}]
    before_30 = await add_event_type(tenant, [kai], slug="before", buffer_before_minutes=30)
    day = starts((await slots(tenant, before_30, "2030-01-02"))["2030-01-02"])
    # 10:30 needs 10:00-10:30 clear before it (the booking); 11:00 needs 10:30-11:00, which is
    # the booking's own buffer: buffers may overlap, so it is offered.
    assert day == [s for s in all_day if s not in {z("2030-01-02 10:00"), z("2030-01-02 10:30")}]


async def test_a_cancelled_booking_frees_its_slot_and_buffers(tenant):
    kai = await add_host(tenant, "Kai")
    event_type = await add_event_type(tenant, [kai], buffer_after_minutes=30)
    r = await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=event_type["number"])
    assert r.status_code == 201, r.text
    assert (await tenant.client.post(f"/v1/eventCalls/{r.json()['data']['eventCall']['data']['id']}/cancel")).status_code == 200
    assert starts((await slots(tenant, event_type, "2030-01-02"))["2030-01-02"]) == every("2030-01-02 09:00", "2030-01-02 16:30", 30)


async def test_other_kinds_of_calls_make_the_host_busy(tenant):
    # The owner host (the key's) creates a video call on Wednesday 10:00-11:00 UTC.
    r = await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 0})
    assert r.status_code == 201, r.text
    r = await tenant.client.post("/api/v1/external/workshops/video-calls", json={
        "title": "Webinar", "mango": r.json()["id"], "startDate": "2030-01-02", "fromTime": "10:00",
        "timezoneName": "UTC", "duration": 60})
    assert r.status_code == 201, r.text
    owner = (await tenant.client.get(f"/api/v1/hosts/{tenant.host_id}")).json()
    assert owner["timezone"] == "UTC" and owner["working_hours"] == {}
    event_type = await add_event_type(tenant, [{"host_id": tenant.host_id}])
    day = starts((await slots(tenant, event_type, "2030-01-02"))["2030-01-02"])
    assert day == [s for s in every("2030-01-02 09:00", "2030-01-02 16:30", 30)
                   if s not in {z("2030-01-02 10:00"), z("2030-01-02 10:30")}]


async def test_hosts_available_counts_the_free_hosts(tenant):
    ann = await add_host(tenant, "Ann")  # UTC, 09-17 weekdays
    ben = await add_host(tenant, "Ben", working_hours={"wednesday": [{"start": "12:00", "end": "18:00"}]})
    # London is UTC in January; Cid works Wednesday 13:00-15:00 there (an override).
    cid = await add_host(tenant, "Cid", timezone="Europe/London", date_overrides={
        "2030-01-02": [{"start": "13:00", "end": "15:00"}]})
    event_type = await add_event_type(tenant, [ann, ben, cid], duration_minutes=60)

    def counts(day):
        return {slot["start"][11:16]: slot["hosts_available"] for slot in day}

    day = (await slots(tenant, event_type, "2030-01-02"))["2030-01-02"]
    assert counts(day) == {"09:00": 1, "10:00": 1, "11:00": 1, "12:00": 2, "13:00": 3, "14:00": 3,
                           "15:00": 2, "16:00": 2, "17:00": 1}
    for expected in (2, 1, 0):
        r = await book(tenant, dateTime="2030-01-02T13:00:00Z", eventId=event_type["number"], email=f"p{expected}@example.com")
        assert r.status_code == 201, r.text
        day = counts((await slots(tenant, event_type, "2030-01-02"))["2030-01-02"])
        assert day.get("13:00", 0) == expected
        assert day["14:00"] == 3
    assert "13:00" not in counts((await slots(tenant, event_type, "2030-01-02"))["2030-01-02"])


async def test_another_hosts_calls_do_not_count(tenant):
    ann = await add_host(tenant, "Ann")
    ben = await add_host(tenant, "Ben")
    only_ben = await add_event_type(tenant, [ben], slug="ben")
    only_ann = await add_event_type(tenant, [ann], slug="ann")
    assert (await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=only_ben["number"])).status_code == 201
    assert len((await slots(tenant, only_ann, "2030-01-02"))["2030-01-02"]) == 16
    assert len((await slots(tenant, only_ben, "2030-01-02"))["2030-01-02"]) == 15


async def test_a_hosts_key_sees_its_own_hosts_slots_only(app, tenant):
    """Ann works Mondays 9-10, Ben every day 9-10: on Wednesday the admin key sees Ben's slots,
    Ann's key none (it books Ann or nobody); on Monday Ann's key sees Ann's, one host each."""
    ann = await add_host(tenant, "Ann", working_hours={"monday": [{"start": "09:00", "end": "10:00"}]})
    ben = await add_host(tenant, "Ben", working_hours={d: [{"start": "09:00", "end": "10:00"}] for d in ALL_DAY})
    event_type = await add_event_type(tenant, [ann, ben])
    anns = Tenant(await add_key(app, tenant, ann["id"]), tenant.organization_id, ann["id"], "")
    async with anns.client:
        wednesday = "2030-01-02"
        assert starts((await slots(tenant, event_type, wednesday))[wednesday]) == [
            "2030-01-02T09:00:00.000Z", "2030-01-02T09:30:00.000Z"]
        assert (await slots(anns, event_type, wednesday))[wednesday] == []
        monday = "2030-01-07"
        assert (await slots(tenant, event_type, monday))[monday] == [
            {"start": "2030-01-07T09:00:00.000Z", "hosts_available": 2},
            {"start": "2030-01-07T09:30:00.000Z", "hosts_available": 2}]
        assert (await slots(anns, event_type, monday))[monday] == [
            {"start": "2030-01-07T09:00:00.000Z", "hosts_available": 1},
            {"start": "2030-01-07T09:30:00.000Z", "hosts_available": 1}]
