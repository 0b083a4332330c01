"""Benchmark: POST /video-calls/check-availability for a year-long daily series.

DESIGN.md, Performance: checking a daily series for a year (365 occurrences) against a host
with 10,000 calls answers in under 20 ms, and 100,000 unrelated calls in the table change
that by less than 50% (the query is bounded by an index, not a scan).

What it does:
1. builds a fresh, migrated database (a temporary SQLite file by default; with
   `--database-url postgresql://...` a scratch database on that server, dropped afterwards);
2. one organization whose host has 10,000 calls spread over the coming ~2 years the way a
   busy creator's calendar looks (days off, 30-90 minute calls between 07:00 and 22:00 local
   time, a few cancelled, a few already over), bulk-inserted with Core executemany;
3. times the check through the real app (FastAPI over httpx's ASGI transport, auth, JSON,
   the repository query and the overlap sweep), for a year-long daily series that collides
   with that calendar; prints median and p95;
4. inserts 100,000 calls of other hosts in other organizations at the same times, and times
   again; prints both figures and the ratio.

It prints figures and never asserts timings.

    .venv/bin/python bench/check_availability.py
    .venv/bin/python bench/check_availability.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, time as wall_time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from callgrid import onboarding
from callgrid.app import create_app
from callgrid.calls.models import Call, CallKind, StoredStatus
from callgrid.config import Settings
from callgrid.db.base import new_id
from callgrid.db.engine import create_engine, is_sqlite
from callgrid.db.migrate import upgrade
from callgrid.directory.models import Host, Product
from support import admin, asyncpg_url

PATH = "/api/v1/external/workshops/video-calls/check-availability"
ZONES = ["Asia/Kolkata", "America/New_York", "Europe/London", "UTC", "Australia/Sydney"]


# -- database ---------------------------------------------------------------------------------


async def fresh_database(url: str | None) -> tuple[str, callable]:
    """A migrated, empty database and a coroutine function that removes it."""
    if url is None or is_sqlite(url):
        folder = Path(tempfile.mkdtemp(prefix="callgrid-bench-"))
        target = url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"

        async def drop() -> None:
            for file in folder.glob("*"):
                file.unlink()
            folder.rmdir()

    else:
        name = f"callgrid_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        await admin(url, f'CREATE DATABASE "{name}"')
        target = make_url(asyncpg_url(url)).set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    engine = create_engine(Settings(database_url=target))
    await upgrade(engine)
    await engine.dispose()
    return target, drop


# -- fixture data -----------------------------------------------------------------------------


def busy_calendar(rng: random.Random, count: int, first_day: date, zone: str, now: datetime) -> list[tuple[datetime, datetime, str]]:
    """`count` non-overlapping calls from `first_day` on, as a busy creator plans them over
    about two years: a day off now and then, each other day most of the hourly slots from
    06:00 to 22:00 local taken by a 30, 45 or 60 minute call (a call never runs into the next
    slot, so one host's calls never overlap)."""
    tz = ZoneInfo(zone)
    slots = [wall_time(hour, 0) for hour in range(6, 23)]
    per_day = max(1, min(len(slots) - 1, -(-count // 700)))
    out: list[tuple[datetime, datetime, str]] = []
    day = first_day
    while len(out) < count:
        if rng.random() > 0.1:  # one day in ten off
            chosen = sorted(rng.sample(slots, k=per_day + rng.choice((-1, 0, 0, 1))))
            for slot in chosen:
                start = datetime.combine(day, slot, tzinfo=tz).astimezone(UTC)
                end = start + timedelta(minutes=rng.choice((30, 45, 60, 60)))
                status = StoredStatus.CANCELLED if rng.random() < 0.04 else StoredStatus.SCHEDULED
                if end <= now and status == StoredStatus.SCHEDULED and rng.random() < 0.5:
                    status = StoredStatus.COMPLETED
                out.append((start, end, status))
                if len(out) == count:
                    break
        day += timedelta(days=1)
    return out


async def organization_with_hosts(session, name: str, hosts: int) -> tuple[str, list[uuid.UUID], uuid.UUID, uuid.UUID]:
    """An organization (via the service, so it has a real API key), extra hosts, a product."""
    created = await onboarding.create_organization_with_owner(session, name, slug=f"{name}-{uuid.uuid4().hex[:6]}")
    host_ids = [created.host.id]
    for n in range(hosts - 1):
        host = Host(organization_id=created.organization.id, name=f"{name} host {n}", email=f"h{n}@{name}.example.com",
                    timezone="UTC", working_hours={})
        session.add(host)
        await session.flush()
        host_ids.append(host.id)
    product = Product(organization_id=created.organization.id, creator_id=created.host.id, title="Mango")
    session.add(product)
    await session.flush()
    return created.api_key, host_ids, created.organization.id, product.id


async def bulk_insert_calls(engine, rows: list[dict], batch: int = 10_000) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), batch):
            await conn.execute(insert(Call.__table__), rows[start : start + batch])


def call_rows(organization_id, host_id, product_id, calendar, zone: str, now: datetime) -> list[dict]:
    return [
        {
            "id": new_id(),
            "organization_id": organization_id,
            "host_id": host_id,
            "kind": CallKind.VIDEO_CALL.value,
            "title": "Coaching session",
            "starts_at": start,
            "ends_at": end,
            "timezone": zone,
            "status": str(status),
            "cancelled_at": now if status == StoredStatus.CANCELLED else None,
            "allow_overlap": False,
            "series_id": None,
            "product_id": product_id,
            "config": None,
            "created_at": now,
            "updated_at": now,
        }
        for start, end, status in calendar
    ]


async def analyze(engine) -> None:
    """What autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would have done by now."""
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


# -- timing -----------------------------------------------------------------------------------


async def time_checks(app, key: str, body: dict, warmup: int, repeat: int, profile: bool = False) -> tuple[list[float], dict]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {key}"}) as client:
        answer = None
        for _ in range(warmup):
            response = await client.post(PATH, json=body)
            response.raise_for_status()
            answer = response.json()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        timings = []
        cpu_started = time.process_time()
        for _ in range(repeat):
            started = time.perf_counter()
            response = await client.post(PATH, json=body)
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        cpu_per_request = (time.process_time() - cpu_started) * 1000 / repeat
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return timings, answer, cpu_per_request


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# -- main -------------------------------------------------------------------------------------


async def main(args) -> None:
    rng = random.Random(args.seed)
    url, drop = await fresh_database(args.database_url)
    backend = "PostgreSQL" if not is_sqlite(url) else "SQLite"
    settings = Settings(database_url=url, run_embedded_worker=False, api_key_cache_seconds=3600)
    engine = create_engine(settings)
    now = datetime.now(UTC)
    today = now.date()
    try:
        print(f"database: {backend} ({make_url(url).render_as_string(hide_password=True)})")
        load_started = time.perf_counter()
        from callgrid.db.engine import create_sessionmaker

        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            key, [host_id], organization_id, product_id = await organization_with_hosts(session, "creator", 1)
            await session.commit()
        zone = "Asia/Kolkata"
        calendar = busy_calendar(rng, args.calls, today - timedelta(days=30), zone, now)
        await bulk_insert_calls(engine, call_rows(organization_id, host_id, product_id, calendar, zone, now))
        if args.analyze:
            await analyze(engine)
        last = max(end for _, end, _ in calendar)
        print(
            f"host under test: {len(calendar):,} calls from {calendar[0][0]:%Y-%m-%d} to {last:%Y-%m-%d} "
            f"(loaded in {time.perf_counter() - load_started:.1f} s)"
        )

        # A year-long daily series that collides with the calendar on most days.
        body = {
            "startDate": (today + timedelta(days=1)).isoformat(),
            "endDate": (today + timedelta(days=365)).isoformat(),
            "fromTime": "10:00",
            "timezoneName": zone,
            "duration": 60,
        }
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            before, answer, cpu_1 = await time_checks(app, key, body, args.warmup, args.repeat, args.profile)
        occurrences = 365
        print(
            f"check: daily series, {occurrences} occurrences, answer maximumOverlap={answer['maximumOverlap']}, "
            f"{len(answer['overlapList'])} overlapping pairs"
        )
        median_1, p95_1 = summary(before)
        print(
            f"  with {args.calls:,} calls in the table:   median {median_1:7.2f} ms   p95 {p95_1:7.2f} ms   "
            f"CPU of this process {cpu_1:6.2f} ms/request   ({args.repeat} requests)"
        )

        load_started = time.perf_counter()
        inserted = 0
        organizations = max(1, args.others // 10_000)
        hosts_per_org = 10
        per_host = args.others // (organizations * hosts_per_org)
        async with sessionmaker() as session:
            others = [await organization_with_hosts(session, f"other{n}", hosts_per_org) for n in range(organizations)]
            await session.commit()
        for _, host_ids, other_org, other_product in others:
            rows = []
            for other_host in host_ids:
                other_zone = rng.choice(ZONES)
                cal = busy_calendar(rng, per_host, today - timedelta(days=30), other_zone, now)
                rows.extend(call_rows(other_org, other_host, other_product, cal, other_zone, now))
            await bulk_insert_calls(engine, rows)
            inserted += len(rows)
        if args.analyze:
            await analyze(engine)
        print(
            f"added {inserted:,} calls of {organizations * hosts_per_org} other hosts in {organizations} other organizations "
            f"(loaded in {time.perf_counter() - load_started:.1f} s)"
        )

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            after, answer_after, cpu_2 = await time_checks(app, key, body, args.warmup, args.repeat)
        assert answer_after == answer, "the other organizations' calls changed the answer"
        median_2, p95_2 = summary(after)
        total = args.calls + inserted
        print(
            f"  with {total:,} calls in the table:  median {median_2:7.2f} ms   p95 {p95_2:7.2f} ms   "
            f"CPU of this process {cpu_2:6.2f} ms/request   ({args.repeat} requests)"
        )
        print(
            f"ratio after/before: median {median_2 / median_1:.2f}x, p95 {p95_2 / p95_1:.2f}x "
            f"(target: median under 20 ms, change under 50%)"
        )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} (other work on the machine inflates wall times)")
    finally:
        await engine.dispose()
        if not args.keep:
            await drop()
        else:
            print(f"kept: {url}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLite or PostgreSQL URL; PostgreSQL gets a scratch database on that server")
    parser.add_argument("--calls", type=int, default=10_000, help="calls of the host under test")
    parser.add_argument("--others", type=int, default=100_000, help="calls of other hosts added for the second run")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per run")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--no-analyze", dest="analyze", action="store_false", help="skip ANALYZE after loading")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the first run's requests")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
