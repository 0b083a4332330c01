"""SQLite connections used in the event loop's thread, one of each kind per engine, for the
work that takes SQLite microseconds (`db.sections`):

- a reader, for the single reads that decide a write (a row or two by an index). The pool's
  checkout and check-in (two greenlets) and the trip to aiosqlite's thread and back (two
  thread wake-ups, the GIL handed over twice) took several times what SQLite does. A WAL
  reader is not blocked by writers.
- a writer, for write sections (while they stay brief: `db.sections`). On the driver's thread a
  section's transaction spanned the trips there and back, each waiting for the busy event
  loop and the GIL, with the write lock held all along: the lock's hold time, and so the
  write throughput, was the event loop's latency, not SQLite's.

Neither ever waits (timeout 0): a busy one raises at once and its caller goes to the pool
instead (a writer: when another connection holds the write lock). The writer does not
checkpoint the WAL itself (a checkpoint writes and syncs up to the whole WAL, milliseconds to
tens of them under I/O load, which in the event loop's thread would stall every request):
after 1,000 rows written since the last one, a passive checkpoint runs on a thread, and
the writer's next sections wait for it, as the writer's own commit would have. Closed when their engine is disposed.
"""

import asyncio
import logging
import sqlite3
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# SQLite checkpoints automatically at 1,000 pages of WAL; a row written is a page or two.
CHECKPOINT_ROWS = 1000


class LoopWriter:
    """The writer of one engine: its connection, and the checkpoints its commits call for."""

    def __init__(self, path: str, connection: sqlite3.Connection):
        self.connection = connection
        self.on_thread: asyncio.Future | None = None  # a section gone on on a thread (db.sections.LOOP_SECONDS)
        # While a checkpoint runs, this writer's sections wait for it (`db.sections`): the
        # first to write after it starts the WAL again from its beginning, as after SQLite's
        # own checkpoints. Writing meanwhile would append past what it copies, and the file
        # would keep growing.
        self.checkpointing: asyncio.Future | None = None
        self._path = path  # the file SQLite opened
        self._changes_at_checkpoint = 0
        self._checkpointer: sqlite3.Connection | None = None

    def waiting(self) -> asyncio.Future | None:
        """What a section must wait for before it begins here: a checkpoint, or the section
        that went on on a thread with this connection."""
        for pending in (self.checkpointing, self.on_thread):
            if pending is not None and not pending.done():
                return pending
        return None

    def went_on(self, rest: asyncio.Future) -> None:
        self.on_thread = rest

        def ended(_done) -> None:
            self.on_thread = None
            self.committed()

        rest.add_done_callback(ended)

    def committed(self) -> None:
        if self.checkpointing is not None or self.on_thread is not None:
            return
        if self.connection.total_changes - self._changes_at_checkpoint < CHECKPOINT_ROWS:
            return
        self.checkpointing = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        self.checkpointing.add_done_callback(self._checkpointed)

    def _checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0)
        # PASSIVE: as much as it can without waiting for any other connection.
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpointed(self, done: asyncio.Future) -> None:
        self.checkpointing = None
        self._changes_at_checkpoint = self.connection.total_changes
        _log_failure(done)

    def close(self) -> None:
        self.connection.close()
        if self._checkpointer is not None:
            self._checkpointer.close()


def _log_failure(done: asyncio.Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("WAL checkpoint failed: %s", done.exception())


_READERS: "weakref.WeakKeyDictionary[Any, sqlite3.Connection | None]" = weakref.WeakKeyDictionary()
_WRITERS: "weakref.WeakKeyDictionary[Any, LoopWriter | None]" = weakref.WeakKeyDictionary()


def loop_reader(engine: AsyncEngine) -> sqlite3.Connection | None:
    """The engine's reader; None for an in-memory database."""
    return _get(_READERS, engine, lambda path, connection: connection)


def loop_writer(engine: AsyncEngine) -> LoopWriter | None:
    """The (write) engine's writer; None for an in-memory database."""

    def writer(path: str, connection: sqlite3.Connection) -> LoopWriter:
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return LoopWriter(path, connection)

    return _get(_WRITERS, engine, writer)


def _get(kept: weakref.WeakKeyDictionary, engine: AsyncEngine, make) -> Any:
    sync_engine = engine.sync_engine
    try:
        return kept[sync_engine]
    except KeyError:
        pass
    made = None
    database = engine.url.database or ""
    if database and database != ":memory:" and "mode=memory" not in database:
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        connection = sqlite3.connect(*args, **{**kwargs, "isolation_level": None, "check_same_thread": False, "timeout": 0})
        # As the engine's own connections (db.engine): these are per connection.
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
        made = make(args[0], connection)

        @event.listens_for(sync_engine, "engine_disposed")
        def _close(_engine) -> None:
            kept.pop(sync_engine, None)
            made.close()

    kept[sync_engine] = made
    return made
