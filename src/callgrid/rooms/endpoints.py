"""The rooms API (`/v1/rooms`, the seed `rooms.txt`): its contract in, the rooms service out.
Translation only. Errors are RFC 9457 problem details naming the field. The live WebSocket is
in callgrid.rooms.websocket."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.errors import CallgridError
from callgrid.kit.clock import Now
from callgrid.rooms import render, repository, service
from callgrid.rooms.live import Admission, LiveRooms, Refusal
from callgrid.rooms.schemas import (
    JoinInfo,
    JoinToken,
    JoinTokenCreate,
    MemberList,
    MembersAdd,
    RoomAnswer,
    RoomCreate,
    RoomCreated,
    RoomList,
    RoomUpdate,
    SecretOut,
    SessionList,
)
from callgrid.tenancy.auth import CurrentPrincipal

PREFIX = "/v1/rooms"
router = APIRouter(prefix=PREFIX, tags=["rooms"], route_class=IdempotentRoute)

Limit = Annotated[int, Query(ge=1, le=100, description="items per page, 1..100")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]


def _live(request: Request) -> LiveRooms:
    return request.app.state.rooms


def _public_url(request: Request) -> str:
    return request.app.state.settings.public_url


def _allow_private(request: Request) -> bool:
    return request.app.state.settings.webhook_allow_private_targets


async def _render(request: Request, views: list[service.RoomView]) -> list[dict[str, Any]]:
    clocks = await _live(request).clock_of([v.room.id for v in views])
    return [
        render.room(v.room, members_count=v.members_count, public_url=_public_url(request), webhook=v.webhook,
                    clock=clocks.get(v.room.id))
        for v in views
    ]


@router.post("", response_model=RoomCreated, response_model_exclude_unset=True, summary="Create a room", dependencies=[Idempotent])
async def create_room(body: RoomCreate, request: Request, principal: CurrentPrincipal, session: WriteSession, now: Now):
    """200 (the seed's code) with the room and a paging of one; `webhook_secret` when a webhook was given."""
    created, secret = await service.create(
        session, principal.organization_id, body, now=now, allow_private=_allow_private(request), host_id=principal.host_id
    )
    answer: dict[str, Any] = {"room": (await _render(request, [created]))[0], "paging": render.paging(1, 0, 1)}
    if secret is not None:
        answer["webhook_secret"] = secret
    return answer


@router.get("", response_model=RoomList, summary="List rooms, newest first")
async def list_rooms(request: Request, principal: CurrentPrincipal, session: ReadSession, limit: Limit = 20, offset: Offset = 0):
    rooms, total = await repository.page_rooms(session, principal.organization_id, offset, limit, principal.host_scope)
    return {"rooms": await _render(request, await service.views(session, rooms)), "paging": render.paging(limit, offset, total)}


@router.get("/{room_id}", response_model=RoomAnswer, response_model_exclude_unset=True, summary="One room")
async def get_room(room_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession):
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    return {"room": (await _render(request, [await service.view(session, room)]))[0]}


@router.patch("/{room_id}", response_model=RoomAnswer, response_model_exclude_unset=True, summary="Change a room")
async def update_room(room_id: str, body: RoomUpdate, request: Request, principal: CurrentPrincipal, session: WriteSession, now: Now):
    room = await service.get(session, principal.organization_id, room_id, for_update=True, host_id=principal.host_scope)
    updated, secret = await service.update_room(session, room, body, now=now, allow_private=_allow_private(request))
    answer: dict[str, Any] = {"room": (await _render(request, [updated]))[0]}
    if secret is not None:
        answer["webhook_secret"] = secret
    return answer


@router.post("/{room_id}/terminate", response_model=RoomAnswer, response_model_exclude_unset=True, summary="End a room now")
async def terminate_room(room_id: str, request: Request, principal: CurrentPrincipal, session: WriteSession, now: Now):
    room = await service.get(session, principal.organization_id, room_id, for_update=True, host_id=principal.host_scope)
    clock = (await _live(request).clock_of([room.id])).get(room.id)
    await service.terminate(
        session, room, now=now, reason="terminated", meeting_ms=clock.meeting_ms() if clock else 0, public_url=_public_url(request)
    )
    return {"room": (await _render(request, [await service.view(session, room)]))[0]}


@router.post("/{room_id}/webhook/rotate-secret", response_model=SecretOut, summary="A new signing secret for the room's webhook")
async def rotate_webhook_secret(room_id: str, principal: CurrentPrincipal, session: WriteSession, now: Now):
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    return {"webhook_secret": await service.rotate_webhook_secret(session, room, now)}


@router.post(
    "/{room_id}/members", response_model=MemberList, response_model_exclude_unset=True, summary="Add members (all or nothing)",
    dependencies=[Idempotent],
)
async def add_members(room_id: str, body: MembersAdd, principal: CurrentPrincipal, session: WriteSession, now: Now):
    room = await service.get(session, principal.organization_id, room_id, for_update=True, host_id=principal.host_scope)
    added = await service.add_members(session, room, body.members, now)
    return {"members": [render.member(m) for m in added]}


@router.get("/{room_id}/members", response_model=MemberList, summary="A room's members, oldest first")
async def list_members(room_id: str, principal: CurrentPrincipal, session: ReadSession, limit: Limit = 20, offset: Offset = 0):
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    members, total = await repository.page_members(session, room.id, offset, limit)
    return {"members": [render.member(m) for m in members], "paging": render.paging(limit, offset, total)}


@router.delete("/{room_id}/members/{user_id:path}", status_code=204, summary="Remove a member (their sessions are disconnected)")
async def remove_member(room_id: str, user_id: str, principal: CurrentPrincipal, session: WriteSession, now: Now):
    room = await service.get(session, principal.organization_id, room_id, for_update=True, host_id=principal.host_scope)
    await service.remove_member(session, room, user_id, now)
    return Response(status_code=204)


@router.get("/{room_id}/sessions", response_model=SessionList, summary="Who is connected now, on any process")
async def list_sessions(room_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession):
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    participants = await _live(request).hub.participants(room.id)
    return {
        "sessions": [p.to_json() for p in participants],
        "sessions_count": len(participants),
        "members_count": len({p.member_id for p in participants}),
    }


@router.post("/{room_id}/join-tokens", response_model=JoinToken, summary="A join token for one user_id", dependencies=[Idempotent])
async def create_join_token(
    room_id: str, body: JoinTokenCreate, request: Request, principal: CurrentPrincipal, session: ReadSession, now: Now
):
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    return await service.join_token(session, _live(request).signer, room, body, now=now, public_url=_public_url(request))


class _Refused(CallgridError):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message, field="token")
        self.status_code, self.title = status, title


