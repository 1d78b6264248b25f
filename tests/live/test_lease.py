"""The live loop's lease (darkhorses/live/lease.py) and the stores' compare-and-set
(darkhorses/core/store.py), on the run's own Redis and on the in-memory store."""
from __future__ import annotations

import threading

import pytest

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

def test_a_kick_off_claims_a_free_lease_and_a_second_kick_off_exits(store):
    loop_id = lease.claim(store, None, 0, cycle_timeout=60)
    assert loop_id is not None and len(loop_id) == 12
    assert store.get(lease.LEASE_KEY) == f"{loop_id}:0"
    assert 55 < store.ttl(lease.LEASE_KEY) <= 60
    assert lease.claim(store, None, 0, cycle_timeout=60) is None
    assert store.get(lease.LEASE_KEY) == f"{loop_id}:0", "the losing kick-off changed nothing"


def test_a_scheduled_poll_runs_only_with_its_own_id_and_sequence(store):
    store.set(lease.LEASE_KEY, "abc:4")
    assert lease.claim(store, "abc", 3, cycle_timeout=60) is None, "a stale message (older sequence)"
    assert lease.claim(store, "other", 4, cycle_timeout=60) is None, "another loop's message"
    assert lease.claim(store, "abc", 5, cycle_timeout=60) is None, "a sequence not handed over yet"
    assert lease.claim(store, "abc", 4, cycle_timeout=60) == "abc"
    assert store.get(lease.LEASE_KEY) == "abc:4"
    assert 55 < store.ttl(lease.LEASE_KEY) <= 60, "claiming renews the lease for the cycle"


def test_hand_over_moves_the_lease_to_the_next_sequence_for_countdown_plus_grace(store):
    store.set(lease.LEASE_KEY, "abc:4")
    assert lease.hand_over(store, "abc", 4, countdown=100, grace=20) is True
    assert store.get(lease.LEASE_KEY) == "abc:5"
    assert 115 < store.ttl(lease.LEASE_KEY) <= 120
    assert lease.claim(store, "abc", 4, cycle_timeout=60) is None, "the redelivered old message"
    assert lease.claim(store, "abc", 5, cycle_timeout=60) == "abc"


def test_hand_over_fails_when_another_loop_took_over(store):
    store.set(lease.LEASE_KEY, "new:0")
    assert lease.hand_over(store, "old", 7, countdown=10, grace=5) is False
    assert store.get(lease.LEASE_KEY) == "new:0"


def test_an_unrenewed_lease_expires_and_a_new_loop_can_start(store):
    first = lease.claim(store, None, 0, cycle_timeout=0.3)
    assert first is not None and lease.is_alive(store)
    wait_for(lambda: not lease.is_alive(store), timeout=5, interval=0.05, message="the lease to lapse")
    assert lease.claim(store, first, 0, cycle_timeout=60) is None, "the lapsed loop cannot resume"
    second = lease.claim(store, None, 0, cycle_timeout=60)
    assert second is not None and second != first


def test_heartbeat_round_trips_and_is_absent_before_the_first_cycle(store):
    assert lease.heartbeat(store) is None
    lease.record_heartbeat(store, "abc", 2, 30, {"ok": True, "races": 5})
    beat = lease.heartbeat(store)
    assert (beat["loop_id"], beat["seq"], beat["ok"], beat["races"]) == ("abc", 2, True, 5)
