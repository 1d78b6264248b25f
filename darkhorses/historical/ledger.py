"""The per-date ledger of historical collection (ra_collection_ledger): the one module that
writes its statuses, and the reads that plan work from it.

Writers take the session they write in, so a day's rows and its status commit together;
`mark` opens its own for callers outside a transaction (a task recording a failure).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from ..db import rowcount, session_scope, upsert
from ..models import LEDGER_DONE, CollectionLedger, LedgerStatus

log = logging.getLogger(__name__)

# Finished with this date: nothing more to fetch (unavailable = outside the plan; legacy =
# the replaced service's rows cover it, re-collected only when asked to refresh).
SETTLED = LEDGER_DONE + (LedgerStatus.UNAVAILABLE, LedgerStatus.LEGACY)


def update(session: Session, day: date, **values) -> None:
    """Upsert the date's row; `status`, when given, must be a LedgerStatus value."""
    if "status" in values:
        values["status"] = LedgerStatus(values["status"]).value  # a typo fails here, not in a report
    values["updated_at"] = datetime.now(timezone.utc)
    upsert(session, CollectionLedger.__table__, [{"race_date": day, **values}], ("race_date",), values.keys())


def mark(day: date, **values) -> None:
    with session_scope() as session:
        update(session, day, **values)


def record_failure(day: date, exc: BaseException, retrying: bool) -> None:
    """`pending` while a retry is scheduled, else `failed`. Never raises: the database may be
    the thing that failed, and the task's own state still tells."""
    status = LedgerStatus.PENDING if retrying else LedgerStatus.FAILED
    try:
        mark(day, status=status, last_error=f"{type(exc).__name__}: {exc}"[:2000],
             finished_at=datetime.now(timezone.utc))
    except Exception:
        log.exception("could not record the failure of %s in the ledger", day)


def release_legacy(session: Session, first: date, last: date) -> int:
    """Dates the old service's rows cover become collectable again (`backfill --refresh`)."""
    return rowcount(session.execute(sql_update(CollectionLedger).where(
        CollectionLedger.race_date.between(first, last), CollectionLedger.status == LedgerStatus.LEGACY.value)
        .values(status=LedgerStatus.PENDING.value, updated_at=datetime.now(timezone.utc))))


def settled_dates(session: Session, first: date, last: date) -> dict[date, str]:
    return dict(session.execute(select(CollectionLedger.race_date, CollectionLedger.status).where(
        CollectionLedger.race_date.between(first, last), CollectionLedger.status.in_(SETTLED))).all())


def counts(session: Session, first: date, last: date) -> dict[str, int]:
    """Dates per status over a range."""
    return dict(session.execute(
        select(CollectionLedger.status, func.count()).where(
            CollectionLedger.race_date.between(first, last)).group_by(CollectionLedger.status)).all())
