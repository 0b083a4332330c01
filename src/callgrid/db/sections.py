"""Write sections: a write transaction's statements, written once, run as lean as each
database allows.

A section is a generator that yields `(statement, parameters)` and receives each statement's
rows (a list of tuples; empty for writes); what it returns is the section's result, and what
it raises aborts the transaction. It holds only the decision (conflict check, inserts,
outbox rows): everything else is done before it. A `Guarded` step is a check and the writes
it lets through, made only when the check finds no row: on PostgreSQL one statement, one
round trip less while the host's lock is held.

- SQLite: the whole section (`BEGIN IMMEDIATE`, its statements, `COMMIT`) runs in one go on
  a connection of its own in the event loop's thread when the write lock is free at once
  (on a thread from where it has run for `LOOP_SECONDS`); while another connection writes,
  it tries again there after short pauses, and only after `LOCKED_SECONDS` of them runs in
  one call on the driver's thread, where writers wait for their turn. aiosqlite
  runs every statement on a thread of its own, and SQLAlchemy's adapter makes three or four
  hops to that thread per statement; each hop waits for the busy event loop (and the GIL)
  while the database's single write lock is held. With no hop, the lock is held for what
  SQLite itself takes (tens of microseconds), and the write throughput is no longer the
  event loop's latency.
- PostgreSQL (asyncpg, no threads): a transaction on asyncpg's own connection, each statement
  one round trip, without the session and engine layers around each.
- When the request's write session has already begun, the section runs inside its
  transaction instead, statement by statement, and the session commits it.

Statements are compiled once per (statement, parameter names) and their parameters converted
by the column types' own bind processors, so a row written here is the row the ORM writes.
"""

import asyncio
import hashlib
import re
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, ResourceClosedError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

from callgrid.db.loop_connections import loop_reader, loop_writer

T = TypeVar("T")

Parameters = dict[str, Any] | Sequence[dict[str, Any]] | None
Statement = tuple[Executable, Parameters]


@dataclass(frozen=True, slots=True)
class Guarded:
    """A check and the writes it guards: the writes are made only when the check finds no row.
    The step's rows are the check's; a section that gets rows back must refuse (raise), since
    nothing was written."""

    check: Statement
    writes: Sequence[Statement]
    # Nothing follows it in its section. On PostgreSQL, when it comes right after the section's
    # advisory lock, the lock, the check, the writes and the commit are then one call
    # (`callgrid_locked_execute`): the lock is held for the database's own time, not across round
    # trips and the event loop's latency between them.
    last: bool = False


Step = Statement | Guarded
Section = Generator[Step, list[tuple], T]


async def run_section(session: AsyncSession, section: Section[T], *, after_commit: Callable[[], None] | None = None) -> T:
    """Run `section` as the write transaction. When the session has not begun, the section is
    a transaction of its own on the driver's connection and commits itself; when it has (an
    appointment's call and its participants are one transaction), the section runs inside
    it. `after_commit` runs once the section's changes are committed: at once in the first
    case, at the session's commit in the second."""
    if not session.in_transaction():
        result = await run_transaction(session.bind, section)
        if after_commit is not None:
            after_commit()
        return result
    rows: list[tuple] | None = None
    try:
        while True:
            step = section.send(rows)
            if isinstance(step, Guarded):
                rows = await _session_rows(session, step.check)
                if not rows:
                    for write in step.writes:
                        await _session_rows(session, write)
            else:
                rows = await _session_rows(session, step)
    except StopIteration as stop:
        if after_commit is not None:
            _after_session_commit(session, after_commit)
        return stop.value


async def _session_rows(session: AsyncSession, step: Statement) -> list[tuple]:
    result = await session.execute(*step)
    try:
        return [tuple(row) for row in result.all()]
    except ResourceClosedError:  # a write: no rows
        return []


