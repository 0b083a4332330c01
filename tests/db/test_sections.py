"""Write sections (db/sections.py) that do not end well leave no connection behind in a
transaction: a section that refuses after its lock, and one cancelled while it waits for the
lock. PostgreSQL's runner begins the transaction with the first advisory lock in one round
trip and ends it itself. A guarded step writes only where its check finds nothing."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, insert, select, text, update

from callgrid.calls.models import Call
from callgrid.config import Settings
from callgrid.db.base import UTCDateTime
from callgrid.db import sections
from callgrid.db.sections import Guarded, advisory_lock_step, run_section, run_transaction
from callgrid.db.session import open_database
from tests.support.databases import clean, migrate
from tests.support.postgres import plain_dsn

KEY = 424242
# pg_locks shows the whole server's locks: the other test process's tests take KEY in their own
# databases at the same time (a lock holder counted from there failed a run).
IN_THIS_DATABASE = " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"


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
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted" + IN_THIS_DATABASE, KEY
        )
    finally:
        await connection.close()


async def test_a_refused_or_cancelled_section_releases_its_lock_and_connection(backend, database_url):
    if backend != "postgresql":
        assert backend == "sqlite"  # no advisory locks: the single writer (tests/calls/test_no_double_booking.py)
        return
    await clean(database_url)  # the run's shared database: calls an earlier test of this process left
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


async def test_sqlite_brief_writes_keep_the_wal_short_without_checkpointing_in_the_event_loop(
    backend, database_url, app, tenant, monkeypatch
):
    """The event loop's writer never checkpoints the whole WAL itself (a checkpoint would
    stall the loop): past the threshold its commits set off passive passes on a thread, and
    the writer copies what was written since in a last pass of its own, so the WAL starts
    again and the file stops growing: by the pages of the bookings up to the threshold and of
    those made during the passes (about 1.9 MB here, 460 pages, for 200 bookings or 600).
    Without them it would grow by every booking's pages, 23 or so each (19 MB here)."""
    if backend != "sqlite":
        assert backend == "postgresql"  # no WAL of ours to keep
        return
    from sqlalchemy.engine import make_url

    from callgrid.db import loop_connections
    from tests.video_calls.conftest import BASE, body, make_mango

    monkeypatch.setattr(loop_connections, "CHECKPOINT_ROWS", 50)
    wal = Path(f"{make_url(database_url).database}-wal")
    mango = await make_mango(tenant)
    before = wal.stat().st_size
    day = date(2030, 1, 1)
    for index in range(200):
        response = await tenant.client.post(
            BASE, json=body(mango, startDate=(day + timedelta(days=index)).isoformat(), title=f"call {index}")
        )
        assert response.status_code == 201, response.text
        if index % 20 == 0:
            await asyncio.sleep(0.05)  # let the checkpoint's thread run, as a live server's would
    writer = loop_connections.loop_writer(app.state.database.write_engine)
    assert writer.connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    grown = wal.stat().st_size - before
    assert grown < 3 * 1024 * 1024, f"the WAL grew by {grown} bytes"
    async with app.state.database.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM calls"))).scalar_one() == 200


async def test_sqlite_a_section_waiting_for_one_gone_on_a_thread_gets_its_own_answer(backend, app, monkeypatch):
    """A section that outlasts LOOP_SECONDS in the event loop's thread goes on on a thread,
    and the writer's next sections wait for it to end. Its refusal is its own: the sections
    that waited go on and answer for themselves (they were handed its exception before, so
    that every booking waiting behind a slow reschedule's 409 got that same 409, naming the
    reschedule's proposal, creates allowing overlap included: seen by
    tests/e2e/test_calendar_races.py on a busy machine)."""
    if backend != "sqlite":
        assert backend == "postgresql"  # one connection per section: nothing to wait for
        return
    import time

    monkeypatch.setattr(sections, "LOOP_SECONDS", 0)  # every section goes on on a thread at once
    engine = app.state.database.write_engine
    count = select(func.count()).select_from(Call.__table__)

    def slow_refusal():
        yield count, None
        time.sleep(0.3)  # on the thread, its transaction held
        yield count, None
        raise Refused()

    def counted():
        rows = yield count, None
        return rows[0][0]

    refusing = asyncio.create_task(run_transaction(engine, slow_refusal()))
    await asyncio.sleep(0.1)
    assert sections.loop_writer(engine).waiting() is not None  # the slow one is on its thread
    assert await run_transaction(engine, counted()) == 0
    with pytest.raises(Refused):
        await refusing


