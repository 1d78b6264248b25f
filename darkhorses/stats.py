"""Statistics over the collected data, computed in SQL and written as JSON files.

Every figure is an aggregate the database computes (PostgreSQL in production, SQLite in
the embedded mode); Python only shapes the answers. Files are written atomically so the
read API never sees half a file.
"""
from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path

from sqlalchemy import String, case, cast, func, literal, select, text, union_all

from .db import session_scope
from .files import write_text_atomic
from .legacy_stats import write_contract_files
from .models import (LEDGER_DONE, CollectionLedger, LiveFetch, LiveRace, OddsHistorical, OddsHistory, OddsLive,
                     RunRecord, Withdrawal)
from .prices import UK, day_start, uk_date
from .report import write_report
from .settings import get_settings

SCHEMA_VERSION = 1
LIVE_NULL_COLUMNS = ("odds_decimal", "odds_fractional", "off_dt", "course", "horse_name",
                     "jockey", "trainer", "odds_timestamp")
HISTORICAL_NULL_COLUMNS = ("match_timestamp", "track", "horse_name", "finishing_position", "industry_sp",
                           "betfair_sp", "official_rating", "jockey", "trainer",
                           "pre_race_min", "pre_race_max")


def _iso(value):
    if isinstance(value, clock):
        return value.strftime("%H:%M")
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _year(session, column):
    if session.get_bind().dialect.name == "sqlite":
        return func.cast(func.strftime("%Y", column), OddsLive.runners.type)
    return func.cast(func.extract("year", column), OddsLive.runners.type)


def _null_counts(table, columns):
    return [func.sum(case((table.c[c].is_(None), 1), else_=0)).label(f"null_{c}") for c in columns]


# count(DISTINCT …) makes PostgreSQL sort every row; grouping first lets it hash instead,
# which is what keeps the statistics over millions of rows within seconds.

def _count_distinct(session, column) -> int:
    """count(DISTINCT column): NULL is not a value."""
    values = select(column).where(column.is_not(None)).distinct().subquery()
    return session.execute(select(func.count()).select_from(values)).scalar()


def _per_race_breakdowns(session, table, columns: dict[str, str]) -> tuple[int, dict[str, list]]:
    """(distinct races, {label: [{label: value, rows, races}, …]}) for race-level columns,
    from one pass that first folds the rows into races (every breakdown then reads races)."""
    per_race = select(*(func.min(table.c[column]).label(column) for column in columns.values()),
                      func.count().label("rows")).group_by(table.c.race_id).cte("per_race")
    parts = [select(literal(label).label("dimension"), cast(per_race.c[column], String).label("value"),
                    func.sum(per_race.c.rows).label("rows"), func.count().label("races"))
             .group_by(per_race.c[column]) for label, column in columns.items()]
    parts.append(select(literal("*").label("dimension"), literal(None, String).label("value"),
                        func.sum(per_race.c.rows), func.count()))
    breakdowns: dict[str, list] = {label: [] for label in columns}
    races = 0
    for dimension, value, rows, count in session.execute(union_all(*parts)):
        if dimension == "*":
            races = count
        else:
            breakdowns[dimension].append({dimension: value, "rows": int(rows), "races": count})
    for entries in breakdowns.values():
        entries.sort(key=lambda entry: (entry[next(iter(entry))] is None, entry[next(iter(entry))] or ""))
    return races, breakdowns


def _by_bookmaker(session, t) -> list[dict]:
    per_race = select(t.c.bookmaker_id, func.count().label("prices"), func.max(t.c.updated_at).label("latest")) \
        .group_by(t.c.bookmaker_id, t.c.race_id).subquery()
    # The (bookmaker_id, horse_id) index lets PostgreSQL read this without scanning the heap.
    horses = dict(session.execute(select(t.c.bookmaker_id, func.count(t.c.horse_id.distinct()))
                                  .group_by(t.c.bookmaker_id)).all())
    return [{"bookmaker_id": bookmaker, "prices": int(prices), "races": races, "horses": horses.get(bookmaker, 0),
             "latest": _iso(latest)}
            for bookmaker, prices, races, latest in session.execute(
                select(per_race.c.bookmaker_id, func.sum(per_race.c.prices), func.count(), func.max(per_race.c.latest))
                .group_by(per_race.c.bookmaker_id).order_by(per_race.c.bookmaker_id))]


