"""Results of finished races into ra_odds_historical, one UK date at a time.

Plain functions; `darkhorses.tasks.historical` wraps them. The parts live in their own
modules and are re-exported here for callers: returns maths in returns.py, the per-date
ledger (its statuses, and the one writer of them) in ledger.py, backfill planning and the
durable backfill requests in backfill.py. What stays: mapping API results to rows, and
collecting one day.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import case, delete, func, select

from . import backfill, ledger
from .backfill import dates_between
from .db import session_scope, upsert
from .ledger import SETTLED
from .ledger import mark as mark_ledger
from .ledger import update as _ledger_update
from .models import CollectionLedger, OddsHistorical, OddsHistory, OddsLive, RunRecord
from .prices import day_start, parse_sp, parse_timestamp, text, to_float, to_int, uk_date, uk_time
from .racing_api import RacingAPIClient, RequestRefused
from .returns import compute_returns, favourite_ranks, place_terms
from .settings import get_settings

__all__ = ["SETTLED", "DateUnavailable", "MappedDay", "backfill_progress", "collect_day", "compute_returns",
           "daily_dates", "dates_between", "favourite_ranks", "map_results", "mark_ledger", "note_resume",
           "open_backfill", "place_terms", "plan_backfill", "release_legacy_dates", "report_backfill", "settled_dates",
           "stalled_backfills"]

log = logging.getLogger(__name__)

HISTORICAL_KEY = ("race_id", "horse_id")
# Who wrote a row (the replaced service left its own values here) and where it came from.
DATA_SOURCE, FILE_SOURCE = "darkhorses-workers", "Racing API"


# -- mapping ---------------------------------------------------------------------------------

@dataclass
class MappedDay:
    rows: list[dict]
    races: int = 0
    skipped_races: int = 0
    skipped_runners: int = 0


def map_results(results: list[dict]) -> MappedDay:
    """API results as ra_odds_historical rows; bad races and runners are skipped and counted."""
    day = MappedDay(rows=[])
    for result in results:
        try:
            rows, skipped = _map_race(result)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            day.skipped_races += 1
            log.warning("skipped malformed result %s: %s",
                        result.get("race_id") if isinstance(result, dict) else None, exc)
            continue
        day.races += 1
        day.skipped_runners += skipped
        day.rows.extend(rows)
    return day


def _map_race(result: dict) -> tuple[list[dict], int]:
    race_id = text(result["race_id"], 32)
    if not race_id:
        raise ValueError("no race_id")
    off_dt = parse_timestamp(result.get("off_dt"))
    race_date = uk_date(off_dt) if off_dt else date.fromisoformat(str(result["date"])[:10])
    region = text(result.get("region"), 8)
    race_name = text(result.get("race_name"), 255)
    race_class = re.search(r"\d+", str(result.get("class") or ""))
    handicap = "handicap" in (race_name or "").lower()
    race = {
        "race_id": race_id, "date_of_race": day_start(race_date),
        "country": region.upper() if region else None,
        "track": text(result.get("course"), 64), "course_id": text(result.get("course_id"), 32),
        "race_time": uk_time(off_dt) if off_dt else None, "match_timestamp": off_dt,
        "race_name": race_name, "going": text(result.get("going"), 64),
        "race_type": text(result.get("type"), 32), "distance": text(result.get("dist"), 32),
        "distance_f": to_float(str(result.get("dist_f") or "").rstrip("f")),
        "race_class": int(race_class.group()) if race_class else None, "is_handicap": handicap,
    }
    runners = [r for r in result["runners"] if isinstance(r, dict) and text(r.get("horse_id"), 32)]
    skipped = len(result["runners"]) - len(runners)
    race["runners_count"] = len(runners)
    ties = Counter(r.get("position", "").strip() for r in runners)
    sps = {}
    rows = []
    for runner in runners:
        sp, sp_fractional = parse_sp(runner.get("sp"), runner.get("sp_dec"))
        position = text(runner.get("position"), 16)
        sps[runner["horse_id"]] = sp
        win, place, each_way = compute_returns(position, sp, ties[position or ""], len(runners), handicap)
        rows.append({**race,
                     "horse_id": text(runner["horse_id"], 32), "horse_name": text(runner.get("horse"), 128),
                     "official_rating": to_int(runner.get("or")), "age": to_int(runner.get("age")),
                     "weight": text(runner.get("weight"), 16), "weight_lbs": to_int(runner.get("weight_lbs")),
                     "jockey": text(runner.get("jockey"), 128), "jockey_id": text(runner.get("jockey_id"), 32),
                     "trainer": text(runner.get("trainer"), 128), "trainer_id": text(runner.get("trainer_id"), 32),
                     "headgear": text(runner.get("headgear"), 16), "stall_number": to_int(runner.get("draw")),
                     "finishing_position": position, "winning_distance": text(runner.get("btn"), 16),
                     "industry_sp": sp, "sp_fractional": sp_fractional,
                     "betfair_sp": to_float(runner.get("bsp")) if to_float(runner.get("bsp")) else None,
                     "sp_win_return": win, "place_return": place, "ew_return": each_way,
                     "data_source": DATA_SOURCE, "file_source": FILE_SOURCE})
    ranks = favourite_ranks(sps)
    for row in rows:
        row["sp_favorite_position"] = ranks.get(row["horse_id"])
    return rows, skipped


def _attach_captured_prices(session, rows: list[dict]) -> None:
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
        select(live.c.race_id, live.c.horse_id, func.max(fixed).label("best"), func.avg(live.c.odds_decimal).label("mean"))
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


def collect_day(day: date, client: RacingAPIClient | None = None) -> dict:
    """Fetch and store every result of one UK date; returns a summary for logs and the CLI.

    Raises RequestRefused-derived DateUnavailable after recording `unavailable`; other
    errors propagate for the task's retry policy (the caller records `failed`/`pending`).
    """
    settings = get_settings()
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    with session_scope() as session:
        current = session.get(CollectionLedger, day)
        _ledger_update(session, day, status="running", attempts=(current.attempts if current else 0) + 1,
                       started_at=started_at, last_error=None)
    own_client = client is None
    client = client or RacingAPIClient(settings)
    try:
        results = client.results(day, settings.regions)
    except RequestRefused as exc:
        # A date the old service's rows cover stays theirs when the API no longer serves it.
        mark_ledger(day, status="legacy" if current and current.legacy_rows else "unavailable",
                    last_error=exc.detail or str(exc), finished_at=datetime.now(timezone.utc))
        raise DateUnavailable(str(exc)) from exc
    finally:
        if own_client:
            client.close()
    mapped = map_results(results)
    rows = mapped.rows
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        _attach_captured_prices(session, rows)
        for row in rows:
            row["created_at"] = row["updated_at"] = now
        columns = [c for c in (rows[0] if rows else {}) if c not in HISTORICAL_KEY + ("created_at",)]
        upsert(session, OddsHistorical.__table__, rows, HISTORICAL_KEY, columns)
        races = len({r["race_id"] for r in rows})
        status = "complete" if races else "empty"
        legacy = {}
        if races:
            legacy["legacy_rows"] = _replace_legacy_rows(session, day)
        elif current and current.legacy_rows:
            status = "legacy"  # the API has nothing for it: the old rows stay the only copy
        _ledger_update(session, day, status=status, races=races, runners=len(rows),
                       finished_at=now, last_error=None, **({"legacy_rows": 0} if legacy else {}))
        duration = round(time.monotonic() - started, 3)
        session.add(RunRecord(kind="historical", started_at=started_at, duration_seconds=duration,
                                  races=races, runners=len(rows), prices=sum(r["industry_sp"] is not None for r in rows),
                                  errors=mapped.skipped_races + mapped.skipped_runners,
                                  detail={"date": day.isoformat(), "status": status}))
    return {"date": day.isoformat(), "status": status, "races": races, "runners": len(rows),
            "skipped_races": mapped.skipped_races, "skipped_runners": mapped.skipped_runners,
            "duration_seconds": duration}


def _replace_legacy_rows(session, day: date) -> int:
    """Drop the old service's rows of a date just re-collected (ours, keyed by ids, replace
    them): the date then holds exactly one row per runner. Returns how many went."""
    table = OddsHistorical.__table__
    return session.execute(delete(table).where(table.c.race_id.is_(None),
                                               table.c.date_of_race == day_start(day))).rowcount


# -- entry points for tasks and the CLI: each opens its own session ---------------------------

def release_legacy_dates(first: date, last: date) -> int:
    """`--refresh`: dates the old service's rows cover become collectable again."""
    with session_scope() as session:
        return ledger.release_legacy(session, first, last)


