"""Scheduling calls for hosts: the one place that creates, moves and cancels them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import repository
from callgrid.calls.models import Call, Participant, Series, StoredStatus
from callgrid.calls.repository import MAX_CALL_DURATION, BookedCall
from callgrid.calls.status import CallStatus, call_status
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import Interval, Overlap, Schedule, ScheduleError, expand, find_overlaps, maximum_overlap


@dataclass(frozen=True)
class ConflictReport:
    proposed: Sequence[Interval]
    existing: Sequence[BookedCall]
    overlaps: Sequence[Overlap]

    @property
    def maximum(self) -> int:
        return maximum_overlap(self.overlaps)


class OverlapConflict(Conflict):
    def __init__(self, report: ConflictReport):
        super().__init__(
            f"the proposed time overlaps {len({o.existing for o in report.overlaps}) or 'another'} existing call(s) of this host",
            field="start_date",
        )
        self.report = report


@dataclass
class Scheduled:
    calls: list[Call]
    series: Series | None = None


async def check_conflicts(
    session: AsyncSession,
    host_id: UUID,
    proposed: Sequence[Interval],
    *,
    now: datetime,
    exclude_call_id: UUID | None = None,
    exclude_series_id: UUID | None = None,
) -> ConflictReport:
    existing = await repository.overlapping_calls(
        session, host_id, proposed, now=now, exclude_call_id=exclude_call_id, exclude_series_id=exclude_series_id
    )
    overlaps = find_overlaps(proposed, [call.interval for call in existing])
    return ConflictReport(proposed, existing, overlaps)


def _is_exclusion_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23P01" or "exclusion" in str(exc.orig).lower()


async def _flush_or_conflict(session: AsyncSession, host_id: UUID | None, proposed: Sequence[Interval], now: datetime, **exclude) -> None:
    """Flush; if PostgreSQL's exclusion constraint refuses it (a concurrent request won the
    slot after our check), answer 409 with the calls that won, read in a new transaction."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if host_id is None or not _is_exclusion_violation(exc):
            raise
        await session.rollback()
        raise OverlapConflict(await check_conflicts(session, host_id, proposed, now=now, **exclude)) from None


def expand_schedule(schedule: Schedule) -> list[Interval]:
    try:
        return expand(schedule)
    except ScheduleError as exc:
        raise BadRequest(exc.rule, field=exc.field) from None


def _check_new_intervals(intervals: Sequence[Interval], now: datetime) -> None:
    if intervals[0].start <= now:
        raise BadRequest("the first occurrence has already started; choose a time in the future", field="start_date")
    if intervals[0].end - intervals[0].start > MAX_CALL_DURATION:
        raise BadRequest("a call lasts at most 24 hours", field="duration")


