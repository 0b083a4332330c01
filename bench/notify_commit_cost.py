"""Benchmark: what waking workers through PostgreSQL NOTIFY costs the transactions that insert events.

PostgreSQL serialises the commits of transactions that NOTIFY (a lock taken before the commit
and held until after it, so that notifications queue in commit order); the WAL flushes of such
commits cannot be shared (no group commit). A trigger on `webhook_events` that notified inside
each inserting transaction (what migration 20261123_webhook_notify did before it was emptied)
would make every transaction that inserts a webhook event one of them; Callgrid notifies after
the commit instead, from the process that committed (callgrid.webhooks.wakeup.publishing).

On a scratch database migrated by callgrid this runs `--writers` (32) concurrent connections,
each committing one-row INSERTs into `webhook_events` as fast as it can, for `--seconds` (4)
per round, in turn in three ways, `--rounds` (4) times each, interleaved:

* `in transaction`: a statement-level trigger (created here, on the scratch database only)
  notifies inside each transaction: the design Callgrid dropped;
* `none`: no notification at all (the ceiling);
* `after commit`: as shipped: one task of the same process notifies on a connection of its own
  after commits, one NOTIFY in flight at a time (commits made meanwhile share the next).

It prints commits per second for each (median and every round) beside the load average. It
prints figures and never asserts timings.

    .venv/bin/python bench/notify_commit_cost.py
    .venv/bin/python bench/notify_commit_cost.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.db.migrate import upgrade
from support import fresh_database

INSERT = "INSERT INTO webhook_events (id, organization_id, type, payload, created_at) VALUES ($1, $2, 'ping', '{}', now())"


async def measure(url: str, args) -> dict[str, list[float]]:
    engine = create_engine(Settings(database_url=url))
    await upgrade(engine)
    await engine.dispose()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    organization = uuid.uuid4()
    await admin.execute(  # the dropped trigger, for the `in transaction` rounds (disabled otherwise)
        """
        CREATE FUNCTION bench_notify_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('callgrid_webhook_events', '');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER bench_webhook_events_notify AFTER INSERT ON webhook_events
            FOR EACH STATEMENT EXECUTE FUNCTION bench_notify_webhook_events();
        """
    )
    await admin.execute("INSERT INTO organizations (id, name, slug, created_at, updated_at) "
                        "VALUES ($1, 'Bench', 'bench', now(), now())", organization)
    pool = await asyncpg.create_pool(dsn, min_size=args.writers, max_size=args.writers)
    notifier = await asyncpg.connect(dsn)
    try:

        async def round_of(mode: str, seconds: float) -> float:
            await admin.execute(f"ALTER TABLE webhook_events {'ENABLE' if mode == 'in transaction' else 'DISABLE'} "
                                "TRIGGER bench_webhook_events_notify")
            committed = 0
            stop = time.monotonic() + seconds
            poke = asyncio.Event()

            async def publisher() -> None:
                while True:
                    await poke.wait()
                    poke.clear()
                    await notifier.execute("SELECT pg_notify('callgrid_webhook_events', '')")

            async def writer() -> None:
                nonlocal committed
                async with pool.acquire() as connection:
                    while time.monotonic() < stop:
                        async with connection.transaction():
                            await connection.execute(INSERT, uuid.uuid4(), organization)
                        committed += 1
                        if mode == "after commit":
                            poke.set()

            task = asyncio.create_task(publisher()) if mode == "after commit" else None
            await asyncio.gather(*(writer() for _ in range(args.writers)))
            if task is not None:
                task.cancel()
            return committed / seconds

        await round_of("none", 1.0)  # warm-up
        results: dict[str, list[float]] = {"in transaction": [], "none": [], "after commit": []}
        for _ in range(args.rounds):
            for mode in results:
                results[mode].append(await round_of(mode, args.seconds))
        return results
    finally:
        await pool.close()
        await notifier.close()
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server to make a scratch database on (default: %(default)s)")
    parser.add_argument("--writers", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per round (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each way (default 4)")
    args = parser.parse_args()
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL server")
    url, drop = fresh_database(args.database_url)
    load_before = os.getloadavg()
    try:
        results = asyncio.run(measure(url, args))
    finally:
        drop()
    load_after = os.getloadavg()
    print(f"\n{args.writers} connections committing one-row INSERTs into webhook_events, {args.seconds:g} s rounds")
    print(f"{'':14} {'median':>8}  rounds (commits/s)")
    for mode, rates in results.items():
        print(f"{mode:14} {statistics.median(rates):8.0f}  {' '.join(f'{r:.0f}' for r in rates)}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}, after: "
          f"{' '.join(f'{x:.2f}' for x in load_after)} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
