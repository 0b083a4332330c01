"""Waking delivery workers in other processes at once: PostgreSQL LISTEN/NOTIFY, Redis pub/sub.

A worker hears of new work in up to four ways; the poll is the only one it relies on:

1. **Its own process** commits an event: `events._wake_workers` (after commit) calls
   `notifier.notify()`, which sets the worker's wake event.
2. **PostgreSQL**: every process that commits events (`callgrid serve`) runs
   `SELECT pg_notify('callgrid_webhook_events', '')` after the commit, on a pooled connection
   outside any transaction (autocommit), off the request's path: one notification in flight at
   a time, commits made meanwhile share the next one. Each worker holds one connection of its
   own (not from the pool; `application_name` "callgrid-webhook-listener-<pid>") that LISTENs
   on that channel. Not a trigger on `webhook_events`: PostgreSQL commits notifying
   transactions one at a time (they cannot share a WAL flush), which capped the rate at which
   event-inserting transactions commit (bench/notify_commit_cost.py).
3. **Redis** (`CALLGRID_REDIS_URL`, with SQLite or in addition to PostgreSQL): the same, as a
   publish on `{CALLGRID_REDIS_PREFIX}:webhook-events`, and every worker subscribes. Without a
   Redis URL, `redis` is never imported.
4. **The poll** (`CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS`): whatever the above miss (a listener
   reconnecting, Redis down, a process that ended between its commit and its notification, a
   row written by hand) is found at the next poll.

A listener that loses its connection reconnects (0.5 s, then doubling up to 10 s between
tries) and wakes its worker once it is back, for anything committed meanwhile; a connection
that says nothing for 30 s is asked for an answer (`SELECT 1`, `PING`) and replaced if none
comes within 10 s.
"""

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from callgrid.config import Settings
from callgrid.webhooks.events import wake_after_commit
from callgrid.webhooks.notify import notifier

log = logging.getLogger("callgrid.webhooks")

# The PostgreSQL channel notified after commits and listened on by the workers.
PG_CHANNEL = "callgrid_webhook_events"
# How the listening connections introduce themselves (PostgreSQL's application_name, Redis's
# client name), with the process id: so an operator sees who listens.
LISTENER_NAME = "callgrid-webhook-listener"

RECONNECT_FIRST = 0.5  # seconds before the first reconnection attempt
RECONNECT_MAX = 10.0
QUIET_CHECK = 30.0  # a silent connection is asked for an answer after this long
ANSWER_WITHIN = 10.0  # ... and replaced if none comes within this
PUBLISH_WITHIN = 2.0

# Published on Redis, so a process's own subscriber can tell its own commits (of which its
# worker already heard through `notifier`) from other processes'. A process forked from one
# that imported this module (a server that preloads the app, then forks its workers) draws
# its own: with the parent's, each would take the others' commits for its own.
PROCESS_TOKEN = uuid.uuid4().hex


def _new_process_token() -> None:
    global PROCESS_TOKEN
    PROCESS_TOKEN = uuid.uuid4().hex


os.register_at_fork(after_in_child=_new_process_token)


def redis_channel(settings: Settings) -> str:
    return f"{settings.redis_prefix}:webhook-events"


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def notify_workers(session: AsyncSession) -> None:
    """Wake delivery workers everywhere when `session` commits, for a change that makes a
    delivery due without inserting an event (a manual retry, an endpoint enabled again;
    inserting an event does this by itself): this process's worker at once, other processes'
    through the publishers (`publishing`), as after a commit of events."""
    wake_after_commit(session)


# --- the server's side: tell other processes of commits -----------------------------------------


