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
checkpoint the WAL itself in one go (a checkpoint copies and syncs up to the whole WAL, 15 to
30 ms for 1,000 rows' pages here, which in the event loop's thread would stall every
request, and which the writer's sections, waiting for it on a thread, were a tenth of the
time under load). After 1,000 rows written since the last one, a checkpoint copies the WAL
on a thread while the sections go on (`copy_beside_writes`), and the writer copies the few
pages written since in the event loop's thread, after a commit: the WAL is then all copied,
and the next write starts it again from its beginning. Closed when their engine is disposed.
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
# Passes beside the writes, at most, in one checkpoint.
PASSES = 8
# A pass that copied this many frames (pages) or fewer leaves the rest to the event loop.
FEW_FRAMES = 200


def copy_beside_writes(connection: sqlite3.Connection) -> bool:
    """Passive checkpoint passes while the writes go on, each copying what was written during
    the one before; True once one had few frames to copy (the rest is for a last pass), False
    when the writes outran them (a later checkpoint goes on). Were every pass beside the
    writes, each would find the WAL longer than what it copied, and the file would keep
    growing: the WAL starts again only once it is all copied when a write begins."""
    end = None
    for _ in range(PASSES):
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if end is not None and frames - end <= FEW_FRAMES:
            return True
        end = frames
    return False


class LoopWriter:
    """The writer of one engine: its connection, and the checkpoints its commits call for."""

    def __init__(self, path: str, connection: sqlite3.Connection):
        self.connection = connection
        self.on_thread: asyncio.Future | None = None  # a section gone on on a thread (db.sections.LOOP_SECONDS)
        self.checkpointing: asyncio.Future | None = None  # passes on a thread
        self._caught_up = False  # set there: the last pass is the writer's own
        self._path = path  # the file SQLite opened
        self._changes_at_checkpoint = 0
        self._checkpointer: sqlite3.Connection | None = None

    def waiting(self) -> asyncio.Future | None:
        """What a section must wait for before it begins here: the section that went on on a
        thread with this connection."""
        if self.on_thread is not None and not self.on_thread.done():
            return self.on_thread
        return None

    def went_on(self, rest: asyncio.Future) -> None:
        self.on_thread = rest

        def ended(_done) -> None:
            self.on_thread = None
            self.committed()

        rest.add_done_callback(ended)

    def committed(self) -> None:
        """After each commit of this writer (no transaction open on it)."""
        if self.on_thread is not None:
            return
        if self._caught_up:
            self._caught_up = False
            self._last_pass()
            return
        if self.checkpointing is not None:
            return
        if self.connection.total_changes - self._changes_at_checkpoint < CHECKPOINT_ROWS:
            return
        self._changes_at_checkpoint = self.connection.total_changes
        self.checkpointing = asyncio.get_running_loop().run_in_executor(None, self._copy)
        self.checkpointing.add_done_callback(self._copied)

    def _copy(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0)
        if copy_beside_writes(self._checkpointer):
            self._caught_up = True  # last: the passes are over

    def _copied(self, done: asyncio.Future) -> None:
        self.checkpointing = None
        _log_failure(done)

    def _last_pass(self) -> None:
        """The pages written since the passes on the thread: a few, copied in the event loop's
        thread, where no section of this writer can begin meanwhile."""
        try:
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed: %s", exc)

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
