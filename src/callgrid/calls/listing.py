"""Paging through lists of calls: the page and the number of calls matching in all, at a cost
that does not grow with the number of calls matching or with the depth of the page.

Counting the matching calls one index entry at a time costs in proportion to them (45,000
appointments of one organization: 10 to 20 ms on either database), and so does skipping them
to reach a deep page with OFFSET. So a list is cut by UTC days. With `lo` the first midnight
at or after the window's start and `hi` the last midnight at or before its end, the matching
calls, in list order, are

- those starting before `lo`: counted call by call (at most the calls of a day, or of two for
  an overlap window, which reaches back by the longest call, MAX_CALL_DURATION);
- those starting on a whole day in `[lo, hi)`: counted from `call_day_counts`, the per-day
  counts the triggers on `calls` keep exact (one row per organization, kind, host, product
  and day), plus, for what the counts cannot tell apart (the calls a contact takes part in
  outside the products they subscribe to), those calls counted per day;
- those starting at or after `hi`: counted call by call (less than a day of calls).

The occurrences of one series (a filter the counts do not know) are counted call by call, by
the (series_id) index: a series has at most a few hundred.

One statement adds these up day by day and returns the total, the day that holds the page's
first call with the number of calls before that day, and the day that holds its last call.
The page is then read from that day on, skipping only the calls of that day before it, up to
the end of the day of its last call: a range of the (starts_at) indexes a day or two long,
however deep the page. A filter the per-day counts cannot answer at all (the appointments of
one participant) is counted call by call, in the same statement and pass that finds, sorts and
cuts the page (a window count): bounded by the calls of that one participant.

Every statement is built once per shape (which filters are given) with bound parameters, as
the overlap query is: building and keying them cost more than running them.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import Date, Integer, Uuid, bindparam, cast, func, literal_column, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from callgrid.calls.conflicts import MAX_CALL_DURATION
from callgrid.calls.models import Call, CallDayCount, Participant, StoredStatus
from callgrid.db.base import UTCDateTime
from callgrid.directory.models import Host, Product, Subscription

DAY = timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def whole_days(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None] | None:
    """(lo, hi): the first midnight (UTC) at or after `start` and the last at or before `end`
    (None for no bound; hi = lo when the window holds no whole day), or None when the start is
    so close to either end of the calendar that there is no midnight after it, or no day before
    lo to stand for the calls before lo."""
    try:
        lo = hi = None
        if start is not None:
            start = start.astimezone(UTC)
            lo = _midnight(start.date())
            if lo < start:
                lo += DAY
            lo.date() - DAY  # raises OverflowError when there is no day before lo
        if end is not None:
            hi = _midnight(end.astimezone(UTC).date())
        if lo is not None and hi is not None and hi < lo:
            hi = lo
        return lo, hi
    except OverflowError:
        return None


@dataclass(frozen=True)
class Shape:
    """Which filters a list has: one statement per shape, values bound at execution."""

    dialect: str
    video: bool  # a CallFilter (overlap window); else a ParticipantCallFilter (start window)
    start: bool = False  # a window start: video, ends_at > start; appointments, starts_at >= start
    starts_from: bool = False  # the window's own lower bound on starts_at (video: start - MAX_CALL_DURATION)
    end: bool = False  # a window end: starts_at < end
    host: bool = False
    products: bool = False
    contact: bool = False
    participant: bool = False
    include_cancelled: bool = False
    series: bool = False  # one series' occurrences (counted call by call)
    creator: bool = False  # appointments created by one host (counted call by call)
    by_day: bool = False  # counted by day (else call by call)


def _unindexed(column):
    """SQLite: the column behind a unary +, which keeps the planner off its indexes."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _conditions(shape: Shape, lower: str | None, upper: str | None, *, contact: bool = True) -> list:
    """The conditions on `calls` that select the list's calls whose start is in one range:
    from the bound parameter named `lower` (inclusive) to the one named `upper` (exclusive),
    each None for no bound. Each statement reads one range of starts_at, the tightest it
    knows: given two lower bounds SQLite picks one for the index range, not knowing which is
    the tighter. (`contact=False`: without the contact's condition.)"""
    organization, kind, starts = Call.organization_id, Call.kind, Call.starts_at
    if shape.participant and shape.dialect == "sqlite":
        # Driven by the participant's calls, looked up by id, whatever the statistics say;
        # without them SQLite would rather scan every call of the organization (45,000 to find
        # 1,000: 40 ms instead of 3).
        organization, kind, starts = _unindexed(organization), _unindexed(kind), _unindexed(starts)
    conditions = [organization == bindparam("org", type_=Uuid()), kind == bindparam("kind")]
    if lower is not None:
        conditions.append(starts >= bindparam(lower, type_=UTCDateTime()))
    if upper is not None:
        conditions.append(starts < bindparam(upper, type_=UTCDateTime()))
    if shape.video:
        if not shape.include_cancelled:
            conditions.append(Call.status != StoredStatus.CANCELLED.value)
        if shape.host:
            conditions.append(Call.host_id == bindparam("host", type_=Uuid()))
        if shape.series:
            conditions.append(Call.series_id == bindparam("series", type_=Uuid()))
        if shape.products:
            conditions.append(Call.product_id.in_(bindparam("products", type_=Uuid(), expanding=True)))
        if shape.start:
            conditions.append(Call.ends_at > bindparam("start", type_=UTCDateTime()))
        if shape.contact and contact:
            conditions.append(or_(Call.product_id.in_(_subscribed()), Call.id.in_(_contact_calls())))
    else:
        if shape.creator:
            conditions.append(Call.created_by_host_id == bindparam("creator", type_=Uuid()))
        if shape.participant and shape.dialect != "postgresql":  # PostgreSQL: _participant_calls
            taking_part = select(Participant.call_id).where(
                Participant.unique_id == bindparam("unique_id"), Participant.organization_id == bindparam("org", type_=Uuid())
            )
            conditions.append(Call.id.in_(taking_part))
    return conditions


