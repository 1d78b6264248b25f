"""Benchmark: the full statistics over 1,000,000 live and 1,000,000 historical rows in PostgreSQL.

    .venv/bin/python -m bench.stats [--rows 1000000] [--races-per-day 60] [--explain]

Fills a scratch database with SQL alone (INSERT ... SELECT FROM generate_series, so loading
takes seconds): ra_odds_live holds ROWS prices of 12 runners x 26 bookmakers per race, RACES_PER_DAY
races a day back from today (the live table is never pruned, so ~53 days at the defaults);
ra_odds_historical holds ROWS results of 12 runners per race back from yesterday (~3.8 years);
both on ~60 courses from a pool of 40,000 horses, 1,200 jockeys and 900 trainers, with NULLs
where the API leaves gaps, a mix of OPEN/CLOSED/ABANDONED markets, ra_live_races for every
live race (a few of the last week missing, so the results-only and missed races have work) and the ledger back
to 2015. Then VACUUM ANALYZE, as autovacuum would have done in production.

Times `darkhorses.stats.compute.compute_statistics()` 3 times (best and median) against the floor,
one `SELECT count(*)` over both tables (best of 3), all in the same run; then each section
(live_statistics, historical_statistics, collection_health) on its own, and the slowest SQL
statements of the run with their share. --explain prints EXPLAIN (ANALYZE, BUFFERS) of the
slowest statements. Target: the full statistics in under 5 s on this machine.
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import defaultdict
from datetime import datetime, timezone

from bench.common import peak_rss_mb, scratch_database
from darkhorses.racing_api.bookmakers import BOOKMAKERS

RUNNERS = 12
COURSES = (
    "Ascot", "Aintree", "Cheltenham", "Kempton", "Newmarket", "York", "Doncaster", "Haydock", "Sandown",
    "Lingfield", "Wolverhampton", "Southwell", "Chelmsford City", "Newcastle", "Chepstow", "Exeter",
    "Wincanton", "Market Rasen", "Musselburgh", "Ayr", "Catterick", "Goodwood", "Epsom", "Newbury",
    "Uttoxeter", "Warwick", "Plumpton", "Fontwell", "Bath", "Beverley", "Brighton", "Carlisle", "Cartmel",
    "Chester", "Ffos Las", "Fakenham", "Hamilton", "Hereford", "Hexham", "Huntingdon", "Kelso", "Leicester",
    "Ludlow", "Nottingham", "Perth", "Pontefract", "Redcar", "Ripon",
    "Leopardstown", "Curragh", "Fairyhouse", "Punchestown", "Naas", "Dundalk", "Galway", "Navan",
    "Limerick", "Cork", "Thurles", "Gowran Park",
)
IRISH_FROM = 48  # COURSES[48:] are in Ireland

# One row per generate_series value i: race i / 312, runner (i / 26) % 12, bookmaker i % 26, so
# (race_id, horse_id, bookmaker_id) is unique. Race r runs `r / per_day` days before today in
# slot `r % per_day`; its id is shared with ra_odds_historical's race on the same date and slot.
# (hashint8(x) & 2147483647) is a cheap deterministic non-negative hash.
RACE = """
    CROSS JOIN LATERAL (SELECT CAST(:today AS date) - CAST(r / :per_day AS int) + :day_shift AS d,
                               r % :per_day AS slot) AS rd
    CROSS JOIN LATERAL (SELECT CAST(d - date '2000-01-01' AS bigint) * 100 + slot AS rk,
                               (hashint8((d - date '2000-01-01') * 16 + slot / 7) & 2147483647) % 60 AS ci) AS rk
    CROSS JOIN LATERAL (SELECT ((d + time '12:00' + (slot / 7) * interval '8 minutes'
                                 + (slot % 7) * interval '35 minutes') AT TIME ZONE 'Europe/London') AS off,
                               (ARRAY['Flat','Flat','Hurdle','Chase','NH Flat'])
                                   [1 + (hashint8(rk) & 2147483647) % 5] AS rtype,
                               (ARRAY['Good','Good to Soft','Soft','Heavy','Good to Firm','Standard'])
                                   [1 + (hashint8(rk + 7) & 2147483647) % 6] AS going,
                               (hashint8(rk + 3) & 2147483647) % 3 = 0 AS handicap) AS rx
    CROSS JOIN LATERAL (SELECT 'hrs_' || ((rk * 12 + hh) * 7919) % 40000 AS horse,
                               (hashint8(rk * 12 + hh) & 2147483647) AS hr) AS hx
