"""Benchmark: creating video calls, against the bare ceiling, side by side in one run.

DESIGN.md, Performance: creating calls at at least half the rate of the bare ceiling (the same
server stack answering a route that only validates the body and does the bare insert through
the raw driver), p99 under 50 ms, no double booking, on both databases.

What it does, for one database (a temporary SQLite file in WAL mode by default; with
`--database-url postgresql+asyncpg://...` a scratch database on that server, dropped afterwards):
1. starts `callgrid serve` (uvicorn, httptools, asyncio's event loop or `--loop uvloop`, one
   process or `--workers N`) on a free loopback port; it migrates the fresh database (so
   PostgreSQL has the exclusion constraint on `calls`);
2. makes two organizations with `callgrid orgs create X --json` and a product in each through
   POST /api/v1/products;
3. starts bench/bare_create_app.py on the same server stack (one process): one route that
   validates the same body with the same Pydantic model and does the same conflict check and
   one INSERT into `calls` with aiosqlite/asyncpg; once on asyncio's event loop and once on
   uvloop (`--ceiling-loops`), and the faster is the ceiling;
4. drives each server in turn with the same load: `--clients` concurrent keep-alive connections
   (32), `--requests` requests in all (3000), each a one-time 30-minute call in a distinct slot, so
   every request should get a 201; first a warm-up of one request per connection, not counted.
   The load comes from wrk (`--client wrk`, the default; Debian's `apt-get install wrk`), one
   thread, with bench/create_calls.lua writing each request's body and stopping after its share.
   wrk spent 0.05 to 0.15 ms of CPU per request here, the Python client below 0.26 to 0.39 ms:
   the servers and the database share the 2 cores with it. `--client python` is that minimal
   HTTP/1.1 client on asyncio streams under uvloop, in two processes (httpx.AsyncClient costs
   several times the server's CPU per request);
5. prints requests/s, p50, p95 and p99 latency of each and the ratio callgrid/bare, and callgrid's
   own server time per create from its request log (`duration_ms`), then checks with
   SQL that no host has overlapping calls that are not cancelled, and that every 201 is a row.

The figures are for the whole box (client, server and database on one machine), and are noisy
from run to run by 10-20%. It prints figures and never asserts timings.

    apt-get install wrk
    .venv/bin/python bench/create_calls.py
    .venv/bin/python bench/create_calls.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from support import free_port, fresh_database, postgres_cpu_seconds, spawn, stop, tree_cpu_seconds, wait_healthy

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CALLGRID = str(BIN / "callgrid")
CREATE_PATH = "/api/v1/external/workshops/video-calls"
SLOT = timedelta(minutes=30)


# -- load -------------------------------------------------------------------------------------


def body(index: int, base: datetime, product_id: str) -> dict:
    """Request `index` books the `index`-th 30-minute slot from `base` (UTC): never overlapping."""
    start = base + index * SLOT
    return {
        "title": f"bench call {index}",
        "mango": product_id,
        "startDate": start.date().isoformat(),
        "fromTime": start.strftime("%H:%M"),
        "timezoneName": "UTC",
        "duration": 30,
    }


class Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client gets: the client shares the
    machine with the servers, and httpx spends several times the server's CPU per request."""

    def __init__(self, host: str, port: int, path: str, headers: dict):
        self.host, self.port, self.path = host, port, path
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, payload: dict) -> tuple[int, bytes]:
        data = json.dumps(payload).encode()
        self.writer.write(
            f"POST {self.path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode() + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected here")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _client(url: str, headers: dict, product_id: str, base: datetime, first: int, concurrency: int,
                  per_connection: int, barrier) -> dict:
    """`concurrency` connections; slots `first`.. are this process's, warm-ups first."""
    target = httpx.URL(url)
    connections = [Connection(target.host, target.port, target.raw_path.decode(), headers) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in connections))
    statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies: list[float] = []
    warm_created = 0

    async def one(connection: Connection, index: int, record: bool) -> None:
        nonlocal warm_created
        started = time.perf_counter()
        status, content = await connection.post(body(index, base, product_id))
        elapsed = time.perf_counter() - started
        if record:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201 and len(errors) < 3:
                errors.append(f"{status} {content[:300].decode(errors='replace')}")
        elif status == 201:
            warm_created += 1

    # Warm-up: one request per connection, not timed.
    await asyncio.gather(*(one(c, first + i, False) for i, c in enumerate(connections)))
    await asyncio.to_thread(barrier.wait)
    first += concurrency

    async def run_connection(i: int) -> None:
        for k in range(per_connection):
            await one(connections[i], first + i * per_connection + k, True)

    t0 = time.monotonic()
    await asyncio.gather(*(run_connection(i) for i in range(concurrency)))
    t1 = time.monotonic()
    for c in connections:
        c.close()
    return {"t0": t0, "t1": t1, "latencies": latencies, "statuses": statuses, "errors": errors, "warm_created": warm_created}


