"""The PostgreSQL pool is fixed: its connections are kept, and requests beyond it wait for one
rather than open (and close) connections of their own. Backends that come and go cost the
database more than the bookings they serve (bench/create_calls.py)."""

import asyncio

from sqlalchemy import text

from callgrid.config import Settings
from callgrid.db.engine import create_engine


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
