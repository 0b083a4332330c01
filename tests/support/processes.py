"""Helpers for tests that run real processes on loopback."""

import os
import random
import socket
import subprocess
import time
from pathlib import Path

# Ports for the processes tests start, taken below the system's ephemeral range (32768-60999
# on Linux), and under `pytest -n N` from a slice of their own per test process. A port is
# free when asked for but taken only when its server listens, and meanwhile: a port the system
# hands out (`bind(0)`) could go to another test process asking too (whose `Served` then saw
# the other's server answer `/healthz` and went on with a server that never started), or be
# the local port of any outgoing connection (PostgreSQL's, a client's: the server then
# failed to bind). Nor is one given twice by a test process (a test may ask for two before
# either listens).
_PORTS = range(15000, 25000)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SHARE = (int(_WORKER.removeprefix("gw")), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) if _WORKER else (0, 1)
_MINE = _PORTS[len(_PORTS) * _SHARE[0] // _SHARE[1]:len(_PORTS) * (_SHARE[0] + 1) // _SHARE[1]]
_GIVEN: set[int] = set()
_random = random.Random()  # not the one tests seed


def free_port() -> int:
    for _ in range(1000):
        port = _random.choice(_MINE)
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {_MINE}")


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def children(pid: int) -> list[int]:
    """The pids of the processes `pid` started that are still its children (Linux's /proc)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
