"""The tests' own cleaning between tests (tests/support/databases.py) survives a deadlock with
a background write of an app kept across tests: CI once failed a test's setup on one, between
the DELETEs and a room timeline batch whose foreign keys locked rows of two rooms."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.support.databases import ON_POSTGRESQL, clean
from tests.support.postgres import plain_dsn

async def waiting_for_a_lock(observer: asyncpg.Connection, pid: int) -> bool:
    return await observer.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid) or False


@pytest.mark.parametrize("backend", ON_POSTGRESQL)
async def test_cleaning_that_loses_a_deadlock_to_a_background_write_cleans_again(app, tenant, database_url):
    rooms = []
    for name in ("First", "Second"):
        response = await tenant.client.post("/v1/rooms", json={"name": name, "type": "public"})
        assert response.status_code == 200, response.text
        rooms.append(response.json()["room"]["id"])
    first, second = (uuid.UUID(room) for room in rooms)

    writer = await asyncpg.connect(plain_dsn(database_url))
    observer = await asyncpg.connect(plain_dsn(database_url))
    try:
        # The writer waits long before it looks for a deadlock: the cleaning, which waits
        # first, is the side PostgreSQL rolls back.
        await writer.execute("SET deadlock_timeout = '20s'")
        transaction = writer.transaction()
        await transaction.start()
        insert = "INSERT INTO room_events (id, room_id, at, type) VALUES ($1, $2, $3, 'chat')"
        # Its foreign key locks the second room against deletion until the writer ends.
        await writer.execute(insert, uuid.uuid4(), second, datetime.now(UTC))
        writer_pid = writer.get_server_pid()

        cleaning = asyncio.create_task(clean(database_url))
        for _ in range(500):  # the DELETE of rooms took the first and waits for the second
            blocked = await observer.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if any(row["pid"] != writer_pid for row in blocked):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the cleaning never waited for the writer")

        # The writer now needs the first room, deleted by the waiting cleaning: a deadlock,
        # found by the cleaning's side after its 1 s.
        await writer.execute(insert, uuid.uuid4(), first, datetime.now(UTC))
        assert await waiting_for_a_lock(observer, writer_pid) is False
        await transaction.commit()

        await asyncio.wait_for(cleaning, timeout=60)
        assert await observer.fetchval("SELECT count(*) FROM rooms") == 0
        assert await observer.fetchval("SELECT count(*) FROM room_events") == 0
    finally:
        await writer.close()
        await observer.close()
