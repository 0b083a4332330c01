"""Event types, the envelope, and `emit`: how a change puts an event in the outbox."""

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from callgrid.db.base import new_id, utcnow
from callgrid.webhooks.models import WebhookEvent
from callgrid.webhooks.notify import notifier

EVENT_TYPES: tuple[str, ...] = (
    "video_call.created",
    "video_call.updated",
    "video_call.cancelled",
    "appointment.created",
    "appointment.updated",
    "appointment.cancelled",
    "appointment.participants_added",
    "appointment.participants_removed",
    "ping",
)

_EMITTED = "callgrid.webhooks.emitted"


def _default(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
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
    event_type: str,
    data: dict,
    *,
    endpoint_id: UUID | None = None,
) -> None:
    """Put an event in the outbox, in the caller's transaction.

    Adds one row to the session (no flush, no commit: it is written with the change when the
    request's session commits, and vanishes with it on rollback). Endpoints are matched later
    by the worker, so this stays one INSERT on the hot path. `data` is the resource as its
    own API renders it (datetimes, UUIDs, enums and decimals are turned into JSON strings).
    `endpoint_id` restricts the event to one endpoint (used for `ping`).
    """
    add_event(session, organization_id, event_type, data, endpoint_id=endpoint_id)


def add_event(
    session: AsyncSession, organization_id: UUID, event_type: str, data: dict, *, endpoint_id: UUID | None = None
) -> UUID:
    """`emit`, returning the new event's id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; add it to EVENT_TYPES and document it")
    event_id = new_id()
    session.add(
        WebhookEvent(
            id=event_id,
            organization_id=organization_id,
            type=event_type,
            payload=dumps(data),
            endpoint_id=endpoint_id,
            created_at=utcnow(),
        )
    )
    wake_after_commit(session)
    return event_id


def wake_after_commit(session: AsyncSession) -> None:
    """Wake this process's delivery worker when `session` commits."""
    session.sync_session.info[_EMITTED] = True


def envelope(event_id: UUID, event_type: str, created_at: datetime, payload: str) -> str:
    """The body sent: `{"id","type","created_at","data"}`, the same bytes on every retry."""
    head = dumps({"id": str(event_id), "type": event_type, "created_at": created_at.isoformat().replace("+00:00", "Z")})
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
