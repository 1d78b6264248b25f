"""Benchmark: a backfill through two worker processes under the shared results rate limit.

    .venv/bin/python -m bench.backfill [--runs 60,150] [--limit 5] [--pool prefork]

Serves the simulator in this process with its own results limit raised to 50/s, so the limit
measured is the client's (RACING_API_RATE_RESULTS=LIMIT, shared by every worker through Redis),
and starts two `celery -A darkhorses worker -Q historical -P prefork -c 2` processes on Redis
db 13 (flushed first and last) against a scratch PostgreSQL database. Prefork -c 2 is what
render.yaml and the Procfile run for the historical queue, scaled out as more instances; its
four pool processes also map results and write rows in parallel, where two threaded workers
would share two GILs on this 2-core machine.

Each run backfills a date range ending 30 days before today (the second ends where the first
began): by default 60 days, the headline, then 150 days, because 60 days is only 60 results
requests (~13 s at 5/s) and a rate is better measured over 150 (~33 s). After SUCCESS, from
`sim.request_log`, results endpoint only:
  achieved rate = requests / (last - first)     target >= 0.9 x LIMIT
  busiest 1 s sliding window of arrivals        must not exceed LIMIT
and ra_odds_historical rows/s and days/minute over the wall time from sending the task to
SUCCESS (which includes up to 5 s of the backfill's progress tick) and over the collection.

Two diagnostics say where a miss comes from. The limiter's own log (its Redis sorted set, read
every 0.1 s) gives when each slot was taken, on the Redis clock. The socket arrival is when the
request reached the simulator's socket (kernel TCP_INFO last_data_recv, ms resolution), before
this process's threads (GIL-bound, busy building results) get to stamp `request_log`.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import struct
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from bench.common import scratch_database
from darkhorses.core import task_names
from tests.support import celery_worker, max_in_any_window, service_env, wait_for

REDIS_URL = "redis://127.0.0.1:6379/13"
SIM_RESULTS_LIMIT = 50  # the simulator's own limit: far above the client's, never the bottleneck
LIMITER_KEY = "darkhorses:ratelimit:results"  # darkhorses.racing_api.ratelimit's sliding-window log in Redis
TCP_INFO_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (u32, ms) in Linux's struct tcp_info


def shortest_span(stamps: list[float], count: int) -> float | None:
    """Shortest time covering count + 1 consecutive stamps (>= 1 s when at most count per second)."""
    spans = [stamps[i + count] - stamps[i] for i in range(len(stamps) - count)]
    return min(spans) if spans else None


class SlotWatcher(threading.Thread):
    """Every slot the limiter takes, by the Redis-clock time it stamped: its log is read every
    0.1 s, and an entry stays there at least its 1.1 s window."""

    def __init__(self, url: str):
        import redis
        super().__init__(daemon=True, name="slot-watcher")
        self.redis = redis.Redis.from_url(url)
        self.slots: dict[bytes, float] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            for member, score in self.redis.zrange(LIMITER_KEY, 0, -1, withscores=True):
                self.slots[member] = score / 1000.0

    def taken(self, since: float, until: float) -> list[float]:
        return sorted(t for t in list(self.slots.values()) if since <= t <= until)


def stamp_socket_arrivals(server) -> list[float]:
    """Record, per results request, when its bytes reached the socket (kernel's clock)."""
    arrivals: list[float] = []
    base = server.RequestHandlerClass

    class Stamped(base):
        def _respond(self):
            if self.path.startswith("/v1/results"):
                try:
                    info = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                    arrivals.append(time.time() - struct.unpack_from("I", info, TCP_INFO_LAST_DATA_RECV)[0] / 1000)
                except (OSError, AttributeError, struct.error):
                    pass
            return base._respond(self)
        do_GET = _respond

    server.RequestHandlerClass = Stamped
    return arrivals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="60,150", help="days per backfill, run one after another")
    parser.add_argument("--limit", type=float, default=5.0, help="RACING_API_RATE_RESULTS for the workers")
    parser.add_argument("--pool", default="prefork", choices=("prefork", "threads"))
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    runs = [int(days) for days in args.runs.split(",")]
    import redis
    from celery import Celery
    from sqlalchemy import text

    from darkhorses.db import get_engine
    from darkhorses.racing_api.ratelimit import WINDOW_MARGIN
    from darkhorses.simulator import Simulator, serve

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    sim = Simulator(seed=args.seed, rate_limits={"results": SIM_RESULTS_LIMIT})
    answer_times: list[tuple[float, float]] = []  # (arrived, seconds to build the answer) per results request
    handle = sim.handle

    def timed_handle(method, target, headers):
        started = time.time()
        answer = handle(method, target, headers)
        if target.startswith("/v1/results"):
            answer_times.append((started, time.time() - started))
        return answer
    sim.handle = timed_handle
    server, url = serve(sim)
    socket_arrivals = stamp_socket_arrivals(server)
    watcher = SlotWatcher(REDIS_URL)
    watcher.start()
    log_dir = Path(tempfile.mkdtemp(prefix="darkhorses-bench-backfill-"))
    ranges, last = [], date.today() - timedelta(days=30)
    for days in runs:
        ranges.append((last - timedelta(days=days - 1), last))
        last -= timedelta(days=days)
    figures = []
    try:
        with scratch_database() as database_url:
            env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL,
                              RACING_API_URL=url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                              RACING_API_RATE_RESULTS=args.limit)
            tag = uuid.uuid4().hex[:4]
            with celery_worker(env, queues="historical", pool=args.pool, concurrency=2, name=f"bench-a{tag}",
                               log_path=log_dir / "worker-a.log"), \
                    celery_worker(env, queues="historical", pool=args.pool, concurrency=2, name=f"bench-b{tag}",
                                  log_path=log_dir / "worker-b.log"):
                wait_for(lambda: all("ready." in (log_dir / f"worker-{w}.log").read_text() for w in "ab"),
                         timeout=60, message="both workers to be ready")
                client = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
                engine = get_engine()
                rows_before = 0
                for (first, last), days in zip(ranges, runs, strict=True):
                    log_from = len(sim.request_log)
                    started_wall, started = time.time(), time.monotonic()
                    result = client.send_task(task_names.HISTORICAL_BACKFILL,
                                              args=[first.isoformat(), last.isoformat()], queue="historical")
                    wait_for(lambda result=result: result.state in ("SUCCESS", "FAILURE"),
                             timeout=60 + 4 * days / args.limit, interval=0.2, message=f"the {days}-day backfill")
                    wall = time.monotonic() - started
                    if result.state != "SUCCESS":
                        raise RuntimeError(f"the {days}-day backfill ended {result.state}: {result.result!r}")
                    with engine.connect() as conn:
                        rows = conn.execute(text("SELECT count(*) FROM ra_odds_historical")).scalar() - rows_before
                        rows_before += rows
                        settled, collected_until = conn.execute(text(
                            "SELECT count(*) FILTER (WHERE status IN ('complete', 'empty')), "
                            "extract(epoch FROM max(finished_at)) FROM ra_collection_ledger "
                            "WHERE race_date BETWEEN :first AND :last"), {"first": first, "last": last}).one()
                        task_seconds = conn.execute(text(
                            "SELECT avg(duration_seconds) FROM ra_run_records "
                            "WHERE kind = 'historical' AND detail->>'date' BETWEEN :a AND :b"),
                            {"a": first.isoformat(), "b": last.isoformat()}).scalar()
                    ended_wall = time.time()
                    log = sim.request_log[log_from:]
                    stamps = sorted(t for t, endpoint, _ in log if endpoint == "results")
                    figures.append(dict(
                        days=days, first=first, last=last, wall=wall, rows=rows, settled=settled,
                        stamps=stamps, refused=sum(1 for _, e, status in log if e == "results" and status == 429),
                        slots=watcher.taken(started_wall - 0.5, ended_wall),
                        sockets=sorted(t for t in list(socket_arrivals) if started_wall - 0.5 <= t <= ended_wall),
                        answers=[s for t, s in list(answer_times) if started_wall <= t <= ended_wall],
                        task_seconds=task_seconds,
                        collection=float(collected_until) - stamps[0] if stamps and collected_until else wall))
                    time.sleep(1.5)  # let the limiter's window empty: each run starts like a fresh backfill
    finally:
        watcher.stop.set()
        watcher.join()
        server.shutdown()
        broker.flushdb()
        broker.close()

    limit = args.limit
    count = max(1, int(limit))
    window = count / limit + WINDOW_MARGIN
    ceiling = count / window
    print(f"backfill benchmark: 2 worker processes x {args.pool} -c 2 (4 collectors) on Redis db 13; results limit "
          f"{limit:g}/s on the client (shared in Redis), {SIM_RESULTS_LIMIT}/s on the simulator")
    print(f"  darkhorses.racing_api.ratelimit admits {count} per {window:.2f} s (WINDOW_MARGIN {WINDOW_MARGIN} s): "
          f"its ceiling is {ceiling:.3f}/s = {ceiling / limit:.3f} x the limit")
    verdicts = []
    for index, f in enumerate(figures):
        stamps, days, slots, sockets = f["stamps"], f["days"], f["slots"], f["sockets"]
        n = len(stamps)
        span = stamps[-1] - stamps[0] if n > 1 else float("nan")
        rate = n / span
        peak, socket_peak = max_in_any_window(stamps), max_in_any_window(sockets) if sockets else None
        role = ("headline" if len(figures) > 1 and index == 0 else "rate measurement" if index else "")
        print(f"\n  run {index + 1}: {days} days, {f['first']}..{f['last']}{f'  ({role})' if role else ''}")
        print(f"    dates settled        {f['settled']}/{days}; {n} results requests, {f['refused']} answered 429")
        print(f"    achieved rate        {rate:.3f} req/s over {span:.1f} s = {rate / limit:.3f} x the limit "
              f"[(n-1)/(last-first): {(n - 1) / span / limit:.3f} x]")
        print(f"    busiest 1 s window   {peak} requests in sim.request_log; shortest span of {count + 1} "
              f"consecutive {shortest_span(stamps, count):.3f} s")
        if sockets:
            print(f"      at the socket      {socket_peak} requests ({len(sockets)} stamped); shortest span of "
                  f"{count + 1} {shortest_span(sockets, count):.3f} s")
        if len(slots) > count:
            lags = ([1000 * (a - s) for a, s in zip(stamps, slots, strict=False)],
                    [1000 * (a - s) for a, s in zip(sockets, slots, strict=False)])
            slot_rate = len(slots) / (slots[-1] - slots[0])
            print(f"      limiter's log      {len(slots)} slots taken at {slot_rate:.3f}/s = "
                  f"{slot_rate / ceiling:.3f} x its ceiling; busiest 1 s window {max_in_any_window(slots)}; "
                  f"shortest span of {count + 1} {shortest_span(slots, count):.3f} s")
            if len(slots) == n == len(sockets):
                print(f"      slot -> socket     median {statistics.median(lags[1]):4.0f} ms, "
                      f"max {max(lags[1]):4.0f} ms; "
                      f"slot -> request_log median {statistics.median(lags[0]):4.0f} ms, max {max(lags[0]):4.0f} ms")
        if f["answers"]:
            print(f"    simulator answer     mean {1000 * statistics.mean(f['answers']):.0f} ms, "
                  f"max {1000 * max(f['answers']):.0f} ms per results request (CPU in this process)")
        if f["task_seconds"] is not None:
            print(f"    collect_day task     mean {f['task_seconds']:.2f} s (limiter wait + request + map + write)")
        print(f"    rows written         {f['rows']:,} in {f['wall']:.1f} s = {f['rows'] / f['wall']:,.0f} rows/s "
              f"(wall, send to SUCCESS); {f['rows'] / f['collection']:,.0f} rows/s over the {f['collection']:.1f} s "
              f"of collection")
        print(f"    days per minute      {days / f['wall'] * 60:.1f} (wall); {days / f['collection'] * 60:.1f} "
              f"(collection)")
        checks = [(rate / limit >= 0.9, f"achieved rate {rate / limit:.3f} x the limit >= 0.9"),
                  (peak <= limit, f"busiest 1 s window in sim.request_log {peak} <= {limit:g}")]
        if sockets:
            checks.append((socket_peak <= limit, f"busiest 1 s window at the socket {socket_peak} <= {limit:g}"))
        checks.append((f["settled"] == days, f"every date settled ({f['settled']}/{days})"))
        for passed, what in checks:
            print(f"    {'PASS' if passed else 'FAIL'}  {what}")
            verdicts.append((passed, f"run {index + 1}: {what}"))
    failed = [what for passed, what in verdicts if not passed]
    print(f"\n  overall: {'PASS' if not failed else 'FAIL: ' + '; '.join(failed)}")
    if failed:
        print(f"  worker logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
