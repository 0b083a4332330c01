"""Reads of rooms and members; every query of the API takes the organization."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls.models import Call
from callgrid.rooms.models import Room, RoomMember
from callgrid.webhooks.models import WebhookEndpoint


async def get_room(
    session: AsyncSession, organization_id: UUID, room_id: UUID, *, for_update: bool = False, host_id: UUID | None = None
) -> Room | None:
    """The organization's room; with `host_id`, only when it is that host's."""
    statement = select(Room).where(Room.id == room_id, Room.organization_id == organization_id)
    if host_id is not None:
        statement = statement.where(Room.host_id == host_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get_any_room(session: AsyncSession, room_id: UUID) -> Room | None:
    """A room by id alone: the live endpoint, which knows no organization (the token or key says which room)."""
    return await session.get(Room, room_id)


async def page_rooms(
    session: AsyncSession, organization_id: UUID, offset: int, limit: int, host_id: UUID | None = None
) -> tuple[Sequence[Room], int]:
    """Newest first (ids are time-ordered); with `host_id`, that host's rooms only."""
    conditions = [Room.organization_id == organization_id]
    if host_id is not None:
        conditions.append(Room.host_id == host_id)
    total = (await session.execute(select(func.count()).select_from(Room).where(*conditions))).scalar_one()
    if offset >= total:
        return [], total
    rows = (
        await session.execute(select(Room).where(*conditions).order_by(Room.id.desc()).offset(offset).limit(limit))
    ).scalars().all()
    return rows, total


async def members_counts(session: AsyncSession, room_ids: Sequence[UUID]) -> dict[UUID, int]:
    if not room_ids:
        return {}
    rows = await session.execute(
        select(RoomMember.room_id, func.count()).where(RoomMember.room_id.in_(room_ids)).group_by(RoomMember.room_id)
    )
    return {room_id: count for room_id, count in rows.all()}


async def webhooks_of(session: AsyncSession, endpoint_ids: Sequence[UUID]) -> dict[UUID, WebhookEndpoint]:
    ids = [i for i in endpoint_ids if i is not None]
    if not ids:
        return {}
    rows = await session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)))
    return {endpoint.id: endpoint for endpoint in rows.scalars().all()}


async def get_member(session: AsyncSession, room_id: UUID, user_id: str) -> RoomMember | None:
    return (
        await session.execute(select(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user_id))
    ).scalar_one_or_none()


async def members_with_user_ids(session: AsyncSession, room_id: UUID, user_ids: Sequence[str]) -> list[RoomMember]:
    if not user_ids:
        return []
    rows = await session.execute(select(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id.in_(user_ids)))
    return list(rows.scalars().all())


async def page_members(session: AsyncSession, room_id: UUID, offset: int, limit: int) -> tuple[Sequence[RoomMember], int]:
    """Oldest first."""
    total = (await session.execute(select(func.count()).where(RoomMember.room_id == room_id))).scalar_one()
    if offset >= total:
        return [], total
    rows = (
        await session.execute(
            select(RoomMember).where(RoomMember.room_id == room_id).order_by(RoomMember.created_at, RoomMember.id).offset(offset).limit(limit)
        )
    ).scalars().all()
    return rows, total


async def call_config(session: AsyncSession, room: Room) -> dict | None:
    """The feature flags of the call a room belongs to (its id is the call's), if any; a
    breakout room's are its main room's."""
    if room.source == "api":
        return None
    call_id = room.parent_id if room.source == "breakout" else room.id
    return (await session.execute(select(Call.config).where(Call.id == call_id))).scalar_one_or_none()
