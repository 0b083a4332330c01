"""
A host's working hours, the free slots of a bookable event type, and the check of one
requested start. Pure: the caller loads hosts, calls and the event type, and passes them in.

Definitions the rest of the module keeps to:
- A working interval is one `{start, end}` of a host's day, taken as the span of real time
  between the UTC instants of its local start and local end (see `working_intervals`).
- A host is free for a call `[start, start + duration)` when some working interval contains
  the whole call, the start is that interval's start plus a whole number of slot intervals
  (elapsed time), and no busy interval blocks it (see `Busy`).
- A start is offered when at least one host is free for it, `start >= now + minimum notice`
  and `start < now + booking window days x 24 h`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from callgrid.scheduling.overlap import Interval
from callgrid.scheduling.recurrence import ScheduleError, to_utc

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
MAX_INTERVALS_PER_DAY = 12
MAX_SLOT_RANGE_DAYS = 31

_ONE_DAY = timedelta(days=1)
_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MISSING = object()


# -- working hours ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalRange:
    """Part of a local day, `[start, end)` in minutes after midnight; an end of 1440 is 24:00."""

    start: int
    end: int


DEFAULT_WEEKLY_HOURS: tuple[tuple[LocalRange, ...], ...] = tuple(
    (LocalRange(9 * 60, 17 * 60),) if weekday < 5 else () for weekday in range(7)
)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """A host's week (seven days, Monday first) and the dates whose hours replace it."""

    weekly: tuple[tuple[LocalRange, ...], ...] = DEFAULT_WEEKLY_HOURS
    overrides: Mapping[date, tuple[LocalRange, ...]] = field(default_factory=dict)

    def on(self, day: date) -> tuple[LocalRange, ...]:
        ranges = self.overrides.get(day)
        return self.weekly[day.weekday()] if ranges is None else ranges


def parse_working_hours(working_hours: Any, date_overrides: Any = None) -> WorkingHours:
    """
    Validate a host's `working_hours` and `date_overrides` in their JSON form and read them.

    `working_hours` maps day names (`monday` ... `sunday`, lower case) to lists of
    `{"start": "HH:MM", "end": "HH:MM"}`; `date_overrides` maps `YYYY-MM-DD` to such lists and
    replaces the week on that date (`[]` is a day off). Within a day the intervals are sorted,
    do not overlap (one may start where the previous ends), and each ends after it starts;
    times run from 00:00 to 23:59, and an end may also be 24:00 (midnight ending the day).
    An empty `working_hours` means Monday to Friday 09:00-17:00; once any day is given, even
    as `[]`, the host works exactly the days given.

    Raises ScheduleError naming the first offending field, e.g. `working_hours.monday[1].end`
    or `date_overrides.2026-12-27[0].start`.
    """
    if not isinstance(working_hours, Mapping):
        raise ScheduleError(
            "working_hours", "must be an object mapping day names (monday to sunday) to intervals"
        )
    weekly: list[tuple[LocalRange, ...]] = [()] * 7
    for name, items in working_hours.items():
        if name not in DAY_NAMES:
            raise ScheduleError(
                f"working_hours.{name}", "is not a day of the week (monday to sunday, lower case)"
            )
        weekly[DAY_NAMES.index(name)] = _parse_ranges(items, f"working_hours.{name}")

    overrides: dict[date, tuple[LocalRange, ...]] = {}
    if date_overrides is not None:
        if not isinstance(date_overrides, Mapping):
            raise ScheduleError(
                "date_overrides", "must be an object mapping dates (YYYY-MM-DD) to intervals"
            )
        for key, items in date_overrides.items():
            overrides[_parse_date(key, f"date_overrides.{key}")] = _parse_ranges(
                items, f"date_overrides.{key}"
            )
    return WorkingHours(tuple(weekly) if working_hours else DEFAULT_WEEKLY_HOURS, overrides)


def _parse_ranges(items: Any, where: str) -> tuple[LocalRange, ...]:
    if not isinstance(items, list | tuple):
        raise ScheduleError(
            where, 'must be a list of {"start": "HH:MM", "end": "HH:MM"}; [] for none'
        )
    if len(items) > MAX_INTERVALS_PER_DAY:
        raise ScheduleError(where, f"at most {MAX_INTERVALS_PER_DAY} intervals a day")
    ranges: list[LocalRange] = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise ScheduleError(at, 'must be an object {"start": "HH:MM", "end": "HH:MM"}')
        for key in item:
            if key not in ("start", "end"):
                raise ScheduleError(f"{at}.{key}", "is not a field of an interval (start, end)")
        start = _parse_clock(item.get("start", _MISSING), f"{at}.start", may_be_midnight=False)
        end = _parse_clock(item.get("end", _MISSING), f"{at}.end", may_be_midnight=True)
        if end <= start:
            raise ScheduleError(f"{at}.end", "must be after start")
        if ranges and start < ranges[-1].start:
            raise ScheduleError(
                f"{at}.start",
                "intervals must be sorted by start; this one starts before the previous",
            )
        if ranges and start < ranges[-1].end:
            raise ScheduleError(
                f"{at}.start",
                f"overlaps the previous interval, which ends at {_format_clock(ranges[-1].end)}",
            )
        ranges.append(LocalRange(start, end))
    return tuple(ranges)


