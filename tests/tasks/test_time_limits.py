"""Every task's time limits, and a stalled live cycle cut by its own deadline on a real worker."""
import json
import re
import time

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from darkhorses.core import task_limits, task_names
from darkhorses.core.deadline import Deadline, DeadlinePassed
from darkhorses.live import lease
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.simulator import Faults
from darkhorses.tasks.app import app as darkhorses_app
from tests.support import celery_worker, wait_for
from tests.tasks.test_live import cycles, loop_env


def test_every_registered_task_carries_a_soft_and_a_hard_limit():
    darkhorses_app.loader.import_default_modules()
    table = task_limits.limits()  # LIVE_CYCLE_TIMEOUT_SECONDS unset: 90 s
    for name in task_names.ALL:
        task = darkhorses_app.tasks[name]
        assert task.soft_time_limit == table[name].soft, name
        assert task.time_limit == table[name].hard, name
        assert 0 < task.soft_time_limit < task.time_limit, name
        if table[name].deadline is not None:
            assert table[name].deadline < task.soft_time_limit, name
    # the live poll is cut before its lease lapses, and killed no later than that
    poll = task_limits.limits(15)[task_names.LIVE_POLL]
    assert poll.deadline < poll.soft < poll.hard <= 15


def test_the_client_gives_up_at_its_callers_deadline(simulator):
    simulator.faults = Faults(timeout_rate=1.0)
    simulator.hang_seconds = 20
    client = RacingAPIClient(max_attempts=6, deadline=Deadline(1.0, "live cycle"))
    started = time.monotonic()
    with pytest.raises(DeadlinePassed, match="live cycle"):
        client.racecards_pro(simulator.clock().date(), ["gb"])
    client.close()
    # the settings' own timeout (30 s) and six attempts would take minutes
    assert time.monotonic() - started < 3


@pytest.mark.slow
def test_a_stalled_cycle_is_cut_recorded_failed_and_one_loop_goes_on(database_url, redis_url, simulator, tmp_path):
    # An API that never answers within the client's own limits (30 s per read, six attempts).
    simulator.faults = Faults(timeout_rate=1.0)
    simulator.hang_seconds = 600
    log_path = tmp_path / "worker.log"
    # LIVE_CYCLE_TIMEOUT_SECONDS=10: the cycle's deadline at 6 s, 4 s before its lease would lapse
    # (a loaded machine's exception path and hand-over fit in that; see task_limits.py)
    env = loop_env(database_url, redis_url, simulator, tmp_path, LIVE_CYCLE_TIMEOUT_SECONDS=10,
                   RACING_API_TIMEOUT=30, RACING_API_MAX_ATTEMPTS=6)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    # the live worker's pool: Celery enforces no time limit in it, so the cut is the cycle's own
    with celery_worker(env, queues="live", pool="threads", concurrency=2, log_path=log_path):
        wait_for(lambda: any(failed for _, _, failed in cycles(log_path)), timeout=60, message="a cut cycle")
        beat = json.loads(store.get(lease.HEARTBEAT_KEY))
        assert beat["ok"] is False and "deadline" in beat["error"], beat
        simulator.faults = Faults()
        wait_for(lambda: any(not failed for _, _, failed in cycles(log_path)), timeout=60,
                 message="a cycle after the API answers again")
    runs = cycles(log_path)
    assert len({loop_id for loop_id, _, _ in runs}) == 1, runs
    assert [seq for _, seq, _ in runs] == list(range(len(runs))), "each sequence ran once, in order"
    text = log_path.read_text()
    cut = re.search(r"live cycle \[loop \w+ seq 0\] failed.*deadline", text)
    assert cut, text[-3000:]
    # the failure was recorded against the task (ra_task_status via the signals)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        failures = conn.execute(sql("SELECT failures FROM ra_task_status WHERE task_name = :n"),
                                {"n": task_names.LIVE_POLL}).scalar()
    engine.dispose()
    assert failures >= 1
