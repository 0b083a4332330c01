"""Workers in other processes wake at once: PostgreSQL LISTEN/NOTIFY, Redis pub/sub; the poll is
the fallback. Real `callgrid serve` and `callgrid worker` processes, a real PostgreSQL and Redis."""

import asyncio
import os
import uuid
from collections import Counter

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callgrid.config import Settings
from callgrid.db.engine import create_engine, create_sessionmaker
from callgrid.webhooks import emit
from callgrid.webhooks.notify import notifier
from callgrid.webhooks.wakeup import LISTENER_NAME, PG_CHANNEL, publishing
from tests.support import forked
from tests.support.databases import ON_POSTGRESQL, clean
from tests.support.postgres import POSTGRES_URL, plain_dsn
from tests.support.processes import free_port
from tests.webhooks.conftest import Served, create_endpoint, subprocess_env

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")
CALLS = "/api/v1/external/workshops/video-calls"
ENDPOINTS = "/api/v1/webhook-endpoints"
LONG_POLL = 30.0  # the worker's poll interval in these tests
AT_ONCE = 5.0  # what "at once" must beat here: far below LONG_POLL, far above a loaded machine's delays

# (database, with Redis): LISTEN/NOTIFY alone on PostgreSQL, Redis alone on SQLite, both together.
WAKE_UPS = (
    ([("postgresql", False)] if POSTGRES_URL else [])
    + ([("sqlite", True)] if REDIS_URL else [])
    + ([("postgresql", True)] if POSTGRES_URL and REDIS_URL else [])
)


class Listener:
    """A LISTEN connection of the test's own on the workers' channel."""

    def __init__(self, connection: asyncpg.Connection):
        self.connection = connection
        self.heard: asyncio.Queue[str] = asyncio.Queue()

    @classmethod
    async def start(cls, url: str) -> "Listener":
        listener = cls(await asyncpg.connect(plain_dsn(url)))
        await listener.connection.add_listener(PG_CHANNEL, lambda _c, _pid, _channel, payload: listener.heard.put_nowait(payload))
        return listener

    async def until_marker(self) -> list[str]:
        """Everything heard up to a marker notified now. PostgreSQL delivers notifications in
        commit order, so what was committed before is in the list, and nothing more of it can come."""
        marker = f"marker-{uuid.uuid4().hex}"
        await self.connection.execute("SELECT pg_notify($1, $2)", PG_CHANNEL, marker)
        heard = []
        while (payload := await asyncio.wait_for(self.heard.get(), 10)) != marker:
            heard.append(payload)
        return heard

    async def quiet(self) -> list[str]:
        """What is heard in a moment's wait (a publisher woken by mistake would have notified
        by then), up to a marker."""
        await asyncio.sleep(0.2)
        return await self.until_marker()

    async def notified(self) -> None:
        """Wait for the notification sent after a commit, then for anything else heard (another
        app of this test process publishing the same commit): only ever the empty payload."""
        assert await asyncio.wait_for(self.heard.get(), AT_ONCE) == ""
        assert set(await self.until_marker()) <= {""}

    async def close(self) -> None:
        await self.connection.close()


# --- notifying after commits ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ON_POSTGRESQL)
async def test_a_commit_with_events_notifies_after_it_and_a_rollback_or_a_plain_insert_does_not(tenant, database_url):
    org = uuid.UUID(tenant.organization_id)
    engine = create_engine(Settings(database_url=database_url))
    sessionmaker = create_sessionmaker(engine)
    listener = await Listener.start(database_url)
    committed = notifier.register()  # what wakes the publishers: this process's after-commit hooks
    try:
        async with publishing(Settings(database_url=database_url), engine):
            async with sessionmaker() as session:
                await session.execute(text("SELECT 1 FROM organizations"))  # a transaction without events
                await session.commit()
            assert not committed.is_set()
            assert await listener.quiet() == []

            async with sessionmaker() as session:
                for n in range(3):
                    await emit(session, org, "ping", {"n": n})
                await session.flush()
                await session.rollback()
            assert not committed.is_set()
            assert await listener.quiet() == []

            # No trigger on the table: a row inserted by hand notifies nothing (the poll finds it).
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO webhook_events (id, organization_id, type, payload, created_at)"
                         " VALUES (:id, :org, 'ping', '{}', now())"), {"id": uuid.uuid4(), "org": org})
            assert await listener.quiet() == []

            async with sessionmaker() as session:
                for n in range(3):  # three statements
                    await emit(session, org, "ping", {"n": n})
                await session.flush()
                for n in range(3, 5):
                    await emit(session, org, "ping", {"n": n})
                await session.commit()
            assert committed.is_set()
            await listener.notified()
    finally:
        notifier.unregister(committed)
        await listener.close()
        await engine.dispose()


