"""`callgrid` commands as processes of their own, forked from one that has imported Callgrid
already: each `callgrid serve` or CLI command of a test is a real process (its own pid,
signals, exit code, sockets and database connections), running the CLI's own code with the
arguments and environment given, without the 1.5-2.5 s of CPU that starting an interpreter
and importing Callgrid cost each time (most of a process test's time, and the full run is
CPU-bound on two cores).

The forking process is `multiprocessing`'s fork server, started once per test process with
Callgrid preloaded. Its children are not the test process's children, so `Forked` reads their
exit through the fork server (`multiprocessing.Process`), as `subprocess.Popen` would.

`CALLGRID_TEST_FORK=0` runs every command as `subprocess` would instead (the console script);
the tests of the entry point itself (`--version`, a server started as a newcomer types it, in
tests/ops/test_startup_failures.py) always do.
"""

import atexit
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

ENABLED = os.environ.get("CALLGRID_TEST_FORK", "1") != "0"

_PRELOAD = [
    "callgrid.cli",
    "callgrid.app",
    "callgrid.db.migrate",
    "callgrid.webhooks.worker",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.lifespan.on",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_impl",
    "asyncpg",
    "aiosqlite",
]

_context: multiprocessing.context.ForkServerContext | None = None


def _forking() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _run(args: list[str], env: dict[str, str], stdout: str, stderr: str) -> None:
    """In the child: the environment, stdout and stderr given, then the CLI as its console
    script runs it (`callgrid.cli:app`, which exits with the command's code)."""
    os.environ.clear()
    os.environ.update(env)
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                            (2, stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    # On fd 0 as a console script's (multiprocessing gave the child another fd on /dev/null):
    # `serve --workers N` hands its stdin's fd to the worker processes it spawns.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (the process's own stdout)
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.argv = ["callgrid", *args]
    from callgrid.cli import app

    app(args=args, prog_name="callgrid")


class Forked:
    """A forked `callgrid` command, used as a `subprocess.Popen` is: pid, poll, wait, signals."""

    def __init__(self, args: list[str], env: dict[str, str], stdout: Path, stderr: Path):
        self.args = ["callgrid", *args]
        self._process = _forking().Process(target=_run, args=(list(args), dict(env), str(stdout), str(stderr)))
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


@atexit.register
def _kill_left_behind() -> None:
    # Before multiprocessing's own exit handler, which would wait for them.
    for process in multiprocessing.active_children():
        process.kill()
        process.join(5)


def start(args: list[str], env: dict[str, str], *, stderr: Path | None = None) -> "Forked | subprocess.Popen":
    """`callgrid *args` running: stdout dropped, stderr to `stderr` (else dropped)."""
    if not ENABLED:
        from tests.support.servers import CALLGRID

        with open(stderr or os.devnull, "w") as log:
            return subprocess.Popen([CALLGRID, *args], env=env, stdout=subprocess.DEVNULL, stderr=log)
    return Forked(args, env, Path(os.devnull), stderr or Path(os.devnull))


def run(args: list[str], env: dict[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess:
    """`callgrid *args` to its end: its exit code, stdout and stderr, as `subprocess.run` gives them."""
    if not ENABLED:
        from tests.support.servers import CALLGRID

        return subprocess.run([CALLGRID, *args], env=env, capture_output=True, text=True, timeout=timeout)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="callgrid-cli-") as directory:
        stdout, stderr = Path(directory, "stdout"), Path(directory, "stderr")
        process = Forked(args, env, stdout, stderr)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise
        read = lambda path: path.read_text(errors="replace") if path.exists() else ""  # noqa: E731
        return subprocess.CompletedProcess(process.args, code, read(stdout), read(stderr))
