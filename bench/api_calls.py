"""API calls per hour of a race day: the live loop against the simulator on a controlled clock.

    .venv/bin/python -m bench.api_calls [--start 11:00 --hours 4 --seed 11]

The clock starts at START (UK) on a November day, the simulator's day laid out around it,
and jumps by each cycle's countdown as the loop would sleep. Every request the simulator
answers is counted against the simulated hour of the cycle that made it. Prints requests
per hour by endpoint, cycles per hour, and the most requests of one endpoint in any 10
simulated seconds (the API allows 2/s for racecards, 5/s for the others: 20 and 50 per 10 s).
Run it with another checkout first on the path (`PYTHONPATH=/path/to/other/checkout`) to
compare two versions of the loop.
"""
from __future__ import annotations

import argparse
import bisect
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

from bench.common import scratch_database
from tests.support import Clock


def walk(start: datetime, hours: float, seed: int) -> tuple[Counter, Counter, dict[str, int]]:
    from darkhorses.core.settings import get_settings, reset_settings
    from darkhorses.live.cycle import run_cycle
    from darkhorses.racing_api.client import RacingAPIClient
    from darkhorses.racing_api.ratelimit import RateLimiter
    from darkhorses.simulator import Simulator, serve

    clock = Clock(start)
    sim = Simulator(seed=seed, clock=clock, rate_limits={
        "racecards": 1000, "racecard": 1000, "results": 1000, "results_today": 1000, "odds": 1000})
    server, url = serve(sim)
    os.environ.update(RACING_API_URL=url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim")
    reset_settings()
    client = RacingAPIClient(get_settings(), limiter=RateLimiter({"racecards": 1000}))
    try:  # same-day results are stored from the version that has them
        from darkhorses.historical.same_day import store_same_day
        extra = {"store_results": store_same_day}
    except ImportError:
        extra = {}
    calls, cycles = Counter(), Counter()
    moments: dict[str, list[datetime]] = {}
    end = start + timedelta(hours=hours)
    try:
        while clock.now < end:
            hour = clock.now.strftime("%H:00")
            before = len(sim.request_log)
            summary = run_cycle(client, clock.now, **extra)
            for _, key, _status in sim.request_log[before:]:
                calls[(hour, key)] += 1
                moments.setdefault(key, []).append(clock.now)
            cycles[hour] += 1
            clock.now += timedelta(seconds=summary.next_poll_seconds + summary.duration_seconds)
    finally:
        server.shutdown()
        client.close()
    peaks = {key: max(bisect.bisect_right(times, t + timedelta(seconds=10)) - i for i, t in enumerate(times))
             for key, times in moments.items()}
    return calls, cycles, peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="11:00", help="UK time the walk starts (a GMT day, so UTC too)")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    hh, mm = map(int, args.start.split(":"))
    start = datetime(2026, 11, 28, hh, mm, tzinfo=timezone.utc)
    with scratch_database():
        calls, cycles, peaks = walk(start, args.hours, args.seed)
    keys = sorted({key for _, key in calls})
    print(f"API calls per simulated hour, race day walk from {args.start} UK for {args.hours:g} h (seed {args.seed})")
    print("  hour   cycles  " + "  ".join(f"{k:>10}" for k in keys) + "       all")
    for hour in sorted(cycles):
        row = [calls[(hour, k)] for k in keys]
        print(f"  {hour}  {cycles[hour]:>6}  " + "  ".join(f"{n:>10}" for n in row) + f"  {sum(row):>8}")
    total = sum(calls.values())
    print(f"  total {total} calls in {sum(cycles.values())} cycles; {total / args.hours:.1f} calls/hour on average")
    print("  most calls in any 10 simulated seconds: " + ", ".join(f"{k} {peaks[k]}" for k in sorted(peaks)))


if __name__ == "__main__":
    main()
