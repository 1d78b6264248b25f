"""Benchmark: one Prometheus scrape of `python -m darkhorses metrics` on a year of data.

    .venv/bin/python -m bench.metrics [--days 365] [--price-days 30] [--scrapes 40]

The exporter reads only the service's own records, so those are built for DAYS days with SQL
alone (INSERT ... SELECT FROM generate_series): ra_odds_statistics at the live loop's real
cadence (every 10 s through the afternoon's racing, every 60 s around it, every 15 minutes
overnight: ~2,500 cycles a day, ~900,000 a year, each with its detail JSON), ra_run_records
(statistics every 10 minutes, one historical run a day), ra_collection_ledger and ra_task_status.
The price and result tables, which no scrape reads,
are loaded with bench/year.py's day for PRICE_DAYS days (default 30: a year of them takes
minutes to build and changes no query the exporter runs; --price-days 365 to load them all).
Redis: a redis-server of its own with the queues holding a few messages (skipped when the
binary is missing).

Prints the scrape time over HTTP (p50, p95, max of SCRAPES), the same on an empty database in
the same run (the floor: HTTP, the process collector, the Redis round trip), their ratio, and
the slowest family of samples. Target: p50 < 100 ms. Last line `PASS` or `FAIL: <figures>`.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import scratch_database

TARGET_SECONDS = 0.100


def fill_records(url: str, days: int) -> dict[str, int]:
    """The exporter's sources for DAYS days up to now; returns row counts."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.begin() as conn:
        # Cycle starts, per UK-like day: 15-minute polls until 10:00, every 60 s from 10:00,
        # every 10 s from 13:00 to 19:00 (a race every 8 minutes keeps the next off within the
        # 5-minute band most of the afternoon), every 60 s to 21:00, then 15-minute polls:
        # ~2,500 cycles a day.
        conn.execute(text("""
            INSERT INTO ra_odds_statistics (fetch_timestamp, races_count, horses_count, bookmakers_found,
                total_odds_fetched, bookmaker_list, fetch_duration_ms, errors_count, created_at, prices_changed,
                detail)
            SELECT t, 60, 720, 26, 18720, ARRAY['bet365','williamhill','paddypower'], 1800 + random() * 900, 0, t,
                   (random() * 400)::int,
                   json_build_object('next_poll_seconds', step, 'history', 0, 'closed', 0, 'withdrawn', 0,
                                     'tomorrow_races', NULL, 'next_off', (t + interval '5 minutes')::text,
                                     'uncaptured_off', '[]'::json)
            FROM (
              SELECT d + make_interval(secs => s) AS t,
                     CASE WHEN s >= 46800 AND s < 68400 THEN 10 WHEN s >= 36000 AND s < 75600 THEN 60
                          ELSE 900 END AS step
              FROM generate_series(date_trunc('day', now()) - make_interval(days => :days - 1),
                                   date_trunc('day', now()), interval '1 day') AS d,
                   LATERAL (SELECT generate_series(0, 36000 - 900, 900)
                            UNION ALL SELECT generate_series(36000, 46800 - 60, 60)
                            UNION ALL SELECT generate_series(46800, 68400 - 10, 10)
                            UNION ALL SELECT generate_series(68400, 75600 - 60, 60)
                            UNION ALL SELECT generate_series(75600, 86400 - 900, 900)) AS seconds(s)
            ) AS cycles
            WHERE t <= now()"""), {"days": days})
        conn.execute(text("""
            INSERT INTO ra_run_records (kind, started_at, duration_seconds, races, runners, prices, errors, detail)
            SELECT 'stats', t, 1.5, 0, 0, 0, 0, '{}'::json
            FROM generate_series(now() - make_interval(days => :days), now() - interval '5 minutes',
                                 interval '10 minutes') AS t
            UNION ALL
            SELECT 'historical', t, 2.0, 60, 720, 0, 0, '{}'::json
            FROM generate_series(now() - make_interval(days => :days), now(), interval '1 day') AS t"""),
                     {"days": days})
        conn.execute(text("""
            INSERT INTO ra_collection_ledger (race_date, status, races, runners, attempts, updated_at)
            SELECT d::date, CASE WHEN random() < 0.01 THEN 'failed' ELSE 'complete' END, 60, 720, 1, now()
            FROM generate_series(current_date - :days, current_date - 1, interval '1 day') AS d
            ON CONFLICT (race_date) DO NOTHING"""), {"days": days})
        conn.execute(text("""
            INSERT INTO ra_task_status (task_name, last_state, last_run_at, last_success_at, last_duration_seconds,
                                        runs, failures)
            SELECT name, 'SUCCESS', now(), now(), 1.0, 1000, 3
            FROM unnest(CAST(:names AS text[])) AS name
            ON CONFLICT (task_name) DO NOTHING"""), {"names": list(_task_names())})
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in (
            "ra_odds_statistics", "ra_run_records", "ra_collection_ledger", "ra_task_status")}
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return counts


