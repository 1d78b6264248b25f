"""The service's own numbers for Prometheus, read from the database and Redis at each scrape.

`python -m darkhorses metrics` serves them (prometheus_client's HTTP exporter). Nothing is
kept in the exporter: every figure comes from what the workers recorded (ra_odds_statistics,
ra_run_records, ra_task_status, the ledger, the live loop's lease and heartbeat, the API call
counts and the queues in Redis), so one exporter serves any number of workers and a restart
loses nothing. Labels stay few: endpoint, outcome, queue, task name and ledger status.
Each query is a few rows through an index, so a scrape costs milliseconds on years of data
(bench/metrics.py). Task runtimes and failures per worker: Flower's /metrics (docs/monitoring.md).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core import task_names
from ..core.clock import UK, uk_date
from ..core.settings import Settings
from ..db import session_scope
from ..live import lease
from ..models import BackfillRequest, CollectionLedger, LiveFetch, RunRecord, TaskStatus
from ..racing_api.counters import CallCounter
from .alerts import uncaptured_races

log = logging.getLogger(__name__)
PREFIX = "darkhorses"
# kombu's Redis transport keeps a queue's messages of priority 3, 6 and 9 in lists of their own.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED_KEY = "unacked"  # kombu: messages a worker holds (running, or waiting for their countdown)


def _gauge(name: str, documentation: str, value: float | None, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))
    if value is not None:
        family.add_metric(list(labels.values()), value)
    return family


def _today_start(now: datetime) -> datetime:
    """Midnight of the UK day of `now`, as a UTC moment."""
    return datetime.combine(uk_date(now), datetime.min.time(), tzinfo=UK).astimezone(timezone.utc)


def database_metrics(session: Session, settings: Settings, now: datetime) -> Iterator[Metric]:
    last = session.execute(select(LiveFetch.fetch_timestamp, LiveFetch.total_odds_fetched, LiveFetch.races_count,
                                  LiveFetch.errors_count, LiveFetch.fetch_duration_ms, LiveFetch.detail)
                           .order_by(LiveFetch.fetch_timestamp.desc()).limit(1)).first()
    yield _gauge("live_last_cycle_age_seconds", "Seconds since the last recorded live cycle started",
                 (now - last.fetch_timestamp).total_seconds() if last else None)
    yield _gauge("live_last_cycle_prices", "Prices the last live cycle read", last.total_odds_fetched if last else None)
    yield _gauge("live_last_cycle_races", "Races the last live cycle read", last.races_count if last else None)
    yield _gauge("live_last_cycle_errors", "Races and runners the last live cycle skipped as malformed",
                 last.errors_count if last else None)
    yield _gauge("live_last_cycle_duration_seconds", "How long the last live cycle took",
                 (last.fetch_duration_ms or 0) / 1000 if last else None)
    overdue = None
    if last is not None:
        due = last.fetch_timestamp + timedelta(seconds=float((last.detail or {}).get("next_poll_seconds") or 0))
        overdue = max(0.0, (now - due).total_seconds())
    yield _gauge("live_poll_overdue_seconds", "How late the live loop is: seconds past the poll its last "
                 "cycle announced (0 while on time)", overdue)
    today = session.execute(select(func.count(), func.coalesce(func.sum(LiveFetch.prices_changed), 0))
                            .where(LiveFetch.fetch_timestamp >= _today_start(now))).one()
    yield _gauge("live_cycles_today", "Live cycles recorded since midnight (UK)", today[0])
    yield _gauge("live_prices_captured_today", "Price rows written since midnight (UK): new or changed prices",
                 today[1])
    yield _gauge("races_missed_today", "Today's races that went off while the loop ran but were never captured",
                 len(uncaptured_races(session, settings, now)))

    ledger = GaugeMetricFamily(f"{PREFIX}_historical_dates", "Dates in the historical ledger by status",
                               labels=["status"])
    for status, count in session.execute(select(CollectionLedger.status, func.count())
                                         .group_by(CollectionLedger.status)):
        ledger.add_metric([status], count)
    yield ledger
    running = session.execute(select(func.count(), func.coalesce(func.sum(BackfillRequest.total), 0),
                                     func.coalesce(func.sum(BackfillRequest.done), 0))
                              .where(BackfillRequest.status == "running")).one()
    yield _gauge("backfills_running", "Backfill requests not yet complete", running[0])
    yield _gauge("backfill_dates_remaining", "Dates the running backfills have still to settle",
                 running[1] - running[2])

    stats_at = session.execute(select(func.max(RunRecord.started_at)).where(RunRecord.kind == "stats")).scalar()
    yield _gauge("statistics_age_seconds", "Seconds since the statistics were last computed",
                 (now - stats_at).total_seconds() if stats_at else None)

    runs = CounterMetricFamily(f"{PREFIX}_task_runs", "Recorded runs per task", labels=["task"])
    failures = CounterMetricFamily(f"{PREFIX}_task_failures", "Recorded failures per task", labels=["task"])
    success_age = GaugeMetricFamily(f"{PREFIX}_task_last_success_age_seconds",
                                    "Seconds since each task last succeeded", labels=["task"])
    for task in session.execute(select(TaskStatus)).scalars():
        if task.task_name not in task_names.ALL:
            continue
        runs.add_metric([task.task_name], task.runs or 0)
        failures.add_metric([task.task_name], task.failures or 0)
        if task.last_success_at:
            success_age.add_metric([task.task_name], (now - task.last_success_at).total_seconds())
    yield from (runs, failures, success_age)


def redis_metrics(client, counter: CallCounter) -> Iterator[Metric]:
    """The loop's lease, the API call counts and the queue lengths (`client`: a redis.Redis)."""
    yield _gauge("live_loop_running", "1 while a live loop holds the lease", 1 if client.exists(lease.LEASE_KEY) else 0)
    calls = CounterMetricFamily(f"{PREFIX}_api_requests", "Requests to The Racing API by endpoint and outcome "
                                "(ok, 429, 4xx, 5xx, error)", labels=["endpoint", "outcome"])
    for (endpoint, outcome), count in sorted(counter.counts().items()):
        calls.add_metric([endpoint, outcome], count)
    yield calls
    pipe = client.pipeline(transaction=False)
    for queue in task_names.QUEUES:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    pipe.hlen(UNACKED_KEY)
    lengths = pipe.execute()
    queued = GaugeMetricFamily(f"{PREFIX}_queue_length", "Messages waiting in each queue", labels=["queue"])
    for index, queue in enumerate(task_names.QUEUES):
        step = len(PRIORITY_SUFFIXES)
        queued.add_metric([queue], sum(lengths[index * step:(index + 1) * step]))
    yield queued
    yield _gauge("messages_reserved", "Messages workers hold unacknowledged (running, or waiting for their "
                 "countdown)", lengths[-1])


