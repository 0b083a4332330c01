"""
A brute-force model of working hours and slots, written from the issue's words and sharing
no code with callgrid.scheduling.availability: it reads the JSON as given, converts wall time
by trying every UTC offset the zone uses nearby, enumerates each working interval's grid,
and checks every call against every busy interval.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from callgrid.scheduling import Busy

UTC = timezone.utc
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@functools.cache
def wall_instant(day: date, minute: int, zone: str) -> datetime:
    """
    The UTC instant of `minute` after local midnight of `day` (1440 is the next midnight):
    the earliest instant whose local time reads so; for a wall time skipped by a change,
    the wall time read with the offset in force before it (the smaller one nearby).
    """
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    nearby = {
        (wall.replace(tzinfo=UTC) + timedelta(hours=hours)).astimezone(tz).utcoffset()
        for hours in range(-30, 31)
    }
    readings = sorted(
        (wall - offset).replace(tzinfo=UTC)
        for offset in nearby
        if (wall - offset).replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None) == wall
    )
    if readings:
        return readings[0]
    return (wall - min(nearby)).replace(tzinfo=UTC)


def minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


def local_ranges(working_hours: dict, date_overrides: dict, day: date) -> list[tuple[int, int]]:
    if day.isoformat() in date_overrides:
        items = date_overrides[day.isoformat()]
    elif not working_hours:
        items = [{"start": "09:00", "end": "17:00"}] if day.weekday() < 5 else []
    else:
        items = working_hours.get(DAY_NAMES[day.weekday()], [])
    return [(minutes(item["start"]), minutes(item["end"])) for item in items]


def oracle_working_intervals(
    working_hours: dict, date_overrides: dict, zone: str, first_day: date, last_day: date
) -> list[tuple[datetime, datetime]]:
    """Every non-empty working interval of the local dates first_day .. last_day."""
    intervals = []
    day = first_day
    while day <= last_day:
        for start, end in local_ranges(working_hours, date_overrides, day):
            interval = (wall_instant(day, start, zone), wall_instant(day, end, zone))
            if interval[0] < interval[1]:
                intervals.append(interval)
        day += timedelta(days=1)
    return sorted(intervals)


@dataclass
class Host:
    id: int
    zone: str
    working_hours: dict = field(default_factory=dict)
    date_overrides: dict = field(default_factory=dict)
    busy: list[Busy] = field(default_factory=list)


@dataclass
class Event:
    duration: int
    interval: int | None = None
    notice: int = 60
    window_days: int = 60
    before: int = 0
    after: int = 0

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.interval or self.duration)


def kept_clear(host: Host, event: Event, start: datetime) -> bool:
    end = start + timedelta(minutes=event.duration)
    for call in host.busy:
        widened_call = (
            start - timedelta(minutes=event.before),
            end + timedelta(minutes=event.after),
        )
        if widened_call[0] < call.end and call.start < widened_call[1]:
            return False
        widened_busy = (
            call.start - timedelta(minutes=call.buffer_before_minutes),
            call.end + timedelta(minutes=call.buffer_after_minutes),
        )
        if start < widened_busy[1] and widened_busy[0] < end:
            return False
    return True


def host_dates_around(instant_day: date) -> tuple[date, date]:
    # Host and visitor zones differ by at most 26 hours.
    return instant_day - timedelta(days=3), instant_day + timedelta(days=3)


def oracle_slots(
    event: Event, hosts: list[Host], now: datetime, first_day: date, last_day: date, zone: str
) -> dict[datetime, list[int]]:
    """Each offered start with the ids of the hosts free for it, in host order."""
    duration = timedelta(minutes=event.duration)
    free: dict[datetime, list[int]] = {}
    for host in hosts:
        starts = set()
        low, _ = host_dates_around(first_day)
        _, high = host_dates_around(last_day)
        for work_start, work_end in oracle_working_intervals(
            host.working_hours, host.date_overrides, host.zone, low, high
        ):
            start = work_start
            while start + duration <= work_end:
                if (
                    first_day <= start.astimezone(ZoneInfo(zone)).date() <= last_day
                    and now + timedelta(minutes=event.notice) <= start
                    and start < now + timedelta(days=event.window_days)
                    and kept_clear(host, event, start)
                ):
                    starts.add(start)
                start += event.step
        for start in starts:
            free.setdefault(start, []).append(host.id)
    return free


def oracle_verdict(
    event: Event, hosts: list[Host], now: datetime, start: datetime
) -> tuple[str, list[int]]:
    if start < now + timedelta(minutes=event.notice):
        return "too soon (minimum notice)", []
    if start >= now + timedelta(days=event.window_days):
        return "beyond the booking window", []
    end = start + timedelta(minutes=event.duration)
    inside = on_grid = False
    free = []
    for host in hosts:
        low, high = host_dates_around(start.date())
        containing = [
            work_start
            for work_start, work_end in oracle_working_intervals(
                host.working_hours, host.date_overrides, host.zone, low, high
            )
            if work_start <= start and end <= work_end
        ]
        inside = inside or bool(containing)
        if any((start - work_start) % event.step == timedelta(0) for work_start in containing):
            on_grid = True
            if kept_clear(host, event, start):
                free.append(host.id)
    if free:
        return "offered", free
    if not inside:
        return "outside working hours", []
    if not on_grid:
        return "not on the slot grid", []
    return "taken", []
