from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgrid.scheduling import (
    MAX_SLOT_RANGE_DAYS,
    BookingRules,
    Busy,
    HostCalendar,
    ScheduleError,
    Verdict,
    check_start,
    find_slots,
    parse_working_hours,
)
from tests.scheduling.availability_oracle import Event, Host, oracle_slots, oracle_verdict
from tests.scheduling.test_working_hours import ZONES, day_ranges, weeks, zones_and_days

UTC = timezone.utc
VISITOR_ZONES = [*ZONES, "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def host(
    id: int = 1,
    zone: str = "UTC",
    working_hours: dict | None = None,
    date_overrides: dict | None = None,
    busy: list[Busy] = (),
) -> HostCalendar:
    return HostCalendar(
        id, ZoneInfo(zone), parse_working_hours(working_hours or {}, date_overrides), list(busy)
    )


def nine_to(end: str, day: str = "monday", start: str = "09:00") -> dict:
    return {day: [{"start": start, "end": end}]}


def starts(rules, hosts, now, first, last, zone="UTC") -> dict[date, list[str]]:
    found = find_slots(rules, hosts, now, first, last, ZoneInfo(zone))
    return {
        day: [slot.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for slot in slots]
        for day, slots in found.days.items()
    }


MONDAY = date(2026, 3, 2)
LONG_AGO = utc(2026, 1, 1)


def open_rules(duration: int, **fields) -> BookingRules:
    """An event type whose booking window reaches far past the dates in these examples."""
    return BookingRules(duration, **{"booking_window_days": 3650, **fields})


# slots: examples


def test_default_hours_every_weekday_in_the_range_and_empty_weekend() -> None:
    found = starts(open_rules(60), [host()], LONG_AGO, date(2026, 3, 6), date(2026, 3, 9))
    weekday = ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    assert found == {
        date(2026, 3, 6): weekday,
        date(2026, 3, 7): [],
        date(2026, 3, 8): [],
        date(2026, 3, 9): weekday,
    }


def test_grid_steps_from_each_interval_start_and_the_call_fits_inside() -> None:
    working = {"monday": [{"start": "09:00", "end": "10:50"}, {"start": "13:10", "end": "14:30"}]}
    rules = open_rules(45, slot_interval_minutes=20)
    assert starts(rules, [host(working_hours=working)], LONG_AGO, MONDAY, MONDAY) == {
        MONDAY: ["09:00", "09:20", "09:40", "10:00", "13:10", "13:30"]
    }


def test_touching_intervals_are_not_merged() -> None:
    working = {"monday": [{"start": "09:00", "end": "10:30"}, {"start": "10:30", "end": "12:00"}]}
    assert starts(open_rules(60), [host(working_hours=working)], LONG_AGO, MONDAY, MONDAY) == {
        MONDAY: ["09:00", "10:30"]
    }


def test_an_interval_ending_at_midnight() -> None:
    working = nine_to("24:00", start="22:00")
    assert starts(open_rules(60), [host(working_hours=working)], LONG_AGO, MONDAY, MONDAY) == {
        MONDAY: ["22:00", "23:00"]
    }


def test_overrides() -> None:
    hosts = [
        host(date_overrides={"2026-03-02": [], "2026-03-07": [{"start": "10:00", "end": "12:00"}]})
    ]
    found = starts(open_rules(60), hosts, LONG_AGO, date(2026, 3, 2), date(2026, 3, 8))
    assert found[date(2026, 3, 2)] == []
    assert found[date(2026, 3, 3)][0] == "09:00"
    assert found[date(2026, 3, 7)] == ["10:00", "11:00"]
    assert found[date(2026, 3, 8)] == []


def test_back_to_back_calls_do_not_overlap() -> None:
    busy = [Busy(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11))]
    found = starts(
        open_rules(60), [host(working_hours=nine_to("13:00"), busy=busy)], LONG_AGO, MONDAY, MONDAY
    )
    assert found == {MONDAY: ["09:00", "11:00", "12:00"]}


