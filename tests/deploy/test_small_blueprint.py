"""deploy/render-small.yaml: one worker with embedded beat, a free Key Value, the user's database;
and, run exactly as that file starts it, the live loop keeps its cadence during a backfill."""
from __future__ import annotations

import os
import re
import shlex
import statistics
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.deploy.test_deploy_files import PLATFORM_VARS, SECRET_NAME, _env_entries, _is_celery, _option, _queues
from tests.support import REPO, service_env, stop_process, wait_for

SMALL = REPO / "deploy" / "render-small.yaml"


@pytest.fixture(scope="module")
def blueprint() -> dict:
    return yaml.safe_load(SMALL.read_text())


def _worker(blueprint) -> dict:
    return next(s for s in blueprint["services"] if s["type"] == "worker")


def test_one_worker_a_free_key_value_and_no_database(blueprint, known_queues, settings_vars):
    services = blueprint["services"]
    assert sorted(s["type"] for s in services) == ["keyvalue", "worker"]
    assert "databases" not in blueprint, "the user brings the database (DATABASE_URL)"
    worker, keyvalue = _worker(blueprint), next(s for s in services if s["type"] == "keyvalue")
    assert keyvalue["plan"] == "free" and keyvalue["maxmemoryPolicy"] == "noeviction" and "ipAllowList" in keyvalue
    assert worker.get("numInstances", 1) == 1, "one instance: one embedded beat"
    assert worker["preDeployCommand"] == "alembic upgrade head"
    argv = shlex.split(worker["startCommand"])
    assert _is_celery(argv) and argv[3] == "worker" and "-B" in argv
    assert _queues(argv) == known_queues
    assert _option(argv, "--pool", "-P") == "threads" and int(_option(argv, "--concurrency", "-c")) >= 4
    assert _option(argv, "--loglevel") == "${LOG_LEVEL:-INFO}"
    assert worker.get("region") == keyvalue.get("region")

    env = {e["key"]: e for e in worker["envVars"]}
    assert env["DATABASE_URL"] == {"key": "DATABASE_URL", "sync": False}
    assert env["RACING_API_USERNAME"]["sync"] is False and env["RACING_API_PASSWORD"]["sync"] is False
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        assert env[key]["fromService"] == {"type": "keyvalue", "name": keyvalue["name"], "property": "connectionString"}
    for owner, entry in _env_entries(blueprint):
        key = entry["key"]
        assert key in settings_vars or key in PLATFORM_VARS, f"{owner}: {key} is not a setting the app reads"
        if "value" in entry:
            assert not SECRET_NAME.search(key), f"{key} is a secret"


# ---------------------------------------------------------------- cadence under a backfill

POLL_SECONDS = 3.0       # the loop's interval in this test (10 s in a race's last five minutes)
BASELINE_SECONDS = 12.0  # the loop alone first, for comparison in the printed figures
MEASURE_SECONDS = 45.0   # how long the loop is measured while the backfill runs
TOLERANCE_SECONDS = 5.0  # half the 10 s cadence of a race's last five minutes


def _blueprint_command(blueprint, tmp_path) -> list[str]:
    """The blueprint's startCommand, as Render's shell would expand it, run from this checkout."""
    command = _worker(blueprint)["startCommand"]
    command = command.replace("${LOG_LEVEL:-INFO}", "INFO").replace("/tmp/celerybeat-schedule",
                                                                      str(tmp_path / "beat-schedule"))
    argv = shlex.split(command)
    argv[argv.index("-n") + 1] = f"small-{os.getpid()}@%h"
    return [sys.executable, "-m", "celery", *argv[1:]]


