"""The PostgreSQL pool is fixed: its connections are kept, and requests beyond it wait for one
rather than open (and close) connections of their own. Backends that come and go cost the
database more than the bookings they serve (bench/create_calls.py). Those who wait for a
connection are served in the order they came (db/pool.py)."""

import asyncio

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from callgrid.config import Settings
from callgrid.db.engine import create_engine, create_engines
from callgrid.db.pool import FairAsyncPool


async def test_concurrent_work_beyond_the_pool_waits_for_its_connections(backend, database_url):
    if backend != "postgresql":
        assert backend == "sqlite"  # SQLite has no server backends to start; writes share one connection
        return
    engine = create_engine(Settings(database_url=database_url, database_pool_size=3))
    try:
        async def backend_of_a_busy_connection() -> int:
            async with engine.connect() as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await connection.execute(text("SELECT pg_sleep(0.05)"))
                await connection.rollback()
                return pid

        first = await asyncio.gather(*(backend_of_a_busy_connection() for _ in range(12)))
        second = await asyncio.gather(*(backend_of_a_busy_connection() for _ in range(12)))
        assert len(set(first)) == 3  # twelve at once, three connections
        assert set(second) == set(first)  # kept: the same backends served the next burst
    finally:
        await engine.dispose()


# --- waiting for a connection: first come, first served ---------------------------------------


def _one_connection(database_url: str, timeout: float = 30):
    return create_async_engine(database_url, poolclass=FairAsyncPool, pool_size=1, max_overflow=0,
                               pool_timeout=timeout)


async def _select_one(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT 1"))).scalar_one()


def test_every_engine_of_callgrid_waits_in_line(database_url):
    for engine in create_engines(Settings(database_url=database_url)):
        assert isinstance(engine.pool, FairAsyncPool)


async def test_a_returned_connection_goes_to_the_first_waiter_not_to_whoever_asks_next(database_url):
    engine = _one_connection(database_url)
    served: list[str] = []
    try:
        busy = await engine.connect()

        async def use(name: str) -> None:
            async with engine.connect() as connection:
                served.append(name)
                await connection.execute(text("SELECT 1"))

        waiters = [asyncio.create_task(use("b")), asyncio.create_task(use("c"))]
        await asyncio.sleep(0.05)  # b, then c, wait in line
        await busy.close()
        await use("a")  # gives its connection back and asks again at once, as a request's read then write does
        await asyncio.gather(*waiters)
        assert served == ["b", "c", "a"]  # SQLAlchemy's own asyncio pool serves "a" first
    finally:
        await engine.dispose()


async def test_a_waiter_cancelled_as_it_is_handed_the_connection_hands_it_on(database_url):
    engine = _one_connection(database_url)
    try:
        busy = await engine.connect()
        waiter = asyncio.create_task(_select_one(engine))
        after = asyncio.create_task(_select_one(engine))
        await asyncio.sleep(0.05)
        await busy.close()  # handed to the first waiter, which has not run yet ...
        waiter.cancel()  # ... and is cancelled before it does
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await asyncio.wait_for(after, 5) == 1  # the next waiter got it
        assert await asyncio.wait_for(_select_one(engine), 5) == 1  # and gave it back to the pool
    finally:
        await engine.dispose()


async def test_a_waiter_that_times_out_leaves_the_line_and_the_connection_to_the_pool(database_url):
    engine = _one_connection(database_url, timeout=0.1)
    try:
        busy = await engine.connect()
        with pytest.raises(exc.TimeoutError):
            await _select_one(engine)
        cancelled = asyncio.create_task(_select_one(engine))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await busy.close()
        assert await asyncio.wait_for(_select_one(engine), 5) == 1  # nobody left in line took it
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()
