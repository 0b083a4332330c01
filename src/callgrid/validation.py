"""Field types shared by the APIs: each rejects bad input with a message naming the rule."""

from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field


# Names zoneinfo finds that are no zone of the IANA database: the server's own zone
# (`localtime`), tzcode's template (`posixrules`), `Factory` (no offset at all), and the
# `posix/` and `right/` copies of the database (the latter counting leap seconds).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_DIRECTORIES = ("posix/", "right/")


@lru_cache(maxsize=1)
def iana_zone_names() -> frozenset[str]:
    """The zones (and their links: `Asia/Calcutta`) of the IANA database, from tzdata and the system's."""
    return frozenset(
        name for name in available_timezones() if name not in _NOT_ZONES and not name.startswith(_NOT_ZONE_DIRECTORIES)
    )


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """An IANA zone by name, legacy aliases (`Asia/Calcutta`) included."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        raise ValueError(f"{name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{name!r} is not an IANA time zone name") from None


def _check_zone(name: str) -> str:
    """Every zone a client gives passes here (stored ones are loaded with `zone`)."""
    if name not in iana_zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone name (such as Europe/Berlin or UTC)")
    zone(name)
    return name


def _check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None


def _check_phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number in international form, e.g. +14155550123") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


TimezoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_check_zone)]
Email = Annotated[str, BeforeValidator(_strip), Field(max_length=320), AfterValidator(_check_email)]
Phone = Annotated[str, BeforeValidator(_strip), Field(max_length=32), AfterValidator(_check_phone)]
