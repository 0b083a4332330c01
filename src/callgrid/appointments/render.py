"""Calls and participants into the appointments API's JSON (the seed's names and types)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.datastructures import URL

from callgrid.appointments.schemas import CONFIG_FLAGS, DEFAULT_CONFIG
from callgrid.calls.models import Call, Participant
from callgrid.calls.status import CallStatus, call_status
from callgrid.kit.pagination import max_page
from callgrid.kit.timestamps import utc_iso
from callgrid.rooms.service import CallLinks

timestamp = utc_iso  # `2019-08-24T14:15:22Z` (fractional seconds when there are any)


def status(call: Call, now: datetime) -> CallStatus:
    return call_status(call.status, call.starts_at, call.ends_at, now)


def duration_minutes(call: Call) -> int:
    return int((call.ends_at - call.starts_at).total_seconds() // 60)


def config(stored: dict | None) -> dict[str, bool]:
    """All six flags: those stored over the defaults."""
    return {**DEFAULT_CONFIG, **{k: v for k, v in (stored or {}).items() if k in CONFIG_FLAGS}}


def participant(p: Participant, call: Call | None = None, links: CallLinks | None = None) -> dict[str, Any]:
    """With `call` and `links`, the participant's `join_url`: their personal link into the
    appointment's room (a token for their `unique_id`, valid until the end plus an hour)."""
    rendered = {"id": str(p.id), "unique_id": p.unique_id, "display_name": p.display_name, "role": p.role}
    if call is not None and links is not None:
        # No name in the token: the room's member carries it (and follows renames).
        rendered["join_url"] = links.join_url(call.id, p.unique_id, call.ends_at)
    return rendered


def appointment(call: Call, participants: Sequence[Participant], now: datetime, links: CallLinks | None = None) -> dict[str, Any]:
    """The detail: what retrieve, create, update and the participant bulk calls answer, and the
    `data` of every `appointment.*` webhook event."""
    return {
        "id": str(call.id),
        "title": call.title,
        "start_date_time": timestamp(call.starts_at),
        "duration_minutes": duration_minutes(call),
        "status": status(call, now).value,
        "config": config(call.config),
        "participants": [participant(p, call, links) for p in participants],
        "created_at": timestamp(call.created_at),
        "updated_at": timestamp(call.updated_at),
    }


def list_item(call: Call, participant_count: int, organization_name: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(call.id),
        "title": call.title,
        "start_date_time": timestamp(call.starts_at),
        "duration_minutes": duration_minutes(call),
        "status": status(call, now).value,
        "participant_count": participant_count,
        "organization_name": organization_name,
        "created_at": timestamp(call.created_at),
    }


def page(url: URL, results: list[dict[str, Any]], count: int, page_number: int, page_size: int) -> dict[str, Any]:
    """`{"count", "next", "previous", "results"}`; next and previous are this request's URL with
    its other query parameters kept and `page` moved."""
    last = max_page(count, page_size)
    return {
        "count": count,
        "next": str(url.include_query_params(page=page_number + 1)) if page_number < last else None,
        "previous": str(url.include_query_params(page=page_number - 1)) if page_number > 1 else None,
        "results": results,
    }