@asynccontextmanager
async def publishing(settings: Settings, engine: AsyncEngine | None = None) -> AsyncIterator[None]:
    """For the duration of the block, tell other processes' workers that this process committed
    events: `pg_notify` on PostgreSQL (when `engine` is a PostgreSQL engine: a connection of its
    pool), a publish on Redis when `CALLGRID_REDIS_URL` is set. Each is a task of its own, woken
    by `notifier` after such commits (off the requests' path), with one notification in flight
    at a time: commits made while one is sent share the next."""
    tasks = []
    if engine is not None and engine.dialect.name == "postgresql":
        tasks.append(asyncio.create_task(_notify_postgresql(engine), name="callgrid-webhook-notify-postgresql"))
    if settings.redis_url:
        tasks.append(asyncio.create_task(_publish_redis(settings.redis_url, redis_channel(settings)),
                                         name="callgrid-webhook-publisher"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def _after_commits(what: str, send: Callable[[], Awaitable[None]]) -> None:
    """`send()` after every commit of events in this process (`notifier`); commits made while
    it runs need, and share, the next one. A failure is logged once (and the recovery)."""
    wake = notifier.register()
    failing = False
    try:
        while True:
            await wake.wait()
            wake.clear()  # commits from now on need a notification after this one
            try:
                # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that comes
                # as `send()` ends, and this task then waited for the next commit forever
                # (a stopping process hung on it).
                async with asyncio.timeout(PUBLISH_WITHIN):
                    await send()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if not failing:
                    log.warning("could not publish on %s (%s: %s); other processes' webhook workers "
                                "will find new events at their next poll", what, type(exc).__name__, exc)
                failing = True
            else:
                if failing:
                    log.warning("publishing webhook wake-ups on %s again", what)
                failing = False
    finally:
        notifier.unregister(wake)


async def _notify_postgresql(engine: AsyncEngine) -> None:
    async def send() -> None:
        # On asyncpg's connection, checked out of the pool without a SQLAlchemy connection
        # around it (sent after nearly every create under load: the layer cost more than the
        # round trip), outside any transaction: autocommit, one round trip, nothing for the
        # pool to roll back when the connection goes back.
        pooled = await engine.raw_connection()
        try:
            await pooled.driver_connection.execute(f"SELECT pg_notify('{PG_CHANNEL}', '')")
        except BaseException:
            await greenlet_spawn(pooled.invalidate)  # timed out or broken: not back to the pool
            raise
        finally:
            await greenlet_spawn(pooled.close)

    await _after_commits("PostgreSQL (NOTIFY)", send)


async def _publish_redis(url: str, channel: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=PUBLISH_WITHIN, socket_timeout=PUBLISH_WITHIN)
    try:
        await _after_commits("Redis", lambda: client.publish(channel, PROCESS_TOKEN))
    finally:
        with suppress(Exception):
            await client.aclose()


# --- the worker's side: listen ----------------------------------------------------------------


@asynccontextmanager
async def listening(settings: Settings, wake: asyncio.Event) -> AsyncIterator[None]:
    """For the duration of the block, set `wake` when another process commits events:
    LISTEN on PostgreSQL, a Redis subscription when `CALLGRID_REDIS_URL` is set."""
    tasks = []
    if is_postgresql(settings.database_url):
        tasks.append(asyncio.create_task(_listen_postgresql(settings.database_url, wake),
                                         name="callgrid-webhook-listen-postgresql"))
    if settings.redis_url:
        tasks.append(asyncio.create_task(_listen_redis(settings.redis_url, redis_channel(settings), wake),
                                         name="callgrid-webhook-listen-redis"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


class _Reconnecting:
    """Runs a listening session (connect, listen, raise when the connection is lost) again and
    again, waiting longer between failures; the poll covers the gaps."""

    def __init__(self, what: str):
        self.what = what
        self.delay = RECONNECT_FIRST
        self.down = False

    def connected(self) -> None:
        if self.down:
            log.warning("webhook wake-ups through %s are back", self.what)
        self.down = False
        self.delay = RECONNECT_FIRST

    async def run(self, session: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await session()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if not self.down:
                    log.warning("webhook wake-ups through %s lost (%s: %s); polling until reconnected",
                                self.what, type(exc).__name__, exc)
                self.down = True
            await asyncio.sleep(self.delay)
            self.delay = min(self.delay * 2, RECONNECT_MAX)


async def _listen_postgresql(url: str, wake: asyncio.Event) -> None:
    # Its own connection, outside the pool (NullPool), built from the same URL as the engine.
    name = f"{LISTENER_NAME}-{os.getpid()}"
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"server_settings": {"application_name": name}})

    reconnecting = _Reconnecting("PostgreSQL LISTEN")

    def notified(*_args) -> None:
        wake.set()

    async def session() -> None:
        async with asyncio.timeout(ANSWER_WITHIN):
            connection = await engine.connect()
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            lost = asyncio.Event()
            raw.add_termination_listener(lambda _connection: lost.set())
            await raw.add_listener(PG_CHANNEL, notified)
            reconnecting.connected()
            wake.set()  # for anything committed while nobody listened
            while not lost.is_set():
                try:
                    async with asyncio.timeout(QUIET_CHECK):
                        await lost.wait()
                except TimeoutError:
                    async with asyncio.timeout(ANSWER_WITHIN):
                        await raw.fetchval("SELECT 1")
            raise ConnectionError("the LISTEN connection was closed")
        except BaseException:
            await connection.invalidate()  # closes it without waiting for a dead server
            raise
        finally:
            await connection.close()

    try:
        await reconnecting.run(session)
    finally:
        await engine.dispose()


async def _listen_redis(url: str, channel: str, wake: asyncio.Event) -> None:
    from redis.asyncio import Redis

    loop = asyncio.get_running_loop()
    reconnecting = _Reconnecting("Redis")

    async def session() -> None:
        client = Redis.from_url(url, socket_connect_timeout=ANSWER_WITHIN, client_name=f"{LISTENER_NAME}-{os.getpid()}")
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            reconnecting.connected()
            wake.set()  # for anything committed while nobody listened
            heard, asked = loop.time(), None
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(5.0, QUIET_CHECK))
                now = loop.time()
                if message is not None:
                    heard, asked = now, None
                    if message["type"] == "message" and message["data"] != PROCESS_TOKEN.encode():
                        wake.set()
                elif asked is not None and now - asked > ANSWER_WITHIN:
                    raise ConnectionError(f"Redis did not answer PING within {ANSWER_WITHIN:.0f} s")
                elif asked is None and now - heard > QUIET_CHECK:
                    await pubsub.ping()
                    asked = now
        finally:
            with suppress(Exception):
                await pubsub.aclose()
            with suppress(Exception):
                await client.aclose()

    await reconnecting.run(session)