async def schedule_calls(
    session: AsyncSession,
    *,
    organization_id: UUID,
    host_id: UUID | None,
    kind: str,
    title: str,
    schedule: Schedule,
    now: datetime,
    allow_overlap: bool = False,
    product_id: UUID | None = None,
    config: dict | None = None,
) -> Scheduled:
    """Expand `schedule` into calls and insert them, refusing any overlap with the host's
    upcoming calls unless `allow_overlap`. Nothing is written when it refuses."""
    intervals = expand_schedule(schedule)
    _check_new_intervals(intervals, now)
    if host_id is not None and not allow_overlap:
        report = await check_conflicts(session, host_id, intervals, now=now)
        if report.overlaps:
            raise OverlapConflict(report)
    series = None
    if schedule.end_date is not None:
        series = Series(
            organization_id=organization_id,
            host_id=host_id,
            frequency=schedule.frequency.value,
            weekdays=sorted(schedule.weekdays) if schedule.weekdays else None,
            local_start=schedule.local_start.strftime("%H:%M"),
            duration_minutes=int(schedule.duration.total_seconds() // 60),
            timezone=schedule.timezone.key,
            start_date=schedule.start_date,
            end_date=schedule.end_date,
        )
        session.add(series)
        await session.flush()
    calls = [
        Call(
            organization_id=organization_id,
            host_id=host_id,
            kind=kind,
            title=title,
            starts_at=interval.start,
            ends_at=interval.end,
            timezone=schedule.timezone.key,
            status=StoredStatus.SCHEDULED,
            allow_overlap=allow_overlap,
            series_id=series.id if series else None,
            product_id=product_id,
            config=config,
            created_at=now,
            updated_at=now,
        )
        for interval in intervals
    ]
    session.add_all(calls)
    await _flush_or_conflict(session, host_id, intervals, now)
    return Scheduled(calls, series)


async def get_call(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str | None = None) -> Call:
    call = await repository.get_call(session, organization_id, call_id, kind)
    if call is None:
        raise NotFound(f"no call with id {call_id}", field="id")
    return call


def ensure_changeable(call: Call, now: datetime) -> None:
    status = call_status(call.status, call.starts_at, call.ends_at, now)
    if status is not CallStatus.SCHEDULED:
        raise Conflict(f"the call is {status.value} and can no longer be changed", field="status")


async def update_call(
    session: AsyncSession,
    call: Call,
    *,
    now: datetime,
    title: str | None = None,
    interval: Interval | None = None,
    timezone: str | None = None,
    allow_overlap: bool | None = None,
    config: dict | None = None,
) -> Call:
    """Rename or move one call (one occurrence of a series touches that row alone)."""
    ensure_changeable(call, now)
    overlap_was_allowed = call.allow_overlap
    if allow_overlap is not None:
        call.allow_overlap = allow_overlap
    moved = interval is not None and (interval.start, interval.end) != (call.starts_at, call.ends_at)
    if moved:
        _check_new_intervals([interval], now)
    # Checked when the call moves, and when it stops being allowed to overlap where it is
    # (PostgreSQL's exclusion constraint would refuse that too; SQLite has only this check).
    if call.host_id is not None and not call.allow_overlap and (moved or overlap_was_allowed):
        target = interval if moved else Interval(call.starts_at, call.ends_at)
        report = await check_conflicts(session, call.host_id, [target], now=now, exclude_call_id=call.id)
        if report.overlaps:
            raise OverlapConflict(report)
    if moved:
        call.starts_at, call.ends_at = interval.start, interval.end
    if title is not None:
        call.title = title
    if timezone is not None:
        call.timezone = timezone
    if config is not None:
        call.config = config
    call.updated_at = now
    proposed = [Interval(call.starts_at, call.ends_at)]
    await _flush_or_conflict(session, call.host_id, proposed, now, exclude_call_id=call.id)
    return call


async def cancel_call(session: AsyncSession, call: Call, *, now: datetime) -> bool:
    """Cancel one call; False when it already was. A call that has started cannot be cancelled."""
    if call.status == StoredStatus.CANCELLED:
        return False
    ensure_changeable(call, now)
    call.status = StoredStatus.CANCELLED
    call.cancelled_at = now
    call.updated_at = now
    await session.flush()
    return True


async def cancel_series(
    session: AsyncSession, organization_id: UUID, series_id: UUID, *, now: datetime, host_id: UUID | None = None
) -> list[Call]:
    """Cancel every occurrence of the series that has not started; returns those it cancelled.
    With `host_id` (a key acting as one host), another host's series reads as missing."""
    calls = await repository.series_calls(session, organization_id, series_id, host_id)
    if not calls:
        raise NotFound(f"no series with id {series_id}", field="group_id")
    cancelled = []
    for call in calls:
        if call.status == StoredStatus.SCHEDULED and call.starts_at > now:
            call.status = StoredStatus.CANCELLED
            call.cancelled_at = now
            call.updated_at = now
            cancelled.append(call)
    await session.flush()
    return cancelled


# Participants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewParticipant:
    unique_id: str
    role: str
    display_name: str | None = None


class ParticipantError(BadRequest):
    """A bad item in a list of participants: `index` is its place in that list, `attribute`
    the item's offending field (the field reads `[index].attribute`)."""

    def __init__(self, message: str, *, index: int, attribute: str):
        super().__init__(message, field=f"[{index}].{attribute}")
        self.index = index
        self.attribute = attribute


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23505" or "unique constraint" in str(exc.orig).lower()


def _first_repeat(values: Sequence) -> tuple[int, int] | None:
    """(index of the first value seen before, index where it was first seen), or None."""
    seen: dict = {}
    for index, value in enumerate(values):
        if value in seen:
            return index, seen[value]
        seen[value] = index
    return None


async def add_participants(
    session: AsyncSession,
    call: Call,
    new: Sequence[NewParticipant],
    *,
    now: datetime,
    max_total: int | None = None,
    noun: str = "call",
) -> list[Participant]:
    """Add participants to the call, all or none: a `unique_id` repeated in `new`, or already
    taking part in the call, is refused and nothing is added."""
    repeat = _first_repeat([p.unique_id for p in new])
    if repeat is not None:
        index, first = repeat
        raise ParticipantError(
            f"{new[index].unique_id!r} appears more than once in the list (also at [{first}])",
            index=index,
            attribute="unique_id",
        )
    present = await repository.present_unique_ids(session, call.id, [p.unique_id for p in new])
    for index, participant in enumerate(new):
        if participant.unique_id in present:
            raise ParticipantError(
                f"{participant.unique_id!r} is already a participant of this {noun}", index=index, attribute="unique_id"
            )
    if max_total is not None:
        current = await repository.count_participants(session, call.id)
        if current + len(new) > max_total:
            raise BadRequest(
                f"a {noun} has at most {max_total} participants; it has {current} and {len(new)} would be added",
                field="body",
            )
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
        # A concurrent request added one of these unique_ids after our check.
        if not _is_unique_violation(exc):
            raise
        await session.rollback()
        raise BadRequest(
            f"one of these unique_ids was added to the {noun} at the same moment by another request; nothing was added",
            field="unique_id",
        ) from None
    return rows


async def remove_participants(
    session: AsyncSession,
    call: Call,
    participant_ids: Sequence[UUID],
    *,
    now: datetime,
    keep_at_least: int = 0,
    noun: str = "call",
) -> int:
    """Remove participants from the call, all or none: an id repeated in the list, or not a
    participant of this call, is refused and nothing is removed. Returns how many it removed."""
    repeat = _first_repeat(participant_ids)
    if repeat is not None:
        index, first = repeat
        raise ParticipantError(
            f"{participant_ids[index]} appears more than once in the list (also at [{first}])", index=index, attribute="id"
        )
    present = await repository.present_participant_ids(session, call.id, participant_ids)
    for index, participant_id in enumerate(participant_ids):
        if participant_id not in present:
            raise ParticipantError(f"{participant_id} is not a participant of this {noun}", index=index, attribute="id")
    remaining = await repository.count_participants(session, call.id) - len(participant_ids)
    if remaining < keep_at_least:
        raise BadRequest(
            f"a {noun} keeps at least {keep_at_least} participant(s); this would leave {remaining}", field="body"
        )
    removed = await repository.delete_participants(session, call.id, participant_ids)
    if removed != len(participant_ids):
        # Gone meanwhile (a concurrent removal): refuse the whole request, as if checked first.
        await session.rollback()
        raise BadRequest(f"some of these participants were removed from the {noun} at the same moment; nothing was removed", field="body")
    call.updated_at = now
    await session.flush()
    return removed


_UNSET = object()


async def update_participant(
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
