"""Which of the hosts free for a slot gets the booking. Pure: the caller says who is free."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


_PRIORITY_RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


@dataclass(frozen=True, slots=True)
class HostCandidate:
    """
    A host free for the slot. `last_booked_at` is when this host's latest booking of this
    event type was made (its creation, not its start); None when it was never booked.
    """

    id: Hashable
    number: int
    priority: Priority = Priority.MEDIUM
    last_booked_at: datetime | None = None


def rank_hosts(candidates: Iterable[HostCandidate]) -> list[HostCandidate]:
    """
    Best first: highest priority, then the host booked longest ago (never booked before
    any booked), then the lowest number. A booking that loses its host to a concurrent one
    can try the next.
    """
    return sorted(
        candidates,
        key=lambda host: (
            _PRIORITY_RANK[Priority(host.priority)],
            host.last_booked_at is not None,
            host.last_booked_at or datetime.min,
            host.number,
        ),
    )


def choose_host(candidates: Iterable[HostCandidate]) -> HostCandidate | None:
    ranked = rank_hosts(candidates)
    return ranked[0] if ranked else None