async def test_sqlite_a_section_meeting_another_connections_write_waits_for_it_in_the_event_loop(
    backend, app, database_url
):
    """Another connection's write (this process's driver connection, another process) holds
    SQLite's write lock: a section that meets it waits for it to end and then runs on the
    event loop's writer, rather than queue on the driver's thread (where, under load, the
    sections behind it kept meeting one another there: docs/architecture.md)."""
    if backend != "sqlite":
        assert backend == "postgresql"  # no writer in the event loop's thread: nothing to wait for
        return
    import sqlite3

    from sqlalchemy.engine import make_url

    from callgrid.tenancy.models import ApiKeyChanges

    engine = app.state.database.write_engine
    writer = sections.loop_writer(engine)
    upsert = insert(ApiKeyChanges.__table__)

    def mark(version: int):
        yield upsert, {"id": 1, "version": version}

    other = sqlite3.connect(make_url(database_url).database, isolation_level=None, timeout=5)
    try:
        other.execute("BEGIN IMMEDIATE")
        on_loop_writer = writer.connection.total_changes
        marking = asyncio.create_task(run_transaction(engine, mark(7)))
        await asyncio.sleep(0.05)
        assert not marking.done()  # the lock is the other connection's
        other.execute("COMMIT")
    finally:
        other.close()
    await asyncio.wait_for(marking, 5)
    assert writer.connection.total_changes == on_loop_writer + 1  # written by the event loop's writer
    async with app.state.database.read() as session:
        assert (await session.execute(select(ApiKeyChanges.version))).scalars().all() == [7]


def wal_frames(path: str) -> int:
    """The frames in an SQLite database's WAL (`mxFrame`), read from the WAL-index header in
    its -shm file (https://www.sqlite.org/walformat.html) without touching the database.

    Read by another process: closing a file descriptor of the -shm file drops every POSIX lock
    this process holds on it, SQLite's own included. The next process to open the database
    then finds no connection on it, truncates the -shm file and rebuilds it, and this
    process's connections, which have it mapped, die of SIGBUS on the pages that went (a
    test worker crashed so in CI)."""
    import subprocess
    import sys

    read = "import struct, sys; print(struct.unpack_from('=I', open(sys.argv[1], 'rb').read(20), 16)[0])"
    return int(subprocess.check_output([sys.executable, "-c", read, f"{path}-shm"], text=True))


async def test_sqlite_bookings_go_on_while_the_wal_is_copied_and_it_starts_again_after(
    backend, database_url, app, tenant, monkeypatch
):
    """The checkpoint's passes on a thread do not hold the writer's sections: bookings made
    while a pass is held back are answered at once (when the sections waited for the whole
    checkpoint, 15 to 30 ms every 200 bookings at full load, writes were held a tenth of the
    time). Once the passes are over, the writer's own last pass copies the few pages written
    since, and the next write starts the WAL again from its beginning."""
    if backend != "sqlite":
        assert backend == "postgresql"  # no WAL of ours to keep
        return
    import sqlite3
    import threading

    from sqlalchemy.engine import make_url

    from callgrid.db import loop_connections
    from tests.video_calls.conftest import BASE, body, make_mango

    monkeypatch.setattr(loop_connections, "CHECKPOINT_ROWS", 100)
    passes_began, release = threading.Event(), threading.Event()
    copy = loop_connections.copy_beside_writes

    def held_back(connection):
        passes_began.set()
        release.wait(10)
        return copy(connection)

    monkeypatch.setattr(loop_connections, "copy_beside_writes", held_back)
    mango = await make_mango(tenant)
    day = date(2031, 1, 1)
    made = 0

    async def book() -> None:
        nonlocal made
        response = await tenant.client.post(
            BASE, json=body(mango, startDate=(day + timedelta(days=made)).isoformat(), title=f"call {made}")
        )
        assert response.status_code == 201, response.text
        made += 1

    path = make_url(database_url).database
    writer = loop_connections.loop_writer(app.state.database.write_engine)
    # Another writer (another process, say) holds a transaction open across the passes: they
    # copy what was committed, and its pages come after them.
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        while not passes_began.is_set():
            assert made < 100, "no checkpoint began"
            await book()
        for _ in range(5):  # the passes are held back: the bookings go on
            await asyncio.wait_for(book(), 5)
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE calls SET title = title || ' (renamed)'")
    finally:
        release.set()
    for _ in range(200):
        if writer.checkpointing is None:
            break
        await asyncio.sleep(0.01)
    assert writer.checkpointing is None
    other.execute("COMMIT")
    other.close()
    before = wal_frames(path)
    assert before >= 20 * made  # every booking wrote 20 pages or more
    await book()  # its commit: the last pass, which copies the other writer's pages too
    await book()  # its transaction begins the WAL again
    assert 0 < wal_frames(path) <= before // made * 3, f"{wal_frames(path)} frames in the WAL, {before} before"
    async with app.state.database.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM calls"))).scalar_one() == made


