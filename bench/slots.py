"""Benchmark: slot computation for 30 days of an event type with 10 hosts of 1,000 calls each.

DESIGN.md, Performance: slots for 30 days of an event type with 10 hosts, 1,000 calls each,
in under 50 ms (cal.com's measured buildSlots is about 220 ms).

What it does, all in memory (the pure core, no database, no HTTP):
1. ten hosts in five time zones (New York, London, Kolkata, Kathmandu, Sydney), each with a
   split working day (09:00-12:00, 13:00-17:30), a few days off by date override, and
   1,000 calls between 07:00 and 21:00 local, every day of the week, some of them bookings
   with buffers;
2. an event type of 30 minutes on a 15-minute grid, 10 and 5 minutes of buffers, an hour
   of notice, a 60-day window;
3. times `find_slots` for 30 days in a visitor zone (Los Angeles), sorting the busy
   intervals included, in two calendars: the 1,000 calls (15-90 minutes) spread over the
   120 days around the range, and all 1,000 (15-30 minutes) crowded into its 30 days;
4. times `check_start` (the booking's check of one start) for the same calendars.

It prints the median and p95 wall time, the CPU time of this process per run, and the
machine's load average before and after. It never asserts timings.

    .venv/bin/python bench/slots.py
    .venv/bin/python bench/slots.py --repeat 500 --profile
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from zoneinfo import ZoneInfo

from callgrid.scheduling import (
    BookingRules,
    Busy,
    HostCalendar,
    check_start,
    find_slots,
    parse_working_hours,
)

HOST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
]
VISITOR_ZONE = ZoneInfo("America/Los_Angeles")
WEEK = {
    day: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}
RULES = BookingRules(
    duration_minutes=30,
    slot_interval_minutes=15,
    minimum_notice_minutes=60,
    booking_window_days=60,
    buffer_before_minutes=10,
    buffer_after_minutes=5,
)


def calendar(
    rng: random.Random,
    count: int,
    first_day: date,
    days: int,
    zone: ZoneInfo,
    lengths: tuple[int, ...],
) -> list[Busy]:
    """`count` calls of one host, not overlapping, on a 15-minute grid from 07:00 to 21:00 local."""
    taken: set[tuple[date, int]] = set()  # (day, quarter hour after 07:00)
    calls: list[Busy] = []
    while len(calls) < count:
        day = first_day + timedelta(days=rng.randrange(days))
        first = rng.randrange(56)
        quarters = rng.choice(lengths) // 15
        cells = {(day, n) for n in range(first, first + quarters)}
        if first + quarters > 56 or cells & taken:
            continue
        taken |= cells
        start = (
            datetime.combine(day, wall_time(7), zone) + timedelta(minutes=15 * first)
        ).astimezone(UTC)
        buffered = rng.random() < 0.3
        calls.append(
            Busy(
                start,
                start + timedelta(minutes=15 * quarters),
                10 if buffered else 0,
                5 if buffered else 0,
            )
        )
    rng.shuffle(calls)  # as a query without ORDER BY would hand them over
    return calls


def hosts_for(
    rng: random.Random,
    first_day: date,
    spread_days: int,
    offset_days: int,
    calls: int,
    lengths: tuple[int, ...],
) -> list[HostCalendar]:
    hosts = []
    for number in range(1, 11):
        zone = ZoneInfo(HOST_ZONES[number % len(HOST_ZONES)])
        days_off = {
            (first_day + timedelta(days=rng.randrange(30))).isoformat(): [] for _ in range(3)
        }
        hours = parse_working_hours(WEEK, days_off)
        busy = calendar(
            rng, calls, first_day - timedelta(days=offset_days), spread_days, zone, lengths
        )
        hosts.append(HostCalendar(number, zone, hours, busy))
    return hosts


def timed(run, repeat: int, warmup: int) -> tuple[list[float], float]:
    for _ in range(warmup):
        run()
    timings = []
    cpu_started = time.process_time()
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, (time.process_time() - cpu_started) * 1000 / repeat


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


CALENDARS = [
    # label, days the calls spread over, days of them before the range, call lengths
    (
        "calls a host over the 120 days around the range, 15-90 min",
        120,
        45,
        (15, 30, 45, 60, 90),
    ),
    ("calls a host crowded into the range's 30 days, 15-30 min", 30, 0, (15, 15, 15, 30)),
]


def load(when: str) -> str:
    return f"load average {when} " + " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def measure(
    label: str, hosts: list[HostCalendar], now: datetime, first_day: date, args, profiler
) -> None:
    last_day = first_day + timedelta(days=29)
    in_range = sum(
        first_day <= call.start.astimezone(VISITOR_ZONE).date() <= last_day
        for host in hosts
        for call in host.busy
    )
    found = find_slots(RULES, hosts, now, first_day, last_day, VISITOR_ZONE)
    slots = [slot for day in found.days.values() for slot in day]
    print(
        f"\n{args.calls:,} {label}: {sum(len(h.busy) for h in hosts):,} calls, "
        f"{in_range:,} of them in the range; "
        f"{len(slots):,} slots offered on {sum(bool(d) for d in found.days.values())} days, "
        f"{sum(s.hosts_available for s in slots):,} (slot, host) pairs"
    )

    if profiler is not None:
        profiler.enable()
    timings, cpu = timed(
        lambda: find_slots(RULES, hosts, now, first_day, last_day, VISITOR_ZONE),
        args.repeat,
        args.warmup,
    )
    if profiler is not None:
        profiler.disable()
    median, p95 = summary(timings)
    print(
        f"  find_slots, 30 days x 10 hosts:  median {median:6.2f} ms   p95 {p95:6.2f} ms   "
        f"CPU {cpu:6.2f} ms/run   ({args.repeat} runs; target under 50 ms)"
    )

    offered = [slot.start for slot in slots] or [now + timedelta(days=1)]
    picks = iter(random.Random(args.seed).choices(offered, k=args.repeat + args.warmup))
    timings, cpu = timed(
        lambda: check_start(RULES, hosts, now, next(picks)), args.repeat, args.warmup
    )
    median, p95 = summary(timings)
    print(
        f"  check_start, one offered start:  median {median:6.2f} ms   p95 {p95:6.2f} ms   "
        f"CPU {cpu:6.2f} ms/run   ({args.repeat} runs)"
    )


def main(args: argparse.Namespace) -> None:
    now = datetime(2026, 3, 2, 16, 7, tzinfo=UTC)  # a Monday; the range crosses two DST changes
    first_day = now.astimezone(VISITOR_ZONE).date()
    print(f"machine: {os.cpu_count()} CPUs, {load('before')}")
    print(
        f"event: {RULES.duration_minutes} min on a {RULES.slot_interval_minutes}-min grid, "
        f"buffers {RULES.buffer_before_minutes}/{RULES.buffer_after_minutes} min; "
        f"visitor {VISITOR_ZONE.key}, 30 days from {first_day}"
    )
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    for label, spread, before, lengths in CALENDARS:
        hosts = hosts_for(random.Random(args.seed), first_day, spread, before, args.calls, lengths)
        measure(label, hosts, now, first_day, args, profiler)
    print(
        f"\n{load('after')} (other work on the machine inflates wall times; "
        f"CPU per run is this process alone)"
    )
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000, help="calls per host")
    parser.add_argument("--repeat", type=int, default=200, help="timed runs per figure")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the find_slots runs"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse(sys.argv[1:]))
