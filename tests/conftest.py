"""Test fixtures: a real, migrated database per backend, a clean one for every test.

Every database test runs on SQLite; when CALLGRID_TEST_POSTGRES_URL is set (CI sets it)
it runs on PostgreSQL too, in a database created for this test run and dropped after it.
Helpers shared beyond fixtures live in `tests/support/`.

- `app` (and `tenant`, `other_tenant`, `anonymous` over it): the service in this process,
  its lifespan run, on a clean database; HTTP through httpx's ASGI transport.
- `service_session`: a write session on a clean database, for calling services directly;
  whatever the test did is rolled back after it.
- `settings`: what both are built from. The embedded webhook worker is off unless the test's
  folder or module overrides the `embedded_worker` fixture (tests/webhooks/ does).
"""

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid import onboarding
from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.db.session import open_database, write_session
from tests.support.databases import BACKENDS, clean, forget, migrate, sqlite_url
from tests.support.postgres import POSTGRES_URL, create_database, drop_database
from tests.support.time import MovableClock

@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """One migrated database per backend for the whole run."""
    urls = {"sqlite": sqlite_url(tmp_path_factory.mktemp("db") / "callgrid.db")}
    if POSTGRES_URL:
        urls["postgresql"] = asyncio.run(create_database("callgrid_test"))
    for url in urls.values():
        asyncio.run(migrate(url))
    yield urls
    for url in urls.values():
        forget(url)
    if POSTGRES_URL:
        asyncio.run(drop_database(urls["postgresql"]))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(database_urls, backend) -> str:
    return database_urls[backend]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def embedded_worker() -> bool:
    """Whether the app delivers webhooks from inside (tests/webhooks/ says yes)."""
    return False


@pytest.fixture
def settings(database_url, embedded_worker) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://callgrid.test",
        api_key_cache_seconds=0.0,
        run_embedded_worker=embedded_worker,
    )


@pytest.fixture
async def app(settings, clock):
    await clean(settings.database_url)
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def service_session(settings):
    """A write session on a clean, migrated database, rolled back after the test: for
    service-level tests, which call services with it as an endpoint would.

    It is the database's own write session (on SQLite the process's one write connection,
    `BEGIN IMMEDIATE`), inside a transaction that the test never ends: what the code under
    test commits or rolls back is a savepoint of it, and the whole is rolled back at the end.
    """
    await clean(settings.database_url)
    database = open_database(settings)
    try:
        async with database.write_engine.connect() as connection:
            transaction = await connection.begin()
            session = AsyncSession(
                bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
            )
            try:
                yield session
            finally:
                await session.close()
                await transaction.rollback()
    finally:
        await database.dispose()


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
