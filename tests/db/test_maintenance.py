"""The planner's statistics: the server's periodic task leaves them, on both databases; on
SQLite it takes its turn with the writers and only analyzes what changed; on PostgreSQL one
process at a time does it."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from callgrid.app import create_app
from callgrid.calls.models import Call, CallKind, Participant
from callgrid.config import Settings
from callgrid.db import maintenance
from callgrid.db.base import new_id
from callgrid.db.session import open_database, read_session, write_session
from tests.support.databases import clean
from tests.support.rows import add_organization


async def add_calls(database, count: int) -> None:
    """`count` appointments with two participants each."""
    now = datetime.now(UTC)
    async with write_session(database) as session:
        organization, _ = await add_organization(session)
        calls, participants = [], []
        for n in range(count):
            start = now + timedelta(hours=n)
            call = {
                "id": new_id(), "organization_id": organization.id, "host_id": None, "kind": CallKind.APPOINTMENT.value,
                "title": "t", "starts_at": start, "ends_at": start + timedelta(minutes=30), "timezone": "UTC",
                "status": "scheduled", "cancelled_at": None, "allow_overlap": False, "series_id": None,
                "product_id": None, "config": None, "created_at": now, "updated_at": now,
            }
            calls.append(call)
            for who in ("a", "b"):
                participants.append({
                    "id": new_id(), "organization_id": organization.id, "call_id": call["id"], "unique_id": who,
                    "display_name": None, "role": "participant", "contact_id": None, "created_at": now, "updated_at": now,
                })
        await session.execute(insert(Call), calls)
        await session.execute(insert(Participant), participants)
        await session.commit()


async def sqlite_statistics(database) -> dict[str, int]:
    """table -> the number of rows its statistics say it has."""
    async with read_session(database) as session:
        exists = (await session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))).scalar()
        if not exists:
            return {}
        rows = (await session.execute(text("SELECT tbl, stat FROM sqlite_stat1"))).all()
    return {table: int(stat.split()[0]) for table, stat in rows}


async def forget_sqlite_statistics(database) -> None:
    async with write_session(database) as session:
        if (await session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))).scalar():
            await session.execute(text("DELETE FROM sqlite_stat1"))
        await session.commit()


async def postgres_analyses(database) -> dict[str, tuple[int, float]]:
    """table -> (times analyzed by hand, the rows pg_class says it has)."""
    async with read_session(database) as session:
        rows = await session.execute(
            text(
                "SELECT s.relname, s.analyze_count, c.reltuples FROM pg_stat_user_tables s "
                "JOIN pg_class c ON c.oid = s.relid WHERE s.relname IN ('calls', 'participants')"
            )
        )
        return {name: (count, tuples) for name, count, tuples in rows}


async def wait_for(predicate, seconds: float = 20.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_the_servers_periodic_task_leaves_statistics(database_url, backend):
    await clean(database_url)
    settings = Settings(database_url=database_url, run_embedded_worker=False, analyze_interval_seconds=0.2)
    database = open_database(settings)
    try:
        await add_calls(database, 37)
        if backend == "sqlite":
            await forget_sqlite_statistics(database)
            assert await sqlite_statistics(database) == {}
        else:
            before = await postgres_analyses(database)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            if backend == "sqlite":

                async def analyzed():
                    stats = await sqlite_statistics(database)
                    return stats if {"calls", "participants"} <= set(stats) else None

                stats = await wait_for(analyzed)
                # The exact number of rows, whatever the limited analysis guessed.
                assert stats["calls"] == 37
                assert stats["participants"] == 74
            else:

                async def analyzed():
                    now = await postgres_analyses(database)
                    return now if all(now[t][0] > before[t][0] for t in ("calls", "participants")) else None

                now = await wait_for(analyzed)
                assert now is not None, "the periodic task did not analyze calls and participants"
                assert now["calls"][1] == 37
                assert now["participants"][1] == 74
    finally:
        await database.dispose()


async def test_the_task_runs_every_interval_and_never_at_zero(database_url, monkeypatch):
    database = open_database(Settings(database_url=database_url))
    ran = []

    async def recorded(target):
        # Only this test's database: the apps this test process keeps across tests run their
        # own periodic task, which calls the same (patched) function for theirs.
        if target is database:
            ran.append(target)
        return []

    monkeypatch.setattr(maintenance, "update_statistics", recorded)
    try:
        async with maintenance.periodic_statistics(database, 0):
            await asyncio.sleep(0.3)
        assert ran == []
        async with maintenance.periodic_statistics(database, 0.05):
            await wait_for(lambda: asyncio.sleep(0, len(ran) >= 3), 10)
        assert len(ran) >= 3
        count = len(ran)
        await asyncio.sleep(0.2)
        assert len(ran) == count  # stopped with the block
    finally:
        await database.dispose()


async def test_sqlite_analyzes_only_what_is_new_or_has_doubled(database_urls):
    url = database_urls["sqlite"]
    await clean(url)
    database = open_database(Settings(database_url=url))
    try:
        await forget_sqlite_statistics(database)
        assert await maintenance.update_statistics(database) == []  # empty tables: nothing to learn
        await add_calls(database, 10)
        assert sorted(await maintenance.update_statistics(database)) == ["call_day_counts", "calls", "participants"]
        assert await maintenance.update_statistics(database) == []  # nothing changed
        await add_calls(database, 5)
        # 15 calls: not yet twice 10. (call_day_counts may have doubled: new calls can fall on new days.)
        assert not {"calls", "participants"} & set(await maintenance.update_statistics(database))
        await add_calls(database, 5)
        analyzed = await maintenance.update_statistics(database)  # (and call_day_counts, a new organization's rows)
        assert {"calls", "participants"} <= set(analyzed) and "subscriptions" not in analyzed
        assert (await sqlite_statistics(database))["calls"] == 20
    finally:
        await database.dispose()


async def test_sqlite_analysis_waits_its_turn_behind_a_writer(database_urls):
    """ANALYZE writes sqlite_stat1: it goes the way writes go, after the writer holding the
    turn, never beside it ("database is locked")."""
    url = database_urls["sqlite"]
    await clean(url)
    database = open_database(Settings(database_url=url))
    try:
        await add_calls(database, 10)
        await forget_sqlite_statistics(database)
        async with write_session(database) as writer:
            await writer.execute(text("UPDATE calls SET title = 'held'"))
            task = asyncio.create_task(maintenance.update_statistics(database))
            await asyncio.sleep(0.5)
            assert not task.done()  # it counted, and now waits for the write turn
            await writer.commit()
        assert "calls" in await asyncio.wait_for(task, 30)
        assert (await sqlite_statistics(database))["calls"] == 10
    finally:
        await database.dispose()


async def test_sqlite_analysis_beside_many_writers(database_urls):
    url = database_urls["sqlite"]
    await clean(url)
    database = open_database(Settings(database_url=url))
    try:
        await forget_sqlite_statistics(database)

        async def writes(n: int) -> None:
            for _ in range(n):
                await add_calls(database, 3)

        # Nothing fails with "database is locked", whatever the interleaving.
        await asyncio.gather(writes(10), writes(10), maintenance.update_statistics(database), writes(10))
        await maintenance.update_statistics(database)
        assert (await sqlite_statistics(database))["calls"] == 90
    finally:
        await database.dispose()


async def test_one_process_at_a_time(database_url, backend):
    """PostgreSQL: a process finding another at it (the advisory lock held) skips the work.
    SQLite: two at once take turns, and both finish."""
    database = open_database(Settings(database_url=database_url))
    other = open_database(Settings(database_url=database_url))
    try:
        if backend == "sqlite":
            await clean(database_url)
            await add_calls(database, 10)
            await forget_sqlite_statistics(database)
            first, second = await asyncio.gather(maintenance.update_statistics(database), maintenance.update_statistics(other))
            assert {"calls", "participants"} <= set(first) | set(second)
            assert (await sqlite_statistics(database))["calls"] == 10
            return
        async with read_session(other) as holder:
            async with holder.begin():
                await holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": maintenance.ADVISORY_KEY})
                assert await maintenance.update_statistics(database) == []  # another process is at it
        assert await maintenance.update_statistics(database) == list(maintenance.TABLES)
    finally:
        await database.dispose()
        await other.dispose()


async def test_sqlite_connections_opened_before_load_the_new_statistics(database_urls):
    """ANALYZE rewriting sqlite_stat1 does not change the schema's version, which is what
    makes a connection reload its statistics: the update changes it, or the pool's
    connections would plan with the figures they first loaded for as long as they live."""
    url = database_urls["sqlite"]
    await clean(url)
    database = open_database(Settings(database_url=url))
    try:
        await add_calls(database, 10)
        await maintenance.update_statistics(database)  # sqlite_stat1 exists from here on
        async with read_session(database) as session:
            before = (await session.execute(text("PRAGMA schema_version"))).scalar_one()
        await add_calls(database, 10)
        assert "calls" in await maintenance.update_statistics(database)
        async with read_session(database) as session:
            after = (await session.execute(text("PRAGMA schema_version"))).scalar_one()
        assert after > before
        # Without the change, an ANALYZE alone leaves the version where it was.
        async with write_session(database) as session:
            await session.execute(text("ANALYZE calls"))
            await session.commit()
        async with read_session(database) as session:
            assert (await session.execute(text("PRAGMA schema_version"))).scalar_one() == after
    finally:
        await database.dispose()
