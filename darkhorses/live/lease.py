"""Exactly one live loop: a lease in the shared store, handed from each run to the next.

The lease value is JSON (`Lease`): the loop's id and the sequence of the one poll message
allowed to run next, its `phase` ("running" a cycle, or "waiting" for the successor, `due`
then), and its holder: the worker's node name and the `instance` of that worker's start,
whose heartbeat (darkhorses/core/heartbeat.py) says whether it still lives.

- A scheduled poll runs only if the lease is waiting for exactly its loop and sequence; it
  marks the lease running, and hands it to its successor before enqueueing that, so a
  duplicate or stale message (an old ETA message, a redelivery) finds the lease moved on.
- A lease is dead (`why_take_over`) when absent or when its holder's heartbeat is gone (the
  worker was killed, restarted or frozen). Its time-to-live follows the loop's own clock:
  the successor's countdown plus LIVE_LEASE_GRACE_SECONDS (or the cycle's timeout), so an
  overdue loop (a lost message, a hung cycle) loses its lease too. Only Redis's clock
  judges expiry, never two hosts' clocks against each other.
- The live guard of every live worker, the beat watchdog and kick-offs take a dead loop
  over with one compare-and-set from the dead value, so two of them never both win; the
  new loop keeps the dead loop's schedule (its first poll when the dead loop's was due, not
  a burst of polls at every restart).
- A holder that was only slow finds out at its next step: its cycle confirms the lease
  inside the write transaction (`holds`) and commits nothing once replaced; its hand-over
  fails and it stops.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from ..core import heartbeat as beats
from ..core.store import Store

LEASE_KEY = "darkhorses:live:lease"
HEARTBEAT_KEY = "darkhorses:live:heartbeat"
RUNNING, WAITING = "running", "waiting"


class Lease(NamedTuple):
    loop: str
    seq: int
    phase: str       # RUNNING a cycle, or WAITING for message `seq`
    due: float       # Unix time the successor is due (waiting) or the cycle's deadline (running);
                     # read by people and by a new loop's schedule: expiry is the store's TTL
    since: float     # Unix time the lease took this value
    holder: str      # the worker's node name
    instance: str    # that worker's start (core/heartbeat.py Identity.instance)
    pid: int

    def encode(self) -> str:
        return json.dumps(self._asdict(), sort_keys=True)

    @classmethod
    def decode(cls, raw: str | None) -> Lease | None:
        """The lease in `raw`; None when absent or unreadable (an older format): both are dead."""
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None


# Whether the lease's holder lives: by default its heartbeat in the same store.
HolderAlive = Callable[[Lease], bool]


def heartbeat_alive(store: Store) -> HolderAlive:
    return lambda lease: beats.is_alive(store, lease.holder, lease.instance)


def _new(loop: str, seq: int, phase: str, due: float, now: float) -> Lease:
    me = beats.current()
    return Lease(loop=loop, seq=seq, phase=phase, due=round(due, 3), since=round(now, 3),
                 holder=me.node, instance=me.instance, pid=me.pid)


def read(store: Store) -> tuple[str | None, Lease | None]:
    """The raw value (for a compare-and-set) and the lease it holds."""
    raw = store.get(LEASE_KEY)
    return raw, Lease.decode(raw)


def why_take_over(lease: Lease | None, alive: HolderAlive) -> str | None:
    """Why the loop holding `lease` is dead, or None when it lives."""
    if lease is None:
        return "no live loop holds the lease (none started, Redis emptied, or its poll overdue)"
    if not alive(lease):
        return f"the holder of loop {lease.loop} ({lease.holder}) has no heartbeat"
    return None


def _replace(store: Store, raw: str | None, new: Lease, ttl: float) -> bool:
    if raw is None:
        return store.set_if_absent(LEASE_KEY, new.encode(), ttl)
    return store.compare_and_set(LEASE_KEY, raw, new.encode(), ttl)


def claim(store: Store, loop_id: str | None, seq: int, cycle_timeout: float,
          alive: HolderAlive | None = None) -> Lease | None:
    """The running lease for this poll, or None when it must exit without polling.

    A scheduled message (`loop_id` given) runs if the lease waits for it. A kick-off (None)
    starts a new loop only if the current one is dead. The running lease lasts the cycle's
    `cycle_timeout`."""
    alive = alive or heartbeat_alive(store)
    now = time.time()
    raw, lease = read(store)
    if loop_id is not None:
        if lease is None or (lease.loop, lease.seq, lease.phase) != (loop_id, seq, WAITING):
            return None
        new = _new(loop_id, seq, RUNNING, now + cycle_timeout, now)
    else:
        if why_take_over(lease, alive) is None:
            return None
        new = _new(uuid.uuid4().hex[:12], 0, RUNNING, now + cycle_timeout, now)
    return new if _replace(store, raw, new, cycle_timeout) else None


def take_over(store: Store, grace: float, alive: HolderAlive | None = None) -> tuple[Lease, str] | None:
    """Replace a dead loop by a new one waiting for its first message; (lease, why) when done,
    None when the loop lives (or another process took over first). The new loop keeps the
    dead one's schedule: its first poll is due when the dead loop's next poll was, or now."""
    alive = alive or heartbeat_alive(store)
    now = time.time()
    raw, lease = read(store)
    reason = why_take_over(lease, alive)
    if reason is None:
        return None
    due = max(now, lease.due) if lease is not None and lease.phase == WAITING else now
    new = _new(uuid.uuid4().hex[:12], 0, WAITING, due, now)
    return (new, reason) if _replace(store, raw, new, due - now + grace) else None


def hand_over(store: Store, current: Lease, countdown: float, grace: float) -> Lease | None:
    """Move the lease to the successor, due in `countdown` s and valid `grace` s beyond;
    None if another loop has taken over meanwhile."""
    now = time.time()
    successor = _new(current.loop, current.seq + 1, WAITING, now + countdown, now)
    return successor if store.compare_and_set(LEASE_KEY, current.encode(), successor.encode(),
                                              countdown + grace) else None


def holds(store: Store, current: Lease) -> bool:
    """Whether the lease is still `current` (the cycle has not been replaced)."""
    return store.get(LEASE_KEY) == current.encode()


def seconds_until(lease: Lease) -> float:
    return max(0.0, lease.due - time.time())


def is_alive(store: Store, alive: HolderAlive | None = None) -> bool:
    """Whether a live loop holds the lease: present (so on time) and its holder beating."""
    _, lease = read(store)
    return why_take_over(lease, alive or heartbeat_alive(store)) is None


def record_heartbeat(store: Store, loop_id: str, seq: int, countdown: float, outcome: dict) -> None:
    now = datetime.now(timezone.utc)
    store.set(HEARTBEAT_KEY, json.dumps({
        "loop_id": loop_id, "seq": seq, "at": now.isoformat(),
        "next_poll_at": (now + timedelta(seconds=countdown)).isoformat(), **outcome}))


def heartbeat(store: Store) -> dict | None:
    raw = store.get(HEARTBEAT_KEY)
    return json.loads(raw) if raw else None
