"""Benchmark: a backfill through two worker processes under the results rate limit.

    .venv/bin/python bench/backfill.py [--days 60] [--limit 5]

Serves the simulator in this process (its own limit set high, so the client-side limit
shared in Redis is what is measured), starts two `celery worker -Q historical` processes
on Redis db 13, backfills DAYS past days and reads the simulator's request log.
Targets: achieved rate >= 0.9 x the limit, and no one-second window above the limit.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from common import scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import celery_worker, service_env, wait_for  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"


def max_in_any_window(times, window=1.0):
    times, best, start = sorted(times), 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--limit", type=float, default=5.0)
    args = parser.parse_args()
    import redis
    from celery import Celery
    from sqlalchemy import text

    from darkhorses.db import get_engine
    from darkhorses.simulator import Simulator, serve

    redis.Redis.from_url(REDIS_URL).flushdb()
    sim = Simulator(seed=21, rate_limits={"results": 100})
    server, url = serve(sim)
    last = date.today() - timedelta(days=30)
    first = last - timedelta(days=args.days - 1)
    log_dir = Path("bench/out")
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        with scratch_database() as database_url:
            env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL,
                              RACING_API_URL=url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                              RACING_API_RATE_RESULTS=args.limit)
            # prefork, 2 processes each: four concurrent collectors share one limit in Redis
            with celery_worker(env, queues="historical", pool="prefork", concurrency=2, name=f"a{uuid.uuid4().hex[:4]}",
                               log_path=log_dir / "worker-a.log"), \
                    celery_worker(env, queues="historical", pool="prefork", concurrency=2,
                                  name=f"b{uuid.uuid4().hex[:4]}", log_path=log_dir / "worker-b.log"):
                client = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
                started = time.monotonic()
                result = client.send_task("darkhorses.historical.backfill",
                                          args=[first.isoformat(), last.isoformat()], queue="historical")
                wait_for(lambda: result.state == "SUCCESS", timeout=600, interval=0.5, message="the backfill")
                wall = time.monotonic() - started
                with get_engine().connect() as conn:
                    rows = conn.execute(text("SELECT count(*) FROM ra_odds_historical")).scalar()
                    settled = conn.execute(text("SELECT count(*) FROM ra_collection_ledger "
                                                "WHERE status IN ('complete', 'empty')")).scalar()
    finally:
        server.shutdown()
    stamps = [t for t, endpoint, _ in sim.request_log if endpoint == "results"]
    rate = (len(stamps) - 1) / (max(stamps) - min(stamps))
    peak = max_in_any_window(stamps)
    print(f"backfill benchmark: {args.days} days, 2 worker processes x 2, results limit {args.limit:g}/s")
    print(f"  requests            {len(stamps)} results requests, {settled}/{args.days} dates settled")
    print(f"  achieved rate       {rate:.2f} req/s = {rate / args.limit:.2f} x the limit (target >= 0.9)")
    print(f"  busiest 1 s window  {peak} requests (must not exceed {args.limit:g})")
    print(f"  rows written        {rows:,} in {wall:.1f} s = {rows / wall:,.0f} rows/s")
    print(f"  days per minute     {args.days / wall * 60:.1f}")
    ok = rate / args.limit >= 0.9 and peak <= args.limit and settled == args.days
    print("  PASS" if ok else "  FAIL")


if __name__ == "__main__":
    main()
