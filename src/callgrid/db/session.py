"""The request's session: opened per request, committed once, here and nowhere else."""

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callgrid.db.engine import IMMEDIATE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY = "__callgrid_read_only__"


def read_only(endpoint):
    """Marks an endpoint that only reads although its method is not GET (a POST that checks)."""
    setattr(endpoint, READ_ONLY, True)
    return endpoint


def _writes(request: Request) -> bool:
    if request.method in READ_METHODS:
        return False
    route = request.scope.get("route")
    return not getattr(getattr(route, "endpoint", None), READ_ONLY, False)


# How long a writer queues in this process before it leaves the wait to SQLite's own busy
# timeout (30 s as well), as every writer did before this queue existed.
WRITE_QUEUE_SECONDS = 30.0

_write_queues: weakref.WeakKeyDictionary[Engine, dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Lock]]] = (
    weakref.WeakKeyDictionary()
)


def _write_queue(session: AsyncSession) -> asyncio.Lock | None:
    """This process's queue of writers to one SQLite database (None on PostgreSQL)."""
    bind = session.bind
    engine = getattr(bind, "sync_engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    per_loop = _write_queues.setdefault(engine, {})
    entry = per_loop.get(id(loop))
    if entry is None or entry[0] is not loop:
        entry = per_loop[id(loop)] = (loop, asyncio.Lock())
    return entry[1]


def _nothing() -> None:
    return None


async def begin_write(session: AsyncSession) -> Callable[[], None]:
    """Begin the session's transaction as a write: on SQLite, `BEGIN IMMEDIATE`, taking the
    database's single write lock before anything is read.

    On SQLite this process's writers first queue here, in turn: left to SQLite, a writer that
    finds the lock taken sleeps and retries (up to 100 ms a time), so a few contending writers
    leave the database idle most of the time. Other processes are kept out by SQLite's lock as
    before. Returns what ends this writer's turn: call it once the transaction has ended.
    """
    queue = _write_queue(session)
    queued = False
    if queue is not None:
        try:
            async with asyncio.timeout(WRITE_QUEUE_SECONDS):
                await queue.acquire()
            queued = True
        except TimeoutError:
            pass  # leave it to SQLite's busy timeout
    try:
        await session.connection(execution_options={IMMEDIATE: True})
    except BaseException:
        if queued:
            queue.release()
        raise
    return queue.release if queued else _nothing


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker = request.app.state.sessionmaker
    writes = _writes(request)
    async with sessionmaker() as session:
        end_turn = await begin_write(session) if writes else _nothing
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            if writes:
                await session.commit()
            else:
                await session.rollback()
        finally:
            end_turn()


# scope="function": the session commits when the endpoint returns, before the response is
# sent, so a client that received a 2xx knows its change is committed.
get_session = Depends(_request_session, scope="function")


@asynccontextmanager
async def write_session(sessionmaker: async_sessionmaker) -> AsyncIterator[AsyncSession]:
    """A session for writing outside a request (the CLI, tests). On SQLite it takes the write
    lock up front, as requests do: a deferred transaction that reads and then writes fails at
    once with "database is locked" when another writer commits in between; this one waits."""
    end_turn = _nothing
    try:
        async with sessionmaker() as session:
            end_turn = await begin_write(session)
            yield session
    finally:
        end_turn()  # after the session is closed, so its transaction has ended