async def run_transaction(engine: AsyncEngine, section: Section[T]) -> T:
    """`section` as a transaction of its own on `engine` (on SQLite, the write engine: its
    one connection is where writers wait for their turn), committed when it returns.

    On SQLite it begins in the event loop's thread when the write lock is free at once
    (`db.loop_connections`), and goes on there for as long as it stays brief: past
    `LOOP_SECONDS` (a long series, a fan-out of hundreds of events) the rest runs on a
    thread, the transaction still held, so that it does not hold the event loop."""
    if engine.dialect.name == "sqlite":
        writer = loop_writer(engine)
        if writer is not None and await _begin_on_loop_writer(writer):
            return await _run_on_loop_writer(writer, engine.dialect, section)
        return await _run_on_driver_thread(engine, section)
    return await _run_on_asyncpg(engine, section)


# While another connection holds SQLite's write lock, a section tries the writer of the event
# loop's thread again after these pauses (the last repeated), for at most this long.
LOCKED_PAUSES = (0.0005, 0.001, 0.002, 0.005)
LOCKED_SECONDS = 1.0


async def _begin_on_loop_writer(writer) -> bool:
    """`BEGIN IMMEDIATE` on the event loop's writer; False when another connection kept the
    write lock for LOCKED_SECONDS (the section then waits on the driver's thread, with its
    busy timeout, and fails there if it never comes).

    Another connection's writes are brief (a key's last use and the planner's statistics on
    this process's driver connection, another process's). Were the sections that meet one
    to queue on the driver's thread instead, each would hold the lock across the trips there
    and back, the next ones would meet it in turn, and the writes would stay there for as
    long as requests kept coming: under a steady load of creates, a key's last use written
    while the requests under way were reading their key again sent them there, and from then
    on the rate halved and the creates' server time went from 1.2 to 90 ms
    (docs/architecture.md, Write sections)."""
    pauses = iter(LOCKED_PAUSES)
    pause = 0.0
    deadline = None
    while True:
        while (waiting := writer.waiting()) is not None:
            # A section gone on on a thread: its end, not its outcome (its refusal is its
            # own request's answer), and not cancelled should this request be.
            await asyncio.wait({waiting})
        try:
            writer.connection.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                return False  # the driver's thread raises it as the pool's connection meets it
        now = time.monotonic()
        deadline = deadline if deadline is not None else now + LOCKED_SECONDS
        if now >= deadline:
            return False
        pause = next(pauses, pause)
        await asyncio.sleep(pause)


# A section still running after this long in the event loop's thread goes on on a thread (a
# booking of a call takes a few hundred microseconds).
LOOP_SECONDS = 0.005


async def _run_on_loop_writer(writer, dialect: Dialect, section: Section[T]) -> T:
    connection = writer.connection
    rows: list[tuple] | None = None
    until = time.perf_counter() + LOOP_SECONDS
    try:
        while True:
            try:
                step = section.send(rows)
            except StopIteration as stop:
                connection.execute("COMMIT")
                writer.committed()
                return stop.value
            if time.perf_counter() > until:
                break
            rows = _execute_step(connection, dialect, step)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    # The rest on a thread, the transaction held: the writer's next sections wait for it to
    # end there, even if this request is cancelled meanwhile.
    try:
        rest = asyncio.get_running_loop().run_in_executor(None, _run_begun, connection, dialect, section, step)
    except BaseException:  # no thread to go on on (the process is stopping)
        connection.execute("ROLLBACK")
        raise
    writer.went_on(rest)
    return await asyncio.shield(rest)


async def read_rows(session: AsyncSession, statement: Executable, parameters: dict[str, Any]) -> list[tuple]:
    """The rows of one query, read on its own when the session has not begun (one statement
    reads a consistent snapshot by itself): on SQLite in one call on the driver's thread,
    elsewhere without a transaction around it. In the session's transaction otherwise."""
    if session.in_transaction():
        return [tuple(row) for row in (await session.execute(statement, parameters)).all()]
    return await read_engine_rows(session.bind, statement, parameters)


