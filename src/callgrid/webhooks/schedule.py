"""The retry schedule and Retry-After."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_schedule(value: str) -> tuple[float, ...]:
    """`"0,5,300"` -> (0.0, 5.0, 300.0): the delay before each attempt, in seconds."""
    try:
        steps = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError("the webhook retry schedule is comma-separated seconds, e.g. 0,5,300") from None
    if not steps:
        raise ValueError("the webhook retry schedule needs at least one delay")
    if any(step < 0 or step != step or step == float("inf") for step in steps):
        raise ValueError("webhook retry delays are finite and not negative")
    return steps


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
