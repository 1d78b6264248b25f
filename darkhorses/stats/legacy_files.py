"""The statistics files the replaced service's readers serve as they are (docs/switching.md):
live_stats_latest.json, historical_stats_latest.json and all_stats_latest.json, with its
sections and keys; ours are merged in beside them. Table-wide figures come from the per-day
rollups the statistics run keeps (darkhorses.stats.rollups), so their cost does not grow with history.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..core.files import iso, write_json_atomic
from ..models import Bookmaker, LiveRace, OddsHistorical, OddsLive
from . import rollups

RECENT_DATES = 7  # live records_per_date: the last week, as the old service did
HISTORICAL_DATES = 30  # historical records_per_date: the latest dates with results


def _percent(part: int, total: int) -> float:
    return round(100.0 * part / total, 2) if total else 0.0


def live_sections(session: Session, now: datetime) -> dict:
    """The contract's sections of ra_odds_live from the per-day rollups (kept by the statistics
    run just before), so their cost does not grow with the table."""
    days, seen = rollups.days(session, "live"), rollups.seen_counts(session, "live")
    total = sum(f["rows"] for _, f in days)
    nulls, status = rollups.summed(days, "nulls"), rollups.summed(days, "status")
    courses = rollups.merge_breakdown(days, "course")
    hour, day, latest_check = _recent_by_check(session, now)
    latest_fetch = max(filter(None, (iso(latest_check), *(f.get("latest_fetch") for _, f in days))), default=None)
    return {
        "basic_metrics": {"total_records": total, "earliest_race_date": iso(days[0][0]) if days else None,
                          "latest_race_date": iso(days[-1][0]) if days else None,
                          "latest_odds_timestamp": max(filter(None, (f.get("latest_odds") for _, f in days)),
                                                       default=None),
                          "latest_fetch": latest_fetch},
        "recent_activity": {"records_last_hour": hour, "records_last_24h": day},
        "unique_entities": {"unique_races": sum(c["races"] for c in courses), "unique_horses": seen.get("horse", 0),
                            "unique_courses": len(courses),
                            "unique_bookmakers": len({b for _, f in days for b in f["bookmakers"]})},
        "bookmaker_coverage": _bookmaker_coverage(session, days, seen),
        "records_per_date": [{"race_date": iso(d), "record_count": f["rows"],
                              "unique_races": sum(c[2] for c in f["course"]), "unique_bookmakers": len(f["bookmakers"])}
                             for d, f in reversed(days) if d >= (now - timedelta(days=RECENT_DATES)).date()],
        "course_distribution": [{"course": c["course"], "record_count": c["rows"], "unique_races": c["races"],
                                 "unique_bookmakers": seen.get(f"bookmaker@{c['course']}", 0)}
                                for c in sorted(courses, key=lambda c: (-c["rows"], c["course"] or ""))[:20]],
        "data_quality": {**{f"null_{c}": nulls.get(c, 0) for c in rollups.CONTRACT_LIVE_NULLS}, "total_records": total},
        "market_status": [{"market_status": name, "record_count": count, "percentage": _percent(count, total)}
                          for name, count in sorted(status.items(), key=lambda kv: -kv[1])],
    }


def _recent_by_check(session: Session, now: datetime) -> tuple[int, int, datetime | None]:
    """Rows whose race was checked in the last hour and day (the view's `fetched_at`), from
    the races checked in the last day: an index probe per race, not a scan."""
    p, r = OddsLive.__table__, LiveRace.__table__
    hour, day = session.execute(select(
        func.sum(case((r.c.fetched_at >= now - timedelta(hours=1), 1), else_=0)), func.count())
        .select_from(r.join(p, p.c.race_id == r.c.race_id))
        .where(r.c.fetched_at >= now - timedelta(hours=24))).one()
    return hour or 0, day or 0, session.execute(select(func.max(r.c.fetched_at))).scalar()


def _bookmaker_coverage(session: Session, days, seen: dict) -> list[dict]:
    names = {r.bookmaker_id: (r.bookmaker_name, r.bookmaker_type) for r in session.execute(select(Bookmaker.__table__))}
    totals: dict = {}
    for _, figures in days:
        for bookmaker, (prices, races, _latest, odds, *_) in figures["bookmakers"].items():
            entry = totals.setdefault(bookmaker, [0, 0, None])
            entry[0] += prices
            entry[1] += races
            entry[2] = max(filter(None, (entry[2], odds)), default=None)
    return [{"bookmaker_id": bookmaker, "bookmaker_name": names.get(bookmaker, (bookmaker, None))[0],
             "bookmaker_type": names.get(bookmaker, (None, None))[1], "odds_count": count,
             "races_covered": races, "horses_covered": seen.get(f"horse@{bookmaker}", 0), "latest_odds": latest}
            for bookmaker, (count, races, latest) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def historical_sections(session: Session, now: datetime) -> dict:
    h = OddsHistorical.__table__
    days, seen = rollups.days(session, "historical"), rollups.seen_counts(session, "historical")
    total = sum(f["rows"] for _, f in days)
    nulls, covered = rollups.summed(days, "nulls"), rollups.summed(days, "coverage")
    first, last = (days[0][0], days[-1][0]) if days else (None, None)
    # The updated_at index answers these from the recent rows alone.
    recent = session.execute(select(*(func.sum(case((h.c.updated_at >= now - span, 1), else_=0)) for span in (
        timedelta(hours=1), timedelta(hours=24), timedelta(days=7)))).where(
        h.c.updated_at >= now - timedelta(days=7))).one()
    countries, tracks = rollups.merge_breakdown(days, "country"), rollups.merge_breakdown(days, "track")
    return {
        "basic_metrics": {"total_records": total, "earliest_race_date": iso(first), "latest_race_date": iso(last),
                          "date_range_days": (last - first).days if first and last else 0,
                          "latest_update": max(filter(None, (f.get("latest_update") for _, f in days)), default=None)},
        "recent_activity": {"records_last_hour": recent[0] or 0, "records_last_24h": recent[1] or 0,
                            "records_last_7d": recent[2] or 0},
        # Names, not ids: the old service's rows have no ids.
        # As SELECT DISTINCT counts them: a NULL is one more value.
        "unique_entities": {"unique_horses": seen.get("horse_name", 0) + (nulls.get("horse_name", 0) > 0),
                            "unique_tracks": len(tracks),
                            "unique_jockeys": seen.get("jockey_name", 0) + (nulls.get("jockey", 0) > 0),
                            "unique_trainers": seen.get("trainer_name", 0) + (nulls.get("trainer", 0) > 0),
                            "unique_countries": len(countries)},
        "records_per_date": [{"race_date": iso(d), "record_count": f["rows"]}
                             for d, f in list(reversed(days))[:HISTORICAL_DATES]],
        "country_distribution": [{"country": c["country"], "record_count": c["rows"],
                                  "percentage": _percent(c["rows"], total)}
                                 for c in sorted(countries, key=lambda c: (-c["rows"], c["country"] or ""))[:10]],
        "track_distribution": [{"track": t["track"], "record_count": t["rows"]}
                               for t in sorted(tracks, key=lambda t: (-t["rows"], t["track"] or ""))[:20]],
        "data_quality": {**{f"null_{c}": nulls.get(c, 0) for c in rollups.CONTRACT_HISTORICAL_NULLS},
                         "total_records": total},
        "odds_coverage": {"has_industry_sp": covered.get("with_sp", 0), "has_pre_race_min": covered.get(
            "with_pre_race_min", 0), "has_pre_race_max": covered.get("with_pre_race_max", 0),
            "has_forecasted_odds": covered.get("with_forecasted_odds", 0), "total_records": total},
    }


def _merge(ours: dict, contract: dict) -> dict:
    """The contract's sections, with ours added beside them (both keys kept where both are objects)."""
    merged = dict(ours)
    for key, value in contract.items():
        merged[key] = {**ours[key], **value} if isinstance(value, dict) and isinstance(ours.get(key), dict) else value
    return merged


def write_contract_files(session: Session, directory: Path, stats: dict, now: datetime) -> None:
    """The three files the readers serve, each written atomically."""
    live, historical = live_sections(session, now), historical_sections(session, now)
    stamp = now.isoformat()
    live, historical = _merge(stats["ra_odds_live"], live), _merge(stats["ra_odds_historical"], historical)
    write_json_atomic(directory / "live_stats_latest.json", {"timestamp": stamp, "table": "live", "ra_odds_live": live})
    write_json_atomic(directory / "historical_stats_latest.json",
                      {"timestamp": stamp, "table": "historical", "ra_odds_historical": historical})
    write_json_atomic(directory / "all_stats_latest.json",
                      {"timestamp": stamp, **stats, "ra_odds_live": live, "ra_odds_historical": historical})
