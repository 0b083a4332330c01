"""Helpers for tests that run real processes on loopback."""

import os
import socket
import subprocess
import time

# Under `pytest -n N` each test process takes the ports whose remainder by N is its own: a port
# is free when asked for but taken only when the process it is for listens, and meanwhile the
# system could give it to another test process too (its `Served` then saw the other's server
# answer `/healthz` and went on with a server that never started). Nor is one given twice by
# a test process (a test may ask for two before either listens).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SHARE = (int(_WORKER.removeprefix("gw")), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) if _WORKER else (0, 1)
_GIVEN: set[int] = set()


def free_port() -> int:
    mine, workers = _SHARE
    held: list[socket.socket] = []
    try:
        while True:
            sock = socket.socket()
            held.append(sock)  # kept bound until the end, so that the next try is another port
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port % workers == mine and port not in _GIVEN:
                _GIVEN.add(port)
                return port
    finally:
        for sock in held:
            sock.close()


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
