"""The live loop's lease (darkhorses/live/lease.py) and the stores' compare-and-set
(darkhorses/core/store.py), on the run's own Redis and on the in-memory store."""
from __future__ import annotations

import json
import threading
import time

import pytest

from darkhorses.core import heartbeat as beats
from darkhorses.core.store import MemoryStore, RedisStore
from darkhorses.live import lease
from tests.support import wait_for


@pytest.fixture(params=["redis", "memory"])
def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("redis_url")
    store = RedisStore(url)
    yield store
    store.client.close()


# -- compare-and-set -------------------------------------------------------------------------

def test_compare_and_set_replaces_only_the_expected_value(store):
    store.set("k", "a")
    assert store.compare_and_set("k", "b", "c", 60) is False
    assert store.get("k") == "a"
    assert store.compare_and_set("k", "a", "c", 60) is True
    assert store.get("k") == "c"
    assert store.compare_and_set("k", "a", "d", 60) is False, "the old value no longer matches"
    assert store.get("k") == "c"


def test_compare_and_set_on_a_missing_key_sets_nothing(store):
    assert store.compare_and_set("absent", "a", "b", 60) is False
    assert store.get("absent") is None


def test_compare_and_set_gives_the_value_the_new_ttl(store):
    store.set("k", "a")
    assert store.ttl("k") is None, "a plain set has no expiry"
    assert store.compare_and_set("k", "a", "b", 30) is True
    assert 25 < store.ttl("k") <= 30


def test_set_if_absent_takes_a_free_key_once(store):
    assert store.set_if_absent("k", "first", 60) is True
    assert store.set_if_absent("k", "second", 60) is False
    assert store.get("k") == "first"


def test_values_expire_after_their_ttl(store):
    assert store.set_if_absent("k", "v", 0.3) is True
    assert store.get("k") == "v"
    wait_for(lambda: store.get("k") is None, timeout=5, interval=0.05, message="the value to expire")
    assert store.compare_and_set("k", "v", "w", 60) is False, "an expired value cannot be swapped"
    assert store.set_if_absent("k", "again", 60) is True


