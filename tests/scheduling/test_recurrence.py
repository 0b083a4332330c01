import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgrid.scheduling import (
    MAX_SERIES_DAYS,
    Frequency,
    Interval,
    Schedule,
    ScheduleError,
    expand,
    parse_weekday,
    to_utc,
)

UTC = timezone.utc
ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # no DST
    "Asia/Calcutta",  # legacy alias of Asia/Kolkata
    "America/Sao_Paulo",  # DST abolished in 2019
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
]
FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2027, 12, 31)
HOUR = 3600


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# The oracle reads the zone only from UTC to local time, which is never
# ambiguous, and does not share any code with `to_utc`.


def offset_at(timestamp: int, tz: ZoneInfo) -> timedelta:
    return datetime.fromtimestamp(timestamp, tz).utcoffset()


@functools.cache
def transitions(name: str) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """Every change of UTC offset around 2024-2027: (instant, before, after)."""
    tz = ZoneInfo(name)
    found = []
    timestamp = int(utc(2023, 11, 1).timestamp())
    last = int(utc(2028, 2, 1).timestamp())
    offset = offset_at(timestamp, tz)
    while timestamp < last:
        after = offset_at(timestamp + 3 * HOUR, tz)
        if after != offset:
            low, high = timestamp, timestamp + 3 * HOUR  # `offset` at low, `after` at high
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset_at(middle, tz) == offset else (low, middle)
            found.append((datetime.fromtimestamp(high, UTC), offset, after))
        timestamp, offset = timestamp + 3 * HOUR, after
    return tuple(found)


@functools.cache
def offsets(name: str) -> frozenset[timedelta]:
    start = offset_at(int(utc(2023, 11, 1).timestamp()), ZoneInfo(name))
    return frozenset({start}.union(*({b, a} for _, b, a in transitions(name))))


def oracle_instant(day: date, wall: time, name: str) -> tuple[datetime, bool]:
    """The UTC instant for a local wall time, and whether that wall time exists."""
    tz = ZoneInfo(name)
    target = datetime.combine(day, wall.replace(fold=0))
    matches = sorted(
        instant
        for offset in offsets(name)
        if (instant := target.replace(tzinfo=UTC) - offset).astimezone(tz).replace(tzinfo=None)
        == target
    )
    if matches:
        return matches[0], True  # ambiguous: the earlier instant
    for at, before, after in transitions(name):
        skipped_from = (at + before).replace(tzinfo=None)
        if skipped_from <= target < skipped_from + (after - before):
            # In the gap: read with the offset in force before the change.
            return target.replace(tzinfo=UTC) - before, False
    raise AssertionError(f"no instant found for {target} in {name}")


@st.composite
def local_moments(draw: st.DrawFn) -> tuple[str, date, time]:
    """A zone and a local day and wall time, often close to an offset change."""
    name = draw(st.sampled_from(ZONES))
    changes = [c for c in transitions(name) if FIRST_DAY.year <= c[0].year <= LAST_DAY.year]
    if changes and draw(st.booleans()):
        at, before, _ = draw(st.sampled_from(changes))
        local = (at + before).replace(tzinfo=None)
        local += timedelta(minutes=draw(st.integers(-90, 90)))
        return name, local.date(), local.time()
    return name, draw(st.dates(FIRST_DAY, LAST_DAY)), draw(st.times())


weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)


# to_utc


@given(local_moments())
@settings(max_examples=500, deadline=None)
def test_to_utc_matches_oracle(moment: tuple[str, date, time]) -> None:
    name, day, wall = moment
    instant = to_utc(day, wall, ZoneInfo(name))
    expected, exists = oracle_instant(day, wall, name)
    assert instant == expected
    assert instant.tzinfo is UTC
    local = instant.astimezone(ZoneInfo(name))
    if exists:
        assert (local.date(), local.time()) == (day, wall.replace(fold=0))
    else:
        assert local.replace(tzinfo=None) > datetime.combine(day, wall)


