"""Timestamps as Callgrid writes them, in every API, event and page: UTC, milliseconds, `Z`
(`2025-06-01T04:30:00.000Z`)."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def utc_millis(value: datetime) -> str:
    """`2025-06-01T04:30:00.000Z` (`isoformat` is C: a year-long report writes thousands)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


# The one form; the name the appointments API and the webhook envelopes used.
utc_iso = utc_millis


def _serialize(value: datetime) -> str:
    # A naive value is UTC already (what every UTCDateTime column hands back is aware).
    return utc_millis(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(_serialize, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2025-06-01T04:30:00.000Z"],
         "description": "UTC, milliseconds, `Z`"},
        mode="serialization",
    ),
]
"""A datetime field of an answer's model: written as `utc_millis` writes it."""
