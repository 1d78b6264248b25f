"""Statistics over the collected data, computed in SQL and written as JSON files.

Every figure is an aggregate the database computes (PostgreSQL in production, SQLite in
the embedded mode); Python only shapes the answers. Table-wide figures are sums over the
per-day rollups (darkhorses.rollups), so their cost does not grow with history. Files are
written atomically so the read API never sees half a file.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, text

from . import rollups
from .db import session_scope
from .files import write_text_atomic
from .legacy_stats import write_contract_files
from .models import CollectionLedger, LiveRace, OddsHistorical, OddsLive, RunRecord
from .prices import day_start, uk_date
from .rollups import HISTORICAL_NULL_COLUMNS, LIVE_NULL_COLUMNS
from .report import write_report
from .settings import get_settings

SCHEMA_VERSION = 1


def _iso(value):
    if isinstance(value, clock):
        return value.strftime("%H:%M")
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _year(session, column):
    if session.get_bind().dialect.name == "sqlite":
        return func.cast(func.strftime("%Y", column), OddsLive.runners.type)
    return func.cast(func.extract("year", column), OddsLive.runners.type)


def _sum(days_figures, key: str) -> Counter:
    total: Counter = Counter()
    for _, figures in days_figures:
        total.update(figures[key])
    return total


def _latest(days_figures, key: str):
    return max((figures[key] for _, figures in days_figures if figures.get(key)), default=None)


def _date_range(days_figures) -> dict:
    return {"first": _iso(days_figures[0][0]) if days_figures else None,
            "last": _iso(days_figures[-1][0]) if days_figures else None}


def _by_date(days_figures, breakdown: str) -> list[dict]:
    return [{"date": _iso(day), "rows": figures["rows"], "races": sum(e[2] for e in figures[breakdown])}
            for day, figures in reversed(days_figures)]


def _by_bookmaker(days_figures, seen: dict) -> list[dict]:
    totals: dict = {}
    for _, figures in days_figures:
        for bookmaker, (prices, races, latest, odds, *_) in figures["bookmakers"].items():
            entry = totals.setdefault(bookmaker, [0, 0, None, None])
            entry[0] += prices
            entry[1] += races
            entry[2] = max(filter(None, (entry[2], latest)), default=None)
            entry[3] = max(filter(None, (entry[3], odds)), default=None)
    return [{"bookmaker_id": bookmaker, "prices": prices, "races": races,
             "horses": seen.get(f"horse@{bookmaker}", 0), "latest": latest, "latest_odds": odds}
            for bookmaker, (prices, races, latest, odds) in sorted(totals.items())]


def live_statistics(session, now: datetime) -> dict:
    rollups.refresh(session, "live", now)
    days, seen = rollups.days(session, "live"), rollups.seen_counts(session, "live")
    latest_check = session.execute(select(func.max(LiveRace.fetched_at))).scalar()
    changed_hour, changed_day = rollups.recent_live_changes(session, now)
    nulls = _sum(days, "nulls")
    by_course = rollups.merge_breakdown(days, "course")
    by_bookmaker = _by_bookmaker(days, seen)
    return {
        "total_rows": sum(f["rows"] for _, f in days),
        "date_range": _date_range(days),
        "latest_odds_timestamp": _latest(days, "latest_odds"),
        "latest_fetched_at": _latest(days, "latest_fetch"),
        "latest_race_check": _iso(latest_check),
        "recent_activity": {"changed_last_hour": changed_hour, "changed_last_24h": changed_day},
        "distinct": {"races": sum(e["races"] for e in by_course), "horses": seen.get("horse", 0),
                     "courses": sum(1 for c in by_course if c["course"] is not None),
                     "bookmakers": len(by_bookmaker)},
        "null_counts": {c: nulls.get(c, 0) for c in LIVE_NULL_COLUMNS},
        "by_bookmaker": by_bookmaker,
        "by_date": _by_date(days, "course"),
        "by_course": by_course,
        "market_status": dict(_sum(days, "status")),
    }


def historical_statistics(session, now: datetime) -> dict:
    t = OddsHistorical.__table__
    rollups.refresh(session, "historical", now)
    days, seen = rollups.days(session, "historical"), rollups.seen_counts(session, "historical")
    total = sum(f["rows"] for _, f in days)
    # The updated_at index answers this from the last day's rows alone.
    updated_last_24h = session.execute(select(func.count()).where(
        t.c.updated_at >= now - timedelta(hours=24))).scalar()
    covered = _sum(days, "coverage")
    nulls = _sum(days, "nulls")
    by_country, by_track = rollups.merge_breakdown(days, "country"), rollups.merge_breakdown(days, "track")
    coverage = {k: {"rows": covered.get(k, 0),
                    "percent": round(100.0 * covered.get(k, 0) / total, 2) if total else 0.0}
                for k in ("with_sp", "with_bsp", "with_pre_race_min", "with_pre_race_max")}
    return {
        "total_rows": total,
        "date_range": _date_range(days),
        "latest_update": _latest(days, "latest_update"),
        "recent_activity": {"updated_last_24h": updated_last_24h},
        "distinct": {"races": sum(e["races"] for e in by_country), "horses": seen.get("horse", 0),
                     "tracks": sum(1 for e in by_track if e["track"] is not None),
                     "jockeys": seen.get("jockey", 0), "trainers": seen.get("trainer", 0),
                     "countries": sum(1 for e in by_country if e["country"] is not None)},
        "null_counts": {c: nulls.get(c, 0) for c in HISTORICAL_NULL_COLUMNS},
        "price_coverage": coverage,
        "by_date": _by_date(days, "country"),
        "by_country": by_country,
        "by_track": by_track,
    }


def collection_health(session, now: datetime) -> dict:
    """What the old service never told: did we watch every race up to its off?"""
    since = uk_date(now) - timedelta(days=7)
    races = []
    for r in session.execute(select(LiveRace).where(LiveRace.race_date >= since)
                             .order_by(LiveRace.off_dt)).scalars():
        gap = (r.off_dt - r.fetched_at).total_seconds() if r.off_dt and r.fetched_at else None
        races.append({"race_id": r.race_id, "race_date": _iso(r.race_date), "off_dt": _iso(r.off_dt),
                      "course": r.course, "race_name": r.race_name, "market_status": r.market_status,
                      "captures": r.captures, "last_capture": _iso(r.fetched_at),
                      "gap_to_off_seconds": round(gap, 1) if gap is not None else None})
    h = OddsHistorical.__table__
    never_captured = [
        {"race_id": r.race_id, "race_date": _iso(r.date_of_race.date()), "track": r.track,
         "race_time": _iso(r.race_time)}
        for r in session.execute(
            select(h.c.race_id, h.c.date_of_race, h.c.track, h.c.race_time).distinct()
            .where(h.c.date_of_race >= day_start(since), h.c.race_id.not_in(select(LiveRace.race_id)))
            .order_by(h.c.date_of_race, h.c.race_time))]
    ledger = CollectionLedger.__table__
    year = _year(session, ledger.c.race_date)
    coverage: dict[str, dict] = {}
    for y, status, count in session.execute(
            select(year, ledger.c.status, func.count()).group_by(year, ledger.c.status).order_by(year)):
        coverage.setdefault(str(y), {})[status] = count
    live = OddsLive.__table__
    today = uk_date(now)
    overround = [
        {"race_id": r.race_id, "bookmaker_id": r.bookmaker_id, "runners_priced": r.priced,
         "book_percent": round(float(r.book) * 100, 2)}
        for r in session.execute(
            select(live.c.race_id, live.c.bookmaker_id, func.count().label("priced"),
                   func.sum(1.0 / live.c.odds_decimal).label("book"))
            .where(live.c.race_date == today, live.c.odds_decimal > 1, live.c.market_status != "NON_RUNNER")
            .group_by(live.c.race_id, live.c.bookmaker_id).order_by(live.c.race_id, live.c.bookmaker_id))]
    gaps = [r["gap_to_off_seconds"] for r in races if r["market_status"] == "CLOSED" and r["gap_to_off_seconds"] is not None]
    return {
        "window_start": since.isoformat(),
        "races": races,
        "races_watched": len(races),
        "closed_races_max_gap_seconds": max(gaps) if gaps else None,
        "never_captured": never_captured,
        "ledger_by_year": coverage,
        "overround_today": overround,
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
        "never_captured_7d": len(stats["collection_health"]["never_captured"]),
    }
    with session_scope() as session:
        session.add(RunRecord(kind="stats", started_at=now, duration_seconds=duration,
                                  races=stats["ra_odds_live"]["distinct"]["races"],
                                  prices=summary["live_rows"], runners=summary["historical_rows"],
                                  detail=summary))
    return summary
