"""Planner statistics, kept current while the server runs.

Both databases choose plans from statistics about the tables. SQLite has none until `ANALYZE`
writes them to `sqlite_stat1`, and nothing runs it by itself; PostgreSQL's autovacuum
analyzes a table after enough changes, on its own schedule. The migration that adds the list
indexes analyzes once (20261123_list_counts); after that every server process runs
`update_statistics` every `CALLGRID_ANALYZE_INTERVAL_SECONDS` (`periodic_statistics`, in the
app's lifespan). The lists do not depend on it: their statements leave the planner one good
way whatever the statistics say (callgrid.calls.listing), which tests/calls/test_listing_plans.py
checks without statistics, with rough ones and with full ones.

- **SQLite**: a table of `TABLES` is analyzed when it has none yet, or when its size has
  doubled or halved since (rows counted now, in a read, against the first figure of its
  `sqlite_stat1` rows): the rule of `PRAGMA optimize`, done here because that pragma only
  considers tables the same connection has queried, and this runs on the write connection.
  `ANALYZE` writes `sqlite_stat1`, so it goes the way every write goes (`write_session`:
  this process's writers in turn, then SQLite's write lock), in one transaction, under
  `PRAGMA analysis_limit` (SQLITE_ANALYSIS_LIMIT rows per index), as SQLite advises for
  periodic runs: a full ANALYZE reads every index entry while holding the write lock, 0.3 s
  for 100,000 calls; the limited one takes a few milliseconds whatever the size, for
  approximate figures (their row count is then set to the exact one just counted). The
  transaction also changes the schema's version, so that the other connections load the new
  statistics at their next statement (`sqlite_statistics_changed`).
- **PostgreSQL**: `ANALYZE` of `TABLES`, which samples each table (at most 30,000 rows at the
  default statistics target) and takes no lock that reads or writes wait for. One process at
  a time: the transaction first takes a transaction-scoped advisory lock and skips the work
  when another process holds it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from callgrid.db.session import Database, read_session, write_session

log = logging.getLogger("callgrid.db")

# The tables the lists' plans depend on.
TABLES = ("calls", "participants", "subscriptions", "call_day_counts")

# pg_try_advisory_xact_lock key for "statistics are being updated" (a constant of our own).
ADVISORY_KEY = 0x63677374  # "cgst"

# SQLite: a table is analyzed again once its size has changed by this factor either way...
GROWTH = 2.0
# ...reading at most this many entries of each index (PRAGMA analysis_limit).
SQLITE_ANALYSIS_LIMIT = 1000

# The first run comes this long after the start at most (sooner when the interval is shorter),
# so a server started on a database that has grown since its last analysis does not wait a
# whole interval.
FIRST_RUN_SECONDS = 60.0


async def update_statistics(database: Database | async_sessionmaker) -> list[str]:
    """Bring the planner's statistics of `TABLES` up to date; returns the tables analyzed."""
    async with read_session(database) as session:
        if session.get_bind().dialect.name == "postgresql":
            async with session.begin():
                locked = await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
                if not locked.scalar():
                    return []  # another process is at it
                await session.execute(text(f"ANALYZE {', '.join(TABLES)}"))
            return list(TABLES)
        async with session.begin():
            stale = {}
            for table in TABLES:
                rows = await _sqlite_stale(session, table)
                if rows:
                    stale[table] = rows
    if stale:
        async with write_session(database) as session:
            await session.execute(text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
            for table, rows in stale.items():
                await session.execute(text(f"ANALYZE {table}"))
                # The limited analysis guesses the number of rows from the entries it read
                # (off by half or double); the count just made is exact, and the next check
                # compares against it.
                await session.execute(
                    text("UPDATE sqlite_stat1 SET stat = :rows || substr(stat, instr(stat || ' ', ' ')) WHERE tbl = :table"),
                    {"rows": str(rows), "table": table},
                )
            await sqlite_statistics_changed(session)
            await session.commit()
    return list(stale)


async def sqlite_statistics_changed(session) -> None:
    """Have every connection to the database, in every process, load the statistics again.

    A connection reads `sqlite_stat1` when it loads the schema, and loads it again only when
    the schema's version changes; ANALYZE changes the version when it creates sqlite_stat1,
    not when it rewrites it, so connections opened before would plan with the old figures
    for as long as they live (a pool's, for the life of the process). A view created and
    dropped in the same write transaction changes the version: each connection reloads the
    schema, statistics included, at its next statement."""
    await session.execute(text("CREATE VIEW callgrid_statistics_changed AS SELECT 1"))
    await session.execute(text("DROP VIEW callgrid_statistics_changed"))


async def _sqlite_stale(session, table: str) -> int:
    """The table's rows when its statistics are missing or out of date, else 0."""
    rows = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    if not rows:
        return 0  # nothing to learn; SQLite's defaults suit an empty table
    analyzed = None
    if (await session.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"))).scalar():
        stat = (await session.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1"), {"t": table})).scalar()
        analyzed = int(stat.split()[0]) if stat else None
    if not analyzed or rows >= analyzed * GROWTH or rows * GROWTH <= analyzed:
        return rows
    return 0


@asynccontextmanager
async def periodic_statistics(
    database: Database | async_sessionmaker, interval: float, chores: Sequence[Callable[[], Awaitable[object]]] = ()
) -> AsyncIterator[None]:
    """Run `update_statistics` every `interval` seconds while the block runs (0: never), and
    after it each of `chores` (other periodic upkeep: expired idempotency keys)."""
    if interval <= 0:
        yield
        return

    async def loop() -> None:
        await asyncio.sleep(min(interval, FIRST_RUN_SECONDS))
        while True:
            try:
                analyzed = await update_statistics(database)
                if analyzed:
                    log.info("planner statistics updated: %s", ", ".join(analyzed))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("updating planner statistics failed")
            for chore in chores:
                try:
                    await chore()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("periodic upkeep failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="callgrid-statistics")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
