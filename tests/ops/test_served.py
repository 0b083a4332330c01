"""`callgrid serve` as a process: its log of a full run (a line per request, the worker's
attempts, no secret anywhere), `/readyz` going 503 when the database goes, `/metrics` across
`--workers 2`."""

import asyncio
import json
import re
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

from tests.support.databases import one_each, sqlite_url
from tests.support.postgres import POSTGRES_URL, create_database, drop_database
from tests.support.processes import children, free_port
from tests.support.servers import Served, callgrid_env
from tests.webhooks.receiver import Server as ReceiverServer

pytestmark = pytest.mark.slow  # real server processes

DB_PASSWORD = "db-Pa55word-in-the-URL"
REDIS_URL = __import__("os").environ.get("CALLGRID_TEST_REDIS_URL")


@pytest.fixture
def database_url(fresh_database_url):
    """A fresh database; on PostgreSQL its URL carries a password (the test server ignores it)."""
    if fresh_database_url.startswith("sqlite"):
        return fresh_database_url
    return make_url(fresh_database_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


class Receiver:
    """A webhook receiver on loopback that answers each request with the next scripted status."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ReceiverServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


async def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not (result := await predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)
    return result


async def scrape(http) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of /metrics, parsed by prometheus-client."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def parse_log(text: str, log_format: str) -> list[dict]:
    """The log's records as dicts: JSON lines as they are; text lines as {"text": line}."""
    if log_format == "json":
        records = []
        for line in text.splitlines():
            if not line.startswith("{"):
                continue  # serve's own start-up sentences before logging is set up
            records.append(json.loads(line))
        return records
    return [{"text": line} for line in text.splitlines()]


# Each format once, each database once: what is logged does not depend on the database, and the
# password in PostgreSQL's URL (the secret SQLite's has not) is checked in the text log, which
# writes values out as they are rather than quoted in JSON. The text run is served by uvloop
# (`serve --loop uvloop`), the JSON run by the default, asyncio's loop: both serve the API, a
# room's WebSocket and webhook delivery.
@pytest.mark.parametrize(("backend", "log_format"), one_each("json", "text"))
async def test_a_full_run_logs_each_request_and_attempt_and_no_secret(database_url, log_format, tmp_path):
    loop = "uvloop" if log_format == "text" else "asyncio"
    receiver = Receiver(500, 200)
    server = Served(
        callgrid_env(
            database_url,
            CALLGRID_LOG_FORMAT=log_format,
            CALLGRID_WEBHOOK_RETRY_SCHEDULE="0,0.3,0.3",
            CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
            CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        ),
        log=tmp_path / "serve.log",
        args=("--log-level", "debug", *(("--loop", "uvloop") if loop == "uvloop" else ())),
    )
    secrets: dict[str, str] = {"database password": DB_PASSWORD}
    try:
        secrets["first key"] = server.first_key
        created = server.create_org("Ops")
        secrets["org key"] = created["api_key"]
        secrets["second key"] = server.cli("keys", "create", "--org", "ops", "--name", "ci").strip()
        organization_id = created["organization"]["id"]

        async with server.client(created["api_key"]) as http, server.client(secrets["second key"]) as second:
            target = f"http://127.0.0.1:{receiver.port}/hook?token=url-secret-in-the-query"
            secrets["target query"] = "url-secret-in-the-query"
            endpoint = await http.post(
                "/api/v1/webhook-endpoints",
                json={"url": target, "events": ["video_call.created"], "headers": {"x-receiver-auth": "header-secret-value"}},
                headers={"X-Request-ID": "create-endpoint-1"},
            )
            assert endpoint.status_code == 201, endpoint.text
            assert endpoint.headers["x-request-id"] == "create-endpoint-1"
            endpoint = endpoint.json()
            secrets["webhook secret"] = endpoint["secret"]
            secrets["webhook header"] = "header-secret-value"
            assert (await http.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/test")).status_code == 202

            room = (await second.post("/v1/rooms", json={"name": "Ops room", "type": "public"})).json()["room"]
            issued = await second.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "ann"})
            assert issued.status_code == 200, issued.text
            issued = issued.json()
            secrets["join token"] = issued["token"]
            page = await http.get(urlsplit(issued["join_url"])._replace(scheme="", netloc="").geturl())
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            async with connect(issued["ws_url"], open_timeout=10, ping_interval=None) as socket:
                welcome = json.loads(await socket.recv())
                assert welcome["type"] == "welcome"
                connected = await scrape(http)
                assert sample(connected, "callgrid_room_participants") == 1
            await wait_for(lambda: _participants_are(http, 0))

            wrong = await http.get("/api/v1/hosts", headers={"Authorization": "Bearer cg_this-key-was-never-issued-xyz"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            secrets["wrong key"] = "cg_this-key-was-never-issued-xyz"

            # The ping: refused once (500), delivered on the retry 0.3 s later.
            await wait_for(lambda: _delivered(http, endpoint["id"]))
            metrics = await scrape(http)
            assert sample(metrics, "callgrid_webhook_deliveries_total", outcome="retrying") == 1
            assert sample(metrics, "callgrid_webhook_deliveries_total", outcome="delivered") == 1
            assert sample(metrics, "callgrid_webhook_oldest_undelivered_event_age_seconds") == 0
            assert sample(metrics, "callgrid_http_requests_total", method="POST", route="/api/v1/webhook-endpoints",
                          status="201") == 1
    finally:
        server.stop()
        receiver.close()

    log = server.log.read_text()
    for what, secret in secrets.items():
        assert secret and secret not in log, f"the {what} is in the log"
    assert len(receiver.received) == 2

    records = parse_log(log, log_format)
    if log_format == "json":
        by_id = [r for r in records if r.get("request_id") == "create-endpoint-1" and r["logger"] == "callgrid.http"]
        assert len(by_id) == 1
        line = by_id[0]
        assert line["method"] == "POST" and line["route"] == "/api/v1/webhook-endpoints" and line["status"] == 201
        assert line["organization_id"] == organization_id and line["duration_ms"] >= 0 and line["level"] == "info"
        attempts = [r for r in records if r["logger"] == "callgrid.webhooks" and r["message"].startswith("webhook ping ")]
        assert [(a["message"], a["attempt"], a["status"]) for a in attempts] == [
            ("webhook ping retrying", 1, 500), ("webhook ping delivered", 2, 200)]
        assert attempts[0]["next_retry"].endswith("Z") and attempts[1]["next_retry"] is None
        assert attempts[0]["event_id"] == attempts[1]["event_id"]
        assert {a["endpoint_id"] for a in attempts} == {endpoint["id"]}
        assert {a["endpoint"] for a in attempts} == {f"http://127.0.0.1:{receiver.port}/hook"}
        messages = [r["message"] for r in records]
        assert "webhook worker started" in messages and "webhook worker stopped" in messages
        assert [r["message"] for r in records if r["logger"] == "callgrid.app"] == [f"event loop: {loop}"]
        # Every record of the server that belongs to a request carries its id.
        routes = {r["route"] for r in records if r["logger"] == "callgrid.http"}
        assert {"/v1/rooms/{room_id}/join-tokens", "/rooms/{room_id}", "/api/v1/hosts"} <= routes
        assert all(r.get("request_id") for r in records if r["logger"] == "callgrid.http")
    else:
        lines = [r["text"] for r in records]
        [line] = [x for x in lines if "request_id=create-endpoint-1" in x and "callgrid.http" in x]
        assert re.search(
            rf"Z INFO callgrid\.http: POST /api/v1/webhook-endpoints 201 duration_ms=[\d.]+ "
            rf"organization_id={organization_id} request_id=create-endpoint-1$", line), line
        assert any(re.search(r"callgrid\.webhooks: webhook ping retrying event_id=\S+ .*attempt=1 status=500 .*next_retry=\S+Z", x)
                   for x in lines), lines
        assert any(re.search(r"callgrid\.webhooks: webhook ping delivered .*attempt=2 status=200 .*next_retry=-", x)
                   for x in lines), lines
        assert any("webhook worker started" in x for x in lines) and any("webhook worker stopped" in x for x in lines)
        assert [x.split("callgrid.app: ")[1] for x in lines if "callgrid.app: " in x] == [f"event loop: {loop}"]
    # uvicorn's own WebSocket lines are there (debug), with the token redacted.
    assert "/live?token=***" in log


async def _participants_are(http, count: int) -> bool:
    return sample(await scrape(http), "callgrid_room_participants") == count


async def _delivered(http, endpoint_id: str) -> bool:
    response = await http.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
    items = response.json().get("items", response.json().get("data", []))
    return any(item.get("status_code") == 200 for item in items)


async def readyz(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:
        return await http.get("/readyz", headers={"X-Request-ID": "ready-check"})


@pytest.mark.skipif(not POSTGRES_URL, reason="CALLGRID_TEST_POSTGRES_URL is not set")
async def test_readyz_goes_503_when_the_database_is_gone(tmp_path):
    url = await create_database("callgrid_ops_ready")
    extra = {"CALLGRID_REDIS_URL": REDIS_URL} if REDIS_URL else {}
    server = Served(callgrid_env(url, **extra), log=tmp_path / "serve.log")
    try:
        ready = await readyz(server.base_url)
        assert ready.status_code == 200
        expected = {"database": "ok", "migrations": "ok", **({"redis": "ok"} if REDIS_URL else {})}
        assert ready.json() == {"status": "ready", "checks": expected}

        await drop_database(url)  # terminates the server's connections too
        gone = await readyz(server.base_url)
        assert gone.status_code == 503, gone.text
        body = gone.json()
        assert body["status"] == "unavailable" and body["request_id"] == "ready-check"
        assert "does not exist" in body["checks"]["database"] and make_url(url).database in body["checks"]["database"]
        assert body["reason"].startswith("database: ")
        assert (await httpx.AsyncClient(trust_env=False).get(f"{server.base_url}/healthz")).status_code == 200
    finally:
        server.stop()
        await drop_database(url)
    assert "not ready: database:" in server.log.read_text()


async def test_readyz_goes_503_when_the_migrations_are_not_at_head(tmp_path):
    path = tmp_path / "ready.db"
    server = Served(callgrid_env(sqlite_url(path)), log=tmp_path / "serve.log")
    try:
        assert (await readyz(server.base_url)).json()["status"] == "ready"
        with sqlite3.connect(path) as db:
            [(head,)] = db.execute("SELECT version_num FROM alembic_version").fetchall()
            db.execute("UPDATE alembic_version SET version_num = '29991231_from_the_future'")
        behind = await readyz(server.base_url)
        assert behind.status_code == 503
        body = behind.json()
        assert body["checks"]["database"] == "ok"
        assert "29991231_from_the_future" in body["checks"]["migrations"] and head in body["checks"]["migrations"]
        assert "newer" in body["reason"]
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (head,))
        assert (await readyz(server.base_url)).status_code == 200
    finally:
        server.stop()


async def test_readyz_goes_503_while_redis_does_not_answer(tmp_path):
    port = free_port()  # nothing listens there
    env = callgrid_env(sqlite_url(tmp_path / "redis.db"), CALLGRID_REDIS_URL=f"redis://:redis-Pa55@127.0.0.1:{port}/0")
    server = Served(env, log=tmp_path / "serve.log")
    try:
        down = await readyz(server.base_url)
        assert down.status_code == 503
        body = down.json()
        assert body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"
        assert body["checks"]["redis"].startswith("Redis does not answer") and body["reason"].startswith("redis: ")
        assert "redis-Pa55" not in down.text
    finally:
        server.stop()
    assert "redis-Pa55" not in server.log.read_text()


async def test_metrics_add_up_across_worker_processes(tmp_path):
    server = Served(callgrid_env(sqlite_url(tmp_path / "workers.db")), workers=2, log=tmp_path / "serve.log")
    # serve sets PROMETHEUS_MULTIPROC_DIR for its worker processes: read it from its children's
    # (the fork server the workers are forked from).
    directories = set()
    for child in children(server.process.pid):
        for variable in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            if variable.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                directories.add(Path(variable.split(b"=", 1)[1].decode()))
    [directory] = directories
    assert directory.name.startswith("callgrid-metrics-")
    try:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each: both processes answer
        async with server.client(server.first_key, limits=limits) as http:
            for _ in range(20):
                assert (await http.get("/api/v1/hosts")).status_code == 200
            assert len(list(directory.glob("*.db"))) >= 2, "each worker process writes its own file"
            for _ in range(4):  # whichever process answers, it reports the sum
                samples = await scrape(http)
                assert sample(samples, "callgrid_http_requests_total", method="GET", route="/api/v1/hosts", status="200") == 20
                assert sample(samples, "callgrid_http_request_duration_seconds_count", method="GET", route="/api/v1/hosts") == 20
                assert sample(samples, "callgrid_room_participants") == 0
    finally:
        server.stop()
    assert not directory.exists(), "serve removes its metrics directory"
