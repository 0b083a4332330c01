"""Webhook endpoints, the outbox of events, delivery state per (event, endpoint), attempts.

The pipeline:
  1. `emit()` adds one `WebhookEvent` row inside the transaction of the change (one INSERT,
     batched with the change's own rows at commit; a rollback takes it away with the change).
  2. A worker fans each new event out into one `WebhookDelivery` per matching endpoint.
  3. Workers claim due deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on
     SQLite), send them, record a `WebhookAttempt` and move the delivery on.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, new_id, utcnow
from callgrid.db.encrypted import EncryptedString, EncryptedValues


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EndpointKind(StrEnum):
    ORGANIZATION = "organization"
    ROOM = "room"


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # None: every event type, including types added later.
    events: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Header names as they are, their values encrypted (they hold receivers' credentials).
    headers: Mapped[dict[str, str]] = mapped_column(EncryptedValues, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    # Encrypted, not hashed: it is a shared HMAC key, needed to sign every delivery.
    secret: Mapped[str] = mapped_column(EncryptedString(512))
    # `organization`: managed through /api/v1/webhook-endpoints, gets every matching event in
    # the envelope. `room`: a room's own webhook (rooms API): hidden from that API, gets only
    # the events addressed to it (`WebhookEvent.endpoint_id`), whose payload is sent as the
    # body itself, without an envelope.
    kind: Mapped[str] = mapped_column(String(16), default=EndpointKind.ORGANIZATION, server_default="organization")


class WebhookEvent(Base):
    """The outbox: one row per thing that happened, written with the change."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(
            "ix_webhook_events_undispatched",
            "created_at",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
        Index("ix_webhook_events_organization_id_created_at", "organization_id", "created_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    # `data` as JSON text, serialised once at emit time; the envelope is built around it.
    payload: Mapped[str] = mapped_column(Text)
    # Set for events meant for one endpoint only (`ping` from POST /{id}/test).
    endpoint_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When a worker fanned it out into deliveries; NULL while it waits for that.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    """The state of one event for one endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    event_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    # Attempts made so far (numbers them) and the step of the retry schedule the next one is on.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    # Due time while pending. A worker that claims it pushes it past its lease, so a claim
    # held by a worker that died comes due again by itself.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_token: Mapped[UUID | None] = mapped_column(default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookAttempt(Base):
    """One HTTP request made for a delivery."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "attempt"),
        Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    delivery_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    event_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
