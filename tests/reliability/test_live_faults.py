"""The live loop under faults: worker killed, Redis restarted, PostgreSQL away, credentials rejected."""
import re
import subprocess
import sys
import time

import pytest
import redis
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from darkhorses.live import lease
from darkhorses.simulator import Faults
from tests.reliability.conftest import elapsed_since
from tests.support import celery_beat, celery_worker, stop_process, wait_for
from tests.tasks.test_live import cycles, loop_env

pytestmark = pytest.mark.slow


def ok_cycles_after(log_path, count):
    return [c for c in cycles(log_path)[count:] if not c[2]]


def assert_one_loop_at_a_time(runs):
    """Loops may be replaced (a lapsed lease), never run side by side: once a new loop id
    appears, the previous one never polls again."""
    order = []
    for loop_id, _, _ in runs:
        if not order or order[-1] != loop_id:
            assert loop_id not in order, f"loop {loop_id} polled again after being replaced: {order}"
            order.append(loop_id)


def live_rows(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM ra_odds_live")).scalar()
    engine.dispose()
    return count


# A killed live worker, Redis restarts and a frozen holder: tests/reliability/test_loop_takeover.py.


def test_postgresql_unavailable_for_30_seconds(pg_database, database_url, redis_url, simulator, pg_proxy,
                                               tmp_path, fault_log):
    """One 30 s outage while the live loop polls and a backfill runs, both through a proxy."""
    from datetime import timedelta

    from celery import Celery

    from tests.reliability.test_backfill_faults import DAYS, FIRST, clean_run_rows, ledger_done, stored_rows
    simulator.faults = Faults(latency=0.2)
    expected = clean_run_rows(simulator)
    proxied = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_proxy.port}")
    env = loop_env(proxied, redis_url, simulator, tmp_path, HISTORICAL_STALL_SECONDS=8,
                   HISTORICAL_RESUME_SECONDS=2, HISTORICAL_RETRY_SECONDS=1)
    log_path = tmp_path / "worker.log"
    beat = celery_beat(env, tmp_path)
    try:
        with celery_worker(env, queues="live", log_path=log_path), \
                celery_worker(env, queues="historical", pool="threads", concurrency=2, name="historical",
                              log_path=tmp_path / "historical.log"):
            wait_for(lambda: len(ok_cycles_after(log_path, 0)) >= 2, timeout=60, message="polling")
            Celery("client", broker=redis_url, backend=redis_url).send_task(
                task_names.HISTORICAL_BACKFILL,
                args=[FIRST.isoformat(), (FIRST + timedelta(days=DAYS - 1)).isoformat()], queue="historical")
            wait_for(lambda: 3 <= sum(s == "complete" for s in stored_rows(database_url)[1].values()),
                     timeout=60, interval=0.1, message="the backfill under way")
            rows_before = live_rows(database_url)
            pg_proxy.cut()
            cut_at = time.monotonic()
            seen = len(cycles(log_path))
            wait_for(lambda: any(failed for _, _, failed in cycles(log_path)[seen:]), timeout=30,
                     message="a cycle failing while PostgreSQL is away")
            while time.monotonic() - cut_at < 30:
                time.sleep(0.5)  # the outage itself lasts 30 s; nothing to wait for
            failures_during = sum(failed for _, _, failed in cycles(log_path)[seen:])
            pg_proxy.restore()
            back = len(cycles(log_path))
            wait_for(lambda: len(ok_cycles_after(log_path, back)) >= 2, timeout=60,
                     message="polling after the outage")
            recovered_in = elapsed_since(cut_at) - 30
            wait_for(lambda: ledger_done(database_url), timeout=150, message="every date settled after the outage")
    finally:
        stop_process(beat)
    runs = cycles(log_path)
    assert_one_loop_at_a_time(runs)
    assert failures_during >= 2
    # backoff, not a hot loop: with a 1 s failure backoff there are at most ~1 cycle per second
    assert failures_during <= 40
    lost_live = max(0, rows_before - live_rows(database_url))
    rows, _ = stored_rows(database_url)
    lost_results = sum(max(0, expected[d] - rows.get(d, 0)) for d in expected)
    fault_log("PostgreSQL unavailable 30 s (loop + backfill)", True, lost_live + lost_results,
              f"{failures_during} failed cycles, polling {recovered_in:.1f}s after it returned")
    assert lost_live == 0 and rows == {d: n for d, n in expected.items() if n}