_REFUSAL_STATUS = {4401: (401, "Unauthorized"), 4403: (403, "Forbidden"), 4404: (404, "Not Found"), 4410: (410, "Gone")}


@router.get(
    "/{room_id}/join-info",
    summary="What the room page needs before it connects (no API key: a token or key)",
    response_model=None,
    responses={200: {"model": JoinInfo}},
)
async def join_info(
    room_id: str,
    request: Request,
    token: Annotated[str | None, Query(max_length=4096)] = None,
    key: Annotated[str | None, Query(max_length=256)] = None,
    name: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    live = _live(request)
    try:
        admission: Admission = await live.admit(room_id, token=token, key=key, name=name)
    except Refusal as refusal:
        status, title = _REFUSAL_STATUS[refusal.code]
        error = _Refused(status, title, refusal.reason)
        if refusal.code == 4404:
            error.field = "id"
        raise error from None
    base = str(request.base_url).rstrip("/")
    ws = render.ws_url(base, admission.room_id)
    query = urlencode([(k, v) for k, v in (("token", token), ("key", key)) if v])
    return {
        "room": {
            "id": str(admission.room_id),
            "name": admission.room_name,
            "type": admission.room_type,
            "max_meeting_seconds": admission.max_meeting_seconds,
            "is_terminated": False,
        },
        "user": None if admission.user_id is None else {"user_id": admission.user_id, "name": admission.name, "role": admission.role},
        "features": admission.features,
        "recording": admission.record,
        "ice_servers": live.settings.ice_servers,
        "ws_url": f"{ws}?{query}" if query else ws,
        "heartbeat_interval_seconds": live.heartbeat_interval,
        "heartbeat_timeout_seconds": live.settings.heartbeat_timeout_seconds,
    }
