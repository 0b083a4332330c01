"""Scheduling calls for hosts: the one place that creates, moves and cancels them.

Every function here runs inside the request's write section (a `WriteSession`): the host's
calendar lock, the conflict check, the writes. What can be worked out before it (the
intervals of a series, the rows to insert) is worked out by the caller or by the pure
helpers below, before the write section begins.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import repository
from callgrid.calls.conflicts import (
    MAX_CALL_DURATION,
    BookedCall,
    ConflictReport,
    OverlapConflict,
    check_conflicts,
    lock_host_calendar,
    lock_host_calendar_step,
    overlap_step,
    overlapping_calls,
    report_from_rows,
)
from callgrid.calls.models import Call, Series, StoredStatus
from callgrid.calls.status import CallStatus, call_status
from callgrid.db.base import new_id
from callgrid.db.errors import is_exclusion_violation
from callgrid.db.sections import Guarded, Section, Step, run_section
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import Frequency, Interval, Schedule, ScheduleError, expand, find_overlaps

_CALLS = Call.__table__
_SERIES = Series.__table__


def expand_schedule(schedule: Schedule) -> list[Interval]:
    try:
        return expand(schedule)
    except ScheduleError as exc:
        raise BadRequest(exc.rule, field=exc.field) from None


def check_new_intervals(intervals: Sequence[Interval], now: datetime) -> None:
    if intervals[0].start <= now:
        raise BadRequest("the first occurrence has already started; choose a time in the future", field="start_date")
    if intervals[0].end - intervals[0].start > MAX_CALL_DURATION:
        raise BadRequest("a call lasts at most 24 hours", field="duration")


@dataclass(frozen=True)
class CallPlan:
    """Calls to create, decided before the write section: who, what, when."""

    organization_id: UUID
    host_id: UUID | None
    kind: str
    title: str
    schedule: Schedule
    intervals: Sequence[Interval]
    allow_overlap: bool = False
    product_id: UUID | None = None
    config: dict | None = None
    created_by_host_id: UUID | None = None  # an appointment's host, for who sees it (it has no host_id)


def plan_calls(
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
    created_by_host_id: UUID | None = None,
) -> CallPlan:
    """Expand `schedule` and check it can be booked at all (pure; no database)."""
    intervals = expand_schedule(schedule)
    check_new_intervals(intervals, now)
    return CallPlan(
        organization_id, host_id, kind, title, schedule, intervals, allow_overlap, product_id, config, created_by_host_id
    )


class Written(SimpleNamespace):
    """A row about to be written (or written), its values as attributes: what rendering
    needs, without the cost of an ORM object per occurrence of a year-long series."""


@dataclass
class Scheduled:
    """Calls about to be written (or written): their rows, made before the write section, and
    the same as attributes (`Written`) for rendering."""

    calls: list[Written]
    series: Written | None
    call_rows: list[dict] = field(repr=False)
    series_row: dict | None = field(default=None, repr=False)


def prepare(plan: CallPlan, now: datetime) -> Scheduled:
    """The rows `plan` will write, ids included (pure: no database)."""
    schedule = plan.schedule
    series_row = None
    if schedule.end_date is not None:
        series_row = {
            "id": new_id(),
            "organization_id": plan.organization_id,
            "host_id": plan.host_id,
            "frequency": schedule.frequency.value,
            "weekdays": sorted(schedule.weekdays) if schedule.weekdays else None,
            "local_start": schedule.local_start.strftime("%H:%M"),
            "duration_minutes": int(schedule.duration.total_seconds() // 60),
            "timezone": schedule.timezone.key,
            "start_date": schedule.start_date,
            "end_date": schedule.end_date,
            "created_at": now,
            "updated_at": now,
        }
    common = {
        "organization_id": plan.organization_id,
        "host_id": plan.host_id,
        "kind": plan.kind,
        "title": plan.title,
        "timezone": schedule.timezone.key,
        "status": StoredStatus.SCHEDULED.value,
        "cancelled_at": None,
        "allow_overlap": plan.allow_overlap,
        "series_id": series_row["id"] if series_row else None,
        "product_id": plan.product_id,
        "config": plan.config,
        "created_by_host_id": plan.created_by_host_id,
        "created_at": now,
        "updated_at": now,
    }
    call_rows = [{"id": new_id(), "starts_at": i.start, "ends_at": i.end, **common} for i in plan.intervals]
    return Scheduled(
        calls=[Written(**row) for row in call_rows],
        series=Written(**series_row) if series_row is not None else None,
        call_rows=call_rows,
        series_row=series_row,
    )


_INSERT_SERIES = insert(_SERIES)
_INSERT_CALLS = insert(_CALLS)


def _booking(dialect: str, plan: CallPlan, scheduled: Scheduled, extra: Sequence[Step], now: datetime) -> Section[None]:
    """The write section of a booking: the host's lock, then the writes (the inserts, `extra`:
    the outbox rows), guarded by the exact check unless the plan allows overlap."""
    writes = [*([(_INSERT_SERIES, [scheduled.series_row])] if scheduled.series_row is not None else ()),
              (_INSERT_CALLS, scheduled.call_rows), *extra]
    lock = lock_host_calendar_step(dialect, plan.host_id) if plan.host_id is not None else None
    if lock is not None:
        yield lock
    if plan.host_id is None or plan.allow_overlap:
        for step in writes:
            yield step
        return
    rows = yield Guarded(overlap_step(dialect, plan.host_id, plan.intervals, now=now), writes, last=True)
    if rows:  # nothing was written
        raise OverlapConflict(report_from_rows(plan.intervals, rows))


async def schedule_calls(
    session: AsyncSession,
    plan: CallPlan,
    *,
    now: datetime,
    prepared: Scheduled | None = None,
    extra: Sequence[Step] = (),
    after_commit: Callable[[], None] | None = None,
) -> Scheduled:
    """Write the planned calls (`prepared`: their rows, made beforehand), refusing any overlap
    with the host's upcoming calls unless the plan allows it; `extra` statements (the outbox
    rows) go in the same transaction. Nothing is written when it refuses."""
    scheduled = prepared or prepare(plan, now)
    dialect = session.bind.dialect.name
    try:
        await run_section(session, _booking(dialect, plan, scheduled, extra, now), after_commit=after_commit)
    except IntegrityError as exc:
        # The constraint, the last line, refused what the check let through: say who won.
        if plan.host_id is None or not is_exclusion_violation(exc):
            raise
        await session.rollback()
        raise OverlapConflict(await check_conflicts(session, plan.host_id, plan.intervals, now=now)) from None
    return scheduled


def ensure_changeable(call: Call, now: datetime) -> None:
    status = call_status(call.status, call.starts_at, call.ends_at, now)
    if status is not CallStatus.SCHEDULED:
        raise Conflict(f"the call is {status.value} and can no longer be changed", field="status")


async def _flush_or_conflict(session: AsyncSession, call: Call, now: datetime) -> None:
    # Read before the flush: after a refused flush the session is rolled back and the call's
    # attributes cannot be loaded any more.
    host_id, call_id, proposed = call.host_id, call.id, [Interval(call.starts_at, call.ends_at)]
    try:
        await session.flush()
    except IntegrityError as exc:
        if host_id is None or not is_exclusion_violation(exc):
            raise
        await session.rollback()
        raise OverlapConflict(await check_conflicts(session, host_id, proposed, now=now, exclude_call_id=call_id)) from None


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
        check_new_intervals([interval], now)
    # Checked when the call moves, and when it stops being allowed to overlap where it is.
    if call.host_id is not None and not call.allow_overlap and (moved or overlap_was_allowed):
        await lock_host_calendar(session, call.host_id)
        target = interval if moved else Interval(call.starts_at, call.ends_at)
        report = await check_conflicts(session, call.host_id, [target], now=now, exclude_call_id=call.id)
        if report.overlaps:
            raise OverlapConflict(report)
    elif moved:
        # Moving a call that may overlap still changes the host's calendar: it waits for the
        # writes in flight, so theirs see it where it lands.
        await lock_host_calendar(session, call.host_id)
    if moved:
        call.starts_at, call.ends_at = interval.start, interval.end
    if title is not None:
        call.title = title
    if timezone is not None:
        call.timezone = timezone
    if config is not None:
        call.config = config
    call.updated_at = now
    await _flush_or_conflict(session, call, now)
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


async def end_call(session: AsyncSession, call: Call, *, now: datetime) -> None:
    """End an active call now, before its planned end: it reads as `completed` from now on
    (its planned times are kept). A call that is not active cannot be ended."""
    status = call_status(call.status, call.starts_at, call.ends_at, now)
    if status is not CallStatus.ACTIVE:
        raise Conflict(f"the call is {status.value}; only an active call can be ended", field="status")
    call.status = StoredStatus.COMPLETED
    call.updated_at = now
    await session.flush()


async def cancel_series(
    session: AsyncSession, organization_id: UUID, series_id: UUID, *, now: datetime, host_id: UUID | None = None
) -> list[Call]:
    """Cancel every occurrence of the series that has not started; returns those it cancelled.
    With `host_id` (a key acting as one host), another host's series reads as missing."""
    calls = await repository.series_calls(session, organization_id, series_id, host_id, for_update=True)
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


