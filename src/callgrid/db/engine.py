from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from callgrid.config import Settings
from callgrid.db.pool import FairAsyncPool

# Execution option that asks SQLite for a write transaction taken up front.
IMMEDIATE = "callgrid_immediate"

# How long a SQLite writer waits for its turn: for the process's write connection, then for
# SQLite's lock held by another process (the busy timeout).
SQLITE_WRITE_WAIT_SECONDS = 30


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(settings: Settings) -> AsyncEngine:
    """The engine for reads (and, on PostgreSQL, writes).

    Every engine hides bound parameters from its logs (CALLGRID_SQL_ECHO) and from its errors'
    messages: they carry secrets (API key hashes, webhook secrets, header values, tokens)."""
    url = settings.database_url
    if is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=settings.sql_echo,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_WRITE_WAIT_SECONDS},
            poolclass=FairAsyncPool,
            pool_size=settings.database_pool_size,
            # Sessions and connections end their transactions themselves (a session's close
            # rolls back); a second rollback at check-in is one more trip to aiosqlite's thread.
            pool_reset_on_return=None,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=settings.sql_echo,
        hide_parameters=True,
        # A fixed pool, its connections kept: a request beyond it waits for one. With overflow
        # connections (closed as they came back whenever the pool had enough idle ones), 32
        # concurrent creates opened and closed backends all along: a PostgreSQL backend's start
        # cost more of the database's CPU than the booking itself (bench/create_calls.py: 2.45
        # ms of PostgreSQL's CPU per create with 10 + 10 overflow, 1.55 with 20 kept).
        poolclass=FairAsyncPool,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_pre_ping=False,
    )


def create_engines(settings: Settings) -> tuple[AsyncEngine, AsyncEngine]:
    """(read engine, write engine). On SQLite, writes go through one connection per process
    whose every transaction begins with `BEGIN IMMEDIATE`: SQLite has a single writer anyway,
    so the process's writers queue for that connection (in turn, without SQLite's busy
    sleeps), and the write lock is taken before anything is read, so a check-then-insert
    cannot interleave with another's. PostgreSQL writes on the shared pool."""
    engine = create_engine(settings)
    if not is_sqlite(settings.database_url):
        return engine, engine
    writer = create_async_engine(
        settings.database_url,
        echo=settings.sql_echo,
        hide_parameters=True,  # see create_engine
        connect_args={"timeout": SQLITE_WRITE_WAIT_SECONDS},
        poolclass=FairAsyncPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_WRITE_WAIT_SECONDS,
        pool_reset_on_return=None,
        execution_options={IMMEDIATE: True},
    )
    _configure_sqlite(writer)
    return engine, writer


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy (below) decide how each transaction begins, instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_WRITE_WAIT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection) -> None:
        if connection.get_execution_options().get(IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
