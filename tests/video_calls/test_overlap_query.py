"""The overlap query behind check-availability and the double-booking check, against a
brute-force filter, on random calendars with second and microsecond edges (both databases).

The query sends the proposed intervals as one parameter (SQLite: JSON text compared with the
stored text; PostgreSQL: arrays, LATERAL), so these cases aim at its edges: touching ends,
timestamps a microsecond apart, long calls reaching back almost a day, cancelled, ended,
allowed-to-overlap and other hosts' calls, exclusions, and repeated executions (PostgreSQL
switches a prepared statement to a generic plan after five).
"""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from callgrid.calls import conflicts as repository
from callgrid.calls.models import Call, Series, StoredStatus
from callgrid.db.base import new_id
from callgrid.db.session import write_session
from callgrid.scheduling import Interval

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def brute_force(calls, host_id, proposed, now, exclude_call_id=None, exclude_series_id=None):
    found = [
        c
        for c in calls
        if c["host_id"] == host_id
        and c["status"] != StoredStatus.CANCELLED
        and c["ends_at"] > now
        and c["id"] != exclude_call_id
        and (exclude_series_id is None or c["series_id"] != exclude_series_id)
        and any(c["starts_at"] < p.end and p.start < c["ends_at"] for p in proposed)
    ]
    return sorted(((c["starts_at"], c["id"]) for c in found))


def random_instant(rng: random.Random, base: datetime, span_days: int) -> datetime:
    moment = base + timedelta(seconds=rng.randrange(span_days * 86400))
    # Whole hours and half hours mostly, as people plan them; sometimes odd seconds and microseconds.
    kind = rng.random()
    if kind < 0.6:
        return moment.replace(minute=rng.choice((0, 30)), second=0, microsecond=0)
    if kind < 0.8:
        return moment.replace(microsecond=0)
    return moment.replace(microsecond=rng.randrange(1_000_000))


@pytest.fixture
async def world(app, tenant):
    """An organization with two hosts, a series, and a random calendar for each host."""
    host_id = uuid.UUID(tenant.host_id)
    organization_id = uuid.UUID(tenant.organization_id)
    r = await tenant.client.post("/api/v1/hosts", json={"name": "Other", "email": "other@example.com"})
    other_host = uuid.UUID(r.json()["id"])
    series_id = new_id()
    async with write_session(app.state.sessionmaker) as session:
        session.add(
            Series(id=series_id, organization_id=organization_id, host_id=host_id, frequency="daily",
                   local_start="10:00", duration_minutes=60, timezone="UTC",
                   start_date=NOW.date(), end_date=NOW.date())
        )
        await session.commit()
    rng = random.Random(20300101)
    calls = []
    for host in (host_id, other_host):
        for _ in range(300):
            start = random_instant(rng, NOW - timedelta(days=2), 20)
            length = rng.choice([timedelta(minutes=m) for m in (30, 45, 60, 90, 300)] + [timedelta(hours=23, minutes=59, seconds=59)])
            calls.append(
                {
                    "id": new_id(),
                    "organization_id": organization_id,
                    "host_id": host,
                    "kind": "video_call",
                    "title": "t",
                    "starts_at": start,
                    "ends_at": start + length,
                    "timezone": "UTC",
                    "status": rng.choice([StoredStatus.SCHEDULED] * 6 + [StoredStatus.CANCELLED, StoredStatus.COMPLETED]).value,
                    "cancelled_at": None,
                    # Overlapping rows are only storable past PostgreSQL's constraint when allowed.
                    "allow_overlap": True,
                    "series_id": series_id if rng.random() < 0.1 else None,
                    "product_id": None,
                    "config": None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    async with write_session(app.state.sessionmaker) as session:
        await session.execute(insert(Call.__table__), calls)
        await session.commit()
    return {"calls": calls, "host_id": host_id, "series_id": series_id, "rng": rng}


def proposals(rng: random.Random, calls, host_id) -> list[Interval]:
    """Random intervals, plus ones touching or a microsecond inside the host's calls' ends."""
    out = []
    for _ in range(rng.randrange(1, 40)):
        start = random_instant(rng, NOW - timedelta(days=1), 20)
        out.append(Interval(start, start + timedelta(minutes=rng.choice((30, 60, 300)))))
    mine = [c for c in calls if c["host_id"] == host_id]
    for c in rng.sample(mine, 10):
        tiny = timedelta(microseconds=1)
        out += [
            Interval(c["ends_at"], c["ends_at"] + timedelta(minutes=30)),  # touches the end
            Interval(c["starts_at"] - timedelta(minutes=30), c["starts_at"]),  # touches the start
            Interval(c["ends_at"] - tiny, c["ends_at"] + timedelta(minutes=30)),  # one microsecond in
            Interval(c["starts_at"] - timedelta(minutes=30), c["starts_at"] + tiny),
        ]
    return out


async def test_overlap_query_matches_brute_force(app, world):
    rng, calls, host_id = world["rng"], world["calls"], world["host_id"]
    some_call = next(c["id"] for c in calls if c["host_id"] == host_id and c["status"] == "scheduled")
    for round_ in range(12):  # more than five executions of each statement
        proposed = proposals(rng, calls, host_id)
        exclude = {}
        if round_ % 3 == 1:
            exclude["exclude_call_id"] = some_call
        if round_ % 4 == 2:
            exclude["exclude_series_id"] = world["series_id"]
        now = NOW + timedelta(hours=rng.randrange(0, 48), microseconds=rng.randrange(1_000_000))
        async with app.state.sessionmaker() as session:
            found = await repository.overlapping_calls(session, host_id, proposed, now=now, **exclude)
        assert [(c.starts_at, c.id) for c in found] == brute_force(calls, host_id, proposed, now, **exclude), round_


async def test_a_year_of_occurrences_in_one_query(app, world):
    calls, host_id = world["calls"], world["host_id"]
    start = NOW.replace(hour=9, minute=0) + timedelta(days=1)
    proposed = [Interval(start + timedelta(days=n), start + timedelta(days=n, hours=5)) for n in range(366)]
    async with app.state.sessionmaker() as session:
        found = await repository.overlapping_calls(session, host_id, proposed, now=NOW)
    assert [(c.starts_at, c.id) for c in found] == brute_force(calls, host_id, proposed, NOW)
    assert found  # the calendar is busy enough that a year of mornings hits it