def cadence(database_url, since, until) -> tuple[list[float], list[float], list[float]]:
    """Per live cycle after the first in [since, until): how late it started against the moment its
    predecessor scheduled it (start + duration + the countdown it announced), the gap between
    the two starts, and the cycle's own duration."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        runs = conn.execute(text(
            "SELECT fetch_timestamp, CAST(fetch_duration_ms AS float) / 1000, detail FROM ra_odds_statistics "
            "WHERE fetch_timestamp >= :since AND fetch_timestamp < :until ORDER BY fetch_timestamp"),
            {"since": since, "until": until}).all()
    engine.dispose()
    late, gaps, durations = [], [], []
    for (start, duration, detail), (next_start, next_duration, _) in zip(runs, runs[1:], strict=False):
        due = start + timedelta(seconds=duration + detail["next_poll_seconds"])
        late.append((next_start - due).total_seconds())
        gaps.append((next_start - start).total_seconds())
        durations.append(next_duration)
    return late, gaps, durations


def summary(name, late, gaps, durations) -> str:
    p95 = statistics.quantiles(late, n=20, method="inclusive")[-1]
    return (f"{name}: {len(late)} polls, lateness median {statistics.median(late):.2f}s p95 {p95:.2f}s "
            f"max {max(late):.2f}s; start-to-start median {statistics.median(gaps):.2f}s max {max(gaps):.2f}s; "
            f"cycle median {statistics.median(durations):.2f}s")


def settled_between(database_url, start, end) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(text(
            "SELECT count(*) FROM ra_collection_ledger WHERE status IN ('complete', 'empty') "
            "AND finished_at BETWEEN :start AND :end"), {"start": start, "end": end}).scalar()
    engine.dispose()
    return count


@pytest.mark.slow
def test_live_cadence_holds_during_a_backfill_in_the_one_worker(blueprint, database_url, redis_url,
                                                                  simulator, tmp_path, capsys):
    from datetime import datetime, timezone

    from celery import Celery
    env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                      LIVE_POLL_INTERVALS=f"*:{POLL_SECONDS:g}", STATS_OUTPUT_DIR=tmp_path / "stats")
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(_blueprint_command(blueprint, tmp_path), cwd=REPO, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "live cycle [loop" in log_path.read_text(), timeout=90, message="the first live cycle")
        baseline_start = datetime.now(timezone.utc)
        wait_for(lambda: datetime.now(timezone.utc) - baseline_start > timedelta(seconds=BASELINE_SECONDS),
                 timeout=BASELINE_SECONDS + 10, interval=1, message="the baseline window")
        client = Celery("test-client", broker=redis_url, backend=redis_url)
        # A year of dates (the API's results window without the add-on): more than the
        # measurement window settles at 5 results requests/s.
        today = datetime.now(timezone.utc).date()
        client.send_task("darkhorses.historical.backfill",
                         args=[(today - timedelta(days=362)).isoformat(), (today - timedelta(days=2)).isoformat()],
                         queue="historical")
        wait_for(lambda: "Task darkhorses.historical.collect_day[" in log_path.read_text(), timeout=60,
                 message="the backfill's first dates")
        start = datetime.now(timezone.utc)
        wait_for(lambda: datetime.now(timezone.utc) - start > timedelta(seconds=MEASURE_SECONDS),
                 timeout=MEASURE_SECONDS + 10, interval=1, message="the measurement window")
        end = datetime.now(timezone.utc)
    finally:
        stop_process(worker)
    baseline = cadence(database_url, baseline_start, start)
    late, gaps, durations = cadence(database_url, start, end)
    settled = settled_between(database_url, start, end)
    settled_at_the_end = settled_between(database_url, end - timedelta(seconds=10), end)
    with capsys.disabled():
        print(f"\nsmall blueprint (threads pool, one process), live loop every {POLL_SECONDS:g}s:\n"
              f"  {summary('alone', *baseline)}\n  {summary('during a backfill', late, gaps, durations)}; "
              f"{settled} dates settled meanwhile ({settled / (end - start).total_seconds():.1f}/s)")
    assert settled >= MEASURE_SECONDS and settled_at_the_end > 0, \
        "the backfill ran throughout the window (up to 5 dates/s at the results limit)"
    assert len(late) >= MEASURE_SECONDS / (POLL_SECONDS + TOLERANCE_SECONDS), "the loop kept polling"
    assert max(late) <= TOLERANCE_SECONDS, late


def test_deployment_files_point_at_readme_sections_that_exist():
    headings = {line.lstrip("#").strip() for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("#")}
    for name in ("Dockerfile", "render.yaml", "docker-compose.yml", "deploy/render-small.yaml"):
        source = (REPO / name).read_text()
        for path in re.findall(r"(?<![\w/.])docs/[\w./-]+", source):
            assert (REPO / path).exists(), f"{name} points at {path}, which does not exist"
        for section in re.findall(r'README\.md, "([^"]+)"', source):
            assert section in headings, f"{name} points at README section {section!r}, which does not exist"
