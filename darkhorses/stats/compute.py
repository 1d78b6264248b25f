"""Statistics over the collected data, computed in SQL and written as JSON files.

Every figure is an aggregate the database computes (PostgreSQL in production, SQLite in
the embedded mode); Python only shapes the answers. Table-wide figures are sums over the
per-day rollups (darkhorses.stats.rollups), so their cost does not grow with history. Files are
written atomically so the read API never sees half a file.
"""
from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..core.clock import UK, day_start, uk_date
from ..core.files import iso, write_json_atomic
from ..core.settings import Settings
from ..live.runs import loop_runs
from ..models import (
    LEDGER_DONE,
    CollectionLedger,
    LiveRace,
    OddsHistorical,
    OddsHistory,
    OddsLive,
    RunRecord,
    Withdrawal,
)
from . import rollups
from .legacy_files import write_contract_files
from .report import write_report
from .rollups import HISTORICAL_NULL_COLUMNS, LIVE_NULL_COLUMNS

SCHEMA_VERSION = 1


def _year(session: Session, column):
    if session.get_bind().dialect.name == "sqlite":
        return func.cast(func.strftime("%Y", column), OddsLive.runners.type)
    return func.cast(func.extract("year", column), OddsLive.runners.type)


def _latest(days_figures, key: str):
    return max((figures[key] for _, figures in days_figures if figures.get(key)), default=None)


def _date_range(days_figures) -> dict:
    return {"first": iso(days_figures[0][0]) if days_figures else None,
            "last": iso(days_figures[-1][0]) if days_figures else None}


