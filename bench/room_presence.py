"""Room presence: how many idle connected participants one `callgrid serve` process holds, and
the join-to-`participant_joined` latency at that load.

    .venv/bin/python bench/room_presence.py                                   # SQLite, in-process hub
    .venv/bin/python bench/room_presence.py --participants 5000
    .venv/bin/python bench/room_presence.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/0                                  # PostgreSQL, Redis hub

It starts one `callgrid serve` on a fresh database (a temporary SQLite file, or a scratch
PostgreSQL database), creates open rooms of `--room-size` participants, and connects
`--participants` WebSocket clients (real ones, `websockets`, all in this process) that join,
read their `welcome`, and then sit idle sending the protocol's `ping` every heartbeat interval.
It prints:

- the ramp: how long connecting them took, the server's resident memory and the CPU it used;
- holding them idle for `--hold` seconds: how many are still connected at the end (none dropped
  is the point), the server's CPU share while idle;
- the join-to-`participant_joined` latency: from a new client opening its socket to an observer
  already in the room receiving `participant_joined`, `--samples` times one after the other,
  first on an idle server and then with the participants connected;

each beside `os.getloadavg()`. Client and server share the machine's cores.
"""

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import UNBOUNDED_RATE_LIMITS, cpu_seconds, free_port, fresh_database, stop, wait_healthy  # noqa: E402

CALLGRID = str(Path(sys.executable).with_name("callgrid"))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Idle:
    """A participant that joined and now only sends pings."""

    def __init__(self, url: str, interval: float):
        self.url = url
        self.interval = interval
        self.connected = False
        self.closed_code: int | None = None
        self.task: asyncio.Task | None = None

    async def run(self, joined: asyncio.Event) -> None:
        try:
            async with connect(self.url, open_timeout=60, ping_interval=None, max_queue=None) as ws:
                welcome = json.loads(await ws.recv())
                assert welcome["type"] == "welcome", welcome
                self.connected = True
                joined.set()

                async def drain():
                    async for _ in ws:
                        pass

                reader = asyncio.create_task(drain())
                try:
                    while not reader.done():
                        await ws.send('{"type":"ping"}')
                        await asyncio.wait([reader], timeout=self.interval)
                finally:
                    reader.cancel()
                self.closed_code = ws.close_code
        except Exception as exc:  # noqa: BLE001 - counted as dropped
            self.closed_code = getattr(getattr(exc, "rcvd", None), "code", None) or type(exc).__name__
        finally:
            self.connected = False
            joined.set()


async def latency(ws_base: str, room_id: str, samples: int) -> list[float]:
    """Milliseconds from a joiner opening its socket to the observer's `participant_joined`."""
    out = []
    async with connect(f"{ws_base}/v1/rooms/{room_id}/live?name=observer", ping_interval=None) as observer:
        assert json.loads(await observer.recv())["type"] == "welcome"
        for _ in range(samples):
            started = time.perf_counter()
            async with connect(f"{ws_base}/v1/rooms/{room_id}/live?name=joiner", ping_interval=None) as joiner:
                while True:
                    message = json.loads(await observer.recv())
                    if message["type"] == "participant_joined":
                        out.append((time.perf_counter() - started) * 1000)
                        break
                await joiner.recv()  # its welcome
            while json.loads(await observer.recv())["type"] != "participant_left":
                pass
            await observer.send('{"type":"ping"}')
    return out


def summary(values: list[float]) -> str:
    values = sorted(values)

    def rank(p: float) -> float:  # nearest rank
        return values[max(0, math.ceil(p * len(values)) - 1)]

    return f"p50 {rank(0.5):.1f} ms  p95 {rank(0.95):.1f} ms  p99 {rank(0.99):.1f} ms  max {values[-1]:.1f} ms  (n={len(values)})"


