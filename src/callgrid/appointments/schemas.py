"""The appointments API's request bodies and query values, in its own snake_case names."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    field_validator,
)

from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import UtcTimestamp

# A bulk body (add-participants, remove-participants) and a create's participants hold at most this many.
MAX_BULK = 500
# The longest an appointment may be, in minutes; a start this close to the end of the calendar
# could not be stored with its end.
MAX_DURATION_MINUTES = 720
_LATEST_START = datetime.max.replace(tzinfo=UTC) - timedelta(minutes=MAX_DURATION_MINUTES)


def _storable(value: str) -> str:
    """Refuse what no database would store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _date_time_text(value):
    # A date-time is a string (`2025-10-30T15:26:22Z`, or the seed's `2025-10-30 15:26:22.539536+00:00`);
    # a bare number would otherwise be read as a Unix timestamp.
    if not isinstance(value, str):
        raise ValueError("must be a date-time string, e.g. 2025-10-30T15:26:22Z")
    return value


def _utc(value: datetime) -> datetime:
    """In UTC; a value without an offset is taken as UTC (the contract's times are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the supported range of date-times") from None
    if value > _LATEST_START:
        raise ValueError("is outside the supported range of date-times")
    return value


Text = Annotated[str, AfterValidator(_storable)]
UTCDateTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(_utc)]
Title = Annotated[Text, Field(min_length=1, max_length=255, description="Appointment title")]
Duration = Annotated[
    int, Field(ge=15, le=MAX_DURATION_MINUTES, strict=True, description="Duration in minutes, 15..720")
]
UniqueId = Annotated[
    Text, Field(min_length=1, max_length=255, description="Unique participant identifier (email, username, etc.)")
]
DisplayName = Annotated[Text, Field(max_length=60, description="Display name for the participant")]
Role = Literal["moderator", "participant"]




def _not_null(value):
    # In a PATCH body a field left out keeps its value; null is no value for these fields.
    if value is None:
        raise ValueError("must not be null; leave the field out to keep its value")
    return value


class Config(StrictModel):
    """Per-appointment feature flags. A flag left out takes its default; any other key is refused."""

    breakout_rooms_enabled: StrictBool = False
    whiteboard_enabled: StrictBool = False
    chat_enabled: StrictBool = True
    join_screen_enabled: StrictBool = True
    screenshare_enabled: StrictBool = True
    raise_hand_enabled: StrictBool = True


CONFIG_FLAGS: tuple[str, ...] = tuple(Config.model_fields)
DEFAULT_CONFIG: dict[str, bool] = Config().model_dump()


class ParticipantIn(StrictModel):
    role: Role = Field(description="Role of the participant")
    unique_id: UniqueId
    display_name: DisplayName | None = None


class ParticipantRef(StrictModel):
    id: UUID = Field(description="UUID of participant to remove")


class ParticipantUpdate(StrictModel):
    """A partial update: only the fields given change; `display_name: null` clears the name."""

    display_name: DisplayName | None = None
    role: Role | None = Field(default=None, description="Role of the participant")

    _role_not_null = field_validator("role", mode="before")(_not_null)


class AppointmentCreate(StrictModel):
    title: Title
    start_date_time: UTCDateTime = Field(description="Appointment start date-time (UTC), in the future")
    duration_minutes: Duration
    participants: Annotated[list[ParticipantIn], Field(min_length=1, max_length=MAX_BULK)]
    config: Config | None = Field(default=None, description="Optional feature flags; flags left out take defaults")


class AppointmentUpdate(StrictModel):
    """A partial update: only the fields given change. In `config`, flags given change and the
    others keep their values; `config: null` puts every flag back to its default."""

    title: Title | None = None
    start_date_time: UTCDateTime | None = None
    duration_minutes: Duration | None = None
    config: Config | None = None

    _values_required = field_validator("title", "start_date_time", "duration_minutes", mode="before")(_not_null)


ParticipantsToAdd = Annotated[list[ParticipantIn], Field(min_length=1, max_length=MAX_BULK)]
ParticipantsToRemove = Annotated[list[ParticipantRef], Field(min_length=1, max_length=MAX_BULK)]


# Responses (for the OpenAPI document; render.py builds them).


class ConfigOut(BaseModel):
    breakout_rooms_enabled: bool
    whiteboard_enabled: bool
    chat_enabled: bool
    join_screen_enabled: bool
    screenshare_enabled: bool
    raise_hand_enabled: bool


class ParticipantOut(BaseModel):
    id: UUID
    unique_id: str
    display_name: str | None
    role: Role
    join_url: str | None = Field(
        default=None, description="the participant's personal link into the appointment's room (moderators join as host)"
    )


class AppointmentOut(BaseModel):
    id: UUID
    title: str
    start_date_time: UtcTimestamp
    duration_minutes: int
    status: Literal["scheduled", "active", "completed", "cancelled"]
    config: ConfigOut
    participants: list[ParticipantOut]
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class AppointmentListItem(BaseModel):
    id: UUID
    title: str
    start_date_time: UtcTimestamp
    duration_minutes: int
    status: Literal["scheduled", "active", "completed", "cancelled"]
    participant_count: int
    organization_name: str
    created_at: UtcTimestamp


class AppointmentPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[AppointmentListItem]


class ParticipantPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[ParticipantOut]
