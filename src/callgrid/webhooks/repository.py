"""Queries for the management API; every one takes the organization."""

from uuid import UUID

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.webhooks.models import EndpointKind, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


async def get_endpoint(session: AsyncSession, organization_id: UUID, endpoint_id: UUID) -> WebhookEndpoint | None:
    return (
        await session.execute(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.organization_id == organization_id,
                WebhookEndpoint.kind == EndpointKind.ORGANIZATION,  # a room's webhook is the rooms API's
            )
        )
    ).scalar_one_or_none()


def list_endpoints(organization_id: UUID) -> Select:
    return (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.kind == EndpointKind.ORGANIZATION)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )


def list_attempts(organization_id: UUID, endpoint_id: UUID) -> Select:
    """Attempts to one endpoint, newest first, with their event's type and delivery state."""
    return (
        select(WebhookAttempt, WebhookEvent.type, WebhookDelivery.state)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookAttempt.event_id)
        .where(WebhookAttempt.organization_id == organization_id, WebhookAttempt.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
    )


async def get_delivery(
    session: AsyncSession, organization_id: UUID, endpoint_id: UUID, event_id: UUID
) -> tuple[WebhookDelivery, WebhookEvent] | None:
    row = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.organization_id == organization_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.event_id == event_id,
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def page_attempts(
    session: AsyncSession, organization_id: UUID, endpoint_id: UUID, offset: int, limit: int
) -> tuple[list[Row], int]:
    statement = list_attempts(organization_id, endpoint_id)
    total = (
        await session.execute(
            select(func.count()).where(
                WebhookAttempt.organization_id == organization_id, WebhookAttempt.endpoint_id == endpoint_id
            )
        )
    ).scalar_one()
    rows = (await session.execute(statement.offset(offset).limit(limit))).all()
    return list(rows), total