@pytest.mark.parametrize(
    "zone, day, wall, expected",
    [
        # New York springs forward at 02:00 EST: 02:30 is 03:30 EDT.
        ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 30)),
        # New York falls back at 02:00 EDT: 01:30 happens twice, EDT first.
        ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
        ("America/New_York", date(2026, 11, 1), time(0, 59), utc(2026, 11, 1, 4, 59)),
        ("America/New_York", date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0)),
        # London springs forward at 01:00 GMT: 01:30 is 02:30 BST.
        ("Europe/London", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 30)),
        ("Europe/London", date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),
        # London falls back at 02:00 BST: 01:30 BST first.
        ("Europe/London", date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),
        # Lord Howe moves by 30 minutes: 02:00 +10:30 becomes 02:30 +11:00.
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 45)),
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 15, 30)),
        # ... and back: 01:30-02:00 happens twice, +11:00 first.
        ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45)),
        ("Australia/Lord_Howe", date(2026, 4, 5), time(2, 0), utc(2026, 4, 4, 15, 30)),
        # Chatham springs forward at 02:45 +12:45 to 03:45 +13:45.
        ("Pacific/Chatham", date(2026, 9, 27), time(3, 0), utc(2026, 9, 26, 14, 15)),
        ("Pacific/Chatham", date(2026, 4, 5), time(3, 0), utc(2026, 4, 4, 13, 15)),
        ("Asia/Kolkata", date(2026, 3, 8), time(10, 0), utc(2026, 3, 8, 4, 30)),
        ("Asia/Calcutta", date(2025, 6, 2), time(10, 0), utc(2025, 6, 2, 4, 30)),
        ("America/Sao_Paulo", date(2026, 11, 1), time(10, 0), utc(2026, 11, 1, 13, 0)),
        ("America/Sao_Paulo", date(2026, 2, 1), time(10, 0), utc(2026, 2, 1, 13, 0)),
        ("UTC", date(2026, 3, 8), time(23, 59, 59), utc(2026, 3, 8, 23, 59, 59)),
    ],
)
def test_to_utc_examples(zone: str, day: date, wall: time, expected: datetime) -> None:
    instant = to_utc(day, wall, ZoneInfo(zone))
    assert instant == expected
    assert instant.tzinfo is UTC


def test_to_utc_ignores_fold_of_the_given_time() -> None:
    tz = ZoneInfo("America/New_York")
    assert to_utc(date(2026, 11, 1), time(1, 30, fold=1), tz) == utc(2026, 11, 1, 5, 30)


# expand


def starts(schedule: Schedule) -> list[datetime]:
    return [interval.start for interval in expand(schedule)]


@given(
    local_moments(),
    st.integers(0, 20),
    st.one_of(st.none(), st.integers(0, 40)),
    st.one_of(st.none(), weekday_sets),
    st.integers(1, 24 * 60),
)
@settings(max_examples=300, deadline=None)
def test_expand_matches_oracle(
    moment: tuple[str, date, time],
    days_before: int,
    days_after: int | None,
    weekdays: frozenset[int] | None,
    minutes: int,
) -> None:
    name, day, wall = moment
    tz = ZoneInfo(name)
    duration = timedelta(minutes=minutes)
    if days_after is None:  # one-time call on the drawn day
        schedule = Schedule(day, wall, duration, tz)
        expected_days, weekdays = [day], None
        assert schedule.frequency is Frequency.ONCE
    else:
        start_date, end_date = day - timedelta(days_before), day + timedelta(days_after)
        schedule = Schedule(start_date, wall, duration, tz, end_date, weekdays)
        every_day = [start_date + timedelta(n) for n in range(days_before + days_after + 1)]
        expected_days = [d for d in every_day if weekdays is None or d.weekday() in weekdays]
        assert schedule.frequency is (Frequency.DAILY if weekdays is None else Frequency.WEEKLY)

    if not expected_days:
        with pytest.raises(ScheduleError) as caught:
            expand(schedule)
        assert caught.value.field == "weekdays"
        return

    intervals = expand(schedule)
    assert len(intervals) == len(expected_days)
    for interval, expected_day in zip(intervals, expected_days):
        expected_start, exists = oracle_instant(expected_day, wall, name)
        assert interval.start == expected_start
        assert interval.start.tzinfo is UTC
        assert interval.end - interval.start == duration
        local = interval.start.astimezone(tz)
        assert local.date() == expected_day
        if weekdays is not None:
            assert local.weekday() in weekdays
        if exists:
            assert local.time() == wall.replace(fold=0)
    assert all(a.start < b.start for a, b in zip(intervals, intervals[1:]))


