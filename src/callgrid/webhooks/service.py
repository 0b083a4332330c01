"""Webhook endpoints: create, change, rotate, test, retry. Services flush; the request commits."""

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.base import utcnow
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.webhooks import repository
from callgrid.webhooks.events import EventType, emit
from callgrid.webhooks.models import DeliveryState, EndpointKind, WebhookDelivery, WebhookEndpoint
from callgrid.webhooks.schemas import EndpointCreate, EndpointUpdate
from callgrid.webhooks.signing import new_secret
from callgrid.webhooks.targets import TargetError, check_at_creation, parse_url
from callgrid.webhooks.wakeup import notify_workers


async def _check_target(url: str, allow_private: bool, field: str = "url") -> None:
    if allow_private:
        return
    try:
        await check_at_creation(parse_url(url))
    except TargetError as exc:
        raise BadRequest(str(exc), field=field) from None


async def set_owned_endpoint(
    session: AsyncSession,
    organization_id: UUID,
    endpoint: WebhookEndpoint | None,
    *,
    url: str,
    headers: dict[str, str],
    allow_private: bool,
    now: datetime,
    field: str = "webhook.url",
) -> tuple[WebhookEndpoint, str | None]:
    """A webhook owned by another resource (a room's): kind `room`, hidden from the endpoints
    API, sent only the events addressed to it, its payload as the body. Creates it (returning
    its new secret) or changes its URL and headers (returning None for the secret)."""
    if endpoint is None or endpoint.url != url:
        await _check_target(url, allow_private, field)
    if endpoint is None:
        endpoint = WebhookEndpoint(
            organization_id=organization_id,
            url=url,
            headers=headers,
            events=None,
            description="",
            enabled=True,
            secret=new_secret(),
            kind=EndpointKind.ROOM,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
        await session.flush()
        return endpoint, endpoint.secret
    endpoint.url, endpoint.headers, endpoint.updated_at = url, headers, now
    if not endpoint.enabled:  # a 410 disabled it; setting it again is asking for it back
        endpoint.enabled, endpoint.disabled_reason = True, None
    await session.flush()
    return endpoint, None


async def rotate_owned_secret(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> str:
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await session.flush()
    return endpoint.secret


async def get_or_404(session: AsyncSession, organization_id: UUID, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, organization_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}", field="id")
    return endpoint


async def create_endpoint(
    session: AsyncSession, organization_id: UUID, data: EndpointCreate, *, allow_private: bool
) -> WebhookEndpoint:
    await _check_target(data.url, allow_private)
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=data.url,
        events=data.events,
        description=data.description,
        headers=data.headers,
        enabled=data.enabled,
        secret=new_secret(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def update_endpoint(
    session: AsyncSession, organization_id: UUID, endpoint_id: UUID, data: EndpointUpdate, *, allow_private: bool, now: datetime
) -> WebhookEndpoint:
    endpoint = await get_or_404(session, organization_id, endpoint_id)
    fields = data.model_dump(exclude_unset=True)
    for name in ("url", "description", "headers", "enabled"):
        if name in fields and fields[name] is None:
            raise BadRequest("must not be null", field=name)
    if "url" in fields and fields["url"] != endpoint.url:
        await _check_target(fields["url"], allow_private)
        endpoint.url = fields["url"]
    if "events" in fields:
        endpoint.events = fields["events"]
    if "description" in fields:
        endpoint.description = fields["description"]
    if "headers" in fields:
        endpoint.headers = fields["headers"]
    resumed = False
    if "enabled" in fields:
        resumed = fields["enabled"] and not endpoint.enabled
        endpoint.enabled = fields["enabled"]
        if endpoint.enabled:
            endpoint.disabled_reason = None
    endpoint.updated_at = now
    await session.flush()
    if resumed:
        notify_workers(session)  # its pending deliveries may be due now
    return endpoint


async def delete_endpoint(session: AsyncSession, organization_id: UUID, endpoint_id: UUID) -> None:
    endpoint = await get_or_404(session, organization_id, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(session: AsyncSession, organization_id: UUID, endpoint_id: UUID, now: datetime) -> str:
    endpoint = await get_or_404(session, organization_id, endpoint_id)
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await session.flush()
    return endpoint.secret


async def send_test(session: AsyncSession, organization_id: UUID, endpoint_id: UUID, now: datetime) -> UUID:
    """Queue a `ping` event for this endpoint alone; returns the event id."""
    endpoint = await get_or_404(session, organization_id, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first", field="enabled")
    return await emit(
        session,
        organization_id,
        EventType.PING,
        {"endpoint_id": str(endpoint.id), "message": "a test event from Callgrid", "sent_at": now},
        endpoint_id=endpoint.id,
    )


async def retry_delivery(
    session: AsyncSession, organization_id: UUID, endpoint_id: UUID, event_id: UUID, now: datetime
) -> tuple[WebhookDelivery, str]:
    """Send an event to an endpoint again now: the delivery goes back to pending with a fresh schedule."""
    endpoint = await get_or_404(session, organization_id, endpoint_id)
    found = await repository.get_delivery(session, organization_id, endpoint.id, event_id)
    if found is None:
        raise NotFound(f"no delivery of event {event_id} to this endpoint", field="event_id")
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first", field="enabled")
    delivery, event = found
    delivery.state = DeliveryState.PENDING
    delivery.step = 0
    # Due by the delivery workers' clock, which is the real one (the request's `now` is the
    # API's, which tests move).
    delivery.next_attempt_at = utcnow()
    delivery.lease_token = None  # an attempt in flight now will not be recorded over this one
    delivery.updated_at = now
    await session.flush()
    notify_workers(session)
    return delivery, event.type
