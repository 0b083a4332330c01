"""Benchmark: listing a page of 20 out of 100,000 calls, video calls and appointments.

docs/architecture.md, Performance targets: a page of 20 of 100,000 calls in under 10 ms of server
time, with and without each filter.

What it does, for one database (a temporary SQLite file in WAL mode by default; with
`--database-url postgresql+asyncpg://...` a scratch database on that server, dropped afterwards):
1. migrates a fresh database and bulk-inserts (Core executemany) `--calls` calls (100,000)
   spread over a year around today: `--org-share` of them (90%) in the organization under
   test, the rest in three other organizations. In each organization `--appointment-share`
   (half) are appointments with 1 to 4 participants each (a moderator from a staff of 50, the
   others from a few thousand people, some of them the organization's contacts), the others
   video calls of a dozen hosts with two products each, on busy calendars that never overlap
   (PostgreSQL's exclusion constraint holds); a few percent cancelled, past ones often
   completed, one video call in ten with a contact taking part; contacts subscribe to 1 to 3
   products;
2. brings the planner's statistics up to date the way a running server does (the periodic
   `callgrid.db.maintenance.update_statistics`; `--no-analyze` skips it), and on PostgreSQL
   runs `VACUUM` as autovacuum would after such a load (index-only scans need it);
3. times each listing case through the real app in process (FastAPI over httpx's ASGI
   transport: auth, query parsing, the repository's queries, rendering, JSON). The server time
   of a request is measured around the app's ASGI call, from the call until the response has
   been sent, so httpx's own work (building the request, parsing the answer) is not in it.
   Each case is timed on its first page and on a deep page (`--deep-page`, default 500, or the
   last page when there are fewer), a page being 20 calls: the video-calls list as the owner
   host (no filter, a 30-day startDate/endDate window, startDate a year back, mangoes, userId)
   and the appointments list (no filter, participant_unique_id for a busy and a rare
   participant, start_date, end_date, both dates, and a busy participant within 30 days);
4. prints, per case, the number of calls matching, the median and p95 of the server time of
   `--repeat` requests, the median CPU time this process spent in them (the server's, SQLite's
   included; PostgreSQL's is in its own processes), and the machine's load average (1 and 5
   minutes) beside them.

It prints figures and never asserts timings.

    .venv/bin/python bench/list_calls.py
    .venv/bin/python bench/list_calls.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from callgrid import onboarding
from callgrid.app import create_app
from callgrid.calls.models import Call, CallKind, Participant, Role, StoredStatus
from callgrid.config import Settings
from callgrid.db.base import new_id
from callgrid.db.engine import create_engine, create_sessionmaker, is_sqlite
from callgrid.db.migrate import upgrade
from callgrid.directory.models import Contact, Host, Product, Subscription
from callgrid.tenancy import numbers
from support import admin, asyncpg_url

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"
APPOINTMENTS = "/api/v1/appointments/"
PAGE = 20
HOSTS = 12
PRODUCTS_PER_HOST = 2
STAFF = 50
CONTACTS = 2_000
SLOT_MINUTES = 60  # one call per hour at most for a host: calls of 30 to 60 minutes never overlap
OWNER_WEIGHT = 2.0  # the owner (the key's host) has twice the calls of each other host


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


@dataclass
class Org:
    id: uuid.UUID
    key: str
    hosts: list[uuid.UUID]
    products: dict[uuid.UUID, list[uuid.UUID]]  # host -> its products
    contacts: list[tuple[uuid.UUID, str]]  # (id, email)
    subscriptions: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)  # contact -> products
    people: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    video_calls: int = 0
    appointments: int = 0
    owner_calls: int = 0


def stamp(now: datetime) -> dict:
    return {"id": new_id(), "created_at": now, "updated_at": now}


async def make_organization(sessionmaker, engine, rng: random.Random, name: str, now: datetime) -> Org:
    """An organization through the service (so it has a real API key), then hosts, products,
    contacts and subscriptions with Core inserts."""
    async with sessionmaker() as session:
        created = await onboarding.create_organization_with_owner(session, name, slug=f"{name}-{uuid.uuid4().hex[:6]}")
        await session.commit()
    org_id = created.organization.id
    hosts = [created.host.id]
    host_rows = []
    for n in range(HOSTS - 1):
        row = stamp(now) | {"organization_id": org_id, "name": f"{name} host {n}", "email": f"h{n}@{name}.example.com",
                            "timezone": "UTC", "working_hours": {}}
        host_rows.append(row)
        hosts.append(row["id"])
    products: dict[uuid.UUID, list[uuid.UUID]] = {}
    product_rows = []
    for host in hosts:
        for n in range(PRODUCTS_PER_HOST):
            row = stamp(now) | {"organization_id": org_id, "creator_id": host, "title": f"Mango {n}", "price": 10,
                                "description": "", "recurring_type": "ONETIME", "no_of_days": None}
            product_rows.append(row)
            products.setdefault(host, []).append(row["id"])
    all_products = [p for ps in products.values() for p in ps]
    contact_rows, contacts, subscription_rows, subscriptions = [], [], [], {}
    for n in range(CONTACTS):
        email = f"person{n}@{name}.example.com"
        row = stamp(now) | {"organization_id": org_id, "email": email, "phone": None, "first_name": "P", "last_name": str(n)}
        contact_rows.append(row)
        contacts.append((row["id"], email))
        chosen = rng.sample(all_products, k=rng.randint(1, 3))
        subscriptions[row["id"]] = chosen
        for product in chosen:
            subscription_rows.append(stamp(now) | {"organization_id": org_id, "product_id": product, "contact_id": row["id"]})
    async with engine.begin() as conn:
        # Per-organization numbers, taken from the counters as the services take them.
        for rows, kind in ((host_rows, "hosts"), (contact_rows, "contacts")):
            last = (await conn.execute(*numbers.take_step(conn.dialect.name, org_id, kind, len(rows)))).scalar_one()
            for number, row in enumerate(rows, start=last - len(rows) + 1):
                row["number"] = number
        await conn.execute(insert(Host.__table__), host_rows)
        await conn.execute(insert(Product.__table__), product_rows)
        await conn.execute(insert(Contact.__table__), contact_rows)
        await conn.execute(insert(Subscription.__table__), subscription_rows)
    org = Org(org_id, created.api_key, hosts, products, contacts, subscriptions)
    org.staff = [f"staff{n}@{name}.example.com" for n in range(STAFF)]
    # Outsiders and contacts: participants of appointments besides the staff.
    org.people = [f"guest{n}@elsewhere.example.com" for n in range(8 * CONTACTS)] + [email for _, email in contacts]
    return org


def host_calendar(rng: random.Random, count: int, first: datetime, days: int) -> list[tuple[datetime, int]]:
    """`count` (start, minutes) in distinct hourly slots over `days` days from `first`: a busy
    host's calendar, 30 to 60 minute calls that never overlap."""
    slots = days * 24
    count = min(count, slots)
    chosen = sorted(rng.sample(range(slots), k=count))
    return [(first + timedelta(hours=slot), rng.choice((30, 45, 60, 60))) for slot in chosen]