def _parse_clock(value: Any, at: str, *, may_be_midnight: bool) -> int:
    if value is _MISSING:
        raise ScheduleError(at, "is required")
    if may_be_midnight and value == "24:00":
        return MINUTES_PER_DAY
    if not isinstance(value, str) or not _HH_MM.fullmatch(value):
        latest = "24:00" if may_be_midnight else "23:59"
        raise ScheduleError(at, f"must be a time HH:MM from 00:00 to {latest}")
    return int(value[:2]) * 60 + int(value[3:])


def _parse_date(value: Any, at: str) -> date:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ScheduleError(at, "must be a real date YYYY-MM-DD")


def _format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _instant(day: date, minute: int, time_zone: ZoneInfo) -> datetime:
    # Local wall time to UTC through `to_utc`, which uses zoneinfo's fold=0: a wall time in
    # the spring-forward gap moves forward by the gap, an ambiguous one (fall-back) takes
    # its first instant. So 09:00 stays 09:00 local across DST, and a working interval
    # reaching into a gap or a repeated hour covers the real time between those instants.
    if minute == MINUTES_PER_DAY:
        return to_utc(day + _ONE_DAY, time(0), time_zone)
    return to_utc(day, time(minute // 60, minute % 60), time_zone)


def working_intervals(hours: WorkingHours, time_zone: ZoneInfo, within: Interval) -> list[Interval]:
    """
    The host's working intervals that overlap `within`, whole (not clipped, so that a slot
    grid stays anchored at their starts), sorted by start.

    Each is `[instant of local start, instant of local end)` on its local date, `24:00`
    being the next midnight. A day's intervals never overlap on the wall clock, but in the
    spring-forward gap the real instants can: 01:00-02:30 and 03:00-05:00 in New York on
    its change day are 06:00-07:30Z and 07:00-09:00Z, and both are kept. 02:00-02:30 there
    is 03:00-03:30 EDT; 02:00-03:00 and 02:30-03:00 come to no time and are dropped.
    Intervals of consecutive days, or of one day that touch, are not merged: a call fits
    inside one interval.
    """
    # From the day before: where a change skips midnight, its last interval can end after.
    day = within.start.astimezone(time_zone).date() - _ONE_DAY
    last_day = within.end.astimezone(time_zone).date()
    intervals = []
    while day <= last_day:
        for local in hours.on(day):
            start = _instant(day, local.start, time_zone)
            end = _instant(day, local.end, time_zone)
            if start < end and start < within.end and within.start < end:
                intervals.append(Interval(start, end))
        day += _ONE_DAY
    intervals.sort(key=lambda interval: interval.start)
    return intervals


# -- slots ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingRules:
    """
    An event type's timing, under the API's own field names. The slot interval defaults
    to the duration. A booking window of N days admits starts before `now + N x 24 h`.
    """

    duration_minutes: int
    slot_interval_minutes: int | None = None
    minimum_notice_minutes: int = 60
    booking_window_days: int = 60
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0

    def __post_init__(self) -> None:
        for name in ("duration_minutes", "slot_interval_minutes", "booking_window_days"):
            value = getattr(self, name)
            if not (value is None and name == "slot_interval_minutes"):
                _require_whole(value, name, minimum=1)
        for name in ("minimum_notice_minutes", "buffer_before_minutes", "buffer_after_minutes"):
            _require_whole(getattr(self, name), name, minimum=0)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def slot_interval(self) -> timedelta:
        return timedelta(minutes=self.slot_interval_minutes or self.duration_minutes)

    @property
    def minimum_notice(self) -> timedelta:
        return timedelta(minutes=self.minimum_notice_minutes)

    @property
    def booking_window(self) -> timedelta:
        return timedelta(days=self.booking_window_days)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)


def _require_whole(value: Any, name: str, *, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ScheduleError(name, f"must be a whole number, at least {minimum}")


@dataclass(frozen=True, slots=True)
class Busy:
    """
    One of a host's non-cancelled calls, `[start, end)` in aware datetimes. A booking of an
    event type with buffers carries them: no other call may fall inside them.

    A call being offered keeps clear of a busy interval twice over: the call widened by the
    event's own buffers must not overlap the busy interval, and the call itself must not
    overlap the busy interval widened by its buffers. Buffers may overlap each other, so
    between the two the gap needed is the larger of the two buffers facing each other.
    """

    start: datetime
    end: datetime
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0


@dataclass(frozen=True, slots=True)
class HostCalendar:
    """What slot finding needs of one host: `id` is whatever the caller uses to name hosts."""

    id: Hashable
    time_zone: ZoneInfo
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    busy: Sequence[Busy] = ()
    # The same as `busy`, already as whole microseconds since 1970 (UTC): (start, end, buffer
    # before minutes, buffer after minutes). A loader that reads thousands of calls can give
    # them so (the database computes the numbers) and skip a datetime per value.
    busy_micros: Sequence[tuple[int, int, int, int]] = ()


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    free_hosts: tuple[Hashable, ...]  # in the order the hosts were given

    @property
    def hosts_available(self) -> int:
        return len(self.free_hosts)


@dataclass(frozen=True, slots=True)
class Availability:
    """Offered slots by date in `time_zone`: every date of the range, in order, maybe empty."""

    time_zone: ZoneInfo
    days: Mapping[date, tuple[Slot, ...]]
    _by_start: dict[datetime, Slot] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_start = {slot.start: slot for slots in self.days.values() for slot in slots}
        object.__setattr__(self, "_by_start", by_start)

    def slot_at(self, start: datetime) -> Slot | None:
        return self._by_start.get(start)

    def free_hosts(self, start: datetime) -> tuple[Hashable, ...]:
        slot = self._by_start.get(start)
        return () if slot is None else slot.free_hosts


def find_slots(
    rules: BookingRules,
    hosts: Sequence[HostCalendar],
    now: datetime,
    first_day: date,
    last_day: date,
    time_zone: ZoneInfo,
) -> Availability:
    """
    The offered slots whose start falls on `first_day` .. `last_day` (both included, at most
    31 days) in the visitor's `time_zone`, each with the hosts free for it.

    Raises ScheduleError on the range, naming the slots endpoint's parameters `start`/`end`.
    """
    if last_day < first_day:
        raise ScheduleError("end", "must not be before start")
    if (last_day - first_day).days + 1 > MAX_SLOT_RANGE_DAYS:
        raise ScheduleError("end", f"the range spans at most {MAX_SLOT_RANGE_DAYS} days")
    if len({host.id for host in hosts}) != len(hosts):
        raise ValueError("each host must appear once")

    # A slot's date is its start's date in the visitor's zone. The search runs a day wider
    # than the range's midnights and keeps the starts on its dates, so that no reading of
    # a midnight lost in a gap or repeated at fall-back can move a slot in or out.
    earliest = max(to_utc(first_day - _ONE_DAY, time(0), time_zone), now + rules.minimum_notice)
    latest = min(to_utc(last_day + 2 * _ONE_DAY, time(0), time_zone), now + rules.booking_window)
    free_by_start: dict[int, list[Hashable]] = {}
    if earliest < latest:
        for host in hosts:
            for start in dict.fromkeys(_free_starts(rules, host, earliest, latest)):
                free_by_start.setdefault(start, []).append(host.id)

    days: dict[date, list[Slot]] = {
        first_day + timedelta(days=n): [] for n in range((last_day - first_day).days + 1)
    }
    duration = rules.duration
    for micros in sorted(free_by_start):
        start = _EPOCH + _MICROSECOND * micros
        slots = days.get(start.astimezone(time_zone).date())
        if slots is not None:
            slots.append(Slot(start, start + duration, tuple(free_by_start[micros])))
    return Availability(time_zone, {day: tuple(slots) for day, slots in days.items()})


# The search runs on whole microseconds since 1970 (UTC), exact for any aware datetime and
# several times cheaper to add and compare than datetimes.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE = 60_000_000


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _free_starts(
    rules: BookingRules, host: HostCalendar, earliest: datetime, latest: datetime
) -> list[int]:
    """The host's grid starts in `[earliest, latest)` that it is free for, in microseconds."""
    duration = rules.duration_minutes * _MINUTE
    step = (rules.slot_interval_minutes or rules.duration_minutes) * _MINUTE
    lead = rules.buffer_before_minutes * _MINUTE
    tail = duration + rules.buffer_after_minutes * _MINUTE
    blocked_starts, reach = _blocked(
        rules,
        _busy_items(host),
        _micros(earliest - rules.buffer_before),
        _micros(latest + rules.duration + rules.buffer_after),
    )
    low, high = _micros(earliest), _micros(latest)
    free = []
    for working in working_intervals(
        host.working_hours, host.time_zone, Interval(earliest, latest)
    ):
        start, last_start = _micros(working.start), _micros(working.end) - duration
        if start < low:
            start += -((start - low) // step) * step  # the first grid start >= low
        last_start = min(last_start, high - 1)
        while start <= last_start:
            # The call widened by the buffers, [start - lead, start + tail), is clear when the
            # blocked intervals starting before its end all end by its start.
            before_end = bisect_left(blocked_starts, start + tail)
            if before_end == 0 or reach[before_end - 1] <= start - lead:
                free.append(start)
                start += step
            else:  # every grid start before that reach + lead is blocked too: skip them
                start += -((start - lead - reach[before_end - 1]) // step) * step
    return free


def _busy_items(host: HostCalendar) -> list[tuple[int, int, int, int]]:
    items = [
        (_micros(call.start), _micros(call.end), call.buffer_before_minutes, call.buffer_after_minutes)
        for call in host.busy
    ]
    items.extend(host.busy_micros)
    return items


def _blocked(
    rules: BookingRules, busy: Sequence[tuple[int, int, int, int]], low: int, high: int
) -> tuple[list[int], list[int]]:
    """
    Where a call widened by the event's buffers may not be, over `[low, high)`, in
    microseconds: the blocked intervals' starts in order, and for each, the latest end among
    it and the ones before it (so a call is clear when the reach of those starting before its
    end is no later than its start). `busy`: (start, end, buffer before, buffer after), the
    times in microseconds.

    Widening the call by the event's buffers stands for the larger of the two buffers facing
    each other (see `Busy`) as long as the busy interval's own buffer is not the larger;
    where it is, the busy interval is widened by the difference. Most calls carry no
    buffers and are taken as they are.
    """
    event_before, event_after = rules.buffer_before_minutes, rules.buffer_after_minutes
    spans = [
        (start, end)
        for start, end, before, after in busy
        if start < high and low < end and before <= event_after and after <= event_before
    ]
    widen_before = {
        minutes: (minutes - event_after) * _MINUTE
        for minutes in {item[2] for item in busy}
        if minutes > event_after
    }
    widen_after = {
        minutes: (minutes - event_before) * _MINUTE
        for minutes in {item[3] for item in busy}
        if minutes > event_before
    }
    if widen_before or widen_after:
        low_reach = low - max(widen_after.values(), default=0)
        high_reach = high + max(widen_before.values(), default=0)
        for start, end, before, after in busy:
            if (
                start < high_reach
                and low_reach < end
                and (before > event_after or after > event_before)
            ):
                start -= widen_before.get(before, 0)
                end += widen_after.get(after, 0)
                if start < high and low < end:
                    spans.append((start, end))
    spans.sort()
    return [start for start, _ in spans], list(accumulate((end for _, end in spans), max))


# -- one requested start ----------------------------------------------------------------------


class Verdict(StrEnum):
    """Whether a requested start is offered, or the first reason it is not, in this order."""

    OFFERED = "offered"
    TOO_SOON = "too soon (minimum notice)"
    BEYOND_WINDOW = "beyond the booking window"
    OUTSIDE_WORKING_HOURS = "outside working hours"
    NOT_ON_GRID = "not on the slot grid"
    TAKEN = "taken"  # a slot, but no host is free for it


@dataclass(frozen=True, slots=True)
class StartCheck:
    verdict: Verdict
    free_hosts: tuple[Hashable, ...] = ()  # in the order the hosts were given


def check_start(
    rules: BookingRules, hosts: Sequence[HostCalendar], now: datetime, start: datetime
) -> StartCheck:
    """
    Whether `start` is offered, with the hosts free for it, or the first reason it is not:
    before the minimum notice, at or after the booking window's end, no host has working
    hours containing the whole call, no host's slot grid has this start, no host is free.
    Agrees with `find_slots`, whatever the visitor's time zone.
    """
    if start < now + rules.minimum_notice:
        return StartCheck(Verdict.TOO_SOON)
    if start >= now + rules.booking_window:
        return StartCheck(Verdict.BEYOND_WINDOW)
    call = Interval(start, start + rules.duration)
    step = rules.slot_interval
    inside = on_grid = False
    free = []
    for host in hosts:
        containing = [
            working
            for working in working_intervals(host.working_hours, host.time_zone, call)
            if working.start <= call.start and call.end <= working.end
        ]
        inside = inside or bool(containing)
        if not any((call.start - working.start) % step == timedelta(0) for working in containing):
            continue
        on_grid = True
        widened = Interval(call.start - rules.buffer_before, call.end + rules.buffer_after)
        blocked_starts, _ = _blocked(rules, _busy_items(host), _micros(widened.start), _micros(widened.end))
        if not blocked_starts:
            free.append(host.id)
    if free:
        return StartCheck(Verdict.OFFERED, tuple(free))
    if not inside:
        return StartCheck(Verdict.OUTSIDE_WORKING_HOURS)
    if not on_grid:
        return StartCheck(Verdict.NOT_ON_GRID)
    return StartCheck(Verdict.TAKEN)
