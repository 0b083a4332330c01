"""Benchmark: slots for 30 days of an event type with 10 hosts of 1,000 calls each, end to end
through the service on a real database.

docs/architecture.md, Performance targets: slots for 30 days of an event type with 10 hosts
of 1,000 calls each in under 50 ms (cal.com's own measured buildSlots is about 220 ms).
`bench/slots.py` times the pure part alone (in memory); this one adds the database.

What it does:
1. a fresh, migrated database (a temporary SQLite file by default; with
   `--database-url postgresql://...` a scratch database on that server, dropped afterwards);
2. one organization, ten hosts in five time zones with bench/slots.py's working week (a split
   day, three days off by date override), and per host 1,000 calls crowded into the 30 days
   asked for (15-30 minutes between 07:00 and 21:00 local, bench/slots.py's generator); 30% of
   them are bookings keeping 10 and 5 minutes of buffers (a booking row each), the rest video
   calls; bulk-inserted with Core. The event type: 30 minutes on a 15-minute grid, buffers
   10/5, an hour of notice, 60 days of window;
3. times, median and p95 over `--repeat` runs after `--warmup`:
   - `find_slots` alone, on the calendars as the service builds them (the pure part);
   - the load alone: the busy rows' query and their conversion to calendars, on a fresh
     session (connection, BEGIN, query, ROLLBACK), as the service does it;
   - `callgrid.bookings.service.slots(...)`: both, end to end, on a fresh session;
   - `GET /api/v1/event-types/{id}/slots` through the app in this process (httpx's ASGI
     transport: auth, the event type's lookup, the slots, JSON);
   and checks that the service offers exactly what the pure computation offers on the
   calendars as they were written.

It prints the machine's load average beside the figures and never asserts timings. A slots
request makes some 10,000 objects that live through it, enough to set off the garbage
collector's full collections of the whole process; `--gc-freeze` shows the figures when the
objects made before the timing are frozen (`gc.freeze()`, as a server can do once started).

    .venv/bin/python bench/slots_api.py                      # SQLite
    .venv/bin/python bench/slots_api.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/slots_api.py --profile            # cProfile of the service's runs
    .venv/bin/python bench/slots_api.py --gc-freeze          # the same, the heap made so far frozen
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

import slots as pure  # bench/slots.py: the calendars, the working week, the event's rules
import support  # noqa: F401 (bench/support.py: rate limits that never bind)
from callgrid import onboarding
from callgrid.app import create_app
from callgrid.bookings import repository, service
from callgrid.bookings.models import Booking, BookingStatus, EventType, EventTypeHost
from callgrid.calls.models import Call, CallKind, StoredStatus
from callgrid.config import Settings
from callgrid.db.base import new_id
from callgrid.db.engine import is_sqlite
from callgrid.db.session import open_database, read_session, write_session
from callgrid.directory.models import Contact, Host
from callgrid.scheduling import HostCalendar, find_slots, parse_working_hours
from callgrid.tenancy import numbers
from check_availability import fresh_database  # a migrated scratch database, and its removal

NOW = datetime(2026, 3, 2, 16, 7, tzinfo=UTC)  # a Monday; the 30 days cross two DST changes
DAYS = 30


def load(when: str) -> str:
    return f"load average {when} " + " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def summary(timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms"


async def timed(run, repeat: int, warmup: int) -> tuple[list[float], float]:
    """Wall times (ms) of `repeat` awaited runs, and this process's CPU time per run (ms)."""
    for _ in range(warmup):
        await run()
    timings = []
    cpu_started = time.process_time()
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, (time.process_time() - cpu_started) * 1000 / repeat


# -- the data -----------------------------------------------------------------------------------