def test_overlapping_and_nested_calls() -> None:
    busy = [
        Busy(utc(2026, 3, 2, 10), utc(2026, 3, 2, 13)),
        Busy(utc(2026, 3, 2, 10, 30), utc(2026, 3, 2, 11)),  # inside the first
        Busy(utc(2026, 3, 2, 9, 30), utc(2026, 3, 2, 10, 15)),
    ]
    found = starts(
        open_rules(30), [host(working_hours=nine_to("14:00"), busy=busy)], LONG_AGO, MONDAY, MONDAY
    )
    assert found == {MONDAY: ["09:00", "13:00", "13:30"]}


def test_the_event_buffers_widen_the_call() -> None:
    busy = [Busy(utc(2026, 3, 2, 12), utc(2026, 3, 2, 13))]
    hosts = [host(working_hours=nine_to("17:00"), busy=busy)]
    rules = open_rules(
        60, slot_interval_minutes=30, buffer_before_minutes=30, buffer_after_minutes=15
    )
    # A call may end no later than 11:45 and start no earlier than 13:30.
    assert starts(rules, hosts, LONG_AGO, MONDAY, MONDAY) == {
        MONDAY: [
            "09:00",
            "09:30",
            "10:00",
            "10:30",
            "13:30",
            "14:00",
            "14:30",
            "15:00",
            "15:30",
            "16:00",
        ]
    }


def test_a_call_may_not_fall_in_another_bookings_buffers() -> None:
    busy = [
        Busy(
            utc(2026, 3, 2, 12),
            utc(2026, 3, 2, 13),
            buffer_before_minutes=60,
            buffer_after_minutes=30,
        )
    ]
    hosts = [host(working_hours=nine_to("17:00"), busy=busy)]
    rules = open_rules(60, slot_interval_minutes=30)
    assert starts(rules, hosts, LONG_AGO, MONDAY, MONDAY) == {
        MONDAY: ["09:00", "09:30", "10:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"]
    }


def test_buffers_facing_each_other_overlap_rather_than_add_up() -> None:
    # The booking's 30 minutes after and the event's 20 minutes before share one gap.
    busy = [Busy(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), buffer_after_minutes=30)]
    rules = open_rules(30, slot_interval_minutes=10, buffer_before_minutes=20)
    found = starts(
        rules, [host(working_hours=nine_to("12:00"), busy=busy)], LONG_AGO, MONDAY, MONDAY
    )
    assert found[MONDAY][0] == "10:30"


def test_minimum_notice_and_booking_window_edges() -> None:
    rules = open_rules(60, minimum_notice_minutes=120, booking_window_days=1)
    now = utc(2026, 3, 2, 9)
    working = {**nine_to("17:00"), **nine_to("17:00", day="tuesday", start="08:00")}
    found = starts(rules, [host(working_hours=working)], now, date(2026, 3, 2), date(2026, 3, 3))
    # 11:00 is exactly now + notice, offered; 09:00 the next day is exactly now + 24 h, not.
    assert found == {
        date(2026, 3, 2): ["11:00", "12:00", "13:00", "14:00", "15:00", "16:00"],
        date(2026, 3, 3): ["08:00"],
    }


def test_a_window_ending_before_the_range_gives_empty_days() -> None:
    rules = open_rules(30, booking_window_days=1)
    found = starts(rules, [host()], utc(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 10))
    assert found == {date(2026, 3, 9): [], date(2026, 3, 10): []}


def test_hosts_free_at_a_start_in_host_order() -> None:
    busy = [Busy(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))]
    hosts = [
        host(7, working_hours=nine_to("11:00"), busy=busy),
        host(3, working_hours=nine_to("12:00")),
        host(5, working_hours=nine_to("11:00", start="10:00")),
    ]
    found = find_slots(open_rules(60), hosts, LONG_AGO, MONDAY, MONDAY, ZoneInfo("UTC"))
    assert [(s.start.hour, s.hosts_available) for s in found.days[MONDAY]] == [
        (9, 1),
        (10, 3),
        (11, 1),
    ]
    assert found.free_hosts(utc(2026, 3, 2, 10)) == (7, 3, 5)
    assert found.free_hosts(utc(2026, 3, 2, 9)) == (3,)
    assert found.free_hosts(utc(2026, 3, 2, 9, 30)) == ()
    assert found.slot_at(utc(2026, 3, 2, 11)).end == utc(2026, 3, 2, 12)
    assert found.slot_at(utc(2026, 3, 2, 12)) is None


