"""Every task's soft and hard time limit, in one table (wired by celeryconfig's task_annotations).

Soft: Celery raises SoftTimeLimitExceeded inside the task, which then fails or retries like any
other error. Hard: the pool process is killed. Both are enforced by the prefork pool only; the
live worker's threads pool (and the embedded run) enforce neither, so the work that can stall
on the network also carries its own `deadline` (core/deadline.py) through the API client.

Chosen from measured durations (2 cores, the simulator's full day, tests/bench):
- live.poll: a cycle of a full day (60 races, 18,720 prices) takes 1-4 s; a slow API with
  retries is what takes longer. Its limits follow LIVE_CYCLE_TIMEOUT_SECONDS, the time the
  cycle holds the lease: the API deadline at 60 %, the soft limit at 80 % (the cycle is
  recorded as failed and hands the lease over while it still holds it), the hard limit at
  100 % (the process killed; the lease lapses and the watchdog starts the one next loop).
- historical.collect_day: one day's results, 1-3 pages at 5 requests/s and a write, 1-5 s;
  a full retry ladder on one page costs minutes. Ten minutes, then a retry (the ledger keeps
  the day unsettled and the resume task re-enqueues it if the retry is lost too).
- stats.update over a year of data: ~20 s; its period is 10 minutes.
- the schedulers (daily, backfill, resume, watchdog, alerts, partitions): a few queries, < 1 s.
"""
from __future__ import annotations

from typing import NamedTuple

from . import task_names


class Limits(NamedTuple):
    soft: float  # seconds: SoftTimeLimitExceeded raised in the task
    hard: float  # seconds: the pool process killed
    deadline: float | None = None  # seconds: the task's own cut through the API client (any pool)


def limits(live_cycle_timeout: float = 90.0) -> dict[str, Limits]:
    """Task name -> Limits; the live poll's follow its lease (LIVE_CYCLE_TIMEOUT_SECONDS)."""
    return {
        task_names.LIVE_POLL: Limits(soft=0.8 * live_cycle_timeout, hard=live_cycle_timeout,
                                     deadline=0.6 * live_cycle_timeout),
        task_names.LIVE_WATCHDOG: Limits(soft=20, hard=30),
        task_names.HISTORICAL_COLLECT_DAY: Limits(soft=600, hard=660, deadline=570),
        task_names.HISTORICAL_BACKFILL: Limits(soft=120, hard=180),
        task_names.HISTORICAL_DAILY: Limits(soft=120, hard=180),
        task_names.HISTORICAL_RESUME: Limits(soft=60, hard=90),
        task_names.STATS_UPDATE: Limits(soft=300, hard=360),
        task_names.MAINTENANCE_PARTITIONS: Limits(soft=300, hard=360),
        task_names.OPS_ALERTS: Limits(soft=30, hard=45),
    }


def celery_annotations(live_cycle_timeout: float = 90.0) -> dict[str, dict[str, float]]:
    """Celery's task_annotations: each task's soft_time_limit and time_limit."""
    return {name: {"soft_time_limit": limit.soft, "time_limit": limit.hard}
            for name, limit in limits(live_cycle_timeout).items()}
