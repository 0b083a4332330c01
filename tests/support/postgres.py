"""The test PostgreSQL server: `CALLGRID_TEST_POSTGRES_URL` (unset: no PostgreSQL tests).

Its database is only used to connect for CREATE / DROP DATABASE; each test run, and each test
that needs a database nobody has touched, gets one of its own, dropped after it.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("CALLGRID_TEST_POSTGRES_URL")


def asyncpg_url(url: str, database: str | None = None) -> str:
    """`url` as Callgrid takes it (`postgresql+asyncpg://`), on `database` when given."""
    parsed = make_url(url).set(drivername="postgresql+asyncpg")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def plain_dsn(url: str) -> str:
    """`url` as asyncpg and libpq take it (`postgresql://`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(statement: str, server: str | None = None) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE) on the server."""
    connection = await asyncpg.connect(plain_dsn(server or _server()))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(prefix: str, server: str | None = None) -> str:
    """A new, empty database named `<prefix>_<random>`; its URL (asyncpg driver)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin(f'CREATE DATABASE "{name}"', server)
    return asyncpg_url(server or _server(), name)


async def drop_database(url: str, server: str | None = None) -> None:
    """Drop the database of `url`, whoever is still connected to it."""
    await admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)', server)


@asynccontextmanager
async def new_database(prefix: str, server: str | None = None) -> AsyncIterator[str]:
    """A new, empty database for the block (in a test's event loop); its URL."""
    url = await create_database(prefix, server)
    try:
        yield url
    finally:
        await drop_database(url, server)


@contextmanager
def new_database_sync(prefix: str, server: str | None = None) -> Iterator[str]:
    """`new_database` for synchronous fixtures (outside any event loop)."""
    url = asyncio.run(create_database(prefix, server))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url, server))


def _server() -> str:
    if not POSTGRES_URL:
        raise RuntimeError("CALLGRID_TEST_POSTGRES_URL is not set")
    return POSTGRES_URL