async def read_engine_rows(engine: AsyncEngine, statement: Executable, parameters: dict[str, Any] | None = None) -> list[tuple]:
    """`read_rows` without a session. For the reads that decide a write (a row or two by an
    index: microseconds of SQLite's time): on SQLite on a connection of their own in the event
    loop's thread, else on a connection of `engine`'s pool."""
    if engine.dialect.name == "sqlite":
        reader = loop_reader(engine)
        if reader is not None:
            try:
                return _execute(reader, engine.dialect, statement, parameters)
            except sqlite3.OperationalError:
                pass  # busy (a WAL reader rarely is), or an error the pooled read will raise again
        async with _pooled(engine) as driver:
            return await driver._execute(_execute, driver._conn, engine.dialect, statement, parameters)
    # PostgreSQL: on asyncpg's connection, without BEGIN and ROLLBACK around it.
    async with _pooled(engine) as driver:
        return await _execute_asyncpg(driver, engine.dialect, statement, parameters)


def _after_session_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    def fire(_session) -> None:
        callback()

    event.listen(session.sync_session, "after_commit", fire, once=True)


@asynccontextmanager
async def _pooled(engine) -> AsyncIterator[Any]:
    """The driver's own connection (aiosqlite's or asyncpg's), checked out of the engine's
    pool (for SQLite's write engine, the process's one write connection: this is where a
    writer waits for its turn). aiosqlite's `_execute` runs a function on its thread and
    `_conn` is the sqlite3 connection: aiosqlite has no public way to run several statements
    in one call."""
    pooled = await engine.raw_connection()
    try:
        yield pooled.driver_connection
    finally:
        # Check-in may reset the connection through the async driver: in a greenlet, as
        # SQLAlchemy's own async layer does (else a refused write throws the connection away).
        await greenlet_spawn(pooled.close)


async def _run_on_driver_thread(engine, section: Section[T]) -> T:
    async with _pooled(engine) as driver:
        return await driver._execute(_run_sqlite, driver._conn, engine.dialect, section)


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def advisory_lock_step(key: int) -> Step:
    """PostgreSQL: a transaction-scoped advisory lock on `key`, as a section's step. As the
    section's first step it goes with the `BEGIN`, in one round trip."""
    return _ADVISORY_LOCK, {"key": key}


async def _run_on_asyncpg(engine, section: Section[T]) -> T:
    """The section in a transaction of its own on asyncpg's connection: each statement one
    round trip, without the session and engine layers around each; the `BEGIN` with a first
    advisory lock, the section's plain inserts together (`_insert_together`); a first advisory
    lock and a last `Guarded` step in one call (`_locked_call`)."""
    pooled = await engine.raw_connection()
    driver = pooled.driver_connection
    run = _AsyncpgSection(driver, engine.dialect, section)
    try:
        try:
            return await run.transaction()
        except BaseException:
            # The section refused (a conflict), failed or was cancelled, maybe with a statement
            # still in flight: rolled back, or else the connection is never handed out again.
            if run.ended:
                raise  # one call, committed or rolled back by the database: nothing is open
            try:
                await driver.execute("ROLLBACK")
            except BaseException:
                pooled.invalidate()
            raise
    except asyncpg_errors() as exc:
        if getattr(exc, "sqlstate", "").startswith("23"):  # integrity: as SQLAlchemy says it
            raise IntegrityError(None, None, exc) from exc
        raise
    finally:
        await greenlet_spawn(pooled.close)


