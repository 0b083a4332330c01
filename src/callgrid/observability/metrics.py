"""Prometheus metrics (`prometheus-client`), served at `GET /metrics`.

- `callgrid_http_requests_total{method, route, status}` and
  `callgrid_http_request_duration_seconds{method, route}` (histogram): every HTTP request, by
  its route template (`/api/v1/hosts/{host_id}`; `<unmatched>` for a path no route has);
- `callgrid_webhook_deliveries_total{outcome}`: delivery attempts made by the webhook workers
  of this process, by outcome (`delivered`, `retrying`: failed with a retry scheduled,
  `failed`: failed for good);
- `callgrid_webhook_oldest_undelivered_event_age_seconds`: how long the oldest event still
  waiting for a delivery has waited (0 when none), read from the database at scrape time, so
  it covers every worker process;
- `callgrid_room_participants`: live room sessions connected to this server.

With `callgrid serve --workers N` (N > 1), the worker processes share their values through
files in `PROMETHEUS_MULTIPROC_DIR` (a temporary directory `serve` makes and removes), and any
process answering `/metrics` reports the sum.
"""

import logging
import os
import time
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

log = logging.getLogger("callgrid.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "callgrid_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "callgrid_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_DELIVERIES = Counter(
    "callgrid_webhook_deliveries", "Webhook delivery attempts by outcome (delivered, retrying, failed)", ["outcome"]
)
ROOM_PARTICIPANTS = Gauge(
    "callgrid_room_participants", "Live room sessions connected to this server", multiprocess_mode="livesum"
)

UNMATCHED = "<unmatched>"


class HttpMetrics:
    """Counts requests; the labelled children are cached, so a request costs two dictionary
    lookups and two increments."""

    __slots__ = ("_counters", "_histograms")

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], object] = {}
        self._histograms: dict[tuple[str, str], object] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = HTTP_REQUESTS.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = HTTP_DURATION.labels(method, route)
        histogram.observe(seconds)


def delivery_outcome(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def process_ended() -> None:
    """This process's live gauges no longer count (multi-process mode, at shutdown)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        try:
            mp.mark_process_dead(os.getpid())
        except Exception:
            log.debug("could not remove this process's metric files", exc_info=True)


async def oldest_undelivered_age(database) -> float:
    """Seconds since the oldest event that is not delivered yet was created: not yet fanned out,
    or with a pending delivery to an enabled endpoint; 0 when there is none."""
    from callgrid.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent

    undispatched = select(func.min(WebhookEvent.created_at)).where(WebhookEvent.dispatched_at.is_(None))
    pending = (
        select(func.min(WebhookEvent.created_at))
        .select_from(WebhookDelivery)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.state == DeliveryState.PENDING.value, WebhookEndpoint.enabled.is_(True))
    )
    async with database.read() as session:
        found = [(await session.execute(query)).scalar() for query in (undispatched, pending)]
    found = [moment for moment in found if moment is not None]
    if not found:
        return 0.0
    oldest = min(moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in found)
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds())


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


async def render(database) -> tuple[bytes, str]:
    """The exposition: this process's (or every worker process's) metrics and those read now."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    families = []
    started = time.perf_counter()
    try:
        age = await oldest_undelivered_age(database)
    except Exception as exc:
        log.warning("metrics: could not read the oldest undelivered webhook event (%s: %s)", type(exc).__name__, exc)
    else:
        families.append(
            GaugeMetricFamily(
                "callgrid_webhook_oldest_undelivered_event_age_seconds",
                "Age of the oldest webhook event not delivered yet (0: none), read from the database at scrape time",
                value=age,
            )
        )
    families.append(
        GaugeMetricFamily("callgrid_metrics_scrape_database_seconds", "Time the database reads of this scrape took",
                          value=time.perf_counter() - started)
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return body + generate_latest(registry), CONTENT_TYPE_LATEST
