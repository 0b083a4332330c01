"""SQLite connections used in the event loop's thread, one of each kind per engine, for the
work that takes SQLite microseconds (`db.sections`):

- a reader, for the single reads that decide a write (a row or two by an index). The pool's
  checkout and check-in (two greenlets) and the trip to aiosqlite's thread and back (two
  thread wake-ups, the GIL handed over twice) took several times what SQLite does. A WAL
  reader is not blocked by writers.
- a writer, for brief write sections (a booking of a few calls). On the driver's thread a
  section's transaction spanned the trips there and back, each waiting for the busy event
  loop and the GIL, with the write lock held all along: the lock's hold time, and so the
  write throughput, was the event loop's latency, not SQLite's.

Neither ever waits (timeout 0): a busy one raises at once and its caller goes to the pool
instead (a writer: when another connection holds the write lock). The writer does not
checkpoint the WAL itself (a checkpoint writes and syncs up to the whole WAL, milliseconds to
tens of them under I/O load, which in the event loop's thread would stall every request):
when the WAL file has grown past SQLite's own threshold after one of its commits, a
checkpoint that empties it runs on a thread, one at a time. Closed when their engine is disposed.
"""

import asyncio
import logging
import os
import sqlite3
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# SQLite checkpoints automatically at 1,000 pages of WAL; 4 KiB pages.
CHECKPOINT_WAL_BYTES = 1000 * 4096


class LoopWriter:
    """The writer of one engine: its connection, and the checkpoints its commits call for."""

    def __init__(self, path: str, connection: sqlite3.Connection):
        self.connection = connection
        self._path = path  # the file SQLite opened
        self._wal = f"{path}-wal"
        self._checkpointing: asyncio.Future | None = None
        self._checkpointer: sqlite3.Connection | None = None

    def committed(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size >= CHECKPOINT_WAL_BYTES:
            self._checkpointing = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            self._checkpointing.add_done_callback(_log_failure)

    def _checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=1.0)
        # TRUNCATE: waits (up to its timeout) for the writer of the moment to commit, then keeps
        # new writers out while it copies the WAL into the database (a brief section then goes
        # to the driver's thread and waits there) and empties the file, so that the next
        # writer starts it again from the beginning. Concurrent writes would else keep
        # appending past what a passive checkpoint has copied, and the file kept growing.
        self._checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

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
