"""Every webhook event type with the model of its `data`: the one list the reference
(docs/webhooks.md) and the tests hold the payloads to."""

from pydantic import BaseModel

from callgrid.appointments.schemas import AppointmentOut
from callgrid.bookings.render import EventCallData
from callgrid.rooms.recording.schemas import RecordingOut
from callgrid.rooms.schemas import RoomOut, SessionWebhook
from callgrid.video_calls.schemas import VideoCallOut
from callgrid.webhooks.events import EventType
from callgrid.webhooks.schemas import PingData

EVENT_PAYLOADS: dict[EventType, type[BaseModel]] = {
    EventType.VIDEO_CALL_CREATED: VideoCallOut,
    EventType.VIDEO_CALL_UPDATED: VideoCallOut,
    EventType.VIDEO_CALL_CANCELLED: VideoCallOut,
    EventType.APPOINTMENT_CREATED: AppointmentOut,
    EventType.APPOINTMENT_UPDATED: AppointmentOut,
    EventType.APPOINTMENT_CANCELLED: AppointmentOut,
    EventType.APPOINTMENT_ENDED: AppointmentOut,
    EventType.APPOINTMENT_PARTICIPANTS_ADDED: AppointmentOut,
    EventType.APPOINTMENT_PARTICIPANTS_REMOVED: AppointmentOut,
    EventType.EVENT_CALL_CREATED: EventCallData,
    EventType.EVENT_CALL_CANCELLED: EventCallData,
    EventType.EVENT_CALL_RESCHEDULED: EventCallData,
    EventType.ROOM_SESSION_JOINED: SessionWebhook,
    EventType.ROOM_SESSION_LEFT: SessionWebhook,
    EventType.ROOM_TERMINATED: RoomOut,
    EventType.RECORDING_READY: RecordingOut,
    EventType.PING: PingData,
}


def validate_payload(event_type: str, data: dict) -> BaseModel:
    """`data` checked against its event type's model (raises pydantic's ValidationError)."""
    return EVENT_PAYLOADS[EventType(event_type)].model_validate(data)
