"""The conflict check: which of a host's calls overlap proposed intervals, and the lock that
makes the check exact. Writes that change one host's calendar take `lock_host_calendar`
before they check: on PostgreSQL a transaction-scoped advisory lock keyed by the host, so
such writes run one after another per host; on SQLite the single writer already serialises
every write. Inside the lock the check sees every committed call of the host, and no other
write for that host can commit between the check and the insert. PostgreSQL's exclusion
constraint on `calls` stays as the last line."""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from uuid import UUID

from sqlalchemy import (
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls.models import Call, StoredStatus
from callgrid.db.base import UTCDateTime
from callgrid.db.sections import advisory_lock_step
from callgrid.errors import Conflict
from callgrid.scheduling import Interval, Overlap, find_overlaps, maximum_overlap

# No call lasts longer than this; it turns "ends after s" into "starts after s - MAX", which
# an index on (host_id, starts_at) answers with a bounded range scan.
MAX_CALL_DURATION = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class BookedCall:
    id: UUID
    title: str
    starts_at: datetime
    ends_at: datetime
    series_id: UUID | None

    @property
    def interval(self) -> Interval:
        return Interval(self.starts_at, self.ends_at)


def _proposals(dialect_name: str):
    """The proposed intervals as a table `(lo, s, e)`: `lo` = start - MAX_CALL_DURATION, `s`
    = start, `e` = end, for a join that probes the (host_id, starts_at) index once per interval.

    They travel as one parameter whatever their number (SQLite: a JSON array read by
    `json_each`; PostgreSQL: three arrays read by `unnest`), so the statement's text is the same
    for one occurrence or 366 and SQLAlchemy compiles it once and caches it. (A VALUES list has
    three bind parameters per interval and is compiled again on every request: for a year-long
    series that compilation was most of the check's time.) The values are given at execution
    (`_proposal_params`), so the statement itself is built once per dialect and shape.
    """
    if dialect_name == "postgresql":
        timestamps = postgresql.ARRAY(UTCDateTime())
        return (
            func.unnest(
                bindparam("proposed_lo", type_=timestamps),
                bindparam("proposed_s", type_=timestamps),
                bindparam("proposed_e", type_=timestamps),
            )
            .table_valued("lo", "s", "e")
            .render_derived(name="proposed")
        )
    # SQLite compares text: each timestamp goes in exactly as the column stores it. `lo` is
    # worked out by SQLite as whole seconds ("... 04:30:00" sorts before the stored
    # "... 04:30:00.000000"), which only widens the index range by that one instant.
    table = func.json_each(bindparam("proposed", type_=String())).table_valued("value").alias("proposed")
    start = func.json_extract(table.c.value, "$[0]")
    return select(
        func.datetime(start, f"-{int(MAX_CALL_DURATION.total_seconds())} seconds").label("lo"),
        start.label("s"),
        func.json_extract(table.c.value, "$[1]").label("e"),
    ).subquery("proposed")


def _proposal_params(dialect_name: str, proposed: Sequence[Interval]) -> dict:
    if dialect_name == "postgresql":
        return {
            "proposed_lo": [p.start - MAX_CALL_DURATION for p in proposed],
            "proposed_s": [p.start for p in proposed],
            "proposed_e": [p.end for p in proposed],
        }
    stored = _stored_form(dialect_name)
    return {"proposed": json.dumps([[stored(p.start), stored(p.end)] for p in proposed])}


_STORED_FORMS: dict[str, Callable[[datetime], str]] = {}


def _stored_form(dialect_name: str) -> Callable[[datetime], str]:
    """How SQLite stores a UTCDateTime: SQLAlchemy's own processor, or the same text made by
    `isoformat` (C, faster by half) once a sample shows the two agree."""
    form = _STORED_FORMS.get(dialect_name)
    if form is None:
        dialect = sqlite.dialect()
        process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)

        def fast(value: datetime) -> str:
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]

        sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
        form = _STORED_FORMS[dialect_name] = fast if process(sample) == fast(sample) else process
    return form


