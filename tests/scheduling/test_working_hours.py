from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgrid.scheduling import (
    DEFAULT_WEEKLY_HOURS,
    Interval,
    LocalRange,
    ScheduleError,
    parse_working_hours,
    working_intervals,
)
from tests.scheduling.availability_oracle import DAY_NAMES, oracle_working_intervals

UTC = timezone.utc
ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",  # changes at midnight
    "UTC",
]
# Days on which those zones change offset in 2026.
CHANGE_DAYS = {
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],  # 02:00, one hour
    "Europe/London": [date(2026, 3, 29), date(2026, 10, 25)],  # 01:00 / 02:00, one hour
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],  # 02:00, half an hour
    "Pacific/Chatham": [date(2026, 4, 5), date(2026, 9, 27)],  # 03:45 / 02:45, one hour
    "America/Santiago": [date(2026, 4, 5), date(2026, 9, 6)],  # 00:00 / 24:00, one hour
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(**days: list[tuple[str, str]]) -> dict:
    return {day: [{"start": s, "end": e} for s, e in ranges] for day, ranges in days.items()}


def raised(working_hours, date_overrides=None) -> tuple[str, str]:
    with pytest.raises(ScheduleError) as caught:
        parse_working_hours(working_hours, date_overrides)
    return caught.value.field, caught.value.rule


# reading and validation


def test_empty_working_hours_are_weekdays_nine_to_five() -> None:
    parsed = parse_working_hours({})
    assert parsed.weekly == DEFAULT_WEEKLY_HOURS
    assert parsed.on(date(2026, 12, 25)) == (LocalRange(540, 1020),)  # a Friday
    assert parsed.on(date(2026, 12, 26)) == ()  # a Saturday
    assert parse_working_hours({}, {}).overrides == {}


def test_once_any_day_is_set_exactly_the_days_listed() -> None:
    parsed = parse_working_hours(hours(saturday=[("10:00", "12:00")]))
    assert [bool(parsed.weekly[n]) for n in range(7)] == [False] * 5 + [True, False]
    # A day listed with no intervals still counts as setting the week.
    assert parse_working_hours({"monday": []}).weekly == ((),) * 7


def test_reads_intervals_touching_and_ending_at_midnight() -> None:
    parsed = parse_working_hours(
        hours(monday=[("00:00", "09:00"), ("09:00", "12:00"), ("13:00", "24:00")])
    )
    assert parsed.weekly[0] == (LocalRange(0, 540), LocalRange(540, 720), LocalRange(780, 1440))


def test_overrides_replace_their_date() -> None:
    parsed = parse_working_hours(
        hours(monday=[("09:00", "17:00")]),
        {"2026-12-21": [], "2026-12-27": [{"start": "10:00", "end": "14:00"}]},
    )
    assert parsed.on(date(2026, 12, 21)) == ()  # a Monday off
    assert parsed.on(date(2026, 12, 27)) == (LocalRange(600, 840),)  # a Sunday worked
    assert parsed.on(date(2026, 12, 28)) == (LocalRange(540, 1020),)
    assert parsed.on(date(2026, 12, 26)) == ()


def test_overrides_apply_over_the_default_week_too() -> None:
    parsed = parse_working_hours({}, {"2026-12-24": []})
    assert parsed.on(date(2026, 12, 24)) == ()
    assert parsed.on(date(2026, 12, 23)) == (LocalRange(540, 1020),)


