"""Sessions, read and write, as types: an endpoint asks for the one it needs.

- `ReadSession`: reads only; its transaction is rolled back when the request ends.
- `WriteSession`: the request's unit of work. Its transaction begins as a write the first
  time it is used (on SQLite, `BEGIN IMMEDIATE` on the process's one write connection, so
  writers of a process queue for that connection in turn and no other process writes
  meanwhile), and it commits when the endpoint returns, before the response is sent: the one
  place that commits. Everything that can happen before it (authentication, validation,
  lookups on a `ReadSession`, recurrence expansion) happens before its first use, so the
  write section holds only the conflict check, the inserts or updates, the outbox row and
  the commit.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callgrid.config import Settings
from callgrid.db.engine import IMMEDIATE, create_engines


@dataclass(frozen=True)
class Database:
    """The engines of one database and a session maker for each kind of session."""

    engine: AsyncEngine
    write_engine: AsyncEngine
    read: async_sessionmaker
    write: async_sessionmaker

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
        await self.engine.dispose()


_FOLLOW_UPS = "callgrid.follow_ups"


def follow_up(session: AsyncSession, work: Callable[[], Awaitable[None]]) -> None:
    """`work()` runs when the session ends (its commit or rollback done), before a request's
    response is sent: what must be finished before the caller hears that its change is
    committed (a revocation waits there for every process to have heard of it). Whether the
    transaction committed is `work`'s to know (an `after_commit` listener of its own)."""
    session.info.setdefault(_FOLLOW_UPS, []).append(work)


async def run_follow_ups(session: AsyncSession) -> None:
    for work in session.info.pop(_FOLLOW_UPS, ()):
        await work()


_by_sessionmaker: WeakKeyDictionary[async_sessionmaker, Database] = WeakKeyDictionary()


def open_database(settings: Settings) -> Database:
    engine, write_engine = create_engines(settings)
    database = Database(
        engine=engine,
        write_engine=write_engine,
        read=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
        write=async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False),
    )
    _by_sessionmaker[database.read] = database
    _by_sessionmaker[database.write] = database
    return database


class LazySession:
    """The request's session, made on first use. The hot paths need only its engine (a write
    section, a single read: `db.sections`), and making an `AsyncSession` they would not use
    costs more than their own statements. Anything else asked of it is the session's."""

    __slots__ = ("_maker", "_session", "bind")

    def __init__(self, maker: async_sessionmaker):
        self._maker = maker
        self._session: AsyncSession | None = None
        self.bind: AsyncEngine = maker.kw["bind"]

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._maker()
        return self._session

    def in_transaction(self) -> bool:
        return self._session is not None and self._session.in_transaction()

    def __getattr__(self, name: str):
        return getattr(self.session, name)

    async def end(self, *, commit: bool) -> None:
        if self._session is None:
            return
        try:
            if commit:
                await self._session.commit()
            else:
                await self._session.rollback()
        finally:
            try:
                await self._session.close()
            finally:
                await run_follow_ups(self._session)


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    session = LazySession(request.app.state.database.read)
    try:
        yield session  # type: ignore[misc]  # an AsyncSession to its users
    finally:
        await session.end(commit=False)


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    session = LazySession(request.app.state.database.write)
    try:
        yield session  # type: ignore[misc]
    except BaseException:
        await session.end(commit=False)
        raise
    else:
        await session.end(commit=True)


class RequestSessions:
    """A request's `ReadSession` and `WriteSession` in one object, for a hot route, opened by
    its route class (`SessionsRoute`) around the whole handler: they end as the two
    dependencies end them, when the endpoint has returned and before the response is sent, the
    write first (committed when the handler returns, rolled back when it raises), then the
    read (rolled back). Made lazily: a route that does not use them pays two small objects."""

    __slots__ = ("read", "write")

    def __init__(self, database: Database):
        self.read = LazySession(database.read)
        self.write = LazySession(database.write)

    async def __aenter__(self) -> "RequestSessions":
        return self

    async def __aexit__(self, kind, _error, _traceback) -> None:
        try:
            await self.write.end(commit=kind is None)
        finally:
            await self.read.end(commit=False)


_SESSIONS = "callgrid.sessions"


class SessionsRoute(APIRoute):
    """A route whose endpoint takes its sessions as a plain value (`request_sessions`) rather
    than from generator dependencies: FastAPI runs each of those in an exit stack entry and a
    cancel scope of its own, a twentieth of a create's CPU. The sessions end as
    `scope="function"` dependencies do: after the handler (and any wrapper of a subclass, such
    as `IdempotentRoute`'s, which stores its answer in the write session), before the response
    is sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            async with RequestSessions(request.app.state.database) as sessions:
                request.scope[_SESSIONS] = sessions
                return await handler(request)

        return handle


def request_sessions(request: Request) -> RequestSessions:
    """The sessions `SessionsRoute` opened for this request."""
    return request.scope[_SESSIONS]


# scope="function": the session ends when the endpoint returns, before the response is sent,
# so a client that received a 2xx knows its change is committed.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]


@asynccontextmanager
async def write_session(target: Database | async_sessionmaker) -> AsyncIterator[AsyncSession]:
    """A write session outside a request (the CLI, the worker, tests): the caller commits.

    Given a `Database` (or one of its session makers) it is the database's write session, as
    requests have. Given any other session maker (a bench's own), its transaction begins as
    a write (`BEGIN IMMEDIATE` on SQLite), so a read-then-write cannot fail half way with
    "database is locked" when another writer commits in between.
    """
    database = target if isinstance(target, Database) else _by_sessionmaker.get(target)
    maker = database.write if database is not None else target
    session = maker()
    try:
        async with session:
            if database is None:
                await session.connection(execution_options={IMMEDIATE: True})
            yield session
    finally:
        await run_follow_ups(session)


def read_session(target: Database | async_sessionmaker) -> AsyncSession:
    """A read session outside a request (use as `async with`)."""
    database = target if isinstance(target, Database) else _by_sessionmaker.get(target)
    return database.read() if database is not None else target()


def write_engine(target: Database | async_sessionmaker) -> AsyncEngine:
    """The engine whose transactions write (`db.sections.run_transaction`), outside a request:
    the database's write engine (on SQLite its one write connection, where every writer of the
    process waits for its turn); for any other session maker, its own engine."""
    database = target if isinstance(target, Database) else _by_sessionmaker.get(target)
    return database.write_engine if database is not None else target.kw["bind"]
