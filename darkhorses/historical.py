"""Results of finished races into ra_odds_historical, one UK date at a time.

Plain functions; `darkhorses.tasks.historical` wraps them. A per-date ledger records what
was collected so the daily job catches up on missed days and a backfill resumes.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import case, delete, func, select, update

from .db import session_scope, upsert
from .models import LEDGER_DONE, BackfillRequest, CollectionLedger, OddsHistorical, OddsHistory, OddsLive, RunRecord
from .prices import day_start, parse_sp, parse_timestamp, text, to_float, to_int, uk_date, uk_time
from .racing_api import RacingAPIClient, RequestRefused
from .settings import get_settings

log = logging.getLogger(__name__)

HISTORICAL_KEY = ("race_id", "horse_id")
# Finished with this date: nothing more to fetch (unavailable = outside the plan; legacy =
# the replaced service's rows cover it, re-collected only when asked to refresh).
SETTLED = LEDGER_DONE + ("unavailable", "legacy")
# Who wrote a row (the replaced service left its own values here) and where it came from.
DATA_SOURCE, FILE_SOURCE = "darkhorses-workers", "Racing API"
_POSITION = re.compile(r"^\s*(\d+)\s*$")


# -- each-way terms and returns -------------------------------------------------------------

def place_terms(field_size: int, handicap: bool) -> tuple[int, float] | None:
    """(places paid, fraction of the win odds) under the standard UK/IRE each-way terms,
    or None when a race of that size pays win only."""
    if field_size < 5:
        return None
    if field_size < 8:
        return 2, 1 / 4
    if handicap and field_size >= 16:
        return 4, 1 / 4
    if handicap and field_size >= 12:
        return 3, 1 / 4
    return 3, 1 / 5


def _dead_heat_share(position: int, tied: int, places: int) -> float:
    """Fraction of the stake that wins when `tied` runners share `position` and `places`
    positions pay: the paying places left from `position`, split between the tied runners."""
    paying = max(0, min(tied, places - position + 1))
    return paying / tied


def compute_returns(position: str | None, sp: float | None, tied: int, field_size: int,
                    handicap: bool) -> tuple[float | None, float | None, float | None]:
    """(win, place, each-way) returns, stake included, to 1 unit at SP.

    Each-way is 1 unit win plus 1 unit place (2 staked). Without place terms (under five
    runners) there is no place return and each-way is 2 units on the win.
    """
    if sp is None:
        return None, None, None
    match = _POSITION.match(position or "")
    finish = int(match.group(1)) if match and int(match.group(1)) > 0 else None
    win = sp * _dead_heat_share(finish, tied, 1) if finish else 0.0
    terms = place_terms(field_size, handicap)
    if terms is None:
        return round(win, 4), None, round(2 * win, 4)
    places, fraction = terms
    place_odds = 1 + (sp - 1) * fraction
    place = place_odds * _dead_heat_share(finish, tied, places) if finish else 0.0
    return round(win, 4), round(place, 4), round(win + place, 4)


def favourite_ranks(sps: dict[str, float | None]) -> dict[str, int]:
    """SP favourite rank per horse; joint favourites share a rank (dense ranking)."""
    distinct = sorted({sp for sp in sps.values() if sp is not None})
    rank = {sp: index + 1 for index, sp in enumerate(distinct)}
    return {horse: rank[sp] for horse, sp in sps.items() if sp is not None}


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


def _ledger_update(session, day: date, **values) -> None:
    values["updated_at"] = datetime.now(timezone.utc)
    upsert(session, CollectionLedger.__table__, [{"race_date": day, **values}], ("race_date",), values.keys())


def mark_ledger(day: date, **values) -> None:
    with session_scope() as session:
        _ledger_update(session, day, **values)


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


def release_legacy_dates(first: date, last: date) -> int:
    """`--refresh`: dates the old service's rows cover become collectable again."""
    with session_scope() as session:
        return session.execute(update(CollectionLedger).where(
            CollectionLedger.race_date.between(first, last), CollectionLedger.status == "legacy")
            .values(status="pending")).rowcount


def settled_dates(first: date, last: date) -> dict[date, str]:
    with session_scope() as session:
        return dict(session.execute(select(CollectionLedger.race_date, CollectionLedger.status).where(
            CollectionLedger.race_date.between(first, last),
            CollectionLedger.status.in_(SETTLED))).all())


def dates_between(first: date, last: date, newest_first: bool = True) -> list[date]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days[::-1] if newest_first else days


def daily_dates(today: date, catchup_days: int) -> list[date]:
    """Yesterday and every earlier day within the catch-up window not yet settled."""
    first, yesterday = today - timedelta(days=catchup_days), today - timedelta(days=1)
    settled = settled_dates(first, yesterday)
    return [d for d in dates_between(first, yesterday, newest_first=False) if d not in settled]


def plan_backfill(first: date, last: date, newest_first: bool = True) -> list[date]:
    settled = settled_dates(first, last)
    return [d for d in dates_between(first, last, newest_first) if d not in settled]


def backfill_progress(first: date, last: date) -> dict:
    """Counts by ledger status over a date range: done/total and what is left."""
    with session_scope() as session:
        counts = dict(session.execute(
            select(CollectionLedger.status, func.count()).where(
                CollectionLedger.race_date.between(first, last)).group_by(CollectionLedger.status)).all())
    total = (last - first).days + 1
    done = sum(counts.get(s, 0) for s in SETTLED + ("failed",))
    return {"start": first.isoformat(), "end": last.isoformat(), "total": total, "done": done,
            "remaining": total - done, "by_status": counts}


# -- backfill requests: durable, so a lost broker or a killed worker never strands one ---------

def open_backfill(task_id: str, first: date, last: date, newest_first: bool) -> None:
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        upsert(session, BackfillRequest.__table__, [{
            "task_id": task_id, "start_date": first, "end_date": last, "newest_first": newest_first,
            "status": "running", "done": 0, "total": (last - first).days + 1, "resumes": 0,
            "created_at": now, "reported_at": now, "progressed_at": now}], ("task_id",))


def report_backfill(task_id: str, progress: dict) -> None:
    """Record a progress tick of the backfill's reporting chain."""
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        request = session.get(BackfillRequest, task_id)
        if request is None:
            return
        if progress["done"] > request.done:
            request.progressed_at = now
        request.done, request.total, request.reported_at = progress["done"], progress["total"], now
        request.status = "complete" if progress["remaining"] == 0 else "running"


def stalled_backfills(now: datetime, stall_seconds: float, report_every: float) -> list[tuple[BackfillRequest, bool, bool]]:
    """(request, chain_lost, work_stalled) for every running backfill that needs a nudge:
    its reporting chain stopped ticking, or no date settled for `stall_seconds`."""
    with session_scope() as session:
        requests = session.execute(select(BackfillRequest).where(BackfillRequest.status == "running")).scalars().all()
    nudges = []
    for request in requests:
        chain_lost = (now - request.reported_at).total_seconds() > max(60.0, 10 * report_every)
        work_stalled = (now - request.progressed_at).total_seconds() > stall_seconds
        if chain_lost or work_stalled:
            nudges.append((request, chain_lost, work_stalled))
    return nudges


def note_resume(task_id: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        request = session.get(BackfillRequest, task_id)
        request.resumes += 1
        request.progressed_at = request.reported_at = now
