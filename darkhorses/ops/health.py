"""`python -m darkhorses health --worker|--beat`: a liveness probe that reads heartbeat files.

Each worker (and beat) writes HEARTBEAT_DIR/<role>-<node>.json every HEARTBEAT_SECONDS from a
thread of its own process (darkhorses/core/heartbeat.py). The probe reads those files, so it
needs neither Redis nor the database and answers in milliseconds, unlike `celery inspect ping`
(a broadcast through the broker that a busy worker may miss). A process is healthy while its
record is fresh (written within three of its intervals); a frozen one (SIGSTOP, a stuck VM)
stops writing and turns unhealthy; a busy one keeps writing.

Records of processes that no longer run on this machine (a previous container start, a
worker that exited) are ignored, so a restarted worker is judged by its own record only.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from ..core.heartbeat import STALE_AFTER_INTERVALS, age, read_file


class Verdict(NamedTuple):
    healthy: bool
    line: str  # one line for the probe's output


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def check(directory: str | Path, role: str, node: str | None = None, now: float | None = None) -> Verdict:
    """Healthy when every `role` process of this machine (or `node` alone) has a fresh record."""
    now = time.time() if now is None else now
    files = sorted(Path(directory).glob(f"{role}-*.json"))
    records = [r for r in map(read_file, files) if r and (node is None or r.get("node") == node)]
    if node is None:
        records = [r for r in records if _running(int(r.get("pid", 0)))]
    if not records:
        wanted = f"{role} {node}" if node else f"a running {role}"
        return Verdict(False, f"unhealthy: no heartbeat of {wanted} in {directory}")
    stale = [r for r in records if age(r, now) > STALE_AFTER_INTERVALS * float(r["interval"])]
    described = ", ".join(f"{r['node']} {age(r, now):.1f}s ago" for r in records)
    if stale:
        return Verdict(False, f"unhealthy: {role} heartbeat stale ({described}; "
                              f"allowed {STALE_AFTER_INTERVALS} × its interval)")
    return Verdict(True, f"healthy: {role} heartbeat {described}")
