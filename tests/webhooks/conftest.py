"""Fixtures for webhook tests: a real receiver process on loopback, fast retry settings, and
`callgrid serve` / `callgrid worker` as processes of their own."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from callgrid.config import Settings
from tests.processes import free_port, stop_process, wait_for_port

HERE = Path(__file__).resolve().parent
CALLGRID = str(Path(sys.executable).with_name("callgrid"))
# Short schedule so retries happen within a test: at once, then 1 s, then 1 s; then failed.
FAST = {
    "webhook_retry_schedule": "0,1,1",
    "webhook_timeout_seconds": 2.0,
    "webhook_poll_interval_seconds": 0.1,
    "webhook_allow_private_targets": True,
}


class Receiver:
    """The receiver process (receiver.py) and its control routes."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, *secrets: str) -> "Receiver":
        """Listen, verifying with `secrets` from the first request on."""
        self.secrets = list(secrets)
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "receiver.py"), str(self.port)],
            env={**os.environ, "RECEIVER_SECRETS": ",".join(secrets)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def _control(self, method: str, route: str, payload=None):
        response = httpx.request(method, f"{self.base}/_control/{route}", json=payload, timeout=5, trust_env=False)
        response.raise_for_status()
        return response.json()

    def trust(self, *secrets: str, only: bool = False) -> None:
        """Verify with these secrets too (or `only` these)."""
        self.secrets = list(secrets) if only else [*getattr(self, "secrets", []), *secrets]
        self._control("POST", "secrets", self.secrets)

    def script(self, path: str, *steps: dict) -> None:
        self._control("POST", "script", {path: list(steps)})

    def received(self, path: str | None = None) -> list[dict]:
        records = self._control("GET", "received")
        for record in records:
            record["json"] = json.loads(record["body"]) if record["body"] else None
        return [r for r in records if path is None or r["path"] == path]

    async def wait(self, predicate: Callable[[list[dict]], bool], timeout: float = 15.0, path: str | None = None) -> list[dict]:
        """Poll until `predicate(received)` holds; the records then."""
        deadline = time.monotonic() + timeout
        while True:
            records = await asyncio.to_thread(self.received, path)
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver did not get what was expected within {timeout} s; it got {records}")
            await asyncio.sleep(0.05)

    async def count(self, n: int, timeout: float = 15.0, path: str | None = None) -> list[dict]:
        return await self.wait(lambda records: len(records) >= n, timeout, path)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "webhook_settings(**fields): Settings fields over the fast webhook defaults")


@pytest.fixture
def embedded_worker() -> bool:
    """The app delivers webhooks from inside in these tests (elsewhere it does not)."""
    return True


@pytest.fixture
def settings(request, database_url, embedded_worker) -> Settings:
    """The root `settings`, with the embedded worker on, fast webhook retries and loopback
    targets allowed (and whatever a test's `webhook_settings` marker says)."""
    fields = {**FAST, "run_embedded_worker": embedded_worker}
    marker = request.node.get_closest_marker("webhook_settings")
    if marker is not None:
        fields.update(marker.kwargs)
    return Settings(database_url=database_url, public_url="http://callgrid.test", api_key_cache_seconds=0.0, **fields)


def subprocess_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGRID_")}
    env.update(
        {
            "CALLGRID_DATABASE_URL": database_url,
            "CALLGRID_WEBHOOK_RETRY_SCHEDULE": FAST["webhook_retry_schedule"],
            "CALLGRID_WEBHOOK_TIMEOUT_SECONDS": "2",
            "CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS": "0.2",
            "CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "CALLGRID_API_KEY_CACHE_SECONDS": "0",
        }
    )
    env.update(extra)
    return env


async def create_endpoint(tenant, url: str, **fields) -> dict:
    response = await tenant.client.post("/api/v1/webhook-endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


class Served:
    """`callgrid serve` as its own process; what it printed on stdout is kept (stderr goes to
    `log` when given)."""

    def __init__(self, env: dict[str, str], port: int, log: Path | None = None):
        self.port = port
        with open(log or os.devnull, "w") as stderr:
            self.process = subprocess.Popen(
                [CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(line.strip() for line in self.process.stdout), daemon=True).start()
        wait_for_port(port, timeout=30, process=self.process)

    def first_key(self) -> str:
        deadline = time.monotonic() + 5
        while not self.lines and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.lines[0]


@pytest.fixture
def processes():
    """Processes a test started: stopped after it."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        stop_process(process)
