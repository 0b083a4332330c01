"""`GET /healthz` (the process is up), `GET /readyz` (it can serve: the database answers and is
at this version's migrations, Redis answers when configured) and `GET /metrics`."""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from callgrid.db.failures import explain
from callgrid.db.migrate import migration_problem
from callgrid.observability import metrics

log = logging.getLogger("callgrid.health")

router = APIRouter()
# Included only when CALLGRID_METRICS is true (else /metrics is a 404).
metrics_router = APIRouter()

CHECK_WITHIN = 3.0  # seconds, each check


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database(request: Request) -> tuple[str, str]:
    """(the database's check, the migrations' check): "ok" or what is wrong."""
    database = request.app.state.database
    url = request.app.state.settings.database_url
    for attempt in (1, 2):
        try:
            async with asyncio.timeout(CHECK_WITHIN):
                async with database.engine.connect() as connection:
                    problem = await migration_problem(connection)
        except Exception as exc:  # unreachable, refused, gone, timed out: all "not ready"
            # A pooled connection the server closed says only that; a new one says why.
            if attempt == 1 and getattr(exc, "connection_invalidated", False):
                continue
            return explain(exc, url), "unknown"
        return "ok", problem or "ok"
    raise AssertionError("unreachable")


async def _redis(url: str) -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=CHECK_WITHIN, socket_timeout=CHECK_WITHIN)
    try:
        async with asyncio.timeout(CHECK_WITHIN):
            await client.ping()
    except Exception as exc:
        return f"Redis does not answer ({type(exc).__name__}: {exc})"
    finally:
        try:
            await client.aclose()
        except Exception:
            pass
    return None


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    checks: dict[str, Any] = {}
    checks["database"], checks["migrations"] = await _database(request)
    if settings.redis_url:
        checks["redis"] = (await _redis(settings.redis_url)) or "ok"
    failed = [f"{name}: {result}" for name, result in checks.items() if result not in ("ok", "unknown")]
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    reason = "; ".join(failed)
    log.warning("not ready: %s", reason)
    body = {"status": "unavailable", "reason": reason, "checks": checks,
            "request_id": getattr(request.state, "request_id", None)}
    return JSONResponse(body, status_code=503)


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    body, content_type = await metrics.render(request.app.state.database)
    return Response(body, media_type=content_type)
