"""LOG_FORMAT: plain text (the default) or one JSON object per line, for log platforms.

JSON lines carry `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
where there is one `task` and `task_id` (the Celery task being run by this thread) and
`race_id` (given with `extra={"race_id": ...}`, or the first Racing API race id in the
message). A traceback goes in `exception` as one string, so a line is always one object.
Wired for the CLI (`configure`), the Celery worker and beat (darkhorses/tasks/app.py, on
Celery's logging signals) and the embedded `run`.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The Racing API's race ids (rac_12345678); the simulator's follow the same pattern.
RACE_ID = re.compile(r"\brac_\d+\b")


def _current_task() -> tuple[str | None, str | None]:
    """(task name, task id) of the Celery task this thread runs, if any."""
    if "celery" not in sys.modules:  # a command that never imported Celery runs no task
        return None, None
    from celery import current_task
    task = current_task._get_current_object() if current_task else None
    request = getattr(task, "request", None)
    if task is None or request is None or getattr(request, "id", None) is None:
        return None, None
    return task.name, request.id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        task_name, task_id = getattr(record, "task_name", None), getattr(record, "task_id", None)
        if not task_id:
            task_name, task_id = _current_task()
        if task_id:
            line["task"], line["task_id"] = task_name, task_id
        race_id = getattr(record, "race_id", None)
        if race_id is None:
            found = RACE_ID.search(message)
            race_id = found.group(0) if found else None
        if race_id:
            line["race_id"] = race_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def formatter(log_format: str, text_format: str = TEXT_FORMAT, datefmt: str | None = None) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(text_format, datefmt)


def apply(logger: logging.Logger, log_format: str) -> None:
    """Switch every handler of `logger` to JSON lines (nothing to do for text)."""
    if log_format != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
    # Python's warnings go through logging too, or they would print raw lines to stderr.
    logging.captureWarnings(True)


def configure(level: str, log_format: str, text_format: str = TEXT_FORMAT) -> None:
    """The CLI's logging: one stderr handler on the root logger, in the chosen format. Like
    logging.basicConfig, nothing changes when the root logger has handlers already (a host
    that set up logging, such as a test runner, keeps its own)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format, text_format))
    root.addHandler(handler)
    root.setLevel(level)
    if log_format == "json":
        logging.captureWarnings(True)
