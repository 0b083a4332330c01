"""Benchmark: webhook latency across processes, from the commit to the receiver's 2xx.

Issue 8: a `callgrid worker` hears of new events through PostgreSQL LISTEN/NOTIFY (or Redis)
instead of waiting for its poll; target p50 under 50 ms on one machine.

What it does:
1. makes a scratch database: on the PostgreSQL server of `--database-url` (default
   postgresql+asyncpg://postgres@127.0.0.1:5432/test), dropped afterwards; or, with
   `--database-url sqlite`, a temporary SQLite file (then `--redis-url` is what wakes the worker);
2. starts a receiver process (asyncio on uvloop, HTTP/1.1 keep-alive, answers 200 at once and
   notes the wall-clock moment it wrote each answer; it does not verify signatures);
3. starts `callgrid serve` with `CALLGRID_RUN_EMBEDDED_WORKER=false` and one `callgrid worker`
   (poll interval `--poll`, default 0.5 s: the product's default), both with `--redis-url` as
   CALLGRID_REDIS_URL when given (a fresh CALLGRID_REDIS_PREFIX for the run);
4. makes an organization (`callgrid orgs create --json`), a product and an endpoint pointing at
   the receiver; 5 warm-up calls, not counted;
5. creates `--calls` one-time video calls (default 300) through the video-calls API, each in a
   slot of its own: the first half paced (one at a time, `--gap` seconds apart, default 0.1: each
   finds the worker idle), the rest in bursts of `--burst` concurrent requests (default 10)
   `--burst-gap` seconds apart (default 0.5);
6. waits for every event at the receiver, then prints p50/p95/p99/max of the latency from the
   event's `created_at` (set when the change is made, a little before its commit: so this
   slightly overstates) to the receiver's answer, and from the 201 at the client (after the
   commit, so this understates; negative when the webhook arrived before the client had read
   its 201), per phase; the load average before and after, and the CPU seconds the server and
   the worker used.

Everything runs on one machine (receiver, client, server, worker, database); it prints
figures and never asserts timings.

    .venv/bin/python bench/webhook_latency.py
    .venv/bin/python bench/webhook_latency.py --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python bench/webhook_latency.py --database-url sqlite --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from support import UNBOUNDED_RATE_LIMITS, cpu_seconds, free_port, fresh_database, spawn, stop, wait_healthy

BENCH = Path(__file__).resolve().parent
CALLGRID = str(Path(sys.executable).parent / "callgrid")
CALLS = "/api/v1/external/workshops/video-calls"
WARM_UP = 5


# -- the receiver (its own process) ---------------------------------------------------------------

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def receiver_main(port: int) -> None:
    """Serve on 127.0.0.1:`port`: POST /hook is a webhook (answered 200 at once, noted);
    GET /count answers how many were noted, GET /records all of them."""
    import uvloop

    records: list[dict] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if request_line.startswith("POST"):
                    writer.write(ANSWER)
                    answered = time.time()
                    event = json.loads(body)
                    records.append({"id": event["id"], "created_at": event["created_at"],
                                    "call": event["data"].get("_id"), "answered": answered})
                    continue
                payload = json.dumps(len(records) if "/count" in request_line else records).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


# -- the client -----------------------------------------------------------------------------------


def call_body(index: int, base: datetime, product_id: str) -> dict:
    start = base + index * timedelta(minutes=30)
    return {"title": f"latency {index}", "mango": product_id, "startDate": start.date().isoformat(),
            "fromTime": start.strftime("%H:%M"), "timezoneName": "UTC", "duration": 30}


async def drive(base_url: str, key: str, product_id: str, args) -> tuple[dict[str, float], dict[str, str], list[float]]:
    """Create the calls; returns {call id: when its 201 arrived}, {call id: phase}, create round trips."""
    base = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    answered: dict[str, float] = {}
    phase_of: dict[str, str] = {}
    round_trips: list[float] = []
    index = 0
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                 trust_env=False, limits=httpx.Limits(max_connections=64)) as client:

        async def create(phase: str) -> None:
            nonlocal index
            index += 1
            body = call_body(index, base, product_id)
            started = time.perf_counter()
            r = await client.post(CALLS, json=body)
            arrived = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"create answered {r.status_code}: {r.text[:300]}")
            round_trips.append(time.perf_counter() - started)
            answered[r.json()["_id"]] = arrived
            phase_of[r.json()["_id"]] = phase

        for _ in range(WARM_UP):
            await create("warm-up")
        await asyncio.sleep(1)
        paced = args.calls // 2
        for _ in range(paced):
            await create("paced")
            await asyncio.sleep(args.gap)
        left = args.calls - paced
        while left > 0:
            n = min(args.burst, left)
            await asyncio.gather(*(create("bursts") for _ in range(n)))
            left -= n
            await asyncio.sleep(args.burst_gap)
    return answered, phase_of, round_trips


# -- figures --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:8} {0:5}"
    ms = [v * 1000 for v in values]
    return (f"{name:8} {len(ms):5} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f} "
            f"{percentile(ms, 0.99):8.1f} {max(ms):8.1f}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


# -- main -----------------------------------------------------------------------------------------


def run(args) -> None:
    sqlite = args.database_url == "sqlite"
    database_url, drop = fresh_database(None if sqlite else args.database_url)
    backend = make_url(database_url).get_backend_name()
    logs = Path(tempfile.mkdtemp(prefix="callgrid-bench-logs-"))
    processes: list[subprocess.Popen] = []
    try:
        receiver_port, port = free_port(), free_port()
        receiver = spawn([sys.executable, str(Path(__file__).resolve()), "--receiver", str(receiver_port)],
                         dict(os.environ), logs / "receiver.log")
        processes.append(receiver)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGRID_")}
        env.update(UNBOUNDED_RATE_LIMITS)
        env.update({
            "CALLGRID_DATABASE_URL": database_url,
            "CALLGRID_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CALLGRID_RUN_EMBEDDED_WORKER": "false",
            "CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS": str(args.poll),
        })
        if args.redis_url:
            env.update({"CALLGRID_REDIS_URL": args.redis_url, "CALLGRID_REDIS_PREFIX": f"callgrid-bench-{uuid.uuid4().hex[:8]}"})
        server = spawn([CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port)], env, logs / "serve.log")
        processes.append(server)
        wait_healthy(server, port, logs / "serve.log")
        worker = spawn([CALLGRID, "worker"], env, logs / "worker.log")
        processes.append(worker)

        done = subprocess.run([CALLGRID, "orgs", "create", "Latency", "--json"], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        key = json.loads(done.stdout)["api_key"]
        base_url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        product = httpx.post(f"{base_url}/api/v1/products", json={"title": "Latency"}, headers=headers, timeout=30,
                             trust_env=False)
        product.raise_for_status()
        endpoint = httpx.post(f"{base_url}/api/v1/webhook-endpoints", json={"url": f"http://127.0.0.1:{receiver_port}/hook"},
                              headers=headers, timeout=30, trust_env=False)
        endpoint.raise_for_status()
        time.sleep(2)  # the worker has started and listens

        load_before = load()
        cpu_before = {name: cpu_seconds(p.pid) for name, p in (("serve", server), ("worker", worker))}
        answered, phase_of, round_trips = asyncio.run(drive(base_url, key, product.json()["id"], args))
        deadline = time.monotonic() + 120
        expected = len(answered)
        while httpx.get(f"http://127.0.0.1:{receiver_port}/count", timeout=10, trust_env=False).json() < expected:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        cpu_used = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in (("serve", server), ("worker", worker))}
        load_after = load()
        records = httpx.get(f"http://127.0.0.1:{receiver_port}/records", timeout=30, trust_env=False).json()
    finally:
        for process in reversed(processes):
            stop(process)
        drop()

    first: dict[str, dict] = {}
    for record in records:
        first.setdefault(record["call"], record)  # the first answer for each call (delivery is at least once)
    duplicates = len(records) - len(first)
    from_created: dict[str, list[float]] = {"paced": [], "bursts": []}
    from_201: dict[str, list[float]] = {"paced": [], "bursts": []}
    for call, record in first.items():
        phase = phase_of.get(call)
        if phase not in from_created:
            continue
        created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00")).timestamp()
        from_created[phase].append(record["answered"] - created)
        from_201[phase].append(record["answered"] - answered[call])
    measured = [c for c, p in phase_of.items() if p != "warm-up"]
    missing = sum(1 for c in measured if c not in first)

    wake = " + ".join(w for w, on in (("LISTEN/NOTIFY", backend == "postgresql"), ("Redis pub/sub", bool(args.redis_url))) if on)
    print(f"\nwebhook latency on {backend} (wake-ups: {wake or 'none, the poll only'}): 1 `callgrid serve` (embedded worker off), 1 `callgrid worker` "
          f"(poll interval {args.poll} s), receiver and client on the same machine")
    print(f"{len(measured)} calls: {len(from_created['paced'])} paced ({args.gap} s apart), "
          f"{len(from_created['bursts'])} in bursts of {args.burst} ({args.burst_gap} s apart)")
    header = f"{'':8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print("\nfrom the event's created_at to the receiver's 2xx")
    print(header)
    for phase in ("paced", "bursts"):
        print(line(phase, from_created[phase]))
    print(line("all", from_created["paced"] + from_created["bursts"]))
    print("\nfrom the 201 at the client to the receiver's 2xx")
    print(header)
    for phase in ("paced", "bursts"):
        print(line(phase, from_201[phase]))
    print(line("all", from_201["paced"] + from_201["bursts"]))
    print(f"\ncreate round trip (client): p50 {statistics.median(round_trips) * 1000:.1f} ms, "
          f"p99 {percentile(round_trips, 0.99) * 1000:.1f} ms")
    print(f"missing deliveries: {missing}, duplicates: {duplicates}")
    print(f"CPU used while measuring: serve {cpu_used['serve']:.2f} s, worker {cpu_used['worker']:.2f} s")
    print(f"load average before: {load_before}")
    print(f"load average after:  {load_after}")
    for file in logs.glob("*"):
        file.unlink()
    logs.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # run as the receiver on this port
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server to make a scratch database on, or 'sqlite' (default: %(default)s)")
    parser.add_argument("--redis-url", help="wake workers through this Redis as well (needed with sqlite)")
    parser.add_argument("--calls", type=int, default=300, help="calls created and measured (default 300)")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between paced creates (default 0.1)")
    parser.add_argument("--burst", type=int, default=10, help="concurrent creates per burst (default 10)")
    parser.add_argument("--burst-gap", type=float, default=0.5, help="seconds between bursts (default 0.5)")
    parser.add_argument("--poll", type=float, default=0.5, help="the worker's poll interval (default 0.5, the product's)")
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
        return
    if not 2 <= args.calls <= 100_000 or not 1 <= args.burst <= 64 or not 0 < args.poll <= 60:
        parser.error("--calls 2..100000, --burst 1..64, --poll in (0, 60]")
    if args.database_url == "sqlite" and not args.redis_url:
        print("note: SQLite without --redis-url has no cross-process wake-up: this measures the poll", file=sys.stderr)
    run(args)


if __name__ == "__main__":
    main()
