"""Real processes: `callgrid serve` killed with SIGKILL and restarted, two `callgrid worker`s."""

import asyncio
import re
import signal
import subprocess
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from callgrid import onboarding
from callgrid.config import Settings
from callgrid.db.encrypted import load_keyring
from callgrid.db.engine import create_engine, create_sessionmaker
from callgrid.webhooks import emit
from callgrid.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from callgrid.webhooks.signing import new_secret
from tests.support import forked
from tests.support.databases import clean
from tests.webhooks.conftest import Receiver, Served, free_port, subprocess_env

CALLS = "/api/v1/external/workshops/video-calls"

pytestmark = pytest.mark.slow  # server, worker and receiver processes


def connected_pids(port: int) -> set[int] | None:
    """Processes holding a TCP connection to 127.0.0.1:`port` (None without `ss`)."""
    try:
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {int(pid) for pid in re.findall(r"pid=(\d+)", out)}


async def test_committed_events_survive_sigkill_and_restart_while_the_receiver_is_down(database_url, processes):
    await clean(database_url)
    receiver = Receiver()  # not listening yet
    port = free_port()
    # Attempts every 0.3 s for a minute: the receiver is down until after the restart.
    env = subprocess_env(database_url, CALLGRID_WEBHOOK_RETRY_SCHEDULE="0" + ",0.3" * 200)
    server = Served(env, port)
    processes.append(server.process)
    key = server.first_key
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=20) as client:
        r = await client.post("/api/v1/webhook-endpoints", json={"url": receiver.url()})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
        created = []
        for hour in range(10, 15):
            r = await client.post(CALLS, json={"title": f"at {hour}", "mango": mango, "startDate": "2030-01-02",
                                               "fromTime": f"{hour}:00", "timezoneName": "UTC", "duration": 60})
            assert r.status_code == 201, r.text
            created.append(r.json()["_id"])
        r = await client.delete(f"{CALLS}/{created[0]}")
        assert r.status_code == 200, r.text
        # Killed right after the last committed change.
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)

    restarted = Served(env, port)
    processes.append(restarted.process)
    receiver.start(secret)
    try:
        records = await receiver.wait(
            lambda rs: {(r["json"]["type"], r["json"]["data"].get("_id") or r["json"]["data"]["id"]) for r in rs if r["verified"]}
            >= {("video_call.created", c) for c in created} | {("video_call.cancelled", created[0])}
            | {("room.terminated", created[0])},  # the cancelled call's room ended with it
            timeout=30,
        )
        assert all(r["verified"] for r in records)
        received = Counter(r["json"]["type"] for r in {r["json"]["id"]: r for r in records}.values())
        assert received == {"video_call.created": 5, "video_call.cancelled": 1, "room.terminated": 1}
    finally:
        receiver.stop()


async def test_two_worker_processes_deliver_500_events_with_no_duplicate_attempt(backend, database_url, processes, receiver):
    await clean(database_url)
    engine = create_engine(Settings(database_url=database_url))
    sessionmaker = create_sessionmaker(engine)
    try:
        await load_keyring(Settings(database_url=database_url), engine)  # the workers' key: the database's secret
        async with sessionmaker() as session:
            org = await onboarding.create_organization_with_owner(session, "Busy")
            endpoint = WebhookEndpoint(organization_id=org.organization.id, url=receiver.url(), secret=new_secret())
            session.add(endpoint)
            await session.commit()
        receiver.trust(endpoint.secret)
        # A generous timeout and schedule: on a loaded machine a slow answer is a failed attempt
        # and a retry (another attempt, fine), not a lost event.
        env = subprocess_env(
            database_url,
            CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS="0.1",
            CALLGRID_WEBHOOK_CONCURRENCY="8",
            CALLGRID_WEBHOOK_TIMEOUT_SECONDS="5",
            CALLGRID_WEBHOOK_RETRY_SCHEDULE="0,1,1,1,1,1",
        )
        for _ in range(2):
            processes.append(forked.start(["worker"], env))
        # Committed in batches while both workers are polling, so both find work.
        for batch in range(10):
            async with sessionmaker() as session:
                for i in range(50):
                    await emit(session, org.organization.id, "appointment.updated", {"n": batch * 50 + i})
                await session.commit()
            await asyncio.sleep(0.05)

        await receiver.wait(lambda rs: len({r["headers"]["webhook-id"] for r in rs if r["status"] == 200}) >= 500, timeout=60)
        senders = connected_pids(receiver.port)
        if senders is not None:  # both workers did deliver (their kept-alive connections)
            assert {p.pid for p in processes} <= senders, senders
        await asyncio.sleep(1.0)  # anything extra would arrive now
        records = receiver.received()
        assert all(r["verified"] for r in records)
        delivered = {r["headers"]["webhook-id"]: r for r in records if r["status"] == 200}
        assert sorted(r["json"]["data"]["n"] for r in delivered.values()) == list(range(500))
        async with sessionmaker() as session:
            states = Counter((await session.execute(select(WebhookDelivery.state))).scalars())
            made = (await session.execute(select(WebhookAttempt.event_id, WebhookAttempt.attempt))).all()
        assert states == {"delivered": 500}
        # No attempt twice: the receiver saw each (event, attempt number) once, and each is
        # an attempt recorded once (a unique constraint) in the database.
        seen = Counter((r["headers"]["webhook-id"], int(r["headers"]["callgrid-attempt"])) for r in records)
        assert set(seen.values()) == {1}, seen.most_common(3)
        assert set(seen) <= {(str(event_id), attempt) for event_id, attempt in made}
        ok = Counter(r["headers"]["webhook-id"] for r in records if r["status"] == 200)
        assert set(ok.values()) == {1}, ok.most_common(3)  # and each event succeeded exactly once
        assert all(p.poll() is None for p in processes)  # both still running
    finally:
        await engine.dispose()
