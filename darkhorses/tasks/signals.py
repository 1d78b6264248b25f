"""Celery signal handlers that record every darkhorses task run (darkhorses/ops/task_status.py).

Connected when darkhorses.celery_app is imported, so workers, beat and the embedded run
record alike.
"""
from __future__ import annotations

import logging
import time

from celery import signals

from ..core.settings import get_settings
from ..db import session_scope
from ..ops.task_status import JOB_TASKS, STATUS_FILE_NAME, write_running, write_status_file, write_task_run

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def record_task_run(task_name: str, state: str, duration: float | None, error: str | None = None) -> None:
    """Record a finished run and rewrite the file (each in its own transaction)."""
    with session_scope() as session:
        write_task_run(session, task_name, state, duration, error)
    mirror_to_file()


def mark_running(task_name: str) -> None:
    with session_scope() as session:
        write_running(session, task_name)
    mirror_to_file()


def mirror_to_file() -> None:
    with session_scope() as session:
        write_status_file(session, get_settings().scheduler_status_dir)


def _ours(sender) -> bool:
    return (getattr(sender, "name", "") or "").startswith("darkhorses.")


def _safely(task_name, state, duration, error=None):
    try:
        record_task_run(task_name, state, duration, error)
    except Exception:  # status is a report; never fail the task because it could not be written
        log.warning("could not record status of %s", task_name, exc_info=True)


@signals.task_prerun.connect
def _on_prerun(sender=None, task_id=None, **_):
    if _ours(sender):
        _started[task_id] = time.monotonic()
        if sender.name in JOB_TASKS:
            try:
                mark_running(sender.name)
            except Exception:  # a report; never fail the task because it could not be written
                log.warning("could not record the start of %s", sender.name, exc_info=True)


@signals.beat_init.connect
@signals.worker_ready.connect
def _on_start(**_):
    """Beat and the worker write the file when they start, so it exists before any job ran."""
    try:
        mirror_to_file()
    except Exception:
        log.warning("could not write %s", STATUS_FILE_NAME, exc_info=True)


def _duration(task_id):
    started = _started.pop(task_id, None)
    return time.monotonic() - started if started else None


@signals.task_success.connect
def _on_success(sender=None, result=None, **_):
    if _ours(sender):
        # A skipped kick-off of the live loop is a success that did no work: still a run.
        _safely(sender.name, "SUCCESS", _duration(sender.request.id))


@signals.task_failure.connect
def _on_failure(sender=None, task_id=None, exception=None, **_):
    if _ours(sender):
        _safely(sender.name, "FAILURE", _duration(task_id), f"{type(exception).__name__}: {exception}")


@signals.task_retry.connect
def _on_retry(sender=None, request=None, reason=None, **_):
    if _ours(sender):
        _safely(sender.name, "RETRY", _duration(getattr(request, "id", None)), str(reason))
