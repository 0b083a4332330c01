"""When each API key was last used (`api_keys.last_used_at`), written cheaply: at most once a
minute per key and process, by a task of its own after the request's key was verified, so the
request itself waits for nothing and takes no lock for it (a create's write section is never
longer for it). The UPDATE skips a key another process marked less than a minute ago.

It is a write section (`db.sections`): on SQLite one statement on the event loop's writer, in
turn with the requests' sections, rather than a session on the driver's thread, which held
SQLite's write lock across its trips there and back while the creates under way waited."""

import asyncio
import logging
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import bindparam, or_, update

from callgrid.db.base import UTCDateTime
from callgrid.db.sections import Section, run_transaction
from callgrid.tenancy.models import ApiKey

log = logging.getLogger("callgrid.auth")

EVERY = timedelta(minutes=1)

_MARK = (
    update(ApiKey)
    .where(ApiKey.id == bindparam("key_id"),
           or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= bindparam("since", type_=UTCDateTime())))
    # `updated_at` as the ORM's `onupdate` would set it (a section's statements get no defaults).
    .values(last_used_at=bindparam("now", type_=UTCDateTime()), updated_at=bindparam("now", type_=UTCDateTime()))
)


def _mark(key_id: UUID, now: datetime, every: timedelta) -> Section[None]:
    yield _MARK, {"key_id": key_id, "now": now, "since": now - every}


class KeyUsage:
    def __init__(self, database_of, every: timedelta = EVERY):
        self._database_of = database_of  # () -> the app's Database (opened by the lifespan)
        self.every = every
        self._marked: dict[UUID, datetime] = {}
        self._pending: set[asyncio.Task] = set()

    def touch(self, key_id: UUID | None, now: datetime) -> None:
        """Note a use of the key at `now`; written unless this process wrote one within a minute."""
        if key_id is None:
            return
        last = self._marked.get(key_id)
        if last is not None and timedelta(0) <= now - last < self.every:
            return
        if len(self._marked) >= 100_000:
            self._marked.clear()
        self._marked[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write(key_id, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, key_id: UUID, now: datetime) -> None:
        try:
            await run_transaction(self._database_of().write_engine, _mark(key_id, now, self.every))
        except Exception as exc:  # a lost mark costs nothing but its minute
            self._marked.pop(key_id, None)
            log.warning("could not record an API key's last use (%s: %s)", type(exc).__name__, exc)

    async def settle(self) -> None:
        """Wait for the writes under way (a list of keys shows this process's latest uses)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
