import re
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator, model_validator

from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import UtcTimestamp
from callgrid.validation import Email, Phone, TimezoneName

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")




class TimeRange(StrictModel):
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM, after start; 24:00 allowed")

    @model_validator(mode="after")
    def _ordered(self):
        for name in ("start", "end"):
            value = getattr(self, name)
            if not (HHMM.match(value) or (name == "end" and value == "24:00")):
                raise ValueError(f"{name} must be HH:MM (24 h)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


WorkingHours = dict[Literal[WEEKDAYS], Annotated[list[TimeRange], Field(max_length=12)]]  # type: ignore[valid-type]
# {"2026-12-24": [], "2026-12-27": [{"start": "10:00", "end": "14:00"}]}: that date's hours instead of the week's.
DateOverrides = Annotated[dict[str, Annotated[list[TimeRange], Field(max_length=12)]], Field(max_length=1000)]

Name = Annotated[str, Field(min_length=1, max_length=255)]


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


def _upper(value):
    return value.upper() if isinstance(value, str) else value


# The host's profile, as the video-calls API's `creator` shows it (its seed's fields).
UserSlug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
                                description="lowercase letters, digits and single dashes; default: from the name")]
PictureUrl = Annotated[str, Field(max_length=2048), AfterValidator(_web_url)]
Country = Annotated[str, Field(min_length=1, max_length=64, description="the country's name, e.g. India")]
Currency = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. INR")]


class HostCreate(StrictModel):
    name: Name
    email: Email
    timezone: TimezoneName = "UTC"
    working_hours: WorkingHours = Field(
        default_factory=dict,
        description="Empty: Monday to Friday 09:00-17:00 in `timezone`; otherwise exactly the days given",
    )
    date_overrides: DateOverrides = Field(default_factory=dict, description="`[]` is a day off")
    user_slug: UserSlug | None = None
    phone: Phone | None = Field(None, description="international form (`+919876543210`), stored as E.164")
    profile_pic_url: PictureUrl | None = None
    country: Country | None = None
    currency: Currency | None = None
    is_deactivated: StrictBool = False


class HostUpdate(StrictModel):
    name: Name | None = None
    email: Email | None = None
    timezone: TimezoneName | None = None
    working_hours: WorkingHours | None = None
    date_overrides: DateOverrides | None = None
    # Profile: null clears a field.
    user_slug: UserSlug | None = None
    phone: Phone | None = None
    profile_pic_url: PictureUrl | None = None
    country: Country | None = None
    currency: Currency | None = None
    is_deactivated: StrictBool | None = None


class HostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    number: int
    name: str
    email: str
    timezone: str
    working_hours: dict[str, list[TimeRange]]
    date_overrides: dict[str, list[TimeRange]]
    user_slug: str | None
    phone: str | None
    dial_code: str | None = Field(description="the phone's country calling code, e.g. +91")
    profile_pic_url: str | None
    country: str | None
    currency: str | None
    is_deactivated: bool
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class ContactCreate(StrictModel):
    email: Email | None = None
    phone: Phone | None = None
    first_name: Annotated[str, Field(max_length=255)] = ""
    last_name: Annotated[str, Field(max_length=255)] = ""

    @model_validator(mode="after")
    def _reachable(self):
        if self.email is None and self.phone is None:
            raise ValueError("give an email or a phone")
        return self


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    number: int
    email: str | None
    phone: str | None
    first_name: str
    last_name: str
    created_at: UtcTimestamp


RecurringType = Literal["ONETIME", "DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "HALFYEARLY", "YEARLY"]


class ProductCreate(StrictModel):
    title: Name
    price: Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)] = Decimal(0)
    description: Annotated[str, Field(max_length=10_000)] = ""
    recurring_type: RecurringType = "ONETIME"
    no_of_days: Annotated[int | None, Field(ge=0, le=36_600)] = None
    affiliate_enabled: StrictBool = False

    @field_validator("recurring_type", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    creator_id: UUID
    title: str
    price: float
    description: str
    recurring_type: str
    no_of_days: int | None
    affiliate_enabled: bool
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class SubscriberAdd(StrictModel):
    contact_id: UUID
