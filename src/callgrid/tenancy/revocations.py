"""A revoked API key stops working at once in every process, although each process keeps the
keys it has verified in a cache (`callgrid.tenancy.auth.KeyCache`).

The cache is trusted only while something tells the process of revocations made elsewhere
(other `callgrid serve` processes, `callgrid keys revoke`):

- **PostgreSQL.** The revoking transaction sends `pg_notify('callgrid_api_keys', <key hash>)`,
  which PostgreSQL delivers when, and only if, it commits. Each server process LISTENs on one
  connection of its own (outside the pool, like the webhook listener) and drops the key from
  its cache as the notification arrives: before the revoking request has answered, in practice.
  While that connection is not up (starting, lost, reconnecting) the cache is not trusted:
  every request reads its key; when it is up again the cache starts empty.
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
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("callgrid.auth")

PG_CHANNEL = "callgrid_api_keys"
LISTENER_NAME = "callgrid-key-listener"
ALL = "*"  # a notification's payload: forget every cached key
_PAYLOAD_LIMIT = 7900  # PostgreSQL's is 8000 bytes
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0
QUIET_CHECK, ANSWER_WITHIN = 30.0, 10.0

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


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
    if session.get_bind().dialect.name != "postgresql":
        return
    payload = ",".join(hashes)
    if len(payload) > _PAYLOAD_LIMIT:
        payload = ALL
    await session.execute(_NOTIFY, {"channel": PG_CHANNEL, "payload": payload})


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

    def vouch(self) -> bool:
        return self.listening

    def _notified(self, _connection, _pid, _channel, payload: str) -> None:
        self.heard += 1
        self.forget(None if payload == ALL else payload.split(","))

    async def run(self) -> None:
        name = f"{LISTENER_NAME}-{os.getpid()}"
        engine = create_async_engine(self.url, poolclass=NullPool, connect_args={"server_settings": {"application_name": name}})
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
                    async with asyncio.timeout(ANSWER_WITHIN):
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