def _participant_calls(shape: Shape, lower: str | None, upper: str | None):
    """PostgreSQL: the participant's calls matching, (id, starts_at), each looked up by its id
    from the participant's rows and then checked. As a semi-join (`IN`, or `= ANY(ARRAY(...))`
    once the prepared statement's plan is generic) PostgreSQL would rather hash the
    participant's calls and scan every call of the organization, or the window's: 45,000
    index entries to find 1,000, 30 ms to seconds instead of a few. The lookup is a LATERAL
    subquery on the id alone, fenced by OFFSET 0 so that neither it is flattened into a join
    nor the checks pushed into it: a probe by id per participant row, whatever the plan."""
    found = (
        select(Call.id, Call.organization_id, Call.kind, Call.starts_at, Call.created_by_host_id)
        .where(Call.id == Participant.call_id)
        .offset(literal_column("0"))
        .lateral("found")
    )
    checks = [found.c.organization_id == bindparam("org", type_=Uuid()), found.c.kind == bindparam("kind")]
    if shape.creator:
        checks.append(found.c.created_by_host_id == bindparam("creator", type_=Uuid()))
    if lower is not None:
        checks.append(found.c.starts_at >= bindparam(lower, type_=UTCDateTime()))
    if upper is not None:
        checks.append(found.c.starts_at < bindparam(upper, type_=UTCDateTime()))
    return (
        select(found.c.id, found.c.starts_at)
        .select_from(Participant)
        .join(found, true())
        .where(
            Participant.unique_id == bindparam("unique_id"),
            Participant.organization_id == bindparam("org", type_=Uuid()),
            *checks,
        )
    )


def _by_participant_on_postgresql(shape: Shape) -> bool:
    return shape.participant and shape.dialect == "postgresql"


def _subscribed():
    return select(Subscription.product_id).where(Subscription.contact_id == bindparam("contact", type_=Uuid()))