def _by_date(days_figures, breakdown: str) -> list[dict]:
    return [{"date": iso(day), "rows": figures["rows"], "races": sum(e[2] for e in figures[breakdown])}
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


def live_statistics(session: Session, now: datetime) -> dict:
    rollups.refresh(session, "live", now)
    days, seen = rollups.days(session, "live"), rollups.seen_counts(session, "live")
    latest_check = session.execute(select(func.max(LiveRace.fetched_at))).scalar()
    changed_hour, changed_day = rollups.recent_live_changes(session, now)
    nulls = rollups.summed(days, "nulls")
    by_course = rollups.merge_breakdown(days, "course")
    by_bookmaker = _by_bookmaker(days, seen)
    return {
        "total_rows": sum(f["rows"] for _, f in days),
        "date_range": _date_range(days),
        "latest_odds_timestamp": _latest(days, "latest_odds"),
        "latest_fetched_at": _latest(days, "latest_fetch"),
        "latest_race_check": iso(latest_check),
        "recent_activity": {"changed_last_hour": changed_hour, "changed_last_24h": changed_day},
        "distinct": {"races": sum(e["races"] for e in by_course), "horses": seen.get("horse", 0),
                     "courses": sum(1 for c in by_course if c["course"] is not None),
                     "bookmakers": len(by_bookmaker)},
        "null_counts": {c: nulls.get(c, 0) for c in LIVE_NULL_COLUMNS},
        "by_bookmaker": by_bookmaker,
        "by_date": _by_date(days, "course"),
        "by_course": by_course,
        "market_status": dict(rollups.summed(days, "status")),
    }


def historical_statistics(session: Session, now: datetime) -> dict:
    t = OddsHistorical.__table__
    rollups.refresh(session, "historical", now)
    days, seen = rollups.days(session, "historical"), rollups.seen_counts(session, "historical")
    total = sum(f["rows"] for _, f in days)
    # The updated_at index answers this from the last day's rows alone.
    updated_last_24h = session.execute(select(func.count()).where(
        t.c.updated_at >= now - timedelta(hours=24))).scalar()
    covered = rollups.summed(days, "coverage")
    nulls = rollups.summed(days, "nulls")
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


def _loop_state(runs: list[dict]) -> dict:
    if not runs:
        return {"state": "never ran", "since": None, "last_cycle_at": None, "stretches": 0}
    last = runs[-1]
    return {"state": "running" if last.get("running") else "stopped",
            "since": iso(last["start"] if last.get("running") else last["end"]),
            "next_cycle_due": iso(last.get("next_cycle_due")),
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
    if off is not None and (off > now or (status == "OPEN" and race["captures"] > 0 and now - off < STILL_RUNNING)):
        return "upcoming"  # not gone yet: past its scheduled off, a race stays open until it goes
    running = off is not None and any(run["start"] <= off <= run["end"] for run in runs)
    if race["captures"] > 0:
        return "watched" if status == "CLOSED" or running else "stopped"
    return "missed" if running else "results_only"


# A race open past its scheduled off is still to run for this long (LIVE_OFF_CAP_MINUTES' default).
STILL_RUNNING = timedelta(minutes=30)


def non_runners(session: Session, day: date) -> set[tuple[str, str]]:
    """(race_id, horse_id) withdrawn from a race of `day` and not back: the one place that
    knows where non-runners are recorded (ra_withdrawals, and live rows marked NON_RUNNER)."""
    live = OddsLive.__table__
    marked = set(session.execute(select(live.c.race_id, live.c.horse_id).distinct().where(
        live.c.race_date == day, live.c.market_status == "NON_RUNNER")).all())
    return marked | set(session.execute(select(Withdrawal.race_id, Withdrawal.horse_id).where(
        Withdrawal.race_date == day, Withdrawal.reopened_at.is_(None))).all())


def overround(session: Session, day: date, withdrawn: set[tuple[str, str]]) -> list[dict]:
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


def _backfill_coverage(session: Session) -> dict:
    ledger = CollectionLedger.__table__
    counts: dict[str, int] = dict(
        session.execute(select(ledger.c.status, func.count()).group_by(ledger.c.status)).all())
    first, last = session.execute(select(func.min(ledger.c.race_date), func.max(ledger.c.race_date))).one()
    days = sum(counts.values())
    settled = sum(counts.get(status, 0) for status in LEDGER_DONE)
    return {"days": days, "settled": settled, "failed": counts.get("failed", 0),
            "unavailable": counts.get("unavailable", 0), "first": iso(first), "last": iso(last),
            "percent": round(100.0 * settled / days, 1) if days else None}


def _known_races(session: Session, since: date) -> list[dict]:
    """Every race of the window we know of: those the loop polled, then those known only
    from their results."""
    races = []
    for r in session.execute(select(LiveRace).where(LiveRace.race_date >= since)
                             .order_by(LiveRace.off_dt)).scalars():
        # Watched to the off means up to the close (the race went off), or the scheduled off for a
        # race closed before the loop knew better.
        went = r.closed_at if r.closed_at is not None and r.close_reason != "abandoned" else r.off_dt
        gap = (went - r.fetched_at).total_seconds() if went and r.fetched_at else None
        races.append({"race_id": r.race_id, "race_date": iso(r.race_date), "off_dt": r.off_dt,
                      "course": r.course, "race_name": r.race_name, "market_status": r.market_status,
                      "captures": r.captures, "last_capture": iso(r.fetched_at),
                      "gap_to_off_seconds": round(gap, 1) if gap is not None else None,
                      "closed_at": iso(r.closed_at), "close_reason": r.close_reason,
                      "off_late_seconds": r.off_late_seconds})
    races.extend(_results_only_races(session, since))
    return races


def _results_only_races(session: Session, since: date) -> list[dict]:
    """Races of the window known from their results and never polled live."""
    h = OddsHistorical.__table__
    # date_of_race is midnight UTC of the UK date (the replaced service's convention).
    return [{"race_id": r.race_id, "race_date": iso(r.date_of_race.date()), "off_dt": r.off_dt,
             "course": r.track, "race_name": r.race_name, "market_status": None, "captures": 0,
             "last_capture": None, "gap_to_off_seconds": None, "closed_at": None, "close_reason": None,
             "off_late_seconds": None}
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


def lateness(races: list[dict]) -> dict:
    """How late today's races went off (ra_live_races.off_late_seconds): the median, the share a
    minute or more late, and the five latest races."""
    late = [r for r in races if r["off_late_seconds"] is not None]
    seconds = sorted(r["off_late_seconds"] for r in late)
    latest = sorted(late, key=lambda r: -r["off_late_seconds"])[:5]
    return {"races": len(late),
            "median_seconds": statistics.median(seconds) if seconds else None,
            "a_minute_or_more_percent": round(100.0 * sum(s >= 60 for s in seconds) / len(seconds), 1)
            if seconds else None,
            "latest": [{"race_id": r["race_id"], "course": r["course"], "off_dt": r["off_dt"],
                        "minutes_late": round(r["off_late_seconds"] / 60, 1), "close_reason": r["close_reason"]}
                       for r in latest]}


def collection_health(session: Session, now: datetime, lease_grace: float) -> dict:
    """Did we watch every race up to its off — counting as missed only a race that went off
    while the live loop was running? `lease_grace`: how late a loop's next cycle may be."""
    today = uk_date(now)
    since = today - timedelta(days=7)
    runs = loop_runs(session, _uk_day_bounds(since)[0] - timedelta(days=1), now, lease_grace)
    races = _known_races(session, since)
    for race in races:
        race["outcome"] = _outcome(race, runs, now)
        race["off_dt"] = iso(race["off_dt"])
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
        "lateness_today": lateness([r for r in todays if r["market_status"] is not None]),
    }


def compute_statistics(session: Session, settings: Settings, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    if session.get_bind().dialect.name == "postgresql":
        # The grouping below hashes up to a few hundred thousand keys: keep that in memory
        # (SET LOCAL: until the caller's transaction ends).
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": now.isoformat(),
        "ra_odds_live": live_statistics(session, now),
        "ra_odds_historical": historical_statistics(session, now),
        "collection_health": collection_health(session, now, settings.live_lease_grace),
    }


def update_statistics(session: Session, settings: Settings, now: datetime | None = None,
                      output_dir: str | None = None) -> dict:
    """Compute, write every file, record a summary row (in `session`); returns the summary."""
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    stats = compute_statistics(session, settings, now)
    directory = Path(output_dir or settings.stats_output_dir)
    header = {"schema_version": SCHEMA_VERSION, "generated_at": stats["generated_at"]}
    for name in ("ra_odds_live", "ra_odds_historical", "collection_health"):
        write_json_atomic(directory / f"{name}_latest.json", {**header, name: stats[name]})
    write_contract_files(session, directory, stats, now)  # live_, historical_ and all_stats_latest.json
    write_report(session, directory, stats, now)
    duration = round(time.monotonic() - started, 3)
    summary = {
        "generated_at": stats["generated_at"], "duration_seconds": duration, "output_dir": str(directory),
        "live_rows": stats["ra_odds_live"]["total_rows"],
        "historical_rows": stats["ra_odds_historical"]["total_rows"],
        "races_watched_7d": stats["collection_health"]["races_watched"],
        "missed_7d": len(stats["collection_health"]["missed"]),
    }
    session.add(RunRecord(kind="stats", started_at=now, duration_seconds=duration,
                          races=stats["ra_odds_live"]["distinct"]["races"],
                          prices=summary["live_rows"], runners=summary["historical_rows"],
                          detail=summary))
    return summary