@pytest.mark.parametrize(
    "working_hours, field, rule",
    [
        ([], "working_hours", "must be an object"),
        ({"Monday": []}, "working_hours.Monday", "is not a day of the week"),
        ({"mon": []}, "working_hours.mon", "is not a day of the week"),
        ({"funday": []}, "working_hours.funday", "is not a day of the week"),
        ({"monday": {"start": "09:00"}}, "working_hours.monday", "must be a list"),
        ({"monday": [["09:00", "17:00"]]}, "working_hours.monday[0]", "must be an object"),
        ({"monday": [{"end": "17:00"}]}, "working_hours.monday[0].start", "is required"),
        ({"monday": [{"start": "09:00"}]}, "working_hours.monday[0].end", "is required"),
        (
            {"monday": [{"start": "09:00", "end": "17:00", "tz": "UTC"}]},
            "working_hours.monday[0].tz",
            "is not a field of an interval",
        ),
        (hours(monday=[("9:00", "17:00")]), "working_hours.monday[0].start", "HH:MM"),
        (hours(monday=[("09:00", "17:60")]), "working_hours.monday[0].end", "HH:MM"),
        (hours(monday=[("09:00", "25:00")]), "working_hours.monday[0].end", "HH:MM"),
        (hours(monday=[("09:00", "24:01")]), "working_hours.monday[0].end", "00:00 to 24:00"),
        (hours(monday=[("24:00", "24:00")]), "working_hours.monday[0].start", "00:00 to 23:59"),
        (hours(monday=[("09:00:00", "17:00")]), "working_hours.monday[0].start", "HH:MM"),
        (hours(monday=[("０9:00", "17:00")]), "working_hours.monday[0].start", "HH:MM"),
        (hours(monday=[("09:00", "17:00\n")]), "working_hours.monday[0].end", "HH:MM"),
        ({"monday": [{"start": 900, "end": "17:00"}]}, "working_hours.monday[0].start", "HH:MM"),
        (hours(monday=[("17:00", "09:00")]), "working_hours.monday[0].end", "must be after start"),
        (hours(monday=[("09:00", "09:00")]), "working_hours.monday[0].end", "must be after start"),
        (hours(monday=[("09:00", "00:00")]), "working_hours.monday[0].end", "must be after start"),
        (
            hours(monday=[("13:00", "17:00"), ("09:00", "12:00")]),
            "working_hours.monday[1].start",
            "sorted",
        ),
        (
            hours(monday=[("09:00", "12:00"), ("11:00", "17:00")]),
            "working_hours.monday[1].start",
            "overlaps the previous interval, which ends at 12:00",
        ),
        (
            hours(monday=[("09:00", "17:00"), ("09:00", "10:00")]),
            "working_hours.monday[1].start",
            "overlaps",
        ),
        (
            hours(tuesday=[("09:00", "12:00"), ("13:00", "12:30")]),
            "working_hours.tuesday[1].end",
            "must be after start",
        ),
        (
            {"friday": [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(13)]},
            "working_hours.friday",
            "at most 12 intervals",
        ),
    ],
)
def test_working_hours_rules(working_hours, field: str, rule: str) -> None:
    raised_field, raised_rule = raised(working_hours)
    assert raised_field == field
    assert rule in raised_rule


@pytest.mark.parametrize(
    "date_overrides, field, rule",
    [
        ([], "date_overrides", "must be an object"),
        ({"2026-02-29": []}, "date_overrides.2026-02-29", "real date"),  # not a leap year
        ({"2026-13-01": []}, "date_overrides.2026-13-01", "real date"),
        ({"2026-04-31": []}, "date_overrides.2026-04-31", "real date"),
        ({"20261224": []}, "date_overrides.20261224", "real date"),
        ({"2026-12-24T00:00": []}, "date_overrides.2026-12-24T00:00", "real date"),
        ({"christmas": []}, "date_overrides.christmas", "real date"),
        ({"2026-12-24": None}, "date_overrides.2026-12-24", "must be a list"),
        (
            {"2026-12-27": [{"start": "14:00", "end": "10:00"}]},
            "date_overrides.2026-12-27[0].end",
            "must be after start",
        ),
        (
            {
                "2026-12-27": [
                    {"start": "10:00", "end": "14:00"},
                    {"start": "12:00", "end": "15:00"},
                ]
            },
            "date_overrides.2026-12-27[1].start",
            "overlaps",
        ),
    ],
)
def test_date_override_rules(date_overrides, field: str, rule: str) -> None:
    raised_field, raised_rule = raised({}, date_overrides)
    assert raised_field == field
    assert rule in raised_rule


def test_a_leap_day_is_a_real_date() -> None:
    parsed = parse_working_hours({}, {"2028-02-29": []})
    assert parsed.on(date(2028, 2, 29)) == ()


# working intervals in UTC