class _AsyncpgSection:
    def __init__(self, driver, dialect: Dialect, section: Section[T]):
        self.driver, self.dialect, self.section = driver, dialect, section
        self.ended = False  # the section's one call has returned: no transaction is open

    async def transaction(self) -> T:
        driver, dialect, section = self.driver, self.dialect, self.section
        rows: list[tuple] | None = None
        inserts: list[tuple[_Compiled, list[tuple]]] = []
        begun = False
        pending: Step | None = None
        while True:
            if pending is not None:
                step, pending = pending, None
            else:
                try:
                    step = section.send(rows)
                except StopIteration as stop:
                    if begun:
                        await _insert_together(driver, inserts)
                        await driver.execute("COMMIT")
                    return stop.value
            if not begun:
                begun = True
                if not isinstance(step, Guarded) and step[0] is _ADVISORY_LOCK:
                    # A simple query of two statements: the key is an int, written as a literal.
                    begin = f"BEGIN; SELECT pg_advisory_xact_lock({int(step[1]['key'])})"
                    try:
                        following = section.send([])
                    except StopIteration as stop:
                        await driver.execute(f"{begin}; COMMIT")
                        return stop.value
                    if isinstance(following, Guarded) and following.last:
                        call = _locked_call(dialect, int(step[1]["key"]), following)
                        if call is not None:
                            return await self._one_call(call)
                    await driver.execute(begin)
                    pending = following
                    continue
                await driver.execute("BEGIN")
            if isinstance(step, Guarded):
                await _insert_together(driver, inserts)
                rows = await _guarded_asyncpg(driver, dialect, step)
                continue
            deferred = _plain_insert(*step, dialect)
            if deferred is not None:
                inserts.append(deferred)
                rows = []
                continue
            await _insert_together(driver, inserts)
            rows = await _execute_asyncpg(driver, dialect, *step)

    async def _one_call(self, call: "_LockedCall") -> T:
        """The lock, the check, the writes, the commit: one statement outside a transaction
        (its own, ended by the database when it returns), after the connection has prepared
        the guarded statement (once per connection)."""
        prepared = _PREPARED.setdefault(self.driver, set())
        for attempt in (1, 2):
            if call.name not in prepared:
                try:
                    await self.driver.execute(call.prepare)
                except asyncpg_errors() as exc:
                    # Prepared already: by a PREPARE whose answer never came (cancelled).
                    if getattr(exc, "sqlstate", None) != "42P05":  # duplicate_prepared_statement
                        raise
                prepared.add(call.name)
            try:
                records = await self.driver.fetch(call.sql, call.key, call.name, call.texts)
                break
            except asyncpg_errors() as exc:
                self.ended = True  # refused by the database, which rolled its transaction back
                if not _not_prepared(exc) or attempt == 2:
                    raise
                prepared.discard(call.name)  # deallocated behind our back (DISCARD ALL): again
        self.ended = True
        try:
            self.section.send([call.check.row(tuple(record)) for record in records])
        except StopIteration as stop:
            return stop.value
        raise RuntimeError("a section went on after its last step, a Guarded one: its transaction has ended")


async def _guarded_asyncpg(driver, dialect: Dialect, step: Guarded) -> list[tuple]:
    """The check and its plain inserts as one statement: the check a WITH query, each insert
    a data-modifying WITH that selects its VALUES only where the check found nothing (all of it
    sees one snapshot, so the inserts cannot change what the check sees). Other writes: the
    check, then the writes, one by one."""
    statement, parameters = step.check
    check = _compile(statement, dialect, None)
    writes = [write for write in step.writes if not _writes_nothing(write[1])]
    if not writes:
        return await _execute_asyncpg(driver, dialect, statement, parameters)
    inserts = [_plain_insert(*write, dialect) for write in writes]
    width = len(check.names) + sum(len(values) * len(values[0]) for _, values in filter(None, inserts))
    if not check.results or None in inserts or width > _MAX_PARAMETERS:
        rows = await _execute_asyncpg(driver, dialect, statement, parameters)
        if not rows:
            for write in writes:
                await _execute_asyncpg(driver, dialect, *write)
        return rows
    sql = _guarded_sql(check, tuple((compiled, len(values)) for compiled, values in inserts))
    values = (value for _, rows in inserts for row in rows for value in row)
    return [check.row(tuple(record)) for record in await driver.fetch(sql, *check.parameters(parameters or {}), *values)]


def _writes_nothing(parameters: Parameters) -> bool:
    return parameters is not None and not isinstance(parameters, dict) and len(parameters) == 0


def asyncpg_errors() -> type[Exception]:
    import asyncpg

    return asyncpg.PostgresError


async def _execute_asyncpg(driver, dialect: Dialect, statement: Executable, parameters: Parameters) -> list[tuple]:
    if isinstance(parameters, dict) or parameters is None:
        given = parameters or {}
        is_insert = getattr(statement, "is_insert", False)
        compiled = _compile(statement, dialect, tuple(given) if is_insert else None)
        if compiled.results:
            return [compiled.row(tuple(record)) for record in await driver.fetch(compiled.sql, *compiled.parameters(given))]
        await driver.execute(compiled.sql, *compiled.parameters(given))
        return []
    if not parameters:
        return []
    compiled = _compile(statement, dialect, tuple(parameters[0]))
    if len(parameters) == 1:  # asyncpg's execute costs a third less than executemany of one row
        await driver.execute(compiled.sql, *compiled.parameters(parameters[0]))
    else:
        await driver.executemany(compiled.sql, [compiled.parameters(item) for item in parameters])
    return []