def live_statistics(session, now: datetime) -> dict:
    t = OddsLive.__table__
    row = session.execute(select(
        func.count().label("total"), func.min(t.c.race_date).label("first_date"),
        func.max(t.c.race_date).label("last_date"), func.max(t.c.odds_timestamp).label("latest_odds"),
        func.max(t.c.fetched_at).label("latest_fetch"),
        func.sum(case((t.c.updated_at >= now - timedelta(hours=1), 1), else_=0)).label("changed_last_hour"),
        func.sum(case((t.c.updated_at >= now - timedelta(hours=24), 1), else_=0)).label("changed_last_24h"),
        *_null_counts(t, LIVE_NULL_COLUMNS))).mappings().one()
    latest_check = session.execute(select(func.max(LiveRace.fetched_at))).scalar()
    races, breakdowns = _per_race_breakdowns(session, t, {"date": "race_date", "course": "course"})
    by_bookmaker = _by_bookmaker(session, t)
    return {
        "total_rows": row["total"],
        "date_range": {"first": _iso(row["first_date"]), "last": _iso(row["last_date"])},
        "latest_odds_timestamp": _iso(row["latest_odds"]),
        "latest_fetched_at": _iso(row["latest_fetch"]),
        "latest_race_check": _iso(latest_check),
        "recent_activity": {"changed_last_hour": row["changed_last_hour"] or 0,
                            "changed_last_24h": row["changed_last_24h"] or 0},
        "distinct": {"races": races, "horses": _count_distinct(session, t.c.horse_id),
                     "courses": sum(1 for c in breakdowns["course"] if c["course"] is not None),
                     "bookmakers": len(by_bookmaker)},
        "null_counts": {c: row[f"null_{c}"] or 0 for c in LIVE_NULL_COLUMNS},
        "by_bookmaker": by_bookmaker,
        "by_date": breakdowns["date"][::-1],
        "by_course": breakdowns["course"],
        "market_status": dict(session.execute(
            select(t.c.market_status, func.count()).group_by(t.c.market_status)).all()),
    }


def historical_statistics(session, now: datetime) -> dict:
    t = OddsHistorical.__table__
    row = session.execute(select(
        func.count().label("total"), func.min(t.c.date_of_race).label("first_date"),
        func.max(t.c.date_of_race).label("last_date"), func.max(t.c.updated_at).label("latest_update"),
        func.sum(case((t.c.updated_at >= now - timedelta(hours=24), 1), else_=0)).label("updated_last_24h"),
        func.count(t.c.industry_sp).label("with_sp"), func.count(t.c.betfair_sp).label("with_bsp"),
        func.count(t.c.pre_race_min).label("with_pre_race_min"),
        func.count(t.c.pre_race_max).label("with_pre_race_max"),
        *_null_counts(t, HISTORICAL_NULL_COLUMNS))).mappings().one()
    total = row["total"]
    races, breakdowns = _per_race_breakdowns(session, t, {"date": "date_of_race", "country": "country",
                                                          "track": "track"})
    for entry in breakdowns["date"]:  # midnight UTC of the UK date, as text: the date part
        entry["date"] = entry["date"][:10] if entry["date"] else None
    coverage = {k: {"rows": row[k], "percent": round(100.0 * row[k] / total, 2) if total else 0.0}
                for k in ("with_sp", "with_bsp", "with_pre_race_min", "with_pre_race_max")}
    return {
        "total_rows": total,
        "date_range": {"first": _iso(row["first_date"] and row["first_date"].date()),
                       "last": _iso(row["last_date"] and row["last_date"].date())},
        "latest_update": _iso(row["latest_update"]),
        "recent_activity": {"updated_last_24h": row["updated_last_24h"] or 0},
        "distinct": {"races": races, "horses": _count_distinct(session, t.c.horse_id),
                     "tracks": sum(1 for e in breakdowns["track"] if e["track"] is not None),
                     "jockeys": _count_distinct(session, t.c.jockey_id),
                     "trainers": _count_distinct(session, t.c.trainer_id),
                     "countries": sum(1 for e in breakdowns["country"] if e["country"] is not None)},
        "null_counts": {c: row[f"null_{c}"] or 0 for c in HISTORICAL_NULL_COLUMNS},
        "price_coverage": coverage,
        "by_date": breakdowns["date"][::-1],
        "by_country": breakdowns["country"],
        "by_track": breakdowns["track"],
    }


