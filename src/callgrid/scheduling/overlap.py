from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time, `[start, end)`, in timezone-aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"Interval end {self.end} must be after start {self.start}")

    def overlaps(self, other: Interval) -> bool:
        # Half-open: back-to-back intervals (a.end == b.start) do not overlap.
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Overlap:
    proposed: int
    existing: int


def find_overlaps(
    proposed: Sequence[Interval], existing: Sequence[Interval]
) -> list[Overlap]:
    """
    Every overlapping `(proposed, existing)` pair, ordered by proposed start,
    then existing start, with ties broken by the original index.
    """
    p_order = sorted(range(len(proposed)), key=lambda i: (proposed[i].start, i))
    e_order = sorted(range(len(existing)), key=lambda i: (existing[i].start, i))
    e_starts = [existing[i].start for i in e_order]

    # Sweep the proposed starts from left to right. `active` holds the existing
    # intervals that start at or before the current proposed start, in start
    # order; the ones that ended by then can overlap neither this nor any later
    # proposed interval, so they are dropped for good. Whatever stays active
    # overlaps the current proposed interval, so each pass costs its output plus
    # the intervals it drops, and the list never needs a heap to stay sorted.
    active: list[int] = []
    admitted = 0
    overlaps: list[Overlap] = []
    for p in p_order:
        interval = proposed[p]
        while admitted < len(e_order) and e_starts[admitted] <= interval.start:
            active.append(e_order[admitted])
            admitted += 1
        active = [e for e in active if existing[e].end > interval.start]
        # Existing intervals starting inside the proposed one overlap it too.
        later = bisect.bisect_left(e_starts, interval.end, lo=admitted)
        overlaps.extend(Overlap(p, e) for e in active)
        overlaps.extend(Overlap(p, e) for e in e_order[admitted:later])
    return overlaps


def maximum_overlap(overlaps: Sequence[Overlap]) -> int:
    """The most distinct existing intervals overlapping any one proposed interval."""
    existing_by_proposed: dict[int, set[int]] = {}
    for overlap in overlaps:
        existing_by_proposed.setdefault(overlap.proposed, set()).add(overlap.existing)
    return max(map(len, existing_by_proposed.values()), default=0)