# PostgreSQL: the section's plain inserts (VALUES, no RETURNING: nothing for the section to
# read) wait for its next statement or its end, and go as one statement, each a data-modifying
# WITH of the next: one round trip where there were several, while the host's lock is held. They
# see one snapshot, so only inserts wait: an UPDATE or a read after them goes after them.
_MAX_PARAMETERS = 32_767  # PostgreSQL's protocol


def _plain_insert(statement: Executable, parameters: Parameters, dialect: Dialect) -> tuple["_Compiled", list[tuple]] | None:
    if not getattr(statement, "is_insert", False) or getattr(statement, "select", None) is not None or not parameters:
        return None
    given = [parameters] if isinstance(parameters, dict) else list(parameters)
    compiled = _compile(statement, dialect, tuple(given[0]))
    if compiled.values_group is None or compiled.results:
        return None
    return compiled, [compiled.parameters(item) for item in given]


async def _insert_together(driver, inserts: list[tuple["_Compiled", list[tuple]]]) -> None:
    if not inserts:
        return
    batch, inserts[:] = list(inserts), []
    if len(batch) == 1 and len(batch[0][1]) == 1:
        compiled, (values,) = batch[0]
        await driver.execute(compiled.sql, *values)
        return
    if sum(len(values) * len(values[0]) for _, values in batch) > _MAX_PARAMETERS:
        for compiled, values in batch:
            await driver.executemany(compiled.sql, values)
        return
    await driver.execute(_together_sql(tuple((compiled, len(values)) for compiled, values in batch)),
                         *(value for _, values in batch for row in values for value in row))


_TOGETHER: dict[tuple, Any] = {}
_MISSING = object()


def _cached_sql(key: tuple, make: Callable[[], T]) -> T:
    """What `make` builds for `key`, built once (a None too: a shape that cannot be)."""
    sql = _TOGETHER.get(key, _MISSING)
    if sql is _MISSING:
        if len(_TOGETHER) > 1024:
            _TOGETHER.clear()
        sql = _TOGETHER[key] = make()
    return sql


def _values_groups(compiled: "_Compiled", count: int, offset: int) -> str:
    """`count` of the insert's VALUES groups, their parameters numbered from `offset` + 1."""
    groups = []
    for _ in range(count):
        groups.append(re.sub(r"\$(\d+)", lambda m, o=offset: f"${int(m.group(1)) + o}", compiled.values_group))
        offset += len(compiled.names)
    return ", ".join(groups)


def _together_sql(shape: tuple[tuple["_Compiled", int], ...]) -> str:
    def make() -> str:
        parts, offset = [], 0
        for compiled, count in shape:
            parts.append(f"{compiled.sql[:compiled.values_at]}{_values_groups(compiled, count, offset)}")
            offset += count * len(compiled.names)
        ctes = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts[:-1]))
        return f"WITH {ctes} {parts[-1]}" if ctes else parts[-1]

    return _cached_sql(("together", *((compiled.sql, count) for compiled, count in shape)), make)


def _guarded_sql(check: "_Compiled", shape: tuple[tuple["_Compiled", int], ...]) -> str:
    def make() -> str:
        parts, offset = [], len(check.names)
        for i, (compiled, count) in enumerate(shape):
            into = compiled.sql[: compiled.values_at - len("VALUES ")]
            groups = _values_groups(compiled, count, offset)
            parts.append(f"w{i} AS ({into}SELECT * FROM (VALUES {groups}) AS v WHERE NOT EXISTS (SELECT FROM g))")
            offset += count * len(compiled.names)
        return f"WITH g AS ({check.sql}), {', '.join(parts)} SELECT * FROM g"

    return _cached_sql(("guarded", check.sql, *((compiled.sql, count) for compiled, count in shape)), make)