def test_new_york_host_keeps_nine_oclock_across_both_changes() -> None:
    ny = [host(zone="America/New_York")]
    spring = find_slots(
        open_rules(480), ny, LONG_AGO, date(2026, 3, 6), date(2026, 3, 9), ZoneInfo("UTC")
    )
    assert [s.start for slots in spring.days.values() for s in slots] == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 9, 13),
    ]
    autumn = find_slots(
        open_rules(480), ny, LONG_AGO, date(2026, 10, 30), date(2026, 11, 2), ZoneInfo("UTC")
    )
    assert [s.start for slots in autumn.days.values() for s in slots] == [
        utc(2026, 10, 30, 13),
        utc(2026, 11, 2, 14),
    ]


def test_a_grid_crossing_the_spring_forward_gap_steps_in_elapsed_time() -> None:
    # New York, Sunday 8 March 2026, 00:00-05:00 local is 4 real hours (05:00Z-09:00Z).
    working = {"sunday": [{"start": "00:00", "end": "05:00"}]}
    found = starts(
        open_rules(45),
        [host(zone="America/New_York", working_hours=working)],
        LONG_AGO,
        date(2026, 3, 8),
        date(2026, 3, 8),
        "America/New_York",
    )
    assert found == {date(2026, 3, 8): ["00:00", "00:45", "01:30", "03:15", "04:00"]}


def test_the_repeated_hour_at_fall_back_is_bookable_twice() -> None:
    working = {"sunday": [{"start": "00:00", "end": "03:00"}]}
    found = find_slots(
        open_rules(60),
        [host(zone="America/New_York", working_hours=working)],
        LONG_AGO,
        date(2026, 11, 1),
        date(2026, 11, 1),
        ZoneInfo("America/New_York"),
    )
    assert [s.start for s in found.days[date(2026, 11, 1)]] == [
        utc(2026, 11, 1, 4),
        utc(2026, 11, 1, 5),
        utc(2026, 11, 1, 6),
        utc(2026, 11, 1, 7),
    ]  # 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST


def test_lord_howe_moves_by_half_an_hour() -> None:
    lord_howe = [host(zone="Australia/Lord_Howe")]
    found = find_slots(
        open_rules(480), lord_howe, LONG_AGO, date(2026, 10, 1), date(2026, 10, 5), ZoneInfo("UTC")
    )
    assert [s.start for slots in found.days.values() for s in slots] == [
        utc(2026, 10, 1, 22, 30),  # Friday 2 October, 09:00 +10:30
        utc(2026, 10, 4, 22),  # Monday 5 October, 09:00 +11:00
        utc(2026, 10, 5, 22),
    ]
    local = starts(
        open_rules(480),
        lord_howe,
        LONG_AGO,
        date(2026, 10, 2),
        date(2026, 10, 5),
        "Australia/Lord_Howe",
    )
    assert local == {
        date(2026, 10, 2): ["09:00"],
        date(2026, 10, 3): [],
        date(2026, 10, 4): [],
        date(2026, 10, 5): ["09:00"],
    }


def test_kathmandu_host_seen_from_los_angeles() -> None:
    kathmandu = [host(zone="Asia/Kathmandu", working_hours=nine_to("11:00", day="tuesday"))]
    found = starts(
        open_rules(60),
        kathmandu,
        LONG_AGO,
        date(2026, 3, 2),
        date(2026, 3, 3),
        "America/Los_Angeles",
    )
    # Tuesday 09:00 +05:45 is 03:15Z, Monday 19:15 in Los Angeles (PST, -08:00).
    assert found == {date(2026, 3, 2): ["19:15", "20:15"], date(2026, 3, 3): []}