"""

FILL_LIVE = """
INSERT INTO ra_odds_live_prices (race_id, horse_id, bookmaker_id, race_date, race_time, off_dt, course, course_id,
    country, race_name, race_class, race_type, distance, going, runners, horse_name, horse_number, draw, jockey,
    trainer, age, weight, form, bookmaker_name, bookmaker_type, odds_decimal, odds_fractional, ew_places,
    ew_denom, market_status, in_play, odds_timestamp, fetched_at, created_at, updated_at)
SELECT 'rac_' || rk, horse, bk.id, d,
       CAST(off AT TIME ZONE 'Europe/London' AS time),
       CASE WHEN (hashint8(rk) & 2147483647) % 500 = 0 THEN NULL ELSE off END,
       (CAST(:courses AS text[]))[1 + ci],
       'crs_' || ci, CASE WHEN ci >= :irish_from THEN 'IRE' ELSE 'GB' END,
       'The ' || (CAST(:courses AS text[]))[1 + ci] || ' ' || rtype || CASE WHEN handicap THEN ' Handicap' ELSE '' END,
       'Class ' || (1 + rk % 6), rtype, (5 + rk % 20) || 'f', going, 12,
       'Horse ' || horse, 1 + hh, 1 + hh,
       CASE WHEN hr % 31 = 0 THEN NULL ELSE 'Jockey ' || hr % 1200 END,
       CASE WHEN hr % 97 = 0 THEN NULL ELSE 'Trainer ' || (hr / 7) % 900 END,
       2 + hr % 10, CAST(120 + hr % 50 AS text), '1-2' || hr % 10,
       bk.name, bk.type,
       CASE WHEN px % 50 = 0 THEN NULL ELSE 1.5 + px % 600 / 10.0 END,
       CASE WHEN px % 50 = 0 THEN NULL ELSE (5 + px % 600) || '/10' END, '3', '5',
       CASE WHEN (hashint8(rk + 2) & 2147483647) % 67 = 0 THEN 'ABANDONED'
            WHEN off > now() THEN 'OPEN' ELSE 'CLOSED' END,
       false,
       touched - interval '20 seconds',
       touched, off - interval '1 day', touched
FROM generate_series(0, :rows - 1) AS g(i)
CROSS JOIN LATERAL (SELECT i / 312 AS r, (i / 26) % 12 AS hh, i % 26 AS b) AS k
""" + RACE + """
CROSS JOIN LATERAL (SELECT (CAST(:bookmakers AS text[]))[1 + b] AS id, (CAST(:names AS text[]))[1 + b] AS name,
                           (CAST(:types AS text[]))[1 + b] AS type) AS bk
CROSS JOIN LATERAL (SELECT (hashint8(i) & 2147483647) AS px) AS p
CROSS JOIN LATERAL (SELECT CASE WHEN off > now() THEN now() - (px % 5400) * interval '1 second'
                                ELSE off - (px % 7200) * interval '1 second' END AS touched) AS t
"""

FILL_HISTORICAL = """
INSERT INTO ra_odds_historical (race_id, horse_id, date_of_race, country, track, course_id, race_time, match_timestamp,
    race_name, going, race_type, distance, distance_f, race_class, is_handicap, runners_count, horse_name,
    official_rating, age, weight, weight_lbs, jockey, jockey_id, trainer, trainer_id, headgear, stall_number,
    finishing_position, winning_distance, industry_sp, sp_fractional, sp_favorite_position, betfair_sp, pre_race_min,
    pre_race_max, last_price_before_off, sp_win_return, place_return, ew_return, created_at, updated_at)
