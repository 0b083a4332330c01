"""A revoked API key stops working at once in every process, although each process keeps the
keys it has verified in a cache (`callgrid.tenancy.auth.KeyCache`).

The cache is trusted only while something tells the process of revocations made elsewhere
(other `callgrid serve` processes, `callgrid keys revoke`):

- **PostgreSQL.** The revoking transaction sends `pg_notify('callgrid_api_keys', <key hash>)`,
  which PostgreSQL delivers when, and only if, it commits. Each server process LISTENs on one
  connection of its own (outside the pool, like the webhook listener) and drops the key from
  its cache as the notification arrives, then answers on `callgrid_api_key_acks`. The revoker
  (a request, `callgrid keys revoke`) listens for those answers from before its commit, and
  returns only when every listener it saw in `pg_stat_activity` has answered (or has gone,
  or `ACK_WITHIN` has passed: then it says so in the log). So once a revocation has
  answered, no process takes the key. (Delivery alone was not enough: under load, a request
  sent to another process right after the revocation's 204 was served from that process's
  cache before the notification reached it.) While a listener's connection is not up
  (starting, lost, reconnecting) its cache is not trusted: every request reads its key; when
  it is up again the cache starts empty.
- **SQLite.** Each request asks SQLite, on a connection of its own in the event loop's thread,
  for `PRAGMA data_version`: a number that changes when another connection commits (a few
  microseconds, no I/O when nothing changed). When it has changed, the process reads the one
  row of `api_key_changes`, whose `version` triggers move on every revocation or deletion of a
  key (a read by primary key, however many keys there are), and empties its cache when it moved.

Neither adds a round trip to a request whose key is cached: no read of its own per request.
"""

import asyncio
import logging
import os
import sqlite3
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from callgrid.db.session import follow_up

log = logging.getLogger("callgrid.auth")

PG_CHANNEL = "callgrid_api_keys"
ACK_CHANNEL = "callgrid_api_key_acks"
# A listener's application_name once it LISTENs (before, CONNECTING_NAME): a revoker waits
# for the connections named so.
LISTENER_NAME = "callgrid-key-listener"
CONNECTING_NAME = "callgrid-key-connecting"
ALL = "*"  # a notification's hashes: forget every cached key
_PAYLOAD_LIMIT = 7800  # PostgreSQL's is 8000 bytes, with the revocation's id before the hashes
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0
QUIET_CHECK, ANSWER_WITHIN = 30.0, 10.0
ACK_WITHIN, STILL_THERE_EVERY = 5.0, 0.25

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_LISTENERS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE :name"
)
_STILL_THERE = "SELECT pid FROM pg_stat_activity WHERE pid = any($1::int[])"


# The watchers running in this process (one per app), told of this process's own revocations
# as they commit, without waiting for the notification.
_WATCHERS: "weakref.WeakSet[Watcher]" = weakref.WeakSet()


async def announce(session: AsyncSession, key_hashes: Iterable[str]) -> None:
    """Tell every process, when `session` commits, that these keys are revoked (PostgreSQL:
    NOTIFY, part of the transaction; SQLite: its commit alone is seen through data_version);
    this process's caches forget them as it commits."""
    hashes = sorted(set(key_hashes))
    if not hashes:
        return

    def committed(_session) -> None:
        for watcher in list(_WATCHERS):
            watcher.forget(hashes)

    sa_event.listen(session.sync_session, "after_commit", committed, once=True)
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    revocation = uuid.uuid4().hex
    acks = await Acks.listen(bind.url, revocation)
    if acks is not None:  # its connection closed when the session ends, whatever happens next
        sa_event.listen(session.sync_session, "after_commit", lambda _session: acks.committed(), once=True)
        follow_up(session, acks.settle)
    listeners = (await session.execute(_LISTENERS, {"name": f"{LISTENER_NAME}-%"})).scalars().all()
    joined = ",".join(hashes)
    await session.execute(
        _NOTIFY, {"channel": PG_CHANNEL, "payload": f"{revocation}:{joined if len(joined) <= _PAYLOAD_LIMIT else ALL}"}
    )
    if acks is not None:
        acks.expected = set(listeners)


