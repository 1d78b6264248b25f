"""The statistics files the replaced service's readers serve as they are (legacy-contract.md):
live_stats_latest.json, historical_stats_latest.json and all_stats_latest.json, with its
sections and keys; ours are merged in beside them. Every figure is computed by the database.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, func, select

from .db import session_scope
from .models import Bookmaker, LiveRace, OddsHistorical, OddsLive

RECENT_DATES = 7  # live records_per_date: the last week, as the old service did
HISTORICAL_DATES = 30  # historical records_per_date: the latest dates with results


def _iso(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _nulls(table, columns):
    return [func.sum(case((table.c[c].is_(None), 1), else_=0)).label(f"null_{c}") for c in columns]


def _percent(part: int, total: int) -> float:
    return round(100.0 * part / total, 2) if total else 0.0


def _distinct(session, *columns, where=None) -> int:
    query = select(*columns).distinct()
    if where is not None:
        query = query.where(where)
    return session.execute(select(func.count()).select_from(query.subquery())).scalar()


def live_sections(session, now: datetime) -> dict:
    p, r = OddsLive.__table__, LiveRace.__table__
    # `fetched_at` as the view `ra_odds_live` presents it: the race's last check.
    fetched = func.coalesce(r.c.fetched_at, p.c.fetched_at)
    joined = p.outerjoin(r, r.c.race_id == p.c.race_id)
    row = session.execute(select(
        func.count().label("total"), func.min(p.c.race_date).label("first"), func.max(p.c.race_date).label("last"),
        func.max(p.c.odds_timestamp).label("latest_odds"), func.max(fetched).label("latest_fetch"),
        func.sum(case((fetched >= now - timedelta(hours=1), 1), else_=0)).label("hour"),
        func.sum(case((fetched >= now - timedelta(hours=24), 1), else_=0)).label("day"),
        *_nulls(p, ("race_id", "horse_id", "bookmaker_id", "race_date", "course", "horse_name", "odds_decimal",
                    "odds_timestamp"))).select_from(joined)).mappings().one()
    total = row["total"]
    return {
        "basic_metrics": {"total_records": total, "earliest_race_date": _iso(row["first"]),
                          "latest_race_date": _iso(row["last"]), "latest_odds_timestamp": _iso(row["latest_odds"]),
                          "latest_fetch": _iso(row["latest_fetch"])},
        "recent_activity": {"records_last_hour": row["hour"] or 0, "records_last_24h": row["day"] or 0},
        "unique_entities": {"unique_races": _distinct(session, p.c.race_id),
                            "unique_horses": _distinct(session, p.c.horse_id),
                            "unique_courses": _distinct(session, p.c.course),
                            "unique_bookmakers": _distinct(session, p.c.bookmaker_id)},
        "bookmaker_coverage": _bookmaker_coverage(session, p),
        "records_per_date": _live_per_date(session, p, now),
        "course_distribution": _course_distribution(session, p),
        "data_quality": {**{k: row[k] or 0 for k in row.keys() if k.startswith("null_")}, "total_records": total},
        "market_status": [{"market_status": status, "record_count": count, "percentage": _percent(count, total)}
                          for status, count in session.execute(
                              select(p.c.market_status, func.count()).group_by(p.c.market_status)
                              .order_by(func.count().desc()))],
    }


def _bookmaker_coverage(session, p) -> list[dict]:
    b = Bookmaker.__table__
    # Group by (bookmaker, race) and (bookmaker, horse) first: hashing, not a sort per distinct.
    per_race = select(p.c.bookmaker_id, func.count().label("n"), func.max(p.c.odds_timestamp).label("latest")) \
        .group_by(p.c.bookmaker_id, p.c.race_id).subquery()
    horses = dict(session.execute(select(p.c.bookmaker_id, func.count(p.c.horse_id.distinct()))
                                  .group_by(p.c.bookmaker_id)).all())
    names = {r.bookmaker_id: (r.bookmaker_name, r.bookmaker_type) for r in session.execute(select(b))}
    return [{"bookmaker_id": bookmaker, "bookmaker_name": names.get(bookmaker, (bookmaker, None))[0],
             "bookmaker_type": names.get(bookmaker, (None, None))[1], "odds_count": int(count),
             "races_covered": races, "horses_covered": horses.get(bookmaker, 0), "latest_odds": _iso(latest)}
            for bookmaker, count, races, latest in session.execute(
                select(per_race.c.bookmaker_id, func.sum(per_race.c.n), func.count(), func.max(per_race.c.latest))
                .group_by(per_race.c.bookmaker_id).order_by(func.sum(per_race.c.n).desc(), per_race.c.bookmaker_id))]


def _live_per_date(session, p, now: datetime) -> list[dict]:
    since = (now - timedelta(days=RECENT_DATES)).date()
    recent = p.c.race_date >= since
    rows = {d: {"race_date": _iso(d), "record_count": n, "unique_races": races, "unique_bookmakers": 0}
            for d, n, races in session.execute(
                select(p.c.race_date, func.count(), func.count(p.c.race_id.distinct())).where(recent)
                .group_by(p.c.race_date))}
    for d, books in session.execute(select(p.c.race_date, func.count(p.c.bookmaker_id.distinct()))
                                    .where(recent).group_by(p.c.race_date)):
        rows[d]["unique_bookmakers"] = books
    return [rows[d] for d in sorted(rows, reverse=True)]


def _course_distribution(session, p) -> list[dict]:
    per = select(p.c.course, p.c.race_id, p.c.bookmaker_id, func.count().label("n")) \
        .group_by(p.c.course, p.c.race_id, p.c.bookmaker_id).subquery()
    races = select(per.c.course, per.c.race_id).distinct().subquery()
    books = select(per.c.course, per.c.bookmaker_id).distinct().subquery()
    counts = session.execute(select(per.c.course, func.sum(per.c.n)).group_by(per.c.course)
                             .order_by(func.sum(per.c.n).desc(), per.c.course).limit(20)).all()
    race_counts = dict(session.execute(select(races.c.course, func.count()).group_by(races.c.course)).all())
    book_counts = dict(session.execute(select(books.c.course, func.count()).group_by(books.c.course)).all())
    return [{"course": course, "record_count": int(n), "unique_races": race_counts.get(course, 0),
             "unique_bookmakers": book_counts.get(course, 0)} for course, n in counts]


def historical_sections(session, now: datetime) -> dict:
    h = OddsHistorical.__table__
    since = {"hour": now - timedelta(hours=1), "day": now - timedelta(hours=24), "week": now - timedelta(days=7)}
    row = session.execute(select(
        func.count().label("total"), func.min(h.c.date_of_race).label("first"),
        func.max(h.c.date_of_race).label("last"), func.max(h.c.updated_at).label("latest_update"),
        *(func.sum(case((h.c.updated_at >= moment, 1), else_=0)).label(k) for k, moment in since.items()),
        *(func.count(h.c[c]).label(f"has_{c}") for c in ("industry_sp", "pre_race_min", "pre_race_max",
                                                          "forecasted_odds")),
        *_nulls(h, ("date_of_race", "track", "horse_name", "industry_sp", "finishing_position", "jockey",
                    "trainer", "country"))).select_from(h)).mappings().one()
    total = row["total"]
    first, last = (row["first"].date() if row["first"] else None), (row["last"].date() if row["last"] else None)
    per_date = session.execute(select(h.c.date_of_race, func.count()).where(h.c.date_of_race.is_not(None))
                               .group_by(h.c.date_of_race).order_by(h.c.date_of_race.desc())
                               .limit(HISTORICAL_DATES)).all()
    return {
        "basic_metrics": {"total_records": total, "earliest_race_date": _iso(first), "latest_race_date": _iso(last),
                          "date_range_days": (last - first).days if first and last else 0,
                          "latest_update": _iso(row["latest_update"])},
        "recent_activity": {"records_last_hour": row["hour"] or 0, "records_last_24h": row["day"] or 0,
                            "records_last_7d": row["week"] or 0},
        # Names, not ids: the old service's rows have no ids.
        "unique_entities": {"unique_horses": _distinct(session, h.c.horse_name),
                            "unique_tracks": _distinct(session, h.c.track),
                            "unique_jockeys": _distinct(session, h.c.jockey),
                            "unique_trainers": _distinct(session, h.c.trainer),
                            "unique_countries": _distinct(session, h.c.country)},
        "records_per_date": [{"race_date": _iso(d.date()), "record_count": n} for d, n in per_date],
        "country_distribution": [
            {"country": country, "record_count": n, "percentage": _percent(n, total)}
            for country, n in session.execute(select(h.c.country, func.count()).group_by(h.c.country)
                                              .order_by(func.count().desc(), h.c.country).limit(10))],
        "track_distribution": [{"track": track, "record_count": n} for track, n in session.execute(
            select(h.c.track, func.count()).group_by(h.c.track).order_by(func.count().desc(), h.c.track).limit(20))],
        "data_quality": {**{k: row[k] or 0 for k in row.keys() if k.startswith("null_")}, "total_records": total},
        "odds_coverage": {**{k: row[k] for k in row.keys() if k.startswith("has_")}, "total_records": total},
    }


def _merge(ours: dict, contract: dict) -> dict:
    """The contract's sections, with ours added beside them (both keys kept where both are objects)."""
    merged = dict(ours)
    for key, value in contract.items():
        merged[key] = {**ours[key], **value} if isinstance(value, dict) and isinstance(ours.get(key), dict) else value
    return merged


def write_contract_files(directory: Path, stats: dict, now: datetime) -> None:
    """The three files the readers serve, each written atomically."""
    from .stats import write_json_atomic
    with session_scope() as session:
        live, historical = live_sections(session, now), historical_sections(session, now)
    stamp = now.isoformat()
    live, historical = _merge(stats["ra_odds_live"], live), _merge(stats["ra_odds_historical"], historical)
    write_json_atomic(directory / "live_stats_latest.json", {"timestamp": stamp, "table": "live", "ra_odds_live": live})
    write_json_atomic(directory / "historical_stats_latest.json",
                      {"timestamp": stamp, "table": "historical", "ra_odds_historical": historical})
    write_json_atomic(directory / "all_stats_latest.json",
                      {"timestamp": stamp, **stats, "ra_odds_live": live, "ra_odds_historical": historical})