_PROBES = MetaData()
_NOTES = Table("guard_notes", _PROBES, Column("id", Integer, primary_key=True), Column("note", String(40)), Column("at", UTCDateTime()))
_MARKS = Table("guard_marks", _PROBES, Column("id", Integer, primary_key=True), Column("note_id", Integer))
_FIND = select(_NOTES.c.id, _NOTES.c.note, _NOTES.c.at).where(_NOTES.c.note == bindparam("note")).order_by(_NOTES.c.id)
_INSERT_NOTES, _INSERT_MARKS = insert(_NOTES), insert(_MARKS)
_RENAME = update(_NOTES).where(_NOTES.c.id == bindparam("target")).values(note=bindparam("renamed"))
AT = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
WAITERS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted" + IN_THIS_DATABASE


def guarded(note: str, writes, *, locked: bool = False, last: bool = False):
    """Write `writes` unless a note `note` exists; return what the check found."""
    if locked:
        yield advisory_lock_step(KEY)
    found = yield Guarded((_FIND, {"note": note}), writes, last=last)
    return found


@pytest.mark.parametrize("last", [False, True], ids=["then-commit", "last"])
async def test_a_guarded_write_is_made_only_where_its_check_finds_nothing(backend, fresh_database_url, last):
    """A `Guarded` step (the booking's check and inserts: one statement on PostgreSQL; with
    the lock before it and nothing after it, one call of `callgrid_locked_execute`, the commit
    included) makes its writes, several rows into two tables, only when its check finds no
    row, and answers the check's rows as their columns' types read them. With a write that is
    not a plain insert, PostgreSQL runs the check and the writes one by one, to the same
    effect."""
    await migrate(fresh_database_url)  # the function the one call calls
    database = open_database(Settings(database_url=fresh_database_url, database_pool_size=2))
    engine = database.write_engine
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_PROBES.create_all)

        async def table(which: Table) -> list[tuple]:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(select(which).order_by(which.c.id))).all()]

        locked = backend == "postgresql"  # the first step, with the BEGIN: as a booking's
        notes = [{"id": 1, "note": "a'; --", "at": AT}, {"id": 2, "note": "b", "at": AT + timedelta(hours=1)}]
        made = [(_INSERT_NOTES, notes), (_INSERT_MARKS, [{"id": 10, "note_id": 1}]), (_INSERT_MARKS, [])]
        assert await run_transaction(engine, guarded("a", made, locked=locked, last=last)) == []
        assert await table(_NOTES) == [(1, "a'; --", AT), (2, "b", AT + timedelta(hours=1))]
        assert await table(_MARKS) == [(10, 1)]

        refused = [(_INSERT_NOTES, [{"id": 3, "note": "c", "at": AT}]), (_INSERT_MARKS, [{"id": 11, "note_id": 3}])]
        assert await run_transaction(engine, guarded("b", refused, last=last)) == [(2, "b", AT + timedelta(hours=1))]
        assert await run_transaction(engine, guarded("b", refused, locked=locked, last=last)) == [
            (2, "b", AT + timedelta(hours=1))
        ]
        assert [row[0] for row in await table(_NOTES)] == [1, 2]
        assert await table(_MARKS) == [(10, 1)]

        mixed = [(_RENAME, {"target": 1, "renamed": "z"}), (_INSERT_MARKS, [{"id": 12, "note_id": 1}])]
        assert await run_transaction(engine, guarded("b", mixed, locked=locked, last=last)) == [
            (2, "b", AT + timedelta(hours=1))
        ]
        assert [row[1] for row in await table(_NOTES)] == ["a'; --", "b"]
        assert await run_transaction(engine, guarded("c", mixed, locked=locked, last=last)) == []
        assert [row[1] for row in await table(_NOTES)] == ["z", "b"]
        assert await table(_MARKS) == [(10, 1), (12, 1)]

        # Inside a session's transaction (an appointment's booking), statement by statement.
        async with database.write() as session:
            await session.connection()  # begun: the section runs in its transaction
            assert session.in_transaction()
            assert await run_section(session, guarded("z", [(_INSERT_MARKS, [{"id": 13, "note_id": 1}])], last=last)) == [
                (1, "z", AT)
            ]
            assert await run_section(session, guarded("y", [(_INSERT_MARKS, [{"id": 14, "note_id": 2}])], last=last)) == []
            await session.commit()
        assert await table(_MARKS) == [(10, 1), (12, 1), (14, 2)]

        if backend != "postgresql":
            return
        # Cancelled while it waits for the lock: nothing written, no lock or transaction left.
        other = await asyncpg.connect(plain_dsn(fresh_database_url))
        try:
            await other.execute(f"BEGIN; SELECT pg_advisory_xact_lock({KEY})")
            waiting = asyncio.create_task(
                run_transaction(engine, guarded("q", [(_INSERT_MARKS, [{"id": 15, "note_id": 2}])], locked=True, last=last))
            )
            await asyncio.sleep(0.3)
            assert not waiting.done()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # asyncpg asks the server to cancel the statement: once it has, the lock is given up.
            for _ in range(100):
                if not await other.fetchval(WAITERS, KEY):
                    break
                await asyncio.sleep(0.05)
            assert not await other.fetchval(WAITERS, KEY), "the cancelled call still waits for the lock"
            await other.execute("COMMIT")
        finally:
            await other.close()
        assert await lock_holders(fresh_database_url) == 0
        for index in range(3):  # the pool's connections are usable and outside any transaction
            assert await run_transaction(engine, guarded("p", [(_INSERT_MARKS, [{"id": 20 + index, "note_id": 2}])], locked=True, last=last)) == []
        assert [row[0] for row in await table(_MARKS)] == [10, 12, 14, 20, 21, 22]
    finally:
        await database.dispose()