def test_only_one_of_many_concurrent_swaps_wins(store):
    store.set("k", "0")
    wins, start = [], threading.Barrier(8)

    def swap(n):
        start.wait()
        if store.compare_and_set("k", "0", f"winner-{n}", 60):
            wins.append(n)
    threads = [threading.Thread(target=swap, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(wins) == 1
    assert store.get("k") == f"winner-{wins[0]}"


# -- the lease -------------------------------------------------------------------------------
# `alive`: whether a lease's holder beats; here decided by the test, not by a heartbeat.
ALIVE, DEAD = (lambda held: True), (lambda held: False)


def claim(store, loop_id=None, seq=0, cycle_timeout=60, alive=ALIVE):
    return lease.claim(store, loop_id, seq, cycle_timeout, alive)


def waiting(store, loop="abc", seq=4, due_in=30.0, **fields):
    """Put a lease waiting for message (loop, seq) into the store, as a hand-over leaves it."""
    now = time.time()
    held = lease.Lease(loop=loop, seq=seq, phase=lease.WAITING, due=now + due_in, since=now,
                       holder="live@elsewhere", instance="i1", pid=1)._replace(**fields)
    store.set(lease.LEASE_KEY, held.encode(), ttl=120)
    return held


def test_a_kick_off_claims_a_free_lease_and_a_second_kick_off_exits(store):
    held = claim(store)
    assert held is not None and len(held.loop) == 12 and held.phase == lease.RUNNING
    assert lease.read(store)[1] == held
    assert held.holder == beats.current().node and held.instance == beats.current().instance
    assert 55 < store.ttl(lease.LEASE_KEY) <= 60, "held for the cycle's timeout"
    assert claim(store) is None
    assert lease.read(store)[1] == held, "the losing kick-off changed nothing"


def test_a_scheduled_poll_runs_only_when_the_lease_waits_for_it(store):
    waiting(store, "abc", 4)
    assert claim(store, "abc", 3) is None, "a stale message (older sequence)"
    assert claim(store, "other", 4) is None, "another loop's message"
    assert claim(store, "abc", 5) is None, "a sequence not handed over yet"
    held = claim(store, "abc", 4)
    assert (held.loop, held.seq, held.phase) == ("abc", 4, lease.RUNNING)
    assert claim(store, "abc", 4) is None, "a duplicate of the running message"


def test_hand_over_moves_the_lease_to_the_successor(store):
    held = claim(store)
    successor = lease.hand_over(store, held, countdown=100, grace=20)
    assert (successor.loop, successor.seq, successor.phase) == (held.loop, 1, lease.WAITING)
    assert 98 < lease.seconds_until(successor) <= 100.01
    assert 115 < store.ttl(lease.LEASE_KEY) <= 120
    assert claim(store, held.loop, 0) is None, "the redelivered old message"
    assert claim(store, held.loop, 1) is not None


def test_hand_over_fails_when_another_loop_took_over(store):
    held = claim(store)
    waiting(store, "new", 0)
    assert lease.hand_over(store, held, countdown=10, grace=5) is None
    assert lease.read(store)[1].loop == "new"
    assert lease.holds(store, held) is False


def test_a_live_holder_is_left_alone(store):
    waiting(store, due_in=30)
    assert lease.why_take_over(lease.read(store)[1], ALIVE) is None
    assert lease.take_over(store, grace=10, alive=ALIVE) is None
    assert claim(store, alive=ALIVE) is None
    assert lease.read(store)[1].loop == "abc"


@pytest.mark.parametrize("case", ["absent", "holder dead", "unreadable"])
def test_a_dead_loop_is_taken_over_at_once(store, case):
    alive = DEAD if case == "holder dead" else ALIVE
    if case == "holder dead":
        waiting(store, due_in=30)
    elif case == "unreadable":
        store.set(lease.LEASE_KEY, "abc:4")  # the lease of an older release
    reason = lease.why_take_over(lease.read(store)[1], alive)
    assert reason is not None
    new, why = lease.take_over(store, grace=10, alive=alive)
    assert why == reason and new.loop != "abc" and (new.seq, new.phase) == (0, lease.WAITING)
    assert lease.read(store)[1] == new
    assert claim(store, "abc", 4, alive=alive) is None, "the dead loop's message cannot resume"
    assert claim(store, new.loop, 0) is not None, "the new loop's first message runs"


def test_an_overdue_loop_loses_its_lease_on_its_own_countdown(store):
    held = claim(store)
    lease.hand_over(store, held, countdown=0.2, grace=0.2)  # its successor message is then lost
    assert lease.is_alive(store, alive=ALIVE)
    wait_for(lambda: not lease.is_alive(store, alive=ALIVE), timeout=5, interval=0.05,
             message="the lease to lapse 0.4 s after the hand-over")
    assert lease.take_over(store, grace=10, alive=ALIVE) is not None


def test_the_new_loop_keeps_the_dead_loops_schedule(store):
    waiting(store, due_in=40)
    new, _ = lease.take_over(store, grace=10, alive=DEAD)
    assert 38 < lease.seconds_until(new) <= 40.01, "first poll when the dead loop's was due, not now"


def test_only_one_of_many_concurrent_take_overs_wins(store):
    waiting(store, due_in=30)
    wins, start = [], threading.Barrier(6)

    def take():
        start.wait()
        # the old holder is dead; whoever wins is alive, so the others leave it be
        if lease.take_over(store, grace=10, alive=lambda held: held.holder != "live@elsewhere"):
            wins.append(1)
    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(wins) == 1


def test_a_replaced_cycle_no_longer_holds_the_lease(store):
    held = claim(store)
    assert lease.holds(store, held)
    lease.take_over(store, grace=10, alive=DEAD)  # its worker froze; another took over
    assert not lease.holds(store, held)


def test_is_alive_judges_the_holder(store):
    assert lease.is_alive(store, alive=ALIVE) is False, "no lease"
    waiting(store, due_in=30)
    assert lease.is_alive(store, alive=ALIVE) is True
    assert lease.is_alive(store, alive=DEAD) is False
    assert lease.is_alive(store) is False, "the default: the holder's heartbeat, absent here"
    store.set(beats.key("worker", "live@elsewhere"), json.dumps(
        {"node": "live@elsewhere", "instance": "i1", "pid": 1, "at": time.time(), "interval": 2}), ttl=6)
    assert lease.is_alive(store) is True


def test_heartbeat_round_trips_and_is_absent_before_the_first_cycle(store):
    assert lease.heartbeat(store) is None
    lease.record_heartbeat(store, "abc", 2, 30, {"ok": True, "races": 5})
    beat = lease.heartbeat(store)
    assert (beat["loop_id"], beat["seq"], beat["ok"], beat["races"]) == ("abc", 2, True, 5)
