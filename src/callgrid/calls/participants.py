"""Participants of a call: who takes part, with which role. Changes are all or nothing.

The core reports what is wrong (`ParticipantError.reason`, the item's place in the list);
each API words it in its own terms."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls.models import Call, Participant
from callgrid.db.errors import is_unique_violation
from callgrid.errors import BadRequest


@dataclass(frozen=True)
class NewParticipant:
    unique_id: str
    role: str
    display_name: str | None = None


class Problem(StrEnum):
    REPEATED = "repeated"  # the same item twice in one list
    ALREADY_PRESENT = "already_present"
    NOT_PRESENT = "not_present"
    TOO_MANY = "too_many"
    TOO_FEW = "too_few"
    CHANGED_MEANWHILE = "changed_meanwhile"  # a concurrent request changed the same participants


class ParticipantError(BadRequest):
    """A refused change. `index` is the offending item's place in the list (when one item is
    to blame), `attribute` its field, `first` where a repeated value was first seen, `counts`
    (current, asked) for the limits."""

    def __init__(
        self,
        problem: Problem,
        *,
        value: object = None,
        index: int | None = None,
        attribute: str | None = None,
        first: int | None = None,
        limit: int | None = None,
        counts: tuple[int, int] | None = None,
    ):
        field = f"[{index}].{attribute}" if index is not None else (attribute or "body")
        super().__init__(problem.value, field=field)
        self.problem = problem
        self.value = value
        self.index = index
        self.attribute = attribute
        self.first = first
        self.limit = limit
        self.counts = counts


def _first_repeat(values: Sequence) -> tuple[int, int] | None:
    """(index of the first value seen before, index where it was first seen), or None."""
    seen: dict = {}
    for index, value in enumerate(values):
        if value in seen:
            return index, seen[value]
        seen[value] = index
    return None


async def add(
    session: AsyncSession, call: Call, new: Sequence[NewParticipant], *, now: datetime, max_total: int | None = None
) -> list[Participant]:
    """Add participants, all or none: a `unique_id` repeated in `new`, or already taking part
    in the call, is refused and nothing is added."""
    repeat = _first_repeat([p.unique_id for p in new])
    if repeat is not None:
        index, first = repeat
        raise ParticipantError(Problem.REPEATED, value=new[index].unique_id, index=index, attribute="unique_id", first=first)
    present = await present_unique_ids(session, call.id, [p.unique_id for p in new])
    for index, participant in enumerate(new):
        if participant.unique_id in present:
            raise ParticipantError(Problem.ALREADY_PRESENT, value=participant.unique_id, index=index, attribute="unique_id")
    if max_total is not None:
        current = await count(session, call.id)
        if current + len(new) > max_total:
            raise ParticipantError(Problem.TOO_MANY, limit=max_total, counts=(current, len(new)))
    rows = [
        Participant(
            organization_id=call.organization_id,
            call_id=call.id,
            unique_id=p.unique_id,
            display_name=p.display_name,
            role=p.role,
            created_at=now,
            updated_at=now,
        )
        for p in new
    ]
    session.add_all(rows)
    call.updated_at = now
    try:
        await session.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        await session.rollback()
        raise ParticipantError(Problem.CHANGED_MEANWHILE, attribute="unique_id") from None
    return rows


async def remove(
    session: AsyncSession, call: Call, participant_ids: Sequence[UUID], *, now: datetime, keep_at_least: int = 0
) -> int:
    """Remove participants, all or none: an id repeated in the list, or not a participant of
    this call, is refused and nothing is removed. Returns how many it removed."""
    repeat = _first_repeat(participant_ids)
    if repeat is not None:
        index, first = repeat
        raise ParticipantError(Problem.REPEATED, value=participant_ids[index], index=index, attribute="id", first=first)
    present = await present_participant_ids(session, call.id, participant_ids)
    for index, participant_id in enumerate(participant_ids):
        if participant_id not in present:
            raise ParticipantError(Problem.NOT_PRESENT, value=participant_id, index=index, attribute="id")
    current = await count(session, call.id)
    if current - len(participant_ids) < keep_at_least:
        raise ParticipantError(Problem.TOO_FEW, limit=keep_at_least, counts=(current, len(participant_ids)))
    removed = await delete_participants(session, call.id, participant_ids)
    if removed != len(participant_ids):
        # Gone meanwhile (a concurrent removal): refuse the whole request, as if checked first.
        await session.rollback()
        raise ParticipantError(Problem.CHANGED_MEANWHILE)
    call.updated_at = now
    await session.flush()
    return removed


_UNSET = object()


async def update(
    session: AsyncSession,
    call: Call,
    participant: Participant,
    *,
    now: datetime,
    display_name: str | None | object = _UNSET,
    role: str | None = None,
) -> bool:
    """Rename a participant or change their role; False when nothing changed."""
    changed = False
    if display_name is not _UNSET and display_name != participant.display_name:
        participant.display_name = display_name
        changed = True
    if role is not None and role != participant.role:
        participant.role = role
        changed = True
    if changed:
        participant.updated_at = now
        call.updated_at = now
        await session.flush()
    return changed


# Queries -----------------------------------------------------------------------------------

def call_participants(organization_id: UUID, call_id: UUID):
    """The call's participants in the order they were added."""
    return (
        select(Participant)
        .where(Participant.organization_id == organization_id, Participant.call_id == call_id)
        .order_by(Participant.created_at, Participant.id)
    )


async def list_participants(session: AsyncSession, organization_id: UUID, call_id: UUID) -> list[Participant]:
    return list((await session.execute(call_participants(organization_id, call_id))).scalars().all())


async def get_participant(
    session: AsyncSession, organization_id: UUID, call_id: UUID, participant_id: UUID
) -> Participant | None:
    statement = select(Participant).where(
        Participant.id == participant_id,
        Participant.call_id == call_id,
        Participant.organization_id == organization_id,
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def count(session: AsyncSession, call_id: UUID) -> int:
    statement = select(func.count(Participant.id)).where(Participant.call_id == call_id)
    return (await session.execute(statement)).scalar_one()


async def present_unique_ids(session: AsyncSession, call_id: UUID, unique_ids: Sequence[str]) -> set[str]:
    """Which of `unique_ids` already take part in the call."""
    if not unique_ids:
        return set()
    statement = select(Participant.unique_id).where(
        Participant.call_id == call_id, Participant.unique_id.in_(unique_ids)
    )
    return set((await session.execute(statement)).scalars().all())


async def present_participant_ids(session: AsyncSession, call_id: UUID, participant_ids: Sequence[UUID]) -> set[UUID]:
    """Which of `participant_ids` are participants of the call."""
    if not participant_ids:
        return set()
    statement = select(Participant.id).where(Participant.call_id == call_id, Participant.id.in_(participant_ids))
    return set((await session.execute(statement)).scalars().all())


async def delete_participants(session: AsyncSession, call_id: UUID, participant_ids: Sequence[UUID]) -> int:
    """Delete those of `participant_ids` that belong to the call; returns how many it deleted."""
    statement = (
        delete(Participant)
        .where(Participant.call_id == call_id, Participant.id.in_(participant_ids))
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).rowcount
