"""Event types, the envelope, and `emit`: how a change puts an event in the outbox."""

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from uuid import UUID

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from callgrid.db.base import new_id, utcnow
from callgrid.kit.timestamps import utc_millis
from callgrid.webhooks.models import WebhookEvent
from callgrid.webhooks.notify import notifier


class EventType(StrEnum):
    """Every event Callgrid sends. Each has one payload model (the `data` of its envelope),
    listed in `callgrid.events_catalog` and documented in docs/webhooks.md."""

    VIDEO_CALL_CREATED = "video_call.created"
    VIDEO_CALL_UPDATED = "video_call.updated"
    VIDEO_CALL_CANCELLED = "video_call.cancelled"
    APPOINTMENT_CREATED = "appointment.created"
    APPOINTMENT_UPDATED = "appointment.updated"
    APPOINTMENT_CANCELLED = "appointment.cancelled"
    APPOINTMENT_ENDED = "appointment.ended"
    APPOINTMENT_PARTICIPANTS_ADDED = "appointment.participants_added"
    APPOINTMENT_PARTICIPANTS_REMOVED = "appointment.participants_removed"
    EVENT_CALL_CREATED = "event_call.created"
    EVENT_CALL_CANCELLED = "event_call.cancelled"
    EVENT_CALL_RESCHEDULED = "event_call.rescheduled"
    ROOM_SESSION_JOINED = "room.session_joined"
    ROOM_SESSION_LEFT = "room.session_left"
    ROOM_TERMINATED = "room.terminated"
    RECORDING_READY = "recording.ready"
    PING = "ping"


EVENT_TYPES: tuple[str, ...] = tuple(EventType)

_EVENTS = WebhookEvent.__table__
_EMITTED = "callgrid.webhooks.emitted"


def _default(value):
    if isinstance(value, datetime):
        return utc_millis(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a webhook event")


def dumps(value) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)


async def emit(
    session: AsyncSession,
    organization_id: UUID,
    event_type: EventType | str,
    data: dict,
    *,
    endpoint_id: UUID | None = None,
) -> UUID:
    """Put an event in the outbox, in the caller's transaction; returns its id.

    One INSERT in the caller's transaction (no commit: it is written with the change and
    vanishes with it on rollback). Endpoints are matched later by the worker, so this stays
    one statement on the hot path. `data` is the resource as its own API renders it
    (datetimes, UUIDs, enums and decimals become JSON strings). `endpoint_id` restricts the
    event to one endpoint (used for `ping`).
    """
    return (await emit_many(session, organization_id, event_type, [data], endpoint_id=endpoint_id))[0]


async def emit_many(
    session: AsyncSession,
    organization_id: UUID,
    event_type: EventType | str,
    items: Sequence[dict],
    *,
    endpoint_id: UUID | None = None,
) -> list[UUID]:
    """One event of `event_type` per item, in one statement (a series emits one per occurrence)."""
    event_type = EventType(event_type)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "organization_id": organization_id,
            "type": event_type.value,
            "payload": dumps(data),
            "endpoint_id": endpoint_id,
            "created_at": now,
            "dispatched_at": None,
        }
        for data in items
    ]
    if rows:
        await session.execute(insert(_EVENTS), rows)
        wake_after_commit(session)
    return [row["id"] for row in rows]


def wake_after_commit(session: AsyncSession) -> None:
    """Wake this process's delivery worker when `session` commits."""
    session.sync_session.info[_EMITTED] = True


def envelope(event_id: UUID, event_type: str, created_at: datetime, payload: str) -> str:
    """The body sent: `{"id","type","created_at","data"}`, the same bytes on every retry."""
    head = dumps({"id": str(event_id), "type": event_type, "created_at": utc_millis(created_at)})
    return f'{head[:-1]},"data":{payload}}}'


@sa_event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    # A committed change carried events: wake this process's delivery worker now instead of
    # at its next poll.
    if session.info.pop(_EMITTED, False):
        notifier.notify()


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous_transaction) -> None:
    session.info.pop(_EMITTED, None)


_INSERT_EVENTS = insert(_EVENTS)


def outbox_step(organization_id: UUID, event_type: EventType | str, items: Sequence[dict]) -> tuple:
    """`emit_many` as a write section's step: the outbox rows, to be inserted with the change.
    Run the section with `after_commit=events_committed`."""
    event_type = EventType(event_type)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "organization_id": organization_id,
            "type": event_type.value,
            "payload": dumps(data),
            "endpoint_id": None,
            "created_at": now,
            "dispatched_at": None,
        }
        for data in items
    ]
    return _INSERT_EVENTS, rows


def events_committed() -> None:
    """Events were committed by this process: wake its delivery worker now."""
    notifier.notify()
