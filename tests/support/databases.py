"""The databases tests run on: SQLite always, PostgreSQL when `CALLGRID_TEST_POSTGRES_URL` is
set; migrating one, and emptying one between tests."""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from callgrid.config import Settings
from callgrid.db.engine import create_engine, is_sqlite
from callgrid.db.migrate import upgrade
from callgrid.migrations.models import Base
from tests.support.postgres import POSTGRES_URL, new_database, new_database_sync, plain_dsn

BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
# For `@pytest.mark.parametrize("backend", ON_POSTGRESQL)`: tests of PostgreSQL alone.
ON_POSTGRESQL = BACKENDS[1:]


def one_each(*values):
    """`(backend, value)` for each of `values` once, the backends taken in turn: for a parameter
    a test varies that is not about the database (a log format, a number of worker processes),
    so that each value is run once and each backend at least once (with PostgreSQL unset, all
    on SQLite), rather than every value on every backend. Use with
    `@pytest.mark.parametrize(("backend", name), one_each(...))`."""
    return [(BACKENDS[i % len(BACKENDS)], value) for i, value in enumerate(values)]


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def migrate(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


# Kept between tests, as the migrations are: the installation's generated secret. Apps kept
# across tests loaded their keys from it once (tokens, encryption at rest); a `callgrid`
# process started later on the same database must find the same one, not make another.
KEPT_TABLES = frozenset({"server_secrets"})
# A test that leaves a transaction open (a request cancelled mid-way, a session not closed)
# holds row locks the next test's cleaning waits for: it fails naming who holds them.
LOCK_TIMEOUT = 30
DEADLOCK_ATTEMPTS = 5


async def _holders(connection) -> list[dict]:
    rows = await connection.fetch(
        "SELECT pid, application_name, state, now() - xact_start AS in_transaction_for, left(query, 300) AS last_query "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
    )
    return [dict(row) for row in rows]


def _tables() -> list[str]:
    """Every table of the models but the kept ones, children before their parents."""
    return [table.name for table in reversed(Base.metadata.sorted_tables) if table.name not in KEPT_TABLES]


class _Cleaner:
    """Empties a database: every table of the models, in one transaction.

    One connection per database for the whole run, so a test pays for the DELETEs and nothing
    else: SQLite through the standard library's driver; PostgreSQL through asyncpg on an event
    loop of the cleaner's own (in a thread), as each test has its own loop and a connection
    cannot move between loops. DELETE rather than TRUNCATE: on tables holding a few rows it is
    the cheaper of the two on PostgreSQL, and it fires the row triggers that keep derived
    tables exact.
    """

    def __init__(self) -> None:
        self._sqlite: dict[str, sqlite3.Connection] = {}
        self._postgres: dict[str, asyncpg.Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def clean(self, url: str) -> None:
        with self._lock:
            if is_sqlite(url):
                self._clean_sqlite(url)
            else:
                self._run(self._clean_postgres(url))

    def _clean_sqlite(self, url: str) -> None:
        connection = self._sqlite.get(url)
        if connection is None:
            connection = sqlite3.connect(make_url(url).database, timeout=30, isolation_level=None, check_same_thread=False)
            self._sqlite[url] = connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            for table in _tables():
                connection.execute(f'DELETE FROM "{table}"')
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    async def _clean_postgres(self, url: str) -> None:
        connection = self._postgres.get(url)
        if connection is None or connection.is_closed():
            connection = self._postgres[url] = await asyncpg.connect(plain_dsn(url))
        # One round trip: the simple query protocol runs the statements as one transaction.
        statements = [f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}s'"] + [f'DELETE FROM "{table}"' for table in _tables()]
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                await connection.execute("; ".join(statements))
                return
            except asyncpg.LockNotAvailableError:
                raise AssertionError(f"cleaning waited {LOCK_TIMEOUT} s for locks held by: {await _holders(connection)}") from None
            except asyncpg.DeadlockDetectedError:
                # A background write of an app kept across tests (such as a room's timeline batch,
                # whose foreign keys lock rows of several rooms) met the DELETEs going the
                # other way. PostgreSQL rolled one side back; when it was this one, again.
                if attempt == DEADLOCK_ATTEMPTS:
                    raise

    def _run(self, coroutine: Coroutine) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="test-database-cleaner", daemon=True).start()
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def forget(self, url: str) -> None:
        """Close the connection to `url` (before its database is dropped)."""
        with self._lock:
            if (connection := self._sqlite.pop(url, None)) is not None:
                connection.close()
            if (connection := self._postgres.pop(url, None)) is not None:
                self._run(connection.close())


_cleaner = _Cleaner()


@asynccontextmanager
async def empty_database(backend: str, tmp_path: Path, prefix: str) -> AsyncIterator[str]:
    """A new, empty database of `backend` for the block (a SQLite file under `tmp_path`, or a
    PostgreSQL database named from `prefix`, dropped after it); its URL."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / f"{prefix}.db")
        return
    async with new_database(prefix) as url:
        yield url


@contextmanager
def empty_database_sync(backend: str, directory: Path, prefix: str) -> Iterator[str]:
    """`empty_database` for synchronous fixtures (outside any event loop)."""
    if backend == "sqlite":
        yield sqlite_url(directory / f"{prefix}.db")
        return
    with new_database_sync(prefix) as url:
        yield url


async def clean(url: str) -> None:
    """Empty every table of the database at `url` (migrations stay).

    On a thread, with the event loop running meanwhile: an app kept across tests may have a
    transaction of a background task (a room's timeline flush, a purge) open on this loop, and
    blocking the loop while the DELETEs wait for its locks would wait forever."""
    await asyncio.to_thread(_cleaner.clean, url)


def clean_sync(url: str) -> None:
    _cleaner.clean(url)


def forget(url: str) -> None:
    _cleaner.forget(url)
