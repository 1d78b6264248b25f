"""bench/export.py still works: two small days print every figure line and end PASS or FAIL."""
import re
import subprocess
import sys

import pytest

from tests.support import PG_ADMIN_URL, service_env

pytestmark = pytest.mark.slow


def test_export_bench_runs_on_two_small_days(pg_database, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bench.export", "--days", "2", "--rows-per-day", "2000"],
                            cwd=tmp_path, env=service_env(BENCH_PG_ADMIN_URL=PG_ADMIN_URL), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^export 2 days +4,000 rows .* peak RSS +[\d.]+ MB", result.stdout, re.M)
    assert re.search(r"^archive 2 days +4,000 rows", result.stdout, re.M)
    assert re.search(r"^peak RSS, month over day: export [\d.]+x, archive [\d.]+x", result.stdout, re.M)
    last = result.stdout.strip().splitlines()[-1]
    assert last == "PASS" or last.startswith("FAIL: ")