# --- changing a series from a date on -----------------------------------------------------


UNCHANGED = object()


@dataclass(frozen=True)
class SeriesChange:
    """What changes in a series, for its occurrences on or after `from_date` (a local date in
    the series' time zone; None: from its first). A field left None (`weekdays`: `UNCHANGED`)
    keeps the series' own; `weekdays=None` makes it daily."""

    from_date: date | None = None
    title: str | None = None
    local_start: time | None = None
    duration: timedelta | None = None
    timezone: ZoneInfo | None = None
    weekdays: object = UNCHANGED  # frozenset[int] | None
    end_date: date | None = None
    allow_overlap: bool | None = None


@dataclass
class SeriesChanged:
    """A series after a change: its row, and its occurrences from `from_date` on by what befell them."""

    series: Series
    from_date: date
    moved: list[Call]  # changed in place (time, title): same ids, rooms and participants
    created: list[Written]  # new occurrences (days the series did not have), already inserted
    cancelled: list[Call]  # occurrences on days the series no longer has
    kept: list[Call]  # from `from_date` on but left alone: started, or cancelled before
    product_id: UUID | None = None
    upcoming: list = field(default_factory=list)  # every occurrence from `from_date` on that is not cancelled, in order


def _local_date(call: Call) -> date:
    return call.starts_at.astimezone(ZoneInfo(call.timezone)).date()


