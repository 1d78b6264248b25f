"""Atomic file writes: readers (the read API, a browser) see the old file or the new, never half."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import overload


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it private; the readers are other processes
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


@overload
def iso(value: date | time) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: date | time | None) -> str | None: ...
def iso(value: date | time | None) -> str | None:
    """A date or time as the JSON files write it (clock times as HH:MM); anything else (None) as it is."""
    if isinstance(value, time):  # a UK clock time of an off: minutes are all it has
        return value.strftime("%H:%M")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _jsonable(value: object) -> str:
    if isinstance(value, (date, datetime, time)):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_json_atomic(path: Path, payload: object) -> None:
    """The one JSON writer for files others read (statistics, task status): dates and times
    as ISO text, clock times as HH:MM."""
    write_text_atomic(path, json.dumps(payload, default=_jsonable, indent=1))