def _parse(payload: str) -> tuple[str | None, list[str] | None]:
    """A notification's revocation id (None from a server before acks) and its hashes (None: all)."""
    revocation, _, hashes = payload.rpartition(":")
    return revocation or None, None if hashes == ALL else hashes.split(",")


class Acks:
    """The revoker's side: a connection of its own LISTENing for the listeners' answers to one
    revocation, from before the revoking transaction commits."""

    def __init__(self, engine, connection, raw, revocation: str):
        self._engine, self._connection, self._raw = engine, connection, raw
        self.revocation = revocation
        self.expected: set[int] = set()  # the listeners' backend pids when it notified
        self.heard: set[int] = set()  # the answering listeners' backend pids
        self._changed = asyncio.Event()
        self._committed = False

    @classmethod
    async def listen(cls, url: URL, revocation: str) -> "Acks | None":
        engine = create_async_engine(url, poolclass=NullPool)
        connection = None
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                connection = await engine.connect()
                raw = (await connection.get_raw_connection()).driver_connection
                acks = cls(engine, connection, raw, revocation)
                await raw.add_listener(ACK_CHANNEL, acks._answered)
                return acks
        except Exception as exc:  # the revocation still commits and is heard; nobody waits for it
            log.warning("API key revocation: cannot listen for the processes' answers (%s: %s); not waiting for them",
                        type(exc).__name__, exc)
            if connection is not None:
                with suppress(Exception):
                    await connection.close()
            await engine.dispose()
            return None

    def _answered(self, _connection, pid: int, _channel, payload: str) -> None:
        if payload == self.revocation:
            self.heard.add(pid)
            self._changed.set()

    def committed(self) -> None:
        self._committed = True

    async def settle(self) -> None:
        """Once committed: until every listener has answered, gone, or ACK_WITHIN has passed."""
        try:
            if self._committed:
                await self._wait(self.expected)
        finally:
            with suppress(Exception):
                await self._connection.close()
            await self._engine.dispose()

    async def _wait(self, listeners: set[int]) -> None:
        deadline = time.monotonic() + ACK_WITHIN
        while waiting := listeners - self.heard:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("API key revocation: no answer from the key listeners with backend pids %s within %.0f s",
                            sorted(waiting), ACK_WITHIN)
                return
            self._changed.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(min(left, STILL_THERE_EVERY)):
                    await self._changed.wait()
                continue
            listeners = {row[0] for row in await self._raw.fetch(_STILL_THERE, sorted(waiting))} | (listeners & self.heard)


class Watcher:
    """Whether this process may trust its key cache now (`vouch`), and what it must forget."""

    def __init__(self, cache: Callable[[], object]):
        self._cache = cache  # the app's current KeyCache (tests replace it)
        _WATCHERS.add(self)

    def vouch(self) -> bool:
        return True

    def forget(self, key_hashes: Iterable[str] | None) -> None:
        cache = self._cache()
        if key_hashes is None:
            cache.clear()
        else:
            for key_hash in key_hashes:
                cache.discard(key_hash)


_UNREAD = object()


class SqliteWatcher(Watcher):
    """`PRAGMA data_version` per request; the keys' changes read when it has moved."""

    _STATE = "SELECT version FROM api_key_changes WHERE id = 1"

    def __init__(self, cache: Callable[[], object], path: str):
        super().__init__(cache)
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=1.0)
        self._version: int | None = None
        self._state: tuple | None | object = _UNREAD  # the row (None: not there)

    def vouch(self) -> bool:
        try:
            version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return True
            state = self._connection.execute(self._STATE).fetchone()
        except sqlite3.Error:
            self._version = None  # read the state again next time
            return False
        self._version = version
        if state != self._state:
            if self._state is not _UNREAD:
                self.forget(None)
            self._state = state
        return True

    def close(self) -> None:
        with suppress(Exception):
            self._connection.close()


