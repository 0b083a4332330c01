"""Concurrent retries with one key against a real `callgrid serve --workers 2`, over HTTP, on
each database: one object, and every answer the same, byte for byte."""

import asyncio
import json
from contextlib import ExitStack

import pytest
from sqlalchemy import func, select

from callgrid.calls.models import Call
from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.idempotency.models import IdempotencyKey
from callgrid.rooms.models import Room
from callgrid.webhooks.models import WebhookEndpoint

from tests.idempotency.conftest import APPOINTMENT, APPOINTMENTS, CALLS, ENDPOINT, ENDPOINTS, ROOM, ROOMS, call_body, new_key
from tests.support.databases import BACKENDS, empty_database_sync
from tests.support.servers import Served, callgrid_env

pytestmark = pytest.mark.slow  # a server process

CONCURRENT = 10


# One server per backend for the module's tests, in one test process (xdist_group): each test
# counts only what it made (its idempotency keys, its titles) at hours of its own.
@pytest.fixture(scope="module", params=[pytest.param(b, marks=pytest.mark.xdist_group(f"idempotency-concurrent-{b}"))
                                        for b in BACKENDS])
def served(request, tmp_path_factory):
    with ExitStack() as stack:
        url = stack.enter_context(
            empty_database_sync(request.param, tmp_path_factory.mktemp("idempotency-concurrent"), "callgrid_idempotency")
        )
        # Two processes: retries that meet in one process wait for each other there, those in the
        # other wait on the key's unique index (PostgreSQL) or SQLite's write lock.
        server = Served(callgrid_env(url), workers=2)
        stack.callback(server.stop)
        yield server


async def _together(client, path: str, body: dict, key: str):
    return await asyncio.gather(*(client.post(path, json=body, headers={"Idempotency-Key": key}) for _ in range(CONCURRENT)))


async def _counts(database_url: str, keys: list[str]) -> dict[str, int]:
    """What there is of the first test's objects, and how many idempotency keys of `keys`."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as connection:
            async def number(model, *where) -> int:
                return (await connection.execute(select(func.count()).select_from(model).where(*where))).scalar_one()

            return {
                "video calls": await number(Call, Call.title == "Webinar"),
                "appointments": await number(Call, Call.title == APPOINTMENT["title"]),
                "rooms": await number(Room, Room.name == ROOM["name"]),
                "webhook endpoints": await number(WebhookEndpoint),
                "keys": await number(IdempotencyKey, IdempotencyKey.key.in_(keys)),
                "lost answers": await number(Call, Call.title == "Lost answer"),
            }
    finally:
        await engine.dispose()


async def test_concurrent_retries_make_one_object_and_one_answer(served):
    async with served.client(served.first_key) as client:
        mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
        keys = []
        for path, body in [(CALLS, call_body(mango)), (APPOINTMENTS, APPOINTMENT), (ROOMS, ROOM), (ENDPOINTS, ENDPOINT)]:
            keys.append(new_key())
            answers = await _together(client, path, body, keys[-1])
            first = answers[0]
            assert first.status_code in (200, 201), first.text
            assert {(a.status_code, a.content, a.headers["content-type"]) for a in answers} == {
                (first.status_code, first.content, first.headers["content-type"])
            }
            # One of them did it; the others replayed its answer.
            assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == [""] + ["true"] * (CONCURRENT - 1)
    counts = await _counts(served.database_url, keys)
    del counts["lost answers"]  # the other test's
    assert counts == {"video calls": 1, "appointments": 1, "rooms": 1, "webhook endpoints": 1, "keys": 4}


async def test_a_client_that_never_read_its_answer_gets_it_on_retry(served):
    """The request is sent on a socket whose answer is never read (the client went away after
    sending it): once its call is committed, the retry answers that call's 201."""
    key = new_key()
    async with served.client(served.first_key) as client:
        mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
        body = json.dumps(call_body(mango, hour=14, title="Lost answer")).encode()  # not the other test's hour
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(
            f"POST {CALLS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.first_key}\r\n"
            f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        await writer.drain()
        while (await _counts(served.database_url, [key]))["keys"] == 0:  # committed: the call and its answer
            await asyncio.sleep(0.05)
        writer.close()
        # The same bytes: the fingerprint is of the body as sent.
        retried = await client.post(CALLS, content=body, headers={"Idempotency-Key": key, "Content-Type": "application/json"})
        assert retried.status_code == 201, retried.text
        assert retried.headers["idempotent-replayed"] == "true"
        listed = (await client.get(f"{CALLS}/{retried.json()['_id']}")).json()
        assert listed["title"] == "Lost answer"
    assert (await _counts(served.database_url, [key]))["lost answers"] == 1  # one call, the retry made none
