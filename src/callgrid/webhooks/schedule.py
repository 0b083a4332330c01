"""The retry schedule and Retry-After."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Parsed where the setting is validated, so that config imports nothing of the domain.
from callgrid.config import parse_schedule as parse_schedule


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(steps: tuple[float, ...], failed: int, retry_after: float | None) -> float | None:
    """Delay before the next attempt after `failed` failed ones (since the last reset); None when the schedule is spent.

    `Retry-After` is honoured up to the next step's length: the wait is the smaller of the two.
    """
    if failed >= len(steps):
        return None
    step = steps[failed]
    if retry_after is None:
        return step
    return min(retry_after, step)
