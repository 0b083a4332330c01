"""The delivery worker: fans new events out to endpoints, claims due deliveries, sends them.

Any number of workers may run against PostgreSQL: each claims work with
`SELECT ... FOR UPDATE SKIP LOCKED`, so two never claim the same delivery. On SQLite every
claiming transaction takes the database's write lock first (`BEGIN IMMEDIATE`), which
serialises them the same way.

A claim is a lease: claiming pushes the delivery's due time `lease` seconds ahead and stamps
it with a token. The worker records the attempt only while the token is still its own; a
worker that dies holding a claim simply lets the due time come round again, and another
worker (or the same one, restarted) sends it. Delivery is therefore at least once.
"""

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from sqlalchemy import bindparam, delete, exists, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from callgrid.config import Settings
from callgrid.db.base import UTCDateTime, new_id, utcnow
from callgrid.db.engine import is_sqlite
from callgrid.db.sections import Section, read_engine_rows, run_transaction
from callgrid.db.session import write_engine, write_session
from callgrid.observability.metrics import delivery_outcome
from callgrid.webhooks.models import DeliveryState, EndpointKind, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from callgrid.webhooks.notify import notifier
from callgrid.webhooks.schedule import next_delay, parse_schedule
from callgrid.webhooks.sender import Job, Outcome, send
from callgrid.webhooks.wakeup import listening, publishing

log = logging.getLogger("callgrid.webhooks")

PENDING = literal_column("'pending'")  # a literal, so PostgreSQL matches the partial index
DISPATCH_BATCH = 500
PRUNE_BATCH = 1000
COALESCE_SECONDS = 0.05
PRUNE_FIRST = 60.0  # seconds after start
PRUNE_EVERY = 3600.0  # seconds


def first_id_at(moment: datetime) -> UUID:
    """The smallest UUIDv7 of `moment`'s millisecond: event ids are UUIDv7 (time first), so
    `id < first_id_at(t)` means "created before t" and runs on the primary-key index."""
    return UUID(int=int(moment.timestamp() * 1000) << 80)


def lease_seconds(settings: Settings) -> float:
    """How long a claim holds: enough for one attempt (bounded by its timeout) with room to record it."""
    return 2 * settings.webhook_timeout_seconds + 2


class DeliveryWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
    ):
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.schedule = parse_schedule(settings.webhook_retry_schedule)
        self.lease = timedelta(seconds=lease_seconds(settings))
        self.concurrency = settings.webhook_concurrency
        self._client = client
        self._own_client = client is None
        self._inflight: set[asyncio.Task] = set()
        # On SQLite a round reads before it writes, so an idle worker never takes the write
        # lock. PostgreSQL has no such lock: there `SELECT ... FOR UPDATE SKIP LOCKED` finding
        # nothing costs what the read would, and skipping the read saves three round trips
        # between a wake-up and the first attempt.
        self._read_first = is_sqlite(settings.database_url)

    # --- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then let in-flight attempts finish (bounded by their timeout).

        Between rounds it sleeps until woken: by a commit of events in this process, in another
        process (LISTEN/NOTIFY on PostgreSQL, Redis when configured: see `wakeup`), by a free
        delivery slot, or by the poll interval, whichever comes first."""
        wake = notifier.register()
        failures = 0
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_FIRST
        log.info("webhook worker started", extra={"fields": {
            "concurrency": self.concurrency, "poll_interval_s": self.settings.webhook_poll_interval_seconds}})
        try:
            async with listening(self.settings, wake):
                while not stop.is_set():
                    wake.clear()
                    busy = False
                    last_round = loop.time()
                    try:
                        if loop.time() >= next_prune:
                            next_prune = loop.time() + PRUNE_EVERY
                            await self.prune()
                        busy = await self.step()
                        failures = 0
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        failures += 1
                        log.exception("webhook worker step failed")
                    if busy and len(self._inflight) < self.concurrency:
                        continue
                    pause = self.settings.webhook_poll_interval_seconds * (min(failures, 10) + 1)
                    # A finished attempt wakes it only when due work is waiting for a free slot.
                    await self._wait(wake, stop, pause, for_slot=busy)
                    if wake.is_set() and not stop.is_set():
                        # Woken by a commit. An idle worker goes at once; one that went less
                        # than COALESCE_SECONDS ago waits out the rest, so the commits of a busy
                        # moment are served in batches instead of one write transaction each.
                        rest = last_round + COALESCE_SECONDS - loop.time()
                        if rest > 0:
                            await asyncio.sleep(rest)
        finally:
            notifier.unregister(wake)
            await self._drain()
            await self.aclose()
            log.info("webhook worker stopped")

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects followed (a 3xx is a failed attempt); no proxies from the
            # environment (they would bypass the address check).
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _wait(self, wake: asyncio.Event, stop: asyncio.Event, timeout: float, *, for_slot: bool = False) -> None:
        """Sleep until woken (a commit here or elsewhere), by `stop`, by `timeout`, or (with
        `for_slot`) by a finished attempt freeing a slot."""
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        slots = list(self._inflight) if for_slot else []
        try:
            await asyncio.wait([*waiters, *slots], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _drain(self) -> None:
        if not self._inflight:
            return
        _, pending = await asyncio.wait(self._inflight, timeout=self.settings.webhook_timeout_seconds + 5)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)

    async def step(self) -> bool:
        """One round: fan out new events (the deliveries due at once go straight into free
        slots), claim what else is due into the slots left. True if there may be more to do
        right away (a full batch of events, or every free slot filled)."""
        more = False
        free = self.concurrency - len(self._inflight)
        if not self._read_first or await self._has_undispatched():
            handled, jobs = await self._fan_out(claim=free)
            self._start(jobs)
            free -= len(jobs)
            more = handled >= DISPATCH_BATCH or free == 0
        if free > 0 and (not self._read_first or await self._has_due()):
            jobs = await self.claim(free)
            self._start(jobs)
            more = more or len(jobs) == free
        return more

    def _start(self, jobs: list[Job]) -> None:
        for job in jobs:
            task = asyncio.create_task(self.attempt(job))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    # --- read-only checks, so an idle worker never takes SQLite's write lock (SQLite only) ---
    # Each is one statement on a pooled connection (db.sections): one trip to the driver's
    # thread on SQLite, where a session's BEGIN, execute, fetch and ROLLBACK took four or more.

    async def _has_undispatched(self) -> bool:
        return bool(await read_engine_rows(self.sessionmaker.kw["bind"], _ANY_UNDISPATCHED))

    async def _has_due(self) -> bool:
        return bool(await read_engine_rows(self.sessionmaker.kw["bind"], _ANY_DUE, {"now": utcnow()}))

    def _writing(self):
        """A session whose transaction writes (SQLite: `BEGIN IMMEDIATE`, in turn with this
        process's requests)."""
        return write_session(self.sessionmaker)

    # --- fan-out ---------------------------------------------------------------------------

    async def dispatch(self) -> int:
        """Turn new events into one pending delivery per matching endpoint; returns events handled."""
        return (await self._fan_out())[0]

    async def _fan_out(self, claim: int = 0) -> tuple[int, list[Job]]:
        """`dispatch`; and when the first attempt is due at once, up to `claim` of the new
        deliveries are created already claimed by this worker (as `claim` would, a lease and a
        token): one transaction fewer between an event's commit and its first attempt.
        Returns (events handled, jobs claimed). One write section (db.sections): on SQLite a
        single trip to the write connection's thread, on PostgreSQL a statement per round
        trip; plain rows, no session, no ORM objects on the worker's hot path."""
        return await run_transaction(write_engine(self.sessionmaker), self._fan_out_section(claim))

    def _fan_out_section(self, claim: int) -> Section[tuple[int, list[Job]]]:
        rows = yield _UNDISPATCHED_EVENTS, None
        if not rows:
            return 0, []
        events = [_Columns(EVENT_COLUMNS, row) for row in rows]
        now = utcnow()
        by_org: dict[UUID, list] = {}
        rows = yield _ENDPOINTS_OF_UNDISPATCHED, None
        for row in rows:
            endpoint = _Columns(ENDPOINT_COLUMNS, row)
            by_org.setdefault(endpoint.organization_id, []).append(endpoint)
        first_due = now + timedelta(seconds=self.schedule[0])
        if first_due > now:
            claim = 0
        token = new_id()
        deliveries, jobs = [], []
        for event in events:
            for endpoint in by_org.get(event.organization_id, ()):
                if not _wants(endpoint, event):
                    continue
                claimed = len(jobs) < claim
                delivery_id = new_id()
                deliveries.append(
                    {
                        "id": delivery_id,
                        "organization_id": event.organization_id,
                        "event_id": event.id,
                        "endpoint_id": endpoint.id,
                        "state": DeliveryState.PENDING.value,
                        "attempts": 0,
                        "step": 0,
                        "next_attempt_at": now + self.lease if claimed else first_due,
                        "lease_token": token if claimed else None,
                        "last_status": None,
                        "last_error": None,
                        "delivered_at": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if claimed:
                    jobs.append(_job(delivery_id, token, event.organization_id, 1, 0, event, endpoint))
        if deliveries:
            yield _INSERT_DELIVERIES, deliveries
        yield _MARK_DISPATCHED, [{"event_id": event.id, "now": now} for event in events]
        return len(events), jobs

    # --- claiming --------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Job]:
        """Take up to `limit` due deliveries of enabled endpoints, under a fresh lease."""
        async with self._writing() as session:
            now = utcnow()
            rows = (
                await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.organization_id, WebhookDelivery.attempts,
                           WebhookDelivery.step, *EVENT_COLUMNS, *ENDPOINT_COLUMNS)
                    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(
                        WebhookDelivery.state == PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                        WebhookEndpoint.enabled.is_(True),
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(of=WebhookDelivery.__table__, skip_locked=True)
                )
            ).all()
            if not rows:
                await session.rollback()
                return []
            token = new_id()
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([row[0] for row in rows]))
                .values(next_attempt_at=now + self.lease, lease_token=token, updated_at=now)
            )
            await session.commit()
        split = 4 + len(EVENT_COLUMNS)
        return [
            _job(row[0], token, row[1], row[2] + 1, row[3], _Columns(EVENT_COLUMNS, row[4:split]),
                 _Columns(ENDPOINT_COLUMNS, row[split:]))
            for row in rows
        ]

    # --- retention --------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete events older than the retention (their deliveries and attempts go with them)
        unless one of their deliveries is pending; returns how many. Runs a minute after the
        worker starts and then every hour."""
        days = self.settings.webhook_retention_days
        if not days:
            return 0
        cutoff = first_id_at(utcnow() - timedelta(days=days))
        batch = (
            select(WebhookEvent.id)
            .where(
                WebhookEvent.id < cutoff,
                WebhookEvent.dispatched_at.is_not(None),
                ~exists().where(WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.state == PENDING),
            )
            .limit(PRUNE_BATCH)
        )
        async with self.sessionmaker() as session:  # a read first: no write lock when there is nothing to do
            if (await session.execute(batch.limit(1))).first() is None:
                return 0
        removed = 0
        while True:
            async with self._writing() as session:
                ids = (await session.execute(batch)).scalars().all()
                if ids:
                    await session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
                await session.commit()
            removed += len(ids)
            if len(ids) < PRUNE_BATCH:
                return removed

    # --- one attempt -----------------------------------------------------------------------

    async def attempt(self, job: Job) -> Outcome:
        outcome = await send(
            self.client,
            job,
            timeout=self.settings.webhook_timeout_seconds,
            allow_private=self.settings.webhook_allow_private_targets,
        )
        try:
            await self.record(job, outcome)
        except Exception:
            # The lease runs out and the delivery comes due again: at least once.
            log.exception("could not record webhook attempt %s of delivery %s", job.attempt, job.delivery_id)
        return outcome

    async def record(self, job: Job, outcome: Outcome) -> bool:
        """Write the attempt and move the delivery on; False if the claim was lost meanwhile."""
        now = utcnow()
        values: dict = {"attempts": job.attempt, "last_status": outcome.status_code, "last_error": outcome.error,
                        "lease_token": None, "updated_at": now}
        if outcome.ok:
            values.update(state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
        elif outcome.gone:
            values.update(state=DeliveryState.FAILED, next_attempt_at=None)
        else:
            delay = next_delay(self.schedule, job.step + 1, outcome.retry_after)
            if delay is None:
                values.update(state=DeliveryState.FAILED, next_attempt_at=None, step=job.step + 1)
            else:
                values.update(next_attempt_at=now + timedelta(seconds=delay), step=job.step + 1)
        async with self._writing() as session:
            result = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == job.delivery_id, WebhookDelivery.lease_token == job.lease_token)
                .values(**values)
            )
            if result.rowcount != 1:
                await session.rollback()
                log.info("webhook attempt %s of delivery %s not recorded: its claim ran out and was taken over",
                         job.attempt, job.delivery_id)
                return False
            await session.execute(
                insert(WebhookAttempt.__table__).values(
                    id=new_id(),
                    organization_id=job.organization_id,
                    delivery_id=job.delivery_id,
                    event_id=job.event_id,
                    endpoint_id=job.endpoint_id,
                    attempt=job.attempt,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    attempted_at=outcome.attempted_at,
                )
            )
            if outcome.gone:
                await session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == job.endpoint_id)
                    .values(enabled=False, disabled_reason=f"the target answered 410 Gone at {now.isoformat()}",
                            updated_at=now)
                )
            await session.commit()
        _log_attempt(job, outcome, values.get("next_attempt_at"))
        return True


# What fan-out and claims read of events and endpoints: plain rows, no ORM objects.
EVENT_COLUMNS = (WebhookEvent.id, WebhookEvent.organization_id, WebhookEvent.type, WebhookEvent.payload,
                 WebhookEvent.endpoint_id, WebhookEvent.created_at)
ENDPOINT_COLUMNS = (WebhookEndpoint.id, WebhookEndpoint.organization_id, WebhookEndpoint.url, WebhookEndpoint.headers,
                    WebhookEndpoint.secret, WebhookEndpoint.events, WebhookEndpoint.created_at, WebhookEndpoint.kind)


# The fan-out's and the checks' statements, built once (db.sections compiles each once).
_EVENTS = WebhookEvent.__table__
_ANY_UNDISPATCHED = select(WebhookEvent.id).where(WebhookEvent.dispatched_at.is_(None)).limit(1)
_ANY_DUE = (
    select(WebhookDelivery.id)
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(
        WebhookDelivery.state == PENDING,
        WebhookDelivery.next_attempt_at <= bindparam("now", type_=UTCDateTime()),
        WebhookEndpoint.enabled.is_(True),
    )
    .limit(1)
)
_UNDISPATCHED_EVENTS = (
    select(*EVENT_COLUMNS)
    .where(WebhookEvent.dispatched_at.is_(None))
    .order_by(WebhookEvent.created_at, WebhookEvent.id)
    .limit(DISPATCH_BATCH)
    .with_for_update(skip_locked=True)
)
# The enabled endpoints of every organization with an event not fanned out yet: those of the
# events just read, and perhaps a few more (events another worker holds), matched by
# organization in Python.
_ENDPOINTS_OF_UNDISPATCHED = select(*ENDPOINT_COLUMNS).where(
    WebhookEndpoint.enabled.is_(True),
    WebhookEndpoint.organization_id.in_(
        select(WebhookEvent.organization_id).where(WebhookEvent.dispatched_at.is_(None)).scalar_subquery()
    ),
)
_INSERT_DELIVERIES = insert(WebhookDelivery.__table__)
_MARK_DISPATCHED = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(dispatched_at=bindparam("now", type_=UTCDateTime()))
)


class _Columns:
    """One row's slice as attributes (a claim reads an event's and an endpoint's columns in one row)."""

    def __init__(self, columns, values):
        for column, value in zip(columns, values, strict=True):
            setattr(self, column.key, value)


