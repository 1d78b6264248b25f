"""Task status (recorded from Celery signals) and the `status` report for people.

Every task run lands in ra_task_status and is mirrored to scheduler_status.json (in
SCHEDULER_STATUS_DIR, `logs` by default) by whichever process saw it, the worker's or beat's:
the replaced service's `live_odds`, `historical_odds` and `statistics` entries for its
readers, and ours (`tasks`), so "is it working?" has an answer even when the database broke.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from celery import signals
from sqlalchemy import func, select

from .db import session_scope, upsert
from .models import CollectionLedger, LiveFetch, OddsHistorical, OddsHistory, OddsLive, TaskStatus
from .prices import UK
from .settings import get_settings

log = logging.getLogger(__name__)
STATUS_FILE_NAME = "scheduler_status.json"
# The replaced service's jobs and the tasks that do their work now.
JOBS = {"live_odds": ("darkhorses.live.poll",),
        "historical_odds": ("darkhorses.historical.daily", "darkhorses.historical.collect_day",
                            "darkhorses.historical.backfill"),
        "statistics": ("darkhorses.stats.update",)}
_JOB_TASKS = {task for tasks in JOBS.values() for task in tasks}
_started: dict[str, float] = {}
_file_lock = threading.Lock()


def record_task_run(task_name: str, state: str, duration: float | None, error: str | None = None) -> None:
    now = datetime.now(timezone.utc)
    with session_scope() as session:
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
    _mirror_to_file()


def status_file() -> Path:
    return Path(get_settings().scheduler_status_dir) / STATUS_FILE_NAME


def mark_running(task_name: str) -> None:
    """A job's task started: `running` in the file until it ends (runs are counted at the end)."""
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        current = session.get(TaskStatus, task_name)
        if current is None:
            session.add(TaskStatus(task_name=task_name, last_state="STARTED", last_run_at=now, runs=0, failures=0))
        else:
            current.last_state, current.last_run_at = "STARTED", now
    _mirror_to_file()


def _mirror_to_file() -> None:
    from .stats import write_json_atomic
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        rows = list(session.execute(select(TaskStatus)).scalars())
        last_fetch = session.execute(select(LiveFetch).order_by(LiveFetch.fetch_timestamp.desc()).limit(1)).scalar()
        payload = {job: _job_status([r for r in rows if r.task_name in tasks]) for job, tasks in JOBS.items()}
        payload["live_odds"].update(_next_check(last_fetch))
    payload.update(updated_at=now.isoformat(), tasks={t.task_name: _task_dict(t) for t in rows})
    with _file_lock:
        write_json_atomic(status_file(), payload)


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
        if sender.name in _JOB_TASKS:
            try:
                mark_running(sender.name)
            except Exception:  # a report; never fail the task because it could not be written
                log.warning("could not record the start of %s", sender.name, exc_info=True)


@signals.beat_init.connect
@signals.worker_ready.connect
def _on_start(**_):
    """Beat and the worker write the file when they start, so it exists before any job ran."""
    try:
        _mirror_to_file()
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


# -- the report --------------------------------------------------------------------------------

