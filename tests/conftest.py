"""Test fixtures: a real, migrated database per backend, a clean one for every test.

Every database test runs on SQLite; when CALLGRID_TEST_POSTGRES_URL is set (CI sets it)
it runs on PostgreSQL too, in a database created for this test run and dropped after it.
Helpers shared beyond fixtures live in `tests/support/`.

- `app` (and `tenant`, `other_tenant`, `anonymous` over it): the service in this process,
  its lifespan run, on a clean database; HTTP through httpx's ASGI transport. Tests without
  the embedded worker share one app per settings, started once and kept while the tests that
  follow take the same settings (every test runs in the session's event loop, so its engines
  and connections stay up): a test gets it on an emptied database, with its own clock and key
  cache. A test taking other settings on the same database stops the app kept there first,
  so that a test process holds one app's connections per database, not one per settings it
  met (with `-n 3`, PostgreSQL's 100 connections did not go round otherwise). With the
  worker, a test has an app of its own, so that nothing the worker does outlives the test.
- `fresh_database_url`: an empty database of the test's own, for real `callgrid` processes.
- `service_session`: a write session on a clean database, for calling services directly;
  whatever the test did is rolled back after it.
- `settings`: what both are built from. The embedded webhook worker is off unless the test's
  folder or module overrides the `embedded_worker` fixture (tests/webhooks/ does).
"""

import asyncio
from contextlib import AsyncExitStack

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.db.session import Database, open_database
from callgrid.tenancy.auth import KeyCache
from tests.support.databases import BACKENDS, clean, empty_database_sync, forget, migrate, sqlite_url
from tests.support.postgres import POSTGRES_URL, create_database, drop_database
from tests.support.tenants import Tenant, client, make_tenant  # noqa: F401 (Tenant: for the tests)
from tests.support.time import MovableClock


def pytest_configure(config):
    _share_the_default_ssl_context()
    _compile_callgrid(config)


def _share_the_default_ssl_context() -> None:
    """Every httpx client a test process makes with the default TLS settings gets one SSL
    context, made once. Each client made its own, loading certifi's CA bundle: about 30 ms of
    CPU per client, 19 s of the test processes' CPU in a run (py-spy). No test speaks TLS; the
    context is shared as it is, never changed."""
    from httpx._transports import default

    make = default.create_ssl_context
    shared = make()

    def create_ssl_context(verify=True, cert=None, trust_env=True):
        if verify is True and cert is None:
            return shared
        return make(verify=verify, cert=cert, trust_env=trust_env)

    default.create_ssl_context = create_ssl_context


def _compile_callgrid(config) -> None:
    """Callgrid's bytecode written once, before any test process starts.

    The suite starts a few hundred Python processes that import Callgrid (`callgrid serve`
    and its `--workers`, `callgrid worker`, the CLI, the test processes themselves). Installed
    editable, its modules have no `.pyc` unless something writes them, and with
    PYTHONDONTWRITEBYTECODE set (as in CI) nothing does: each process compiled every module,
    and every migration, from source again (about 0.3 s of CPU each). Written here, once, by
    the process that starts the others (the `.pyc` are only read; a module edited since is
    compiled from source as before, as Python checks the source's time and size)."""
    if hasattr(config, "workerinput"):  # an xdist worker: its controller did it
        return
    import compileall
    from pathlib import Path

    import callgrid

    compileall.compile_dir(Path(callgrid.__file__).parent, quiet=1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` (pyproject.toml) as pytest-xdist means it: a test marked with
    `xdist_group(name)` gets `@name` after its id, which is how xdist sends a group to one
    process, and the groups first. xdist 3.8 sets the id on `item._nodeid`, which pytest 9 no
    longer reads (it keeps `item._id`): the marks did nothing, and a module's server or browser
    (module-scoped fixtures) was started in both processes. Done here when xdist did not."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = f"@{'_'.join(names)}"
        if not names or item.nodeid.endswith(suffix):
            continue
        if hasattr(item, "_id"):
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(item.nodeid + suffix)
        else:
            item._nodeid = item.nodeid + suffix


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
def fresh_database_url(backend, tmp_path):
    """A database of the test's own that nobody has touched, not even migrated: for tests
    that start `callgrid` processes (which migrate it)."""
    with empty_database_sync(backend, tmp_path, "callgrid_fresh") as url:
        yield url


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
        # The apps kept across tests keep their connections: a few each, so that two test
        # processes, their servers and whatever else runs stay within PostgreSQL's limit.
        database_pool_size=4,
        # Tests make many requests fast, from one address, in apps kept across tests: rate
        # limits have tests of their own (tests/ratelimits/).
        rate_limits=False,
    )


class Started:
    """Apps and databases kept across tests, keyed by their settings, closed at the run's end.

    The `app` fixture first stops the apps kept on its database with other settings
    (`stop_others`): tests with one settings mostly come one after another (a module's, a
    folder's), so an app is seldom started twice, and the connections kept are one app's pool
    and listeners per database rather than one per settings met."""

    def __init__(self) -> None:
        self._apps: dict[str, tuple[FastAPI, AsyncExitStack]] = {}
        self._databases: dict[str, Database] = {}
        self._stack = AsyncExitStack()

    async def app(self, settings: Settings) -> FastAPI:
        key = settings.model_dump_json()
        kept = self._apps.get(key)
        if kept is None:
            application = create_app(settings)
            stack = AsyncExitStack()
            await stack.enter_async_context(application.router.lifespan_context(application))
            kept = self._apps[key] = (application, stack)
        return kept[0]

    async def stop_others(self, settings: Settings) -> None:
        """Stop the apps kept on `settings`' database with other settings."""
        key = settings.model_dump_json()
        for other, (application, stack) in list(self._apps.items()):
            if other != key and application.state.settings.database_url == settings.database_url:
                del self._apps[other]
                await stack.aclose()

    def database(self, settings: Settings) -> Database:
        database = self._databases.get(settings.database_url)
        if database is None:
            database = self._databases[settings.database_url] = open_database(settings)
            self._stack.push_async_callback(database.dispose)
        return database

    async def close(self) -> None:
        while self._apps:
            _, stack = self._apps.popitem()[1]
            await stack.aclose()
        await self._stack.aclose()


@pytest.fixture(scope="session")
async def started(database_urls):
    kept = Started()
    yield kept
    await kept.close()


@pytest.fixture
async def app(settings, clock, started):
    # Before cleaning: what a stopping app writes (its keys' last uses) is not left to the test.
    await started.stop_others(settings)
    await clean(settings.database_url)
    if settings.run_embedded_worker:
        application = create_app(settings, clock=clock)
        async with application.router.lifespan_context(application):
            yield application
        return
    application = await started.app(settings)
    # What a fresh app would have: the test's clock, an empty key cache.
    application.state.clock = clock
    application.state.key_cache = KeyCache(ttl=settings.api_key_cache_seconds)
    yield application
    # The keys' last uses written by now: nothing of this test holds the write lock after it.
    await application.state.key_usage.settle()


@pytest.fixture
async def service_session(settings, started):
    """A write session on a clean, migrated database, rolled back after the test: for
    service-level tests, which call services with it as an endpoint would.

    It is the database's own write session (on SQLite the process's one write connection,
    `BEGIN IMMEDIATE`), inside a transaction that the test never ends: what the code under
    test commits or rolls back is a savepoint of it, and the whole is rolled back at the end.
    """
    await clean(settings.database_url)
    database = started.database(settings)
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


@pytest.fixture
async def sessionmaker(app):
    return app.state.sessionmaker


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
    async with client(app) as anonymous_client:
        yield anonymous_client