def status_for(rng: random.Random, start: datetime, end: datetime, now: datetime) -> StoredStatus:
    if rng.random() < 0.04:
        return StoredStatus.CANCELLED
    if end <= now and rng.random() < 0.5:
        return StoredStatus.COMPLETED
    return StoredStatus.SCHEDULED


def call_row(org: Org, kind: CallKind, start: datetime, minutes: int, status: StoredStatus, now: datetime,
             host_id=None, product_id=None) -> dict:
    return stamp(now) | {
        "organization_id": org.id,
        "host_id": host_id,
        "kind": kind.value,
        "title": "Coaching session" if kind == CallKind.VIDEO_CALL else "Consultation",
        "starts_at": start,
        "ends_at": start + timedelta(minutes=minutes),
        "timezone": "UTC",
        "status": status.value,
        "cancelled_at": now if status == StoredStatus.CANCELLED else None,
        "allow_overlap": False,
        "series_id": None,
        "product_id": product_id,
        "config": None,
    }


def participant_row(org: Org, call_id, unique_id: str, role: Role, now: datetime, contact_id=None) -> dict:
    return stamp(now) | {"organization_id": org.id, "call_id": call_id, "unique_id": unique_id,
                         "display_name": None, "role": role.value, "contact_id": contact_id}


def fill(rng: random.Random, org: Org, video_calls: int, appointments: int, first: datetime, days: int, now: datetime
         ) -> tuple[list[dict], list[dict]]:
    """The organization's calls and participants."""
    calls, participants = [], []
    contact_by_email = {email: cid for cid, email in org.contacts}
    # Video calls: the owner (hosts[0]) is the busiest, the others share the rest. A host
    # has at most one call an hour (SLOT_MINUTES), 8,760 a year.
    weights = [OWNER_WEIGHT] + [1.0] * (len(org.hosts) - 1)
    shares = [round(video_calls * w / sum(weights)) for w in weights]
    shares[-1] += video_calls - sum(shares)
    for host, share in zip(org.hosts, shares):
        for start, minutes in host_calendar(rng, share, first, days):
            status = status_for(rng, start, start + timedelta(minutes=minutes), now)
            row = call_row(org, CallKind.VIDEO_CALL, start, minutes, status, now,
                           host_id=host, product_id=rng.choice(org.products[host]))
            calls.append(row)
            if rng.random() < 0.1:  # a one-to-one session with one of the contacts
                cid, email = rng.choice(org.contacts)
                participants.append(participant_row(org, row["id"], email, Role.PARTICIPANT, now, cid))
    span = days * 24 * 60
    for _ in range(appointments):
        start = first + timedelta(minutes=rng.randrange(span // 5) * 5)
        minutes = rng.choice((15, 30, 30, 45, 60, 90, 120))
        status = status_for(rng, start, start + timedelta(minutes=minutes), now)
        row = call_row(org, CallKind.APPOINTMENT, start, minutes, status, now)
        row["config"] = {"chat_enabled": True}
        calls.append(row)
        people = [(rng.choice(org.staff), Role.MODERATOR)]
        for person in rng.sample(org.people, k=rng.randint(0, 3)):
            people.append((person, Role.PARTICIPANT))
        for unique_id, role in people:
            participants.append(participant_row(org, row["id"], unique_id, role, now, contact_by_email.get(unique_id)))
    org.video_calls += sum(1 for c in calls if c["kind"] == CallKind.VIDEO_CALL.value)
    org.appointments += appointments
    org.owner_calls += sum(1 for c in calls if c["host_id"] == org.hosts[0])
    return calls, participants


async def bulk_insert(engine, table, rows: list[dict], batch: int = 5_000) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), batch):
            await conn.execute(insert(table), rows[start : start + batch])


