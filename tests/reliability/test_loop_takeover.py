"""The live loop outlives its worker (issue #26): a killed worker, Redis restarts, a frozen holder.

Real Celery workers on the run's Redis (or one of the test's own), PostgreSQL and the
simulator. The loop polls at the fast cadence of a race a couple of minutes from its off
(LIVE_POLL_INTERVALS="*:5": every 5 s). No beat runs: each live worker's guard revives the loop.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.reliability.conftest import elapsed_since
from tests.reliability.test_live_faults import assert_one_loop_at_a_time, live_rows
from tests.support import celery_worker, timed_cycles, wait_for
from tests.tasks.test_live import loop_env

pytestmark = pytest.mark.slow

FAST = 5.0  # the fast cadence, seconds
def ok_after(moment, *log_paths):
    return [c for c in timed_cycles(*log_paths) if c[0] > moment and not c[3]]


def closest_hand_over(cycles):
    """The shortest gap between two consecutive cycles of different loops (None if one loop)."""
    gaps = [b[0] - a[0] for a, b in zip(cycles, cycles[1:], strict=False) if a[1] != b[1]]
    return min(gaps) if gaps else None


def test_a_killed_live_worker_restarted_5s_later_polls_again_within_30s(database_url, redis_url, simulator,
                                                                         tmp_path, fault_log):
    env = loop_env(database_url, redis_url, simulator, tmp_path, LIVE_POLL_INTERVALS=f"*:{FAST:g}")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    # the same node name twice, as a supervisor restarts a worker on the same host
    with celery_worker(env, queues="live", name="live", log_path=first_log) as first:
        wait_for(lambda: len(ok_after(0, first_log)) >= 2, timeout=60, message="the loop polling")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at, killed_wall = time.monotonic(), time.time()
    rows_before = live_rows(database_url)
    time.sleep(5)  # the supervisor's restart delay: the scenario itself, nothing to wait for
    with celery_worker(env, queues="live", name="live", log_path=second_log):
        wait_for(lambda: ok_after(killed_wall, second_log), timeout=40, message="polling on the restarted worker")
        recovered_in = elapsed_since(killed_at)
        wait_for(lambda: len(ok_after(killed_wall, second_log)) >= 3, timeout=30, message="the loop going on")
    cycles = timed_cycles(first_log, second_log)
    assert_one_loop_at_a_time([(loop, seq, failed) for _, loop, seq, failed in cycles])
    gap = closest_hand_over(cycles)
    assert gap is not None and gap >= FAST - 1, f"two loops {gap}s apart: closer than the fast cadence"
    lost = max(0, rows_before - live_rows(database_url))
    fault_log("live worker SIGKILL, restarted 5 s later", recovered_in < 30, lost,
              f"polling again {recovered_in}s after the kill")
    assert recovered_in < 30
    assert "takes over" in second_log.read_text()


def test_three_redis_restarts_keep_the_same_live_worker_polling(database_url, simulator, own_redis, tmp_path,
                                                                  fault_log):
    env = loop_env(database_url, own_redis.url, simulator, tmp_path)  # a cycle every second: always one in flight
    log_path = tmp_path / "worker.log"
    recoveries = []
    # the live worker as deployed: threads pool, 2 slots (a task finishes while the consumer reconnects)
    with celery_worker(env, queues="live", pool="threads", concurrency=2, log_path=log_path) as worker:
        wait_for(lambda: len(ok_after(0, log_path)) >= 2, timeout=60, message="polling")
        rows_before = live_rows(database_url)
        for _ in range(3):
            loop_before = ok_after(0, log_path)[-1][1]
            own_redis.stop()  # the lease, the heartbeats, the ETA message and the queue are gone
            own_redis.start()
            back_at, back_wall = time.monotonic(), time.time()
            # a new loop polling (a cycle in flight at the restart may still finish in the old one)
            wait_for(lambda since=back_wall, old=loop_before: [c for c in ok_after(since, log_path) if c[1] != old],
                     timeout=30, message="polling after the restart")
            recoveries.append(elapsed_since(back_at))
            assert worker.poll() is None, f"the worker exited: {log_path.read_text()[-2000:]}"
        pid = worker.pid
        assert worker.poll() is None and os.getpgid(pid) == pid, "the same worker process throughout"
    text = log_path.read_text()
    assert "Unrecoverable error" not in text
    assert_one_loop_at_a_time([(loop, seq, failed) for _, loop, seq, failed in timed_cycles(log_path)])
    lost = max(0, rows_before - live_rows(database_url))
    fault_log("Redis restarted 3x during live polling", max(recoveries) < 15, lost,
              f"same worker; polling again after {', '.join(f'{r}s' for r in recoveries)}")
    assert max(recoveries) < 15, recoveries
    assert lost == 0


def test_a_frozen_holder_is_replaced_and_not_doubled_when_it_wakes(database_url, redis_url, simulator, tmp_path,
                                                                   fault_log):
    import redis

    from darkhorses.live import lease
    env = loop_env(database_url, redis_url, simulator, tmp_path, LIVE_POLL_INTERVALS="*:3")  # shorter: two workers
    logs = {"a": tmp_path / "a.log", "b": tmp_path / "b.log"}
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    with celery_worker(env, queues="live", name="a", log_path=logs["a"]) as a, \
            celery_worker(env, queues="live", name="b", log_path=logs["b"]) as b:
        wait_for(lambda: len(ok_after(0, *logs.values())) >= 2, timeout=60, message="the loop polling")
        holder = lease.Lease.decode(store.get(lease.LEASE_KEY)).holder
        frozen, other = (a, b) if holder.startswith("a-") else (b, a)
        frozen.send_signal(signal.SIGSTOP)
        stopped_wall = time.time()
        try:
            other_log = logs["b"] if frozen is a else logs["a"]
            # the other worker carries the loop on: it takes it over once the holder's heartbeat is
            # gone, or runs the successor message it had already received
            wait_for(lambda: ok_after(stopped_wall, other_log), timeout=20,
                     message="the other worker polling")
            taken_over_in = round(ok_after(stopped_wall, other_log)[0][0] - stopped_wall, 1)
            while time.time() - stopped_wall < 20:
                time.sleep(0.5)  # the freeze lasts 20 s: nothing to wait for
        finally:
            frozen.send_signal(signal.SIGCONT)
        woken_wall = time.time()
        # two cycles after the wake: room for a doubled loop to show itself
        wait_for(lambda: len(ok_after(woken_wall + 2, *logs.values())) >= 2, timeout=40,
                 message="polling after the wake")
        after = ok_after(woken_wall + 2, *logs.values())
    loops_after = {loop for _, loop, _, _ in after}
    cycles = timed_cycles(*logs.values())
    fault_log("live holder SIGSTOP 20 s, then SIGCONT", len(loops_after) == 1, 0,
              f"polling on the other worker after {taken_over_in}s; loops polling after the wake: {len(loops_after)}")
    assert len(loops_after) == 1, after
    assert_one_loop_at_a_time([(loop, seq, failed) for _, loop, seq, failed in cycles])
    assert taken_over_in < 15
