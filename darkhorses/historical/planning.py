"""Backfill planning: which dates can be collected at all, which still need collecting,
progress over a range, and the durable backfill requests (ra_backfill_requests) that let a
stalled or orphaned backfill be resumed.

Every function takes the session it reads or writes in; the caller owns the transaction.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.clock import uk_date
from ..db import upsert
from ..models import BackfillRequest, LedgerStatus
from . import ledger

# The Racing API's results begin here; an earlier date is a typo.
EARLIEST_DATE = date(2015, 1, 1)


class DateRefused(ValueError):
    """A date that cannot be collected (not over yet, or before the API's first); str() is
    the one line to show."""


def latest_date(today: date | None = None) -> date:
    """Yesterday in the UK: the latest date whose racing is over."""
    return (today or uk_date(datetime.now(timezone.utc))) - timedelta(days=1)


def check_date(day: date, today: date | None = None) -> date:
    latest = latest_date(today)
    if day > latest:
        raise DateRefused(f"{day} is not over yet: the latest date that can be collected is {latest} "
                          "(yesterday, UK)")
    if day < EARLIEST_DATE:
        raise DateRefused(f"{day} is before {EARLIEST_DATE}, the first date of The Racing API's results")
    return day


def check_range(first: date, last: date, today: date | None = None) -> None:
    if first > last:
        raise DateRefused(f"the range {first}..{last} starts after it ends; give START then END")
    check_date(first, today)
    check_date(last, today)


def dates_between(first: date, last: date, newest_first: bool = True) -> list[date]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days[::-1] if newest_first else days


def daily_dates(session: Session, today: date, catchup_days: int) -> list[date]:
    """Yesterday and every earlier day within the catch-up window not yet settled."""
    first, yesterday = max(EARLIEST_DATE, today - timedelta(days=catchup_days)), today - timedelta(days=1)
    settled = ledger.settled_dates(session, first, yesterday)
    return [d for d in dates_between(first, yesterday, newest_first=False) if d not in settled]


def plan(session: Session, first: date, last: date, newest_first: bool = True) -> list[date]:
    """Unsettled dates of a range; DateRefused for a range that cannot be collected."""
    check_range(first, last)
    settled = ledger.settled_dates(session, first, last)
    return [d for d in dates_between(first, last, newest_first) if d not in settled]


def progress(session: Session, first: date, last: date) -> dict:
    """Counts by ledger status over a date range: done/total and what is left."""
    counts = ledger.counts(session, first, last)
    total = (last - first).days + 1
    done = sum(counts.get(s, 0) for s in ledger.SETTLED + (LedgerStatus.FAILED,))
    return {"start": first.isoformat(), "end": last.isoformat(), "total": total, "done": done,
            "remaining": total - done, "by_status": counts}


# -- backfill requests: durable, so a lost broker or a killed worker never strands one ---------

def open_request(session: Session, task_id: str, first: date, last: date, newest_first: bool, now: datetime) -> None:
    upsert(session, BackfillRequest.__table__, [{
        "task_id": task_id, "start_date": first, "end_date": last, "newest_first": newest_first,
        "status": "running", "done": 0, "total": (last - first).days + 1, "resumes": 0,
        "created_at": now, "reported_at": now, "progressed_at": now}], ("task_id",))


def report(session: Session, task_id: str, progress: dict, now: datetime) -> None:
    """Record a progress tick of the backfill's reporting chain."""
    request = session.get(BackfillRequest, task_id)
    if request is None:
        return
    if progress["done"] > request.done:
        request.progressed_at = now
    request.done, request.total, request.reported_at = progress["done"], progress["total"], now
    request.status = "complete" if progress["remaining"] == 0 else "running"


def stalled(session: Session, now: datetime, stall_seconds: float,
            report_every: float) -> list[tuple[BackfillRequest, bool, bool]]:
    """(request, chain_lost, work_stalled) for every running backfill that needs a nudge:
    its reporting chain stopped ticking, or no date settled for `stall_seconds`."""
    requests = session.execute(select(BackfillRequest).where(BackfillRequest.status == "running")).scalars().all()
    nudges = []
    for request in requests:
        chain_lost = (now - request.reported_at).total_seconds() > max(60.0, 10 * report_every)
        work_stalled = (now - request.progressed_at).total_seconds() > stall_seconds
        if chain_lost or work_stalled:
            nudges.append((request, chain_lost, work_stalled))
    return nudges


def note_resume(session: Session, task_id: str, now: datetime) -> None:
    request = session.get_one(BackfillRequest, task_id)
    request.resumes += 1
    request.progressed_at = request.reported_at = now
