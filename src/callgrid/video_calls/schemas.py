"""The video-calls API's request bodies, in its own camelCase names."""

from datetime import date, time
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from callgrid.kit.models import StrictModel
from callgrid.validation import TimezoneName

# Dates a call can be planned on; the edges of `date` itself would overflow when a local
# time is turned into UTC or a duration is added.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def _date(value):
    if isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if not FIRST_DAY <= day <= LAST_DAY:
                raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
            return day
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
# Strict: `true` is not Monday, `1.0` is not a day.
Weekday = Annotated[StrictStr | StrictInt, Field(union_mode="left_to_right")]


class ScheduleFields(StrictModel):
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


class VideoCallUpdate(StrictModel):
    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    startDate: Day | None = None
    fromTime: WallTime | None = None
    timezoneName: TimezoneName | None = None
    duration: Minutes | None = None
    allowOverlap: StrictBool | None = None


class VideoCallGroupUpdate(StrictModel):
    """A change to a whole series from `fromDate` on (its occurrences on or after that local date)."""

    fromDate: Day | None = Field(None, description="the first local date (in the series' time zone) to change; default: the series' first")
    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    fromTime: WallTime | None = None
    duration: Minutes | None = None
    timezoneName: TimezoneName | None = None
    repeatingDays: Annotated[list[Weekday] | None, Field(max_length=14, description="null: every day")] = None
    endDate: Day | None = None
    allowOverlap: StrictBool | None = None


# Answers (the seed's names and types; render.py builds them). A call is also the `data` of
# every `video_call.*` webhook event.


class VideoCallOut(BaseModel):
    """One video call as this API renders it (`_id` and the creator's and mango's `_id` are
    strings: the seed's Mongo-style ids)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(alias="_id")
    title: str
    fromTime: str
    toTime: str
    status: Literal["scheduled", "active", "completed", "cancelled"]
    videocallType: str
    ongoingCallType: str
    platform: str
    meetingUrl: str
    whitelabelHost: str | None
    creator: dict
    mango: dict | None
    groupId: str | None
    timezoneName: str
    createdAt: str
    updatedAt: str


class VideoCallDetail(VideoCallOut):
    """One video call as get, update and cancel answer it: with the host's own link into its room."""

    hostMeetingUrl: str | None = Field(description="the host's link into the call's room (joins as host); valid until an hour after the call")


class VideoCallCreated(BaseModel):
    """A create's answer: the call's `_id`, or for a series the group's (`_id` and `groupId`)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    groupId: str | None = Field(None, description="present for a series (repeatingDays or endDate)")
    scheduledMeetingDates: list[str] = Field(description="each occurrence as `<fromTime> to <toTime>` (UTC, milliseconds)")


class DateCalls(BaseModel):
    date: str = Field(description="the calls' local date (by `x-timezone-offset`), YYYY-MM-DD")
    calls: list[VideoCallOut]


class VideoCallPage(BaseModel):
    """The list's answer: calls grouped by local date, `total` of all pages."""

    total: int
    data: list[DateCalls]


class MeetingRange(BaseModel):
    fromTime: str
    toTime: str


class OverlappingCall(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    title: str
    fromTime: str
    toTime: str
    groupId: str | None


class Overlap(BaseModel):
    proposed: MeetingRange
    existing: OverlappingCall


class AvailabilityReport(BaseModel):
    """`maximumOverlap` 0: no conflict. Each overlap pairs a proposed occurrence with an existing call."""

    maximumOverlap: int
    overlapList: list[Overlap]


class GroupCancelled(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    groupId: str
    cancelledCount: int
    cancelledMeetingDates: list[str]


class VideoCallError(BaseModel):
    """This API's error shape (the seed's)."""

    code: int
    type: str
    statusMessage: str
    message: str
    success: Literal[False]
    requestId: str | None = Field(None, description="the request's id (its `X-Request-ID`)")


class VideoCallConflict(VideoCallError):
    """A 409: with the overlaps when the calls would overlap others (as check-availability reports them)."""

    maximumOverlap: int | None = None
    overlapList: list[Overlap] | None = None


class GroupUpdated(BaseModel):
    """A series' change: its occurrences from `fromDate` on as they are now, and what the change did."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    groupId: str
    fromDate: str = Field(description="the first local date the change applied to (YYYY-MM-DD)")
    scheduledMeetingDates: list[str] = Field(description="every occurrence from `fromDate` on that is not cancelled, after the change")
    cancelledMeetingDates: list[str] = Field(description="the occurrences this change cancelled (days the series no longer has)")
    updatedCount: int = Field(description="occurrences changed in place (same `_id`, room and links)")
    createdCount: int = Field(description="occurrences made on days the series did not have")
    cancelledCount: int