def test_kolkata_host() -> None:
    kolkata = [host(zone="Asia/Kolkata", working_hours=nine_to("10:00"))]
    found = find_slots(open_rules(30), kolkata, LONG_AGO, MONDAY, MONDAY, ZoneInfo("UTC"))
    assert [s.start for s in found.days[MONDAY]] == [utc(2026, 3, 2, 3, 30), utc(2026, 3, 2, 4)]


@pytest.mark.parametrize(
    "first, last, rule",
    [
        (date(2026, 3, 2), date(2026, 3, 1), "must not be before start"),
        (date(2026, 3, 1), date(2026, 4, 1), f"at most {MAX_SLOT_RANGE_DAYS} days"),
    ],
)
def test_range_rules(first: date, last: date, rule: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        find_slots(open_rules(30), [host()], LONG_AGO, first, last, ZoneInfo("UTC"))
    assert caught.value.field == "end"
    assert rule in caught.value.rule


def test_a_range_of_31_days_is_allowed() -> None:
    found = find_slots(
        open_rules(30), [host()], LONG_AGO, date(2026, 3, 1), date(2026, 3, 31), ZoneInfo("UTC")
    )
    assert len(found.days) == 31


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 30.0}, "duration_minutes"),
        ({"duration_minutes": True}, "duration_minutes"),
        ({"duration_minutes": 30, "slot_interval_minutes": 0}, "slot_interval_minutes"),
        ({"duration_minutes": 30, "minimum_notice_minutes": -1}, "minimum_notice_minutes"),
        ({"duration_minutes": 30, "booking_window_days": 0}, "booking_window_days"),
        ({"duration_minutes": 30, "buffer_before_minutes": -5}, "buffer_before_minutes"),
        ({"duration_minutes": 30, "buffer_after_minutes": "5"}, "buffer_after_minutes"),
    ],
)
def test_booking_rules_are_checked(fields: dict, field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        BookingRules(**fields)
    assert caught.value.field == field


def test_booking_rule_defaults() -> None:
    rules = BookingRules(45)
    assert rules.slot_interval == timedelta(minutes=45)
    assert rules.minimum_notice == timedelta(minutes=60)
    assert rules.booking_window == timedelta(days=60)
    assert (rules.buffer_before_minutes, rules.buffer_after_minutes) == (0, 0)


# check_start: one reason each


CHECK_NOW = utc(2026, 3, 2, 8)


def checked(start: datetime, **rules) -> Verdict:
    hosts = [
        host(
            1, working_hours=nine_to("12:00"), busy=[Busy(utc(2026, 3, 2, 11), utc(2026, 3, 2, 12))]
        ),
        host(
            2,
            working_hours=nine_to("11:00", start="10:00"),
            busy=[Busy(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11))],
        ),
    ]
    return check_start(BookingRules(60, **rules), hosts, CHECK_NOW, start)


@pytest.mark.parametrize(
    "start, rules, verdict",
    [
        (utc(2026, 3, 2, 9), {}, Verdict.OFFERED),
        (utc(2026, 3, 2, 8, 30), {"minimum_notice_minutes": 60}, Verdict.TOO_SOON),
        (utc(2026, 3, 1, 9), {}, Verdict.TOO_SOON),  # in the past
        (utc(2026, 3, 3, 9), {"booking_window_days": 1}, Verdict.BEYOND_WINDOW),
        (utc(2026, 3, 2, 8), {"minimum_notice_minutes": 0}, Verdict.OUTSIDE_WORKING_HOURS),
        (utc(2026, 3, 2, 11, 30), {}, Verdict.OUTSIDE_WORKING_HOURS),  # would end after 12:00
        (utc(2026, 3, 3, 9), {}, Verdict.OUTSIDE_WORKING_HOURS),  # a Tuesday
        (utc(2026, 3, 2, 9, 30), {}, Verdict.NOT_ON_GRID),
        (utc(2026, 3, 2, 10, 0, 30), {}, Verdict.NOT_ON_GRID),
        (utc(2026, 3, 2, 11), {}, Verdict.TAKEN),
    ],
)
def test_check_start_reasons(start: datetime, rules: dict, verdict: Verdict) -> None:
    assert checked(start, **rules).verdict is verdict


