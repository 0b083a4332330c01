"""Rate limits of real `callgrid serve` processes over real HTTP: two processes on one Redis
spend one budget; one process without Redis counts in memory, sockets included; a Redis that
does not answer lets requests through."""

import asyncio
import os
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.databases import sqlite_url
from tests.support.processes import free_port
from tests.support.servers import Served, callgrid_env

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")
HUGE = "100000/second"


def limits_env(database_url: str, budgets: dict[str, str], **extra: str) -> dict[str, str]:
    """Rate limits on, every budget huge but those given; `extra` (CALLGRID_...) over it."""
    fields = {f"CALLGRID_RATE_LIMIT_{name.upper()}": HUGE for name in ("api", "tokens", "public", "bookings", "joins")}
    fields.update({f"CALLGRID_RATE_LIMIT_{name.upper()}": value for name, value in budgets.items()})
    return callgrid_env(database_url, CALLGRID_RATE_LIMITS="true", CALLGRID_API_KEY_CACHE_SECONDS="0", **fields, **extra)


@pytest.mark.skipif(not REDIS_URL, reason="CALLGRID_TEST_REDIS_URL is not set")
async def test_two_processes_on_one_redis_share_the_budgets(tmp_path):
    env = limits_env(
        sqlite_url(tmp_path / "callgrid.db"), {"api": "6/minute", "public": "4/minute"},
        CALLGRID_REDIS_URL=REDIS_URL, CALLGRID_REDIS_PREFIX=f"callgrid-test-{uuid.uuid4().hex}",
    )
    first = Served(env, log=tmp_path / "first.log")
    try:
        second = Served(env, log=tmp_path / "second.log")  # the first made the organization
        try:
            key = first.first_key
            async with first.client(key) as one, second.client(key) as two:
                answers = [await client.get("/api/v1/hosts") for client in (one, two) * 3]
                assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
                assert [a.headers["ratelimit-remaining"] for a in answers] == ["5", "4", "3", "2", "1", "0"]
                for client in (one, two):
                    refused = await client.get("/api/v1/hosts")
                    assert refused.status_code == 429
                    assert refused.headers["content-type"] == "application/problem+json"
                    assert refused.json()["detail"].startswith("rate limit exceeded: at most 6 requests per minute for this API key")
                    assert refused.headers["ratelimit-policy"] == "6;w=60" and refused.headers["ratelimit-remaining"] == "0"
                    assert 1 <= int(refused.headers["retry-after"]) <= 60

            # Public pages by address: the address a trusted proxy (here: loopback) forwards.
            async with httpx.AsyncClient(timeout=30, trust_env=False) as browser:
                def page(server: Served, address: str):
                    return browser.get(f"{server.base_url}/book/acme/intro", headers={"X-Forwarded-For": address})

                answers = [await page(server, "203.0.113.5") for server in (first, second, first, second, first)]
                assert [a.status_code for a in answers] == [404, 404, 404, 404, 429]
                assert answers[4].json()["detail"].startswith("rate limit exceeded: at most 4 requests per minute for this address")
                answer = await page(second, "203.0.113.6")
                assert answer.status_code == 404 and answer.headers["ratelimit-remaining"] == "3"
        finally:
            second.stop()
    finally:
        first.stop()


async def test_one_process_without_redis_counts_in_memory_sockets_too(tmp_path):
    server = Served(limits_env(sqlite_url(tmp_path / "callgrid.db"), {"api": "3/minute", "joins": "1/minute"}), log=tmp_path / "serve.log")
    try:
        async with server.client(server.first_key) as client:
            answers = [await client.get("/api/v1/hosts") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[3].headers["ratelimit-limit"] == "3" and "retry-after" in answers[3].headers

        socket_url = f"ws://127.0.0.1:{server.port}/v1/rooms/nowhere/live?token=nothing"
        try:
            async with connect(socket_url, open_timeout=10) as socket:
                await asyncio.wait_for(socket.recv(), 10)  # the room refuses it: the join was counted
        except Exception as exc:
            assert not (isinstance(exc, InvalidStatus) and exc.response.status_code == 429), exc
        with pytest.raises(InvalidStatus) as refused:
            async with connect(socket_url, open_timeout=10):
                pass
        response = refused.value.response
        assert response.status_code == 429
        assert response.headers["Retry-After"] and response.headers["RateLimit-Policy"] == "1;w=60"
        assert b"at most 1 joins per minute for this address" in response.body
    finally:
        server.stop()


async def test_a_redis_that_does_not_answer_lets_requests_through(tmp_path):
    port = free_port()  # nothing listens there
    env = limits_env(sqlite_url(tmp_path / "callgrid.db"), {"api": "2/minute"}, CALLGRID_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    server = Served(env, log=tmp_path / "serve.log")
    try:
        async with server.client(server.first_key) as client:
            answers = [await client.get("/api/v1/hosts") for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        assert all("ratelimit-limit" not in a.headers for a in answers)
    finally:
        server.stop()
    log = server.log.read_text()
    assert log.count("rate limits: Redis failed") == 1, log
