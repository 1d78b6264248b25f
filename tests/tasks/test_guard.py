"""The live loop's guard and watchdog (darkhorses/tasks/live.py) and the worker's heartbeat step
(darkhorses/tasks/heartbeat.py), in this process on the run's Redis (no worker consumes the
messages they send)."""
from __future__ import annotations

import time

from darkhorses.core import task_names
from darkhorses.core.settings import get_settings
from darkhorses.core.store import store_for
from darkhorses.live import lease
from darkhorses.tasks import heartbeat as steps
from darkhorses.tasks import live


def put_lease(due_in: float, holder: str = "live@elsewhere") -> lease.Lease:
    now = time.time()
    held = lease.Lease(loop="old", seq=7, phase=lease.WAITING, due=now + due_in, since=now, holder=holder,
                       instance="i1", pid=1)
    store_for(get_settings()).set(lease.LEASE_KEY, held.encode(), ttl=600)
    return held


def test_the_watchdog_revives_a_loop_whose_holder_is_dead(redis_url, caplog):
    put_lease(due_in=20)  # its worker was killed: no heartbeat
    assert live.watchdog.apply().get() == "restarted"
    _, new = lease.read(store_for(get_settings()))
    assert new.loop != "old" and (new.seq, new.phase) == (0, lease.WAITING)
    assert 18 < lease.seconds_until(new) <= 20, "the dead loop's schedule kept"
    assert "has no heartbeat; loop" in caplog.text and "takes over" in caplog.text


def test_the_watchdog_and_guard_leave_a_live_loop_alone(redis_url, beating):
    held = put_lease(due_in=20, holder=beating.identity.node)._replace(instance=beating.identity.instance)
    store_for(get_settings()).set(lease.LEASE_KEY, held.encode(), ttl=600)
    assert live.watchdog.apply().get() == "alive"
    assert live.revive_dead_loop("live guard") is None
    assert lease.read(store_for(get_settings()))[1] == held


def test_the_guard_runs_in_workers_of_the_live_queue_only():
    assert ("live", "live-guard") in [(queue, name) for queue, name, _ in steps._guards]

    class Queues:
        def __init__(self, consume_from):
            self.queues = type("Q", (), {"consume_from": consume_from})()

    class Worker:
        def __init__(self, consume_from):
            self.app = type("A", (), {"amqp": Queues(consume_from)})()
    assert steps._consumes(Worker({"live": 1}), task_names.LIVE_QUEUE)
    assert steps._consumes(Worker(None), task_names.LIVE_QUEUE), "no -Q: every queue"
    assert not steps._consumes(Worker({"historical": 1, "stats": 1}), task_names.LIVE_QUEUE)
