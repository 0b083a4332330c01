"""The lists' pages and totals (counted by day from call_day_counts, kept by triggers) against
a brute-force oracle over random calendars, after inserts, updates, cancellations, moves and
deletes, on every backend."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, insert, select, update

from callgrid.calls import repository
from callgrid.calls.listing import whole_days
from callgrid.calls.models import NIL_ID, Call, CallDayCount, CallKind, Participant
from callgrid.db.base import new_id
from callgrid.db.session import write_session
from callgrid.directory.models import Contact, Host, Product, Subscription
from callgrid.tenancy.models import Organization

T0 = datetime(2031, 3, 1, tzinfo=UTC)  # a Saturday; the calendar runs over the next 12 days
DAYS = 12


@dataclass
class World:
    organizations: list[UUID] = field(default_factory=list)
    hosts: dict[UUID, UUID] = field(default_factory=dict)  # host -> organization
    products: dict[UUID, UUID] = field(default_factory=dict)  # product -> organization
    contacts: dict[UUID, UUID] = field(default_factory=dict)  # contact -> organization
    subscriptions: set[tuple[UUID, UUID]] = field(default_factory=set)  # (contact, product)


def random_start(rng: random.Random) -> datetime:
    day = T0 + timedelta(days=rng.randrange(DAYS))
    # Crowd the edges of days: midnight exactly, just before and just after it.
    choice = rng.random()
    if choice < 0.15:
        return day
    if choice < 0.3:
        return day - timedelta(microseconds=rng.choice((1, 1000, 60_000_000)))
    if choice < 0.4:
        return day + timedelta(microseconds=rng.choice((1, 1000, 60_000_000)))
    return day + timedelta(minutes=rng.randrange(24 * 60))


def random_minutes(rng: random.Random) -> int:
    return rng.choice((15, 30, 60, 90, 300, 720, 1439, 1440))


async def build(sessionmaker, rng: random.Random) -> World:
    world = World()
    now = datetime.now(UTC)
    for name in ("Acme", "Globex"):
        async with write_session(sessionmaker) as session:
            organization = Organization(name=name, slug=name.lower())
            session.add(organization)
            await session.flush()
            org = organization.id
            world.organizations.append(org)
            for n in range(3):
                host = Host(organization_id=org, name=f"h{n}", email=f"h{n}@{name}.example.com", timezone="UTC", working_hours={})
                session.add(host)
                await session.flush()
                world.hosts[host.id] = org
            for n, host in enumerate(h for h, o in world.hosts.items() if o == org):
                product = Product(organization_id=org, creator_id=host, title=f"p{n}")
                session.add(product)
                await session.flush()
                world.products[product.id] = org
            for n in range(4):
                contact = Contact(organization_id=org, email=f"c{n}@{name}.example.com")
                session.add(contact)
                await session.flush()
                world.contacts[contact.id] = org
            for contact, corg in world.contacts.items():
                for product in [p for p, porg in world.products.items() if porg == corg]:
                    if corg == org and rng.random() < 0.35:
                        session.add(Subscription(organization_id=org, product_id=product, contact_id=contact))
                        world.subscriptions.add((contact, product))
            await session.commit()

    calls, participants = [], []
    for _ in range(260):
        org = rng.choice(world.organizations)
        kind = rng.choice((CallKind.VIDEO_CALL, CallKind.VIDEO_CALL, CallKind.APPOINTMENT, CallKind.BOOKING))
        start = random_start(rng)
        host = product = None
        if kind != CallKind.APPOINTMENT:
            host = rng.choice([h for h, o in world.hosts.items() if o == org])
            product = rng.choice([p for p, o in world.products.items() if o == org] + [None])
        status = rng.choice(("scheduled", "scheduled", "completed", "cancelled"))
        row = {
            "id": new_id(), "organization_id": org, "host_id": host, "kind": kind.value, "title": "t",
            "starts_at": start, "ends_at": start + timedelta(minutes=random_minutes(rng)), "timezone": "UTC",
            "status": status, "cancelled_at": None, "allow_overlap": True, "series_id": None, "product_id": product,
            "config": None, "created_at": now, "updated_at": now,
        }
        calls.append(row)
        people = rng.sample(["ann", "bob", "cy", "dee"], k=rng.randint(0, 3))
        org_contacts = [c for c, o in world.contacts.items() if o == org]
        for person in people:
            contact = rng.choice(org_contacts) if rng.random() < 0.5 else None
            participants.append({
                "id": new_id(), "organization_id": org, "call_id": row["id"], "unique_id": person,
                "display_name": None, "role": "participant", "contact_id": contact, "created_at": now, "updated_at": now,
            })
    for org in world.organizations:  # at the ends of the calendar
        host = next(h for h, o in world.hosts.items() if o == org)
        for start in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)):
            for kind, call_host in ((CallKind.VIDEO_CALL, host), (CallKind.APPOINTMENT, None)):
                calls.append(calls[0] | {"id": new_id(), "organization_id": org, "host_id": call_host, "kind": kind.value,
                                         "product_id": None, "starts_at": start, "ends_at": start + timedelta(minutes=30),
                                         "status": "scheduled"})
    async with write_session(sessionmaker) as session:
        # Half one by one (one statement each), half in one executemany.
        for row in calls[:130]:
            await session.execute(insert(Call), [row])
        await session.execute(insert(Call), calls[130:])
        await session.execute(insert(Participant), participants)
        await session.commit()
    return world


async def mutate(sessionmaker, rng: random.Random, world: World) -> None:
    """Every kind of change the triggers must follow."""
    async with write_session(sessionmaker) as session:
        ids = list((await session.execute(select(Call.id).order_by(Call.id))).scalars())
        rng.shuffle(ids)
        cancel, restore, move, reproduct, rehost, drop = ids[:25], ids[25:35], ids[35:60], ids[60:70], ids[70:75], ids[75:90]
        await session.execute(update(Call).where(Call.id.in_(cancel)).values(status="cancelled"))
        await session.execute(update(Call).where(Call.id.in_(restore)).values(status="scheduled"))
        for call_id in move:
            start = random_start(rng)
            await session.execute(
                update(Call).where(Call.id == call_id).values(starts_at=start, ends_at=start + timedelta(minutes=random_minutes(rng)))
            )
        for call_id in reproduct:
            org = (await session.execute(select(Call.organization_id).where(Call.id == call_id))).scalar_one()
            kind = (await session.execute(select(Call.kind).where(Call.id == call_id))).scalar_one()
            if kind != CallKind.APPOINTMENT:
                product = rng.choice([p for p, o in world.products.items() if o == org] + [None])
                await session.execute(update(Call).where(Call.id == call_id).values(product_id=product))
        for call_id in rehost:
            org, kind = (await session.execute(select(Call.organization_id, Call.kind).where(Call.id == call_id))).one()
            if kind != CallKind.APPOINTMENT:
                host = rng.choice([h for h, o in world.hosts.items() if o == org])
                await session.execute(update(Call).where(Call.id == call_id).values(host_id=host))
        # An update that touches nothing counted, and one that rewrites a column to its value.
        await session.execute(update(Call).where(Call.id.in_(ids[:40])).values(title="renamed"))
        await session.execute(update(Call).where(Call.id.in_(ids[40:60])).values(starts_at=Call.starts_at, status=Call.status))
        await session.execute(delete(Call).where(Call.id.in_(drop)))
        # A product deleted: its calls' product_id is set to NULL by the foreign key.
        gone = sorted(world.products)[0]
        await session.execute(delete(Subscription).where(Subscription.product_id == gone))
        await session.execute(delete(Product).where(Product.id == gone))
        del world.products[gone]
        world.subscriptions = {(c, p) for c, p in world.subscriptions if p != gone}
        await session.commit()


@dataclass
class Snapshot:
    calls: list
    participants: list


async def snapshot(sessionmaker) -> Snapshot:
    async with sessionmaker() as session:
        calls = (await session.execute(select(Call).order_by(Call.starts_at, Call.id))).scalars().all()
        participants = (await session.execute(select(Participant))).scalars().all()
        return Snapshot(list(calls), list(participants))


def expected_videos(data: Snapshot, world: World, f: repository.CallFilter) -> list:
    subscribed = {p for c, p in world.subscriptions if c == f.contact_id}
    taking_part = {p.call_id for p in data.participants if p.contact_id == f.contact_id and f.contact_id is not None}
    out = []
    for call in data.calls:
        if call.organization_id != f.organization_id or call.kind != f.kind:
            continue
        if not f.include_cancelled and call.status == "cancelled":
            continue
        if call.host_id is None:  # the list joins the host
            continue
        if f.host_id is not None and call.host_id != f.host_id:
            continue
        if f.product_ids is not None and call.product_id not in f.product_ids:
            continue
        if f.overlapping_from is not None and not call.ends_at > f.overlapping_from:
            continue
        if f.overlapping_until is not None and not call.starts_at < f.overlapping_until:
            continue
        if f.contact_id is not None and call.product_id not in subscribed and call.id not in taking_part:
            continue
        out.append(call.id)
    return out


def expected_appointments(data: Snapshot, f: repository.ParticipantCallFilter) -> list:
    out = []
    for call in data.calls:
        if call.organization_id != f.organization_id or call.kind != f.kind:
            continue
        if f.starts_from is not None and call.starts_at < f.starts_from:
            continue
        if f.starts_before is not None and not call.starts_at < f.starts_before:
            continue
        if f.participant_unique_id is not None and not any(
            p.call_id == call.id and p.unique_id == f.participant_unique_id and p.organization_id == f.organization_id
            for p in data.participants
        ):
            continue
        out.append(call.id)
    return out


def random_moment(rng: random.Random) -> datetime:
    choice = rng.random()
    if choice < 0.05:
        return rng.choice((datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)))
    if choice < 0.1:
        return rng.choice((datetime(1, 1, 1, 12, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)))
    if choice < 0.4:  # a midnight, or near one
        return T0 + timedelta(days=rng.randrange(-2, DAYS + 2), microseconds=rng.choice((0, 0, 1, -1)))
    return T0 + timedelta(minutes=rng.randrange(-2 * 24 * 60, (DAYS + 2) * 24 * 60))


def random_window(rng: random.Random) -> tuple[datetime | None, datetime | None]:
    start = random_moment(rng) if rng.random() < 0.8 else None
    end = random_moment(rng) if rng.random() < 0.6 else None
    if start is not None and end is not None:
        start, end = min(start, end), max(start, end)
        if start == end:
            end = None
        elif rng.random() < 0.25:  # within one day
            end = start + timedelta(hours=rng.randrange(1, 20))
    return start, end


def pages(rng: random.Random, total: int) -> list[tuple[int, int]]:
    limits = (1, 3, 20, 100)
    out = [(0, rng.choice(limits)), (total, 5), (total + 7, 20), (max(0, total - 1), 20)]
    for _ in range(4):
        out.append((rng.randrange(max(1, total)), rng.choice(limits)))
    return out


async def check_lists(sessionmaker, rng: random.Random, world: World, rounds: int) -> int:
    data = await snapshot(sessionmaker)
    hosts = {h: o for h, o in world.hosts.items()}
    checked = 0
    for _ in range(rounds):
        org = rng.choice(world.organizations)
        start, end = random_window(rng)
        shape = rng.random()
        host_id = product_ids = contact_id = None
        if shape < 0.4:
            host_id = rng.choice([h for h, o in hosts.items() if o == org])
        elif shape < 0.7:
            contact_id = rng.choice([c for c, o in world.contacts.items() if o == org])
        if rng.random() < 0.3:
            choices = [p for p, o in world.products.items()]
            product_ids = rng.sample(choices, k=rng.randint(1, 3))
        kind = rng.choice((CallKind.VIDEO_CALL, CallKind.VIDEO_CALL, CallKind.BOOKING))
        video = repository.CallFilter(
            organization_id=org, kind=kind, host_id=host_id, product_ids=product_ids, contact_id=contact_id,
            overlapping_from=start, overlapping_until=end, include_cancelled=rng.random() < 0.2,
        )
        expected = expected_videos(data, world, video)
        async with sessionmaker() as session:
            for offset, limit in pages(rng, len(expected)):
                rows, total = await repository.list_calls(session, video, offset, limit)
                assert total == len(expected), video
                assert [call.id for call, _, _ in rows] == expected[offset : offset + limit], (video, offset, limit)
                for call, host, product in rows:
                    assert host.id == call.host_id
                    assert (product.id if product else None) == call.product_id
                checked += 1

        start, end = random_window(rng)
        unique_id = rng.choice((None, None, "ann", "bob", "nobody"))
        appointments = repository.ParticipantCallFilter(
            organization_id=org, kind=CallKind.APPOINTMENT, participant_unique_id=unique_id,
            starts_from=start, starts_before=end,
        )
        expected = expected_appointments(data, appointments)
        counts = {}
        for p in data.participants:
            counts[p.call_id] = counts.get(p.call_id, 0) + 1
        async with sessionmaker() as session:
            for offset, limit in pages(rng, len(expected)):
                rows, total = await repository.list_calls_with_participant_count(session, appointments, offset, limit)
                assert total == len(expected), appointments
                assert [call.id for call, _ in rows] == expected[offset : offset + limit], (appointments, offset, limit)
                assert [n for _, n in rows] == [counts.get(call.id, 0) for call, _ in rows]
                checked += 1
    return checked


async def check_day_counts(sessionmaker) -> None:
    """call_day_counts holds exactly what the calls add up to (rows at zero aside)."""
    data = await snapshot(sessionmaker)
    expected: dict[tuple, list[int]] = {}
    for call in data.calls:
        key = (call.organization_id, call.kind, call.host_id or NIL_ID, call.product_id or NIL_ID, call.starts_at.astimezone(UTC).date())
        counted = expected.setdefault(key, [0, 0])
        counted[call.status == "cancelled"] += 1
    async with sessionmaker() as session:
        rows = (await session.execute(select(CallDayCount))).scalars().all()
    held = {
        (r.organization_id, r.kind, r.host_id, r.product_id, r.day): [r.live, r.cancelled]
        for r in rows
        if r.live or r.cancelled
    }
    assert held == expected


async def test_lists_match_the_oracle_through_every_kind_of_change(sessionmaker):
    rng = random.Random(20261123)
    world = await build(sessionmaker, rng)
    await check_day_counts(sessionmaker)
    assert await check_lists(sessionmaker, rng, world, rounds=25) > 100
    await mutate(sessionmaker, rng, world)
    await check_day_counts(sessionmaker)
    assert await check_lists(sessionmaker, rng, world, rounds=35) > 100


async def test_deleting_an_organization_takes_its_counts_to_zero(sessionmaker):
    rng = random.Random(7)
    world = await build(sessionmaker, rng)
    async with write_session(sessionmaker) as session:
        await session.execute(delete(Organization).where(Organization.id == world.organizations[0]))
        await session.commit()
    await check_day_counts(sessionmaker)
    async with sessionmaker() as session:
        left = (
            await session.execute(
                select(func.coalesce(func.sum(CallDayCount.live + CallDayCount.cancelled), 0)).where(
                    CallDayCount.organization_id == world.organizations[0]
                )
            )
        ).scalar_one()
    assert left == 0


def test_whole_days():
    noon = datetime(2031, 3, 2, 12, tzinfo=UTC)
    midnight = datetime(2031, 3, 2, tzinfo=UTC)
    assert whole_days(None, None) == (None, None)
    assert whole_days(noon, None) == (midnight + timedelta(days=1), None)
    assert whole_days(midnight, None) == (midnight, None)
    assert whole_days(None, noon) == (None, midnight)
    # Within one day: no whole day, so hi is lo and everything is counted call by call.
    assert whole_days(noon, noon + timedelta(hours=3)) == (midnight + timedelta(days=1), midnight + timedelta(days=1))
    assert whole_days(midnight, midnight + timedelta(days=3)) == (midnight, midnight + timedelta(days=3))
    # At the ends of the calendar there is no day before or after to stand for the edges.
    assert whole_days(datetime(1, 1, 1, tzinfo=UTC), None) is None
    assert whole_days(datetime(9999, 12, 31, 1, tzinfo=UTC), None) is None
    assert whole_days(datetime(2031, 3, 2, 12, tzinfo=UTC).astimezone(UTC), None)[0].date() == date(2031, 3, 3)
