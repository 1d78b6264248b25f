"""Results of finished races into ra_odds_historical, one UK date at a time.

Plain functions; `darkhorses.tasks.historical` wraps them. A per-date ledger records what
was collected so the daily job catches up on missed days and a backfill resumes.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import case, delete, func, select, tuple_, update

from .db import session_scope, upsert
from .logsafe import Tally, safe
from .market import record_lines
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
    duplicate_races: int = 0    # a race repeated in the answer (paging while data shifts): last kept
    duplicate_runners: int = 0  # a runner listed twice in a race: last kept, not a dead heat
    # What the answer held but could not be read: its stored rows stay as they are.
    unreadable_races: set = field(default_factory=set)
    unreadable_runners: set = field(default_factory=set)


def map_results(results: list[dict]) -> MappedDay:
    """API results as ra_odds_historical rows; bad races and runners are skipped and counted,
    repeated races and runners collapsed (the last one kept) and counted."""
    day = MappedDay(rows=[])
    races: dict[str, list[dict]] = {}
    bad_races, bad_runners = Tally(), Tally()
    for result in results:
        try:
            race_id, rows = _map_race(result, day, bad_runners)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            day.skipped_races += 1
            race_id = text(result.get("race_id"), 32) if isinstance(result, dict) else None
            if race_id:
                day.unreadable_races.add(race_id)
            bad_races.add(f"result {race_id}: {exc}")
            continue
        if race_id in races:
            day.duplicate_races += 1
        races[race_id] = rows
    bad_races.warn(log, "results")
    bad_runners.warn(log, "result runners")
    if day.duplicate_races or day.duplicate_runners:
        log.warning("results repeated %d races and %d runners; the last of each kept",
                    day.duplicate_races, day.duplicate_runners)
    day.races = len(races)
    day.rows = [row for rows in races.values() for row in rows]
    return day


def _race_fields(result: dict) -> dict:
    race_id = text(result["race_id"], 32)
    if not race_id:
        raise ValueError("no race_id")
    off_dt = parse_timestamp(result.get("off_dt"))
    race_date = uk_date(off_dt) if off_dt else date.fromisoformat(str(result["date"])[:10])
    region = text(result.get("region"), 8)
    race_name = text(result.get("race_name"), 255)
    race_class = re.search(r"\d+", str(result.get("class") or ""))
    return {
        "race_id": race_id, "date_of_race": day_start(race_date),
        "country": region.upper() if region else None,
        "track": text(result.get("course"), 64), "course_id": text(result.get("course_id"), 32),
        "race_time": uk_time(off_dt) if off_dt else None, "match_timestamp": off_dt,
        "race_name": race_name, "going": text(result.get("going"), 64),
        "race_type": text(result.get("type"), 32), "distance": text(result.get("dist"), 32),
        "distance_f": to_float(str(result.get("dist_f") or "").rstrip("f")),
        "race_class": int(race_class.group()) if race_class else None,
        "is_handicap": "handicap" in (race_name or "").lower(),
    }


def _runner_fields(runner: dict) -> dict:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    sp, sp_fractional = parse_sp(runner.get("sp"), runner.get("sp_dec"))
    bsp = to_float(runner.get("bsp"))
    return {"horse_id": horse_id, "horse_name": text(runner.get("horse"), 128),
            "official_rating": to_int(runner.get("or")), "age": to_int(runner.get("age")),
            "weight": text(runner.get("weight"), 16), "weight_lbs": to_int(runner.get("weight_lbs")),
            "jockey": text(runner.get("jockey"), 128), "jockey_id": text(runner.get("jockey_id"), 32),
            "trainer": text(runner.get("trainer"), 128), "trainer_id": text(runner.get("trainer_id"), 32),
            "headgear": text(runner.get("headgear"), 16), "stall_number": to_int(runner.get("draw")),
            "finishing_position": text(runner.get("position"), 16), "winning_distance": text(runner.get("btn"), 16),
            "industry_sp": sp, "sp_fractional": sp_fractional, "betfair_sp": bsp if bsp else None}


def _map_race(result: dict, day: MappedDay, bad_runners: Tally) -> tuple[str, list[dict]]:
    """(race_id, rows) of one result; a malformed runner is skipped and counted, never the race."""
    race = _race_fields(result)
    race_id = race["race_id"]
    runners: dict[str, dict] = {}
    for runner in result["runners"]:
        try:
            fields = _runner_fields(runner)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            day.skipped_runners += 1
            horse_id = text(runner.get("horse_id"), 32) if isinstance(runner, dict) else None
            if horse_id:
                day.unreadable_runners.add((race_id, horse_id))
            bad_runners.add(f"race {race_id} runner {horse_id}: {exc}")
            continue
        if fields["horse_id"] in runners:
            day.duplicate_runners += 1
        runners[fields["horse_id"]] = fields
    race["runners_count"] = field_size = len(runners)
    ties = Counter(r["finishing_position"] or "" for r in runners.values())
    ranks = favourite_ranks({h: r["industry_sp"] for h, r in runners.items()})
    rows = []
    for horse_id, runner in runners.items():
        position = runner["finishing_position"]
        win, place, each_way = compute_returns(position, runner["industry_sp"], ties[position or ""],
                                               field_size, race["is_handicap"])
        rows.append({**race, **runner, "sp_win_return": win, "place_return": place, "ew_return": each_way,
                     "data_source": DATA_SOURCE, "file_source": FILE_SOURCE,
                     "sp_favorite_position": ranks.get(horse_id)})
    return race_id, rows


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

    Raises DateRefused for a date not over yet (nothing recorded), RequestRefused-derived
    DateUnavailable after recording `unavailable`; any other error is recorded as `failed`
    (never left `running`) and propagates for the task's retry policy.
    """
    check_date(day)
    settings = get_settings()
    started = time.monotonic()
    started_at = datetime.now(timezone.utc)
    with session_scope() as session:
        current = session.get(CollectionLedger, day)
        had_legacy_rows = bool(current and current.legacy_rows)
        _ledger_update(session, day, status="running", attempts=(current.attempts if current else 0) + 1,
                       started_at=started_at, last_error=None)
    try:
        mapped = map_results(_fetch_results(day, client, settings, had_legacy_rows))
        return _store_day(day, mapped, started, started_at, had_legacy_rows)
    except DateUnavailable:
        raise
    except BaseException as exc:
        try:
            mark_ledger(day, status="failed", last_error=f"{type(exc).__name__}: {exc}"[:2000],
                        finished_at=datetime.now(timezone.utc))
        except Exception:  # the database may be what failed; the error itself still propagates
            log.exception("could not record the failure of %s in the ledger", day)
        raise