def _live_cycles(session, since: datetime):
    """(started at, detail) of every recorded live cycle since `since`, oldest first."""
    return session.execute(select(LiveFetch.fetch_timestamp, LiveFetch.detail)
                           .where(LiveFetch.fetch_timestamp >= since).order_by(LiveFetch.fetch_timestamp))


def loop_runs(session, since: datetime, now: datetime, grace: float) -> list[dict]:
    """The stretches in which the live loop ran without a break, from its recorded cycles.

    A cycle promises the next one within its countdown; a successor that came later than
    that plus the lease grace means the loop was down in between. Each stretch ends at its
    last recorded cycle, or at `now` when the loop is still within its promise."""
    runs: list[dict] = []
    due = None
    for started_at, detail in _live_cycles(session, since):
        if due is None or started_at > due:
            runs.append({"start": started_at, "end": started_at, "cycles": 0})
        runs[-1]["end"] = started_at
        runs[-1]["cycles"] += 1
        due = started_at + timedelta(seconds=float((detail or {}).get("next_poll_seconds") or 0) + grace)
    if runs and due is not None and now <= due:
        runs[-1]["end"], runs[-1]["running"] = now, True
        runs[-1]["next_cycle_due"] = due - timedelta(seconds=grace)
    return runs


def _loop_state(runs: list[dict]) -> dict:
    if not runs:
        return {"state": "never ran", "since": None, "last_cycle_at": None, "stretches": 0}
    last = runs[-1]
    return {"state": "running" if last.get("running") else "stopped",
            "since": _iso(last["start"] if last.get("running") else last["end"]),
            "next_cycle_due": _iso(last.get("next_cycle_due")),
            "cycles": last["cycles"], "stretches": len(runs)}


def _outcome(race: dict, runs: list[dict], now: datetime) -> str:
    """watched | missed | stopped | results_only | upcoming | abandoned, for one race.

    Missed means the loop was running when the race went off and never captured it; a race
    that went off while no loop ran is known only from its result, not a failure to flag.
    A captured race the loop marked CLOSED was seen before and after its off: watched (its
    gap to the off says how closely)."""
    off, status = race["off_dt"], race["market_status"]
    if status == "ABANDONED":
        return "abandoned"
    if off is not None and off > now:
        return "upcoming"
    running = off is not None and any(run["start"] <= off <= run["end"] for run in runs)
    if race["captures"] > 0:
        return "watched" if status == "CLOSED" or running else "stopped"
    return "missed" if running else "results_only"


def non_runners(session, day: date) -> set[tuple[str, str]]:
    """(race_id, horse_id) withdrawn from a race of `day` and not back: the one place that
    knows where non-runners are recorded (ra_withdrawals, and live rows marked NON_RUNNER)."""
    live = OddsLive.__table__
    marked = set(session.execute(select(live.c.race_id, live.c.horse_id).distinct().where(
        live.c.race_date == day, live.c.market_status == "NON_RUNNER")).all())
    return marked | set(session.execute(select(Withdrawal.race_id, Withdrawal.horse_id).where(
        Withdrawal.race_date == day, Withdrawal.reopened_at.is_(None))).all())


