"""The `status` report for people: is the live loop running, what did each task do last, how many
rows, how the backfill ledger stands. Task runs are recorded by darkhorses/ops/task_status.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core import task_names
from ..core.settings import Settings
from ..core.store import Store
from ..models import CollectionLedger, LiveFetch, LivePrice, OddsHistorical, OddsMove
from .task_status import task_statuses


def collect_status(session: Session, settings: Settings, store: Store | None = None) -> dict:
    """`store`: the coordination store holding the live loop's lease (None without Redis)."""
    from ..live import lease
    now = datetime.now(timezone.utc)
    report: dict = {"generated_at": now.isoformat()}
    if store is not None:
        try:
            # Judged by the holder: a lease whose worker has no heartbeat (killed, frozen) is
            # not a running loop, however long the lease itself has left.
            _, held = lease.read(store)
            report["live_loop"] = {"lease_held": lease.is_alive(store),
                                   "heartbeat": lease.heartbeat(store),
                                   "lease": held._asdict() if held else None}
        except Exception as exc:
            report["live_loop"] = {"lease_held": False, "error": f"cannot reach Redis: {exc}"}
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
    report["tasks"] = task_statuses(session)
    # ra_odds_live has a row per price: counted on its table (the view's joins add nothing to a count)
    report["rows"] = {name: session.execute(select(func.count()).select_from(model)).scalar()
                      for name, model in (("ra_odds_live", LivePrice), ("ra_odds_history", OddsMove),
                                          ("ra_odds_historical", OddsHistorical))}
    report["ledger"] = dict(session.execute(
        select(CollectionLedger.status, func.count()).group_by(CollectionLedger.status)).all())
    from ..historical.legacy_rows import legacy_faults
    legacy = legacy_faults(session)
    if legacy:
        report["legacy"] = legacy
    # Our live withdrawals against the results' non-runners, last 7 days: a difference is
    # counted (a withdrawal the loop missed, or a glitch it took for one), not a problem.
    from ..analysis.non_runners import compare_with_withdrawals
    report["non_runners"] = compare_with_withdrawals(session, now.date())
    poll = report["tasks"].get(task_names.LIVE_POLL)
    heartbeat = report["live_loop"].get("heartbeat") or {}
    problems = []
    if report["live_loop"].get("error"):
        problems.append(report["live_loop"]["error"])
    elif not report["live_loop"].get("lease_held"):
        problems.append("the live loop is not running (a live worker's guard restarts it within "
                        "seconds; beat's watchdog within a minute)")
    if heartbeat and heartbeat.get("ok") is False:
        problems.append(f"the last live cycle failed: {heartbeat.get('error')}")
    if poll and poll["state"] == "FAILURE":
        problems.append(f"{task_names.LIVE_POLL} last failed: {poll['last_error']}")
    if report["ledger"].get("failed"):
        problems.append(f"{report['ledger']['failed']} dates failed historical collection")
    # What the alerts watch beyond the above, so a monitor reading the exit status sees it too.
    from .alerts import detect_problems
    problems += [text for key, text in detect_problems(session, settings, now, include_loop=False).items()
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
    relative = f"in {-seconds:.0f}s" if seconds < 0 else f"{seconds:.0f}s ago"
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}Z ({relative})"


def render_status(report: dict) -> str:
    lines = [f"DarkHorses Workers — {'HEALTHY' if report['healthy'] else 'NEEDS ATTENTION'}", ""]
    live_loop = report["live_loop"]
    heartbeat = live_loop.get("heartbeat") or {}
    lines.append("Live loop: " + ("running" if live_loop.get("lease_held") else "NOT running"))
    held = live_loop.get("lease")
    if held:
        lines.append(f"  loop {held['loop']} seq {held['seq']} {held['phase']}, held by {held['holder']} "
                     f"(pid {held['pid']})")
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
    non_runners = report.get("non_runners")
    if non_runners:
        lines.append("Non-runners, last 7 days (live withdrawals vs results): " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in non_runners.items()))
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
