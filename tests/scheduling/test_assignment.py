import random
from datetime import datetime, timedelta, timezone
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from callgrid.scheduling import HostCandidate, Priority, choose_host, rank_hosts

BOOKED = datetime(2026, 3, 1, tzinfo=timezone.utc)


def numbers(hosts: list[HostCandidate]) -> list[int]:
    return [host.number for host in hosts]


def test_highest_priority_first() -> None:
    hosts = [
        HostCandidate("a", 1, Priority.LOW),
        HostCandidate("b", 2, Priority.HIGH, last_booked_at=BOOKED),
        HostCandidate("c", 3),
    ]
    assert numbers(rank_hosts(hosts)) == [2, 3, 1]
    assert choose_host(hosts).id == "b"


def test_then_the_host_booked_longest_ago_never_booked_first() -> None:
    hosts = [
        HostCandidate("recent", 1, last_booked_at=BOOKED + timedelta(hours=2)),
        HostCandidate("older", 2, last_booked_at=BOOKED),
        HostCandidate("never", 3),
        HostCandidate("high", 4, Priority.HIGH, last_booked_at=BOOKED + timedelta(days=9)),
    ]
    assert [host.id for host in rank_hosts(hosts)] == ["high", "never", "older", "recent"]


def test_then_the_lowest_number() -> None:
    hosts = [
        HostCandidate("x", 9, last_booked_at=BOOKED),
        HostCandidate("y", 4),
        HostCandidate("z", 7),
        HostCandidate("w", 2, last_booked_at=BOOKED),
    ]
    assert numbers(rank_hosts(hosts)) == [4, 7, 2, 9]


def test_priorities_given_as_the_api_spells_them() -> None:
    hosts = [
        HostCandidate("a", 1, "low"),
        HostCandidate("b", 2, "high"),
        HostCandidate("c", 3, "medium"),
    ]
    assert numbers(rank_hosts(hosts)) == [2, 3, 1]


def test_nobody_free() -> None:
    assert rank_hosts([]) == []
    assert choose_host([]) is None


candidates = st.lists(
    st.builds(
        HostCandidate,
        id=st.none(),
        number=st.integers(1, 30),
        priority=st.sampled_from(list(Priority)),
        last_booked_at=st.none() | st.integers(0, 5).map(lambda n: BOOKED + timedelta(hours=n)),
    ),
    max_size=8,
    unique_by=lambda host: host.number,
)


@given(candidates, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_rank_is_the_order_of_the_rules_whatever_the_input_order(hosts, shuffler) -> None:
    shuffled = list(hosts)
    shuffler.shuffle(shuffled)
    ranked = rank_hosts(shuffled)
    assert sorted(numbers(ranked)) == sorted(numbers(hosts))
    for better, worse in pairwise(ranked):
        order = ["high", "medium", "low"]
        if better.priority != worse.priority:
            assert order.index(better.priority) < order.index(worse.priority)
        elif better.last_booked_at != worse.last_booked_at:
            assert better.last_booked_at is None or (
                worse.last_booked_at is not None and better.last_booked_at < worse.last_booked_at
            )
        else:
            assert better.number < worse.number
    assert choose_host(shuffled) == (ranked[0] if ranked else None)


def test_a_stable_choice_among_many() -> None:
    hosts = [HostCandidate(n, n) for n in range(1, 50)]
    random.Random(4).shuffle(hosts)
    assert choose_host(hosts).number == 1