def _contact_calls():
    return select(Participant.call_id).where(Participant.contact_id == bindparam("contact", type_=Uuid()))


def _day_of(dialect: str, column):
    """The UTC date of a UTCDateTime column, as CallDayCount.day holds it."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.substr(column, 1, 10, type_=Date)  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'


def _own_range(shape: Shape) -> tuple[str | None, str | None]:
    return ("starts_from" if shape.starts_from else None), ("end" if shape.end else None)


@lru_cache(maxsize=256)
def _count_statement(shape: Shape):
    """Call by call: the number of calls matching."""
    if _by_participant_on_postgresql(shape):
        return select(func.count()).select_from(_participant_calls(shape, *_own_range(shape)).subquery())
    return select(func.count()).select_from(Call).where(*_conditions(shape, *_own_range(shape)))


@lru_cache(maxsize=256)
def _slice_statement(shape: Shape):
    """By day: (total, the first day whose calls reach past `offset`, the calls before that
    day, the first day whose calls reach `offset_end`). The calls before lo stand as the day
    before lo (`before_day`), those from hi on as the day hi (`hi_day`)."""
    starts_from, _ = _own_range(shape)
    n = func.count().label("n")
    parts = []
    in_days = []
    if shape.start:  # the calls before lo (and before the end): [starts_from, before_lo)
        parts.append(select(bindparam("before_day", type_=Date).label("day"), n).where(*_conditions(shape, starts_from, "before_lo")))
        in_days.append(CallDayCount.day >= bindparam("lo_day", type_=Date))
    if shape.end:
        in_days.append(CallDayCount.day < bindparam("hi_day", type_=Date))
    counts = [CallDayCount.organization_id == bindparam("org", type_=Uuid()), CallDayCount.kind == bindparam("kind")]
    if shape.host:
        counts.append(CallDayCount.host_id == bindparam("host", type_=Uuid()))
    if shape.products:
        counts.append(CallDayCount.product_id.in_(bindparam("products", type_=Uuid(), expanding=True)))
    if shape.contact:
        counts.append(CallDayCount.product_id.in_(_subscribed()))
    counted = CallDayCount.live + CallDayCount.cancelled if shape.include_cancelled or not shape.video else CallDayCount.live
    parts.append(select(CallDayCount.day.label("day"), func.sum(counted).label("n")).where(*counts, *in_days).group_by(CallDayCount.day))
    if shape.contact:
        # The calls they take part in outside the products they subscribe to, per whole day.
        extra = _conditions(shape, "lo" if shape.start else None, "hi" if shape.end else None, contact=False)
        extra += [Call.id.in_(_contact_calls()), or_(Call.product_id.is_(None), Call.product_id.not_in(_subscribed()))]
        day = _day_of(shape.dialect, Call.starts_at)
        parts.append(select(day.label("day"), func.count().label("n")).where(*extra).group_by(day))
    if shape.end:  # the calls from hi on: [hi, end)
        parts.append(select(bindparam("hi_day", type_=Date).label("day"), n).where(*_conditions(shape, "hi", "end")))
    days = union_all(*parts).subquery("days") if len(parts) > 1 else parts[0].subquery("days")
    if shape.contact:  # the days of the extra part are days of the counts too: add them up
        days = select(days.c.day, func.sum(days.c.n).label("n")).group_by(days.c.day).subquery("per_day")
    running = select(days.c.day, days.c.n, func.sum(days.c.n).over(order_by=days.c.day).label("upto")).cte("running")
    # upto (the calls up to the end of the day) only grows with the day: the day holding call
    # number `offset` (from 0) is the first whose upto passes it, and the calls before that
    # day are the largest upto that does not.
    offset = bindparam("offset", type_=Integer)
    return select(
        select(func.coalesce(func.max(running.c.upto), 0)).scalar_subquery(),
        select(func.min(running.c.day)).where(running.c.upto > offset).scalar_subquery(),
        select(func.coalesce(func.max(running.c.upto), 0)).where(running.c.upto <= offset).scalar_subquery(),
        select(func.min(running.c.day)).where(running.c.upto >= bindparam("offset_end", type_=Integer)).scalar_subquery(),
    )


def _page(shape: Shape, lower: bool, upper: bool, with_total: bool):
    """The page's ids, in list order: starting in [page_from, page_until), `skip` then `limit`;
    `with_total`: with the number of calls matching in all (`total`), counted in the same pass
    as the one that finds and sorts them, for a list counted call by call."""
    lower_name, upper_name = ("page_from" if lower else None), ("page_until" if upper else None)
    if _by_participant_on_postgresql(shape):
        calls = _participant_calls(shape, lower_name, upper_name).subquery("calls")
        columns, order = [calls.c.id], (calls.c.starts_at, calls.c.id)
        statement = select(calls.c.id)
    else:
        columns, order = [Call.id], (Call.starts_at, Call.id)
        statement = select(Call.id).where(*_conditions(shape, lower_name, upper_name))
    if with_total:
        columns.append(func.count().over().label("total"))
    return (
        statement.with_only_columns(*columns)
        .order_by(*order)
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )


@lru_cache(maxsize=512)
def _video_page_statement(shape: Shape, lower: bool, upper: bool, with_total: bool):
    page = _page(shape, lower, upper, with_total)
    return (
        select(Call, Host, Product, *([page.c.total] if with_total else []))
        .join(page, page.c.id == Call.id)
        .join(Host, Host.id == Call.host_id)
        .outerjoin(Product, Product.id == Call.product_id)
        .order_by(Call.starts_at, Call.id)
    )


@lru_cache(maxsize=512)
def _appointment_page_statement(shape: Shape, lower: bool, upper: bool, with_total: bool):
    # The participants are counted for the page's calls only, after it is cut.
    page = _page(shape, lower, upper, with_total)
    count = select(func.count(Participant.id)).where(Participant.call_id == Call.id).correlate(Call).scalar_subquery()
    return (
        select(Call, count, *([page.c.total] if with_total else []))
        .join(page, page.c.id == Call.id)
        .order_by(Call.starts_at, Call.id)
    )


def _as_date(value) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite may hand back text


def _earliest(*moments: datetime | None) -> datetime | None:
    given = [m for m in moments if m is not None]
    return min(given) if given else None


async def _locate(session: AsyncSession, shape: Shape, days, params: dict, offset: int, limit: int) -> tuple[int | None, dict | None]:
    """(total, the page's parameters: its range of starts, skip and limit; None when the page
    is past the end). Counted call by call, the total is None: the page's statement counts."""
    own_from, own_until = params.get("starts_from"), params.get("end")
    if not shape.by_day:
        return None, {"page_from": own_from, "page_until": own_until, "skip": offset, "limit": limit}
    lo, hi = days
    before_day = lo.date() - DAY if lo is not None else None
    hi_day = hi.date() if hi is not None else None
    if lo is not None:
        params.update(lo=lo, lo_day=lo.date(), before_day=before_day, before_lo=_earliest(lo, own_until))
    if hi is not None:
        params.update(hi=hi, hi_day=hi_day)
    params.update(offset=offset, offset_end=offset + limit)
    total, first_day, before, last_day = (await session.execute(_slice_statement(shape), params)).one()
    total = int(total)
    first_day, last_day = _as_date(first_day), _as_date(last_day)
    if first_day is None:
        return total, None
    page = {"page_from": own_from, "page_until": own_until, "skip": offset - int(before), "limit": limit}
    if first_day != before_day:
        page["page_from"] = _midnight(first_day)  # on or after lo, so after the window's start
    if last_day is not None and last_day != hi_day:
        try:
            page["page_until"] = _earliest(lo if last_day == before_day else _midnight(last_day) + DAY, own_until)
        except OverflowError:  # a call on the last day of the calendar
            pass
    return total, page


