"""DELETE /api/v1/hosts/{id}: a host leaves the organization, keeping history.

Here, beside `onboarding`, because it reaches across domains: the host (directory), its calls
(the calls core, the video-calls and bookings services that cancel them with their events) and
its API keys (tenancy).

- The host is kept (`deleted_at`): its past calls still show it, lists and gets no longer do,
  it can no longer be booked, chosen for an event type or given a key, and its keys stop
  working at once.
- A host with upcoming calls (not cancelled, not started) is refused with a 409 listing them,
  unless `?cancel_upcoming=true`: then each is cancelled as its own API cancels it (its event,
  its room ended) in the same transaction.
- The organization's owner host (the one created with it) cannot be deleted.
"""

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.bookings import service as bookings
from callgrid.bookings.models import Booking
from callgrid.bookings.render import BookingLinks, event_call
from callgrid.calls import scheduling
from callgrid.calls.conflicts import lock_host_calendar
from callgrid.calls.models import Call, CallKind, StoredStatus
from callgrid.db.session import WriteSession
from callgrid.directory import repository as directory
from callgrid.directory.models import Host, Product
from callgrid.errors import Conflict, NotFound
from callgrid.kit.clock import Now
from callgrid.kit.ids import parse_id
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import service as rooms
from callgrid.tenancy import repository as tenancy_repository
from callgrid.tenancy import service as tenancy
from callgrid.tenancy.auth import AdminPrincipal
from callgrid.video_calls.render import Renderer
from callgrid.webhooks.events import EventType, emit_many

router = APIRouter(prefix="/api/v1", tags=["directory"])

LISTED = 100  # upcoming calls named in a refusal (the count says how many in all)


def _upcoming(call: Call) -> dict:
    return {
        "id": str(call.id), "kind": call.kind, "title": call.title,
        "starts_at": utc_millis(call.starts_at), "ends_at": utc_millis(call.ends_at),
    }


async def delete_host(
    write: AsyncSession, organization_id: UUID, host_id: UUID, *, cancel_upcoming: bool, now: datetime,
    public_url: str, signer,
) -> list[Call]:
    """Delete the host (see the module); returns the calls it cancelled."""
    host = await directory.get(write, Host, organization_id, host_id, for_update=True)
    if host is None:
        raise NotFound(f"no host with id {host_id}", field="host_id")
    owner = await directory.get_owner_host(write, organization_id)
    if owner is not None and owner.id == host.id:
        raise Conflict("the organization's owner host cannot be deleted", field="host_id")
    # Its calendar's writes wait for this one: no call is booked for it between the look and the delete.
    await lock_host_calendar(write, host.id)
    upcoming = (
        await write.execute(
            select(Call)
            .where(
                Call.organization_id == organization_id, Call.host_id == host.id,
                Call.status != StoredStatus.CANCELLED, Call.starts_at > now,
            )
            .order_by(Call.starts_at, Call.id)
        )
    ).scalars().all()
    if upcoming and not cancel_upcoming:
        raise Conflict(
            f"the host has {len(upcoming)} upcoming call(s): cancel them first, or delete with ?cancel_upcoming=true",
            field="upcoming_calls",
            extra={"upcoming_count": len(upcoming), "upcoming_calls": [_upcoming(c) for c in upcoming[:LISTED]]},
        )
    await _cancel(write, organization_id, host, upcoming, now=now, public_url=public_url, signer=signer)
    host.deleted_at = now
    host.updated_at = now
    keys = (await write.execute(tenancy_repository.keys_of(organization_id, host.id))).scalars().all()
    await tenancy.revoke_keys(write, list(keys), now=now)
    await write.flush()
    return list(upcoming)


async def _cancel(write: AsyncSession, organization_id: UUID, host: Host, calls, *, now: datetime, public_url: str, signer) -> None:
    """Each call cancelled as its own API cancels it: video calls with `video_call.cancelled`,
    bookings with `event_call.cancelled`; every room ended."""
    video_calls = [c for c in calls if c.kind == CallKind.VIDEO_CALL]
    booked = [c.id for c in calls if c.kind == CallKind.BOOKING]
    others = [c for c in calls if c.kind not in (CallKind.VIDEO_CALL, CallKind.BOOKING)]
    for call in video_calls + others:
        await scheduling.cancel_call(write, call, now=now)
    if video_calls:
        renderer = Renderer(now=now, public_url=public_url, whitelabel_host=None, offset=timedelta(), signer=signer)
        products = {p.id: p for p in (await write.execute(
            select(Product).where(Product.id.in_({c.product_id for c in video_calls if c.product_id}))
        )).scalars()}
        await emit_many(
            write, organization_id, EventType.VIDEO_CALL_CANCELLED,
            [renderer.call(call, host, products.get(call.product_id)) for call in video_calls],
        )
    for call in video_calls + others:
        await rooms.terminate_call_room(write, call.id, now=now, public_url=public_url)
    if booked:
        links = BookingLinks(public_url, signer)
        numbers = (await write.execute(select(Booking.number).where(Booking.call_id.in_(booked)))).scalars().all()
        for number in numbers:
            await bookings.cancel(
                write, organization_id=organization_id, number=number, reason="the host was removed", now=now,
                public_url=public_url, render=lambda details: event_call(details, links),
            )


@router.delete(
    "/hosts/{host_id}", status_code=204, response_class=Response, summary="Delete a host (its history is kept)",
    responses={409: {"description": "The host has upcoming calls (listed), or is the organization's owner"}},
)
async def delete_host_endpoint(
    host_id: str,
    request: Request,
    principal: AdminPrincipal,
    session: WriteSession,
    now: Now,
    cancel_upcoming: Annotated[bool, Query(description="cancel the host's upcoming calls (with their webhook events) instead of refusing")] = False,
) -> Response:
    """The host is kept for its past calls (they still show it) and is gone from lists and gets;
    it can no longer be booked or chosen, and its API keys stop working at once. A host with
    upcoming calls answers 409 listing them (`upcoming_calls`), unless `cancel_upcoming=true`.
    The organization's owner host cannot be deleted (409)."""
    await delete_host(
        session, principal.organization_id, parse_id(host_id, what="host", field="host_id"),
        cancel_upcoming=cancel_upcoming, now=now, public_url=request.app.state.settings.public_url,
        signer=request.app.state.rooms.signer,
    )
    return Response(status_code=204)
