import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import UtcTimestamp
from callgrid.webhooks.events import EVENT_TYPES
from callgrid.webhooks.models import DeliveryState
from callgrid.webhooks.targets import TargetError, parse_url

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# RFC 9110 field-value, as HTTP clients send it: visible ASCII, spaces and tabs only between.
FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?")
RESERVED_HEADERS = frozenset({"content-type", "host", "content-length", "transfer-encoding", "connection", "callgrid-attempt"})
MAX_HEADERS = 20




def _url(value: str) -> str:
    try:
        parse_url(value)
    except TargetError as exc:
        raise ValueError(str(exc)) from None
    return value


def _events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return list(dict.fromkeys(value))  # no duplicates, order kept


def _headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, content in value.items():
        lower = name.lower()
        if not TOKEN.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if lower in RESERVED_HEADERS or lower.startswith("webhook-"):
            raise ValueError(f"{name!r} is set by Callgrid and cannot be overridden (webhook-*, content-type, host, content-length, transfer-encoding, connection, callgrid-attempt)")
        if lower in seen:
            raise ValueError(f"{name!r} is given twice")
        seen.add(lower)
        if any(c in content for c in "\r\n\0"):
            raise ValueError(f"the value of {name!r} contains a line break or NUL")
        if not FIELD_VALUE.fullmatch(content):
            raise ValueError(
                f"the value of {name!r} is not a valid HTTP header value: printable ASCII, "
                "spaces and tabs only inside it, none at either end"
            )
    return value


Url = Annotated[str, Field(min_length=1, max_length=2048, description="http or https URL the events are POSTed to")]
Events = Annotated[
    list[EventType] | None,
    Field(min_length=1, max_length=len(EVENT_TYPES), description="event types to send; null or omitted: every type, including types added later"),
]
Description = Annotated[str, Field(max_length=1000)]
Headers = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=1000)]],
    Field(description="extra headers sent with every delivery (not webhook-*, content-type or host); write-only: "
                      "their values are stored encrypted and answers show only their names (`header_names`)"),
]


class EndpointCreate(StrictModel):
    url: Url
    events: Events = None
    description: Description = ""
    headers: Headers = Field(default_factory=dict)
    enabled: bool = True

    _check_url = field_validator("url")(_url)
    _check_events = field_validator("events")(_events)
    _check_headers = field_validator("headers")(_headers)


class EndpointUpdate(StrictModel):
    """Fields to change; `events: null` means every event type."""

    url: Url | None = None
    events: Events = None
    description: Description | None = None
    headers: Headers | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value):
        return None if value is None else _url(value)

    _check_events = field_validator("events")(_events)

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value):
        return None if value is None else _headers(value)


def header_names(value: Any) -> Any:
    """The names of an endpoint's custom headers, in their order: their values are write-only."""
    return list(value) if isinstance(value, dict) else value


HeaderNames = Annotated[
    list[str],
    BeforeValidator(header_names),
    Field(
        validation_alias=AliasChoices("header_names", "headers"),
        description="names of the custom headers sent with every delivery; their values are write-only (stored "
                    "encrypted, never shown): `headers` in a PATCH replaces them all",
    ),
]


class EndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    url: str
    events: list[str] | None = Field(description="null: every event type")
    description: str
    header_names: HeaderNames
    enabled: bool
    disabled_reason: str | None = Field(description="why Callgrid disabled it (a 410 answer), if it did")
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class EndpointWithSecret(EndpointRead):
    secret: str = Field(description="the signing secret (whsec_...); shown only in this response")


class SecretRead(BaseModel):
    secret: str = Field(description="the new signing secret; the old one no longer signs")


class EventQueued(BaseModel):
    event_id: UUID
    type: str
    state: DeliveryState
    next_attempt_at: UtcTimestamp | None


class AttemptRead(BaseModel):
    id: UUID
    event_id: UUID
    event_type: str
    attempt: int = Field(description="1 for the first attempt of this event to this endpoint")
    status_code: int | None = Field(description="the target's HTTP status, if it answered")
    error: str | None = Field(description="why the attempt failed, if it did")
    duration_ms: int
    attempted_at: UtcTimestamp
    state: DeliveryState = Field(description="the event's state for this endpoint now: pending, delivered or failed")


class PingData(BaseModel):
    """The `data` of a `ping` event (POST /api/v1/webhook-endpoints/{id}/test)."""

    model_config = ConfigDict(extra="forbid")

    endpoint_id: UUID
    message: str
    sent_at: UtcTimestamp
