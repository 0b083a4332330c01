"""The event-calls API (`/v1/eventCalls`): an invitee's booking of an event type, per the seed."""
