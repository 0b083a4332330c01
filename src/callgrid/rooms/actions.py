"""Changes committed by requests that the live rooms must act on: a room terminated, a member
removed, a maximum changed. A service queues them on its session (`after_commit`); once the
session commits they are handed to every live-rooms runtime of the process (each acts on its
own sockets, and with Redis tells the other processes). A rollback drops them."""

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_PENDING = "callgrid.rooms.after_commit"
_listeners: set[Callable[[list[tuple]], None]] = set()


def after_commit(session: AsyncSession, action: tuple) -> None:
    """`("end", room_id, reason)`, `("kick", room_id, user_id)` or `("limits", room_id, max_seconds)`."""
    session.sync_session.info.setdefault(_PENDING, []).append(action)


def listen(listener: Callable[[list[tuple]], None]) -> None:
    _listeners.add(listener)


def unlisten(listener: Callable[[list[tuple]], None]) -> None:
    _listeners.discard(listener)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    actions = session.info.pop(_PENDING, None)
    if actions:
        for listener in list(_listeners):
            listener(actions)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous) -> None:
    session.info.pop(_PENDING, None)