SELECT 'rac_' || rk, horse, d::timestamp AT TIME ZONE 'UTC', CASE WHEN ci >= :irish_from THEN 'IRE' ELSE 'GB' END,
       CASE WHEN (hashint8(rk + 1) & 2147483647) % 400 = 0 THEN NULL ELSE (CAST(:courses AS text[]))[1 + ci] END,
       'crs_' || ci, CAST(off AT TIME ZONE 'Europe/London' AS time),
       CASE WHEN (hashint8(rk) & 2147483647) % 500 = 0 THEN NULL ELSE off END,
       'The ' || (CAST(:courses AS text[]))[1 + ci] || ' ' || rtype || CASE WHEN handicap THEN ' Handicap' ELSE '' END,
       going, rtype, (5 + rk % 20) || 'f', 5 + rk % 20, 1 + rk % 6, handicap, 12,
       CASE WHEN hr % 200 = 0 THEN NULL ELSE 'Horse ' || horse END,
       CASE WHEN hr % 5 = 0 THEN NULL ELSE 40 + hr % 100 END, 2 + hr % 10, '9-' || hr % 14, 120 + hr % 50,
       CASE WHEN hr % 150 = 0 THEN NULL ELSE 'Jockey ' || hr % 1200 END, 'jky_' || hr % 1200,
       CASE WHEN hr % 300 = 0 THEN NULL ELSE 'Trainer ' || (hr / 7) % 900 END, 'trn_' || (hr / 7) % 900,
       CASE WHEN hr % 4 = 0 THEN 'p' END, CASE WHEN rtype = 'Flat' THEN 1 + hh END,
       CASE WHEN hr % 100 = 0 THEN NULL WHEN hr % 25 = 0 THEN 'PU' WHEN hr % 60 = 0 THEN 'F'
            ELSE CAST(1 + hh AS text) END,
       CASE WHEN hh > 0 THEN hh || 'L' END,
       CASE WHEN hr % 100 = 1 THEN NULL ELSE sp END, CASE WHEN hr % 100 = 1 THEN NULL ELSE (sp - 1) || '/1' END,
       1 + hh, CASE WHEN hr % 10 = 3 THEN NULL ELSE sp * 1.08 END,
       CASE WHEN captured THEN sp * 0.8 END, CASE WHEN captured THEN sp * 1.3 END, CASE WHEN captured THEN sp END,
       CASE WHEN hh = 0 THEN sp ELSE 0 END, CASE WHEN hh < 3 THEN 1 + (sp - 1) / 5 ELSE 0 END,
       CASE WHEN hh = 0 THEN sp ELSE 0 END + CASE WHEN hh < 3 THEN 1 + (sp - 1) / 5 ELSE 0 END,
       stamp, stamp
FROM generate_series(0, :rows - 1) AS g(i)
CROSS JOIN LATERAL (SELECT i / 12 AS r, i % 12 AS hh) AS k
""" + RACE + """
CROSS JOIN LATERAL (SELECT 1.5 + hh * 2 + hr % 7 AS sp, d > CAST(:today AS date) - :live_days AS captured,
                           CASE WHEN d = CAST(:today AS date) - 1 THEN now() - (hr % 72000) * interval '1 second'
                                ELSE d + interval '1 day 1 hour' END AS stamp) AS x
"""

LIVE_RACES = """
INSERT INTO ra_live_races (race_id, race_date, off_dt, course, race_name, market_status, captures,
                           first_seen_at, fetched_at)
SELECT DISTINCT ON (race_id) race_id, race_date, off_dt, course, race_name, market_status, 20 + length(race_id) % 90,
       coalesce(off_dt, race_date + time '12:00') - interval '1 day',
       CASE WHEN market_status = 'OPEN' THEN now() - interval '7 seconds'
            ELSE coalesce(off_dt, race_date + time '12:00')
                 - ((hashtext(race_id) & 2147483647) % 40) * interval '1 second' END
