"""Problems worth telling a person about, and the webhook that tells them.

Run every minute by darkhorses.ops.alerts (beat, queue `stats`), never from the hot path.
Each problem has a stable key; a message is sent when a key appears and when it clears.
Which keys were announced is kept in the shared store (Redis when the broker is Redis), so
any worker may run the check and a restart does not repeat messages.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.clock import uk_date
from ..core.settings import Settings, mask_webhook
from ..core.store import Store
from ..live import lease
from ..live.runs import live_cycles
from ..models import CollectionLedger, LiveFetch, RunRecord, TaskStatus

log = logging.getLogger(__name__)
STATE_KEY = "darkhorses:alerts:active"
LOCK_KEY = "darkhorses:alerts:lock"
# Statistics run every 10 minutes: three missed runs is stale.
STATS_STALE_AFTER = timedelta(minutes=30)
WEBHOOK_TIMEOUT = 10.0


def detect_problems(session: Session, settings: Settings, now: datetime | None = None,
                    lease_store: Store | None = None, include_loop: bool = True) -> dict[str, str]:
    """{stable key: one line for a person} for every current problem (`status` judges the loop
    itself, and reports an unreachable Redis rather than failing: include_loop=False).
    `lease_store`: where the live loop's lease is (Redis); None judges the loop by its last cycle."""
    now = now or datetime.now(timezone.utc)
    problems: dict[str, str] = {}
    if include_loop and not _loop_running(session, settings, lease_store, now):
        problems["loop-not-running"] = ("the live loop is not running (a live worker's guard restarts it "
                                        "within seconds; beat's watchdog within a minute)")
    for task in session.execute(select(TaskStatus).where(TaskStatus.last_state == "FAILURE")).scalars():
        if (task.last_error or "").startswith("CredentialsRejected"):
            problems["credentials-rejected"] = (
                f"The Racing API rejected the credentials (last seen by {task.task_name}); "
                "check RACING_API_USERNAME/PASSWORD")
    failed = session.execute(select(func.count(), func.min(CollectionLedger.race_date), func.max(
        CollectionLedger.race_date)).where(CollectionLedger.status == "failed")).one()
    if failed[0]:
        problems["historical-failed"] = (f"{failed[0]} historical date(s) failed ({failed[1]}..{failed[2]}); "
                                         "see ra_collection_ledger.last_error")
    stale = _stats_stale(session, now)
    if stale:
        problems["stats-stale"] = stale
    for race in _uncaptured_races(session, settings, now):
        problems[f"race-uncaptured:{race['race_id']}"] = (
            f"race {race['race_id']} ({race.get('course') or '?'}, off {race['off_dt']}) went off "
            "while the live loop ran, but was never captured")
    return problems


def _loop_running(session: Session, settings: Settings, lease_store: Store | None, now: datetime) -> bool:
    if lease_store is not None:
        return lease.is_alive(lease_store)
    # No Redis (the one-process mode): the last cycle on record and the poll it announced.
    last = session.execute(select(LiveFetch).order_by(LiveFetch.fetch_timestamp.desc()).limit(1)).scalar()
    if last is None:
        return False
    due = last.fetch_timestamp + timedelta(seconds=(last.detail or {}).get("next_poll_seconds", 0))
    return now <= due + timedelta(seconds=settings.live_lease_grace)


def _stats_stale(session: Session, now: datetime) -> str | None:
    last = session.execute(select(func.max(RunRecord.started_at)).where(RunRecord.kind == "stats")).scalar()
    if last is not None:
        if now - last <= STATS_STALE_AFTER:
            return None
        return f"statistics are stale: last computed {last:%Y-%m-%d %H:%M}Z"
    # Never computed: only a problem once the service has been collecting for a while.
    firsts = [session.execute(select(func.min(LiveFetch.fetch_timestamp))).scalar(),
              session.execute(select(func.min(RunRecord.started_at))).scalar()]
    first = min((f for f in firsts if f is not None), default=None)
    if first is not None and now - first > STATS_STALE_AFTER:
        return "statistics have never been computed (is beat running darkhorses.stats.update?)"
    return None


def _uncaptured_races(session: Session, settings: Settings, now: datetime) -> list[dict]:
    """Today's races a live cycle saw off without a capture, when the loop was running at the
    off: some cycle started within one full poll interval plus the grace before it."""
    today = uk_date(now)
    since = now - timedelta(hours=26)
    runs = live_cycles(session, since).all()
    starts = [started for started, _ in runs]
    window = timedelta(seconds=settings.poll_intervals[-1][1] + settings.live_lease_grace)
    found: dict[str, dict] = {}
    for _, detail in runs:
        for race in (detail or {}).get("uncaptured_off") or []:
            off = datetime.fromisoformat(race["off_dt"])
            if race["race_id"] in found or uk_date(off) != today:
                continue
            if any(off - window <= started < off for started in starts):
                found[race["race_id"]] = race
    return list(found.values())


def notify(text: str, settings: Settings) -> bool:
    """POST one message; True when delivered (or when no webhook is set and it was logged).
    Never raises: a broken webhook must not fail the task that noticed the problem."""
    if not settings.alert_webhook_url:
        log.warning("alert (no ALERT_WEBHOOK_URL set): %s", text)
        return True
    # Slack reads "text", Discord "content"; each ignores the other's key.
    try:
        response = requests.post(settings.alert_webhook_url, json={"text": text, "content": text},
                                 timeout=WEBHOOK_TIMEOUT)
        response.raise_for_status()
        return True
    except requests.RequestException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        log.warning("alert webhook %s failed (%s); will retry next check: %s", mask_webhook(settings.alert_webhook_url),
                    status or type(exc).__name__, text)
        return False


def check_and_notify(session: Session, settings: Settings, store: Store, now: datetime | None = None) -> dict:
    """Announce new problems and cleared ones, once each; returns what was sent. `store`: the
    coordination store (Redis, or memory in the one-process mode): the lock, what was announced
    and, with Redis, the live loop's lease."""
    # Two beats (or a slow run overlapping the next) must not announce the same problem twice.
    if not store.set_if_absent(LOCK_KEY, "1", 55):
        return {"skipped": "another alert check is running"}
    try:
        problems = detect_problems(session, settings, now, store if settings.uses_redis else None)
        active = json.loads(store.get(STATE_KEY) or "{}")
        raised, cleared = [], []
        for key, text in problems.items():
            if key not in active and notify(f"DarkHorses problem: {text}", settings):
                active[key] = text
                raised.append(key)
        for key in [k for k in active if k not in problems]:
            if notify(f"DarkHorses resolved: {active[key]}", settings):
                del active[key]
                cleared.append(key)
        store.set(STATE_KEY, json.dumps(active))
        return {"problems": sorted(problems), "raised": raised, "cleared": cleared}
    finally:
        store.delete(LOCK_KEY)
