"""More creates with keys at once than a process has connections: each holds its write
session's connection from its key's claim to its commit and needs another meanwhile (a read),
so they must not all hold one and wait for a second (every connection held, none coming back:
each waited for the pool's timeout, then answered 500)."""

import asyncio

import pytest
from sqlalchemy import select

from callgrid.calls.models import Call
from tests.idempotency.conftest import CALLS, call_body, make_mango, new_key

POOL = 2
CREATES = 8


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"database_pool_size": POOL})


async def test_creates_with_keys_beyond_the_pool_all_succeed(app, tenant):
    mango = await make_mango(tenant)
    bodies = [call_body(mango, hour=hour, title=f"At {hour}") for hour in range(CREATES)]
    answers = await asyncio.wait_for(
        asyncio.gather(*(tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": new_key()}) for body in bodies)),
        timeout=20,  # the pool waits 30 s before it gives up
    )
    assert [a.status_code for a in answers] == [201] * CREATES, [a.text[:200] for a in answers if a.status_code != 201]
    async with app.state.database.read() as session:
        titles = (await session.execute(select(Call.title).where(Call.title.like("At %")))).scalars().all()
    assert sorted(titles) == sorted(body["title"] for body in bodies)
