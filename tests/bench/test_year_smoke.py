"""bench/year.py still works: a 10-day build prints every figure line. Only that the script
runs is checked here; its targets are judged by people reading a full run's output."""
import re
import subprocess
import sys

import pytest

from tests.support import PG_ADMIN_URL, service_env

pytestmark = pytest.mark.slow


def test_year_bench_runs_on_ten_days(pg_database, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bench.year", "--days", "10"], cwd=tmp_path,
                            env=service_env(BENCH_PG_ADMIN_URL=PG_ADMIN_URL), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert re.search(r"^stats job at 10 days: p50 [\d.]+ s .* ratio to 10 days [\d.]+", result.stdout, re.M)
    readers = [line for line in lines if line.startswith("reader ")]
    assert len(readers) == 14 and all(re.search(r"p50 +[\d.]+ ms +max +[\d.]+ ms", line) for line in readers)
    assert any(line.startswith("reader chart (a settled race)") for line in readers)
    assert re.search(r"^live cycle .* = [\d.]+x", result.stdout, re.M)
    assert re.search(r"^  ra_odds_history +table +[\d.]+ MB +indexes +[\d.]+ MB", result.stdout, re.M)
    assert re.search(r"^disk: [\d.]+ GB in all = [\d.]+ GB a month, [\d.]+ GB a year", result.stdout, re.M)
    assert lines[-1] == "PASS" or lines[-1].startswith("FAIL: ")
