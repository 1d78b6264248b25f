"""Historical results: the daily 01:00 UK job, one task per date, and backfills (queue `historical`)."""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from celery.exceptions import Ignore, SoftTimeLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError

from ..core import task_limits, task_names
from ..core.clock import uk_date
from ..core.deadline import Deadline, DeadlinePassed
from ..core.settings import get_settings
from ..db import session_scope
from ..historical import collect, ledger, planning
from ..racing_api.client import BadResponse, RacingAPIClient, TemporarilyUnavailable
from .app import app

log = logging.getLogger(__name__)

# Worth another try later: the API or the database was away, a body came back broken, or the
# day overran its time (core/task_limits.py).
TRANSIENT = (TemporarilyUnavailable, BadResponse, OperationalError, InterfaceError, ConnectionError,
             DeadlinePassed, SoftTimeLimitExceeded)
PROGRESS_EVERY = 5.0  # seconds between backfill progress reports


@app.task(bind=True, name=task_names.HISTORICAL_COLLECT_DAY, max_retries=5)
def collect_day(self, day: str):
    race_date = date.fromisoformat(day)
    try:
        planning.check_date(race_date)
    except planning.DateRefused as exc:  # settling a day not over yet would lose its later races
        log.error("collect_day refused: %s", exc)
        return {"date": day, "status": "refused", "error": str(exc)}
    settings = get_settings()
    allowed = task_limits.limits()[task_names.HISTORICAL_COLLECT_DAY].deadline
    client = RacingAPIClient(settings, deadline=Deadline(allowed, f"results of {day}") if allowed else None)
    try:
        return collect.collect_day(race_date, client, settings)
    except collect.DateUnavailable as exc:
        log.warning("results for %s are not available under this plan: %s", day, exc)
        return {"date": day, "status": "unavailable", "error": str(exc)}
    except TRANSIENT as exc:
        # collect_day recorded `failed`; a retry to come makes it `pending`.
        final = self.request.retries >= self.max_retries
        ledger.record_failure(race_date, exc, retrying=not final)
        if final:
            raise
        backoff = settings.historical_retry_seconds * 2 ** self.request.retries
        raise self.retry(exc=exc, countdown=min(600, backoff)) from exc
    finally:
        client.close()


def _enqueue_unsettled(first: date, last: date, newest_first: bool) -> int:
    # A backfill recorded before dates were checked may reach past yesterday: resume what is over.
    first, last = max(first, planning.EARLIEST_DATE), min(last, planning.latest_date())
    if first > last:
        return 0
    with session_scope() as session:
        dates = planning.plan(session, first, last, newest_first)
    for race_date in dates:
        collect_day.apply_async(args=[race_date.isoformat()])
    log.info("backfill %s..%s: %d dates enqueued, %d already settled",
             first, last, len(dates), (last - first).days + 1 - len(dates))
    return len(dates)


@app.task(name=task_names.HISTORICAL_RESUME)
def resume():
    """Nudge backfills that stalled (a killed worker's unacked message waits for Redis's
    visibility timeout) or lost their progress chain (a Redis restart): re-enqueue their
    unsettled dates (idempotent) and restart the reporting chain under the same task id."""
    settings = get_settings()
    nudged = []
    with session_scope() as session:
        stalled = planning.stalled(session, datetime.now(timezone.utc), settings.historical_stall_seconds,
                                   PROGRESS_EVERY)
    for request, chain_lost, _work_stalled in stalled:
        with session_scope() as session:
            planning.note_resume(session, request.task_id, datetime.now(timezone.utc))
        _enqueue_unsettled(request.start_date, request.end_date, request.newest_first)
        if chain_lost:
            backfill.apply_async(args=[request.start_date.isoformat(), request.end_date.isoformat()],
                                 kwargs={"newest_first": request.newest_first, "enqueued": True},
                                 task_id=request.task_id)
        log.warning("backfill %s (%s..%s) resumed: %s", request.task_id, request.start_date, request.end_date,
                    "progress reports stopped" if chain_lost else "no date settled recently")
        nudged.append(request.task_id)
    return {"resumed": nudged}


@app.task(name=task_names.HISTORICAL_DAILY)
def daily():
    """Yesterday plus any missed day in the catch-up window, each as its own task."""
    with session_scope() as session:
        dates = planning.daily_dates(session, uk_date(datetime.now(timezone.utc)),
                                     get_settings().historical_catchup_days)
    for race_date in dates:
        collect_day.apply_async(args=[race_date.isoformat()])
    return {"enqueued": [d.isoformat() for d in dates]}


@app.task(bind=True, name=task_names.HISTORICAL_BACKFILL)
def backfill(self, start: str, end: str, newest_first: bool = True, enqueued: bool = False, refresh: bool = False):
    """Enqueue one collect_day per unsettled date, then report progress until all settle.

    Progress is reported by re-sending this same task id every few seconds rather than by
    blocking a worker slot, so a backfill never starves the dates it is waiting for. Dates the
    old service's rows cover are skipped unless `refresh`.
    """
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    try:
        planning.check_range(first, last)
    except planning.DateRefused as exc:
        log.error("backfill refused: %s", exc)
        return {"start": start, "end": end, "status": "refused", "error": str(exc)}
    if not enqueued:
        with session_scope() as session:
            if refresh:
                ledger.release_legacy(session, first, last)
            planning.open_request(session, self.request.id, first, last, newest_first, datetime.now(timezone.utc))
        _enqueue_unsettled(first, last, newest_first)
    with session_scope() as session:
        progress = planning.progress(session, first, last)
        planning.report(session, self.request.id, progress, datetime.now(timezone.utc))
    if progress["remaining"] == 0:
        return progress
    self.update_state(state="PROGRESS", meta=progress)
    self.send_event("task-progress", done=progress["done"], total=progress["total"])
    self.apply_async(args=[start, end], kwargs={"newest_first": newest_first, "enqueued": True},
                     task_id=self.request.id, countdown=PROGRESS_EVERY)
    raise Ignore()
