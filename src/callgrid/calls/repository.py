"""Reading calls: by id, by series, and the lists the APIs page through."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import listing
from callgrid.calls.models import Call, Participant, StoredStatus
from callgrid.directory.models import Host, Product, Subscription


async def get_call(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str | None = None) -> Call | None:
    statement = select(Call).where(Call.id == call_id, Call.organization_id == organization_id)
    if kind is not None:
        statement = statement.where(Call.kind == kind)
    return (await session.execute(statement)).scalar_one_or_none()


async def series_calls(
    session: AsyncSession, organization_id: UUID, series_id: UUID, host_id: UUID | None = None, *, for_update: bool = False
) -> Sequence[Call]:
    """The series' occurrences in start order; with `host_id`, only when they are that host's.
    `for_update`: their rows locked until the transaction ends (PostgreSQL)."""
    statement = (
        select(Call)
        .where(Call.organization_id == organization_id, Call.series_id == series_id)
        .order_by(Call.starts_at, Call.id)
    )
    if host_id is not None:
        statement = statement.where(Call.host_id == host_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalars().all()


@dataclass(frozen=True)
class CallFilter:
    organization_id: UUID
    kind: str
    host_id: UUID | None = None
    product_ids: Sequence[UUID] | None = None
    contact_id: UUID | None = None  # calls of products they subscribe to, and calls they take part in
    overlapping_from: datetime | None = None
    overlapping_until: datetime | None = None
    include_cancelled: bool = False
    series_id: UUID | None = None  # the occurrences of one series (the video-calls API's groupId)


def filtered_calls(f: CallFilter):
    """Calls matching `f` in start order, each with its host and product."""
    statement = (
        select(Call, Host, Product)
        .join(Host, Host.id == Call.host_id)
        .outerjoin(Product, Product.id == Call.product_id)
        .where(Call.organization_id == f.organization_id, Call.kind == f.kind)
        .order_by(Call.starts_at, Call.id)
    )
    if not f.include_cancelled:
        statement = statement.where(Call.status != StoredStatus.CANCELLED)
    if f.host_id is not None:
        statement = statement.where(Call.host_id == f.host_id)
    if f.product_ids is not None:
        statement = statement.where(Call.product_id.in_(f.product_ids))
    if f.overlapping_from is not None:
        statement = statement.where(Call.ends_at > f.overlapping_from)
    if f.overlapping_until is not None:
        statement = statement.where(Call.starts_at < f.overlapping_until)
    if f.series_id is not None:
        statement = statement.where(Call.series_id == f.series_id)
    if f.contact_id is not None:
        subscribed = select(Subscription.product_id).where(Subscription.contact_id == f.contact_id)
        taking_part = select(Participant.call_id).where(Participant.contact_id == f.contact_id)
        statement = statement.where(or_(Call.product_id.in_(subscribed), Call.id.in_(taking_part)))
    return statement


async def list_calls(session: AsyncSession, f: CallFilter, offset: int, limit: int) -> tuple[list[tuple[Call, Host, Product | None]], int]:
    """One page of the calls matching `f` in (starts_at, id) order, each with its host and
    product, and the number of calls matching in all (counted by day: calls.listing)."""
    return await listing.list_calls(session, f, offset, limit)


async def get_call_with_relations(
    session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str, *, for_update: bool = False
) -> tuple[Call, Host, Product | None] | None:
    """The call with its host and product. `for_update`: the call's row is locked until the
    transaction ends (PostgreSQL), and read as the last committed change left it, so that
    changes to one call happen one after the other, each deciding on what the one before
    wrote. (SQLite's write lock, taken when the write transaction begins, already does.)"""
    statement = filtered_calls(CallFilter(organization_id=organization_id, kind=kind, include_cancelled=True)).where(
        Call.id == call_id
    )
    if for_update:
        statement = statement.with_for_update(of=Call)
    row = (await session.execute(statement)).first()
    return tuple(row) if row else None


@dataclass(frozen=True)
class ParticipantCallFilter:
    """Calls of one kind, filtered by who takes part and when they start (start <= starts_at < end)."""

    organization_id: UUID
    kind: str
    participant_unique_id: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    created_by_host_id: UUID | None = None  # only the appointments of this host (a host key's list)


async def list_calls_with_participant_count(
    session: AsyncSession, f: ParticipantCallFilter, offset: int, limit: int
) -> tuple[list[tuple[Call, int]], int]:
    """One page of matching calls in (starts_at, id) order, each with its number of
    participants, and the number of calls matching in all (counted by day: calls.listing)."""
    return await listing.list_calls_with_participant_count(session, f, offset, limit)


async def get_call_for_update(session: AsyncSession, organization_id: UUID, call_id: UUID, kind: str) -> Call | None:
    """The call, row-locked until the transaction ends (PostgreSQL), so that changes to one call
    and its participants happen one after the other. SQLite's write lock, taken when a writing
    request begins, already serialises them there."""
    statement = (
        select(Call)
        .where(Call.id == call_id, Call.organization_id == organization_id, Call.kind == kind)
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()
