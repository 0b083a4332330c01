"""`callgrid serve` asked to stop (SIGTERM), as a process: idle it is gone within two seconds,
with one worker or several; a request in flight is answered first; a room's socket is closed
with 1001 and its reason (the page joins again, elsewhere). Nothing the app logs leaks a token
of a page's address."""

import asyncio
import json
import os
import signal
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.databases import one_each
from tests.support.servers import Served, callgrid_env

pytestmark = pytest.mark.slow  # real server processes

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")


# Far below the waits these tests rule out (a 30 s graceful-shutdown timeout, keep-alive
# connections held open), far above what stopping takes here even on a loaded machine
# (0.2 to 2 s): no test here times the server closely.
SOON = 5.0


def serve(fresh_database_url: str, tmp_path, workers: int = 1, **extra: str) -> Served:
    if REDIS_URL and workers > 1 and not fresh_database_url.startswith("sqlite"):
        extra.setdefault("CALLGRID_REDIS_URL", REDIS_URL)
    return Served(callgrid_env(fresh_database_url, **extra), workers=workers, log=tmp_path / "serve.log")


async def stopped_within(server: Served, seconds: float = 20.0) -> float:
    """SIGTERM, then the seconds until the process (and its workers) ended."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(server.process.wait, seconds)
    elapsed = time.monotonic() - started
    # uvicorn ends a single process by its signal again once shut down (-15), a supervisor with 0.
    assert code in (0, -signal.SIGTERM), (code, server.log.read_text()[-2000:])
    return elapsed


# One worker on SQLite, two on PostgreSQL (with Redis, as several workers are run): stopping is
# uvicorn's and the app's lifespan, not the database's; each way of serving is stopped once.
@pytest.mark.parametrize(("backend", "workers"), one_each(1, 2))
async def test_idle_it_stops_at_once_not_after_a_timeout(fresh_database_url, tmp_path, workers):
    server = serve(fresh_database_url, tmp_path, workers)
    try:
        async with server.client(server.first_key or server.create_org("Stop")["api_key"]) as http:
            assert (await http.get("/api/v1/hosts")).status_code == 200  # a keep-alive connection left open
            elapsed = await stopped_within(server)
    finally:
        server.stop()
    # About 0.2 s idle (1 s with two workers); the bound only rules out waiting for a timeout
    # (the open keep-alive connection, the 30 s graceful shutdown), with room for a busy machine.
    assert elapsed < SOON, elapsed
    log = server.log.read_text()
    assert log.count("Application shutdown complete") == workers, log[-2000:]


async def test_a_request_in_flight_is_answered_before_it_stops(fresh_database_url, tmp_path):
    """A create whose body is still arriving when SIGTERM comes: answered (201, committed),
    then the process ends; a request arriving after the signal finds no listener."""
    server = serve(fresh_database_url, tmp_path)
    key = server.first_key or server.create_org("Stop")["api_key"]
    body = json.dumps({"name": "Late", "email": "late@example.com"}).encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"POST /api/v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:10]
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.8)  # the server is shutting down, the request still in flight
        assert server.process.poll() is None
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(trust_env=False) as other:
                await other.get(f"{server.base_url}/healthz")
        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        code = await asyncio.to_thread(server.process.wait, 10)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201"), answer
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["email"] == "late@example.com"
    assert code in (0, -signal.SIGTERM) and elapsed < SOON + 1.0, (code, elapsed)  # 0.8 s of it the test's own wait


@pytest.mark.parametrize(("backend", "workers"), one_each(1, 2))  # as above
async def test_a_rooms_socket_is_closed_with_its_reason(fresh_database_url, tmp_path, workers):
    server = serve(fresh_database_url, tmp_path, workers)
    try:
        async with server.client(server.first_key or server.create_org("Stop")["api_key"]) as http:
            room = (await http.post("/v1/rooms", json={"name": "Stopping", "type": "public"})).json()["room"]
            issued = (await http.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "ann"})).json()
        socket = await connect(issued["ws_url"], open_timeout=20, ping_interval=None)
        assert json.loads(await socket.recv())["type"] == "welcome"
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(socket.recv(), 10)
        closed_after = time.monotonic() - started
        code = await asyncio.to_thread(server.process.wait, 20)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert (socket.close_code, socket.close_reason) == (1001, "the server is shutting down")
    assert closed_after < SOON and elapsed < SOON, (closed_after, elapsed)
    assert code in (0, -signal.SIGTERM)
    log = server.log.read_text()
    assert issued["token"] not in log
