"""The statements of idempotency keys: a lookup on its own (the fast path, no transaction),
and the writes, made in the request's write transaction (`callgrid.idempotency.requests`)."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callgrid.db.base import new_id
from callgrid.db.sections import read_engine_rows
from callgrid.db.session import Database, read_session, write_session
from callgrid.idempotency.models import IdempotencyKey

# How long a key's answer is replayed; an older row counts as absent and is replaced.
TTL = timedelta(hours=24)

_keys = IdempotencyKey.__table__
_FIND = select(
    _keys.c.id, _keys.c.fingerprint, _keys.c.status_code, _keys.c.body, _keys.c.content_type,
    _keys.c.headers, _keys.c.created_at,
).where(_keys.c.api_key_id == bindparam("api_key_id"), _keys.c.key == bindparam("key"))
_DELETE_EXPIRED = delete(_keys).where(
    _keys.c.api_key_id == bindparam("api_key_id"), _keys.c.key == bindparam("key"), _keys.c.created_at <= bindparam("cutoff")
)
_INSERT = insert(_keys)
PURGE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Stored:
    """A committed key: the request's fingerprint and its answer (None: no answer stored)."""

    id: UUID
    fingerprint: str
    status_code: int | None
    body: bytes | None
    content_type: str | None
    headers: list[tuple[str, str]]
    created_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.created_at <= now - TTL


async def find(engine: AsyncEngine, api_key_id: UUID, key: str) -> Stored | None:
    """The committed row of (`api_key_id`, `key`), read on its own."""
    rows = await read_engine_rows(engine, _FIND, {"api_key_id": api_key_id, "key": key})
    if not rows:
        return None
    id_, fingerprint, status_code, body, content_type, headers, created_at = rows[0]
    pairs = [(name, value) for name, value in json.loads(headers)] if headers else []
    return Stored(id_, fingerprint, status_code, body.encode("latin-1") if body is not None else None, content_type, pairs, created_at)


async def claim(
    session: AsyncSession, *, api_key_id: UUID, key: str, fingerprint: str, now: datetime, replace_expired: bool
) -> UUID:
    """Insert the key's row, without an answer, in the session's transaction (its first
    statement: the transaction begins as a write). A concurrent insert of the same key waits
    for this transaction and then fails on the unique index (IntegrityError), as this one does
    when the key is taken. `replace_expired`: an expired row of the key is deleted first."""
    if replace_expired:
        await session.execute(_DELETE_EXPIRED, {"api_key_id": api_key_id, "key": key, "cutoff": now - TTL})
    row_id = new_id()
    await session.execute(
        _INSERT,
        {"id": row_id, "api_key_id": api_key_id, "key": key, "fingerprint": fingerprint, "created_at": now},
    )
    return row_id


async def answer(
    session: AsyncSession, row_id: UUID, *, status_code: int, body: bytes, content_type: str | None, headers: list[tuple[str, str]]
) -> bool:
    """Store the answer in the key's row, in the transaction that claimed it; False when the
    row is no longer in it (a service rolled the transaction back and went on)."""
    stored = await session.execute(
        update(_keys).where(_keys.c.id == row_id).values(
            status_code=status_code, body=body.decode("latin-1"), content_type=content_type,
            headers=json.dumps([list(pair) for pair in headers]) if headers else None,
        )
    )
    return stored.rowcount == 1


async def release(session: AsyncSession, row_id: UUID) -> None:
    """Forget the key's row (the request did not succeed: a retry runs again)."""
    await session.execute(delete(_keys).where(_keys.c.id == row_id))


async def purge(database: Database, now: datetime) -> int:
    """Delete the rows older than `TTL`, in batches; returns how many. A read first, so that
    nothing takes the write lock when there is nothing to delete."""
    cutoff = now - TTL
    oldest = select(_keys.c.id).where(_keys.c.created_at < cutoff).limit(PURGE_BATCH)
    async with read_session(database) as session:
        if (await session.execute(oldest.limit(1))).first() is None:
            return 0
    removed = 0
    while True:
        async with write_session(database) as session:
            ids = (await session.execute(oldest)).scalars().all()
            if ids:
                await session.execute(delete(_keys).where(_keys.c.id.in_(ids)))
            await session.commit()
        removed += len(ids)
        if len(ids) < PURGE_BATCH:
            return removed