def test_one_time_call_is_one_interval() -> None:
    call = Schedule(date(2025, 6, 2), time(10), timedelta(minutes=60), ZoneInfo("Asia/Calcutta"))
    assert call.frequency is Frequency.ONCE
    assert expand(call) == [Interval(utc(2025, 6, 2, 4, 30), utc(2025, 6, 2, 5, 30))]


def test_daily_series_keeps_local_time_across_spring_forward() -> None:
    tz = ZoneInfo("America/New_York")
    schedule = Schedule(date(2026, 3, 6), time(10), timedelta(minutes=60), tz, date(2026, 3, 10))
    assert schedule.frequency is Frequency.DAILY
    assert starts(schedule) == [
        utc(2026, 3, 6, 15),  # EST
        utc(2026, 3, 7, 15),
        utc(2026, 3, 8, 14),  # EDT from here
        utc(2026, 3, 9, 14),
        utc(2026, 3, 10, 14),
    ]
    assert {i.start.astimezone(tz).time() for i in expand(schedule)} == {time(10)}


def test_daily_series_keeps_local_time_across_fall_back() -> None:
    tz = ZoneInfo("America/New_York")
    schedule = Schedule(date(2026, 10, 31), time(10), timedelta(minutes=30), tz, date(2026, 11, 2))
    assert starts(schedule) == [utc(2026, 10, 31, 14), utc(2026, 11, 1, 15), utc(2026, 11, 2, 15)]


def test_daily_series_in_the_gap_moves_forward_on_the_change_day_only() -> None:
    tz = ZoneInfo("America/New_York")
    schedule = Schedule(date(2026, 3, 7), time(2, 30), timedelta(minutes=60), tz, date(2026, 3, 9))
    local = [i.start.astimezone(tz).time() for i in expand(schedule)]
    assert local == [time(2, 30), time(3, 30), time(2, 30)]


def test_duration_is_absolute_across_a_change() -> None:
    tz = ZoneInfo("America/New_York")
    [call] = expand(Schedule(date(2026, 11, 1), time(1, 30), timedelta(minutes=60), tz))
    assert call == Interval(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))
    assert call.end.astimezone(tz).time() == time(1, 30)  # EST, the second 01:30
    assert call.end.astimezone(tz).utcoffset() == timedelta(hours=-5)


def test_weekly_series() -> None:
    schedule = Schedule(
        date(2026, 3, 2),  # a Monday
        time(9),
        timedelta(minutes=45),
        ZoneInfo("Europe/London"),
        date(2026, 3, 15),
        frozenset({0, 2, 4}),
    )
    assert schedule.frequency is Frequency.WEEKLY
    assert starts(schedule) == [utc(2026, 3, d, 9) for d in (2, 4, 6, 9, 11, 13)]


def test_weekly_series_across_london_spring_forward() -> None:
    schedule = Schedule(
        date(2026, 3, 20),
        time(9),
        timedelta(minutes=45),
        ZoneInfo("Europe/London"),
        date(2026, 4, 5),
        frozenset({6}),  # Sundays
    )
    assert starts(schedule) == [utc(2026, 3, 22, 9), utc(2026, 3, 29, 8), utc(2026, 4, 5, 8)]


def test_series_of_one_day() -> None:
    tz = ZoneInfo("UTC")
    daily = Schedule(date(2026, 1, 1), time(8), timedelta(hours=1), tz, date(2026, 1, 1))
    assert starts(daily) == [utc(2026, 1, 1, 8)]
    weekly = Schedule(
        date(2026, 1, 1), time(8), timedelta(hours=1), tz, date(2026, 1, 1), frozenset({3})
    )
    assert starts(weekly) == [utc(2026, 1, 1, 8)]


