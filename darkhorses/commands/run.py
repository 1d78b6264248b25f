"""`python -m darkhorses run`: the whole service in one process, no infrastructure needed.

The same tasks and code paths as production: a Celery worker (threads pool) and beat's
embedded scheduler on an in-process broker (or on CELERY_BROKER_URL when set), SQLite
under var/ unless DATABASE_URL is set, and the bundled simulator unless Racing API
credentials are set.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..core import task_names
from ..core.settings import get_settings, mask_url, reset_settings

log = logging.getLogger("darkhorses.run")
STOP_TIMEOUT = 10.0


def _configure_logging(level: str, log_format: str) -> None:
    from ..core.logformat import formatter as make_formatter
    Path("logs").mkdir(exist_ok=True)
    formatter = make_formatter(log_format, "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    if log_format == "json":
        logging.captureWarnings(True)
    root = logging.getLogger()
    root.handlers.clear()
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler("logs/workers.log")):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # Celery's per-task lines would drown the one line per cycle that people read.
    for noisy in ("celery", "kombu", "amqp", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _start_simulator_if_needed():
    if get_settings().has_credentials:
        return None
    from ..simulator import Simulator, serve
    server, url = serve(Simulator(seed=1), host="127.0.0.1", port=0)
    os.environ.update(RACING_API_URL=url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                      DARKHORSES_SIMULATOR="1")
    notice = f"No Racing API credentials set: using the bundled SIMULATOR at {url} (fake data, for trying things out)"
    if get_settings().log_format == "json":
        log.warning(notice)
    else:
        print(notice, flush=True)
    return server


def run(duration: float | None = None) -> int:
    _configure_logging(get_settings().log_level, get_settings().log_format)
    simulator = _start_simulator_if_needed()
    if not os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
        os.environ.setdefault("CELERY_RESULT_BACKEND", "cache+memory://")
    reset_settings()
    settings = get_settings()
    from ..ops import errors
    errors.start(settings, "run")

    from ..db.migrations import upgrade
    upgrade(settings.database_url)
    log.info("database %s migrated; broker %s", mask_url(settings.database_url), mask_url(settings.broker_url))

    from celery.beat import EmbeddedService

    from ..tasks.app import app
    app.loader.import_default_modules()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    worker = app.WorkController(pool_cls="threads", concurrency=4, queues=list(task_names.QUEUES),
                                hostname=f"darkhorses-run-{os.getpid()}@localhost", without_gossip=True,
                                without_mingle=True, without_heartbeat=True)
    Path("var").mkdir(exist_ok=True)
    beat = EmbeddedService(app, thread=True, schedule_filename="var/celerybeat-schedule")
    worker_thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    worker_thread.start()
    beat.start()

    # So a newcomer sees every part within the first minute: yesterday's results, statistics.
    from ..core.clock import uk_date
    yesterday = uk_date(datetime.now(timezone.utc)) - timedelta(days=1)
    app.send_task(task_names.LIVE_POLL)
    app.send_task(task_names.HISTORICAL_COLLECT_DAY, args=[yesterday.isoformat()])
    app.send_task(task_names.STATS_UPDATE, countdown=20)
    log.info("running: worker (threads) + beat%s; Ctrl-C to stop",
             f" for {duration:.0f}s" if duration else "")

    stop.wait(duration)
    log.info("stopping: finishing the tasks in progress")
    started = time.monotonic()
    beat.stop()
    worker.stop(in_sighandler=False)
    worker_thread.join(STOP_TIMEOUT)
    if simulator is not None:
        simulator.shutdown()
    log.info("stopped cleanly in %.1fs", time.monotonic() - started)
    return 0