async def bench(args, base: str, key: str, server_pid: int) -> None:
    ws_base = base.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60, trust_env=False) as client:
        async def room(name: str) -> str:
            response = await client.post("/v1/rooms", json={"name": name, "type": "open"})
            response.raise_for_status()
            return response.json()["room"]["id"]

        measuring = await room("measuring")
        print(f"join -> participant_joined, idle server:  {summary(await latency(ws_base, measuring, args.samples))}   [{load()}]")

        rooms = [await room(f"room {n}") for n in range(max(1, -(-args.participants // args.room_size)))]
        interval = args.heartbeat / 3
        idle = [Idle(f"{ws_base}/v1/rooms/{rooms[n // args.room_size]}/live?name=p{n}", interval) for n in range(args.participants)]
        cpu_before, started = cpu_seconds(server_pid), time.perf_counter()
        gate = asyncio.Semaphore(args.concurrency)

        async def start(participant: Idle) -> None:
            async with gate:
                joined = asyncio.Event()
                participant.task = asyncio.create_task(participant.run(joined))
                await joined.wait()

        await asyncio.gather(*(start(p) for p in idle))
        ramp = time.perf_counter() - started
        connected = sum(p.connected for p in idle)
        cpu_ramp = cpu_seconds(server_pid) - cpu_before
        print(f"ramp: {connected} of {args.participants} participants connected in {ramp:.1f} s "
              f"({connected / ramp:.0f} joins/s), server CPU {cpu_ramp:.1f} s, RSS {rss_mb(server_pid):.0f} MB   [{load()}]")

        cpu_before, held_from = cpu_seconds(server_pid), time.perf_counter()
        await asyncio.sleep(args.hold)
        held = sum(p.connected for p in idle)
        idle_cpu = (cpu_seconds(server_pid) - cpu_before) / (time.perf_counter() - held_from) * 100
        print(f"held idle for {args.hold:.0f} s: {held} of {connected} still connected "
              f"(heartbeat every {interval:.0f} s), server CPU {idle_cpu:.1f}% of one core, RSS {rss_mb(server_pid):.0f} MB   [{load()}]")

        lost = Counter(p.closed_code for p in idle if not p.connected)
        if lost:
            print(f"not connected at the end, by close code or error: {dict(lost)}")
        sessions = (await client.get(f"/v1/rooms/{rooms[0]}/sessions")).json()
        print(f"a room's sessions as the API reports them: {sessions['sessions_count']} (room size {args.room_size})")
        print(f"join -> participant_joined, {held} idle participants connected:  "
              f"{summary(await latency(ws_base, measuring, args.samples))}   [{load()}]")

        for participant in idle:
            if participant.task is not None:
                participant.task.cancel()
        await asyncio.gather(*(p.task for p in idle if p.task is not None), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (default: a temporary SQLite file)")
    parser.add_argument("--redis-url", default=None, help="run the hub through Redis")
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50, help="joins in flight at once during the ramp")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold the participants idle")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="CALLGRID_HEARTBEAT_TIMEOUT_SECONDS")
    args = parser.parse_args()

    database_url, drop = fresh_database(args.database_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGRID_")}
    env.update(UNBOUNDED_RATE_LIMITS)
    env.update(
        CALLGRID_DATABASE_URL=database_url,
        CALLGRID_PUBLIC_URL=f"http://127.0.0.1:{port}",
        CALLGRID_HEARTBEAT_TIMEOUT_SECONDS=str(args.heartbeat),
    )
    if args.redis_url:
        env.update(CALLGRID_REDIS_URL=args.redis_url, CALLGRID_REDIS_PREFIX=f"callgrid-bench-{os.getpid()}")
    log = Path(tempfile.mkstemp(prefix="callgrid-room-presence-", suffix=".log")[1])
    with log.open("w") as err:
        server = subprocess.Popen(
            [CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=err
        )
    try:
        wait_healthy(server, port, log)
        key = server.stdout.readline().decode().strip()
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"callgrid serve (one process) on {backend}, hub {'Redis' if args.redis_url else 'in-process'}; "
              f"{args.participants} participants in rooms of {args.room_size}")
        try:
            import uvloop

            uvloop.run(bench(args, f"http://127.0.0.1:{port}", key, server.pid))
        except ImportError:
            asyncio.run(bench(args, f"http://127.0.0.1:{port}", key, server.pid))
    finally:
        stop(server)
        drop()


if __name__ == "__main__":
    main()
