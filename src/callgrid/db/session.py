"""The request's session: opened per request, committed once, here and nowhere else."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callgrid.db.engine import IMMEDIATE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker = request.app.state.sessionmaker
    async with sessionmaker() as session:
        if request.method not in READ_METHODS:
            await session.connection(execution_options={IMMEDIATE: True})
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            if request.method in READ_METHODS:
                await session.rollback()
            else:
                await session.commit()


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
