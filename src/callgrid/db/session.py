"""The request's session: opened per request, committed once, here and nowhere else."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, Request
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


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker = request.app.state.sessionmaker
    writes = _writes(request)
    async with sessionmaker() as session:
        if writes:
            await session.connection(execution_options={IMMEDIATE: True})
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


# scope="function": the session commits when the endpoint returns, before the response is
# sent, so a client that received a 2xx knows its change is committed.
get_session = Depends(_request_session, scope="function")


@asynccontextmanager
async def write_session(sessionmaker: async_sessionmaker) -> AsyncIterator[AsyncSession]:
    """A session for writing outside a request (the CLI, tests). On SQLite it takes the write
    lock up front, as requests do: a deferred transaction that reads and then writes fails at
    once with "database is locked" when another writer commits in between; this one waits."""
    async with sessionmaker() as session:
        await session.connection(execution_options={IMMEDIATE: True})
        yield session