def intervals(zone: str, working_hours: dict, start: datetime, end: datetime, overrides=None):
    parsed = parse_working_hours(working_hours, overrides)
    return [
        (i.start, i.end) for i in working_intervals(parsed, ZoneInfo(zone), Interval(start, end))
    ]


def test_nine_to_five_keeps_local_time_across_spring_forward() -> None:
    found = intervals("America/New_York", {}, utc(2026, 3, 6), utc(2026, 3, 10))
    assert found == [
        (utc(2026, 3, 6, 14), utc(2026, 3, 6, 22)),  # Friday, EST
        (utc(2026, 3, 9, 13), utc(2026, 3, 9, 21)),  # Monday, EDT
    ]


def test_whole_day_lasts_the_real_time_between_midnights() -> None:
    whole_day = hours(sunday=[("00:00", "24:00")])
    # New York falls back on 1 November 2026: a 25-hour Sunday.
    [(start, end)] = intervals(
        "America/New_York", whole_day, utc(2026, 11, 1, 12), utc(2026, 11, 1, 13)
    )
    assert (start, end - start) == (utc(2026, 11, 1, 4), timedelta(hours=25))
    # Lord Howe springs forward by 30 minutes on 4 October 2026: a 23.5-hour Sunday.
    [(start, end)] = intervals(
        "Australia/Lord_Howe", whole_day, utc(2026, 10, 4), utc(2026, 10, 4, 1)
    )
    assert (start, end - start) == (utc(2026, 10, 3, 13, 30), timedelta(hours=23, minutes=30))


def test_intervals_are_whole_and_only_those_overlapping() -> None:
    working = hours(monday=[("09:00", "12:00"), ("13:00", "17:00")])
    assert intervals("UTC", working, utc(2026, 3, 9, 11), utc(2026, 3, 9, 13)) == [
        (utc(2026, 3, 9, 9), utc(2026, 3, 9, 12)),
    ]
    assert intervals("UTC", working, utc(2026, 3, 9, 12), utc(2026, 3, 9, 13)) == []


def test_the_spring_forward_gap_moves_wall_times_forward() -> None:
    # New York, 8 March 2026: 02:00-03:00 does not exist. 02:30 reads as 03:30 EDT, so
    # 01:00-02:30 and 03:00-05:00 overlap in real time, and 02:30-03:00 runs backwards.
    working = {
        "2026-03-08": [
            {"start": "01:00", "end": "02:30"},
            {"start": "02:30", "end": "03:00"},
            {"start": "03:00", "end": "05:00"},
        ]
    }
    found = intervals("America/New_York", {}, utc(2026, 3, 8), utc(2026, 3, 9), working)
    assert found == [
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 30)),
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 9)),
    ]


@pytest.mark.parametrize(
    "start, end, expected",
    [
        ("02:00", "02:30", [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30))]),  # 03:00-03:30 EDT
        ("02:00", "03:00", []),  # both read as 03:00 EDT
        ("02:15", "03:00", []),  # 03:15 EDT to 03:00 EDT
        ("02:15", "03:30", [(utc(2026, 3, 8, 7, 15), utc(2026, 3, 8, 7, 30))]),
    ],
)
def test_intervals_inside_the_gap(start: str, end: str, expected: list) -> None:
    working = {"2026-03-08": [{"start": start, "end": end}]}
    found = intervals("America/New_York", {}, utc(2026, 3, 8), utc(2026, 3, 9), working)
    assert found == expected


def test_changes_at_midnight() -> None:
    # Santiago falls back at midnight on 5 April 2026 (Saturday 23:00-24:00 happens twice):
    # 24:00 is the midnight after both, so Saturday 22:00-24:00 lasts three hours.
    saturday_night = {"saturday": [{"start": "22:00", "end": "24:00"}]}
    found = intervals("America/Santiago", saturday_night, utc(2026, 4, 4), utc(2026, 4, 6))
    assert found == [(utc(2026, 4, 5, 1), utc(2026, 4, 5, 4))]
    # It springs forward at midnight on 6 September: Sunday 00:00-01:00 does not exist, so
    # Saturday's 24:00 is the change, and Sunday's first hour is no time.
    night = {
        "saturday": [{"start": "22:00", "end": "24:00"}],
        "sunday": [{"start": "00:00", "end": "01:00"}, {"start": "01:00", "end": "02:00"}],
    }
    found = intervals("America/Santiago", night, utc(2026, 9, 5), utc(2026, 9, 7))
    assert found == [
        (utc(2026, 9, 6, 2), utc(2026, 9, 6, 4)),  # 22:00 -04 to 01:00 -03
        (utc(2026, 9, 6, 4), utc(2026, 9, 6, 5)),  # 01:00 -03 to 02:00 -03
    ]