def _fetch_results(day: date, client: RacingAPIClient | None, settings, had_legacy_rows: bool) -> list[dict]:
    own_client = client is None
    client = client or RacingAPIClient(settings)
    try:
        return client.results(day, settings.regions)
    except RequestRefused as exc:
        # A date the old service's rows cover stays theirs when the API no longer serves it.
        mark_ledger(day, status="legacy" if had_legacy_rows else "unavailable",
                    last_error=exc.detail or str(exc), finished_at=datetime.now(timezone.utc))
        raise DateUnavailable(str(exc)) from exc
    finally:
        if own_client:
            client.close()


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
        columns = [c for c in (rows[0] if rows else {}) if c not in HISTORICAL_KEY + ("created_at",)]
        upsert(session, table, rows, HISTORICAL_KEY, columns)
        record_lines(session, [{"race_id": r["race_id"], "horse_id": r["horse_id"], "race_date": r["date_of_race"].date(),
                                "off_dt": r["match_timestamp"], "industry_sp": r["industry_sp"],
                                "betfair_sp": r["betfair_sp"]} for r in rows], now)
        removed = _drop_amended(session, day, rows, mapped)
        races, runners = session.execute(
            select(func.count(func.distinct(table.c.race_id)), func.count())
            .where(_ours_of(table, day))).one()
        status = "complete" if races else "empty"
        legacy = {}
        if races:
            legacy["legacy_rows"] = _replace_legacy_rows(session, day)
        elif had_legacy_rows:
            status = "legacy"  # the API has nothing for it: the old rows stay the only copy
        _ledger_update(session, day, status=status, races=races, runners=runners,
                       finished_at=now, last_error=None, **({"legacy_rows": 0} if legacy else {}))
        duration = round(time.monotonic() - started, 3)
        session.add(RunRecord(kind="historical", started_at=started_at, duration_seconds=duration,
                              races=races, runners=runners, prices=sum(r["industry_sp"] is not None for r in rows),
                              errors=mapped.skipped_races + mapped.skipped_runners,
                              detail={"date": day.isoformat(), "status": status, "removed": removed,
                                          "duplicates": mapped.duplicate_races + mapped.duplicate_runners}))
    return {"date": day.isoformat(), "status": status, "races": races, "runners": runners,
            "skipped_races": mapped.skipped_races, "skipped_runners": mapped.skipped_runners,
            "duplicate_races": mapped.duplicate_races, "duplicate_runners": mapped.duplicate_runners,
            "removed": removed, "duration_seconds": duration}


def _ours_of(table, day: date):
    """Our rows of a UK date; the replaced service's rows (no race or horse ids) are not ours
    to count or remove."""
    return (table.c.date_of_race == day_start(day)) & table.c.race_id.isnot(None)


def _drop_amended(session, day: date, rows: list[dict], mapped: MappedDay) -> int:
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
    first, yesterday = max(EARLIEST_DATE, today - timedelta(days=catchup_days)), today - timedelta(days=1)
    settled = settled_dates(first, yesterday)
    return [d for d in dates_between(first, yesterday, newest_first=False) if d not in settled]


def plan_backfill(first: date, last: date, newest_first: bool = True) -> list[date]:
    check_range(first, last)
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