async def test_the_one_call_runs_a_statement_its_connection_prepared_once(backend, fresh_database_url):
    """On PostgreSQL a section of the lock and a last `Guarded` step runs as one call of
    `callgrid_locked_execute`, which executes the guarded statement its connection prepared:
    prepared once per connection, run on its generic plan (not planned again per call), and
    prepared again when it is gone from the connection."""
    if backend != "postgresql":
        assert backend == "sqlite"  # a section is one go on the write connection: nothing to prepare
        return
    await migrate(fresh_database_url)
    database = open_database(Settings(database_url=fresh_database_url, database_pool_size=1))
    engine = database.write_engine
    statements = (
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'callgrid_locked_%'"
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_PROBES.create_all)

        async def prepared() -> list[tuple]:
            async with engine.connect() as connection:  # the pool's one connection
                return [tuple(row) for row in (await connection.exec_driver_sql(statements)).all()]

        def booking(index: int):
            return guarded(f"n{index}", [(_INSERT_NOTES, [{"id": index, "note": f"n{index}", "at": AT}])], locked=True, last=True)

        assert await run_transaction(engine, booking(1)) == []
        [(name, generic, custom)] = await prepared()
        for index in range(2, 6):
            assert await run_transaction(engine, booking(index)) == []
        assert await prepared() == [(name, generic + 4, custom)]  # the same statement, its generic plan

        async with engine.connect() as connection:
            await connection.exec_driver_sql(f"DEALLOCATE {name}")  # as DISCARD ALL would
            await connection.commit()
        assert await prepared() == []
        assert await run_transaction(engine, booking(6)) == []
        assert [row[0] for row in await prepared()] == [name]
        # Prepared on the server without this process knowing (a PREPARE whose answer a cancel
        # cut off): PREPARE says it exists, and the booking goes on.
        sections._PREPARED.clear()
        assert await run_transaction(engine, booking(7)) == []
        assert [row[0] for row in await prepared()] == [name]
        async with engine.connect() as connection:
            ids = (await connection.execute(select(_NOTES.c.id).order_by(_NOTES.c.id))).scalars().all()
        assert ids == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await database.dispose()
