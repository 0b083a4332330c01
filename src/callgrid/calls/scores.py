"""Hosts' scores: how many calls each host has completed, in all, this month and this week
(UTC; weeks start on Monday), and their rank by it in the organization (1 for the most; hosts
with as many share a rank, the next rank counts them all: 1, 2, 2, 4).

A call is completed when it was not cancelled and has ended, or was ended early. Counting them
call by call would read every call of the organization, so most of the count comes from
`call_day_counts` (the per-day counts the triggers on `calls` keep exact): every call that
started on a UTC day before yesterday has ended (no call lasts longer than a day), so for those
days the live count is the completed count. Only the calls from yesterday on are looked at one
by one (their start, end and status): a day or two of the organization's calls.

An organization's scores are computed at most once a minute per process (`ScoreBoard`): a
leaderboard that is a minute old is as good, and the lists that show it stay cheap.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls.conflicts import MAX_CALL_DURATION
from callgrid.calls.models import NIL_ID, Call, CallDayCount, StoredStatus

EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Standing:
    score: dict[str, int]  # {"lifetime", "month", "week"}
    rank: dict[str, int]  # the same keys


@dataclass(frozen=True)
class Scores:
    """An organization's completed calls per host, and the ranks they give."""

    by_host: dict[UUID, tuple[int, int, int]]  # (lifetime, month, week); hosts with none are left out

    def standing(self, host_id: UUID) -> Standing:
        mine = self.by_host.get(host_id, (0, 0, 0))
        rank = [1 + sum(1 for other in self.by_host.values() if other[i] > mine[i]) for i in range(3)]
        return Standing(
            score={"lifetime": mine[0], "month": mine[1], "week": mine[2]},
            rank={"lifetime": rank[0], "month": rank[1], "week": rank[2]},
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def compute(session: AsyncSession, organization_id: UUID, now: datetime) -> Scores:
    now = now.astimezone(UTC)
    month_start = now.date().replace(day=1)
    week_start = now.date() - timedelta(days=now.weekday())
    # Days before `cut` have only ended calls: each started at least MAX_CALL_DURATION ago.
    cut = (now - MAX_CALL_DURATION).date()
    counts = CallDayCount
    by_day = (
        select(
            counts.host_id,
            func.sum(counts.live),
            func.sum(case((counts.day >= month_start, counts.live), else_=0)),
            func.sum(case((counts.day >= week_start, counts.live), else_=0)),
        )
        .where(counts.organization_id == organization_id, counts.day < cut, counts.host_id != NIL_ID)
        .group_by(counts.host_id)
    )
    totals: dict[UUID, list[int]] = {}
    for host_id, lifetime, month, week in (await session.execute(by_day)).all():
        totals[host_id] = [int(lifetime or 0), int(month or 0), int(week or 0)]
    recent = (
        select(Call.host_id, Call.starts_at)
        .where(
            Call.organization_id == organization_id,
            Call.kind.in_(("video_call", "booking", "appointment")),  # the (organization, kind, start) index
            Call.starts_at >= _midnight(cut),
            Call.starts_at <= now,
            Call.host_id.is_not(None),
            Call.status != StoredStatus.CANCELLED,
            or_(Call.ends_at <= now, Call.status == StoredStatus.COMPLETED),
        )
    )
    month_from, week_from = _midnight(month_start), _midnight(week_start)
    for host_id, starts_at in (await session.execute(recent)).all():
        total = totals.setdefault(host_id, [0, 0, 0])
        total[0] += 1
        total[1] += starts_at >= month_from
        total[2] += starts_at >= week_from
    return Scores({host_id: tuple(values) for host_id, values in totals.items() if values[0]})


class ScoreBoard:
    """Each organization's scores, computed at most once a minute (by the app's clock) per process."""

    def __init__(self, every: timedelta = EVERY, size: int = 10_000):
        self.every = every
        self.size = size
        self._cache: dict[UUID, tuple[datetime, Scores]] = {}

    async def of(self, session: AsyncSession, organization_id: UUID, now: datetime) -> Scores:
        cached = self._cache.get(organization_id)
        if cached is not None and timedelta(0) <= now - cached[0] < self.every:
            return cached[1]
        scores = await compute(session, organization_id, now)
        if len(self._cache) >= self.size:
            self._cache.clear()
        self._cache[organization_id] = (now, scores)
        return scores

