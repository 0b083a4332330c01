"""The management API's event types and slots (`/api/v1/event-types`)."""

import re
from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, field_validator

from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import UtcTimestamp
from callgrid.scheduling.assignment import Priority

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_BUFFER_MINUTES = 720


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError("must be 1 to 64 lower-case letters, digits and dashes, not starting or ending with a dash")
    return value


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    HttpUrl(value)  # raises a ValueError naming the rule
    if len(value) > 2048:
        raise ValueError("at most 2048 characters")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
RedirectUrl = Annotated[str | None, AfterValidator(_url)]
Title = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
Duration = Annotated[int, Field(ge=5, le=720)]
Interval = Annotated[int, Field(ge=5, le=720)]
Notice = Annotated[int, Field(ge=0, le=525_600)]
Window = Annotated[int, Field(ge=1, le=730)]
Buffer = Annotated[int, Field(ge=0, le=MAX_BUFFER_MINUTES)]


class EventTypeHostIn(StrictModel):
    host_id: UUID
    priority: Priority = Priority.MEDIUM


Hosts = Annotated[list[EventTypeHostIn], Field(min_length=1, max_length=100)]


def _distinct(hosts: list[EventTypeHostIn] | None) -> list[EventTypeHostIn] | None:
    if hosts is not None and len({h.host_id for h in hosts}) != len(hosts):
        raise ValueError("each host may be listed once")
    return hosts


class EventTypeCreate(StrictModel):
    title: Title
    slug: Slug
    duration_minutes: Duration
    hosts: Hosts
    slot_interval_minutes: Interval | None = Field(default=None, description="default: the duration")
    minimum_notice_minutes: Notice = 60
    booking_window_days: Window = 60
    buffer_before_minutes: Buffer = 0
    buffer_after_minutes: Buffer = 0
    redirect_url: RedirectUrl = None
    description: Description = ""

    _hosts_distinct = field_validator("hosts")(_distinct)


class EventTypeUpdate(StrictModel):
    title: Title | None = None
    slug: Slug | None = None
    duration_minutes: Duration | None = None
    hosts: Hosts | None = None
    slot_interval_minutes: Interval | None = None
    minimum_notice_minutes: Notice | None = None
    booking_window_days: Window | None = None
    buffer_before_minutes: Buffer | None = None
    buffer_after_minutes: Buffer | None = None
    redirect_url: RedirectUrl = None
    description: Description | None = None

    _hosts_distinct = field_validator("hosts")(_distinct)


class EventTypeHostOut(BaseModel):
    host_id: UUID
    number: int
    name: str
    priority: Priority


class EventTypeOut(BaseModel):
    id: UUID
    number: int
    title: str
    slug: str
    link_prefix: str = Field(description="`<organization slug>/<slug>`: the event-calls API's `linkPrefix`")
    booking_url: str = Field(description="the public booking page")
    description: str
    duration_minutes: int
    hosts: list[EventTypeHostOut]
    slot_interval_minutes: int
    minimum_notice_minutes: int
    booking_window_days: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    redirect_url: str | None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class SlotOut(BaseModel):
    start: str = Field(description="UTC, `...Z`")
    hosts_available: int


class SlotsOut(BaseModel):
    time_zone: str
    slots: dict[date, list[SlotOut]] = Field(description="every date of the range in `time_zone`, maybe empty")


