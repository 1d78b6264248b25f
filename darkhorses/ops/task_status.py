"""What each task did last: one ra_task_status row per task, mirrored to scheduler_status.json
(in SCHEDULER_STATUS_DIR, `logs` by default) by whichever process saw it, the worker's or
beat's: the replaced service's `live_odds`, `historical_odds` and `statistics` entries for its
readers, and ours (`tasks`), so "is it working?" has an answer even when the database broke.

Written by the Celery signal handlers in darkhorses/tasks/signals.py; read by the `status` report.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import task_names
from ..core.clock import UK
from ..core.files import write_json_atomic
from ..db import upsert
from ..models import LiveFetch, TaskStatus

STATUS_FILE_NAME = "scheduler_status.json"
# The replaced service's jobs and the tasks that do their work now.
JOBS = {"live_odds": (task_names.LIVE_POLL,),
        "historical_odds": (task_names.HISTORICAL_DAILY, task_names.HISTORICAL_COLLECT_DAY,
                            task_names.HISTORICAL_BACKFILL),
        "statistics": (task_names.STATS_UPDATE,)}
JOB_TASKS = {task for tasks in JOBS.values() for task in tasks}
_file_lock = threading.Lock()


def write_task_run(session: Session, task_name: str, state: str, duration: float | None, error: str | None = None,
                   now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    current = session.get(TaskStatus, task_name)
    row = {
        "task_name": task_name, "last_state": state, "last_run_at": now,
        "last_success_at": now if state == "SUCCESS" else (current.last_success_at if current else None),
        "last_duration_seconds": round(duration, 3) if duration is not None else None,
        "last_error": error[:2000] if error else None,
        "runs": (current.runs if current else 0) + 1,
        "failures": (current.failures if current else 0) + (state == "FAILURE"),
    }
    upsert(session, TaskStatus.__table__, [row], ("task_name",), row.keys())


def write_running(session: Session, task_name: str, now: datetime | None = None) -> None:
    """A job's task started: `running` in the file until it ends (runs are counted at the end)."""
    now = now or datetime.now(timezone.utc)
    current = session.get(TaskStatus, task_name)
    if current is None:
        session.add(TaskStatus(task_name=task_name, last_state="STARTED", last_run_at=now, runs=0, failures=0))
    else:
        current.last_state, current.last_run_at = "STARTED", now


def task_statuses(session: Session) -> dict[str, dict]:
    return {t.task_name: _task_dict(t) for t in session.execute(select(TaskStatus)).scalars()}


def status_payload(session: Session, now: datetime) -> dict:
    rows = list(session.execute(select(TaskStatus)).scalars())
    last_fetch = session.execute(select(LiveFetch).order_by(LiveFetch.fetch_timestamp.desc()).limit(1)).scalar()
    payload = {job: _job_status([r for r in rows if r.task_name in tasks]) for job, tasks in JOBS.items()}
    payload["live_odds"].update(_next_check(last_fetch))
    return {**payload, "updated_at": now.isoformat(), "tasks": {t.task_name: _task_dict(t) for t in rows}}


def write_status_file(session: Session, directory: str | Path, now: datetime | None = None) -> Path:
    """Rewrite scheduler_status.json in `directory` from the rows `session` sees."""
    payload = status_payload(session, now or datetime.now(timezone.utc))
    path = Path(directory) / STATUS_FILE_NAME
    with _file_lock:  # threads of the embedded run write it too
        write_json_atomic(path, payload)
    return path


def _job_status(rows: list[TaskStatus]) -> dict:
    """The old service's keys: last_run, last_success, status (idle / running / success /
    failed / timeout) and, after a failure, error."""
    if not rows:
        return {"last_run": None, "last_success": None, "status": "idle"}
    latest = max(rows, key=lambda r: r.last_run_at)
    successes = [r.last_success_at for r in rows if r.last_success_at]
    error = latest.last_error or ""
    status = {"STARTED": "running", "SUCCESS": "success"}.get(latest.last_state, "failed")
    if status == "failed" and "TimeLimitExceeded" in error:
        status = "timeout"
    entry = {"last_run": latest.last_run_at.isoformat(),
             "last_success": max(successes).isoformat() if successes else None, "status": status}
    if status in ("failed", "timeout"):
        entry["error"] = error
    return entry


def _next_check(last_fetch) -> dict:
    """live_odds' next_check (a reason, for people) and next_interval (seconds)."""
    detail = (last_fetch.detail or {}) if last_fetch else {}
    interval = detail.get("next_poll_seconds")
    if interval is None:
        return {"next_check": "no live cycle yet", "next_interval": None}
    if detail.get("next_off"):
        off = datetime.fromisoformat(detail["next_off"]).astimezone(UK)
        reason = f"next race off at {off:%H:%M} UK: polling again in {interval:.0f} s"
    else:
        reason = f"no race ahead: checking again in {interval:.0f} s"
    return {"next_check": reason, "next_interval": interval}


def _task_dict(t: TaskStatus) -> dict:
    return {"state": t.last_state, "last_run_at": t.last_run_at, "last_success_at": t.last_success_at,
            "last_duration_seconds": t.last_duration_seconds, "last_error": t.last_error,
            "runs": t.runs, "failures": t.failures}
