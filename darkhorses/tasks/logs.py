"""LOG_FORMAT=json for the Celery worker and beat (darkhorses/core/logformat.py).

Celery sets up its own handlers (worker_hijack_root_logger is off, so ours are kept) and then
sends `after_setup_logger` / `after_setup_task_logger`: their handlers get the JSON formatter
there. Three things Celery prints rather than logs would break one-object-per-line, so in
JSON mode: the worker's start-up banner is turned off (`quiet`, what `celery --quiet` does) and
said in one log line instead; beat's banner the same; the worker's "Warm shutdown" line,
printed from a signal handler, is written as a JSON object.
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import datetime, timezone

from celery import signals

from ..core.logformat import apply
from ..core.settings import SettingsError, get_settings

log = logging.getLogger("darkhorses.worker")


def _json_mode() -> bool:
    try:
        return get_settings().log_format == "json"
    except SettingsError:  # celeryconfig reports it in one line
        return False


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _format_celery_logs(logger=None, **_) -> None:
    if logger is not None and _json_mode():
        apply(logger, "json")


@signals.celeryd_init.connect
def _quiet_worker_banner(sender=None, instance=None, **_) -> None:
    if instance is not None and _json_mode():
        instance.quiet = True
        # Warnings raised before Celery's logging is set up (its superuser check, next)
        # would print raw lines: written as JSON objects until logging takes them over.
        warnings.showwarning = _warning_line


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    _write_json("WARNING", "py.warnings", f"{filename}:{lineno}: {category.__name__}: {message}", file)


@signals.worker_ready.connect
def _announce_worker(sender=None, **_) -> None:
    if _json_mode():
        amqp = getattr(getattr(sender, "app", None), "amqp", None)
        queues = sorted(amqp.queues.consume_from or ()) if amqp is not None else []
        log.info("worker %s ready (queues: %s)", getattr(sender, "hostname", "?"), ", ".join(queues) or "all")


def _write_json(level: str, logger: str, message: str, file=None) -> None:
    """One JSON object written straight to the stream: no logging lock taken (signal handlers)."""
    stream = file or sys.__stderr__
    if stream is None:
        return
    try:
        stream.write(json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                                 "level": level, "logger": logger, "message": str(message)}) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _shutdown_line(message, file=None) -> None:
    """Celery's `safe_say`, from its SIGTERM/SIGINT handler."""
    _write_json("WARNING", "celery.apps.worker", message, file)


def install(app) -> None:
    """Called once with the app: beat's banner off, the shutdown line as JSON (JSON mode only)."""
    if not _json_mode():
        return
    from celery.apps import beat as beat_app
    from celery.apps import worker as worker_app

    class QuietBeat(beat_app.Beat):
        def __init__(self, *args, quiet: bool = False, **kwargs) -> None:
            super().__init__(*args, quiet=True, **kwargs)

        def setup_logging(self, colorize: bool | None = None) -> None:
            super().setup_logging(colorize)
            log.info("beat starting (schedule %s, max interval %ss)", self.schedule, self.max_interval)

    app.Beat = app.subclass_with_self(QuietBeat)
    worker_app.safe_say = _shutdown_line  # the module-level name its signal handlers call