def settled_dates(first: date, last: date) -> dict[date, str]:
    with session_scope() as session:
        return ledger.settled_dates(session, first, last)


def daily_dates(today: date, catchup_days: int) -> list[date]:
    """Yesterday and every earlier day within the catch-up window not yet settled."""
    with session_scope() as session:
        return backfill.daily_dates(session, today, catchup_days)


def plan_backfill(first: date, last: date, newest_first: bool = True) -> list[date]:
    with session_scope() as session:
        return backfill.plan(session, first, last, newest_first)


def backfill_progress(first: date, last: date) -> dict:
    with session_scope() as session:
        return backfill.progress(session, first, last)


def open_backfill(task_id: str, first: date, last: date, newest_first: bool) -> None:
    with session_scope() as session:
        backfill.open_request(session, task_id, first, last, newest_first, datetime.now(timezone.utc))


def report_backfill(task_id: str, progress: dict) -> None:
    with session_scope() as session:
        backfill.report(session, task_id, progress, datetime.now(timezone.utc))


def stalled_backfills(now: datetime, stall_seconds: float, report_every: float) -> list:
    with session_scope() as session:
        return backfill.stalled(session, now, stall_seconds, report_every)


def note_resume(task_id: str) -> None:
    with session_scope() as session:
        backfill.note_resume(session, task_id, datetime.now(timezone.utc))
