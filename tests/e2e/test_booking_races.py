"""Issue 10, booking under real races: `callgrid serve --workers 2` on a fresh database per
backend (SQLite, and PostgreSQL when `CALLGRID_TEST_POSTGRES_URL` is set), driven over HTTP by
an httpx AsyncClient firing its requests at once, so that the races cross processes (and, on
PostgreSQL, connections).

One server per backend serves every test of this file (each test has an organization of its
own). What each test shows:

- the last free host of a slot: N bookings of it give one 201 and N-1 409s, one booking, one
  call, and the losers leave nothing behind (not even their contact); N is more than one
  process has database connections (PostgreSQL's pool deadlocked when a booking held its read
  connection while waiting for a write one);
- free hosts are shared out: two bookings of one slot with two free hosts both succeed with
  different hosts; six with three hosts give three 201s (three hosts) and three 409s;
- buffers hold under concurrency: two event types (one with buffers, one without) on one host,
  bookings of adjacent starts all at once: the calls left never violate a buffer, every 409
  is explained by a call that stands, and the slots offered afterwards agree;
- numbers stay gapless: a burst mixing 201s and 409s, new and known contacts (an email given
  in other cases, a phone-only invitee) leaves bookings and contacts numbered 1..n, every
  contact made once;
- reschedules and cancels of one booking racing each other: one wins, the final state is
  consistent (never two live bookings, links both ways); a reschedule and new bookings racing
  for one slot's last free host: one wins; reschedules moving two bookings onto each other's
  host on one day, at once (PostgreSQL deadlocked when nothing ordered their locks);
- a new invitee booking two hosts at once (nothing but the invitee in common) is one contact;
- bookings and the video-calls API respect one another: bookings and video calls racing for
  one host's time give exactly one call.

After every test: no two live calls of one host overlap, buffers hold between every pair of
calls, and no answer was a 5xx (the server's log is shown when one was).
"""

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import select

from callgrid import onboarding
from callgrid.bookings.models import Booking
from callgrid.calls.models import Call
from callgrid.config import Settings
from callgrid.db.session import Database, open_database, write_session
from callgrid.directory.models import Contact
from tests.e2e.conftest import start_server
from tests.support.databases import BACKENDS, empty_database_sync
from tests.support.problems import assert_problem
from tests.support.servers import Served

pytestmark = pytest.mark.slow

EVENT_CALLS = "/v1/eventCalls"
VIDEO_CALLS = "/api/v1/external/workshops/video-calls"
ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


# Each backend's tests in one test process (they share its server), the two backends in parallel.
@pytest.fixture(scope="module", params=[pytest.param(b, marks=pytest.mark.xdist_group(f"booking-races-{b}")) for b in BACKENDS])
def served(request, tmp_path_factory):
    """One `callgrid serve --workers 2` per backend, on a database nobody has touched."""
    with empty_database_sync(request.param, tmp_path_factory.mktemp("booking-races"), "callgrid_booking_races") as url:
        server = start_server(url, workers=2)
        try:
            yield server
        finally:
            server.stop()


# --- an organization of a test's own ------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def day_at(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    """A moment `days_ahead` days from today (UTC), at hour:minute UTC."""
    day = datetime.now(UTC).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), UTC)


@dataclass
class Answer:
    label: str
    status: int
    body: dict | str

    @property
    def data(self) -> dict:
        return self.body["data"]["eventCall"]["data"]