def test_check_start_names_the_free_hosts() -> None:
    assert checked(utc(2026, 3, 2, 10)).free_hosts == (1,)
    assert checked(utc(2026, 3, 2, 9)).free_hosts == (1,)
    assert checked(utc(2026, 3, 2, 11)).free_hosts == ()


def test_check_start_window_edges() -> None:
    rules = BookingRules(60, minimum_notice_minutes=60, booking_window_days=1)
    now = utc(2026, 3, 2, 8)
    hosts = [
        host(
            working_hours={
                "monday": [{"start": "00:00", "end": "24:00"}],
                "tuesday": [{"start": "00:00", "end": "24:00"}],
            }
        )
    ]
    assert check_start(rules, hosts, now, utc(2026, 3, 2, 9)).verdict is Verdict.OFFERED
    assert check_start(rules, hosts, now, utc(2026, 3, 3, 7)).verdict is Verdict.OFFERED
    assert check_start(rules, hosts, now, utc(2026, 3, 3, 8)).verdict is Verdict.BEYOND_WINDOW


# slots and check_start against the oracle


events = st.builds(
    Event,
    duration=st.sampled_from([5, 15, 30, 45, 60, 90, 120]) | st.integers(1, 300),
    interval=st.none() | st.sampled_from([5, 10, 15, 20, 30, 45, 60, 90]) | st.integers(1, 120),
    notice=st.sampled_from([0, 60]) | st.integers(0, 3 * 1440),
    window_days=st.integers(1, 10),
    before=st.sampled_from([0, 0, 5, 15, 30]) | st.integers(0, 90),
    after=st.sampled_from([0, 0, 5, 15, 30]) | st.integers(0, 90),
)
# Calls as (minutes after the range's first midnight, length, buffer before, buffer after),
# mostly in the first days of the range so that they overlap and nest often.
buffers = st.sampled_from([0, 0, 10, 30]) | st.integers(0, 90)
calls = st.lists(
    st.tuples(
        st.integers(-96, 4 * 96).map(lambda n: 15 * n) | st.integers(-2 * 1440, 7 * 1440),
        st.integers(1, 48).map(lambda n: 5 * n),
        buffers,
        buffers,
    ),
    max_size=8,
)
override_days = st.dictionaries(st.integers(-2, 6), day_ranges, max_size=3)


@st.composite
def scenarios(draw: st.DrawFn):
    # The first host's zone changes offset around the range's first days half the time.
    first_zone, anchor = draw(zones_and_days())
    first_day = anchor - timedelta(days=draw(st.integers(0, 2)))
    last_day = first_day + timedelta(days=draw(st.integers(0, 4)))
    range_start = datetime.combine(first_day, datetime.min.time(), UTC)
    event = draw(events)
    now = range_start + timedelta(minutes=draw(st.integers(-5 * 1440, 3 * 1440)))

    hosts = []
    for id in range(1, draw(st.integers(1, 3)) + 1):
        busy = [
            Busy(
                range_start + timedelta(minutes=at),
                range_start + timedelta(minutes=at + length),
                before,
                after,
            )
            for at, length, before, after in draw(calls)
        ]
        overrides = {
            (first_day + timedelta(days=n)).isoformat(): ranges
            for n, ranges in draw(override_days).items()
        }
        zone = first_zone if id == 1 else draw(st.sampled_from(ZONES))
        hosts.append(Host(id, zone, draw(weeks), overrides, busy))
    return event, hosts, now, first_day, last_day, draw(st.sampled_from(VISITOR_ZONES))