async def seed(database, rng: random.Random, calls_per_host: int) -> tuple[str, uuid.UUID, uuid.UUID, dict]:
    """The organization, its hosts, the event type and the calls; (key, organization id,
    event type id, {host id: its HostCalendar as generated}), the last for checking the
    service's answer against the pure computation on what was written."""
    first_day = NOW.astimezone(pure.VISITOR_ZONE).date()
    async with write_session(database) as session:
        created = await onboarding.create_organization_with_owner(session, "Slots", slug=f"slots-{uuid.uuid4().hex[:6]}")
        organization_id = created.organization.id
        hosts = []
        for number in range(1, 11):
            days_off = {(first_day + timedelta(days=rng.randrange(DAYS))).isoformat(): [] for _ in range(3)}
            host = Host(  # its `number` is taken as it is inserted (callgrid.tenancy.numbers)
                organization_id=organization_id, name=f"Host {number}", email=f"host{number}@example.com",
                timezone=pure.HOST_ZONES[number % len(pure.HOST_ZONES)], working_hours=pure.WEEK,
                date_overrides=days_off,
            )
            session.add(host)
            hosts.append(host)
        contact = Contact(organization_id=organization_id, email="invitee@example.com", first_name="In", last_name="Vitee")
        session.add(contact)
        await session.flush()
        rules = pure.RULES
        event_type = EventType(
            organization_id=organization_id, number=await numbers.take(session, organization_id, "event_types"),
            title="Intro", slug="intro", description="", duration_minutes=rules.duration_minutes,
            slot_interval_minutes=rules.slot_interval_minutes, minimum_notice_minutes=rules.minimum_notice_minutes,
            booking_window_days=rules.booking_window_days, buffer_before_minutes=rules.buffer_before_minutes,
            buffer_after_minutes=rules.buffer_after_minutes, created_at=NOW, updated_at=NOW,
        )
        session.add(event_type)
        await session.flush()
        await session.execute(
            insert(EventTypeHost.__table__),
            [{"event_type_id": event_type.id, "host_id": host.id, "priority": "medium"} for host in hosts],
        )

        calls, bookings, generated = [], [], {}
        for host in hosts:
            zone = ZoneInfo(host.timezone)
            host_calls = pure.calendar(rng, calls_per_host, first_day, DAYS, zone, (15, 15, 15, 30))
            generated[host.id] = HostCalendar(host.id, zone, parse_working_hours(pure.WEEK, host.date_overrides), host_calls)
            for busy in host_calls:
                is_booking = bool(busy.buffer_before_minutes or busy.buffer_after_minutes)
                call_id = new_id()
                calls.append({
                    "id": call_id, "organization_id": organization_id, "host_id": host.id,
                    "kind": (CallKind.BOOKING if is_booking else CallKind.VIDEO_CALL).value, "title": "Busy",
                    "starts_at": busy.start, "ends_at": busy.end, "timezone": host.timezone,
                    "status": StoredStatus.SCHEDULED.value, "cancelled_at": None, "allow_overlap": False,
                    "series_id": None, "product_id": None, "config": None, "created_at": NOW, "updated_at": NOW,
                })
                if is_booking:
                    bookings.append({
                        "id": new_id(), "organization_id": organization_id, "event_type_id": event_type.id,
                        "call_id": call_id, "host_id": host.id, "contact_id": contact.id, "time_zone": "UTC",
                        "status": BookingStatus.CONFIRMED, "buffer_before_minutes": busy.buffer_before_minutes,
                        "buffer_after_minutes": busy.buffer_after_minutes, "token": secrets.token_urlsafe(32),
                        "public_id": secrets.token_urlsafe(12), "cancel_reason": None, "cancelled_at": None,
                        "rescheduled_from_id": None, "rescheduled_to_id": None, "created_at": NOW, "updated_at": NOW,
                    })
        first_number = await numbers.take(session, organization_id, "bookings", len(bookings))
        for offset, row in enumerate(bookings):
            row["number"] = first_number + offset
        for start in range(0, len(calls), 5_000):
            await session.execute(insert(Call.__table__), calls[start : start + 5_000])
        for start in range(0, len(bookings), 5_000):
            await session.execute(insert(Booking.__table__), bookings[start : start + 5_000])
        await session.commit()
    async with write_session(database) as session:  # what autovacuum / PRAGMA optimize would have done
        await session.execute(text("ANALYZE"))
        await session.commit()
    return created.api_key, organization_id, event_type.id, generated


