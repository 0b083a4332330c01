from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgrid.scheduling import Interval, Overlap, find_overlaps, maximum_overlap

BASE = datetime(2026, 3, 8, tzinfo=timezone.utc)


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


def span(start: int, end: int) -> Interval:
    return Interval(at(start), at(end))


# Intervals on a small integer minute grid, so that touching ends, identical,
# nested and mutually overlapping intervals are all common.
grid_spans = st.tuples(st.integers(0, 40), st.integers(1, 12)).map(
    lambda t: (t[0], t[0] + t[1])
)
span_lists = st.lists(grid_spans, max_size=14)


def oracle_overlaps(
    proposed: list[tuple[int, int]], existing: list[tuple[int, int]]
) -> list[Overlap]:
    pairs = [
        (p, e)
        for p in range(len(proposed))
        for e in range(len(existing))
        if max(proposed[p][0], existing[e][0]) < min(proposed[p][1], existing[e][1])
    ]
    pairs.sort(key=lambda pe: (proposed[pe[0]][0], pe[0], existing[pe[1]][0], pe[1]))
    return [Overlap(p, e) for p, e in pairs]


def oracle_maximum(proposed: list[tuple[int, int]], existing: list[tuple[int, int]]) -> int:
    return max(
        (sum(max(p[0], e[0]) < min(p[1], e[1]) for e in existing) for p in proposed),
        default=0,
    )


def test_touching_intervals_do_not_overlap() -> None:
    assert not span(0, 60).overlaps(span(60, 90))
    assert not span(60, 90).overlaps(span(0, 60))


@pytest.mark.parametrize(
    "a, b",
    [((0, 60), (0, 60)), ((0, 60), (10, 20)), ((0, 60), (59, 61)), ((0, 60), (-1, 1))],
)
def test_overlapping_intervals(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert span(*a).overlaps(span(*b))
    assert span(*b).overlaps(span(*a))


def test_disjoint_intervals() -> None:
    assert not span(0, 10).overlaps(span(20, 30))
    assert not span(20, 30).overlaps(span(0, 10))


@pytest.mark.parametrize("start, end", [(10, 10), (10, 9)])
def test_interval_must_end_after_it_starts(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        span(start, end)


@given(grid_spans, grid_spans)
@settings(max_examples=200, deadline=None)
def test_overlaps_is_a_shared_minute(a: tuple[int, int], b: tuple[int, int]) -> None:
    shared = set(range(*a)) & set(range(*b))
    assert span(*a).overlaps(span(*b)) is bool(shared)


def test_find_overlaps_on_empty_inputs() -> None:
    assert find_overlaps([], []) == []
    assert find_overlaps([span(0, 10)], []) == []
    assert find_overlaps([], [span(0, 10)]) == []
    assert maximum_overlap([]) == 0


def test_find_overlaps_example() -> None:
    existing = [span(30, 90), span(0, 60), span(60, 120), span(0, 60), span(200, 210)]
    proposed = [span(60, 70), span(0, 30), span(120, 200), span(50, 61)]
    assert find_overlaps(proposed, existing) == [
        Overlap(1, 1),  # proposed starting at 0 first; existing by start, then index
        Overlap(1, 3),
        Overlap(3, 1),
        Overlap(3, 3),
        Overlap(3, 0),
        Overlap(3, 2),
        Overlap(0, 0),
        Overlap(0, 2),
        # proposed 2 touches existing 2 and 4 at either end: no overlap
    ]
    assert maximum_overlap(find_overlaps(proposed, existing)) == 4


def test_maximum_overlap_counts_distinct_existing_intervals() -> None:
    overlaps = [Overlap(0, 1), Overlap(0, 1), Overlap(1, 2), Overlap(1, 3), Overlap(0, 2)]
    assert maximum_overlap(overlaps) == 2
    assert maximum_overlap([Overlap(5, 7)]) == 1


@given(span_lists, span_lists)
@settings(max_examples=400, deadline=None)
def test_find_overlaps_matches_brute_force(
    proposed: list[tuple[int, int]], existing: list[tuple[int, int]]
) -> None:
    found = find_overlaps([span(*p) for p in proposed], [span(*e) for e in existing])
    assert found == oracle_overlaps(proposed, existing)
    assert maximum_overlap(found) == oracle_maximum(proposed, existing)


@given(st.lists(grid_spans, min_size=1, max_size=10))
@settings(max_examples=100, deadline=None)
def test_intervals_overlap_themselves(spans: list[tuple[int, int]]) -> None:
    intervals = [span(*s) for s in spans]
    found = find_overlaps(intervals, intervals)
    assert {Overlap(i, i) for i in range(len(spans))} <= set(found)
    assert found == oracle_overlaps(spans, spans)


@given(st.randoms(use_true_random=False))
@settings(max_examples=5, deadline=None)
def test_find_overlaps_matches_brute_force_on_large_inputs(random) -> None:
    def spans(count: int) -> list[tuple[int, int]]:
        starts = (random.randrange(0, 20_000, 15) for _ in range(count))
        return [(s, s + random.choice((15, 30, 60, 90, 600))) for s in starts]

    proposed, existing = spans(300), spans(1_000)
    found = find_overlaps([span(*p) for p in proposed], [span(*e) for e in existing])
    assert found == oracle_overlaps(proposed, existing)
    assert maximum_overlap(found) == oracle_maximum(proposed, existing)
