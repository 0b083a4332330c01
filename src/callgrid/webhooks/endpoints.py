"""The management API for webhook endpoints: `/api/v1/webhook-endpoints`."""

from uuid import UUID

from fastapi import APIRouter, Request, Response

from callgrid.kit.clock import Now
from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.kit.pagination import Page, PageQuery, fetch_page
from callgrid.tenancy.auth import AdminPrincipal
from callgrid.webhooks import repository, service
from callgrid.webhooks.schemas import (
    AttemptRead,
    EndpointCreate,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    EventQueued,
    SecretRead,
)

router = APIRouter(prefix="/api/v1/webhook-endpoints", tags=["webhooks"], route_class=IdempotentRoute)


def _allow_private(request: Request) -> bool:
    return request.app.state.settings.webhook_allow_private_targets


@router.post("", status_code=201, response_model=EndpointWithSecret, summary="Create a webhook endpoint", dependencies=[Idempotent])
async def create_endpoint(
    body: EndpointCreate, request: Request, principal: AdminPrincipal, session: WriteSession
):
    """The response is the only one that carries the signing secret."""
    endpoint = await service.create_endpoint(session, principal.organization_id, body, allow_private=_allow_private(request))
    return EndpointWithSecret.model_validate(endpoint)


@router.get("", response_model=Page[EndpointRead], summary="List webhook endpoints")
async def list_endpoints(params: PageQuery, principal: AdminPrincipal, session: ReadSession):
    rows, total = await fetch_page(session, repository.list_endpoints(principal.organization_id), params.offset, params.page_size)
    return Page.of([EndpointRead.model_validate(row) for row in rows], total, params)


@router.get("/{endpoint_id}", response_model=EndpointRead, summary="One webhook endpoint")
async def get_endpoint(endpoint_id: UUID, principal: AdminPrincipal, session: ReadSession):
    return await service.get_or_404(session, principal.organization_id, endpoint_id)


@router.patch("/{endpoint_id}", response_model=EndpointRead, summary="Change a webhook endpoint")
async def update_endpoint(
    endpoint_id: UUID,
    body: EndpointUpdate,
    request: Request,
    principal: AdminPrincipal,
    session: WriteSession,
    now: Now,
):
    return await service.update_endpoint(
        session, principal.organization_id, endpoint_id, body, allow_private=_allow_private(request), now=now
    )


@router.delete("/{endpoint_id}", status_code=204, response_class=Response, summary="Delete a webhook endpoint")
async def delete_endpoint(endpoint_id: UUID, principal: AdminPrincipal, session: WriteSession):
    await service.delete_endpoint(session, principal.organization_id, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=SecretRead, summary="Replace the signing secret")
async def rotate_secret(endpoint_id: UUID, principal: AdminPrincipal, session: WriteSession, now: Now):
    """Returns the new secret; the old one stops signing at once."""
    return SecretRead(secret=await service.rotate_secret(session, principal.organization_id, endpoint_id, now))


@router.post("/{endpoint_id}/test", status_code=202, response_model=EventQueued, summary="Send a ping event to this endpoint")
async def send_test(
    endpoint_id: UUID,
    principal: AdminPrincipal,
    session: WriteSession,
    now: Now,
):
    event_id = await service.send_test(session, principal.organization_id, endpoint_id, now)
    return EventQueued(event_id=event_id, type="ping", state="pending", next_attempt_at=None)


@router.get("/{endpoint_id}/deliveries", response_model=Page[AttemptRead], summary="Delivery attempts to this endpoint, newest first")
async def list_deliveries(
    endpoint_id: UUID, params: PageQuery, principal: AdminPrincipal, session: ReadSession
):
    endpoint = await service.get_or_404(session, principal.organization_id, endpoint_id)
    found, total = await repository.page_attempts(session, principal.organization_id, endpoint.id, params.offset, params.page_size)
    items = [
        AttemptRead(
            id=attempt.id,
            event_id=attempt.event_id,
            event_type=event_type,
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            attempted_at=attempt.attempted_at,
            state=state,
        )
        for attempt, event_type, state in found
    ]
    return Page.of(items, total, params)


@router.post(
    "/{endpoint_id}/deliveries/{event_id}/retry",
    status_code=202,
    response_model=EventQueued,
    summary="Send an event to this endpoint again now",
)
async def retry_delivery(
    endpoint_id: UUID, event_id: UUID, principal: AdminPrincipal, session: WriteSession, now: Now
):
    delivery, event_type = await service.retry_delivery(session, principal.organization_id, endpoint_id, event_id, now)
    return EventQueued(event_id=delivery.event_id, type=event_type, state=delivery.state, next_attempt_at=delivery.next_attempt_at)
