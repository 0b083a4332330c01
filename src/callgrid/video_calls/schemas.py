"""The video-calls API's request bodies, in its own camelCase names."""

from datetime import date, time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from callgrid.validation import TimezoneName


def _date(value):
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date as YYYY-MM-DD")


def _time(value):
    if isinstance(value, str) and len(value) == 5 and value[2] == ":" and value.replace(":", "").isdigit():
        hours, minutes = int(value[:2]), int(value[3:])
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError("must be a time as HH:MM (24 h)")


Day = Annotated[date, BeforeValidator(_date)]
WallTime = Annotated[time, BeforeValidator(_time)]
Minutes = Annotated[int, Field(ge=30, le=300, strict=True, description="whole minutes, 30..300")]
Weekday = Annotated[str | int, Field(union_mode="left_to_right")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleFields(Body):
    startDate: Day
    fromTime: WallTime
    timezoneName: TimezoneName
    duration: Minutes
    endDate: Day | None = None
    repeatingDays: Annotated[list[Weekday] | None, Field(max_length=14)] = None


class VideoCallCreate(ScheduleFields):
    title: Annotated[str, Field(min_length=1, max_length=255)]
    mango: Annotated[str, Field(min_length=1, max_length=64)]
    allowOverlap: StrictBool = False


class AvailabilityCheck(ScheduleFields):
    excludeVideocall: Annotated[str | None, Field(max_length=64)] = None
    groupId: Annotated[str | None, Field(max_length=64)] = None


class VideoCallUpdate(Body):
    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    startDate: Day | None = None
    fromTime: WallTime | None = None
    timezoneName: TimezoneName | None = None
    duration: Minutes | None = None
    allowOverlap: StrictBool | None = None
