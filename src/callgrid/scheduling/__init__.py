from callgrid.scheduling.overlap import Interval, Overlap, find_overlaps, maximum_overlap
from callgrid.scheduling.recurrence import (
    MAX_SERIES_DAYS,
    Frequency,
    Schedule,
    ScheduleError,
    expand,
    parse_weekday,
    to_utc,
)

__all__ = [
    "MAX_SERIES_DAYS",
    "Frequency",
    "Interval",
    "Overlap",
    "Schedule",
    "ScheduleError",
    "expand",
    "find_overlaps",
    "maximum_overlap",
    "parse_weekday",
    "to_utc",
]
