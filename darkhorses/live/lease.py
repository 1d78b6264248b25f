"""Exactly one live loop: a lease in the shared store, handed from each run to the next.

The lease value is "<loop id>:<sequence>", the one poll message allowed to run next.
- A kick-off (beat's watchdog, a worker booting, a manual call) carries no loop id and
  takes the lease only if nobody holds it: a second kick-off exits at once.
- A scheduled poll runs only if the lease still names its id and sequence; it hands the
  lease to its successor before enqueueing it, so a duplicate or stale message (an old
  ETA message, a redelivery after the successor was already sent) finds the lease moved on.
- The lease expires when nobody renews it (worker killed, Redis restarted, message lost);
  the watchdog then starts a new loop.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from ..core.store import Store

LEASE_KEY = "darkhorses:live:lease"
HEARTBEAT_KEY = "darkhorses:live:heartbeat"


def claim(store: Store, loop_id: str | None, seq: int, cycle_timeout: float) -> str | None:
    """The loop id this run belongs to, or None when it must exit without polling.

    The lease is held for `cycle_timeout` while the cycle runs: a worker killed mid-cycle
    costs at most that, plus the watchdog's period, before a new loop starts."""
    if loop_id is None:
        new_id = uuid.uuid4().hex[:12]
        return new_id if store.set_if_absent(LEASE_KEY, f"{new_id}:{seq}", cycle_timeout) else None
    token = f"{loop_id}:{seq}"
    return loop_id if store.compare_and_set(LEASE_KEY, token, token, cycle_timeout) else None


def hand_over(store: Store, loop_id: str, seq: int, countdown: float, grace: float) -> bool:
    """Move the lease to the successor, valid until `grace` seconds after it is due;
    False if another loop has taken over meanwhile."""
    return store.compare_and_set(LEASE_KEY, f"{loop_id}:{seq}", f"{loop_id}:{seq + 1}", countdown + grace)


def is_alive(store: Store) -> bool:
    return store.get(LEASE_KEY) is not None


def record_heartbeat(store: Store, loop_id: str, seq: int, countdown: float, outcome: dict) -> None:
    now = datetime.now(timezone.utc)
    store.set(HEARTBEAT_KEY, json.dumps({
        "loop_id": loop_id, "seq": seq, "at": now.isoformat(),
        "next_poll_at": (now + timedelta(seconds=countdown)).isoformat(), **outcome}))


def heartbeat(store: Store) -> dict | None:
    raw = store.get(HEARTBEAT_KEY)
    return json.loads(raw) if raw else None
