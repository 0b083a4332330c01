"""The bare ceiling for bench/create_calls.py: the same server stack (uvicorn, uvloop,
httptools, FastAPI) with one route that validates the video-calls create body with the same
Pydantic model and does one bare INSERT into `calls` through the raw driver (aiosqlite or
asyncpg). No auth, no overlap check, no ORM, no outbox: only what no implementation avoids.

Configured by environment variables (bench/create_calls.py sets them):
    BARE_DATABASE_URL   the SQLAlchemy URL of a database migrated by callgrid
    BARE_ORGANIZATION_ID, BARE_HOST_ID, BARE_PRODUCT_ID   the row's foreign keys

    .venv/bin/python -m uvicorn --app-dir bench bare_create_app:create_app --factory \
        --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from uuid6 import uuid7

from callgrid.validation import zone
from callgrid.video_calls.schemas import VideoCallCreate

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores values on SQLite

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

    @app.post("/calls", status_code=201)
    async def create(body: VideoCallCreate) -> dict:
        start = datetime.combine(body.startDate, body.fromTime, tzinfo=zone(body.timezoneName)).astimezone(UTC)
        end = start + timedelta(minutes=body.duration)
        now = datetime.now(UTC)
        call_id = UUID(bytes=uuid7().bytes)
        if sqlite:
            await state["sqlite"].execute(
                f"INSERT INTO calls ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id.hex, organization_id.hex, host_id.hex, "video_call", body.title,
                    start.strftime(SQLITE_TIME), end.strftime(SQLITE_TIME), body.timezoneName, "scheduled",
                    body.allowOverlap, product_id.hex, now.strftime(SQLITE_TIME), now.strftime(SQLITE_TIME),
                ),
            )
        else:
            await state["pool"].execute(
                f"INSERT INTO calls ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                call_id, organization_id, host_id, "video_call", body.title,
                start, end, body.timezoneName, "scheduled", body.allowOverlap, product_id, now, now,
            )
        return {"_id": str(call_id)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
