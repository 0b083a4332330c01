"""End-to-end harness: real `callgrid` processes on a fresh database, driven over HTTP."""

import pytest

from tests.support.servers import CALLGRID, Served, callgrid_env  # noqa: F401 (CALLGRID: for the tests here)


def start_server(database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None) -> Served:
    """`callgrid serve` on `database_url`, ready."""
    return Served(callgrid_env(database_url, **(extra_env or {})), workers=workers)


@pytest.fixture
def server(fresh_database_url):
    running = start_server(fresh_database_url)
    yield running
    running.stop()
