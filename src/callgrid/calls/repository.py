import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import String, and_, bindparam, delete, func, literal_column, or_, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls.models import Call, Participant, StoredStatus
from callgrid.db.base import UTCDateTime
from callgrid.directory.models import Host, Product, Subscription
from callgrid.scheduling import Interval

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


def _proposal_params(dialect: Dialect, proposed: Sequence[Interval]) -> dict:
    if dialect.name == "postgresql":
        return {
            "proposed_lo": [p.start - MAX_CALL_DURATION for p in proposed],
            "proposed_s": [p.start for p in proposed],
            "proposed_e": [p.end for p in proposed],
        }
    stored = _stored_form(dialect)
    return {"proposed": json.dumps([[stored(p.start), stored(p.end)] for p in proposed])}


_STORED_FORMS: dict[str, Callable[[datetime], str]] = {}


def _stored_form(dialect: Dialect) -> Callable[[datetime], str]:
    """How the dialect stores a UTCDateTime: SQLAlchemy's own processor, or the same text
    made by `isoformat` (C, faster by half) once a sample shows the two agree."""
    form = _STORED_FORMS.get(dialect.name)
    if form is None:
        process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)

        def fast(value: datetime) -> str:
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]

        sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
        form = _STORED_FORMS[dialect.name] = fast if process(sample) == fast(sample) else process
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
    dialect = session.get_bind().dialect
    statement = _overlap_statement(dialect.name, exclude_call_id is not None, exclude_series_id is not None)
    params = _proposal_params(dialect, proposed)
    params.update(host_id=host_id, now=now)
    if exclude_call_id is not None:
        params["exclude_call_id"] = exclude_call_id
    if exclude_series_id is not None:
        params["exclude_series_id"] = exclude_series_id
    rows = (await session.execute(statement, params)).all()
    return sorted((BookedCall(*row) for row in rows), key=lambda c: (c.starts_at, c.id))


async def get_call(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str | None = None) -> Call | None:
    statement = select(Call).where(Call.id == call_id, Call.organization_id == organization_id)
    if kind is not None:
        statement = statement.where(Call.kind == kind)
    return (await session.execute(statement)).scalar_one_or_none()


async def series_calls(
    session: AsyncSession, organization_id: UUID, series_id: UUID, host_id: UUID | None = None
) -> Sequence[Call]:
    """The series' occurrences in start order; with `host_id`, only when they are that host's."""
    statement = (
        select(Call)
        .where(Call.organization_id == organization_id, Call.series_id == series_id)
        .order_by(Call.starts_at, Call.id)
    )
    if host_id is not None:
        statement = statement.where(Call.host_id == host_id)
    return (await session.execute(statement)).scalars().all()


@dataclass(frozen=True)
class CallFilter:
    organization_id: UUID
    kind: str
    host_id: UUID | None = None
    product_ids: Sequence[UUID] | None = None
    contact_id: UUID | None = None  # calls of products they subscribe to, and calls they take part in
    overlapping_from: datetime | None = None
    overlapping_until: datetime | None = None
    include_cancelled: bool = False


def filtered_calls(f: CallFilter):
    """Calls matching `f` in start order, each with its host and product."""
    statement = (
        select(Call, Host, Product)
        .join(Host, Host.id == Call.host_id)
        .outerjoin(Product, Product.id == Call.product_id)
        .where(Call.organization_id == f.organization_id, Call.kind == f.kind)
        .order_by(Call.starts_at, Call.id)
    )
    if not f.include_cancelled:
        statement = statement.where(Call.status != StoredStatus.CANCELLED)
    if f.host_id is not None:
        statement = statement.where(Call.host_id == f.host_id)
    if f.product_ids is not None:
        statement = statement.where(Call.product_id.in_(f.product_ids))
    if f.overlapping_from is not None:
        statement = statement.where(Call.ends_at > f.overlapping_from)
    if f.overlapping_until is not None:
        statement = statement.where(Call.starts_at < f.overlapping_until)
    if f.contact_id is not None:
        subscribed = select(Subscription.product_id).where(Subscription.contact_id == f.contact_id)
        taking_part = select(Participant.call_id).where(Participant.contact_id == f.contact_id)
        statement = statement.where(or_(Call.product_id.in_(subscribed), Call.id.in_(taking_part)))
    return statement


async def list_calls(session: AsyncSession, f: CallFilter, offset: int, limit: int) -> tuple[list[tuple[Call, Host, Product | None]], int]:
    statement = filtered_calls(f)
    total = (await session.execute(select(func.count()).select_from(statement.with_only_columns(Call.id).order_by(None).subquery()))).scalar_one()
    rows = (await session.execute(statement.offset(offset).limit(limit))).all()
    return [tuple(row) for row in rows], total


async def get_call_with_relations(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str) -> tuple[Call, Host, Product | None] | None:
    row = (
        await session.execute(
            filtered_calls(CallFilter(organization_id=organization_id, kind=kind, include_cancelled=True)).where(Call.id == call_id)
        )
    ).first()
    return tuple(row) if row else None


# Participants ------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ParticipantCallFilter:
    """Calls of one kind, filtered by who takes part and when they start (start <= starts_at < end)."""

    organization_id: UUID
    kind: str
    participant_unique_id: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None


async def list_calls_with_participant_count(
    session: AsyncSession, f: ParticipantCallFilter, offset: int, limit: int
) -> tuple[list[tuple[Call, int]], int]:
    """One page of matching calls in (starts_at, id) order, each with its number of
    participants, and the number of calls matching in all."""
    statement = select(Call.id).where(Call.organization_id == f.organization_id, Call.kind == f.kind)
    if f.participant_unique_id is not None:
        # Driven by the index on participants.unique_id, not by a probe per call.
        taking_part = select(Participant.call_id).where(
            Participant.unique_id == f.participant_unique_id, Participant.organization_id == f.organization_id
        )
        statement = statement.where(Call.id.in_(taking_part))
    if f.starts_from is not None:
        statement = statement.where(Call.starts_at >= f.starts_from)
    if f.starts_before is not None:
        statement = statement.where(Call.starts_at < f.starts_before)
    total = (await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
    if total <= offset:
        return [], total
    count = (
        select(func.count(Participant.id)).where(Participant.call_id == Call.id).correlate(Call).scalar_subquery()
    )
    page = statement.with_only_columns(Call, count).order_by(Call.starts_at, Call.id).offset(offset).limit(limit)
    rows = (await session.execute(page)).all()
    return [(call, n) for call, n in rows], total


async def get_call_for_update(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str) -> Call | None:
    """The call, row-locked until the transaction ends (PostgreSQL), so that changes to one call
    and its participants happen one after the other. SQLite's write lock, taken when a writing
    request begins, already serialises them there."""
    statement = (
        select(Call)
        .where(Call.id == call_id, Call.organization_id == organization_id, Call.kind == kind)
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def count_participants(session: AsyncSession, call_id: UUID) -> int:
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
