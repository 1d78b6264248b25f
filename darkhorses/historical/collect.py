"""Results of finished races into ra_odds_historical, one UK date at a time: fetch, enrich
from our own captures, store, and settle the ledger.

Plain functions; `darkhorses.tasks.historical` wraps them. Mapping API results to rows is in
mapping.py, returns maths in returns.py, the per-date ledger in ledger.py, date rules and
backfill planning in planning.py.
"""
from __future__ import annotations

import logging
import time
from datetime import date, datetime, timezone

from sqlalchemy import case, delete, func, select, tuple_
from sqlalchemy.orm import Session

from ..core.clock import day_start
from ..core.logsafe import safe
from ..core.settings import Settings, get_settings
from ..db import rowcount, session_scope, upsert
from ..live.market import record_lines
from ..models import CollectionLedger, LedgerStatus, OddsHistorical, OddsHistory, OddsLive, RunRecord
from ..racing_api.client import RacingAPIClient, RequestRefused
from . import ledger
from .ledger import mark as mark_ledger
from .ledger import update as _ledger_update
from .mapping import MappedDay, map_results
from .planning import check_date

log = logging.getLogger(__name__)

HISTORICAL_KEY = ("race_id", "horse_id")


def _attach_captured_prices(session: Session, rows: list[dict]) -> None:
    """Pre-race min/max (also the readers' ip_min/ip_max), the best closing price and the mean
    closing price across bookmakers (`forecasted_odds`) from our own live captures (else null)."""
    race_ids = sorted({r["race_id"] for r in rows})
    if not race_ids:
        return
    history, live = OddsHistory.__table__, OddsLive.__table__
    ranges = {(r.race_id, r.horse_id): (r.low, r.high) for r in session.execute(
        select(history.c.race_id, history.c.horse_id, func.min(history.c.odds_decimal).label("low"),
               func.max(history.c.odds_decimal).label("high"))
        .where(history.c.race_id.in_(race_ids)).group_by(history.c.race_id, history.c.horse_id))}
    fixed = case((live.c.bookmaker_type == "fixed", live.c.odds_decimal))
    closing = {(r.race_id, r.horse_id): (r.best, r.mean) for r in session.execute(
        select(live.c.race_id, live.c.horse_id, func.max(fixed).label("best"),
               func.avg(live.c.odds_decimal).label("mean"))
        .where(live.c.race_id.in_(race_ids)).group_by(live.c.race_id, live.c.horse_id))}
    for row in rows:
        key = (row["race_id"], row["horse_id"])
        low, high = ranges.get(key, (None, None))
        row["pre_race_min"] = row["ip_min"] = low
        row["pre_race_max"] = row["ip_max"] = high
        best, mean = closing.get(key, (None, None))
        row["last_price_before_off"] = float(best) if best is not None else None
        row["forecasted_odds"] = round(float(mean), 4) if mean is not None else None


# -- one day, and the ledger ------------------------------------------------------------------

class DateUnavailable(Exception):
    """The API refuses this date under the account's plan; the ledger says so."""


def collect_day(day: date, client: RacingAPIClient, settings: Settings | None = None) -> dict:
    """Fetch and store every result of one UK date with the caller's `client`; returns a
    summary for logs and the CLI. The ledger's `running` commits before the API call and a
    failure is recorded in a transaction of its own, so this opens its own short sessions.

    Raises DateRefused for a date not over yet (nothing recorded), RequestRefused-derived
    DateUnavailable after recording `unavailable`; any other error is recorded as `failed`
    (never left `running`) and propagates for the task's retry policy.
    """
    check_date(day)
    settings = settings or get_settings()
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    with session_scope() as session:
        current = session.get(CollectionLedger, day)
        had_legacy_rows = bool(current and current.legacy_rows)
        _ledger_update(session, day, status=LedgerStatus.RUNNING, attempts=(current.attempts if current else 0) + 1,
                       started_at=started_at, last_error=None)
    try:
        mapped = map_results(_fetch_results(day, client, settings, had_legacy_rows))
        return _store_day(day, mapped, started, started_at, had_legacy_rows)
    except DateUnavailable:
        raise
    except BaseException as exc:
        # The task turns this into `pending` when it will retry.
        ledger.record_failure(day, exc, retrying=False)
        raise


def _fetch_results(day: date, client: RacingAPIClient, settings: Settings, had_legacy_rows: bool) -> list[dict]:
    try:
        return client.results(day, settings.regions)
    except RequestRefused as exc:
        # A date the old service's rows cover stays theirs when the API no longer serves it.
        mark_ledger(day, status=LedgerStatus.LEGACY if had_legacy_rows else LedgerStatus.UNAVAILABLE,
                    last_error=exc.detail or str(exc), finished_at=datetime.now(timezone.utc))
        raise DateUnavailable(str(exc)) from exc


