"""bench/year.py still works: a 10-day build prints every figure line. Only that the script
runs is checked here; its targets are judged by people reading a full run's output."""
import re
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support import PG_ADMIN_URL, service_env

pytestmark = pytest.mark.slow


def _drop(name: str) -> bool:
    """Drops database `name`; whether it was there."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    return there


def test_year_bench_runs_on_ten_days(pg_database, tmp_path):
    kept = f"darkhorses_year_kept_{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run([sys.executable, "-m", "bench.year", "--days", "10", "--keep-db", kept],
                                cwd=tmp_path, env=service_env(BENCH_PG_ADMIN_URL=PG_ADMIN_URL),
                                capture_output=True, text=True, timeout=600)
    finally:
        was_kept = _drop(kept)
    assert result.returncode == 0, result.stderr[-3000:]
    assert was_kept and f"kept the database as {kept!r}" in result.stdout
    lines = result.stdout.strip().splitlines()
    assert re.search(r"^stats job at 10 days: p50 [\d.]+ s .* ratio to 10 days [\d.]+", result.stdout, re.M)
    readers = [line for line in lines if line.startswith("reader ")]
    assert len(readers) == 14 and all(re.search(r"p50 +[\d.]+ ms +max +[\d.]+ ms", line) for line in readers)
    assert any(line.startswith("reader chart (a settled race)") for line in readers)
    assert re.search(r"^live cycle .* = [\d.]+x", result.stdout, re.M)
    assert re.search(r"^  ra_odds_moves +table +[\d.]+ MB +indexes +[\d.]+ MB", result.stdout, re.M)
    assert re.search(r"^disk: [\d.]+ GB in all = [\d.]+ GB a month, [\d.]+ GB a year", result.stdout, re.M)
    assert re.search(r"^bytes per live price: \d+ \([\d,]+ prices", result.stdout, re.M)
    assert re.search(r"^bytes per history row: \d+ \([\d,]+ rows", result.stdout, re.M)
    assert re.search(r"^sizing line: \| .* \| [\d.]+ GB ", result.stdout, re.M)
    assert re.search(r"^live cycle against COPY .* all changed [\d.]+x .* unchanged [\d.]+x", result.stdout, re.M)
    assert lines[-1] == "PASS" or lines[-1].startswith("FAIL: ")