@pytest.mark.parametrize("backend", ON_POSTGRESQL)
async def test_a_write_section_commit_notifies(tenant, database_url):
    """Creating a video call commits in a write section (`run_section`), outside the session:
    its after-commit hook wakes the app's publisher."""
    listener = await Listener.start(database_url)
    try:
        mango = (await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
        assert await listener.quiet() == []  # a product: no event
        r = await tenant.client.post(CALLS, json={"title": "booked", "mango": mango, "startDate": "2030-01-02",
                                                  "fromTime": "10:00", "timezoneName": "UTC", "duration": 60})
        assert r.status_code == 201, r.text
        await listener.notified()
    finally:
        await listener.close()


@pytest.mark.parametrize("backend", ON_POSTGRESQL)
async def test_retrying_a_delivery_or_enabling_an_endpoint_notifies_after_commit(tenant, database_url):
    listener = await Listener.start(database_url)
    try:
        endpoint = await create_endpoint(tenant, "https://hooks.example.com/a", enabled=False)
        r = await tenant.client.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"description": "still off"})
        assert r.status_code == 200, r.text
        assert await listener.quiet() == []  # nothing became due

        r = await tenant.client.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": True})
        assert r.status_code == 200, r.text
        await listener.notified()  # its pending deliveries may be due now

        r = await tenant.client.post(f"{ENDPOINTS}/{endpoint['id']}/test")
        assert r.status_code == 202, r.text
        await listener.notified()  # the ping's event row
        event_id = r.json()["event_id"]
        async with asyncio.timeout(15):  # the embedded worker fans it out into a delivery
            while (await tenant.client.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{event_id}/retry")).status_code != 202:
                await asyncio.sleep(0.05)
        await listener.notified()  # the retry
    finally:
        await listener.close()


# --- processes ----------------------------------------------------------------------------------


class Listening:
    """The connections a `callgrid worker` process listens on, as the servers see them."""

    def __init__(self, database_url: str, redis: bool, pid: int):
        self.database = make_url(database_url).database if make_url(database_url).get_backend_name() == "postgresql" else None
        self.redis = redis
        self.name = f"{LISTENER_NAME}-{pid}"

    async def ids(self) -> dict[str, str]:
        """{"postgresql": backend pid, "redis": client id} of the listening connections that are up."""
        found = {}
        if self.database:
            connection = await asyncpg.connect(plain_dsn(POSTGRES_URL))
            try:
                pid = await connection.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2"
                    " AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')",
                    self.database, self.name)
            finally:
                await connection.close()
            if pid is not None:
                found["postgresql"] = str(pid)
        if self.redis:
            from redis.asyncio import Redis

            async with Redis.from_url(REDIS_URL) as client:
                for entry in await client.client_list(_type="pubsub"):
                    if entry["name"] == self.name and entry["sub"] == "1":
                        found["redis"] = entry["id"]
        return found

    async def up(self, besides: dict[str, str] | None = None, timeout: float = 30.0) -> dict[str, str]:
        """Wait until every expected connection is up (and, with `besides`, a new one)."""
        expected = {"postgresql"} if self.database else set()
        expected |= {"redis"} if self.redis else set()
        async with asyncio.timeout(timeout):
            while True:
                ids = await self.ids()
                if set(ids) == expected and not any(ids[k] == (besides or {}).get(k) for k in ids):
                    return ids
                await asyncio.sleep(0.05)

    async def cut(self, ids: dict[str, str]) -> None:
        """Close the listening connections from the servers' side."""
        if "postgresql" in ids:
            connection = await asyncpg.connect(plain_dsn(POSTGRES_URL))
            try:
                assert await connection.fetchval("SELECT pg_terminate_backend($1)", int(ids["postgresql"]))
            finally:
                await connection.close()
        if "redis" in ids:
            from redis.asyncio import Redis

            async with Redis.from_url(REDIS_URL) as client:
                assert await client.client_kill_filter(_id=ids["redis"]) == 1