def overround(session, day: date, withdrawn: set[tuple[str, str]]) -> list[dict]:
    """Per race and book, the book percentage — only where the book priced every runner
    still running; a book short of runners is partial and says how many it priced."""
    live = OddsLive.__table__
    books: dict[tuple[str, str], dict] = {}
    running: dict[str, set] = {}
    for race_id, horse_id, bookmaker_id, price in session.execute(
            select(live.c.race_id, live.c.horse_id, live.c.bookmaker_id, live.c.odds_decimal)
            .where(live.c.race_date == day, live.c.odds_decimal > 1)):
        if (race_id, horse_id) in withdrawn:
            continue
        running.setdefault(race_id, set()).add(horse_id)
        book = books.setdefault((race_id, bookmaker_id), {"horses": set(), "book": 0.0})
        book["horses"].add(horse_id)
        book["book"] += 1.0 / price
    result = []
    for (race_id, bookmaker_id), book in sorted(books.items()):
        field, priced = len(running[race_id]), len(book["horses"])
        complete = priced == field
        result.append({"race_id": race_id, "bookmaker_id": bookmaker_id, "runners_running": field,
                       "runners_priced": priced, "complete": complete,
                       "book_percent": round(book["book"] * 100, 2) if complete else None})
    return result


def _percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that was actually seen."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _backfill_coverage(session) -> dict:
    ledger = CollectionLedger.__table__
    counts = dict(session.execute(select(ledger.c.status, func.count()).group_by(ledger.c.status)).all())
    first, last = session.execute(select(func.min(ledger.c.race_date), func.max(ledger.c.race_date))).one()
    days = sum(counts.values())
    settled = sum(counts.get(status, 0) for status in LEDGER_DONE)
    return {"days": days, "settled": settled, "failed": counts.get("failed", 0),
            "unavailable": counts.get("unavailable", 0), "first": _iso(first), "last": _iso(last),
            "percent": round(100.0 * settled / days, 1) if days else None}


def _known_races(session, since: date) -> list[dict]:
    """Every race of the window we know of: those the loop polled, then those known only
    from their results."""
    races = []
    for r in session.execute(select(LiveRace).where(LiveRace.race_date >= since)
                             .order_by(LiveRace.off_dt)).scalars():
        gap = (r.off_dt - r.fetched_at).total_seconds() if r.off_dt and r.fetched_at else None
        races.append({"race_id": r.race_id, "race_date": _iso(r.race_date), "off_dt": r.off_dt,
                      "course": r.course, "race_name": r.race_name, "market_status": r.market_status,
                      "captures": r.captures, "last_capture": _iso(r.fetched_at),
                      "gap_to_off_seconds": round(gap, 1) if gap is not None else None})
    races.extend(_results_only_races(session, since))
    return races


def _results_only_races(session, since: date) -> list[dict]:
    """Races of the window known from their results and never polled live."""
    h = OddsHistorical.__table__
    # date_of_race is midnight UTC of the UK date (the replaced service's convention).
    return [{"race_id": r.race_id, "race_date": _iso(r.date_of_race.date()), "off_dt": r.off_dt,
             "course": r.track, "race_name": r.race_name, "market_status": None, "captures": 0,
             "last_capture": None, "gap_to_off_seconds": None}
            for r in session.execute(
                select(h.c.race_id, h.c.date_of_race, func.min(h.c.match_timestamp).label("off_dt"),
                       func.min(h.c.track).label("track"), func.min(h.c.race_name).label("race_name"))
                .where(h.c.date_of_race >= day_start(since), h.c.race_id.is_not(None),
                       h.c.race_id.not_in(select(LiveRace.race_id)))
                .group_by(h.c.race_id, h.c.date_of_race)
                .order_by(h.c.date_of_race, func.min(h.c.match_timestamp)))]


def _uk_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UK).astimezone(timezone.utc)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UK).astimezone(timezone.utc)