async def change_series(
    session: AsyncSession,
    organization_id: UUID,
    series_id: UUID,
    change: SeriesChange,
    *,
    now: datetime,
    host_id: UUID | None = None,
) -> SeriesChanged:
    """Change a series' title, time, duration, days or end from a date on, as one booking: the
    host's lock, the check of every new or moved occurrence against the host's other calls (and
    the series' occurrences left as they are), the writes. Occurrences that have started, and
    those cancelled one by one, are left as they are; new ones are only made in the future. The
    new rule expands on local wall time like a create. Nothing is written when it refuses
    (`OverlapConflict`, `BadRequest`)."""
    series = (
        await session.execute(select(Series).where(Series.id == series_id, Series.organization_id == organization_id))
    ).scalar_one_or_none()
    if series is None or (host_id is not None and series.host_id != host_id):
        raise NotFound(f"no series with id {series_id}", field="group_id")
    # The lock first: the occurrences and the host's calendar are read inside it.
    await lock_host_calendar(session, series.host_id)
    calls = list(await repository.series_calls(session, organization_id, series_id, for_update=True))
    if not calls:
        raise NotFound(f"no series with id {series_id}", field="group_id")

    tz = change.timezone or ZoneInfo(series.timezone)
    local_start = change.local_start or time.fromisoformat(series.local_start)
    duration = change.duration or timedelta(minutes=series.duration_minutes)
    weekdays = (frozenset(series.weekdays) if series.weekdays is not None else None) if change.weekdays is UNCHANGED else change.weekdays
    end_date = change.end_date or series.end_date
    from_date = max(change.from_date or series.start_date, series.start_date)

    affected = [c for c in calls if _local_date(c) >= from_date]
    mutable = [c for c in affected if c.status == StoredStatus.SCHEDULED and c.starts_at > now]
    kept = [c for c in affected if c not in mutable]
    started_days = {_local_date(c) for c in kept if c.status != StoredStatus.CANCELLED}
    cancelled_days = {_local_date(c) for c in kept if c.status == StoredStatus.CANCELLED}
    old_weekdays = frozenset(series.weekdays) if series.weekdays is not None else None

    def in_old_rule(day: date) -> bool:
        return day <= series.end_date and (old_weekdays is None or day.weekday() in old_weekdays)
    unaffected = [c for c in calls if c not in affected]
    allow_overlap = change.allow_overlap if change.allow_overlap is not None else calls[0].allow_overlap
    product_id = calls[0].product_id

    moves: list[tuple[Call, Interval]] = []
    new_intervals: list[Interval] = []
    reschedule = (
        change.local_start is not None or change.duration is not None or change.timezone is not None
        or change.weekdays is not UNCHANGED or change.end_date is not None
    )
    if not reschedule:
        # A new title (or overlap rule) alone: every occurrence stays where it is, even one moved on its own.
        moves = [(call, Interval(call.starts_at, call.ends_at)) for call in mutable]
    else:
        if end_date < from_date:
            raise BadRequest("must not be before the date the change starts from", field="end_date")
        new_days = expand_schedule(Schedule(from_date, local_start, duration, tz, end_date, weekdays))
        if new_days[0].end - new_days[0].start > MAX_CALL_DURATION:
            raise BadRequest("a call lasts at most 24 hours", field="duration")
        plan_by_day: dict[date, Interval] = {}
        for interval in new_days:
            plan_by_day.setdefault(interval.start.astimezone(tz).date(), interval)
        by_day: dict[date, Call] = {}
        for call in mutable:
            by_day.setdefault(_local_date(call), call)
        for day, interval in sorted(plan_by_day.items()):
            if day in started_days or interval.start <= now:
                continue  # started: left alone; the past gets nothing new
            if day in cancelled_days and in_old_rule(day):
                continue  # a day the series had, cancelled on its own: stays cancelled
            existing = by_day.pop(day, None)
            if existing is not None:
                moves.append((existing, interval))
            else:
                new_intervals.append(interval)
    moving = {call.id for call, _ in moves}
    to_cancel = [c for c in mutable if c.id not in moving]

    proposed = sorted([interval for _, interval in moves] + new_intervals, key=lambda i: (i.start, i.end))
    if proposed and not allow_overlap:
        others = await overlapping_calls(session, series.host_id, proposed, now=now, exclude_series_id=series.id)
        own = [
            BookedCall(c.id, c.title, c.starts_at, c.ends_at, c.series_id)
            for c in unaffected + kept
            if c.status != StoredStatus.CANCELLED and c.ends_at > now
        ]
        existing = sorted(others + own, key=lambda c: (c.starts_at, c.id))
        report = ConflictReport(proposed, existing, find_overlaps(proposed, [c.interval for c in existing]))
        if report.overlaps:
            raise OverlapConflict(report)

    for call in to_cancel:
        call.status = StoredStatus.CANCELLED
        call.cancelled_at = now
        call.updated_at = now
    moved = []
    for call, interval in moves:
        title = change.title or call.title
        timezone = tz.key if reschedule else call.timezone
        if (call.starts_at, call.ends_at, call.title, call.timezone, call.allow_overlap) != (
            interval.start, interval.end, title, timezone, allow_overlap
        ):
            call.starts_at, call.ends_at, call.title, call.timezone = interval.start, interval.end, title, timezone
            call.allow_overlap = allow_overlap
            call.updated_at = now
            moved.append(call)
    series.local_start = local_start.strftime("%H:%M")
    series.duration_minutes = int(duration.total_seconds() // 60)
    series.timezone = tz.key
    series.weekdays = sorted(weekdays) if weekdays is not None else None
    series.frequency = (Frequency.WEEKLY if weekdays is not None else Frequency.DAILY).value
    series.end_date = end_date
    series.updated_at = now
    created: list[Written] = []
    try:
        await session.flush()
        if new_intervals:
            common = {
                "organization_id": organization_id, "host_id": series.host_id, "kind": calls[0].kind,
                "title": change.title or calls[-1].title,
                "timezone": tz.key, "status": StoredStatus.SCHEDULED.value, "cancelled_at": None,
                "allow_overlap": allow_overlap, "series_id": series.id, "product_id": product_id,
                "config": calls[0].config, "created_at": now, "updated_at": now,
            }
            rows = [{"id": new_id(), "starts_at": i.start, "ends_at": i.end, **common} for i in new_intervals]
            await session.execute(_INSERT_CALLS, rows)
            created = [Written(**row) for row in rows]
    except IntegrityError as exc:
        # The constraint, the last line, refused what the check let through: say who won.
        if not is_exclusion_violation(exc):
            raise
        await session.rollback()
        raise OverlapConflict(
            await check_conflicts(session, series.host_id, proposed, now=now, exclude_series_id=series.id)
        ) from None
    upcoming = sorted(
        [call for call, _ in moves] + created + [c for c in kept if c.status != StoredStatus.CANCELLED],
        key=lambda c: (c.starts_at, c.id),
    )
    return SeriesChanged(series, from_date, moved, created, to_cancel, kept, product_id, upcoming)
