"""Fixtures for webhook tests: a real receiver process on loopback, fast retry settings, the
embedded worker on, and the environment for `callgrid serve` (tests.support.servers.Served) and
`callgrid worker` as processes of their own."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from callgrid.config import Settings
from tests.support.processes import free_port, stop_process, wait_for_port
from tests.support.servers import CALLGRID, Served, callgrid_env  # noqa: F401 (CALLGRID, Served: for the tests here)

HERE = Path(__file__).resolve().parent
# Short schedule so retries happen within a test: at once, then 0.3 s, then 0.3 s; then failed.
# (Was 1 s steps: every test that waits for a retry or a failed delivery paid two seconds.)
FAST = {
    "webhook_retry_schedule": "0,0.3,0.3",
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
        # One client while the receiver runs: a client per control request (`httpx.request`)
        # builds an SSL context each time, about 40 ms of CPU per poll of `wait`.
        self._http: httpx.Client | None = None

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
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def _control(self, method: str, route: str, payload=None):
        if self._http is None:
            self._http = httpx.Client(timeout=5, trust_env=False)
        response = self._http.request(method, f"{self.base}/_control/{route}", json=payload)
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
    fields = {**FAST, "run_embedded_worker": embedded_worker, "rate_limits": False}
    marker = request.node.get_closest_marker("webhook_settings")
    if marker is not None:
        fields.update(marker.kwargs)
    return Settings(database_url=database_url, public_url="http://callgrid.test", api_key_cache_seconds=0.0, **fields)


def subprocess_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `callgrid serve` / `callgrid worker` process in these tests."""
    fast = {
        "CALLGRID_WEBHOOK_RETRY_SCHEDULE": FAST["webhook_retry_schedule"],
        "CALLGRID_WEBHOOK_TIMEOUT_SECONDS": "2",
        "CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS": "0.2",
        "CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CALLGRID_API_KEY_CACHE_SECONDS": "0",
    }
    return callgrid_env(database_url, **{**fast, **extra})


async def create_endpoint(tenant, url: str, **fields) -> dict:
    response = await tenant.client.post("/api/v1/webhook-endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def processes():
    """Processes a test started: stopped after it."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        stop_process(process)
