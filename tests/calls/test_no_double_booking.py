"""Invariant 1: writes to one host's calendar are serialised (PostgreSQL: an advisory lock per
host; SQLite: the single writer) around an exact check; PostgreSQL's exclusion constraint is
the last line."""

import asyncio
import sqlite3
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import aiosqlite
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from callgrid.calls import scheduling
from callgrid.calls.conflicts import OverlapConflict
from callgrid.calls.models import Call, CallKind
from callgrid.db.engine import IMMEDIATE
from callgrid.db.session import write_session
from callgrid.scheduling import Schedule
from callgrid.validation import zone


def one_time(start: datetime, minutes: int = 60) -> Schedule:
    return Schedule(start_date=start.date(), local_start=start.time(), duration=timedelta(minutes=minutes), timezone=zone("UTC"))


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(hour, minute), tzinfo=UTC)


def call_row(tenant, start: datetime, minutes: int = 60, **overrides) -> Call:
    return Call(
        organization_id=UUID(tenant.organization_id), host_id=UUID(tenant.host_id), kind=CallKind.VIDEO_CALL,
        title="direct", starts_at=start, ends_at=start + timedelta(minutes=minutes), timezone="UTC", **overrides,
    )


async def test_database_refuses_overlapping_rows_written_behind_the_service(backend, sessionmaker, tenant):
    """PostgreSQL: rows inserted without any check still cannot overlap."""
    if backend != "postgresql":
        assert backend == "sqlite"  # SQLite's guard is the write lock, tested below
        return
    async with sessionmaker() as session:
        session.add(call_row(tenant, tomorrow_at(10)))
        await session.commit()
    async with sessionmaker() as session:
        session.add(call_row(tenant, tomorrow_at(10, 30)))
        with pytest.raises(IntegrityError) as caught:
            await session.commit()
        assert "ex_calls_host_no_overlap" in str(caught.value)
    async with sessionmaker() as session:
        # Back to back, cancelled, or explicitly allowed: all accepted.
        session.add(call_row(tenant, tomorrow_at(11)))
        session.add(call_row(tenant, tomorrow_at(10, 15), status="cancelled"))
        session.add(call_row(tenant, tomorrow_at(10, 15), allow_overlap=True))
        await session.commit()
        count = (await session.execute(text("SELECT count(*) FROM calls"))).scalar_one()
        assert count == 4


async def test_sqlite_write_transactions_take_the_lock_up_front(backend, database_url, sessionmaker, tenant):
    if backend != "sqlite":
        assert backend == "postgresql"  # PostgreSQL's guard is the exclusion constraint, tested above
        return
    async with sessionmaker() as holder:
        await holder.connection(execution_options={IMMEDIATE: True})
        await holder.execute(text("SELECT 1"))  # read only, yet the write lock is already held
        path = make_url(database_url).database
        async with aiosqlite.connect(path, timeout=0.1) as other:
            await other.execute("SELECT count(*) FROM calls")  # readers are not blocked
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await other.execute("BEGIN IMMEDIATE")
        await holder.rollback()


def plan(tenant, start: datetime, title: str, now: datetime, **options) -> scheduling.CallPlan:
    return scheduling.plan_calls(
        organization_id=UUID(tenant.organization_id), host_id=UUID(tenant.host_id), kind=CallKind.VIDEO_CALL,
        title=title, schedule=one_time(start), now=now, **options,
    )


async def test_a_second_writer_for_the_host_waits_and_then_sees_the_first(app, tenant, clock):
    """The loser waits for the winner's transaction (PostgreSQL: the host's advisory lock;
    SQLite: the write lock), then its check sees the winner and the 409 names it."""
    async with write_session(app.state.database) as winner_session:
        await winner_session.connection()  # hold the transaction open until the commit below
        won = await scheduling.schedule_calls(winner_session, plan(tenant, tomorrow_at(9), "winner", clock()), now=clock())

        async def loser():
            async with write_session(app.state.database) as session:
                return await scheduling.schedule_calls(session, plan(tenant, tomorrow_at(9, 30), "loser", clock()), now=clock())

        attempt = asyncio.create_task(loser())
        await asyncio.sleep(0.5)
        assert not attempt.done(), "the loser must wait for the winner's transaction"
        await winner_session.commit()
    with pytest.raises(OverlapConflict) as caught:
        await attempt
    assert [call.id for call in caught.value.report.existing] == [won.calls[0].id]
    assert caught.value.report.maximum == 1


