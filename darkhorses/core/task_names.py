"""Every task's registered name and its queue, in one place.

The tasks register under these names; beat's schedule and the routes (celeryconfig.py), the
embedded run, the CLI and the tests refer to them here, so a rename cannot leave a copy behind.
The names themselves are part of the public contract (Flower, `celery call`, ra_task_status).
"""
LIVE_POLL = "darkhorses.live.poll"
LIVE_WATCHDOG = "darkhorses.live.watchdog"
HISTORICAL_COLLECT_DAY = "darkhorses.historical.collect_day"
HISTORICAL_BACKFILL = "darkhorses.historical.backfill"
HISTORICAL_DAILY = "darkhorses.historical.daily"
HISTORICAL_RESUME = "darkhorses.historical.resume"
STATS_UPDATE = "darkhorses.stats.update"
MAINTENANCE_PARTITIONS = "darkhorses.maintenance.partitions"
OPS_ALERTS = "darkhorses.ops.alerts"

LIVE_QUEUE, HISTORICAL_QUEUE, STATS_QUEUE = "live", "historical", "stats"
QUEUES = (LIVE_QUEUE, HISTORICAL_QUEUE, STATS_QUEUE)

# Each task runs on the queue named by its middle part (darkhorses.<queue>.<task>);
# maintenance and ops share `stats`.
ROUTES = {
    "darkhorses.live.*": {"queue": LIVE_QUEUE},
    "darkhorses.historical.*": {"queue": HISTORICAL_QUEUE},
    "darkhorses.stats.*": {"queue": STATS_QUEUE},
    "darkhorses.maintenance.*": {"queue": STATS_QUEUE},
    # Alerts are a few cheap queries a minute: no worker of their own.
    "darkhorses.ops.*": {"queue": STATS_QUEUE},
}
ALL = (LIVE_POLL, LIVE_WATCHDOG, HISTORICAL_COLLECT_DAY, HISTORICAL_BACKFILL, HISTORICAL_DAILY, HISTORICAL_RESUME,
       STATS_UPDATE, MAINTENANCE_PARTITIONS, OPS_ALERTS)
