"""Celery configuration, read by `darkhorses.tasks.app` (lowercase new-style names).

Values that vary per deployment come from darkhorses.core.settings (the environment / .env).
"""
import sys

from celery.schedules import crontab
from kombu import Queue

from darkhorses.core import task_names
from darkhorses.core.settings import SettingsError, get_settings

try:
    _settings = get_settings()
except SettingsError as exc:  # one line for the deploy log, not a traceback
    sys.exit(f"configuration error: {exc}")

broker_url = _settings.broker_url or "redis://127.0.0.1:6379/0"
result_backend = _settings.result_backend or (broker_url if _settings.uses_redis else None)
broker_connection_retry_on_startup = True
# A Redis restart or outage: the worker reconnects for as long as it takes (kombu's backoff,
# up to a few seconds between tries) instead of exiting after 100 tries. The live loop's
# guard revives the loop once Redis is back (darkhorses/tasks/live.py).
broker_connection_retry = True
broker_connection_max_retries = None
# ... trying every 2 s at most (Celery's own backoff grows to 30 s): darkhorses/tasks/consumer.py
worker_consumer = "darkhorses.tasks.consumer:QuickReconnectConsumer"
# Redis re-delivers an unacked message (its worker died) after this long. It exceeds the
# longest countdown (the live loop sleeps up to 15 minutes) so ETA messages run once; a
# stalled backfill is resumed sooner by darkhorses.historical.resume.
broker_transport_options = {"visibility_timeout": 1800}
result_expires = 7 * 24 * 3600

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

enable_utc = True
timezone = "Europe/London"  # beat's crontab is in UK time

task_queues = tuple(Queue(name, routing_key=name) for name in task_names.QUEUES)
task_default_queue = task_names.HISTORICAL_QUEUE
task_routes = task_names.ROUTES

# Every task is idempotent, so a message is acknowledged only after the work is done:
# a killed worker's task is redelivered instead of lost.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_track_started = True

# Flower reads these events.
worker_send_task_events = True
task_send_sent_event = True

worker_hijack_root_logger = False

# Periodic tasks. Each carries an `expires` shorter than its period so a backlog (a worker
# down for an hour) never turns into a burst of stale runs. The daily job may run twice or
# be skipped (DST, deploys): it collects every unsettled day of its window, idempotently.
beat_schedule = {
    "live-watchdog": {
        "task": task_names.LIVE_WATCHDOG,
        "schedule": _settings.live_watchdog_seconds,
        "options": {"expires": max(1.0, _settings.live_watchdog_seconds - 10)},
    },
    "historical-daily": {
        "task": task_names.HISTORICAL_DAILY,
        "schedule": crontab(hour=1, minute=0),
        "options": {"expires": 6 * 3600},
    },
    "historical-resume": {
        "task": task_names.HISTORICAL_RESUME,
        "schedule": _settings.historical_resume_seconds,
        "options": {"expires": max(1.0, _settings.historical_resume_seconds - 10)},
    },
    "ops-alerts": {
        "task": task_names.OPS_ALERTS,
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Next months' history partitions exist long before rows arrive; retention drops old ones.
    "maintenance-partitions": {
        "task": task_names.MAINTENANCE_PARTITIONS,
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 6 * 3600},
    },
    "stats-update": {
        "task": task_names.STATS_UPDATE,
        "schedule": 600.0,
        "options": {"expires": 540},
    },
}
