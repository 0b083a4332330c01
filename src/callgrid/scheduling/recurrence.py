from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from callgrid.scheduling.overlap import Interval

MAX_SERIES_DAYS = 366

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS_BY_NAME = {
    **{name: day for day, name in enumerate(_DAY_NAMES)},
    **{name[:3]: day for day, name in enumerate(_DAY_NAMES)},
}


class Frequency(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Schedule:
    """
    A one-time call, or a daily or weekly series of calls, planned on local
    wall-clock time in `timezone`. Weekdays use Python's numbering, 0 = Monday.
    """

    start_date: date
    local_start: time
    duration: timedelta
    timezone: ZoneInfo
    end_date: date | None = None
    weekdays: frozenset[int] | None = None

    @property
    def frequency(self) -> Frequency:
        if self.end_date is None:
            return Frequency.ONCE
        if self.weekdays is None:
            return Frequency.DAILY
        return Frequency.WEEKLY


class ScheduleError(ValueError):
    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def to_utc(day: date, local_time: time, tz: ZoneInfo) -> datetime:
    # zoneinfo with fold=0 decides the two edge cases of local wall time:
    # a time that does not exist (the spring-forward gap) is read with the offset
    # in force before the change, so it moves forward by the gap (02:30 in New
    # York on the spring-forward day is 03:30 EDT); an ambiguous time (fall-back)
    # takes the first of its two instants (01:30 EDT, not 01:30 EST).
    local = datetime.combine(day, local_time, tzinfo=tz).replace(fold=0)
    return local.astimezone(timezone.utc)


def expand(schedule: Schedule) -> list[Interval]:
    """One interval per occurrence, in date order."""
    if schedule.duration <= timedelta(0):
        raise ScheduleError("duration", "must be positive")
    days = [schedule.start_date]
    if schedule.end_date is None:
        if schedule.weekdays is not None:
            raise ScheduleError("end_date", "is required when weekdays are given")
    else:
        days = _series_days(schedule.start_date, schedule.end_date, schedule.weekdays)
    return [
        Interval(start, start + schedule.duration)
        for start in (to_utc(day, schedule.local_start, schedule.timezone) for day in days)
    ]


def _series_days(
    start_date: date, end_date: date, weekdays: frozenset[int] | None
) -> list[date]:
    if end_date < start_date:
        raise ScheduleError("end_date", "must not be before start_date")
    span = (end_date - start_date).days + 1
    if span > MAX_SERIES_DAYS:
        raise ScheduleError("end_date", f"a series spans at most {MAX_SERIES_DAYS} days")
    if weekdays is not None:
        if not weekdays:
            raise ScheduleError("weekdays", "must not be empty")
        if not all(type(day) is int and 0 <= day <= 6 for day in weekdays):
            raise ScheduleError("weekdays", "each day must be a day of the week, 0 to 6")
    days = [start_date + timedelta(days=n) for n in range(span)]
    if weekdays is not None:
        days = [day for day in days if day.weekday() in weekdays]
    if not days:
        raise ScheduleError(
            "weekdays", "the series has no occurrence between start_date and end_date"
        )
    return days


def parse_weekday(value: str | int) -> int:
    """
    An API weekday as Python's weekday (0 = Monday). Accepts a day name, full or
    three letters in any case, or a number 0 to 6 (or its string) where 0 is Sunday.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _WEEKDAYS_BY_NAME:
            return _WEEKDAYS_BY_NAME[text]
        if len(text) == 1 and text in "0123456":
            return (int(text) - 1) % 7
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return (value - 1) % 7
    raise ScheduleError(
        "weekdays",
        "each day must be a name (monday or mon, any case) or a number 0-6 where 0 is Sunday",
    )