def collection_health(session, now: datetime) -> dict:
    """Did we watch every race up to its off — counting as missed only a race that went off
    while the live loop was running?"""
    today = uk_date(now)
    since = today - timedelta(days=7)
    runs = loop_runs(session, _uk_day_bounds(since)[0] - timedelta(days=1), now, get_settings().live_lease_grace)
    races = _known_races(session, since)
    for race in races:
        race["outcome"] = _outcome(race, runs, now)
        race["off_dt"] = _iso(race["off_dt"])
    todays = [r for r in races if r["race_date"] == today.isoformat()]
    outcomes = {name: [r for r in todays if r["outcome"] == name]
                for name in ("watched", "missed", "stopped", "results_only", "upcoming")}
    day_start, day_end = _uk_day_bounds(today)
    prices = session.execute(select(func.count()).select_from(OddsHistory).where(
        OddsHistory.observed_at >= day_start, OddsHistory.observed_at < day_end)).scalar()
    withdrawn = non_runners(session, today)
    ledger = CollectionLedger.__table__
    year = _year(session, ledger.c.race_date)
    coverage: dict[str, dict] = {}
    for y, status, count in session.execute(
            select(year, ledger.c.status, func.count()).group_by(year, ledger.c.status).order_by(year)):
        coverage.setdefault(str(y), {})[status] = count
    watched_gaps = [r["gap_to_off_seconds"] for r in outcomes["watched"] if r["gap_to_off_seconds"] is not None]
    week = {name: [r for r in races if r["outcome"] == name]
            for name in ("watched", "missed", "results_only", "stopped")}
    week_gaps = [r["gap_to_off_seconds"] for r in week["watched"] if r["gap_to_off_seconds"] is not None]
    return {
        "window_start": since.isoformat(),
        "at_a_glance": {
            "date": today.isoformat(),
            "races_watched_to_off": len(outcomes["watched"]),
            "races_missed": len(outcomes["missed"]),
            "races_upcoming": len(outcomes["upcoming"]),
            "races_results_only": len(outcomes["results_only"]),
            "races_off_while_loop_stopped": len(outcomes["stopped"]),
            "gap_to_off_p95_seconds": _percentile(watched_gaps, 0.95),
            "prices_captured": prices,
            "non_runners": len(withdrawn),
            "loop": _loop_state(runs),
            "backfill": _backfill_coverage(session),
        },
        "races": [r for r in races if r["market_status"] is not None],
        "races_watched": sum(1 for r in races if r["market_status"] is not None),
        "closed_races_max_gap_seconds": max(week_gaps) if week_gaps else None,
        "missed": week["missed"],
        "results_only": {"races": len(week["results_only"]),
                         "by_date": dict(sorted(Counter(r["race_date"] for r in week["results_only"]).items()))},
        "off_while_loop_stopped": week["stopped"],
        "ledger_by_year": coverage,
        "overround_today": overround(session, today, withdrawn),
    }


def write_json_atomic(path: Path, payload) -> None:
    write_text_atomic(path, json.dumps(payload, default=_iso, indent=1))


def compute_statistics(now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    with session_scope() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The grouping below hashes up to a few hundred thousand keys: keep that in memory.
            session.execute(text("SET LOCAL work_mem = '64MB'"))
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": now.isoformat(),
            "ra_odds_live": live_statistics(session, now),
            "ra_odds_historical": historical_statistics(session, now),
            "collection_health": collection_health(session, now),
        }


def update_statistics(now: datetime | None = None, output_dir: str | None = None) -> dict:
    """Compute, write every file, record a summary row; returns the summary."""
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    stats = compute_statistics(now)
    directory = Path(output_dir or get_settings().stats_output_dir)
    header = {"schema_version": SCHEMA_VERSION, "generated_at": stats["generated_at"]}
    for name in ("ra_odds_live", "ra_odds_historical", "collection_health"):
        write_json_atomic(directory / f"{name}_latest.json", {**header, name: stats[name]})
    write_contract_files(directory, stats, now)  # live_, historical_ and all_stats_latest.json
    write_report(directory, stats, now)
    duration = round(time.monotonic() - started, 3)
    summary = {
        "generated_at": stats["generated_at"], "duration_seconds": duration, "output_dir": str(directory),
        "live_rows": stats["ra_odds_live"]["total_rows"],
        "historical_rows": stats["ra_odds_historical"]["total_rows"],
        "races_watched_7d": stats["collection_health"]["races_watched"],
        "missed_7d": len(stats["collection_health"]["missed"]),
    }
    with session_scope() as session:
        session.add(RunRecord(kind="stats", started_at=now, duration_seconds=duration,
                                  races=stats["ra_odds_live"]["distinct"]["races"],
                                  prices=summary["live_rows"], runners=summary["historical_rows"],
                                  detail=summary))
    return summary