def collect_status() -> dict:
    from . import loop
    from .coordination import store_for
    settings = get_settings()
    now = datetime.now(timezone.utc)
    report: dict = {"generated_at": now.isoformat()}
    if settings.uses_redis:
        try:
            store = store_for(settings)
            report["live_loop"] = {"lease_held": loop.is_alive(store), "heartbeat": loop.heartbeat(store)}
        except Exception as exc:
            report["live_loop"] = {"lease_held": False, "error": f"cannot reach Redis: {exc}"}
    with session_scope() as session:
        if "live_loop" not in report:
            # No Redis (the one-process `run` mode keeps its lease in memory): judge the loop
            # by its last cycle on record instead.
            last = session.execute(select(LiveFetch).order_by(LiveFetch.fetch_timestamp.desc()).limit(1)).scalar()
            heartbeat, alive = None, False
            if last is not None:
                next_poll_at = last.fetch_timestamp + timedelta(seconds=(last.detail or {}).get("next_poll_seconds", 0))
                heartbeat = {"at": last.fetch_timestamp.isoformat(), "ok": True, "races": last.races_count,
                             "prices": last.total_odds_fetched, "changed": last.prices_changed,
                             "errors": last.errors_count, "next_poll_at": next_poll_at.isoformat()}
                alive = now <= next_poll_at + timedelta(seconds=settings.live_lease_grace)
            report["live_loop"] = {"lease_held": alive, "heartbeat": heartbeat}
        report["tasks"] = {t.task_name: _task_dict(t) for t in session.execute(select(TaskStatus)).scalars()}
        report["rows"] = {name: session.execute(select(func.count()).select_from(model)).scalar()
                          for name, model in (("ra_odds_live", OddsLive), ("ra_odds_history", OddsHistory),
                                              ("ra_odds_historical", OddsHistorical))}
        report["ledger"] = dict(session.execute(
            select(CollectionLedger.status, func.count()).group_by(CollectionLedger.status)).all())
        from .adoption import legacy_faults
        legacy = legacy_faults(session)
        if legacy:
            report["legacy"] = legacy
    poll = report["tasks"].get("darkhorses.live.poll")
    heartbeat = report["live_loop"].get("heartbeat") or {}
    problems = []
    if report["live_loop"].get("error"):
        problems.append(report["live_loop"]["error"])
    elif not report["live_loop"].get("lease_held"):
        problems.append("the live loop is not running (the watchdog restarts it within a minute if beat runs)")
    if heartbeat and heartbeat.get("ok") is False:
        problems.append(f"the last live cycle failed: {heartbeat.get('error')}")
    if poll and poll["state"] == "FAILURE":
        problems.append(f"darkhorses.live.poll last failed: {poll['last_error']}")
    if report["ledger"].get("failed"):
        problems.append(f"{report['ledger']['failed']} dates failed historical collection")
    # What the alerts watch beyond the above, so a monitor reading the exit status sees it too.
    from .alerts import detect_problems
    problems += [text for key, text in detect_problems(now, include_loop=False).items()
                 if key.startswith(("credentials-", "stats-", "race-"))]
    report["healthy"] = not problems
    report["problems"] = problems
    report["verdict"], report["exit_code"] = VERDICTS[0 if not problems else 1]
    return report


# (verdict, exit status) for monitors: cron, health checks and uptime services read the status.
VERDICTS = {0: ("healthy", 0), 1: ("needs attention", 1), 2: ("database unreachable", 2)}


def unreachable_report(reason: str) -> dict:
    verdict, code = VERDICTS[2]
    return {"generated_at": datetime.now(timezone.utc).isoformat(), "healthy": False, "verdict": verdict,
            "exit_code": code, "problems": [f"cannot reach the database: {reason}"]}


def _when(value) -> str:
    if not value:
        return "never"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    seconds = (datetime.now(timezone.utc) - moment.astimezone(timezone.utc)).total_seconds()
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}Z ({'in ' if seconds < 0 else ''}{abs(seconds):.0f}s{' ago' if seconds >= 0 else ''})"


def render_status(report: dict) -> str:
    lines = [f"DarkHorses Workers — {'HEALTHY' if report['healthy'] else 'NEEDS ATTENTION'}", ""]
    live_loop = report["live_loop"]
    heartbeat = live_loop.get("heartbeat") or {}
    lines.append("Live loop: " + ("running" if live_loop.get("lease_held") else "NOT running"))
    if heartbeat:
        lines.append(f"  last cycle {_when(heartbeat.get('at'))}, next poll {_when(heartbeat.get('next_poll_at'))}")
        if heartbeat.get("ok"):
            lines.append(f"  {heartbeat.get('races', 0)} races, {heartbeat.get('prices', 0)} prices, "
                         f"{heartbeat.get('changed', 0)} changed, {heartbeat.get('errors', 0)} errors")
    lines += ["", "Tasks:"]
    for name, task in sorted(report["tasks"].items()):
        error = f" — {task['last_error']}" if task["state"] != "SUCCESS" and task["last_error"] else ""
        lines.append(f"  {name:<36} {task['state']:<8} last run {_when(task['last_run_at'])}, "
                     f"{task['runs']} runs, {task['failures']} failures{error}")
    if not report["tasks"]:
        lines.append("  (no task has run yet)")
    lines += ["", "Rows: " + ", ".join(f"{k} {v:,}" for k, v in report["rows"].items()),
              "Backfill ledger: " + (", ".join(f"{k} {v}" for k, v in sorted(report["ledger"].items())) or "empty")]
    legacy = report.get("legacy")
    if legacy:
        lines += ["", f"Old service's results: {legacy['rows_without_ids']:,} rows without race or horse ids, "
                      f"{legacy['dates_covered']:,} dates ({legacy['first_date']}..{legacy['last_date']})",
                  f"  known faults: {legacy['twelve_hour_race_time']:,} with a 12-hour race_time, "
                  f"{legacy['gb_for_irish_race']:,} with 'GB' for an Irish race",
                  "  fix by re-collecting dates the API still serves: backfill START END --refresh"]
    if report["problems"]:
        lines += ["", "Problems:"] + [f"  - {p}" for p in report["problems"]]
    return "\n".join(lines)
