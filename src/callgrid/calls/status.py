from datetime import datetime
from enum import StrEnum

from callgrid.calls.models import StoredStatus


class CallStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


def call_status(stored: str, starts_at: datetime, ends_at: datetime, now: datetime, *, live: bool = False) -> CallStatus:
    """`scheduled` until it starts, `active` while now is within it or someone is in its room,
    `completed` after it ends or once its room is terminated, `cancelled` when cancelled."""
    if stored == StoredStatus.CANCELLED:
        return CallStatus.CANCELLED
    if stored == StoredStatus.COMPLETED:
        return CallStatus.COMPLETED
    if live or starts_at <= now < ends_at:
        return CallStatus.ACTIVE
    if now >= ends_at:
        return CallStatus.COMPLETED
    return CallStatus.SCHEDULED
