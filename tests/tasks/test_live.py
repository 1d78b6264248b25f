"""The live loop on a real worker and the real Redis, against the simulator."""
import re

import pytest
from celery import Celery
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from darkhorses.simulator import Faults
from tests.support import celery_worker, service_env, wait_for

pytestmark = pytest.mark.slow
CYCLE = re.compile(r"live cycle \[loop (\w+) seq (\d+)\]( failed)?")


def loop_env(database_url, redis_url, simulator, tmp_path, **extra):
    settings = dict(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                    RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                    LIVE_POLL_INTERVALS="*:1", LIVE_LEASE_GRACE_SECONDS=10, LIVE_FAILURE_BACKOFF_SECONDS=1,
                    LIVE_CYCLE_TIMEOUT_SECONDS=15, RACING_API_MAX_ATTEMPTS=1, STATS_OUTPUT_DIR=tmp_path / "stats")
    return service_env(**{**settings, **extra})


def cycles(log_path):
    return [(m.group(1), int(m.group(2)), bool(m.group(3))) for m in CYCLE.finditer(log_path.read_text())]


def client(redis_url):
    return Celery("test-client", broker=redis_url, backend=redis_url)


def test_five_concurrent_kick_offs_make_one_loop(database_url, redis_url, simulator, tmp_path):
    log_path = tmp_path / "worker.log"
    with celery_worker(loop_env(database_url, redis_url, simulator, tmp_path), queues="live", pool="threads",
                       concurrency=5, log_path=log_path):
        # five kick-offs arrive at once as the worker boots (its guard may start the loop too)
        api = client(redis_url)
        for _ in range(5):
            api.send_task(task_names.LIVE_POLL, queue="live")
        wait_for(lambda: len(cycles(log_path)) >= 5, timeout=60, message="five cycles")
    runs = cycles(log_path)
    assert len({loop_id for loop_id, _, _ in runs}) == 1, runs
    sequences = [seq for _, seq, _ in runs]
    assert sequences == list(range(len(sequences))), "each sequence ran once, in order"
    assert log_path.read_text().count("live poll skipped: another live loop holds the lease") >= 4
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ra_odds_live")).scalar() > 1000
        assert conn.execute(text("SELECT count(*) FROM ra_odds_statistics")).scalar() == len(runs)
    engine.dispose()


def test_a_failing_cycle_keeps_the_loop_alive(database_url, redis_url, simulator, tmp_path):
    log_path = tmp_path / "worker.log"
    simulator.faults = Faults(error_rate=1.0)
    with celery_worker(loop_env(database_url, redis_url, simulator, tmp_path), queues="live",
                       log_path=log_path):
        wait_for(lambda: sum(failed for _, _, failed in cycles(log_path)) >= 3, timeout=60,
                 message="three failed cycles")
        simulator.faults = Faults()
        wait_for(lambda: any(not failed for _, _, failed in cycles(log_path)), timeout=60,
                 message="a successful cycle after the API recovered")
    runs = cycles(log_path)
    assert len({loop_id for loop_id, _, _ in runs}) == 1
    assert [seq for _, seq, _ in runs] == list(range(len(runs)))
    engine = create_engine(database_url)
    with engine.connect() as conn:
        state, failures = conn.execute(text(
            "SELECT last_state, failures FROM ra_task_status WHERE task_name = :name"),
            {"name": task_names.LIVE_POLL}).one()
        assert failures >= 3
    engine.dispose()


# Killing the loop's worker, restarting Redis and PostgreSQL outages: tests/reliability/.
