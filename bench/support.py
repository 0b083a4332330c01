"""What the benchmarks share: creating and dropping PostgreSQL databases, running processes."""

import asyncio
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


# The benchmarks send far more than a client's rate limits allow, from one key and one address:
# budgets that never bind (the limiter still runs, so its cost is in the figures). Apps and
# servers built from this environment get them; servers given an environment of their own add
# UNBOUNDED_RATE_LIMITS to it.
UNBOUNDED_RATE_LIMITS = {
    f"CALLGRID_RATE_LIMIT_{name}": "1000000000/second" for name in ("API", "TOKENS", "PUBLIC", "BOOKINGS", "JOINS")
}
os.environ.update(UNBOUNDED_RATE_LIMITS)


def asyncpg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def admin(url: str, statement: str) -> None:
    """Run a statement outside a transaction (CREATE / DROP DATABASE) on the server at `url`."""
    engine = create_async_engine(asyncpg_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# -- scratch databases and server processes -----------------------------------------------------


def fresh_database(url: str | None) -> tuple[str, Callable[[], None]]:
    """An empty database (callgrid serve migrates it) and a function that removes it: a
    temporary SQLite file when `url` is None or SQLite, else a scratch database on that
    PostgreSQL server."""
    if url is None or make_url(url).get_backend_name() == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="callgrid-bench-"))

        def drop_file() -> None:
            for file in folder.glob("*"):
                file.unlink()
            folder.rmdir()

        return f"sqlite+aiosqlite:///{folder / 'bench.db'}", drop_file
    name = f"callgrid_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin(url, f'CREATE DATABASE "{name}"'))

    def drop_database() -> None:
        asyncio.run(admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return make_url(asyncpg_url(url)).set(database=name).render_as_string(hide_password=False), drop_database


def spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """A process whose stderr goes to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=out, cwd=cwd)


def wait_healthy(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    """Until `callgrid serve` on `port` answers /healthz; its log's tail if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float | None:
    """CPU time used so far by the local PostgreSQL server: its postmaster and every process
    below it (the backends of open connections, the WAL writer, the checkpointer), and the
    backends that have ended (the kernel adds their time to the postmaster's, which waited for
    them: a pool's overflow connections end when they go back); None if no postmaster runs here."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
            fields = text_.rsplit(")", 1)[1].split()
            if text_.split("(", 1)[1].rsplit(")", 1)[0] == "postgres" and int(fields[1]) == 1:
                ended = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
                return tree_cpu_seconds(int(stat.parent.name)) + ended
        except (OSError, ValueError, IndexError):
            continue
    return None


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and every process below it (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo.extend(children.get(current, ()))
    return total