def test_longest_series() -> None:
    tz = ZoneInfo("Pacific/Chatham")
    first = date(2028, 1, 1)
    last = first + timedelta(days=MAX_SERIES_DAYS - 1)  # 2028 is a leap year
    assert last == date(2028, 12, 31)
    daily = expand(Schedule(first, time(10), timedelta(minutes=30), tz, last))
    assert len(daily) == MAX_SERIES_DAYS
    weekly = expand(Schedule(first, time(10), timedelta(minutes=30), tz, last, frozenset({5})))
    assert len(weekly) == 53  # 2028 starts on a Saturday


# Validation


def schedule(
    start: date,
    end: date | None = None,
    weekdays: frozenset[int] | None = None,
    duration: timedelta = timedelta(hours=1),
) -> Schedule:
    return Schedule(start, time(9), duration, ZoneInfo("Europe/London"), end, weekdays)


MONDAY, TUESDAY, NEXT_MONDAY = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 9)
NO_DAY = "each day must be a day of the week, 0 to 6"


@pytest.mark.parametrize(
    "invalid, field, rule",
    [
        (schedule(TUESDAY, MONDAY), "end_date", "must not be before start_date"),
        (schedule(TUESDAY, MONDAY, frozenset({1})), "end_date", "must not be before start_date"),
        (schedule(MONDAY, MONDAY + timedelta(366)), "end_date", "a series spans at most 366 days"),
        (
            schedule(MONDAY, MONDAY + timedelta(400), frozenset({1})),
            "end_date",
            "a series spans at most 366 days",
        ),
        (schedule(MONDAY, NEXT_MONDAY, frozenset()), "weekdays", "must not be empty"),
        (
            schedule(MONDAY, None, frozenset({0})),
            "end_date",
            "is required when weekdays are given",
        ),
        (schedule(MONDAY, NEXT_MONDAY, frozenset({7})), "weekdays", NO_DAY),
        (schedule(MONDAY, NEXT_MONDAY, frozenset({0, -1})), "weekdays", NO_DAY),
        (schedule(MONDAY, NEXT_MONDAY, frozenset({True})), "weekdays", NO_DAY),
        (
            schedule(MONDAY, TUESDAY, frozenset({6})),  # no Sunday in Monday to Tuesday
            "weekdays",
            "the series has no occurrence between start_date and end_date",
        ),
        (schedule(MONDAY, duration=timedelta(0)), "duration", "must be positive"),
        (schedule(MONDAY, NEXT_MONDAY, duration=-timedelta(1)), "duration", "must be positive"),
    ],
)
def test_invalid_schedules(invalid: Schedule, field: str, rule: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        expand(invalid)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert str(caught.value) == f"{field}: {rule}"
    assert isinstance(caught.value, ValueError)


# parse_weekday

SUNDAY_FIRST = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("monday", 0),
        ("Mon", 0),
        ("TUESDAY", 1),
        ("tue", 1),
        ("Wednesday", 2),
        ("WED", 2),
        ("thu", 3),
        ("thursday", 3),
        ("fri", 4),
        ("FrIdAy", 4),
        ("sat", 5),
        ("saturday", 5),
        ("Sun", 6),
        ("sunday", 6),
        (" Mon ", 0),
        (0, 6),
        (1, 0),
        (2, 1),
        (3, 2),
        (4, 3),
        (5, 4),
        (6, 5),
        ("0", 6),
        ("1", 0),
        ("6", 5),
    ],
)
def test_parse_weekday(value: str | int, expected: int) -> None:
    assert parse_weekday(value) == expected


@pytest.mark.parametrize("number", range(7))
def test_parse_weekday_numbers_start_on_sunday(number: int) -> None:
    name = SUNDAY_FIRST[number]
    expected = parse_weekday(name)
    assert parse_weekday(number) == parse_weekday(str(number)) == expected
    assert parse_weekday(name[:3].upper()) == expected
    assert date(2026, 3, 1 + number).weekday() == expected  # 2026-03-01 is a Sunday


@pytest.mark.parametrize(
    "value",
    [True, False, 7, -1, "7", "-1", "01", "1.0", 1.0, None, "", " ", "mo", "tues", "thurs",
     "mondays", "monday!", "lundi", b"mon"],
)
def test_parse_weekday_rejects(value: object) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_weekday(value)  # type: ignore[arg-type]
    assert caught.value.field == "weekdays"
    assert "0 is Sunday" in caught.value.rule
