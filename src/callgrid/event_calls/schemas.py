"""The event-calls API's bodies, with the seed's names, patterns and limits."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import phonenumbers
from pydantic import BaseModel, BeforeValidator, Field, field_validator

from callgrid.bookings.render import EventCallData
from callgrid.kit.models import StrictModel
from callgrid.validation import TimezoneName

# The seed's patterns, verbatim.
DATE_TIME = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])"
    r"-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3])"
    r":[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def normalise_phone(value: str, default_region: str | None) -> str:
    """E.164, or ValueError naming the rule. Without a country code (`+`) the number is read in
    `default_region` (CALLGRID_DEFAULT_PHONE_REGION), and refused when that is unset."""
    if not value.startswith("+") and default_region is None:
        raise ValueError("must start with + and the country code (no default region is configured)")
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else default_region.upper())
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_date_time(value: str) -> datetime:
    """A `dateTime` of the seed's pattern as an aware UTC datetime (ValueError otherwise)."""
    if not isinstance(value, str) or not DATE_TIME.match(value):
        raise ValueError("must be a UTC date-time like 2026-02-27T12:00:00.000Z (a real date, `Z` at the end)")
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


DateTimeText = Annotated[str, Field(min_length=1, description="ISO 8601 in UTC, e.g. 2026-02-27T12:00:00.000Z")]
Name = Annotated[str, BeforeValidator(_strip), Field(max_length=255)]


class EventCallCreate(StrictModel):
    dateTime: DateTimeText
    timeZone: Annotated[TimezoneName, Field(description="the invitee's IANA time zone")]
    contactId: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    email: Annotated[str, BeforeValidator(_strip), Field(max_length=255)] | None = None
    phoneNumber: Annotated[str, BeforeValidator(_strip), Field(max_length=32)] | None = None
    # null is "not given", as for email and phoneNumber.
    firstName: Name | None = ""
    lastName: Name | None = ""
    eventId: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    linkPrefix: Annotated[str | None, Field(min_length=1, max_length=200)] = None

    @field_validator("dateTime")
    @classmethod
    def _date_time(cls, value: str) -> str:
        parse_date_time(value)
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError("must be a valid email address")
        return value

    @property
    def start(self) -> datetime:
        return parse_date_time(self.dateTime)


class Cancel(StrictModel):
    reason: Annotated[str | None, Field(max_length=2000)] = None


class Reschedule(StrictModel):
    dateTime: DateTimeText

    @field_validator("dateTime")
    @classmethod
    def _date_time(cls, value: str) -> str:
        parse_date_time(value)
        return value

    @property
    def start(self) -> datetime:
        return parse_date_time(self.dateTime)


class EventCallResult(BaseModel):
    message: str
    status: int
    data: EventCallData


class EventCallEnvelope(BaseModel):
    eventCall: EventCallResult


class EventCallAnswer(BaseModel):
    data: EventCallEnvelope