class Org:
    """An organization of one test: its key, an HTTP client firing at once, the database."""

    def __init__(self, server: Served, database: Database, key: str, owner: dict):
        self.server = server
        self.database = database
        self.key = key
        self.owner = owner  # {"id", "number"}
        self.answers: list[Answer] = []
        self.client = httpx.AsyncClient(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {key}"},
            # A connection per request: after a 500 the server closes the connection, and a
            # request already sent on it would fail with no answer.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
            timeout=60,
            trust_env=False,
        )

    async def send(self, label: str, method: str, path: str, body: dict | None = None, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {key}"} if key else None
        try:
            response = await self.client.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            answer = Answer(label, 0, repr(exc))
        else:
            try:
                parsed = response.json()
            except ValueError:
                parsed = response.text
            answer = Answer(label, response.status_code, parsed)
            answer.response = response
        self.answers.append(answer)
        return answer

    async def ok(self, method: str, path: str, body: dict | None = None, *, status: int = 201, key: str | None = None) -> dict:
        answer = await self.send(f"{method} {path}", method, path, body, key)
        assert answer.status == status, (answer.status, answer.body)
        return answer.body

    async def host(self, name: str) -> dict:
        return await self.ok("POST", "/api/v1/hosts", {
            "name": name, "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com", "timezone": "UTC",
            "working_hours": ALL_WEEK,
        })

    async def event_type(self, hosts: list[dict], **fields) -> dict:
        return await self.ok("POST", "/api/v1/event-types", {
            "title": "Intro", "slug": f"intro-{uuid.uuid4().hex[:8]}", "duration_minutes": 30,
            "hosts": [{"host_id": h["id"]} for h in hosts], **fields,
        })

    async def key_for(self, host: dict) -> str:
        async with write_session(self.database) as session:
            key = await onboarding.create_api_key(session, uuid.UUID(self.organization_id), uuid.UUID(host["id"]))
            await session.commit()
        return key

    def book(self, label: str, event: dict, start: datetime, *, email: str | None = None, phone: str | None = None):
        body = {"dateTime": stamp(start), "timeZone": "Europe/Paris", "eventId": event["number"], "firstName": label}
        if email is None and phone is None:
            email = f"{label.replace(' ', '-')}-{uuid.uuid4().hex[:6]}@example.com"
        if email is not None:
            body["email"] = email
        if phone is not None:
            body["phoneNumber"] = phone
        return self.send(label, "POST", EVENT_CALLS, body)

    def video_call(self, label: str, product: dict, start: datetime, minutes: int, key: str | None = None):
        body = {"title": label, "mango": product["id"], "startDate": start.date().isoformat(),
                "fromTime": start.strftime("%H:%M"), "timezoneName": "UTC", "duration": minutes}
        return self.send(label, "POST", VIDEO_CALLS, body, key)

    # what the database holds

    async def rows(self, statement):
        async with self.database.engine.connect() as connection:
            return (await connection.execute(statement)).all()

    async def live_calls(self, host_ids) -> list:
        """(id, host, start, end, buffer before, buffer after) of the hosts' live calls."""
        calls, bookings = Call.__table__, Booking.__table__
        return await self.rows(
            select(calls.c.id, calls.c.host_id, calls.c.starts_at, calls.c.ends_at,
                   bookings.c.buffer_before_minutes, bookings.c.buffer_after_minutes)
            .select_from(calls.outerjoin(bookings, bookings.c.call_id == calls.c.id))
            .where(calls.c.host_id.in_([uuid.UUID(str(h)) for h in host_ids]), calls.c.status != "cancelled")
            .order_by(calls.c.starts_at)
        )

    async def bookings(self) -> list:
        table = Booking.__table__
        return await self.rows(select(table).where(table.c.organization_id == uuid.UUID(self.organization_id)).order_by(table.c.number))

    async def contacts(self) -> list:
        table = Contact.__table__
        return await self.rows(select(table).where(table.c.organization_id == uuid.UUID(self.organization_id)).order_by(table.c.number))


@pytest.fixture
async def org(served):
    database = open_database(Settings(database_url=served.database_url, database_pool_size=2))
    async with write_session(database) as session:
        created = await onboarding.create_organization_with_owner(session, f"Racers {uuid.uuid4().hex[:6]}")
        await session.commit()
    the_org = Org(served, database, created.api_key, {"id": str(created.host.id), "number": created.host.number})
    the_org.organization_id = str(created.organization.id)
    await the_org.ok("PATCH", f"/api/v1/hosts/{the_org.owner['id']}", {"working_hours": ALL_WEEK}, status=200)
    try:
        yield the_org
        await check_calendars(the_org)
    finally:
        await the_org.client.aclose()
        await database.dispose()


async def check_calendars(org: Org) -> None:
    """What holds after every test: no 5xx, no answer missing, no double booking, buffers."""
    broken = [a for a in org.answers if a.status >= 500 or a.status == 0]
    assert not broken, (
        f"{len(broken)} answers were 5xx or none: {[(a.label, a.status, str(a.body)[:300]) for a in broken[:5]]}\n"
        f"server log ({org.server.log}):\n{org.server.log.read_text()[-4000:]}"
    )
    calls, bookings = Call.__table__, Booking.__table__
    live = await org.rows(
        select(calls.c.id, calls.c.host_id, calls.c.allow_overlap, calls.c.starts_at, calls.c.ends_at,
               bookings.c.buffer_before_minutes, bookings.c.buffer_after_minutes)
        .select_from(calls.outerjoin(bookings, bookings.c.call_id == calls.c.id))
        .where(calls.c.organization_id == uuid.UUID(org.organization_id), calls.c.status != "cancelled")
    )
    by_host: dict = {}
    for call in live:
        by_host.setdefault(call.host_id, []).append(call)
    for host_calls in by_host.values():
        for first, second in itertools.combinations(host_calls, 2):
            if first.allow_overlap or second.allow_overlap:
                continue
            assert compatible(first, second), f"double booking or buffers violated: {first} and {second}"


def compatible(a, b) -> bool:
    """Two calls (start, end, buffer before, buffer after) may stand side by side: the gap
    between them is at least the larger of the buffers facing each other."""
    a_start, a_end, a_before, a_after = a[-4], a[-3], a[-2] or 0, a[-1] or 0
    b_start, b_end, b_before, b_after = b[-4], b[-3], b[-2] or 0, b[-1] or 0
    if a_start > b_start:
        return compatible(b, a)
    return b_start >= a_end + timedelta(minutes=max(a_after, b_before))


def statuses(answers: list[Answer]) -> list[int]:
    return sorted(a.status for a in answers)


def refused_as_taken(answer: Answer) -> None:
    assert_problem(answer.response, 409, "dateTime")


# --- (a) the last free host ----------------------------------------------------------------


async def test_last_free_host_of_a_slot_is_booked_once(org):
    host = await org.host("Solo")
    event = await org.event_type([host])
    start = day_at(3, 10)
    # More at once than a process has connections (10 + 10): none may wait on another's.
    answers = await asyncio.gather(*(org.book(f"racer {i}", event, start) for i in range(24)))

    assert statuses(answers) == [201] + [409] * 23, [(a.status, a.body) for a in answers]
    winner = next(a for a in answers if a.status == 201).data
    assert winner["closerId"] == host["number"] and winner["startTime"] == stamp(start)
    for answer in answers:
        if answer.status == 409:
            refused_as_taken(answer)

    calls = await org.live_calls([host["id"]])
    assert [(c.starts_at, c.ends_at) for c in calls] == [(start, start + timedelta(minutes=30))]
    bookings = await org.bookings()
    assert [(b.number, b.call_id, b.status) for b in bookings] == [(winner["id"], calls[0].id, "confirmed")]
    # The losers left nothing: not even the contacts they would have made.
    contacts = await org.contacts()
    assert [(c.number, c.email) for c in contacts] == [(1, winner["guestEmail"])]


# --- (b) free hosts are shared out -----------------------------------------------------------


async def test_two_free_hosts_take_two_bookings_of_one_slot(org):
    first, second = await org.host("Ana"), await org.host("Bo")
    event = await org.event_type([first, second])
    start = day_at(3, 10)
    answers = await asyncio.gather(*(org.book(f"pair {i}", event, start) for i in range(2)))

    assert statuses(answers) == [201, 201], [(a.status, a.body) for a in answers]
    assert sorted(a.data["closerId"] for a in answers) == sorted([first["number"], second["number"]])
    calls = await org.live_calls([first["id"], second["id"]])
    assert sorted(str(c.host_id) for c in calls) == sorted([first["id"], second["id"]])
    assert {c.starts_at for c in calls} == {start}


async def test_three_free_hosts_take_three_of_six_bookings(org):
    hosts = [await org.host(name) for name in ("Cy", "Di", "Ed")]
    event = await org.event_type(hosts)
    start = day_at(4, 15, 30)
    answers = await asyncio.gather(*(org.book(f"six {i}", event, start) for i in range(6)))

    assert statuses(answers) == [201] * 3 + [409] * 3, [(a.status, a.body) for a in answers]
    won = [a.data for a in answers if a.status == 201]
    assert sorted(d["closerId"] for d in won) == sorted(h["number"] for h in hosts)
    for answer in answers:
        if answer.status == 409:
            refused_as_taken(answer)
    calls = await org.live_calls([h["id"] for h in hosts])
    assert sorted(str(c.host_id) for c in calls) == sorted(h["id"] for h in hosts)
    assert sorted(b.number for b in await org.bookings()) == sorted(d["id"] for d in won)


# --- (c) buffers -------------------------------------------------------------------------------


async def test_buffers_hold_under_concurrent_adjacent_bookings(org):
    host = await org.host("Buffy")
    buffered = await org.event_type([host], slot_interval_minutes=15, buffer_before_minutes=15, buffer_after_minutes=20)
    plain = await org.event_type([host], slot_interval_minutes=15)
    day_start = day_at(5, 10)
    starts = [day_start + timedelta(minutes=15 * n) for n in range(9)]  # 10:00 .. 12:00
    wanted = [(event, start) for start in starts for event in (buffered, plain)]
    answers = await asyncio.gather(*(org.book(f"adjacent {n}", event, start) for n, (event, start) in enumerate(wanted)))

    assert {a.status for a in answers} <= {201, 409}, [(a.status, a.body) for a in answers]
    assert 201 in {a.status for a in answers}
    buffers = {buffered["number"]: (15, 20), plain["number"]: (0, 0)}
    calls = await org.live_calls([host["id"]])
    made = sorted((a.data["startTime"], a.data["eventId"]) for a in answers if a.status == 201)
    assert sorted((stamp(c.starts_at), e) for c in calls for e in buffers if buffers[e] == (c[-2], c[-1])) == made
    for first, second in itertools.combinations(calls, 2):
        assert compatible(first, second), (first, second)
    # Every refusal is explained by a call that stands.
    for (event, start), answer in zip(wanted, answers):
        if answer.status == 409:
            refused_as_taken(answer)
            proposal = (start, start + timedelta(minutes=30), *buffers[event["number"]])
            assert any(not compatible(proposal, call) for call in calls), (event["number"], start, calls)

    # The slots offered now agree: a start is offered exactly when it fits beside every call.
    day = day_start.date().isoformat()
    for event in (buffered, plain):
        slots = await org.ok("GET", f"/api/v1/event-types/{event['id']}/slots?start={day}&end={day}", status=200)
        offered = {parse_stamp(s["start"]) for s in slots["slots"][day]}
        for start in starts:
            proposal = (start, start + timedelta(minutes=30), *buffers[event["number"]])
            fits = all(compatible(proposal, call) for call in calls)
            assert (start in offered) == fits, (event["number"], start, fits, calls)


# --- (d) numbers ---------------------------------------------------------------------------------


async def test_numbers_stay_gapless_through_a_burst_of_201s_and_409s(org):
    hosts = [await org.host(name) for name in ("Fa", "Gi", "Ha")]
    event = await org.event_type(hosts)
    known = await org.ok("POST", "/api/v1/contacts", {"email": "Known@example.com", "first_name": "Known"})
    assert known["number"] == 1
    # Who books: a known contact (its email in other cases), a new email given in three
    # cases, a phone-only invitee three times, and invitees seen once.
    invitees = (
        [{"email": "KNOWN@example.com"}, {"email": "known@EXAMPLE.com"}]
        + [{"email": "repeat@example.com"}, {"email": "Repeat@Example.com"}, {"email": "REPEAT@EXAMPLE.COM"}]
        + [{"phone": "+14155550101"}] * 3
        + [{"email": f"once-{n}@example.com"} for n in range(10)]
    )
    rounds = [(day_at(6, 10), day_at(6, 11)), (day_at(6, 13), day_at(6, 14))]
    answers, asked = [], []
    for slots in rounds:
        burst = [(invitee, slots[n % 2]) for n, invitee in enumerate(invitees)]
        asked += burst
        answers += await asyncio.gather(*(
            org.book(f"burst {n}", event, start, email=invitee.get("email"), phone=invitee.get("phone"))
            for n, (invitee, start) in enumerate(burst)
        ))

    assert {a.status for a in answers} <= {201, 409}, [(a.status, a.body) for a in answers if a.status not in (201, 409)]
    won = [(invitee, a.data) for (invitee, _), a in zip(asked, answers) if a.status == 201]
    assert len(won) == 3 * 4, [a.status for a in answers]  # three hosts, four slots

    bookings = await org.bookings()
    assert [b.number for b in bookings] == list(range(1, len(won) + 1))
    assert sorted(d["id"] for _, d in won) == [b.number for b in bookings]

    contacts = await org.contacts()
    assert [c.number for c in contacts] == list(range(1, len(contacts) + 1))
    identities = [c.email.lower() if c.email else c.phone for c in contacts]
    assert len(identities) == len(set(identities)), f"a contact made twice: {identities}"
    expected = {"known@example.com"} | {(i.get("email") or i["phone"]).lower() for i, _ in won}
    assert set(identities) == expected
    by_number = {c.number: c for c in contacts}
    for invitee, data in won:
        contact = by_number[data["contactId"]]
        if "email" in invitee:
            assert contact.email.lower() == invitee["email"].lower()
        else:
            assert contact.phone == invitee["phone"]
    assert by_number[1].email == "Known@example.com"  # found, not replaced


# --- (e) reschedules and cancels ------------------------------------------------------------------


async def check_bookings_chain(org: Org) -> None:
    """Every booking is consistent with its call and its links."""
    bookings = await org.bookings()
    by_id = {b.id: b for b in bookings}
    calls = {c.id: c for c in await org.rows(select(Call.__table__))}
    for booking in bookings:
        call = calls[booking.call_id]
        assert (call.status != "cancelled") == (booking.status == "confirmed"), (booking, call)
        if booking.status == "rescheduled":
            assert booking.rescheduled_to_id is not None, booking
            assert by_id[booking.rescheduled_to_id].rescheduled_from_id == booking.id
        else:
            assert booking.rescheduled_to_id is None, booking
        if booking.rescheduled_from_id is not None:
            assert by_id[booking.rescheduled_from_id].rescheduled_to_id == booking.id
    # Following the links from each first booking, at most one is live.
    for first in (b for b in bookings if b.rescheduled_from_id is None):
        chain, current = [first], first
        while current.rescheduled_to_id is not None:
            current = by_id[current.rescheduled_to_id]
            chain.append(current)
        assert sum(b.status == "confirmed" for b in chain) <= 1, chain
        assert all(b.status == "rescheduled" for b in chain[:-1]), chain


async def test_racing_reschedules_and_cancels_of_one_booking_leave_one_outcome(org):
    first, second = await org.host("Io"), await org.host("Jo")
    event = await org.event_type([first, second])
    outcomes = []
    for round_no in range(3):
        base = day_at(7 + round_no, 10)
        booked = await org.book(f"round {round_no}", event, base)
        assert booked.status == 201, booked.body
        number = booked.data["id"]
        changes = [
            ("reschedule", base + timedelta(hours=1)), ("reschedule", base + timedelta(hours=1)),
            ("reschedule", base + timedelta(hours=2)), ("reschedule", base + timedelta(hours=3)),
            ("cancel", None), ("cancel", None),
        ]
        answers = await asyncio.gather(*(
            org.send(f"{kind} {n}", "POST", f"{EVENT_CALLS}/{number}/{kind}",
                     {"dateTime": stamp(when)} if kind == "reschedule" else {"reason": f"no {n}"})
            for n, (kind, when) in enumerate(changes)
        ))
        won = [(change, a) for change, a in zip(changes, answers) if a.status in (200, 201)]
        assert len(won) == 1, [(c, a.status, a.body) for c, a in zip(changes, answers)]
        assert sorted(a.status for a in answers if a.status not in (200, 201)) == [409] * 5
        (kind, when), answer = won[0]
        old = (await org.ok("GET", f"{EVENT_CALLS}/{number}", status=200))["data"]["eventCall"]["data"]
        if kind == "cancel":
            assert answer.status == 200
            assert old["bookingStatus"] == "cancelled" and old["rescheduledToId"] is None
        else:
            assert answer.status == 201 and answer.data["startTime"] == stamp(when)
            assert answer.data["rescheduledFromId"] == number
            assert old["bookingStatus"] == "rescheduled" and old["rescheduledToId"] == answer.data["id"]
            new = (await org.ok("GET", f"{EVENT_CALLS}/{answer.data['id']}", status=200))["data"]["eventCall"]["data"]
            assert new["bookingStatus"] == "confirmed" and new["rescheduledFromId"] == number
        outcomes.append(kind)
    await check_bookings_chain(org)
    bookings = await org.bookings()
    assert [b.number for b in bookings] == list(range(1, len(bookings) + 1))
    assert len(bookings) == 3 + outcomes.count("reschedule")


async def test_a_reschedule_and_new_bookings_racing_for_the_last_free_host(org):
    host = await org.host("Ny")
    event = await org.event_type([host])
    for round_no in range(3):
        start, target = day_at(12, 8 + 2 * round_no), day_at(12, 9 + 2 * round_no)
        booked = await org.book(f"moving {round_no}", event, start)
        assert booked.status == 201, booked.body
        answers = await asyncio.gather(
            org.send("reschedule", "POST", f"{EVENT_CALLS}/{booked.data['id']}/reschedule", {"dateTime": stamp(target)}),
            *(org.book(f"new {round_no}.{n}", event, target) for n in range(4)),
        )
        assert statuses(answers) == [201] + [409] * 4, [(a.label, a.status, a.body) for a in answers]
        calls = await org.live_calls([host["id"]])
        assert [c.starts_at for c in calls if c.starts_at.date() == start.date() and c.starts_at.hour in (start.hour, target.hour)] == (
            [target] if answers[0].status == 201 else [start, target]
        )
    await check_bookings_chain(org)


async def test_reschedules_crossing_two_hosts_at_once(org):
    """Two bookings each moved to a time its own host is busy, so each goes to the other's
    host, on the same day, at once: both succeed (the two transactions touch both hosts'
    calendars, in opposite orders unless the locks order them)."""
    first = org.owner
    second = await org.host("Ku")
    second_key = await org.key_for(second)
    # Products are the organization's: the admin (owner) key creates both (roles, issue 13).
    products = [await org.ok("POST", "/api/v1/products", {"title": "Busy"}) for _ in range(2)]
    event = await org.event_type([first, second])
    for round_no in range(4):
        base = day_at(9, 8 + 3 * round_no)
        a, b = await org.book(f"a{round_no}", event, base), await org.book(f"b{round_no}", event, base)
        assert (a.status, b.status) == (201, 201), (a.body, b.body)
        assert {a.data["closerId"], b.data["closerId"]} == {first["number"], second["number"]}
        on_first, on_second = (a, b) if a.data["closerId"] == first["number"] else (b, a)
        # The first host busy at +1 h, the second at +2 h (video calls of each).
        await org.ok("POST", VIDEO_CALLS, {"title": "busy", "mango": products[0]["id"],
                                           "startDate": base.date().isoformat(), "fromTime": (base + timedelta(hours=1)).strftime("%H:%M"),
                                           "timezoneName": "UTC", "duration": 30})
        await org.ok("POST", VIDEO_CALLS, {"title": "busy", "mango": products[1]["id"],
                                           "startDate": base.date().isoformat(), "fromTime": (base + timedelta(hours=2)).strftime("%H:%M"),
                                           "timezoneName": "UTC", "duration": 30}, key=second_key)
        moved = await asyncio.gather(
            org.send("first to +1h", "POST", f"{EVENT_CALLS}/{on_first.data['id']}/reschedule",
                     {"dateTime": stamp(base + timedelta(hours=1))}),
            org.send("second to +2h", "POST", f"{EVENT_CALLS}/{on_second.data['id']}/reschedule",
                     {"dateTime": stamp(base + timedelta(hours=2))}),
        )
        assert [m.status for m in moved] == [201, 201], [(m.status, m.body) for m in moved]
        assert moved[0].data["closerId"] == second["number"] and moved[1].data["closerId"] == first["number"]
    await check_bookings_chain(org)


# --- bookings and video calls --------------------------------------------------------------------


async def test_bookings_and_video_calls_respect_one_another(org):
    host = org.owner  # the key's host: the video calls are its calls
    event = await org.event_type([host])
    product = await org.ok("POST", "/api/v1/products", {"title": "Webinar"})
    for round_no in range(3):
        start = day_at(10, 9 + 2 * round_no)
        # Every request wants a time overlapping every other's: one call at most stands.
        requests = [org.book(f"booking {round_no}.{n}", event, start) for n in range(4)]
        requests += [org.video_call(f"video {round_no}.{n}", product, start + timedelta(minutes=5 * n), 30) for n in range(4)]
        answers = await asyncio.gather(*requests)
        assert statuses(answers) == [201] + [409] * 7, [(a.label, a.status, a.body) for a in answers]
        calls = [c for c in await org.live_calls([host["id"]]) if start - timedelta(hours=1) < c.starts_at < start + timedelta(hours=1)]
        assert len(calls) == 1, calls
        winner = next(a for a in answers if a.status == 201)
        for answer in answers:
            if answer.status != 409:
                continue
            if answer.label.startswith("video"):  # names the call that won
                assert [o["existing"]["_id"] for o in answer.body["overlapList"]] == [str(calls[0].id)], answer.body
            else:
                refused_as_taken(answer)
        if winner.label.startswith("booking"):
            assert winner.data["startTime"] == stamp(calls[0].starts_at)
        else:
            assert winner.body["_id"] == str(calls[0].id)


async def test_a_new_invitee_booking_two_hosts_at_once_is_one_contact(org):
    """No host lock is shared: the invitee's own identity must make the two bookings agree on
    one contact (an email given in two cases, a phone number)."""
    first, second = await org.host("Lu"), await org.host("Mo")
    events = [await org.event_type([first]), await org.event_type([second])]
    requests = []
    for k in range(6):
        start = day_at(11, 8 + k)
        phone = f"+1415555{k:04d}"
        email = f"twice-{k}@example.com"
        requests += [org.book(f"phone {k}.{n}", events[n], start, phone=phone) for n in range(2)]
        requests += [org.book(f"email {k}.{n}", events[n], start + timedelta(minutes=30),
                              email=email if n == 0 else email.upper()) for n in range(2)]
    answers = await asyncio.gather(*requests)
    assert statuses(answers) == [201] * len(answers), [(a.label, a.status, a.body) for a in answers]
    contacts = await org.contacts()
    assert [c.number for c in contacts] == list(range(1, 13)), [(c.number, c.email, c.phone) for c in contacts]
    for k in range(6):
        of_k = {a.data["contactId"] for a in answers if a.label.startswith((f"phone {k}.", f"email {k}."))}
        assert len(of_k) == 2, (k, of_k)  # one for the phone, one for the email
