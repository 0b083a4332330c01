"""callgrid.calls.scheduling called directly, on a real migrated database (both backends), in a
transaction rolled back after each test: what it writes, and what it refuses."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from callgrid.calls import scheduling
from callgrid.calls.conflicts import OverlapConflict
from callgrid.calls.models import Call, CallKind, Series
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import Interval, Schedule
from tests.support.rows import add_host, add_organization
from tests.support.time import NOW

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """January 2030, in UTC (NOW is 2030-01-01 12:00)."""
    return datetime(2030, 1, day, hour, minute, tzinfo=UTC)


def once(start: datetime, minutes: int = 60) -> Schedule:
    return Schedule(start_date=start.date(), local_start=start.time(), duration=timedelta(minutes=minutes), timezone=UTC_ZONE)


@pytest.fixture
async def org(service_session):
    organization, host = await add_organization(service_session)
    return organization, host


async def book(session, org, schedule: Schedule, *, host=None, allow_overlap: bool = False, title: str = "Webinar"):
    organization, owner = org
    plan = scheduling.plan_calls(
        organization_id=organization.id,
        host_id=(host or owner).id,
        kind=CallKind.VIDEO_CALL,
        title=title,
        schedule=schedule,
        now=NOW,
        allow_overlap=allow_overlap,
    )
    return await scheduling.schedule_calls(session, plan, now=NOW)


async def stored(session, host_id=None) -> list[tuple]:
    """(title, starts_at, ends_at, status, allow_overlap) of the calls in the database, by start."""
    statement = select(Call.title, Call.starts_at, Call.ends_at, Call.status, Call.allow_overlap).order_by(Call.starts_at, Call.title)
    if host_id is not None:
        statement = statement.where(Call.host_id == host_id)
    return [tuple(row) for row in (await session.execute(statement)).all()]


async def series_count(session) -> int:
    return (await session.execute(select(func.count(Series.id)))).scalar_one()


async def reloaded(session, call_id) -> Call:
    """The call as the database has it now (not the session's copy)."""
    return (await session.execute(select(Call).where(Call.id == call_id).execution_options(populate_existing=True))).scalar_one()


# --- plan ---------------------------------------------------------------------------------------


def test_plan_refuses_a_start_that_has_passed_and_a_call_over_24_hours(org):
    organization, host = org
    common = dict(organization_id=organization.id, host_id=host.id, kind=CallKind.VIDEO_CALL, title="t", now=NOW)
    with pytest.raises(BadRequest) as past:
        scheduling.plan_calls(schedule=once(NOW - timedelta(minutes=1)), **common)
    assert past.value.field == "start_date"
    with pytest.raises(BadRequest) as at_now:
        scheduling.plan_calls(schedule=once(NOW), **common)
    assert at_now.value.field == "start_date"
    with pytest.raises(BadRequest) as long:
        scheduling.plan_calls(schedule=once(at(2, 10), minutes=24 * 60 + 1), **common)
    assert long.value.field == "duration"
    plan = scheduling.plan_calls(schedule=once(at(2, 10), minutes=24 * 60), **common)
    assert [(i.start, i.end) for i in plan.intervals] == [(at(2, 10), at(3, 10))]


# --- schedule -----------------------------------------------------------------------------------


async def test_one_time_call_is_one_row_without_series(service_session, org):
    organization, host = org
    scheduled = await book(service_session, org, once(at(2, 10)), title="Launch")
    assert scheduled.series is None and len(scheduled.calls) == 1
    row = await reloaded(service_session, scheduled.calls[0].id)
    assert (row.organization_id, row.host_id, row.kind, row.title) == (organization.id, host.id, "video_call", "Launch")
    assert (row.starts_at, row.ends_at, row.status, row.series_id, row.allow_overlap) == (at(2, 10), at(2, 11), "scheduled", None, False)
    assert await series_count(service_session) == 0


async def test_daily_series_across_the_spring_change_keeps_local_time(service_session, org):
    # Berlin moves from UTC+1 to UTC+2 on Sunday 2030-03-31: 10:00 local is 09:00Z, then 08:00Z.
    schedule = Schedule(start_date=date(2030, 3, 29), local_start=time(10), duration=timedelta(minutes=45),
                        timezone=BERLIN, end_date=date(2030, 4, 2))
    scheduled = await book(service_session, org, schedule)
    assert scheduled.series is not None
    series = (await service_session.execute(select(Series))).scalar_one()
    assert (series.id, series.frequency, series.local_start, series.timezone) == (scheduled.series.id, "daily", "10:00", "Europe/Berlin")
    assert (series.start_date, series.end_date, series.duration_minutes) == (date(2030, 3, 29), date(2030, 4, 2), 45)
    rows = (await service_session.execute(select(Call.starts_at, Call.ends_at, Call.series_id).order_by(Call.starts_at))).all()
    assert [r.starts_at for r in rows] == [
        datetime(2030, 3, 29, 9, tzinfo=UTC), datetime(2030, 3, 30, 9, tzinfo=UTC),
        datetime(2030, 3, 31, 8, tzinfo=UTC), datetime(2030, 4, 1, 8, tzinfo=UTC), datetime(2030, 4, 2, 8, tzinfo=UTC),
    ]
    assert all(r.ends_at - r.starts_at == timedelta(minutes=45) and r.series_id == series.id for r in rows)


async def test_weekly_series_has_a_row_on_each_chosen_weekday_only(service_session, org):
    # Monday and Wednesday, from Tuesday 2030-01-01 to Sunday 2030-01-13.
    schedule = Schedule(start_date=date(2030, 1, 1), local_start=time(15), duration=timedelta(minutes=30),
                        timezone=UTC_ZONE, end_date=date(2030, 1, 13), weekdays=frozenset({0, 2}))
    await book(service_session, org, schedule)
    days = [starts.date() for _, starts, *_ in await stored(service_session)]
    assert days == [date(2030, 1, 2), date(2030, 1, 7), date(2030, 1, 9)]
    assert (await service_session.execute(select(Series.frequency, Series.weekdays))).one() == ("weekly", [0, 2])


async def test_overlap_is_refused_with_the_calls_it_overlaps_and_nothing_is_written(service_session, org):
    first = (await book(service_session, org, once(at(2, 10)), title="first")).calls[0]
    second = (await book(service_session, org, once(at(2, 12)), title="second")).calls[0]
    before = await stored(service_session)

    with pytest.raises(OverlapConflict) as caught:
        await book(service_session, org, once(at(2, 10, 30), minutes=120), title="greedy")  # 10:30-12:30
    assert caught.value.status_code == 409 and caught.value.field == "start_date"
    report = caught.value.report
    assert [c.id for c in report.existing] == [first.id, second.id]
    assert report.maximum == 2  # the one proposed interval overlaps both
    assert {(report.proposed[o.proposed], report.existing[o.existing].id) for o in report.overlaps} == {
        (Interval(at(2, 10, 30), at(2, 12, 30)), first.id), (Interval(at(2, 10, 30), at(2, 12, 30)), second.id),
    }

    # A series with one occurrence on a booked slot: refused whole, no series row.
    daily = Schedule(start_date=date(2030, 1, 1), local_start=time(12, 30), duration=timedelta(hours=1),
                     timezone=UTC_ZONE, end_date=date(2030, 1, 5))  # the 2nd's 12:30 hits "second" (12:00-13:00)
    with pytest.raises(OverlapConflict) as series_caught:
        await book(service_session, org, daily)
    assert [c.id for c in series_caught.value.report.existing] == [second.id]
    assert await stored(service_session) == before
    assert await series_count(service_session) == 0


async def test_back_to_back_another_host_and_a_cancelled_call_are_no_overlap(service_session, org):
    organization, _owner = org
    booked = (await book(service_session, org, once(at(2, 10)))).calls[0]
    await book(service_session, org, once(at(2, 11)), title="right after")
    await book(service_session, org, once(at(2, 9)), title="right before")
    colleague = await add_host(service_session, organization, "Colleague")
    await book(service_session, org, once(at(2, 10)), host=colleague, title="colleague's")

    await scheduling.cancel_call(service_session, await reloaded(service_session, booked.id), now=NOW)
    await book(service_session, org, once(at(2, 10, 15), minutes=30), title="where the cancelled one was")
    assert [(title, status) for title, _, _, status, _ in await stored(service_session, _owner.id)] == [
        ("right before", "scheduled"), ("Webinar", "cancelled"), ("where the cancelled one was", "scheduled"),
        ("right after", "scheduled"),
    ]


async def test_allow_overlap_books_over_an_existing_call(service_session, org):
    await book(service_session, org, once(at(2, 10)), title="first")
    await book(service_session, org, once(at(2, 10)), title="second", allow_overlap=True)
    assert [(t, overlap) for t, _, _, _, overlap in await stored(service_session)] == [("first", False), ("second", True)]
    # The one allowed to overlap does not make later calls that refuse overlap any freer.
    with pytest.raises(OverlapConflict) as caught:
        await book(service_session, org, once(at(2, 10, 30)), title="third")
    assert {c.title for c in caught.value.report.existing} == {"first", "second"}


# --- update -------------------------------------------------------------------------------------


async def test_update_moves_renames_and_refuses_a_move_onto_another_call(service_session, org):
    call = (await book(service_session, org, once(at(2, 10)), title="mine")).calls[0]
    other = (await book(service_session, org, once(at(2, 14)), title="other")).calls[0]
    call = await reloaded(service_session, call.id)

    later = NOW + timedelta(minutes=5)
    await scheduling.update_call(service_session, call, now=later, title="moved", interval=Interval(at(2, 12), at(2, 13)),
                                 timezone="Europe/Berlin")
    row = await reloaded(service_session, call.id)
    assert (row.title, row.starts_at, row.ends_at, row.timezone, row.updated_at) == ("moved", at(2, 12), at(2, 13), "Europe/Berlin", later)

    with pytest.raises(OverlapConflict) as caught:
        await scheduling.update_call(service_session, row, now=later, interval=Interval(at(2, 13, 30), at(2, 14, 30)))
    assert [c.id for c in caught.value.report.existing] == [other.id]
    assert (await reloaded(service_session, call.id)).starts_at == at(2, 12)

    # Moving onto itself (a longer version of the same slot) is no conflict with itself.
    row = await reloaded(service_session, call.id)
    await scheduling.update_call(service_session, row, now=later, interval=Interval(at(2, 12), at(2, 13, 30)))
    assert (await reloaded(service_session, call.id)).ends_at == at(2, 13, 30)


async def test_update_refuses_withdrawing_allow_overlap_where_the_call_overlaps(service_session, org):
    await book(service_session, org, once(at(2, 10)), title="first")
    free = (await book(service_session, org, once(at(2, 10, 30)), title="free", allow_overlap=True)).calls[0]
    row = await reloaded(service_session, free.id)
    with pytest.raises(OverlapConflict):
        await scheduling.update_call(service_session, row, now=NOW, allow_overlap=False)
    assert (await reloaded(service_session, free.id)).allow_overlap is True
    # Where it no longer overlaps, it may.
    row = await reloaded(service_session, free.id)
    await scheduling.update_call(service_session, row, now=NOW, allow_overlap=False, interval=Interval(at(2, 11), at(2, 12)))
    assert (await reloaded(service_session, free.id)).allow_overlap is False


async def test_update_refuses_a_past_start_and_a_call_that_has_started(service_session, org):
    call = (await book(service_session, org, once(at(2, 10)))).calls[0]
    with pytest.raises(BadRequest) as past:
        await scheduling.update_call(service_session, await reloaded(service_session, call.id), now=NOW,
                                     interval=Interval(at(1, 11), at(1, 12)))
    assert past.value.field == "start_date"
    with pytest.raises(Conflict) as started:
        await scheduling.update_call(service_session, await reloaded(service_session, call.id), now=at(2, 10, 1), title="late")
    assert started.value.field == "status" and "active" in started.value.message
    assert (await reloaded(service_session, call.id)).title == "Webinar"


# --- cancel -------------------------------------------------------------------------------------


async def test_cancel_call_once_then_reports_it_already_was(service_session, org):
    call = (await book(service_session, org, once(at(2, 10)))).calls[0]
    later = NOW + timedelta(hours=1)
    assert await scheduling.cancel_call(service_session, await reloaded(service_session, call.id), now=later) is True
    row = await reloaded(service_session, call.id)
    assert (row.status, row.cancelled_at, row.updated_at) == ("cancelled", later, later)
    assert await scheduling.cancel_call(service_session, row, now=later + timedelta(hours=1)) is False
    assert (await reloaded(service_session, call.id)).cancelled_at == later


async def test_cancel_series_cancels_the_occurrences_that_have_not_started(service_session, org):
    organization, host = org
    daily = Schedule(start_date=date(2030, 1, 2), local_start=time(10), duration=timedelta(hours=1),
                     timezone=UTC_ZONE, end_date=date(2030, 1, 6))
    scheduled = await book(service_session, org, daily)
    occurrences = [c.id for c in scheduled.calls]
    one_off = (await book(service_session, org, once(at(7, 10)), title="not in the series")).calls[0]
    await scheduling.cancel_call(service_session, await reloaded(service_session, occurrences[3]), now=NOW)

    # On the 3rd at 10:30: the 2nd is over, the 3rd has started, the 4th was cancelled already.
    moment = at(3, 10, 30)
    cancelled = await scheduling.cancel_series(service_session, organization.id, scheduled.series.id, now=moment)
    assert sorted(c.id for c in cancelled) == sorted([occurrences[2], occurrences[4]])
    statuses = dict((await service_session.execute(select(Call.id, Call.status))).all())
    assert [statuses[i] for i in occurrences] == ["scheduled", "scheduled", "cancelled", "cancelled", "cancelled"]
    assert statuses[one_off.id] == "scheduled"
    assert all(c.cancelled_at == moment for c in cancelled)


async def test_cancel_series_of_another_host_or_unknown_reads_as_missing(service_session, org):
    organization, host = org
    daily = Schedule(start_date=date(2030, 1, 2), local_start=time(10), duration=timedelta(hours=1),
                     timezone=UTC_ZONE, end_date=date(2030, 1, 3))
    series_id = (await book(service_session, org, daily)).series.id
    colleague = await add_host(service_session, organization, "Colleague")
    with pytest.raises(NotFound) as theirs:
        await scheduling.cancel_series(service_session, organization.id, series_id, now=NOW, host_id=colleague.id)
    assert theirs.value.field == "group_id"
    other_organization, _ = await add_organization(service_session, "Globex")
    with pytest.raises(NotFound):
        await scheduling.cancel_series(service_session, other_organization.id, series_id, now=NOW)
    assert {status for *_, status, _ in await stored(service_session)} == {"scheduled"}
