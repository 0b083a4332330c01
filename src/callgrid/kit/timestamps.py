"""Timestamps as the APIs write them: UTC, `Z`."""

from datetime import UTC, datetime


def utc_millis(value: datetime) -> str:
    """`2025-06-01T04:30:00.000Z` (`isoformat` is C: a year-long report writes thousands)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def utc_iso(value: datetime) -> str:
    """`2025-06-01T04:30:00Z`, `2025-06-01T04:30:00.123456Z`: ISO 8601 at the value's own
    precision (the appointments API and webhook envelopes)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