def _store_day(day: date, mapped: MappedDay, started: float, started_at: datetime,
               had_legacy_rows: bool) -> dict:
    """Write the day in one transaction: upsert the answer, drop what it no longer holds,
    and settle the ledger with the counts now in the table."""
    rows = mapped.rows
    now = datetime.now(timezone.utc)
    table = OddsHistorical.__table__
    with session_scope() as session:
        _attach_captured_prices(session, rows)
        for row in rows:
            row["created_at"] = row["updated_at"] = now
            row["provisional"] = False  # settled: a same-day row of the date stops being provisional
        columns = [c for c in (rows[0] if rows else {}) if c not in HISTORICAL_KEY + ("created_at",)]
        upsert(session, table, rows, HISTORICAL_KEY, columns)
        record_lines(session, [{"race_id": r["race_id"], "horse_id": r["horse_id"],
                                "race_date": r["date_of_race"].date(),
                                "off_dt": r["match_timestamp"], "industry_sp": r["industry_sp"],
                                "betfair_sp": r["betfair_sp"]} for r in rows], now)
        removed = _drop_amended(session, day, rows, mapped)
        races, runners = session.execute(
            select(func.count(func.distinct(table.c.race_id)), func.count())
            .where(_ours_of(table, day))).one()
        status = LedgerStatus.COMPLETE if races else LedgerStatus.EMPTY
        legacy = {}
        if races:
            legacy["legacy_rows"] = _replace_legacy_rows(session, day)
        elif had_legacy_rows:
            status = LedgerStatus.LEGACY  # the API has nothing for it: the old rows stay the only copy
        _ledger_update(session, day, status=status, races=races, runners=runners,
                       finished_at=now, last_error=None, **({"legacy_rows": 0} if legacy else {}))
        duration = round(time.monotonic() - started, 3)
        session.add(RunRecord(kind="historical", started_at=started_at, duration_seconds=duration,
                              races=races, runners=runners, prices=sum(r["industry_sp"] is not None for r in rows),
                              errors=mapped.skipped_races + mapped.skipped_runners,
                              detail={"date": day.isoformat(), "status": status.value, "removed": removed,
                                          "duplicates": mapped.duplicate_races + mapped.duplicate_runners}))
    return {"date": day.isoformat(), "status": status.value, "races": races, "runners": runners,
            "skipped_races": mapped.skipped_races, "skipped_runners": mapped.skipped_runners,
            "duplicate_races": mapped.duplicate_races, "duplicate_runners": mapped.duplicate_runners,
            "removed": removed, "duration_seconds": duration}


def _ours_of(table, day: date):
    """Our rows of a UK date; the replaced service's rows (no race or horse ids) are not ours
    to count or remove."""
    return (table.c.date_of_race == day_start(day)) & table.c.race_id.isnot(None)


def _drop_amended(session: Session, day: date, rows: list[dict], mapped: MappedDay) -> int:
    """Delete rows stored for `day` that the API's latest answer no longer holds (a runner
    disqualified and removed, a race voided). Rows of races or runners the answer held but
    could not be read stay; so does the whole day when the answer is empty while rows are
    stored, which is an API fault (a day's results never all vanish), not an amendment."""
    table = OddsHistorical.__table__
    stored = {tuple(key) for key in session.execute(
        select(table.c.race_id, table.c.horse_id).where(_ours_of(table, day)))}
    if not stored or (not rows and not mapped.unreadable_races):
        if stored:
            log.warning("results for %s: the API answered no races where %d rows are stored; kept",
                        day, len(stored))
        return 0
    answered = {(r["race_id"], r["horse_id"]) for r in rows}
    stale = [key for key in stored if key not in answered and key[0] not in mapped.unreadable_races
             and key not in mapped.unreadable_runners]
    for start in range(0, len(stale), 500):
        session.execute(delete(table).where(tuple_(table.c.race_id, table.c.horse_id).in_(stale[start:start + 500])))
    if stale:
        log.warning("results for %s amended: %d stored runners no longer in the answer removed: %s",
                    day, len(stale), safe(", ".join(f"{r}/{h}" for r, h in sorted(stale)[:10])))
    return len(stale)


def _replace_legacy_rows(session: Session, day: date) -> int:
    """Drop the old service's rows of a date just re-collected (ours, keyed by ids, replace
    them): the date then holds exactly one row per runner. Returns how many went."""
    table = OddsHistorical.__table__
    return rowcount(session.execute(delete(table).where(table.c.race_id.is_(None),
                                                        table.c.date_of_race == day_start(day))))
