"""Task status (recorded from Celery signals) and the `status` report for people.

Every task run lands in ra_task_status and is mirrored to logs/scheduler_status.json, so
"is it working?" has an answer even when the database is the thing that broke.
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
from .settings import get_settings

log = logging.getLogger(__name__)
STATUS_FILE = Path("logs") / "scheduler_status.json"
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


def _mirror_to_file() -> None:
    from .stats import write_json_atomic
    with session_scope() as session:
        tasks = {t.task_name: _task_dict(t) for t in session.execute(select(TaskStatus)).scalars()}
    with _file_lock:
        write_json_atomic(STATUS_FILE, {"updated_at": datetime.now(timezone.utc).isoformat(), "tasks": tasks})


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
    if report["problems"]:
        lines += ["", "Problems:"] + [f"  - {p}" for p in report["problems"]]
    return "\n".join(lines)
