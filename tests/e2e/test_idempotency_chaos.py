"""Chaos: 200 video-call creates, each with its own Idempotency-Key, several at a time, while
`callgrid serve` (with its embedded webhook worker) is SIGKILLed and restarted three times;
the client retries each request until it gets an answer. Afterwards, on each database:
exactly one call per key, a 201 for every request, and exactly one `video_call.created`
event id per call at a real webhook receiver (deliveries may repeat after a crash; the event
id they carry may not differ)."""

import asyncio
import signal
import time
from collections import defaultdict
from datetime import date, timedelta
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import func, select

from callgrid.calls.models import Call
from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.idempotency.models import IdempotencyKey
from tests.support.processes import free_port
from tests.support.servers import Served
from tests.webhooks.conftest import Receiver, subprocess_env

pytestmark = pytest.mark.slow  # server and receiver processes

CALLS = "/api/v1/external/workshops/video-calls"
CREATES = 200
AT_ONCE = 8
# Kill the server once this many creates have been answered (three kills: a restart takes
# 2 to 8 s on a busy machine, most of the test's time).
KILL_AFTER = (40, 100, 160)


class Chaos:
    """The server under test, killed and started again on the same port."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.port = free_port()
        self.server = Served(env, self.port)
        self.kills = 0

    async def kill_and_restart(self) -> None:
        self.server.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.server.process.wait, 10)
        self.kills += 1
        self.server = await asyncio.to_thread(Served, self.env, self.port)

    def stop(self) -> None:
        self.server.stop()


def _body(number: int, mango: str) -> dict:
    day = date(2030, 1, 2) + timedelta(days=number // 10)
    return {"title": f"chaos {number}", "mango": mango, "startDate": day.isoformat(),
            "fromTime": f"{8 + number % 10:02d}:00", "timezoneName": "UTC", "duration": 30}


# A server restarted by the test answers again within seconds; a create that keeps failing
# for this long is a bug (a 500 on every try), not a server going down.
GIVE_UP_AFTER = 60.0


async def _create_until_answered(client: httpx.AsyncClient, body: dict, key: str) -> httpx.Response:
    """POST until an answer comes back: a refused or broken connection, a timeout or a 5xx
    (a server going down) is tried again with the same key, for at most GIVE_UP_AFTER."""
    deadline = time.monotonic() + GIVE_UP_AFTER
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = await client.post(CALLS, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            last = repr(exc)
            await asyncio.sleep(0.05)
            continue
        if response.status_code < 500:
            return response
        last = f"{response.status_code} {response.text[:500]}"
        await asyncio.sleep(0.05)
    raise AssertionError(f"{body['title']}: no answer below 500 in {GIVE_UP_AFTER} s; the last: {last}")


async def _database_counts(database_url: str) -> tuple[dict[str, int], int]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as connection:
            titles = dict((await connection.execute(select(Call.title, func.count()).group_by(Call.title))).all())
            keys = (await connection.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one()
    finally:
        await engine.dispose()
    return titles, keys


async def test_creates_with_keys_survive_sigkills_exactly_once(fresh_database_url):
    receiver = Receiver()
    env = subprocess_env(fresh_database_url, CALLGRID_RUN_EMBEDDED_WORKER="true",
                         CALLGRID_WEBHOOK_RETRY_SCHEDULE="0" + ",0.3" * 100)
    chaos = Chaos(env)
    try:
        base = chaos.server.base_url
        headers = {"Authorization": f"Bearer {chaos.server.first_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10, trust_env=False) as client:
            endpoint = await client.post("/api/v1/webhook-endpoints", json={"url": receiver.url(), "events": ["video_call.created"]})
            assert endpoint.status_code == 201, endpoint.text
            receiver.start(endpoint.json()["secret"])
            mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]

            keys = [str(uuid4()) for _ in range(CREATES)]
            answers: dict[int, httpx.Response] = {}
            answered = asyncio.Condition()
            queue: asyncio.Queue[int] = asyncio.Queue()
            for number in range(CREATES):
                queue.put_nowait(number)

            async def creator() -> None:
                while not queue.empty():
                    number = queue.get_nowait()
                    answers[number] = await _create_until_answered(client, _body(number, mango), keys[number])
                    async with answered:
                        answered.notify_all()

            async def killer() -> None:
                for threshold in KILL_AFTER:
                    async with answered:
                        await answered.wait_for(lambda: len(answers) >= threshold)
                    await chaos.kill_and_restart()

            await asyncio.gather(killer(), *(creator() for _ in range(AT_ONCE)))

        assert chaos.kills == len(KILL_AFTER)
        # Every request got a 201, with its own call.
        assert sorted(number for number, r in answers.items() if r.status_code == 201) == list(range(CREATES)), {
            number: r.text for number, r in answers.items() if r.status_code != 201
        }
        call_ids = {answers[number].json()["_id"]: number for number in range(CREATES)}
        assert len(call_ids) == CREATES
        # Exactly one call per key in the database.
        titles, stored_keys = await _database_counts(fresh_database_url)
        assert titles == {f"chaos {number}": 1 for number in range(CREATES)}
        assert stored_keys == CREATES

        def event_ids(records: list[dict]) -> dict[str, set[str]]:
            found = defaultdict(set)
            for record in records:
                if record["verified"] and record["json"]["type"] == "video_call.created":
                    found[record["json"]["data"]["_id"]].add(record["json"]["id"])
            return found

        records = await receiver.wait(lambda rs: event_ids(rs).keys() >= call_ids.keys(), timeout=30)
        received = event_ids(records)
        assert set(received) == set(call_ids)
        assert {call: len(ids) for call, ids in received.items() if len(ids) != 1} == {}
    finally:
        chaos.stop()
        receiver.stop()
