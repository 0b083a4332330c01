"""The bare ceiling for bench/create_calls.py: the same server stack (uvicorn, uvloop,
httptools, FastAPI) with one route that validates the video-calls create body with the same
Pydantic model and does what no implementation of the same rule avoids, through the raw driver:
- SQLite (aiosqlite, one connection, this process's writers in turn): `BEGIN IMMEDIATE`, a
  `SELECT` for an overlapping call of the host, the `INSERT`, `COMMIT`;
- PostgreSQL (asyncpg pool): in a transaction, the host's advisory lock, the same `SELECT`, the
  `INSERT` (under the exclusion constraint), `COMMIT`.
No auth, no product lookup, no ORM, no outbox, no series: the ceiling of the same stack.

Configured by environment variables (bench/create_calls.py sets them):
    BARE_DATABASE_URL   the SQLAlchemy URL of a database migrated by callgrid
    BARE_ORGANIZATION_ID, BARE_HOST_ID, BARE_PRODUCT_ID   the row's foreign keys

    .venv/bin/python -m uvicorn --app-dir bench bare_create_app:create_app --factory \
        --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import make_url
from uuid6 import uuid7

from callgrid.validation import zone
from callgrid.video_calls.schemas import VideoCallCreate

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores values on SQLite
MAX_CALL = timedelta(hours=24)  # as callgrid: "ends after s" becomes a bounded index range on starts_at

# The host's non-cancelled, not yet ended calls overlapping [start, end), by the
# (host_id, starts_at) index: what callgrid's check asks, for one interval.
SQLITE_OVERLAP = (
    "SELECT id FROM calls WHERE host_id = ? AND starts_at > ? AND starts_at < ? AND ends_at > ? "
    "AND status <> 'cancelled' AND ends_at > ? LIMIT 1"
)
PG_OVERLAP = (
    "SELECT id FROM calls WHERE host_id = $1 AND starts_at > $2 AND starts_at < $3 AND ends_at > $4 "
    "AND status <> 'cancelled' AND ends_at > $5 LIMIT 1"
)

COLUMNS = (
    "id, organization_id, host_id, kind, title, starts_at, ends_at, timezone, status, "
    "allow_overlap, product_id, created_at, updated_at"
)


def create_app() -> FastAPI:
    url = make_url(os.environ["BARE_DATABASE_URL"])
    organization_id = UUID(os.environ["BARE_ORGANIZATION_ID"])
    host_id = UUID(os.environ["BARE_HOST_ID"])
    product_id = UUID(os.environ["BARE_PRODUCT_ID"])
    sqlite = url.get_backend_name() == "sqlite"
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if sqlite:
            import aiosqlite

            # One connection in autocommit mode: each INSERT is its own transaction, and
            # SQLite has one writer anyway. Same pragmas as callgrid's engine.
            conn = await aiosqlite.connect(url.database, isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
                await conn.execute(f"PRAGMA {pragma}")
            state["sqlite"] = conn
            try:
                yield
            finally:
                await conn.close()
        else:
            import asyncpg

            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            # callgrid's engine: pool_size 10, max_overflow 10.
            pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
            state["pool"] = pool
            try:
                yield
            finally:
                await pool.close()

    app = FastAPI(lifespan=lifespan)

    lock_key = int.from_bytes(host_id.bytes[8:], "big", signed=True)
    writer_turn = asyncio.Lock()

    @app.post("/calls", status_code=201)
    async def create(body: VideoCallCreate) -> dict:
        start = datetime.combine(body.startDate, body.fromTime, tzinfo=zone(body.timezoneName)).astimezone(UTC)
        end = start + timedelta(minutes=body.duration)
        now = datetime.now(UTC)
        call_id = UUID(bytes=uuid7().bytes)
        if sqlite:
            conn = state["sqlite"]
            async with writer_turn:
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    cursor = await conn.execute(
                        SQLITE_OVERLAP,
                        (host_id.hex, (start - MAX_CALL).strftime(SQLITE_TIME), end.strftime(SQLITE_TIME),
                         start.strftime(SQLITE_TIME), now.strftime(SQLITE_TIME)),
                    )
                    taken = await cursor.fetchone()
                    if taken is None:
                        await conn.execute(
                            f"INSERT INTO calls ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                call_id.hex, organization_id.hex, host_id.hex, "video_call", body.title,
                                start.strftime(SQLITE_TIME), end.strftime(SQLITE_TIME), body.timezoneName, "scheduled",
                                body.allowOverlap, product_id.hex, now.strftime(SQLITE_TIME), now.strftime(SQLITE_TIME),
                            ),
                        )
                    await conn.execute("COMMIT")
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
        else:
            async with state["pool"].acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
                taken = await conn.fetchrow(PG_OVERLAP, host_id, start - MAX_CALL, end, start, now)
                if taken is None:
                    await conn.execute(
                        f"INSERT INTO calls ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        call_id, organization_id, host_id, "video_call", body.title,
                        start, end, body.timezoneName, "scheduled", body.allowOverlap, product_id, now, now,
                    )
        if taken is not None:
            return JSONResponse({"message": "overlap", "existing": str(taken[0])}, status_code=409)
        return {"_id": str(call_id)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