@pytest.mark.slow  # server, worker and receiver processes
@pytest.mark.parametrize(("backend", "redis"), WAKE_UPS)
async def test_a_worker_with_a_30_s_poll_delivers_what_a_server_process_commits_at_once(
    backend, redis, database_url, processes, receiver, tmp_path
):
    await clean(database_url)
    extra = {"CALLGRID_RUN_EMBEDDED_WORKER": "false", "CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS": str(LONG_POLL)}
    if redis:
        extra |= {"CALLGRID_REDIS_URL": REDIS_URL, "CALLGRID_REDIS_PREFIX": f"callgrid-test-{uuid.uuid4().hex}"}
    env = subprocess_env(database_url, **extra)
    server = Served(env, free_port(), log=tmp_path / "serve.log")
    processes.append(server.process)
    key = server.first_key  # the server has migrated the database: the worker may start
    worker = forked.start(["worker"], env, stderr=tmp_path / "worker.log")
    processes.append(worker)
    listening = Listening(database_url, redis, worker.pid)
    ids = await listening.up()

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in (tmp_path / "serve.log", tmp_path / "worker.log"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {key}"},
                                 timeout=20, trust_env=False) as client:
        r = await client.post(ENDPOINTS, json={"url": receiver.url()})
        assert r.status_code == 201, r.text
        endpoint = r.json()
        receiver.trust(endpoint["secret"])
        mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]

        async def create_and_see_it_delivered(hour: int) -> dict:
            r = await client.post(CALLS, json={"title": f"at {hour}", "mango": mango, "startDate": "2030-01-02",
                                               "fromTime": f"{hour}:00", "timezoneName": "UTC", "duration": 60})
            assert r.status_code == 201, r.text
            call_id = r.json()["_id"]
            try:
                records = await receiver.wait(
                    lambda rs: any(x["status"] == 200 and x["json"]["data"]["_id"] == call_id for x in rs), timeout=AT_ONCE)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs()}") from None
            return next(x for x in records if x["json"]["data"]["_id"] == call_id)

        # One after another, each delivered within AT_ONCE of its commit: a worker that waited
        # for its 30 s poll could have delivered one of them at most.
        delivered = [await create_and_see_it_delivered(hour) for hour in (10, 11, 12)]

        # A manual retry wakes it too (no event row is inserted: the service asks for the wake-up).
        event_id = delivered[0]["json"]["id"]
        r = await client.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{event_id}/retry")
        assert r.status_code == 202, r.text
        await receiver.wait(lambda rs: sum(x["headers"]["webhook-id"] == event_id for x in rs) == 2, timeout=AT_ONCE)

        # Its listening connections are cut: it reconnects, and is woken at once again.
        await listening.cut(ids)
        await listening.up(besides=ids)
        delivered.append(await create_and_see_it_delivered(13))

    records = receiver.received()
    assert all(x["verified"] and x["status"] == 200 for x in records)
    assert Counter(x["json"]["type"] for x in records) == {"video_call.created": 5}  # 4 calls, 1 retry
    assert worker.poll() is None and server.process.poll() is None


@pytest.mark.slow  # server, worker and receiver processes
async def test_with_redis_unreachable_requests_succeed_and_the_poll_delivers(database_url, processes, receiver, tmp_path):
    """Redis down (nothing listens on its port): the server answers as usual, its publishes
    fail quietly, and the worker finds the events at its poll (and on PostgreSQL through LISTEN)."""
    await clean(database_url)
    env = subprocess_env(
        database_url,
        CALLGRID_RUN_EMBEDDED_WORKER="false",
        CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
        CALLGRID_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    server = Served(env, free_port(), log=tmp_path / "serve.log")
    processes.append(server.process)
    key = server.first_key
    worker = forked.start(["worker"], env, stderr=tmp_path / "worker.log")
    processes.append(worker)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {key}"},
                                 timeout=20, trust_env=False) as client:
        r = await client.post(ENDPOINTS, json={"url": receiver.url()})
        assert r.status_code == 201, r.text
        receiver.trust(r.json()["secret"])
        mango = (await client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
        created = []
        for hour in (10, 11, 12):
            r = await client.post(CALLS, json={"title": f"at {hour}", "mango": mango, "startDate": "2030-01-02",
                                               "fromTime": f"{hour}:00", "timezoneName": "UTC", "duration": 60})
            assert r.status_code == 201, r.text
            created.append(r.json()["_id"])
    records = await receiver.wait(lambda rs: {x["json"]["data"]["_id"] for x in rs if x["status"] == 200} >= set(created),
                                  timeout=30)
    assert all(x["verified"] for x in records)
    assert worker.poll() is None and server.process.poll() is None
    assert "could not publish on Redis" in (tmp_path / "serve.log").read_text()
    assert "webhook wake-ups through Redis lost" in (tmp_path / "worker.log").read_text()


# --- stopping ---------------------------------------------------------------------------------


async def test_a_publisher_stopped_as_its_notification_ends_stops():
    """The process stops (the publisher's task is cancelled) just as a notification it sends
    ends: the cancellation reaches the publisher all the same. With `asyncio.wait_for` around
    the send, Python 3.11 handed back the send's result instead, and the publisher went on
    waiting for the next commit: the process never finished stopping (a test hung so)."""
    from callgrid.webhooks.wakeup import _after_commits

    sent = []
    publisher: asyncio.Task

    async def send() -> None:
        # The stop comes after the send has ended, before the publisher has taken its result.
        asyncio.get_running_loop().call_soon(publisher.cancel)
        sent.append(1)

    publisher = asyncio.create_task(_after_commits("a test channel", send))
    await asyncio.sleep(0)  # registered with the notifier
    notifier.notify()
    done, _ = await asyncio.wait({publisher}, timeout=2)
    assert sent == [1]
    assert publisher in done, "the publisher did not stop"
    assert publisher.cancelled()
