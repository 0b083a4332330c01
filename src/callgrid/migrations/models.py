"""Every model, imported once so that the metadata sees all tables: for Alembic (env.py
beside this file) and for tests that compare or clean the whole schema."""

from callgrid.calls.models import Call, Participant, Series  # noqa: F401
from callgrid.db.base import Base  # noqa: F401
from callgrid.directory.models import Contact, Host, Product, Subscription  # noqa: F401
from callgrid.rooms.models import Room, RoomEvent, RoomMember, ServerSecret  # noqa: F401
from callgrid.tenancy.models import ApiKey, Organization, WhitelabelDomain  # noqa: F401
from callgrid.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: F401
from callgrid.bookings.models import Booking, EventType, EventTypeHost  # noqa: F401
from callgrid.tenancy.models import NumberCounter  # noqa: F401
from callgrid.rooms.recording.models import Recording  # noqa: F401
from callgrid.idempotency.models import IdempotencyKey  # noqa: F401