def implementation_inputs(
    event: Event, hosts: list[Host]
) -> tuple[BookingRules, list[HostCalendar]]:
    rules = BookingRules(
        event.duration, event.interval, event.notice, event.window_days, event.before, event.after
    )
    calendars = [
        HostCalendar(
            h.id, ZoneInfo(h.zone), parse_working_hours(h.working_hours, h.date_overrides), h.busy
        )
        for h in hosts
    ]
    return rules, calendars


@given(scenarios())
@settings(max_examples=300, deadline=None)
def test_find_slots_matches_oracle(scenario) -> None:
    event, hosts, now, first_day, last_day, zone = scenario
    rules, calendars = implementation_inputs(event, hosts)
    found = find_slots(rules, calendars, now, first_day, last_day, ZoneInfo(zone))

    expected = oracle_slots(event, hosts, now, first_day, last_day, zone)
    assert {s.start: list(s.free_hosts) for slots in found.days.values() for s in slots} == expected
    assert list(found.days) == [
        first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)
    ]
    for day, slots in found.days.items():
        assert [s.start for s in slots] == sorted(s.start for s in slots)
        for slot in slots:
            assert slot.start.astimezone(ZoneInfo(zone)).date() == day
            assert slot.end - slot.start == timedelta(minutes=event.duration)
            assert slot.hosts_available == len(slot.free_hosts) >= 1
            assert found.free_hosts(slot.start) == slot.free_hosts


@given(scenarios(), st.data())
@settings(max_examples=200, deadline=None)
def test_check_start_matches_oracle_and_agrees_with_find_slots(scenario, data) -> None:
    event, hosts, now, first_day, last_day, zone = scenario
    rules, calendars = implementation_inputs(event, hosts)
    found = find_slots(rules, calendars, now, first_day, last_day, ZoneInfo(zone))

    range_start = datetime.combine(first_day, datetime.min.time(), UTC)
    offered = [s.start for slots in found.days.values() for s in slots]
    anywhere = st.integers(-1440, 6 * 1440).map(lambda m: range_start + timedelta(minutes=m))
    near_a_slot = (
        st.sampled_from(offered).flatmap(
            lambda s: st.integers(-90, 90).map(lambda m: s + timedelta(minutes=m))
        )
        if offered
        else anywhere
    )
    requested = data.draw(st.lists(anywhere | near_a_slot, min_size=1, max_size=12))
    edges = [now + timedelta(minutes=event.notice), now + timedelta(days=event.window_days)]
    requested += [
        edge + shift for edge in edges for shift in (-event.step, timedelta(0), event.step)
    ]

    for start in requested + offered[:20]:
        result = check_start(rules, calendars, now, start)
        verdict, free = oracle_verdict(event, hosts, now, start)
        assert (result.verdict.value, list(result.free_hosts)) == (verdict, free)
        if first_day <= start.astimezone(ZoneInfo(zone)).date() <= last_day:
            slot = found.slot_at(start)
            assert (slot is not None) is (result.verdict is Verdict.OFFERED)
            assert found.free_hosts(start) == result.free_hosts


@given(scenarios())
@settings(max_examples=100, deadline=None)
def test_busy_given_in_microseconds_finds_the_same_slots(scenario) -> None:
    """A loader may give a host's calls as microseconds since 1970 (`busy_micros`), split
    between the two forms anyhow: the slots and every check are the same."""
    event, hosts, now, first_day, last_day, zone = scenario
    rules, calendars = implementation_inputs(event, hosts)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def micros(value: datetime) -> int:
        return (value - epoch) // timedelta(microseconds=1)

    split = [
        replace(
            calendar,
            busy=calendar.busy[::2],
            busy_micros=[
                (micros(b.start), micros(b.end), b.buffer_before_minutes, b.buffer_after_minutes)
                for b in calendar.busy[1::2]
            ],
        )
        for calendar in calendars
    ]
    as_given = find_slots(rules, calendars, now, first_day, last_day, ZoneInfo(zone))
    assert find_slots(rules, split, now, first_day, last_day, ZoneInfo(zone)) == as_given
    for slots in as_given.days.values():
        for slot in slots:
            assert check_start(rules, split, now, slot.start) == check_start(rules, calendars, now, slot.start)