def _page_shape(page: dict) -> tuple[bool, bool]:
    return page["page_from"] is not None, page["page_until"] is not None


async def _counted_with_the_page(session: AsyncSession, shape: Shape, params: dict, rows: list) -> tuple[int, list]:
    """The total the page's rows carry (their last column), and the rows without it; for a
    page past the end, which has no rows to carry it, a count of its own."""
    if rows:
        return int(rows[0][-1]), [row[:-1] for row in rows]
    return (await session.execute(_count_statement(shape), params)).scalar_one(), []


# The two lists --------------------------------------------------------------------------


async def list_calls(session: AsyncSession, f, offset: int, limit: int):
    """A CallFilter's page: [(call, host, product)], total."""
    params = {"org": f.organization_id, "kind": str(f.kind)}
    if f.overlapping_from is not None:
        params["start"] = f.overlapping_from
        try:  # the index range: no call lasts longer, so none that starts earlier is still on
            params["starts_from"] = f.overlapping_from - MAX_CALL_DURATION
        except OverflowError:
            pass
    if f.overlapping_until is not None:
        params["end"] = f.overlapping_until
    if f.host_id is not None:
        params["host"] = f.host_id
    if f.product_ids is not None:
        params["products"] = list(f.product_ids)
    if f.contact_id is not None:
        params["contact"] = f.contact_id
    if f.series_id is not None:
        params["series"] = f.series_id
    # A call starting on or after lo >= overlapping_from ends after it: on whole days the
    # overlap is a matter of the start alone, which the per-day counts know.
    days = None if f.series_id is not None else whole_days(f.overlapping_from, f.overlapping_until)
    shape = Shape(
        dialect=session.get_bind().dialect.name,
        video=True,
        start=f.overlapping_from is not None,
        starts_from="starts_from" in params,
        end=f.overlapping_until is not None,
        host=f.host_id is not None,
        products=f.product_ids is not None,
        contact=f.contact_id is not None,
        include_cancelled=f.include_cancelled,
        series=f.series_id is not None,
        by_day=days is not None,
    )
    total, page = await _locate(session, shape, days, params, offset, limit)
    if page is None:
        return [], total
    rows = (await session.execute(_video_page_statement(shape, *_page_shape(page), total is None), params | page)).all()
    if total is None:
        total, rows = await _counted_with_the_page(session, shape, params, rows)
    return [tuple(row) for row in rows], total


