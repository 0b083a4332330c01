"""Invariant 1 is the database's: PostgreSQL's exclusion constraint, SQLite's up-front write lock."""

import asyncio
import sqlite3
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import aiosqlite
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from callgrid.calls import service
from callgrid.calls.models import Call, CallKind
from callgrid.db.engine import IMMEDIATE
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


async def test_a_lost_race_answers_409_with_the_winner(backend, sessionmaker, tenant, clock):
    """The loser passed its check before the winner committed; the database stops it, and
    the 409 names the winner."""
    organization_id, host_id = UUID(tenant.organization_id), UUID(tenant.host_id)
    # On SQLite the loser waits for the write lock and its check then sees the winner; on
    # PostgreSQL its check passes, its insert waits on the exclusion constraint, then fails.
    async with sessionmaker() as winner_session:
        await winner_session.connection(execution_options={IMMEDIATE: True})
        won = await service.schedule_calls(
            winner_session, organization_id=organization_id, host_id=host_id, kind=CallKind.VIDEO_CALL,
            title="winner", schedule=one_time(tomorrow_at(9)), now=clock(),
        )

        async def loser():
            async with sessionmaker() as session:
                await session.connection(execution_options={IMMEDIATE: True})
                return await service.schedule_calls(
                    session, organization_id=organization_id, host_id=host_id, kind=CallKind.VIDEO_CALL,
                    title="loser", schedule=one_time(tomorrow_at(9, 30)), now=clock(),
                )

        attempt = asyncio.create_task(loser())
        await asyncio.sleep(0.5)
        assert not attempt.done(), "the loser must wait for the winner's transaction"
        await winner_session.commit()
    with pytest.raises(service.OverlapConflict) as caught:
        await attempt
    assert [call.id for call in caught.value.report.existing] == [won.calls[0].id]
    assert caught.value.report.maximum == 1