@lru_cache(maxsize=16)
def _overlap_statement(dialect_name: str, exclude_call: bool, exclude_series: bool):
    """The overlap query for one dialect and shape, built once: building it (the derived
    table, its column collections, its cache key) cost more than running it."""
    proposals = _proposals(dialect_name)
    conditions = [
        Call.host_id == bindparam("host_id"),
        Call.starts_at > proposals.c.lo,
        Call.starts_at < proposals.c.e,
        Call.ends_at > proposals.c.s,
        Call.status != StoredStatus.CANCELLED,
        Call.ends_at > bindparam("now"),
    ]
    if exclude_call:
        conditions.append(Call.id != bindparam("exclude_call_id"))
    if exclude_series:
        conditions.append(or_(Call.series_id.is_(None), Call.series_id != bindparam("exclude_series_id")))
    columns = (Call.id, Call.title, Call.starts_at, Call.ends_at, Call.series_id)
    if dialect_name == "postgresql":
        # LATERAL, fenced by OFFSET 0 so that it is not flattened into a plain join: for each
        # proposed interval, one range scan of the (host_id, starts_at) index, whatever plan
        # PostgreSQL picks. A plain join is planned that way while the plan is custom, but after
        # five executions of the prepared statement PostgreSQL may switch to a generic plan that
        # cannot see the arrays' length, guesses 10 rows and joins them against a scan of the
        # host's every call: 400 ms instead of 2 ms for a year-long series.
        found = select(*columns).where(*conditions).offset(literal_column("0")).lateral("found")
        return select(*found.c).distinct().select_from(proposals).join(found, true())
    # SQLite probes the index once per json_each row with the plain join.
    return select(*columns).distinct().select_from(proposals).join(Call, and_(*conditions))


def overlap_step(
    dialect_name: str,
    host_id: UUID,
    proposed: Sequence[Interval],
    *,
    now: datetime,
    exclude_call_id: UUID | None = None,
    exclude_series_id: UUID | None = None,
) -> tuple:
    """The overlap query and its parameters, as a write section's step (or for `execute`)."""
    statement = _overlap_statement(dialect_name, exclude_call_id is not None, exclude_series_id is not None)
    params = _proposal_params(dialect_name, proposed)
    params.update(host_id=host_id, now=now)
    if exclude_call_id is not None:
        params["exclude_call_id"] = exclude_call_id
    if exclude_series_id is not None:
        params["exclude_series_id"] = exclude_series_id
    return statement, params


def booked(rows) -> list[BookedCall]:
    return sorted((BookedCall(*row) for row in rows), key=lambda c: (c.starts_at, c.id))


async def overlapping_calls(
    session: AsyncSession,
    host_id: UUID,
    proposed: Sequence[Interval],
    *,
    now: datetime,
    exclude_call_id: UUID | None = None,
    exclude_series_id: UUID | None = None,
) -> list[BookedCall]:
    """The host's non-cancelled, not yet ended calls that overlap any proposed interval."""
    if not proposed:
        return []
    statement, params = overlap_step(
        session.get_bind().dialect.name, host_id, proposed, now=now,
        exclude_call_id=exclude_call_id, exclude_series_id=exclude_series_id,
    )
    return booked((await session.execute(statement, params)).all())


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


async def check_conflicts(
    session: AsyncSession,
    host_id: UUID,
    proposed: Sequence[Interval],
    *,
    now: datetime,
    exclude_call_id: UUID | None = None,
    exclude_series_id: UUID | None = None,
) -> ConflictReport:
    existing = await overlapping_calls(
        session, host_id, proposed, now=now, exclude_call_id=exclude_call_id, exclude_series_id=exclude_series_id
    )
    return _report(proposed, existing)


def _report(proposed: Sequence[Interval], existing: Sequence[BookedCall]) -> ConflictReport:
    return ConflictReport(proposed, existing, find_overlaps(proposed, [call.interval for call in existing]))


def report_from_rows(proposed: Sequence[Interval], rows) -> ConflictReport:
    """The report for rows of the overlap query (run as a write section's step)."""
    return _report(proposed, booked(rows))


def host_lock_key(host_id: UUID) -> int:
    """The advisory lock's key: the host id's last 64 bits (random in a UUIDv7), signed. Two
    hosts sharing a key would only wait for each other, never overlap."""
    return int.from_bytes(host_id.bytes[8:], "big", signed=True)


def lock_host_calendar_step(dialect_name: str, host_id: UUID) -> tuple | None:
    """The lock as a write section's step; None where the single writer already serialises."""
    if dialect_name != "postgresql":
        return None
    return advisory_lock_step(host_lock_key(host_id))


async def lock_host_calendar(session: AsyncSession, host_id: UUID | None) -> None:
    """Serialise this transaction's changes to the host's calendar with every other's, until
    it ends. Must come before the conflict check it protects."""
    if host_id is None:
        return
    step = lock_host_calendar_step(session.get_bind().dialect.name, host_id)
    if step is not None:
        await session.execute(*step)
