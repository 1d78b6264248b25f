"""What each task did last: one ra_task_status row per task, mirrored to logs/scheduler_status.json
so "is it working?" has an answer even when the database is the thing that broke.

Written by the Celery signal handlers in darkhorses/tasks/signals.py; read by the `status` report.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from .db import upsert
from .files import write_json_atomic
from .models import TaskStatus

STATUS_FILE = Path("logs") / "scheduler_status.json"
_file_lock = threading.Lock()


def record_task_run(session, task_name: str, state: str, duration: float | None, error: str | None = None,
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


def task_statuses(session) -> dict[str, dict]:
    return {t.task_name: _task_dict(t) for t in session.execute(select(TaskStatus)).scalars()}


def mirror_to_file(tasks: dict[str, dict], path: Path = STATUS_FILE) -> None:
    with _file_lock:
        write_json_atomic(path, {"updated_at": datetime.now(timezone.utc).isoformat(), "tasks": tasks})


def _task_dict(t: TaskStatus) -> dict:
    return {"state": t.last_state, "last_run_at": t.last_run_at, "last_success_at": t.last_success_at,
            "last_duration_seconds": t.last_duration_seconds, "last_error": t.last_error,
            "runs": t.runs, "failures": t.failures}
