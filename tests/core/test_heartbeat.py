"""A process's heartbeat (darkhorses/core/heartbeat.py): the beacon, its key and file, the readers."""
from __future__ import annotations

import time

from darkhorses.core import heartbeat
from darkhorses.core.store import MemoryStore
from tests.support import wait_for


def test_a_beacon_writes_its_record_to_the_store_and_a_file(tmp_path):
    store = MemoryStore()
    beacon = heartbeat.Beacon("worker", "live@host-1", lambda: store, interval=0.1, directory=tmp_path)
    beacon.start()
    try:
        assert heartbeat.current() == beacon.identity, "the process now holds leases as this node"
        record = heartbeat.read(store, "worker", "live@host-1")
        assert record["node"] == "live@host-1" and record["instance"] == beacon.identity.instance
        assert heartbeat.is_fresh(record) and heartbeat.age(record) < 1
        assert 0.25 < store.ttl(heartbeat.key("worker", "live@host-1")) <= 0.3, "three intervals"
        path = heartbeat.file_path(tmp_path, "worker", "live@host-1")
        assert path.name == "worker-live@host-1.json"
        first = heartbeat.read_file(path)["at"]
        wait_for(lambda: heartbeat.read_file(path)["at"] > first, timeout=5, interval=0.05,
                 message="the file rewritten by the next beat")
        assert heartbeat.is_alive(store, "live@host-1")
        assert heartbeat.is_alive(store, "live@host-1", beacon.identity.instance)
        assert not heartbeat.is_alive(store, "live@host-1", "an-earlier-start"), "a restart is another instance"
        assert not heartbeat.is_alive(store, "live@host-2")
    finally:
        beacon.stop()
    assert heartbeat.current() != beacon.identity
    wait_for(lambda: not heartbeat.is_alive(store, "live@host-1"), timeout=5, interval=0.05,
             message="a stopped beacon's key to expire")
    record = heartbeat.read_file(heartbeat.file_path(tmp_path, "worker", "live@host-1"))
    assert not heartbeat.is_fresh(record, now=time.time() + 1), "the file stays but goes stale"


def test_a_failing_store_does_not_stop_the_beacon(tmp_path, caplog):
    store, calls = MemoryStore(), []

    def flaky():
        calls.append(1)
        if len(calls) <= 3:
            raise ConnectionError("Redis is restarting")
        return store
    beacon = heartbeat.Beacon("worker", "w@h", flaky, interval=0.05, directory=tmp_path)
    beacon.start()
    try:
        wait_for(lambda: heartbeat.is_alive(store, "w@h"), timeout=5, message="beating again once the store is back")
    finally:
        beacon.stop()
    assert sum("cannot write to the store" in r.message for r in caplog.records) == 1, "logged once per outage"
    assert heartbeat.read_file(tmp_path / "worker-w@h.json") is not None, "the file was written throughout"


def test_readers_of_missing_or_odd_records():
    assert heartbeat.read(MemoryStore(), "worker", "nobody") is None
    assert heartbeat.read_file("/nonexistent/worker-x.json") is None
    assert heartbeat.is_fresh(None) is False
    assert heartbeat.file_path("d", "worker", "live@host/with space").name == "worker-live@host_with_space.json"
