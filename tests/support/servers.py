"""`callgrid serve` as a process of its own on loopback, and the `callgrid` CLI."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import forked
from tests.support.processes import free_port, stop_process

CALLGRID = str(Path(sys.executable).with_name("callgrid"))


def callgrid_env(database_url: str, **extra: str) -> dict[str, str]:
    """This environment without any `CALLGRID_` setting of its own, on `database_url`, rate
    limits off, a pool of 5 connections, with `extra` (`CALLGRID_...` variables) over it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGRID_") or k.startswith("CALLGRID_TEST_")}
    env["CALLGRID_DATABASE_URL"] = database_url
    # Tests make many requests fast from one address; tests/ratelimits/ turn the limits on.
    env["CALLGRID_RATE_LIMITS"] = "false"
    # A few connections each, not 20: the servers the test processes start, the apps they keep
    # and their listeners share PostgreSQL's 100 connections (a request waits for a free one).
    env["CALLGRID_DATABASE_POOL_SIZE"] = "5"
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run `callgrid *args` with `env`; its stdout (it must succeed)."""
    done = forked.run(list(args), env)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Served:
    """A running `callgrid serve` process, ready (its `/healthz` answered) when constructed.

    `first_key` is the API key it printed on stdout, which it does on the very first start
    only, before it listens ("" when it printed none). `args` go to `serve` after the address
    (`--log-level debug`). Its stderr goes to `log` (a temporary
    file when not given), which is shown when it fails to start. A process that exits is seen
    at once; `timeout` is for one that never answers, and generous: on a loaded machine
    `--workers 2` took over a minute to answer.
    """

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        *,
        workers: int = 1,
        log: Path | None = None,
        timeout: float = 180.0,
        args: tuple[str, ...] = (),
    ):
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {"CALLGRID_PUBLIC_URL": self.base_url, **env}
        self.database_url = self.env["CALLGRID_DATABASE_URL"]
        self.log = log or Path(tempfile.mkstemp(prefix="callgrid-serve-", suffix=".log")[1])
        self.extra_processes: list[subprocess.Popen] = []
        stdout = Path(tempfile.mkstemp(prefix="callgrid-serve-", suffix=".out")[1])
        command = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers), *args]
        self.log.write_text("")
        if forked.ENABLED:
            self.process = forked.Forked(command, self.env, stdout, self.log)
        else:
            with open(self.log, "w") as stderr, open(stdout, "w") as out:
                self.process = subprocess.Popen([CALLGRID, *command], env=self.env, stdout=out, stderr=stderr)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            stop_process(self.process)
            raise
        # The key was flushed before the server listened, so it is in the file by now.
        printed = stdout.read_text()
        stdout.unlink()
        self.first_key = printed.strip().splitlines()[0] if printed.strip() else ""

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # One client for all the polls: `httpx.get` makes a client, and its SSL context, per
        # call (about 40 ms of CPU), which polling every 50 ms took from the starting server.
        with httpx.Client(timeout=1, trust_env=False) as http:
            while True:
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"callgrid serve did not start (exit code {self.process.poll()}): {self.log.read_text()[-3000:]}")
                time.sleep(0.05)

    def cli(self, *args: str) -> str:
        """Run the CLI against this server's database; returns stdout."""
        return cli(self.env, *args)

    def create_org(self, name: str) -> dict:
        """`callgrid orgs create NAME --json`: {"organization", "host", "api_key"}."""
        return json.loads(self.cli("orgs", "create", name, "--json"))

    def client(self, key: str, **options) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30, trust_env=False, **options
        )

    def stop(self) -> None:
        for process in [self.process, *self.extra_processes]:
            stop_process(process)
