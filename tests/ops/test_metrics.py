"""GET /metrics on the app in this process, read with prometheus-client's own parser."""

from datetime import timedelta
from uuid import UUID

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from callgrid.db.base import utcnow
from callgrid.db.session import write_session
from callgrid.webhooks.models import WebhookEvent
from tests.support.tenants import client


async def scrape(http) -> dict:
    """{family name: family}, from a scrape of /metrics."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict, sample_name: str, **labels: str) -> float | None:
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


async def test_requests_are_counted_by_route_template_and_status_with_their_latency(tenant, anonymous):
    before = await scrape(anonymous)
    counted = dict(method="GET", route="/api/v1/hosts/{host_id}", status="200")
    start = value(before, "callgrid_http_requests_total", **counted) or 0
    for _ in range(3):
        assert (await tenant.client.get(f"/api/v1/hosts/{tenant.host_id}")).status_code == 200
    assert (await anonymous.get("/api/v1/hosts")).status_code == 401
    assert (await anonymous.get(f"/no/such/{tenant.host_id}")).status_code == 404

    families = await scrape(anonymous)
    assert families["callgrid_http_requests"].type == "counter"
    assert value(families, "callgrid_http_requests_total", **counted) == start + 3
    assert value(families, "callgrid_http_requests_total", method="GET", route="/api/v1/hosts", status="401") >= 1
    assert value(families, "callgrid_http_requests_total", method="GET", route="<unmatched>", status="404") >= 1
    # No path with an id in it becomes a label.
    routes = {s.labels["route"] for s in families["callgrid_http_requests"].samples if "route" in s.labels}
    assert not any(tenant.host_id in route for route in routes)

    latency = families["callgrid_http_request_duration_seconds"]
    assert latency.type == "histogram"
    count = value(families, "callgrid_http_request_duration_seconds_count", method="GET", route="/api/v1/hosts/{host_id}")
    assert count == value(families, "callgrid_http_request_duration_seconds_bucket",
                          method="GET", route="/api/v1/hosts/{host_id}", le="+Inf") >= 3
    assert 0 < value(families, "callgrid_http_request_duration_seconds_sum", method="GET", route="/api/v1/hosts/{host_id}") < 60 * count

    assert families["callgrid_webhook_deliveries"].type == "counter"
    assert families["callgrid_room_participants"].type == "gauge"


async def test_the_oldest_undelivered_event_age_is_read_at_scrape_time(app, tenant, anonymous):
    families = await scrape(anonymous)
    assert value(families, "callgrid_webhook_oldest_undelivered_event_age_seconds") == 0

    async with write_session(app.state.database) as session:
        for minutes in (2, 1):
            session.add(WebhookEvent(organization_id=UUID(tenant.organization_id), type="ping", payload="{}",
                                     created_at=utcnow() - timedelta(minutes=minutes)))
        await session.commit()
    age = value(await scrape(anonymous), "callgrid_webhook_oldest_undelivered_event_age_seconds")
    assert 120 <= age < 180

    async with write_session(app.state.database) as session:
        await session.execute(update(WebhookEvent).values(dispatched_at=utcnow()))
        await session.commit()
    assert value(await scrape(anonymous), "callgrid_webhook_oldest_undelivered_event_age_seconds") == 0


async def test_metrics_can_be_turned_off(settings, started):
    application = await started.app(settings.model_copy(update={"metrics": False}))
    async with client(application) as anybody:
        response = await anybody.get("/metrics")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await anybody.get("/healthz")).json() == {"status": "ok"}
