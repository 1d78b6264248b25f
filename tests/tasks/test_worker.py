"""A real worker on the real Redis: queues, routes, registered task names."""
import json
import subprocess
import sys
import time
from datetime import date

import pytest
import redis
from celery import Celery

from darkhorses.core import heartbeat, task_names
from darkhorses.historical.ledger import mark as mark_ledger
from darkhorses.live import lease
from darkhorses.tasks.app import app as darkhorses_app
from tests.support import REPO, celery_worker, service_env

TASK_NAMES = set(task_names.ALL)


def worker_env(database_url, redis_url, **extra):
    return service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                       RACING_API_URL="http://127.0.0.1:9", RACING_API_USERNAME="u", RACING_API_PASSWORD="p",
                       **extra)


def client_app(redis_url):
    return Celery("test-client", broker=redis_url, backend=redis_url,
                  config_source={"task_serializer": "json", "accept_content": ["json"]})


def test_every_registered_task_and_every_scheduled_task_is_named_in_one_place():
    darkhorses_app.loader.import_default_modules()
    registered = {name for name in darkhorses_app.tasks if name.startswith("darkhorses.")}
    assert registered == TASK_NAMES
    scheduled = {entry["task"] for entry in darkhorses_app.conf.beat_schedule.values()}
    assert scheduled == {"darkhorses.live.watchdog", "darkhorses.historical.daily", "darkhorses.historical.resume",
                         "darkhorses.stats.update", "darkhorses.maintenance.partitions", "darkhorses.ops.alerts"}


def test_routes_send_each_task_to_its_queue():
    router = darkhorses_app.amqp.router
    queues = {name: router.route({}, name)["queue"].name for name in TASK_NAMES}
    assert queues == {"darkhorses.live.poll": "live", "darkhorses.live.watchdog": "live",
                      "darkhorses.historical.daily": "historical", "darkhorses.historical.resume": "historical",
                      "darkhorses.historical.collect_day": "historical",
                      "darkhorses.historical.backfill": "historical", "darkhorses.stats.update": "stats",
                      "darkhorses.maintenance.partitions": "stats", "darkhorses.ops.alerts": "stats"}
    conf = darkhorses_app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late and conf.worker_prefetch_multiplier == 1 and conf.enable_utc
    assert conf.timezone == "Europe/London" and conf.worker_send_task_events


@pytest.mark.slow
def test_a_real_worker_runs_a_task_through_each_queue(database_url, redis_url, tmp_path):
    # the live loop's lease is held by a beating worker, so the watchdog answers without polling anything
    now = time.time()
    store = redis.Redis.from_url(redis_url)
    store.set(lease.LEASE_KEY, lease.Lease(loop="someloop", seq=3, phase=lease.WAITING, due=now + 600, since=now,
                                           holder="live@elsewhere", instance="i1", pid=1).encode(), ex=600)
    store.set(heartbeat.key("worker", "live@elsewhere"), json.dumps(
        {"node": "live@elsewhere", "instance": "i1", "pid": 1, "at": now + 600, "interval": 300}), ex=600)
    mark_ledger(date(2026, 1, 5), status="complete", races=3, runners=30)
    client = client_app(redis_url)
    with celery_worker(worker_env(database_url, redis_url, STATS_OUTPUT_DIR=tmp_path / "stats"),
                       log_path=tmp_path / "worker.log"):
        watchdog = client.send_task(task_names.LIVE_WATCHDOG, queue="live")
        backfill = client.send_task(task_names.HISTORICAL_BACKFILL, args=["2026-01-05", "2026-01-05"],
                                    queue="historical")
        stats = client.send_task(task_names.STATS_UPDATE, queue="stats")
        assert watchdog.get(timeout=60) == "alive"
        assert backfill.get(timeout=60)["done"] == 1
        assert stats.get(timeout=60)["live_rows"] == 0
        assert (tmp_path / "stats" / "all_stats_latest.json").exists()

        inspect = subprocess.run([sys.executable, "-m", "celery", "-A", "darkhorses", "inspect", "registered",
                                  "-t", "10"], cwd=REPO, env=worker_env(database_url, redis_url),
                                 capture_output=True, text=True, timeout=60)
        assert inspect.returncode == 0, inspect.stderr
        for name in TASK_NAMES:
            assert name in inspect.stdout


def test_production_worker_refuses_to_start_without_credentials(redis_url):
    env = service_env(CELERY_BROKER_URL=redis_url)
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "darkhorses", "worker", "-P", "solo"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refusing to start the worker: RACING_API_USERNAME and RACING_API_PASSWORD are not set" in result.stderr