# Sections of up to this many values go as one call. Each shape of statement is prepared once
# on each connection that runs it and kept there (a booking of one call has about 50 values, a
# series of three about 150); longer series, each length a shape of its own, go the
# transaction way rather than leave a prepared statement behind on every connection.
_LOCKED_VALUES = 150


class _LockedCall(NamedTuple):
    sql: str  # the call of `callgrid_locked_execute`
    check: "_Compiled"
    key: int  # the advisory lock's
    name: str  # the prepared statement's
    texts: list  # the values' text forms
    prepare: str  # PREPARE name AS the guarded statement


def _locked_call(dialect: Dialect, key: int, step: Guarded) -> _LockedCall | None:
    """`step` as one call of `callgrid_locked_execute` (a migration's function): its statement
    (`_guarded_sql`), prepared on the connection, run with the values' text forms, each cast
    by the server to its parameter's type, as asyncpg's own placeholders are; its check's
    rows come back as the check's columns' types. None where it cannot be: a write that is not
    a plain insert, a value with no text form here."""
    statement, parameters = step.check
    check = _compile(statement, dialect, None)
    writes = [write for write in step.writes if not _writes_nothing(write[1])]
    given = sum(len(row) for _, rows in writes for row in ([rows] if isinstance(rows, dict) else rows or ()))
    if len(check.names) + given > _LOCKED_VALUES:
        return None  # before converting them: the transaction way converts them again
    inserts = [_plain_insert(*write, dialect) for write in writes]
    if not check.results or not inserts or None in inserts:
        return None
    sql = _guarded_sql(check, tuple((compiled, len(values)) for compiled, values in inserts))
    values = [*check.parameters(parameters or {}), *(value for _, rows in inserts for row in rows for value in row)]
    if len(values) > _LOCKED_VALUES:
        return None
    texts = [_text_form(value) for value in values]
    if any(text is _NO_TEXT for text in texts):
        return None
    shape = _cached_sql(("locked", sql), lambda: _locked_sql(sql, statement, dialect))  # sql: the check's too
    if shape is None:
        return None
    call, name, prepare = shape
    return _LockedCall(call, check, key, name, texts, prepare)


def _column_types(statement: Executable, dialect: Dialect) -> tuple[str, ...]:
    return tuple(column.type.compile(dialect=dialect) for column in statement.selected_columns)


_PLACEHOLDER = re.compile(r"\$(\d+)(::)?")


def _locked_sql(guarded: str, statement: Executable, dialect: Dialect) -> tuple[str, str, str] | None:
    """(the call, the prepared statement's name, its PREPARE) for a guarded statement."""
    if not all(cast for _, cast in _PLACEHOLDER.findall(guarded)):
        return None  # a placeholder without its type: its text would stay text
    types = _column_types(statement, dialect)
    head, _, _ = guarded.rpartition(" SELECT * FROM g")
    selected = ", ".join(f"g.{_quoted(dialect, column.name)}::{kind}" for column, kind in zip(statement.selected_columns, types))
    columns = ", ".join(f"c{i} {kind}" for i, kind in enumerate(types))
    prepared = f"{head} SELECT {selected} FROM g"
    name = "callgrid_locked_" + hashlib.sha1(prepared.encode()).hexdigest()[:24]
    call = f"SELECT * FROM callgrid_locked_execute($1::bigint, $2::text, $3::text[]) AS locked({columns})"
    return call, name, f"PREPARE {name} AS {prepared}"


# The statements each connection has prepared (`_LockedCall.name`): a connection is new, or was
# replaced, when it is missing here.
_PREPARED: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()


def _not_prepared(exc: Exception) -> bool:
    """The error of `callgrid_locked_execute` when the connection has no statement of that
    name: PL/pgSQL asks whether `EXECUTE name(...)` returns rows before it runs it, and says no
    for a name it cannot find."""
    return getattr(exc, "sqlstate", None) == "26000" or (
        getattr(exc, "sqlstate", None) == "42601" and "EXECUTE query does not return tuples" in str(exc)
    )


