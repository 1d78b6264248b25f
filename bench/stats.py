"""Benchmark: the full statistics over 1,000,000 live and 1,000,000 historical rows in PostgreSQL.

    .venv/bin/python bench/stats.py [--rows 1000000]

The floor is one `SELECT count(*)` over both tables, timed in the same run. Target: the full
statistics in under 5 s on this machine. Prints each section's time too.
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone

from common import scratch_database

from darkhorses.bookmakers import BOOKMAKERS

FILL_LIVE = """
INSERT INTO ra_odds_live (race_id, horse_id, bookmaker_id, race_date, race_time, off_dt, course, country,
    race_name, horse_name, jockey, trainer, bookmaker_name, bookmaker_type, odds_decimal, odds_fractional,
    market_status, in_play, odds_timestamp, fetched_at, created_at, updated_at)
SELECT 'rac_' || r, 'hrs_' || r || '_' || h, b.id, d::date, '14:00', d + interval '14 hours',
       'Course ' || (r % 60), CASE WHEN r % 5 = 0 THEN 'IRE' ELSE 'GB' END, 'Race ' || r, 'Horse ' || h,
       CASE WHEN h % 17 = 0 THEN NULL ELSE 'Jockey ' || (h * 7 + r) % 900 END, 'Trainer ' || (r + h) % 400,
       b.id, CASE WHEN b.id IN ('betfair_ex', 'matchbook', 'smarkets', 'betdaq') THEN 'exchange' ELSE 'fixed' END,
       1.2 + ((r * 31 + h * 7) % 400) / 10.0, '7/2',
       CASE WHEN d::date < current_date THEN 'CLOSED' ELSE 'OPEN' END, false,
       CASE WHEN h % 23 = 0 THEN NULL ELSE now() - (r % 900) * interval '1 hour' END,
       now() - (r % 900) * interval '1 hour', now() - (r % 900) * interval '1 hour',
       now() - (r % 900) * interval '1 hour'
FROM generate_series(0, :races - 1) AS r
CROSS JOIN generate_series(1, 12) AS h
CROSS JOIN unnest(CAST(:bookmakers AS text[])) AS b(id)
CROSS JOIN LATERAL (SELECT current_date - (r / 60) * interval '1 day' AS d) AS dates
"""

FILL_HISTORICAL = """
INSERT INTO ra_odds_historical (race_id, horse_id, race_date, country, track, race_time, off_dt, race_name,
    horse_name, jockey, jockey_id, trainer, trainer_id, finishing_position, industry_sp, betfair_sp,
    pre_race_min, pre_race_max, official_rating, win_return, created_at, updated_at)
SELECT 'hrac_' || r, 'hrs_' || (r * 13 + h) % 90000, d::date, CASE WHEN r % 5 = 0 THEN 'IRE' ELSE 'GB' END,
       'Track ' || (r % 70), '15:00', d + interval '15 hours', 'Race ' || r, 'Horse ' || h,
       'Jockey ' || (h * 7 + r) % 900, 'jky_' || (h * 7 + r) % 900, 'Trainer ' || (r + h) % 400,
       'trn_' || (r + h) % 400, h::text, CASE WHEN h % 11 = 0 THEN NULL ELSE 1.5 + (r + h) % 30 END,
       CASE WHEN h % 3 = 0 THEN NULL ELSE 1.6 + (r + h) % 30 END,
       CASE WHEN r % 2 = 0 THEN 1.4 + h END, CASE WHEN r % 2 = 0 THEN 3.0 + h END, 60 + h,
       CASE WHEN h = 1 THEN 4.0 ELSE 0 END, now() - (r % 900) * interval '1 hour', now() - (r % 900) * interval '1 hour'
FROM generate_series(0, :races - 1) AS r
CROSS JOIN generate_series(1, 10) AS h
CROSS JOIN LATERAL (SELECT current_date - 1 - (r / 60) * interval '1 day' AS d) AS dates
"""


def best_and_median(function, repeats=3):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from sqlalchemy import text

    from darkhorses import stats
    from darkhorses.db import get_engine, session_scope

    live_races = -(-args.rows // (12 * len(BOOKMAKERS)))
    historical_races = args.rows // 10
    with scratch_database():
        engine = get_engine()
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(FILL_LIVE), {"races": live_races, "bookmakers": [b.id for b in BOOKMAKERS]})
            conn.execute(text(FILL_HISTORICAL), {"races": historical_races})
            conn.execute(text(
                "INSERT INTO ra_live_races (race_id, race_date, off_dt, course, market_status, captures, "
                "first_seen_at, fetched_at) SELECT DISTINCT ON (race_id) race_id, race_date, off_dt, course, "
                "market_status, 30, off_dt - interval '1 day', off_dt - interval '8 seconds' FROM ra_odds_live "
                "WHERE race_date >= current_date - 7"))
            conn.execute(text(
                "INSERT INTO ra_collection_ledger (race_date, status, races, runners, attempts, updated_at) "
                "SELECT d::date, (ARRAY['complete','complete','complete','empty','unavailable','failed'])"
                "[1 + (extract(doy FROM d)::int % 6)], 60, 600, 1, now() "
                "FROM generate_series(date '2015-01-01', current_date - 1, interval '1 day') AS d"))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            counts = conn.execute(text("SELECT (SELECT count(*) FROM ra_odds_live), "
                                       "(SELECT count(*) FROM ra_odds_historical)")).one()
        print(f"statistics benchmark: {counts[0]:,} ra_odds_live rows, {counts[1]:,} ra_odds_historical rows "
              f"(loaded in {time.perf_counter() - started:.1f} s)")

        def floor():
            with engine.connect() as conn:
                conn.execute(text("SELECT (SELECT count(*) FROM ra_odds_live) + "
                                  "(SELECT count(*) FROM ra_odds_historical)")).scalar()
        now = datetime.now(timezone.utc)
        floor_best, _ = best_and_median(floor)
        full_best, full_median = best_and_median(lambda: stats.compute_statistics(now))
        print(f"  full statistics  best {full_best:6.2f} s  median {full_median:6.2f} s  (target < 5 s)")
        print(f"  count(*) floor   best {floor_best:6.2f} s")
        print(f"  ratio full / floor = {full_best / floor_best:.1f}")
        for name in ("live_statistics", "historical_statistics", "collection_health"):
            def section():
                with session_scope() as session:
                    getattr(stats, name)(session, now)
            best, _ = best_and_median(section, repeats=2)
            print(f"    {name:<22} {best:6.2f} s")
        print("  PASS" if full_best < 5 else "  FAIL: full statistics over 5 s")


if __name__ == "__main__":
    main()
