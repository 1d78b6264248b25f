"""A process's heartbeat: proof, every few seconds, that a worker (or beat) is alive.

A `Beacon` runs in a daemon thread of the process and, every `interval` seconds, writes a
small JSON record {role, node, instance, pid, at, interval}:
- to the shared store under `key(role, node)`, e.g. ``darkhorses:heartbeat:worker:live@host``,
  expiring after three intervals, so other processes (the live loop's lease) can tell a dead
  holder from a slow one;
- to a file `file_path(directory, role, node)` (``worker-live@host.json``), so a probe on the
  same machine can judge the process without Redis (`darkhorses health`).

`instance` is new each time a process starts: a worker restarted under the same node name
(a supervisor keeps the host name) is a different instance, and whatever the old one held is
known to be dead. The readers (`read`, `read_file`, `age`, `is_fresh`, `is_alive`) are plain
functions over the record.

A SIGSTOPped process stops its beacon too, so "alive" means "able to work", not "exists".
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, cast

from .store import Store

log = logging.getLogger(__name__)

KEY_PREFIX = "darkhorses:heartbeat"
# A record is stale after this many missed intervals (the Redis key expires then too).
STALE_AFTER_INTERVALS = 3


class Identity(NamedTuple):
    """Who this process is: its node name, the instance of this start, its pid."""
    node: str
    instance: str
    pid: int


# Set by the Beacon when a worker starts; a process without one (a command, a test) is
# `<host>:<pid>` with an instance of its own and is never seen as alive by others.
_identity = Identity(node=f"{os.uname().nodename}:{os.getpid()}", instance=uuid.uuid4().hex[:12], pid=os.getpid())


def current() -> Identity:
    return _identity


def key(role: str, node: str) -> str:
    return f"{KEY_PREFIX}:{role}:{node}"


def file_path(directory: str | Path, role: str, node: str) -> Path:
    """The record's file: `<directory>/<role>-<node>.json`, the node name made safe for a file name."""
    return Path(directory) / f"{role}-{re.sub(r'[^A-Za-z0-9@._-]', '_', node)}.json"


def read(store: Store, role: str, node: str) -> dict[str, Any] | None:
    """The node's last record in the store; None when it has expired (or never was)."""
    raw = store.get(key(role, node))
    return json.loads(raw) if raw else None


def read_file(path: str | Path) -> dict[str, Any] | None:
    """The record in a heartbeat file; None when the file is missing or unreadable."""
    try:
        return cast("dict[str, Any]", json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def age(record: dict[str, Any], now: float | None = None) -> float:
    """Seconds since the record was written (`at` is a Unix time)."""
    return (time.time() if now is None else now) - float(record["at"])


def is_fresh(record: dict[str, Any] | None, now: float | None = None) -> bool:
    """Written within the last STALE_AFTER_INTERVALS of its own interval."""
    return record is not None and age(record, now) <= STALE_AFTER_INTERVALS * float(record["interval"])


def is_alive(store: Store, node: str, instance: str | None = None, role: str = "worker") -> bool:
    """Whether `node` beats in the store (and, given `instance`, is that same start of it).
    The key's expiry is the freshness: only the store's clock counts, never this host's
    against the writer's (`is_fresh` is for the file, read on the writer's own host)."""
    record = read(store, role, node)
    return record is not None and (instance is None or record["instance"] == instance)


class Beacon:
    """Writes this process's heartbeat every `interval` seconds in a daemon thread.

    `store_factory` is called for each write (the store may be rebuilt after Redis comes back);
    `directory` (optional) also receives the record as a file. A failed write is logged once
    per outage and retried next interval: the heartbeat never stops the process.
    `names_process`: the beacon becomes the process's identity (`current()`, which the live
    lease records as its holder); beat's beacon does not, so a worker running beat in-process
    (the embedded `run`, `worker -B`) stays the worker it was."""

    def __init__(self, role: str, node: str, store_factory: Callable[[], Store], interval: float = 2.0,
                 directory: str | Path | None = None, names_process: bool = True) -> None:
        global _identity
        self.role, self.interval = role, interval
        self.identity = Identity(node=node, instance=uuid.uuid4().hex[:12], pid=os.getpid())
        self._before = _identity
        if names_process:
            _identity = self.identity
        self.store_factory = store_factory
        self.file = file_path(directory, role, node) if directory else None
        self._every: Every | None = None
        self._failing = False

    def record(self) -> dict[str, Any]:
        return {"role": self.role, "node": self.identity.node, "instance": self.identity.instance,
                "pid": self.identity.pid, "at": round(time.time(), 3), "interval": self.interval}

    def beat(self) -> None:
        """Write the record once (store, then file)."""
        text = json.dumps(self.record())
        try:
            self.store_factory().set(key(self.role, self.identity.node), text,
                                     ttl=STALE_AFTER_INTERVALS * self.interval)
            if self._failing:
                log.info("heartbeat: the store is reachable again")
            self._failing = False
        except Exception as exc:  # Redis restarting: the next beat retries
            if not self._failing:
                log.warning("heartbeat: cannot write to the store (retrying every %.0fs): %s", self.interval, exc)
            self._failing = True
        if self.file is not None:
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                partial = self.file.with_suffix(".tmp")
                partial.write_text(text)
                partial.replace(self.file)  # a reader never sees half a record
            except OSError as exc:
                log.debug("heartbeat: cannot write %s: %s", self.file, exc)

    def start(self) -> None:
        self.beat()
        self._every = Every(self.interval, self.beat, name=f"heartbeat-{self.role}")
        self._every.start()

    def stop(self) -> None:
        """Stop beating; the process is again who it was before this beacon."""
        global _identity
        if self._every is not None:
            self._every.stop()
        if _identity == self.identity:
            _identity = self._before


class Every:
    """Calls `action()` every `interval` seconds in a daemon thread until `stop()`; an
    exception is logged and the next call comes on time."""

    def __init__(self, interval: float, action: Callable[[], object], name: str) -> None:
        self.interval, self.action, self.name = interval, action, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.action()
            except Exception:
                log.exception("%s failed (next try in %.0fs)", self.name, self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 1)