async def test_an_allowed_overlap_in_flight_is_seen_by_a_call_that_does_not_allow_one(app, tenant, clock):
    """An `allowOverlap` call takes the host's lock too: a call without it, racing for the
    same slot, waits and is refused, instead of landing on top without having asked to."""
    async with write_session(app.state.database) as first:
        await first.connection()
        await scheduling.schedule_calls(first, plan(tenant, tomorrow_at(14), "allowed", clock(), allow_overlap=True), now=clock())

        async def strict():
            async with write_session(app.state.database) as session:
                return await scheduling.schedule_calls(session, plan(tenant, tomorrow_at(14, 30), "strict", clock()), now=clock())

        attempt = asyncio.create_task(strict())
        await asyncio.sleep(0.3)
        assert not attempt.done()
        await first.commit()
    with pytest.raises(OverlapConflict):
        await attempt


async def test_the_constraint_is_the_last_line_and_its_refusal_names_the_winner(backend, app, sessionmaker, tenant, clock):
    """PostgreSQL: a row written without the host's lock (behind the service) and not yet
    committed is invisible to the check; the exclusion constraint makes the insert wait, then
    refuses it, and the 409 names the row that won."""
    if backend != "postgresql":
        assert backend == "sqlite"  # one writer at a time: nothing can be written behind the check
        return
    async with sessionmaker() as behind:
        winner = call_row(tenant, tomorrow_at(16))
        behind.add(winner)
        await behind.flush()

        async def loser():
            async with write_session(app.state.database) as session:
                return await scheduling.schedule_calls(session, plan(tenant, tomorrow_at(16, 30), "loser", clock()), now=clock())

        attempt = asyncio.create_task(loser())
        await asyncio.sleep(0.5)
        assert not attempt.done(), "the insert waits on the constraint for the uncommitted row"
        await behind.commit()
    with pytest.raises(OverlapConflict) as caught:
        await attempt
    assert [call.id for call in caught.value.report.existing] == [winner.id]


async def test_sqlite_a_booking_waits_for_another_connections_write_lock(backend, database_url, app, tenant):
    """A booking runs in the event loop's thread (db.sections) and never waits there: while another connection (another process, a CLI) holds SQLite's write lock,
    it waits for its turn on the driver's thread instead, then commits."""
    if backend != "sqlite":
        assert backend == "postgresql"  # no event-loop connection there; the host's lock is tested above
        return
    from tests.video_calls.conftest import BASE, body, make_mango

    mango = await make_mango(tenant)
    other = sqlite3.connect(make_url(database_url).database, isolation_level=None, timeout=5)
    try:
        other.execute("BEGIN IMMEDIATE")
        attempt = asyncio.create_task(tenant.client.post(BASE, json=body(mango, title="waiting")))
        await asyncio.sleep(0.4)
        assert not attempt.done(), "the booking must wait for the other connection's write lock"
        other.execute("COMMIT")
        response = await attempt
    finally:
        other.close()
    assert response.status_code == 201, response.text
    rows = sqlite3.connect(make_url(database_url).database).execute(
        "SELECT title FROM calls WHERE id = ?", (UUID(response.json()["_id"]).hex,)
    ).fetchall()
    assert rows == [("waiting",)]
    # With the lock free, the next booking does not wait.
    quick = await tenant.client.post(BASE, json=body(mango, title="at once", startDate="2030-01-03"))
    assert quick.status_code == 201, quick.text


async def test_sqlite_a_long_series_goes_on_on_a_thread_and_a_booking_meanwhile_waits_its_turn(
    backend, database_url, app, tenant, monkeypatch
):
    """A section past `LOOP_SECONDS` in the event loop's thread (a daily series of 60 calls,
    each with its room, member and event; the limit lowered here) goes on on a thread with its
    transaction held; a booking made meanwhile waits for it; both commit whole."""
    from callgrid.db import sections
    from tests.video_calls.conftest import BASE, body, make_mango

    mango = await make_mango(tenant)
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    series = body(mango, title="daily", startDate="2030-03-01", endDate="2030-04-29", repeatingDays=days)
    monkeypatch.setattr(sections, "LOOP_SECONDS", 0.0)  # on a thread after its first statement
    long, single = await asyncio.gather(
        tenant.client.post(BASE, json=series),
        tenant.client.post(BASE, json=body(mango, title="single", startDate="2030-06-01")),
    )
    assert long.status_code == 201, long.text
    assert single.status_code == 201, single.text
    assert len(long.json()["scheduledMeetingDates"]) == 60
    async with app.state.database.read() as session:
        titles = (await session.execute(text("SELECT title, count(*) FROM calls GROUP BY title ORDER BY title"))).all()
        rooms = (await session.execute(text("SELECT count(*) FROM rooms"))).scalar_one()
    assert [tuple(row) for row in titles] == [("daily", 60), ("single", 1)]
    assert rooms == 61  # every call has its room: nothing of the series was lost on the thread