FROM ra_odds_live_prices
-- a few races of the last week the live loop never saw: collection_health sorts them into missed and results only
WHERE NOT (race_date >= CAST(:today AS date) - 8 AND (hashtext(race_id) & 2147483647) % 25 = 0)
ORDER BY race_id
"""

LEDGER = """
INSERT INTO ra_collection_ledger (race_date, status, races, runners, attempts, last_error, started_at,
                                  finished_at, updated_at)
SELECT d, s, CASE WHEN s = 'complete' THEN :per_day ELSE 0 END, CASE WHEN s = 'complete' THEN :per_day * 12 ELSE 0 END,
       CASE WHEN s = 'failed' THEN 6 ELSE 1 END, CASE WHEN s IN ('failed', 'unavailable') THEN 'HTTP 422' END,
       d + interval '1 day 1 hour', d + interval '1 day 1 hour 2 seconds', d + interval '1 day 1 hour 2 seconds'
FROM generate_series(date '2015-01-01', CAST(:today AS date) - 1, interval '1 day') AS g(day)
CROSS JOIN LATERAL (SELECT CAST(day AS date) AS d) AS dd
CROSS JOIN LATERAL (SELECT CASE WHEN d < CAST(:first_result AS date) THEN
                                    (ARRAY['unavailable','unavailable','pending'])[1 + (d - date '2015-01-01') % 3]
                                WHEN to_char(d, 'MM-DD') IN ('12-24', '12-25') THEN 'empty'
                                WHEN (hashint8(d - date '2000-01-01') & 2147483647) % 200 = 0 THEN 'failed'
                                ELSE 'complete' END AS s) AS st
"""


def timed(function, repeats=3):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


class StatementTimer:
    """Wall time of every SQL statement the engine runs while `active`, by statement text."""

    def __init__(self, engine):
        from sqlalchemy import event
        self.active = False
        self.seen: dict[str, list] = {}
        self.times: dict[str, float] = defaultdict(float)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            self.times[statement] += time.perf_counter() - conn.info.pop("bench_started")
            self.seen.setdefault(statement, parameters)


def label(statement: str) -> str:
    """A one-line name for a statement: its select list's start and the tables it reads."""
    flat = re.sub(r"\s+", " ", statement).strip()
    tables = sorted(set(re.findall(r"FROM (ra_\w+)", flat)))
    return f"{flat[:90]}{'...' if len(flat) > 90 else ''}  [{', '.join(tables)}]"


