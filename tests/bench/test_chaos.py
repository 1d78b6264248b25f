"""bench/chaos.py: a short race day under random faults (fixed seed) passes every invariant.

About four minutes of real processes (workers, beat, Redis, the simulator); the hour-long run
is `python -m bench.chaos --minutes 60` (docs/chaos.md)."""
import subprocess
import sys

import pytest

from tests.support import PG_ADMIN_URL, service_env

pytestmark = [pytest.mark.slow, pytest.mark.chaos]


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