def test_rejected_credentials_slow_down_then_recover(database_url, redis_url, simulator, tmp_path, fault_log):
    simulator._auth = b"sim:changed-by-the-vendor"
    env = loop_env(database_url, redis_url, simulator, tmp_path, LIVE_CREDENTIALS_BACKOFF_SECONDS=6)
    log_path = tmp_path / "worker.log"
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    with celery_worker(env, queues="live", log_path=log_path):
        wait_for(lambda: any(failed for _, _, failed in cycles(log_path)), timeout=60, message="a rejected cycle")
        assert "The Racing API rejected the credentials" in log_path.read_text()
        assert store.pttl(lease.LEASE_KEY) > 5000, "next try at the slow cadence, not the 1 s failure backoff"
        engine = create_engine(database_url)

        def recorded_failure():
            with engine.connect() as conn:
                return conn.execute(text("SELECT last_state, last_error FROM ra_task_status WHERE task_name = :name"),
                                    {"name": task_names.LIVE_POLL}).one_or_none()
        state, error = wait_for(recorded_failure, timeout=30, message="the failure in ra_task_status")
        engine.dispose()
        assert state == "FAILURE" and "rejected the credentials" in error
        requests_while_rejected = len([r for r in simulator.request_log if r[2] == 401])
        simulator._auth = b"sim:sim"  # the operator fixes the account
        fixed_at = time.monotonic()
        wait_for(lambda: any(not failed for _, _, failed in cycles(log_path)), timeout=60,
                 message="recovery once the credentials work")
    assert requests_while_rejected <= 3, "no hammering"
    fault_log("credentials rejected (401)", True, 0, f"recovered {elapsed_since(fixed_at)}s after the fix")


def test_no_secret_reaches_a_log_line_or_a_task_argument(database_url, redis_url, simulator, tmp_path, fault_log):
    api_password, db_password = "api-pw-7f3c9e", "db-pw-41aa20"
    simulator._auth = f"analyst:{api_password}".encode()
    secret_db_url = database_url.replace("postgres@", f"postgres:{db_password}@")  # trust auth ignores it
    env = loop_env(secret_db_url, redis_url, simulator, tmp_path, RACING_API_USERNAME="analyst",
                   RACING_API_PASSWORD=api_password, LOG_LEVEL="DEBUG")
    log_path = tmp_path / "worker.log"
    with celery_worker(env, queues="live", log_path=log_path):
        wait_for(lambda: len(ok_cycles_after(log_path, 0)) >= 1, timeout=60, message="a cycle with the secrets")
    for command in (["status"], ["live-once"], ["migrate"]):
        result = subprocess.run([sys.executable, "-m", "darkhorses", *command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        # status exits 1 if the loop's lease lapsed after the worker stopped; both are answers
        assert result.returncode in ((0, 1) if command == ["status"] else (0,)), result.stderr
        for secret in (api_password, db_password):
            assert secret not in result.stdout + result.stderr
    status_file = tmp_path / "logs" / "scheduler_status.json"
    text_of_logs = log_path.read_text() + (status_file.read_text() if status_file.exists() else "")
    for secret in (api_password, db_password):
        assert secret not in text_of_logs
    # what Flower shows of a task is its name and arguments: ids and dates, never settings
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter("celery-task-meta-*"):
        assert api_password.encode() not in store.get(key) and db_password.encode() not in store.get(key)
    assert re.search(r"Task darkhorses\.live\.poll\[[^\]]+\] received", log_path.read_text())
    fault_log("secrets in logs and task arguments", True, 0, "none found")