async def vacuum(engine) -> None:
    """What autovacuum does after a large insert on PostgreSQL (sets the visibility map)."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM calls, participants, subscriptions, call_day_counts"))


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Case:
    api: str
    name: str
    path: str
    params: dict
    headers: dict = field(default_factory=dict)


def total_of(api: str, answer: dict) -> int:
    return answer["total"] if api == "video calls" else answer["count"]


def rows_of(api: str, answer: dict) -> int:
    if api == "video calls":
        return sum(len(group["calls"]) for group in answer["data"])
    return len(answer["results"])


class ServerTimer:
    """The app, timed: how long each HTTP request spends inside it, from the ASGI call until
    the response has been sent (with the ASGI transport, into memory). That is the server's
    time; the client's (httpx builds the request and parses the answer) is not in it."""

    def __init__(self, app):
        self.app = app
        self.last_ms = 0.0
        self.last_cpu_ms = 0.0

    async def __call__(self, scope, receive, send) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last_ms = (time.perf_counter() - started) * 1000
            # The CPU this process spent meanwhile: the server's (the client waits), with
            # aiosqlite's thread, so all of SQLite's work; not PostgreSQL's, in its own process.
            self.last_cpu_ms = (time.process_time() - cpu_started) * 1000


async def time_case(client: httpx.AsyncClient, timer: ServerTimer, case: Case, warmup: int, repeat: int) -> tuple[list[float], list[float], dict]:
    answer = None
    for _ in range(warmup):
        response = await client.get(case.path, params=case.params)
        response.raise_for_status()
        answer = response.json()
    timings, cpu = [], []
    for _ in range(repeat):
        response = await client.get(case.path, params=case.params)
        timings.append(timer.last_ms)
        cpu.append(timer.last_cpu_ms)
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: {response.status_code} {response.text[:200]}")
    return timings, cpu, answer


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:4.2f}/{five:4.2f}"


