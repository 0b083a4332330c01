"""PostgreSQL: a revocation answers its client only once every process listening for
revocations has forgotten the key (`tenancy/revocations.py`). Each process's listener answers
on `callgrid_api_key_acks`; the revoker waits for every listener it saw, drops one whose
connection is gone, and gives up on a silent one after `ACK_WITHIN`, saying so in the log.

The other processes here are stand-ins: a raw connection named as a listener, which hears the
revocation and answers late, leaves without answering, or never answers."""

import asyncio
import logging
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from callgrid.tenancy import revocations
from callgrid.tenancy.keys import hash_key
from tests.support.databases import ON_POSTGRESQL
from tests.support.tenants import client

pytestmark = pytest.mark.parametrize("backend", ON_POSTGRESQL)

KEYS = "/api/v1/api-keys"


class StandIn:
    """Another process's listener, as the revoker sees it: LISTENing under a listener's name."""

    def __init__(self, connection: asyncpg.Connection):
        self.connection = connection
        self.heard: list[str] = []
        self.pid = connection.get_server_pid()

    @classmethod
    async def connect(cls, database_url: str) -> "StandIn":
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, server_settings={"application_name": f"{revocations.LISTENER_NAME}-stand-in"})
        stand_in = cls(connection)
        await connection.add_listener(revocations.PG_CHANNEL, lambda _c, _pid, _channel, payload: stand_in.heard.append(payload))
        return stand_in

    async def answer(self) -> None:
        revocation = self.heard[-1].partition(":")[0]
        await self.connection.fetchval("SELECT pg_notify($1, $2)", revocations.ACK_CHANNEL, revocation)

    async def close(self) -> None:
        if not self.connection.is_closed():
            await self.connection.close()


@pytest.fixture
async def stand_in(database_url):
    stand_in = await StandIn.connect(database_url)
    yield stand_in
    await stand_in.close()


async def _revoke(tenant) -> tuple[dict, asyncio.Task]:
    created = (await tenant.client.post(KEYS, json={"name": "bot"})).json()
    return created, asyncio.create_task(tenant.client.delete(f"{KEYS}/{created['id']}"))


async def _heard(stand_in: StandIn) -> None:
    for _ in range(500):
        if stand_in.heard:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stand-in never heard the revocation")


async def test_the_revocation_answers_only_after_a_late_listener_has_answered(app, tenant, stand_in):
    created, revoking = await _revoke(tenant)
    await _heard(stand_in)
    revocation, _, hashes = stand_in.heard[0].partition(":")
    assert hashes == hash_key(created["key"]) and len(revocation) == 32
    await asyncio.sleep(0.5)
    assert not revoking.done()  # still waiting for the stand-in
    await stand_in.answer()
    revoked = await asyncio.wait_for(revoking, 10)
    assert revoked.status_code == 204, revoked.text


async def test_a_listener_that_leaves_without_answering_is_not_waited_for(app, tenant, stand_in, monkeypatch):
    monkeypatch.setattr(revocations, "ACK_WITHIN", 60.0)
    created, revoking = await _revoke(tenant)
    await _heard(stand_in)
    await asyncio.sleep(0.3)
    assert not revoking.done()
    await stand_in.close()
    revoked = await asyncio.wait_for(revoking, 30)  # its departure is seen, not the 60 s waited out
    assert revoked.status_code == 204, revoked.text


async def test_a_silent_listener_is_waited_for_ack_within_then_named_in_the_log(app, tenant, stand_in, monkeypatch, caplog):
    monkeypatch.setattr(revocations, "ACK_WITHIN", 1.0)
    caplog.set_level(logging.WARNING, logger="callgrid.auth")
    started = time.monotonic()
    created, revoking = await _revoke(tenant)
    revoked = await asyncio.wait_for(revoking, 30)
    assert revoked.status_code == 204, revoked.text
    assert time.monotonic() - started >= 1.0
    assert stand_in.heard and f"no answer from the key listeners with backend pids [{stand_in.pid}]" in caplog.text
    # The key is revoked all the same.
    async with client(app, created["key"]) as bot:
        assert (await bot.get("/api/v1/products")).status_code == 401