class ServiceCollector(Collector):
    """Reads the database and Redis at each scrape; a source that cannot be reached shows as
    darkhorses_up{source=...} 0, and the other's figures are still served."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._redis = None
        self._counter = None
        if settings.uses_redis and settings.broker_url:
            import redis
            self._redis = redis.Redis.from_url(settings.broker_url, socket_timeout=2, socket_connect_timeout=2,
                                               decode_responses=True)
            self._counter = CallCounter(settings.broker_url)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        now = datetime.now(timezone.utc)
        up = GaugeMetricFamily(f"{PREFIX}_up", "1 when the source answered this scrape", labels=["source"])
        try:
            with session_scope() as session:
                families = list(database_metrics(session, self.settings, now))
            up.add_metric(["database"], 1)
            yield from families
        except Exception as exc:  # noqa: BLE001 - a scrape reports the failure, never raises it
            log.warning("metrics: database not read: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        if self._redis is not None and self._counter is not None:
            try:
                families = list(redis_metrics(self._redis, self._counter))
                up.add_metric(["redis"], 1)
                yield from families
            except Exception as exc:  # noqa: BLE001
                log.warning("metrics: Redis not read: %s", type(exc).__name__)
                up.add_metric(["redis"], 0)
        yield up
        yield _gauge("scrape_duration_seconds", "How long this exporter took to read its sources",
                     time.perf_counter() - started)


def registry_for(settings: Settings):
    """A registry holding only the service's collector (and the exporter's own process figures)."""
    from prometheus_client import CollectorRegistry, ProcessCollector
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(settings))
    ProcessCollector(registry=registry)
    return registry


def serve(settings: Settings, port: int, host: str = "0.0.0.0"):
    """Start the exporter in a background thread; returns (server, thread)."""
    from prometheus_client import start_http_server
    return start_http_server(port, addr=host, registry=registry_for(settings))