def explain(engine, statement: str, parameters) -> list[str]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET work_mem = '64MB'")  # as compute_statistics sets it
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        return [row[0] for row in cursor.fetchall()]
    finally:
        raw.rollback()
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in each of the two tables")
    parser.add_argument("--races-per-day", type=int, default=60)
    parser.add_argument("--explain", type=int, nargs="?", const=3, default=0,
                        help="print EXPLAIN ANALYZE of the N slowest statements (default 3)")
    args = parser.parse_args()
    from sqlalchemy import text

    from darkhorses.core.clock import uk_date
    from darkhorses.core.settings import get_settings
    from darkhorses.db import get_engine, session_scope
    from darkhorses.stats import compute
    from darkhorses.stats.compute import compute_statistics

    now = datetime.now(timezone.utc)
    today = uk_date(now)
    per_day = args.races_per_day
    live_races = -(-args.rows // (RUNNERS * len(BOOKMAKERS)))
    live_days = -(-live_races // per_day)
    historical_races = -(-args.rows // RUNNERS)
    historical_days = -(-historical_races // per_day)
    first_result = today.toordinal() - historical_days
    params = {"today": today, "per_day": per_day, "courses": list(COURSES), "irish_from": IRISH_FROM,
              "live_days": live_days, "first_result": datetime.fromordinal(first_result).date()}
    with scratch_database():
        engine = get_engine()
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(FILL_LIVE), {**params, "rows": args.rows, "day_shift": 0,
                                           "bookmakers": [b.id for b in BOOKMAKERS],
                                           "names": [b.name for b in BOOKMAKERS],
                                           "types": [b.type for b in BOOKMAKERS]})
            conn.execute(text(FILL_HISTORICAL), {**params, "rows": args.rows, "day_shift": -1})
            conn.execute(text(LIVE_RACES), params)
            conn.execute(text(LEDGER), params)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            loaded = time.perf_counter() - started
            shape = conn.execute(text("""
                SELECT (SELECT count(*) FROM ra_odds_live), (SELECT count(DISTINCT race_id) FROM ra_odds_live),
                       (SELECT min(race_date) || '..' || max(race_date) FROM ra_odds_live),
                       (SELECT count(*) FROM ra_odds_historical),
                       (SELECT count(DISTINCT race_id) FROM ra_odds_historical),
                       (SELECT min(date_of_race)::date || '..' || max(date_of_race)::date FROM ra_odds_historical),
                       (SELECT count(*) FROM ra_live_races), (SELECT count(*) FROM ra_collection_ledger),
                       pg_size_pretty(pg_total_relation_size('ra_odds_live_prices')),
                       pg_size_pretty(pg_total_relation_size('ra_odds_historical'))""")).one()
        print(f"statistics benchmark (loaded in {loaded:.1f} s, VACUUM ANALYZE included)")
        print(f"  ra_odds_live        {shape[0]:>9,} rows  {shape[1]:>6,} races  {shape[2]}  {shape[8]}")
        print(f"  ra_odds_historical  {shape[3]:>9,} rows  {shape[4]:>6,} races  {shape[5]}  {shape[9]}")
        print(f"  ra_live_races {shape[6]:,} rows, ra_collection_ledger {shape[7]:,} rows")

        def floor():
            with engine.connect() as conn:
                conn.execute(text("SELECT (SELECT count(*) FROM ra_odds_live) + "
                                  "(SELECT count(*) FROM ra_odds_historical)")).scalar()

        floor_best, floor_median = timed(floor)
        def full():
            with session_scope() as session:
                compute_statistics(session, get_settings(), now)

        full_best, full_median = timed(full)
        print(f"  full statistics   best {full_best:6.2f} s  median {full_median:6.2f} s  (3 runs; target < 5 s)")
        print(f"  count(*) floor    best {floor_best:6.2f} s  median {floor_median:6.2f} s")
        print(f"  full / floor      {full_best / floor_best:.1f}x")

        timer = StatementTimer(engine)
        sections = {}
        for name in ("live_statistics", "historical_statistics", "collection_health"):
            def section(name=name):
                with session_scope() as session:
                    session.execute(text("SET LOCAL work_mem = '64MB'"))  # as compute_statistics does
                    extra = (get_settings().live_lease_grace,) if name == "collection_health" else ()
                    getattr(compute, name)(session, now, *extra)
            timer.active = True
            sections[name] = timed(section, repeats=2)
            timer.active = False
        slowest = max(sections, key=lambda n: sections[n][0])
        print("  by section (best of 2, own session, work_mem 64MB as in compute_statistics):")
        for name, (best, _) in sections.items():
            print(f"    {name:<22} {best:6.2f} s{'   <- slowest' if name == slowest else ''}")
        total = sum(timer.times.values())
        ranked = sorted(timer.times.items(), key=lambda item: -item[1])
        print(f"  slowest statements (summed over the 2 runs of every section, {total:.2f} s in all):")
        for statement, seconds in ranked[:6]:
            print(f"    {seconds / 2:6.2f} s per run  {100 * seconds / total:4.0f}%  {label(statement)}")
        for statement, _ in ranked[:args.explain]:
            print(f"\n  EXPLAIN ANALYZE of: {label(statement)}")
            for line in explain(engine, statement, timer.seen[statement]):
                print("    " + line)
        print(f"\n  peak RSS {peak_rss_mb():.0f} MB")
        print(f"  {'PASS' if full_best < 5 else 'FAIL'}: full statistics best {full_best:.2f} s "
              f"(target < 5 s; {full_best / floor_best:.1f}x the count(*) floor)")


if __name__ == "__main__":
    main()