def test_an_ambiguous_end_takes_the_first_instant() -> None:
    # New York, 1 November 2026: 01:00-02:00 happens twice; 01:30 is the EDT one.
    found = intervals(
        "America/New_York",
        {},
        utc(2026, 11, 1),
        utc(2026, 11, 2),
        {"2026-11-01": [{"start": "00:00", "end": "01:30"}, {"start": "01:30", "end": "03:00"}]},
    )
    assert found == [
        (utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30)),
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8)),  # 01:30 EDT to 03:00 EST: 2.5 hours
    ]


def test_offset_zones() -> None:
    assert intervals("Asia/Kathmandu", {}, utc(2026, 6, 1), utc(2026, 6, 2)) == [
        (utc(2026, 6, 1, 3, 15), utc(2026, 6, 1, 11, 15)),
    ]
    assert intervals("Asia/Kolkata", {}, utc(2026, 6, 1), utc(2026, 6, 2)) == [
        (utc(2026, 6, 1, 3, 30), utc(2026, 6, 1, 11, 30)),
    ]


# Cut points of a day on a grid of 1, 5, 15, 30 or 60 minutes, half of them between 00:00
# and 04:00, where zones change offset.
_CUTS = st.sampled_from([1, 5, 15, 30, 60]).flatmap(
    lambda unit: st.lists(
        st.integers(0, 1440 // unit) | st.integers(0, 240 // unit), max_size=8
    ).map(lambda cuts: sorted({cut * unit for cut in cuts}))
)


@st.composite
def _day_ranges(draw: st.DrawFn) -> list[dict[str, str]]:
    cuts = draw(_CUTS)
    chosen = [(a, b) for a, b in pairwise(cuts) if draw(st.booleans())]
    return [{"start": clock(a), "end": clock(b)} for a, b in chosen]


# A day's intervals: sorted, not overlapping, sometimes touching, sometimes ending at 24:00.
day_ranges = _day_ranges()


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# A week as the API takes it; one in five is empty (the default week).
weeks = st.just({}) | st.dictionaries(st.sampled_from(DAY_NAMES), day_ranges, max_size=7)


@st.composite
def zones_and_days(draw: st.DrawFn) -> tuple[str, date]:
    """A zone and a day, half the time within two days of one of its offset changes."""
    zone = draw(st.sampled_from(ZONES))
    if zone in CHANGE_DAYS and draw(st.booleans()):
        change = draw(st.sampled_from(CHANGE_DAYS[zone]))
        return zone, change + timedelta(days=draw(st.sampled_from([0, 0, 0, -2, -1, 1, 2])))
    return zone, draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))


def overrides_near(around: date) -> st.SearchStrategy[dict]:
    near = st.integers(-3, 3).map(lambda n: (around + timedelta(days=n)).isoformat())
    return st.dictionaries(near, day_ranges, max_size=4)


@given(st.data(), zones_and_days(), weeks)
@settings(max_examples=300, deadline=None)
def test_working_intervals_match_oracle(data, zone_and_day: tuple[str, date], week: dict) -> None:
    zone, day = zone_and_day
    overrides = data.draw(overrides_near(day))
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
        minutes=data.draw(st.integers(-1440, 1440))
    )
    end = start + timedelta(minutes=data.draw(st.integers(1, 3 * 1440)))
    found = intervals(zone, week, start, end, overrides)
    expected = [
        (s, e)
        for s, e in oracle_working_intervals(
            week, overrides, zone, day - timedelta(days=4), day + timedelta(days=5)
        )
        if s < end and start < e
    ]
    assert found == expected
