"""bench/chaos.py: a short race day under random faults (fixed seed) passes every invariant.

About four minutes of real processes (workers, beat, Redis, the simulator); the hour-long run
is `python -m bench.chaos --minutes 60` (docs/chaos.md)."""
import subprocess
import sys

import pytest

from tests.support import PG_ADMIN_URL, service_env


@pytest.mark.slow
@pytest.mark.chaos
def test_a_short_race_day_under_chaos_passes(pg_database, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bench.chaos", "--minutes", "3", "--seed", "1"], cwd=tmp_path,
                            env=service_env(BENCH_PG_ADMIN_URL=PG_ADMIN_URL), capture_output=True, text=True,
                            timeout=900)
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1] == "PASS", result.stdout[-4000:] + result.stderr[-3000:]
    assert result.returncode == 0
    table = "\n".join(lines)
    for invariant in ("capture <= 15 s before each real off", "no observed price after a race closed",
                      "no duplicate history rows", "no price lost", "exactly one live loop",
                      "loop polling again within 30 s of a kill", "every requested backfill date settled",
                      "alerts raised during outages", "status exit code matches"):
        assert invariant in table


def chaos_plan(minutes, seed):
    from pathlib import Path

    from bench.chaos import Chaos
    return Chaos(minutes, seed, Path("."), "", None, "", None, {}).schedule()


def test_the_fault_schedule_is_drawn_from_the_seed_and_holds_every_kind():
    from bench.chaos import FAULT_KINDS
    hour = chaos_plan(60, 1)
    assert hour == chaos_plan(60, 1) and hour != chaos_plan(60, 2)
    kinds = [kind for _, kind in hour]
    assert set(FAULT_KINDS) <= set(kinds) and kinds.count("backfill") == 1 and "live-down-long" in kinds
    assert kinds[0] == "kill-live-near-off"
    assert max(at for at, _ in hour) <= 60 * 60 - 75, "the last minutes run clean"
    short = [kind for _, kind in chaos_plan(3, 1)]
    assert "kill-live-near-off" in short and "backfill" in short and "live-down-long" not in short


def test_a_missed_race_is_explained_only_by_a_live_outage_near_its_off():
    from bench.chaos import Outage, explained
    outages = [Outage("kill-live", 100, 105), Outage("kill-beat", 300, 310)]
    assert explained(outages, 90, 105)          # during the outage
    assert explained(outages, 135, 150)         # within the recovery allowance after it
    assert not explained(outages, 200, 215)     # long after it
    assert not explained(outages, 300, 315)     # beat away does not stop captures


def test_a_pre_off_price_first_seen_after_the_off_is_a_late_sighting_not_a_move_after_it():
    from datetime import datetime, timedelta, timezone

    from bench.chaos import is_late_sighting
    poll = datetime(2026, 12, 7, 14, 0, 20, tzinfo=timezone.utc)
    frozen = [4.5, 5.0, 5.5]
    # Unstamped bookmaker: dated by our poll, and the price is one served at the off.
    assert is_late_sighting(poll, poll, 5.0, frozen)
    # A price the API never served at the off, or a move the bookmaker stamped after the off: faults.
    assert not is_late_sighting(poll, poll, 6.0, frozen)
    assert not is_late_sighting(poll - timedelta(seconds=5), poll, 5.0, frozen)
    assert not is_late_sighting(poll, poll, None, frozen)


def test_a_kill_is_judged_from_the_dead_loops_due_time_when_that_comes_later():
    from bench.chaos import recovery_after
    dues = [(100.0, 110.0), (200.0, 800.0)]   # a cycle at 200 s with nothing near: next poll at 800 s
    # killed at 105 s while a poll was due at 110 s: counted from 110 s
    assert recovery_after(105.0, [140.0], dues, ended_at=1000.0) == 30.0
    # killed at 300 s: the loop was due at 800 s, polled at 812 s: 12 s late, not 512 s
    assert recovery_after(300.0, [812.0], dues, ended_at=1000.0) == 12.0
    # and a loop that never came back is late by the rest of the run
    assert recovery_after(300.0, [], dues, ended_at=1000.0) == 200.0
    # killed when the next poll was due after the run ended: nothing to judge
    assert recovery_after(300.0, [], dues, ended_at=700.0) is None


def test_due_times_are_read_from_the_live_workers_cycle_lines(tmp_path):
    from bench.chaos import log_cycles, log_due_times
    log = tmp_path / "live.log"
    log.write_text(
        "[2026-12-07 17:03:01,500: INFO/MainProcess] darkhorses.tasks.live: live cycle [loop ab12 seq 3]: "
        "40 races, 400 runners, 9000 prices, 12 changed, 0 closed, 1 past the off, 0 close-outs, 0 errors; "
        "next poll in 10s\n"
        "[2026-12-07 17:03:20,000: ERROR/MainProcess] darkhorses.tasks.live: live cycle [loop ab12 seq 4] "
        "failed (next try in 30s): ConnectionError\n")
    (first, first_due), (second, second_due) = log_due_times(log)
    assert (first_due - first, second_due - second) == (10, 30)
    assert second - first == 18.5
    assert [t for t, *_ in log_cycles(log)] == [first, second]
