"""Fan-out claims the deliveries that are due at once: no second transaction between an event's
commit and its first attempt, and the same lease as a claim (a dead worker's comes back)."""

import asyncio
import json
from collections import Counter
from uuid import UUID

import pytest
from sqlalchemy import func, select

from callgrid.db.engine import IMMEDIATE
from callgrid.webhooks import emit
from callgrid.webhooks.models import WebhookAttempt, WebhookDelivery
from callgrid.webhooks.worker import DeliveryWorker
from tests.webhooks.conftest import create_endpoint


async def commit_events(app, organization_id: str, count: int) -> None:
    async with app.state.sessionmaker() as session:
        await session.connection(execution_options={IMMEDIATE: True})
        for n in range(count):
            await emit(session, UUID(organization_id), "appointment.updated", {"n": n})
        await session.commit()


@pytest.mark.slow  # a receiver process
@pytest.mark.webhook_settings(run_embedded_worker=False, webhook_timeout_seconds=0.25)
async def test_fan_out_claims_what_is_due_at_once_and_a_dead_workers_claim_comes_back(app, tenant, receiver):
    endpoint = await create_endpoint(tenant, receiver.url())
    receiver.trust(endpoint["secret"])
    await commit_events(app, tenant.organization_id, 3)
    first = DeliveryWorker(app.state.sessionmaker, app.state.settings)
    second = DeliveryWorker(app.state.sessionmaker, app.state.settings)
    try:
        handled, jobs = await first._fan_out(claim=2)
        assert handled == 3 and len(jobs) == 2
        assert {job.attempt for job in jobs} == {1}
        # The third is pending and due: another worker claims it, and only it.
        others = await second.claim(10)
        assert len(others) == 1 and others[0].delivery_id not in {job.delivery_id for job in jobs}
        await second.attempt(others[0])
        # `first` dies holding its two; once the lease runs out they come back.
        assert await second.claim(10) == []
        await asyncio.sleep(2 * 0.25 + 2 + 0.2)
        reclaimed = await second.claim(10)
        assert {job.delivery_id for job in reclaimed} == {job.delivery_id for job in jobs}
        for job in reclaimed:
            await second.attempt(job)
    finally:
        await first.aclose()
        await second.aclose()
    async with app.state.sessionmaker() as session:
        states = Counter((await session.execute(select(WebhookDelivery.state))).scalars())
        attempts_made = (await session.execute(select(func.count()).select_from(WebhookAttempt))).scalar_one()
    assert states == {"delivered": 3} and attempts_made == 3
    assert sorted(json.loads(r["body"])["data"]["n"] for r in receiver.received()) == [0, 1, 2]


@pytest.mark.webhook_settings(run_embedded_worker=False, webhook_retry_schedule="5,1")
async def test_fan_out_claims_nothing_when_the_first_attempt_waits(app, tenant):
    await create_endpoint(tenant, "https://hooks.example.com/")
    await commit_events(app, tenant.organization_id, 2)
    worker = DeliveryWorker(app.state.sessionmaker, app.state.settings)
    try:
        assert await worker._fan_out(claim=5) == (2, [])
        assert await worker.claim(5) == []  # due in 5 s
    finally:
        await worker.aclose()
    async with app.state.sessionmaker() as session:
        leased = (await session.execute(select(func.count()).where(WebhookDelivery.lease_token.is_not(None)))).scalar_one()
    assert leased == 0
