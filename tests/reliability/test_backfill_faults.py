"""Backfills under faults: a worker killed mid-way, Redis restarted mid-way."""
import signal
from datetime import date, timedelta

import pytest
from celery import Celery
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from darkhorses.simulator import Faults
from tests.reliability.conftest import elapsed_since
from tests.support import celery_beat, celery_worker, service_env, stop_process, wait_for

pytestmark = pytest.mark.slow
FIRST, DAYS = date(2026, 9, 1), 30


def clean_run_rows(simulator) -> dict[str, int]:
    """What a fault-free collection stores per date: one row per runner the API lists in a
    result (the simulator's answer, not the mapping under test)."""
    counts = {}
    for n in range(DAYS):
        day = FIRST + timedelta(days=n)
        results = simulator.results(day, day, ["gb", "ire"], 100, 0)["results"]
        counts[day.isoformat()] = sum(len(race["runners"]) for race in results)
    return counts


def stored_rows(database_url) -> dict[str, int]:
    """The backfilled days' rows and ledger. A live loop running beside the backfill stores today's
    results as they appear (provisional, ledger 'provisional'): in the evening that is a day more."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text(
            "SELECT (date_of_race AT TIME ZONE 'UTC')::date::text, count(*) FROM ra_odds_historical "
            "WHERE NOT provisional GROUP BY 1")).all())
        statuses = dict(conn.execute(text(
            "SELECT race_date::text, status FROM ra_collection_ledger WHERE status <> 'provisional'")).all())
    engine.dispose()
    return rows, statuses


def backfill_env(database_url, broker, simulator, **extra):
    return service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=broker,
                       RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                       HISTORICAL_STALL_SECONDS=8, HISTORICAL_RESUME_SECONDS=2, HISTORICAL_RETRY_SECONDS=1,
                       **extra)


def ledger_done(database_url):
    rows, statuses = stored_rows(database_url)
    return len(statuses) == DAYS and all(s in ("complete", "empty") for s in statuses.values())


def test_worker_killed_mid_backfill_loses_no_date(database_url, redis_url, simulator, tmp_path, fault_log):
    simulator.faults = Faults(latency=0.3)  # slow enough to kill the worker mid-way
    expected = clean_run_rows(simulator)
    env = backfill_env(database_url, redis_url, simulator)
    client = Celery("test-client", broker=redis_url, backend=redis_url)
    beat = celery_beat(env, tmp_path)
    try:
        with celery_worker(env, queues="historical", pool="threads", concurrency=2, name="victim",
                           log_path=tmp_path / "victim.log") as victim:
            client.send_task(task_names.HISTORICAL_BACKFILL,
                             args=[FIRST.isoformat(), (FIRST + timedelta(days=DAYS - 1)).isoformat()],
                             queue="historical")
            wait_for(lambda: 5 <= sum(s == "complete" for s in stored_rows(database_url)[1].values()),
                     timeout=60, interval=0.1, message="a few dates collected")
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        killed_at = __import__("time").monotonic()
        with celery_worker(env, queues="historical", pool="threads", concurrency=2, name="rescuer",
                           log_path=tmp_path / "rescuer.log"):
            wait_for(lambda: ledger_done(database_url), timeout=150, message="every date settled after the kill")
    finally:
        stop_process(beat)
    rows, statuses = stored_rows(database_url)
    lost = sum(max(0, expected[d] - rows.get(d, 0)) for d in expected)
    fault_log("worker SIGKILL mid-backfill (30 days)", lost == 0, lost, f"recovered in {elapsed_since(killed_at)}s")
    assert rows == {d: n for d, n in expected.items() if n}, "row counts equal a clean run's"
    assert set(statuses) == set(expected)


def test_redis_restart_mid_backfill_resumes_without_manual_action(database_url, simulator, own_redis, tmp_path,
                                                                   fault_log):
    simulator.faults = Faults(latency=0.3)
    expected = clean_run_rows(simulator)
    env = backfill_env(database_url, own_redis.url, simulator)
    beat = celery_beat(env, tmp_path)
    try:
        with celery_worker(env, queues="historical", pool="threads", concurrency=2,
                           log_path=tmp_path / "worker.log"):
            client = Celery("test-client", broker=own_redis.url, backend=own_redis.url)
            client.send_task(task_names.HISTORICAL_BACKFILL,
                             args=[FIRST.isoformat(), (FIRST + timedelta(days=DAYS - 1)).isoformat()],
                             queue="historical")
            wait_for(lambda: 5 <= sum(s == "complete" for s in stored_rows(database_url)[1].values()),
                     timeout=60, interval=0.1, message="a few dates collected")
            # Redis keeps nothing on disk here: the queued dates and the progress chain are gone
            own_redis.stop()
            restarted_at = __import__("time").monotonic()
            own_redis.start()
            wait_for(lambda: ledger_done(database_url), timeout=180, message="every date settled after the restart")
    finally:
        stop_process(beat)
    rows, _ = stored_rows(database_url)
    lost = sum(max(0, expected[d] - rows.get(d, 0)) for d in expected)
    fault_log("Redis restarted mid-backfill (queue lost)", lost == 0, lost,
              f"recovered in {elapsed_since(restarted_at)}s")
    assert rows == {d: n for d, n in expected.items() if n}
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT resumes FROM ra_backfill_requests")).scalar() >= 1
    engine.dispose()