async def list_calls_with_participant_count(session: AsyncSession, f, offset: int, limit: int):
    """A ParticipantCallFilter's page: [(call, number of participants)], total."""
    params = {"org": f.organization_id, "kind": str(f.kind)}
    if f.starts_from is not None:
        params["start"] = params["starts_from"] = f.starts_from
    if f.starts_before is not None:
        params["end"] = f.starts_before
    if f.participant_unique_id is not None:
        params["unique_id"] = f.participant_unique_id
    if f.created_by_host_id is not None:
        params["creator"] = f.created_by_host_id
    # The day counts know no creator: one host's appointments are counted call by call.
    by_call = f.participant_unique_id is not None or f.created_by_host_id is not None
    days = None if by_call else whole_days(f.starts_from, f.starts_before)
    shape = Shape(
        dialect=session.get_bind().dialect.name,
        video=False,
        creator=f.created_by_host_id is not None,
        start=f.starts_from is not None,
        starts_from=f.starts_from is not None,
        end=f.starts_before is not None,
        participant=f.participant_unique_id is not None,
        by_day=days is not None,
    )
    total, page = await _locate(session, shape, days, params, offset, limit)
    if page is None:
        return [], total
    rows = (await session.execute(_appointment_page_statement(shape, *_page_shape(page), total is None), params | page)).all()
    if total is None:
        total, rows = await _counted_with_the_page(session, shape, params, rows)
    return [(call, n) for call, n in rows], total