def _job(delivery_id: UUID, token: UUID, organization_id: UUID, attempt: int, step: int, event, endpoint) -> Job:
    return Job(
        delivery_id=delivery_id,
        lease_token=token,
        organization_id=organization_id,
        attempt=attempt,
        step=step,
        event_id=event.id,
        event_type=event.type,
        event_created_at=event.created_at,
        payload=event.payload,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        headers=dict(endpoint.headers or {}),
        secret=endpoint.secret,
        raw=endpoint.kind == EndpointKind.ROOM,
    )


def shown_url(url: str) -> str:
    """A webhook target as logs show it: without user info, query or fragment (they may hold secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _log_attempt(job: Job, outcome: Outcome, next_attempt_at: datetime | None) -> None:
    """One line per attempt (event, endpoint, status, attempt number, next retry); the metric."""
    if outcome.ok:
        result, level = "delivered", logging.INFO
    elif next_attempt_at is None:
        result, level = "failed", logging.WARNING
    else:
        result, level = "retrying", logging.WARNING
    delivery_outcome(result)
    if log.isEnabledFor(level):
        log.log(level, "webhook %s %s", job.event_type, result, extra={"fields": {
            "event_id": str(job.event_id),
            "delivery_id": str(job.delivery_id),
            "endpoint_id": str(job.endpoint_id),
            "endpoint": shown_url(job.url),
            "attempt": job.attempt,
            "status": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
            "next_retry": next_attempt_at.isoformat().replace("+00:00", "Z") if next_attempt_at else None,
        }})


def _wants(endpoint, event) -> bool:
    if event.endpoint_id is not None:
        return event.endpoint_id == endpoint.id
    if endpoint.kind == EndpointKind.ROOM:
        return False  # a room's webhook gets only the events addressed to it
    if endpoint.created_at > event.created_at:
        return False  # an endpoint hears what happens after it was created
    return endpoint.events is None or event.type in endpoint.events



@asynccontextmanager
async def embedded_worker(sessionmaker: async_sessionmaker, settings: Settings, *, enabled: bool = True):
    """The server process's part in webhook delivery, for the duration of the block (`callgrid
    serve`): telling other processes' workers of its commits of events (`wakeup.publishing`:
    NOTIFY on PostgreSQL, a publish on Redis when configured); and, when `enabled`, a delivery
    worker as a task."""
    async with publishing(settings, sessionmaker.kw.get("bind")):
        if not enabled:
            yield None
            return
        stop = asyncio.Event()
        worker = DeliveryWorker(sessionmaker, settings)
        task = asyncio.create_task(worker.run(stop), name="callgrid-webhook-worker")
        try:
            yield worker
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=settings.webhook_timeout_seconds + 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:
                log.exception("webhook worker ended with an error")


async def run_standalone(settings: Settings, stop: asyncio.Event) -> None:
    """`callgrid worker`: its own engine, one worker, until `stop`."""
    from callgrid.db.encrypted import load_keyring
    from callgrid.db.engine import create_engine, create_sessionmaker

    engine = create_engine(settings)
    try:
        await load_keyring(settings, engine)
        await DeliveryWorker(create_sessionmaker(engine), settings).run(stop)
    finally:
        await engine.dispose()
