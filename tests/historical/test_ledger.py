"""The per-date ledger (darkhorses/historical/ledger.py) and backfill planning (darkhorses/historical/planning.py)
on the run's PostgreSQL database."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from darkhorses.db import session_scope
from darkhorses.historical import ledger, planning
from darkhorses.models import CollectionLedger, LedgerStatus


def stored(day, session=None):
    if session is None:
        with session_scope() as session:
            return stored(day, session)
    return session.execute(select(CollectionLedger.status, CollectionLedger.last_error)
                           .where(CollectionLedger.race_date == day)).one_or_none()


def test_the_statuses_are_exactly_these_eight():
    assert [s.value for s in LedgerStatus] == ["pending", "running", "complete", "empty", "unavailable", "failed",
                                               "legacy", "provisional"]
    # provisional (same-day results) is never settled: the daily job collects the date
    assert set(ledger.SETTLED) == {"complete", "empty", "unavailable", "legacy"}


def test_an_unknown_status_is_refused_and_nothing_is_written(db_session):
    with pytest.raises(ValueError, match="'complet'"):
        ledger.update(db_session, date(2026, 2, 1), status="complet")
    assert stored(date(2026, 2, 1), db_session) is None


def test_a_failure_is_pending_while_retrying_and_failed_after(database_url):
    ledger.record_failure(date(2026, 2, 1), ConnectionError("API away"), retrying=True)
    assert stored(date(2026, 2, 1)) == ("pending", "ConnectionError: API away")
    ledger.record_failure(date(2026, 2, 1), ConnectionError("still away"), retrying=False)
    assert stored(date(2026, 2, 1)) == ("failed", "ConnectionError: still away")


def test_recording_a_failure_never_raises_when_the_database_is_gone(monkeypatch, caplog):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:9/none")
    from darkhorses.core.settings import reset_settings
    reset_settings()
    ledger.record_failure(date(2026, 2, 1), RuntimeError("boom"), retrying=False)
    assert "could not record the failure of 2026-02-01 in the ledger" in caplog.text


def test_planning_skips_settled_dates_and_progress_counts_failed_as_done(db_session):
    # 1 Feb complete, 2 Feb empty, 3 Feb failed, 4 Feb unavailable, 5 Feb pending, 6 Feb nothing yet
    for day, status in ((1, "complete"), (2, "empty"), (3, "failed"), (4, "unavailable"), (5, "pending")):
        ledger.update(db_session, date(2026, 2, day), status=status)
    first, last = date(2026, 2, 1), date(2026, 2, 6)
    session = db_session
    assert planning.plan(session, first, last) == [date(2026, 2, 6), date(2026, 2, 5), date(2026, 2, 3)]
    assert planning.plan(session, first, last, newest_first=False) == [
        date(2026, 2, 3), date(2026, 2, 5), date(2026, 2, 6)]
    # today 7 Feb, a 6-day window: 1..6 Feb, of which 3, 5 and 6 are not settled
    assert planning.daily_dates(session, date(2026, 2, 7), 6) == [
        date(2026, 2, 3), date(2026, 2, 5), date(2026, 2, 6)]
    progress = planning.progress(session, first, last)
    # done = complete + empty + unavailable + failed = 4 of 6
    assert (progress["total"], progress["done"], progress["remaining"]) == (6, 4, 2)


def test_a_backfill_request_reports_progress_and_is_found_stalled(db_session):
    opened = datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc)
    session = db_session
    planning.open_request(session, "bf-1", date(2026, 1, 1), date(2026, 1, 10), True, opened)
    planning.report(session, "bf-1", {"done": 3, "total": 10, "remaining": 7}, opened.replace(minute=1))
    # 2 minutes after the last report (12:01), chain limit max(60, 10 * 5) = 60 s: lost; stall limit 600 s: not
    [(request, chain_lost, work_stalled)] = planning.stalled(session, opened.replace(minute=3), 600, 5)
    assert (request.task_id, request.done, chain_lost, work_stalled) == ("bf-1", 3, True, False)
    assert planning.stalled(session, opened.replace(minute=1, second=30), 600, 5) == []
