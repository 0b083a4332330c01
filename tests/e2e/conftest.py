"""End-to-end harness: real `callgrid` processes on a fresh database, driven over HTTP."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS, POSTGRES_URL, _admin, _asyncpg_url
from tests.processes import free_port, stop_process

CALLGRID = str(Path(sys.executable).with_name("callgrid"))


@dataclass
class Server:
    """A running `callgrid serve` process and what a client needs to reach it."""

    base_url: str
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen
    first_key: str
    port: int
    extra_processes: list[subprocess.Popen] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        """Run the CLI against this server's database; returns stdout."""
        done = subprocess.run([CALLGRID, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def create_org(self, name: str) -> dict:
        return json.loads(self.cli("orgs", "create", name, "--json"))

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def start_server(database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "CALLGRID_DATABASE_URL": database_url, "CALLGRID_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.update(extra_env or {})
    process = subprocess.Popen(
        [CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"callgrid serve did not start: {process.stderr.read()}")
        time.sleep(0.1)
    # The key (printed on the very first start only) comes before the server listens.
    first_key = output[0].strip() if output else ""
    return Server(f"http://127.0.0.1:{port}", database_url, env, process, first_key, port)


@pytest.fixture
def fresh_database_url(backend, tmp_path):
    """A database nobody has touched: not even migrated."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
        return
    name = f"callgrid_e2e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    yield make_url(_asyncpg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def server(fresh_database_url):
    running = start_server(fresh_database_url)
    yield running
    stop_process(running.process)
    for process in running.extra_processes:
        stop_process(process)