def _task_names():
    from darkhorses.core import task_names
    return task_names.ALL


def load_prices(url: str, days: int) -> None:
    """bench/year.py's day of live prices, history and results, for DAYS days back from yesterday."""
    import multiprocessing

    from bench.year import build_day, build_template, load_days, make_partitions
    from darkhorses.core.clock import uk_date
    now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        cards = pool.apply(build_day, (60, 12, now))
        template = pool.apply(build_template, (cards,))
    today = uk_date(now)
    dates = sorted(today - timedelta(days=i) for i in range(1, days + 1))
    make_partitions(dates[0], today + timedelta(days=62))
    # the ledger rows come from fill_records; year.py's loader writes its own for these dates
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ra_collection_ledger WHERE race_date >= :first"), {"first": dates[0]})
    engine.dispose()
    load_days(url, template, dates)


def scrape_times(port: int, scrapes: int) -> tuple[list[float], str]:
    url = f"http://127.0.0.1:{port}/metrics"
    urllib.request.urlopen(url, timeout=30).read()  # warm: connections opened, statements prepared
    times, body = [], ""
    for _ in range(scrapes):
        started = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        times.append(time.perf_counter() - started)
    return times, body


def measure(scrapes: int) -> tuple[list[float], str]:
    from darkhorses.core.settings import get_settings, reset_settings
    from darkhorses.ops.metrics import serve
    from tests.support import free_port
    reset_settings()
    port = free_port()
    server, _ = serve(get_settings(), port, "127.0.0.1")
    try:
        return scrape_times(port, scrapes)
    finally:
        server.shutdown()
        server.server_close()


def _figures(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"p50 {statistics.median(times) * 1000:.1f} ms  p95 {p95 * 1000:.1f} ms  "
            f"max {max(times) * 1000:.1f} ms")


def _start_redis():
    import os
    import shutil
    if not shutil.which("redis-server") and not Path("/usr/bin/redis-server").exists():
        print("redis-server not found: the scrape reads the database only")
        return None
    import redis

    from tests.support import OwnRedis
    server = OwnRedis(tempfile.mkdtemp(prefix="darkhorses_metrics_redis_"))
    server.start()
    client = redis.Redis.from_url(server.url)
    for queue, count in (("live", 1), ("historical", 500), ("stats", 2)):
        client.rpush(queue, *[b"{}"] * count)
    client.hset("darkhorses:api:calls", mapping={"racecards:ok": 120000, "racecards:429": 12, "results:ok": 9000})
    os.environ["CELERY_BROKER_URL"] = server.url
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--price-days", type=int, default=30)
    parser.add_argument("--scrapes", type=int, default=40)
    args = parser.parse_args()
    redis_server = _start_redis()
    try:
        with scratch_database():
            floor, _ = measure(args.scrapes)
        with scratch_database() as url:
            started = time.perf_counter()
            counts = fill_records(url, args.days)
            if args.price_days > 0:
                load_prices(url, min(args.price_days, args.days))
            built = time.perf_counter() - started
            times, body = measure(args.scrapes)
    finally:
        if redis_server is not None:
            redis_server.stop()
    scrape = statistics.median(times)
    served = sum(1 for line in body.splitlines() if line.startswith("darkhorses_"))
    print(f"metrics benchmark: {args.days} days of the exporter's sources ("
          + ", ".join(f"{table} {count:,}" for table, count in counts.items())
          + f"), prices and results for {min(args.price_days, args.days)} days; built in {built:.0f} s")
    print(f"scrape on {args.days} days:      {_figures(times)}  ({served} darkhorses_ samples)")
    print(f"scrape on an empty database: {_figures(floor)}")
    print(f"ratio to the empty database: {scrape / statistics.median(floor):.2f}x; target p50 < "
          f"{TARGET_SECONDS * 1000:.0f} ms")
    print("PASS" if scrape < TARGET_SECONDS else f"FAIL: p50 {scrape * 1000:.1f} ms")


if __name__ == "__main__":
    main()