def _quoted(dialect: Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


_NO_TEXT = object()


def _text_form(value: Any) -> Any:
    """A value in PostgreSQL's text form, which its type's cast reads back (arrays as array
    literals; None stays NULL); `_NO_TEXT` for a value that has none here."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, UUID)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is not None else _NO_TEXT
    if isinstance(value, (date, dt_time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            text = _text_form(item)
            if text is _NO_TEXT or isinstance(item, (list, tuple)):
                return _NO_TEXT
            items.append("NULL" if text is None else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
        return "{" + ",".join(items) + "}"
    return _NO_TEXT


def _run_sqlite(connection, dialect: Dialect, section: Section[T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    return _run_begun(connection, dialect, section)


def _run_begun(connection, dialect: Dialect, section: Section[T], pending: Step | None = None) -> T:
    """`section` in the transaction `connection` has begun (its `pending` step, taken from it
    already, first), committed (or rolled back when it raises)."""
    try:
        rows: list[tuple] | None = None
        while True:
            if pending is not None:
                step, pending = pending, None
            else:
                try:
                    step = section.send(rows)
                except StopIteration as stop:
                    connection.execute("COMMIT")
                    return stop.value
            rows = _execute_step(connection, dialect, step)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _result_processor(type_, dialect: Dialect):
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None)
    except Exception:
        # A processor that must know the driver's column type code (asyncpg's NUMERIC): the
        # driver's own value is already the type's (asyncpg returns Decimal for numeric).
        return None


class _Compiled:
    """A statement compiled for SQLite: its SQL, its parameters' order with their converters,
    and its result columns' converters."""

    def __init__(self, statement: Executable, dialect: Dialect, keys: tuple[str, ...] | None):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self.binds = []
        for name in self.names:
            bind = compiled.binds[name]
            self.binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), bind))
        self.results = [_result_processor(column.type, dialect) for column in getattr(statement, "selected_columns", ())]
        # An INSERT's one VALUES group, where it starts (None: not a plain VALUES insert).
        self.values_group, self.values_at = None, 0
        at = self.sql.rfind(" VALUES (")
        if getattr(statement, "is_insert", False) and at > 0 and self.sql.endswith(")") and "'" not in self.sql:
            group = self.sql[at + len(" VALUES "):]
            if group.count("(") == group.count(")") and " ON CONFLICT" not in group and " RETURNING" not in group:
                self.values_group, self.values_at = group, at + len(" VALUES ")

    def parameters(self, given: dict[str, Any]) -> tuple:
        values = []
        for name, process, bind in self.binds:
            value = given[name] if name in given else bind.effective_value
            values.append(process(value) if process is not None else value)
        return tuple(values)

    def row(self, raw: tuple) -> tuple:
        return tuple(process(value) if process is not None else value for process, value in zip(self.results, raw))


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...] | None) -> _Compiled:
    # Kept on the dialect, which is the engine's own: the converters are bound to it (the
    # keyring of encrypted columns is an engine's, callgrid.db.encrypted).
    try:
        compiled = dialect.callgrid_compiled
    except AttributeError:
        compiled = dialect.callgrid_compiled = {}
    key = (id(statement), keys)
    found = compiled.get(key)
    if found is None or found[0] is not statement:
        found = compiled[key] = (statement, _Compiled(statement, dialect, keys))
    return found[1]


def _execute_step(connection, dialect: Dialect, step: Step) -> list[tuple]:
    if isinstance(step, Guarded):
        rows = _execute(connection, dialect, *step.check)
        if not rows:
            for write in step.writes:
                _execute(connection, dialect, *write)
        return rows
    return _execute(connection, dialect, *step)


def _execute(connection, dialect: Dialect, statement: Executable, parameters: Parameters) -> list[tuple]:
    if isinstance(parameters, dict) or parameters is None:
        given = parameters or {}
        is_insert = getattr(statement, "is_insert", False)
        compiled = _compile(statement, dialect, tuple(given) if is_insert else None)
        cursor = connection.execute(compiled.sql, compiled.parameters(given))
        if cursor.description is None:
            return []
        return [compiled.row(row) for row in cursor.fetchall()]
    if not parameters:
        return []
    compiled = _compile(statement, dialect, tuple(parameters[0]))
    connection.executemany(compiled.sql, [compiled.parameters(item) for item in parameters])
    return []