def cases(org: Org, rng: random.Random, now: datetime, participants_per_id: dict[str, int]) -> list[Case]:
    owner = org.hosts[0]
    # A contact who subscribes to products and takes part in some video calls.
    subscriber = max(org.subscriptions, key=lambda c: len(org.subscriptions[c]))
    busy = max(org.staff, key=lambda p: participants_per_id.get(p, 0))
    rare = next(p for p in org.people if participants_per_id.get(p, 0) >= 3)
    month_from = (now + timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_until = month_from + timedelta(days=30)
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    v, a = "video calls", "appointments"
    return [
        Case(v, "no filter (now..)", VIDEO_CALLS, {}),
        Case(v, "startDate/endDate, 30 days", VIDEO_CALLS, {"startDate": iso(month_from), "endDate": iso(month_until)}),
        Case(v, "startDate a year back", VIDEO_CALLS, {"startDate": iso(now - timedelta(days=365))}),
        Case(v, "mangoes (1 of the host's 2)", VIDEO_CALLS, {"mangoes": str(org.products[owner][0])}),
        Case(v, "userId (subscriber)", VIDEO_CALLS, {"userId": str(subscriber)}),
        Case(a, "no filter", APPOINTMENTS, {}),
        Case(a, f"participant_unique_id busy ({participants_per_id[busy]})", APPOINTMENTS, {"participant_unique_id": busy}),
        Case(a, f"participant_unique_id rare ({participants_per_id[rare]})", APPOINTMENTS, {"participant_unique_id": rare}),
        Case(a, "start_date (now..)", APPOINTMENTS, {"start_date": iso(now)}),
        Case(a, "end_date (..now)", APPOINTMENTS, {"end_date": iso(now)}),
        Case(a, "start_date+end_date, 30 days", APPOINTMENTS, {"start_date": iso(month_from), "end_date": iso(month_until)}),
        Case(a, "busy participant + 30 days", APPOINTMENTS,
             {"participant_unique_id": busy, "start_date": iso(month_from), "end_date": iso(month_until)}),
    ]


def with_page(case: Case, page: int) -> Case:
    if case.api == "video calls":
        params = case.params | {"page": page, "limit": PAGE}
    else:
        params = case.params | {"page": page, "page_size": PAGE}
    return Case(case.api, case.name, case.path, params, case.headers)


# -- main -------------------------------------------------------------------------------------


async def main(args) -> None:
    rng = random.Random(args.seed)
    url, drop = await fresh_database(args.database_url)
    backend = "PostgreSQL" if not is_sqlite(url) else "SQLite"
    settings = Settings(database_url=url, run_embedded_worker=False, api_key_cache_seconds=3600,
                        analyze_interval_seconds=0)
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    first = (now - timedelta(days=182)).replace(minute=0, second=0)
    days = 365
    try:
        print(f"database: {backend} ({make_url(url).render_as_string(hide_password=True)})")
        started = time.perf_counter()
        orgs = [await make_organization(sessionmaker, engine, rng, name, now) for name in ("acme", "globex", "initech", "umbrella")]
        under_test = round(args.calls * args.org_share)
        rest = args.calls - under_test
        plan = [(orgs[0], under_test)] + [(o, rest // 3 + (1 if n < rest % 3 else 0)) for n, o in enumerate(orgs[1:])]
        per_id: dict[str, int] = {}
        total_participants = 0
        for org, count in plan:
            appointments = round(count * args.appointment_share)
            calls, participants = fill(rng, org, count - appointments, appointments, first, days, now)
            await bulk_insert(engine, Call.__table__, calls)
            await bulk_insert(engine, Participant.__table__, participants)
            total_participants += len(participants)
            if org is orgs[0]:
                for p in participants:
                    per_id[p["unique_id"]] = per_id.get(p["unique_id"], 0) + 1
        print(
            f"loaded {sum(o.video_calls + o.appointments for o in orgs):,} calls ({sum(o.video_calls for o in orgs):,} video calls, "
            f"{sum(o.appointments for o in orgs):,} appointments) and {total_participants:,} participants "
            f"in {len(orgs)} organizations over {days} days, in {time.perf_counter() - started:.1f} s"
        )
        org = orgs[0]
        print(
            f"organization under test: {org.video_calls:,} video calls ({HOSTS} hosts, the owner's {org.owner_calls:,}), "
            f"{org.appointments:,} appointments"
        )
        if args.analyze:
            started = time.perf_counter()
            from callgrid.db.maintenance import update_statistics

            await vacuum(engine)
            await update_statistics(sessionmaker)
            print(f"statistics: {'VACUUM, ' if backend == 'PostgreSQL' else ''}update_statistics in {time.perf_counter() - started:.1f} s")
        else:
            print("statistics: none (--no-analyze)")

        app = create_app(settings)
        print(f"page of {PAGE}; {args.repeat} requests per case after {args.warmup} warm-up ones; server time: from the "
              f"ASGI call to the response sent, in process; load: 1/5-minute load average, {os.cpu_count()} CPUs")
        print(f"{'API':<13} {'case':<36} {'matching':>8} {'page':>6} {'median':>8} {'p95':>8} {'CPU':>8}  load")
        worst = 0.0
        async with app.router.lifespan_context(app):
            timer = ServerTimer(app)
            transport = httpx.ASGITransport(app=timer)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         headers={"Authorization": f"Bearer {org.key}"}) as client:
                for case in cases(org, rng, now, per_id):
                    if args.only and args.only not in f"{case.api} {case.name}":
                        continue
                    timings, cpu, answer = await time_case(client, timer, with_page(case, 1), args.warmup, args.repeat)
                    matching = total_of(case.api, answer)
                    last = max(1, -(-matching // PAGE))
                    pages = [1] + ([min(args.deep_page, last)] if last > 1 else [])
                    for page in pages:
                        if page != 1:
                            timings, cpu, answer = await time_case(client, timer, with_page(case, page), args.warmup, args.repeat)
                            assert rows_of(case.api, answer) > 0, f"{case.name}: page {page} is empty"
                        median, p95 = summary(timings)
                        worst = max(worst, median)
                        label = "first" if page == 1 else f"{page}"
                        print(f"{case.api:<13} {case.name:<36} {matching:>8,} {label:>6} {median:6.2f}ms {p95:6.2f}ms "
                              f"{statistics.median(cpu):6.2f}ms  {load()}")
        print(f"slowest median: {worst:.2f} ms (target: under 10 ms). CPU: median CPU time of this process during the "
              f"request{'' if backend == 'SQLite' else ' (PostgreSQL works in its own processes: not in it)'}; with the "
              f"machine busy (load above its {os.cpu_count()} CPUs), wall times grow by the waiting, CPU times far less.")
    finally:
        await engine.dispose()
        if not args.keep:
            await drop()
        else:
            print(f"kept: {url}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="SQLite or PostgreSQL URL; PostgreSQL gets a scratch database on that server")
    parser.add_argument("--calls", type=int, default=100_000, help="calls in the table, all organizations")
    parser.add_argument("--org-share", type=float, default=0.9, help="share of the calls in the organization under test")
    parser.add_argument("--appointment-share", type=float, default=0.5, help="share of each organization's calls that are appointments")
    parser.add_argument("--deep-page", type=int, default=500, help="the deep page (of 20), or the last page when there are fewer")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--only", help="only the cases whose 'API case' text contains this")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false", help="leave the planner without statistics")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
