"""`callgrid serve --workers 2`: the workers are forked from a fork server that imported
Callgrid once, rather than each started as a new interpreter that imports it again, and one
that dies is replaced by another such fork, which serves."""

import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.databases import sqlite_url
from tests.support.processes import children
from tests.support.servers import Served, callgrid_env

pytestmark = pytest.mark.slow  # real server processes


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def state_and_parent(pid: int) -> tuple[str, int]:
    """From /proc/<pid>/stat: the state letter (Z for a zombie) and the parent's pid."""
    state, parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    return state, int(parent)


def started_workers(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())]


def answered_by(port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server's end of a new connection to `port` that has just been
    answered (`GET /healthz`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
        client_port = connection.getsockname()[1]
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if (local, remote) == (port, client_port):
                inode = fields[9]
        assert inode is not None, "the server's end of the connection is listed while it is open"
        for pid in pids:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except FileNotFoundError:
                    pass
    return None


def answering(port: int, pids: list[int], attempts: int = 200) -> set[int]:
    """The `pids` seen answering new connections, until each has been seen or `attempts` is spent."""
    seen: set[int] = set()
    for _ in range(attempts):
        seen.add(answered_by(port, pids))
        if seen >= set(pids):
            break
    return seen


def test_workers_are_forked_from_a_fork_server_with_callgrid_imported_and_a_dead_one_comes_back(tmp_path):
    log = tmp_path / "serve.log"
    server = Served(callgrid_env(sqlite_url(tmp_path / "workers.db")), workers=2, log=log)
    try:
        serve = server.process.pid
        [fork_server] = [pid for pid in children(serve) if "from multiprocessing.forkserver import main" in command_line(pid)]
        assert "['callgrid.app']" in command_line(fork_server), "Callgrid is imported by the fork server, before any fork"
        workers = started_workers(log)
        assert len(workers) == 2
        assert sorted(children(fork_server)) == sorted(workers)
        assert answering(server.port, workers) == set(workers), "both workers answer"

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(started_workers(log)) < 3:
            assert time.monotonic() < deadline, f"no worker replaced the one killed: {log.read_text()[-2000:]}"
            time.sleep(0.05)
        replacement = started_workers(log)[2]
        assert state_and_parent(replacement)[1] == fork_server
        assert sorted(children(fork_server)) == sorted([workers[1], replacement])
        while answered_by(server.port, [replacement]) != replacement:
            assert time.monotonic() < deadline, "the replacement never answered a connection"
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while not ended(fork_server):
        assert time.monotonic() < deadline, "the fork server ends with serve"
        time.sleep(0.05)


def ended(pid: int) -> bool:
    try:
        return state_and_parent(pid)[0] == "Z"
    except FileNotFoundError:
        return True