class PostgresWatcher(Watcher):
    """Trusted while its LISTEN connection is up; each notification forgets its keys."""

    def __init__(self, cache: Callable[[], object], url: str):
        super().__init__(cache)
        self.url = url
        self.listening = False
        self.connected_once = False
        self.down = False
        self.heard = 0  # notifications received
        self._talking = asyncio.Lock()  # the LISTEN connection: one statement at a time
        self._answering: set[asyncio.Task] = set()

    def vouch(self) -> bool:
        return self.listening

    def _notified(self, connection, _pid, _channel, payload: str) -> None:
        self.heard += 1
        revocation, hashes = _parse(payload)
        self.forget(hashes)
        if revocation is not None:  # forgotten: the revoker may answer its client
            task = asyncio.get_running_loop().create_task(self._answer(connection, revocation))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    async def _answer(self, connection, revocation: str) -> None:
        try:
            async with self._talking:
                await connection.fetchval("SELECT pg_notify($1, $2)", ACK_CHANNEL, revocation)
        except Exception as exc:  # the revoker waits ACK_WITHIN, then goes on
            log.warning("API key revocations: cannot answer revocation %s (%s: %s)", revocation, type(exc).__name__, exc)

    async def run(self) -> None:
        connecting = f"{CONNECTING_NAME}-{os.getpid()}"
        engine = create_async_engine(
            self.url, poolclass=NullPool, connect_args={"server_settings": {"application_name": connecting}}
        )
        delay = RECONNECT_FIRST
        try:
            while True:
                try:
                    await self._session(engine)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:
                    if not self.down:
                        log.warning("API key revocations: PostgreSQL LISTEN lost (%s: %s); every request reads its "
                                    "key until it is back", type(exc).__name__, exc)
                    if self.connected_once:  # it was up: try again soon
                        delay = RECONNECT_FIRST
                    self.down, self.connected_once = True, False
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
        finally:
            self.listening = False
            await engine.dispose()

    async def _session(self, engine) -> None:
        async with asyncio.timeout(ANSWER_WITHIN):
            connection = await engine.connect()
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            lost = asyncio.Event()
            raw.add_termination_listener(lambda _connection: lost.set())
            await raw.add_listener(PG_CHANNEL, self._notified)
            # Named as a listener only now, so a revoker waits for no connection that cannot hear it.
            await raw.execute(f"SET application_name = '{LISTENER_NAME}-{os.getpid()}'")
            # Whatever was revoked while nobody listened: start from an empty cache.
            self.forget(None)
            self.listening = self.connected_once = True
            if self.down:
                log.warning("API key revocations: PostgreSQL LISTEN is back")
                self.down = False
            while not lost.is_set():
                try:
                    async with asyncio.timeout(QUIET_CHECK):
                        await lost.wait()
                except TimeoutError:
                    async with asyncio.timeout(ANSWER_WITHIN), self._talking:
                        await raw.fetchval("SELECT 1")
            raise ConnectionError("the LISTEN connection was closed")
        except BaseException:
            self.listening = False
            await connection.invalidate()
            raise
        finally:
            await connection.close()


@asynccontextmanager
async def watching(database_url: str, cache: Callable[[], object]) -> AsyncIterator[Watcher]:
    """The watcher for this database, running for the duration of the block."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        watcher = PostgresWatcher(cache, database_url)
        task = asyncio.create_task(watcher.run(), name="callgrid-api-key-revocations")
        try:
            yield watcher
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        return
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        watcher = SqliteWatcher(cache, url.database)
        try:
            yield watcher
        finally:
            watcher.close()
        return
    yield Watcher(cache)  # one process's own database: its own revocations are all there are
