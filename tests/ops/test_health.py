"""`darkhorses health --worker|--beat` against real processes: fresh, busy, frozen (SIGSTOP)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from darkhorses.ops.health import check
from darkhorses.simulator import Faults
from tests.support import REPO, celery_beat, celery_worker, service_env, stop_process, wait_for
from tests.tasks.test_live import cycles, loop_env

BEAT = 1.0  # HEARTBEAT_SECONDS in these tests: stale after three missed beats


def probe(env, role) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "darkhorses", "health", f"--{role}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)


def test_a_fresh_record_of_a_running_process_is_healthy_a_stale_one_not(tmp_path):
    record = {"role": "worker", "node": "live@here", "instance": "i", "pid": os.getpid(), "interval": 2.0}
    path = tmp_path / "worker-live@here.json"
    path.write_text(json.dumps({**record, "at": time.time() - 1}))
    started = time.perf_counter()
    verdict = check(tmp_path, "worker")
    assert time.perf_counter() - started < 0.05  # a probe's read, in milliseconds
    assert verdict.healthy and "live@here" in verdict.line
    path.write_text(json.dumps({**record, "at": time.time() - 7}))
    assert not check(tmp_path, "worker").healthy
    # a record left by a process that is gone (a previous start) is not judged
    path.write_text(json.dumps({**record, "pid": 2 ** 22 + 7, "at": time.time() - 600}))
    assert not check(tmp_path, "worker").healthy  # nothing running here
    assert "no heartbeat" in check(tmp_path, "worker").line
    assert not check(tmp_path / "missing", "beat").healthy


@pytest.mark.slow
def test_a_busy_worker_stays_healthy_a_frozen_one_turns_unhealthy(database_url, redis_url, simulator, tmp_path):
    # Busy: the live cycle hangs on an API that never answers (cut after 18 s by its deadline).
    simulator.faults = Faults(timeout_rate=1.0)
    simulator.hang_seconds = 600
    env = loop_env(database_url, redis_url, simulator, tmp_path, HEARTBEAT_SECONDS=BEAT,
                   HEARTBEAT_DIR=tmp_path / "heartbeat", LIVE_CYCLE_TIMEOUT_SECONDS=30)
    log_path = tmp_path / "worker.log"
    with celery_worker(env, queues="live", pool="threads", concurrency=2, log_path=log_path) as worker:
        wait_for(lambda: probe(env, "worker").returncode == 0, timeout=30, message="a healthy worker")
        wait_for(lambda: "takes over" in log_path.read_text(), timeout=30, message="the loop started")
        time.sleep(BEAT)  # its first cycle now waits on the API
        for _ in range(4):  # over four beats while the cycle hangs
            assert probe(env, "worker").returncode == 0
            time.sleep(BEAT)
        assert not cycles(log_path), "the cycle was still running: the worker was busy"
        os.killpg(worker.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            wait_for(lambda: probe(env, "worker").returncode == 1, timeout=15, interval=0.5,
                     message="the frozen worker reported unhealthy")
            turned = time.monotonic() - frozen
            assert "stale" in probe(env, "worker").stdout
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        wait_for(lambda: probe(env, "worker").returncode == 0, timeout=15, message="healthy again after SIGCONT")
        os.killpg(worker.pid, signal.SIGKILL)  # done: no warm shutdown waiting on the hung cycle
    assert turned <= 3 * BEAT + 4  # three missed beats, plus one probe's start-up


@pytest.mark.slow
def test_beat_writes_a_heartbeat_the_probe_reads(redis_url, tmp_path):
    env = service_env(CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url, RACING_API_USERNAME="u",
                      RACING_API_PASSWORD="p", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite",
                      HEARTBEAT_SECONDS=BEAT, HEARTBEAT_DIR=tmp_path / "heartbeat")
    assert probe(env, "beat").returncode == 1  # no beat yet
    beat = celery_beat(env, tmp_path)
    try:
        wait_for(lambda: probe(env, "beat").returncode == 0, timeout=30, message="a healthy beat")
        os.killpg(beat.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: probe(env, "beat").returncode == 1, timeout=15, interval=0.5,
                     message="the frozen beat reported unhealthy")
        finally:
            os.killpg(beat.pid, signal.SIGCONT)
    finally:
        stop_process(beat, sig=signal.SIGKILL)  # its shutdown is not the subject here
