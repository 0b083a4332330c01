"""Write sections (db/sections.py) that do not end well leave no connection behind in a
transaction: a section that refuses after its lock, and one cancelled while it waits for the
lock. PostgreSQL's runner begins the transaction with the first advisory lock in one round
trip and ends it itself."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select, text

from callgrid.calls.models import Call
from callgrid.config import Settings
from callgrid.db.sections import advisory_lock_step, run_transaction
from callgrid.db.session import open_database
from tests.support.postgres import plain_dsn

KEY = 424242


class Refused(Exception):
    pass


def locked_count(then_raise: bool = False):
    """Take the lock, count the calls, maybe refuse: the shape of a booking."""
    yield advisory_lock_step(KEY)
    rows = yield select(func.count()).select_from(Call.__table__), None
    if then_raise:
        raise Refused()
    return rows[0][0]


async def lock_holders(url: str) -> int:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", KEY
        )
    finally:
        await connection.close()


async def test_a_refused_or_cancelled_section_releases_its_lock_and_connection(backend, database_url):
    if backend != "postgresql":
        assert backend == "sqlite"  # no advisory locks: the single writer (tests/calls/test_no_double_booking.py)
        return
    database = open_database(Settings(database_url=database_url, database_pool_size=1))
    engine = database.engine
    try:
        assert await run_transaction(engine, locked_count()) == 0
        with pytest.raises(Refused):
            await run_transaction(engine, locked_count(then_raise=True))
        assert await lock_holders(database_url) == 0  # rolled back: the lock went with it

        # Another connection holds the lock: a section waiting for it is cancelled.
        other = await asyncpg.connect(plain_dsn(database_url))
        try:
            await other.execute(f"BEGIN; SELECT pg_advisory_xact_lock({KEY})")
            waiting = asyncio.create_task(run_transaction(engine, locked_count()))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await other.execute("COMMIT")
        finally:
            await other.close()
        # The pool's connection (one of at most two) is usable and outside any transaction.
        for _ in range(3):
            assert await run_transaction(engine, locked_count()) == 0
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM calls"))).scalar_one() == 0
        assert await lock_holders(database_url) == 0
    finally:
        await database.dispose()