# -- main ---------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    url, drop = await fresh_database(args.database_url)
    backend = "SQLite" if is_sqlite(url) else "PostgreSQL"
    settings = Settings(database_url=url, run_embedded_worker=False, api_key_cache_seconds=3600)
    database = open_database(settings)
    try:
        print(f"database: {backend} ({make_url(url).render_as_string(hide_password=True)})")
        print(f"machine: {os.cpu_count()} CPUs, {load('before')}")
        started = time.perf_counter()
        key, organization_id, event_type_id, generated = await seed(database, random.Random(args.seed), args.calls)
        inserted = sum(len(calendar.busy) for calendar in generated.values())
        first_day = NOW.astimezone(pure.VISITOR_ZONE).date()
        last_day = first_day + timedelta(days=DAYS - 1)
        zone = pure.VISITOR_ZONE
        print(
            f"seeded: 10 hosts x {args.calls:,} calls ({inserted:,}, 30% of them bookings with buffers) in "
            f"{time.perf_counter() - started:.1f} s; slots of {DAYS} days from {first_day} in {zone.key}"
        )

        async with read_session(database) as session:
            view = await service.get_event_type(session, organization_id, event_type_id)
            rules = service.rules_of(view.event_type)
            hosts = [host for host, _ in view.hosts]
            span = service._span(rules, NOW, first_day, last_day, zone)
            rows = await repository.busy(session, [h.id for h in hosts], span.start, span.end)
        calendars = service._calendars(hosts, rows)
        # What should be offered: the pure computation on the calendars as they were written.
        expected = find_slots(rules, [generated[host.id] for host in hosts], NOW, first_day, last_day, zone)
        offered = [slot for day in expected.days.values() for slot in day]
        print(
            f"{sum(map(len, rows.values())):,} busy intervals loaded for the span; {len(offered):,} slots offered on "
            f"{sum(bool(d) for d in expected.days.values())} days, "
            f"{sum(s.hosts_available for s in offered):,} (slot, host) pairs"
        )

        async def pure_part():
            find_slots(rules, calendars, NOW, first_day, last_day, zone)

        async def load_part():
            async with read_session(database) as session:
                found = await repository.busy(session, [h.id for h in hosts], span.start, span.end)
            service._calendars(hosts, found)

        async def through_service():
            async with read_session(database) as session:
                return await service.slots(session, view, first_day, last_day, zone, NOW)

        async with read_session(database) as session:
            answer = await service.slots(session, view, first_day, last_day, zone, NOW)
        same = answer.days == expected.days
        print(f"the service offers exactly what the pure computation offers on the calendars written: {'yes' if same else 'NO'}")
        if args.gc_freeze:
            gc.freeze()  # what a server would do once started: its startup heap never traversed again
            print(f"gc.freeze(): {gc.get_freeze_count():,} objects frozen")
        else:
            print(f"garbage collector as is: {len(gc.get_objects()):,} tracked objects in this process")

        figures = []
        for label, run in (
            ("find_slots alone (the pure part)", pure_part),
            ("the load alone (query + calendars)", load_part),
            ("service.slots (load + find_slots)", through_service),
        ):
            timings, cpu = await timed(run, args.repeat, args.warmup)
            figures.append((label, timings, cpu))

        app = create_app(settings, clock=lambda: NOW)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         headers={"Authorization": f"Bearer {key}"}) as client:
                path = (f"/api/v1/event-types/{event_type_id}/slots"
                        f"?start={first_day}&end={last_day}&time_zone={zone.key}")

                async def through_http():
                    response = await client.get(path)
                    response.raise_for_status()

                timings, cpu = await timed(through_http, args.repeat, args.warmup)
                figures.append(("GET .../slots in process (ASGI)", timings, cpu))

        print(f"\n{backend}, {args.repeat} runs each after {args.warmup} warm-up runs (target: under 50 ms end to end)")
        for label, timings, cpu in figures:
            print(f"  {label:38s} {summary(timings)}   CPU {cpu:6.2f} ms/run")
        print(f"\n{load('after')} (other work on the machine inflates wall times; CPU per run is this process alone)")

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.repeat):
                await through_service()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        await database.dispose()
        if not args.keep:
            await drop()
        else:
            print(f"kept: {url}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLite or PostgreSQL URL; PostgreSQL gets a scratch database on that server")
    parser.add_argument("--calls", type=int, default=1_000, help="calls per host")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per figure")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of service.slots runs")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() before timing: full collections then skip the objects made so far")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
