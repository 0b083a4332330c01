"""Test fixtures: a real, migrated database per backend, a clean one for every test.

Every database test runs on SQLite; when CALLGRID_TEST_POSTGRES_URL is set (CI sets it)
it runs on PostgreSQL too, in a database created for this test run and dropped after it.
"""

import asyncio
import os
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from callgrid import onboarding
from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.db.migrate import upgrade
from callgrid.migrations.models import Base
from callgrid.db.session import write_session

POSTGRES_URL = os.environ.get("CALLGRID_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _asyncpg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(_asyncpg_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


async def _migrate(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    await upgrade(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """One migrated database per backend for the whole run."""
    urls = {}
    sqlite_path = tmp_path_factory.mktemp("db") / "callgrid.db"
    urls["sqlite"] = f"sqlite+aiosqlite:///{sqlite_path}"
    name = None
    if POSTGRES_URL:
        name = f"callgrid_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
        urls["postgresql"] = make_url(_asyncpg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    for url in urls.values():
        asyncio.run(_migrate(url))
    yield urls
    if name:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(database_urls, backend) -> str:
    return database_urls[backend]


async def _clean(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()


class MovableClock:
    """The app's clock in tests: real time, shifted by however far a test moved it."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, public_url="http://callgrid.test", api_key_cache_seconds=0.0)


@pytest.fixture
async def app(settings, clock):
    await _clean(settings.database_url)
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sessionmaker(app):
    return app.state.sessionmaker


class Tenant:
    """An organization as a test sees it: its ids and an HTTP client holding its key."""

    def __init__(self, client: httpx.AsyncClient, organization_id: str, host_id: str, key: str):
        self.client = client
        self.organization_id = organization_id
        self.host_id = host_id
        self.key = key


async def make_tenant(app, name: str) -> Tenant:
    async with write_session(app.state.sessionmaker) as session:
        created = await onboarding.create_organization_with_owner(session, name)
        await session.commit()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://callgrid.test",
        headers={"Authorization": f"Bearer {created.api_key}"},
    )
    return Tenant(client, str(created.organization.id), str(created.host.id), created.api_key)


@pytest.fixture
async def tenant(app):
    t = await make_tenant(app, "Acme")
    async with t.client:
        yield t


@pytest.fixture
async def other_tenant(app):
    t = await make_tenant(app, "Globex")
    async with t.client:
        yield t


@pytest.fixture
async def anonymous(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://callgrid.test") as client:
        yield client


def tmp_sqlite_url() -> str:
    return f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'callgrid.db'}"