def _client_process(queue, *args) -> None:
    import uvloop

    queue.put(uvloop.run(_client(*args)))


def drive_python(url: str, headers: dict, product_id: str, base: datetime, *, clients: int, processes: int,
                 requests: int) -> dict:
    per_connection = max(1, requests // clients)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(processes)
    shares = [clients // processes + (1 if p < clients % processes else 0) for p in range(processes)]
    workers, first = [], 0
    for share in shares:
        args = (queue, url, headers, product_id, base, first, share, per_connection, barrier)
        workers.append(context.Process(target=_client_process, args=args, daemon=True))
        first += share * (per_connection + 1)
    for worker in workers:
        worker.start()
    try:
        results = [queue.get(timeout=600) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    latencies = sorted(x for r in results for x in r["latencies"])
    statuses: dict[int, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    seconds = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    return {
        "count": len(latencies),
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p95": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "statuses": statuses,
        "errors": [e for r in results for e in r["errors"]],
        "created": statuses.get(201, 0) + sum(r["warm_created"] for r in results),
    }


def _wrk(url: str, headers: dict, product_id: str, base: datetime, *, clients: int, threads: int, first: int,
         per_thread: int) -> dict:
    """One wrk run (bench/create_calls.lua): `threads` threads sharing `clients` connections, each
    thread `per_thread` responses on slots of its own from `first`."""
    stride = per_thread + clients  # a thread's slots, the requests in flight when it stops included
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", "600s", "--timeout", "60s",
               "-s", str(BENCH / "create_calls.lua"), url, "--",
               str(int(base.timestamp())), str(first), str(stride), str(per_thread), product_id]
    if "Authorization" in headers:
        command.append(headers["Authorization"])
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, finished, result = [], 0, None
    for line in wrk.stdout:
        lines.append(line)
        if line.startswith("WRK_THREAD_DONE"):
            finished += 1
            if finished == threads:
                wrk.send_signal(signal.SIGINT)  # its main thread sleeps for all of -d; `done` follows
        elif line.startswith("WRK_RESULT "):
            result = json.loads(line.removeprefix("WRK_RESULT "))
    wrk.wait(timeout=60)
    if finished < threads or result is None:
        raise RuntimeError("wrk did not finish its requests:\n" + "".join(lines[-20:]))
    result["slots"] = threads * stride
    return result


def drive_wrk(url: str, headers: dict, product_id: str, base: datetime, *, clients: int, processes: int,
              requests: int) -> dict:
    """The same load from wrk (`--client wrk`): a warm-up of one request per connection, then
    `requests` timed ones. wrk measures each request from its write to its response read."""
    warm = _wrk(url, headers, product_id, base, clients=clients, threads=processes, first=0,
                per_thread=max(1, clients // processes))
    timed = _wrk(url, headers, product_id, base, clients=clients, threads=processes, first=warm["slots"],
                 per_thread=max(1, requests // processes))
    statuses = {int(code): n for code, n in timed["statuses"].items()}
    return {
        "count": timed["requests"],
        "rps": timed["requests"] / timed["seconds"],
        "p50": timed["p50"] / 1000,
        "p95": timed["p95"] / 1000,
        "p99": timed["p99"] / 1000,
        "statuses": statuses,
        "errors": timed["errors"],
        "created": statuses.get(201, 0) + int(warm["statuses"].get("201", 0)),
    }


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children: the load generator's, once it has ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- checks -----------------------------------------------------------------------------------

# A host's calls sorted by start overlap iff some call starts before the latest end so far.
OVERLAPS = """
SELECT count(*) FROM (
    SELECT starts_at,
           max(ends_at) OVER (PARTITION BY host_id ORDER BY starts_at, id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end
    FROM calls WHERE host_id IS NOT NULL AND status <> 'cancelled'
) AS sorted WHERE latest_end > starts_at
"""


async def check(database_url: str, host_ids: dict[str, str]) -> tuple[int, dict[str, int]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            overlaps = (await conn.execute(text(OVERLAPS))).scalar_one()
            rows = {}
            for name, host_id in host_ids.items():
                value = uuid.UUID(host_id).hex if engine.dialect.name == "sqlite" else uuid.UUID(host_id)
                query = text("SELECT count(*) FROM calls WHERE host_id = :h AND status <> 'cancelled'")
                rows[name] = (await conn.execute(query, {"h": value})).scalar_one()
    finally:
        await engine.dispose()
    return overlaps, rows


def server_times(log: Path, count: int) -> list[float] | None:
    """The server time (ms) of the last `count` creates, from callgrid's request log: each line
    holds `duration_ms`, measured from the request's entry into the app to its response sent.
    None when the log does not hold them all."""
    marker = f"POST {CREATE_PATH} 201 duration_ms="
    found = []
    for line in log.read_text(errors="replace").splitlines():
        at = line.find(marker)
        if at >= 0:
            found.append(float(line[at + len(marker):].split(" ", 1)[0]))
    return sorted(found[-count:]) if len(found) >= count else None


# -- main -------------------------------------------------------------------------------------


def run(args) -> None:
    database_url, drop = fresh_database(args.database_url)
    logs = Path(tempfile.mkdtemp(prefix="callgrid-bench-logs-"))
    backend = make_url(database_url).get_backend_name()
    processes: list[subprocess.Popen] = []
    try:
        port = free_port()
        env = {**os.environ, "CALLGRID_DATABASE_URL": database_url, "CALLGRID_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        callgrid = spawn(
            [CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
             "--loop", args.loop],
            env,
            logs / "callgrid.log",
            cwd=BENCH.parent,
        )
        processes.append(callgrid)
        wait_healthy(callgrid, port, logs / "callgrid.log")

        orgs = {}
        for name in ("callgrid", "bare"):
            done = subprocess.run([CALLGRID, "orgs", "create", f"Bench {name}", "--json"], env=env,
                                  capture_output=True, text=True, timeout=60, check=True)
            org = json.loads(done.stdout)
            response = httpx.post(f"http://127.0.0.1:{port}/api/v1/products", json={"title": f"Bench {name}"},
                                  headers={"Authorization": f"Bearer {org['api_key']}"}, timeout=30)
            response.raise_for_status()
            org["product_id"] = response.json()["id"]
            orgs[name] = org

        bare_env = {
            **os.environ,
            "BARE_DATABASE_URL": database_url,
            "BARE_ORGANIZATION_ID": orgs["bare"]["organization"]["id"],
            "BARE_HOST_ID": orgs["bare"]["host"]["id"],
            "BARE_PRODUCT_ID": orgs["bare"]["product_id"],
        }
        # Each bare run books its own stretch of slots of the bare host (a year apart); callgrid's
        # run the first stretch's slots on its own host: the tables they write are alike.
        base = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
        load = {"clients": args.clients, "processes": args.client_processes, "requests": args.requests}
        drive = drive_wrk if args.client == "wrk" else drive_python
        on_postgresql = backend == "postgresql" and postgres_cpu_seconds() is not None  # its CPU time read here

        def measured(server: subprocess.Popen, url: str, headers: dict, product_id: str, start: datetime) -> dict:
            database_cpu = postgres_cpu_seconds() if on_postgresql else None
            cpu, client_cpu = tree_cpu_seconds(server.pid), _children_cpu_seconds()
            result = drive(url, headers, product_id, start, **load)
            result["cpu_ms"] = (tree_cpu_seconds(server.pid) - cpu) * 1000 / result["count"]
            result["client_cpu_ms"] = (_children_cpu_seconds() - client_cpu) * 1000 / result["count"]
            if on_postgresql:
                result["db_cpu_ms"] = (postgres_cpu_seconds() - database_cpu) * 1000 / result["count"]
            return result

        results = {}
        for index, loop in enumerate(args.ceiling_loops):
            bare_port = free_port()
            bare = spawn(
                [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "bare_create_app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(bare_port), "--loop", loop, "--http", "httptools",
                 "--log-level", "warning", "--no-access-log"],
                bare_env,
                logs / f"bare-{loop}.log",
                cwd=BENCH.parent,
            )
            processes.append(bare)
            wait_healthy(bare, bare_port, logs / f"bare-{loop}.log")
            results[f"bare {loop}"] = measured(bare, f"http://127.0.0.1:{bare_port}/calls", {},
                                               orgs["bare"]["product_id"], base + timedelta(days=400 * index))
            stop(bare)
        results["callgrid"] = measured(
            callgrid, f"http://127.0.0.1:{port}{CREATE_PATH}",
            {"Authorization": f"Bearer {orgs['callgrid']['api_key']}"}, orgs["callgrid"]["product_id"], base,
        )
        time.sleep(0.5)  # the last lines of the request log written
        in_server = server_times(logs / "callgrid.log", results["callgrid"]["count"])
        ceiling_name = max((name for name in results if name.startswith("bare ")), key=lambda name: results[name]["rps"])
        ceiling = results[ceiling_name]

        print(f"\nmachine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"callgrid serve --workers {args.workers} --loop {args.loop}; the bare ceiling (one process) on each of "
              f"{', '.join(args.ceiling_loops)}")
        client = "wrk thread(s)" if args.client == "wrk" else "Python client process(es)"
        print(f"{backend}: {args.clients} concurrent connections over {args.client_processes} {client}, "
              f"{results['callgrid']['count']} timed requests each (plus {args.clients} warm-ups)")
        database_column = f" {'db cpu ms/req':>14}" if on_postgresql else ""
        print(f"{'':14} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'cpu ms/req':>11}{database_column}"
              f" {'client cpu':>11}  statuses")
        for name, r in results.items():
            database = f" {r['db_cpu_ms']:14.2f}" if on_postgresql else ""
            print(f"{name:14} {r['rps']:8.0f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f} {r['cpu_ms']:11.2f}{database}"
                  f" {r['client_cpu_ms']:11.3f}  {r['statuses']}")
            for error in r["errors"]:
                print(f"    {name}: {error}")
        print(f"ratio callgrid/bare: {results['callgrid']['rps'] / ceiling['rps']:.2f} against the faster ceiling "
              f"({ceiling_name}) (target: at least 0.5, p99 under 50 ms); server CPU per request, bare/callgrid: "
              f"{ceiling['cpu_ms'] / results['callgrid']['cpu_ms']:.2f} (server processes only"
              + ("; db cpu: the local PostgreSQL server's processes over the same stretch" if on_postgresql
                 else "; SQLite's work is the server's own") + "; client cpu: the load generator's, ms per request)")

        if in_server is not None:
            at = lambda q: in_server[min(len(in_server) - 1, int(len(in_server) * q))]  # noqa: E731
            print(f"callgrid's server time per create (its request log: from the request's entry into the app to "
                  f"its response sent, the waits in the app for the database and the event loop included): p50 "
                  f"{at(0.5):.1f} ms, p99 {at(0.99):.1f} ms, max {in_server[-1]:.1f} ms; the rest of the latency above is "
                  f"outside the app: the request waiting to be read by the server's event loop, and the client's side")
        overlaps, rows = asyncio.run(check(database_url, {n: o["host"]["id"] for n, o in orgs.items()}))
        for name in orgs:
            created = sum(r["created"] for key, r in results.items() if key.split(" ")[0] == name)
            print(f"{name}: {rows[name]} calls stored, {created} answered 201 (warm-ups included)"
                  + ("; wrk leaves up to one request per connection unread when it stops, so a few more may be stored"
                     if args.client == "wrk" else ""))
        print(f"overlapping non-cancelled calls of one host: {overlaps}" + ("" if overlaps else " (no double booking)"))
    finally:
        for process in reversed(processes):
            stop(process)
        drop()
        for file in logs.glob("*"):
            file.unlink()
        logs.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server to make a scratch database on; SQLite if absent")
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per server (default 3000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="both servers' event loop (default asyncio, callgrid serve's own default)")
    parser.add_argument("--ceiling-loops", default="asyncio,uvloop", type=lambda text: text.split(","),
                        help="the event loops the bare ceiling runs on, one run each; the ratio is against the "
                             "fastest (default asyncio,uvloop)")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk",
                        help="the load generator: wrk (default; Debian's `apt-get install wrk`) or the lean Python client")
    parser.add_argument("--client-processes", type=int,
                        help="wrk threads or Python client processes sharing the connections (default 1 and 2)")
    parser.add_argument("--workers", type=int, default=1, help="callgrid serve --workers N (default 1; the bare ceiling runs one)")
    args = parser.parse_args()
    if not args.ceiling_loops or not set(args.ceiling_loops) <= {"asyncio", "uvloop"}:
        parser.error("--ceiling-loops: asyncio, uvloop or both, separated by a comma")
    if args.client_processes is None:
        args.client_processes = 1 if args.client == "wrk" else 2
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed: `apt-get install wrk` (Debian), or --client python")
    if not 1 <= args.requests <= 100_000 or not 1 <= args.clients <= 256 or not 1 <= args.client_processes <= args.clients:
        parser.error("--requests 1..100000, --clients 1..256, --client-processes 1..clients")
    run(args)


if __name__ == "__main__":
    main()
