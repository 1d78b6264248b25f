"""What the worker and beat start for their monitoring: beat's heartbeat and error tracking.

Beat's heartbeat, beside the workers' (darkhorses/tasks/heartbeat.py), is what `health --beat`
reads. A Beacon (darkhorses/core/heartbeat.py) in beat's process writes `darkhorses:heartbeat:beat:<node>`
and HEARTBEAT_DIR/beat-<node>.json every HEARTBEAT_SECONDS; a frozen (SIGSTOPped) beat stops
writing, and the probe reports it within three beats. Error tracking (darkhorses/ops/errors.py) starts
in both when SENTRY_DSN is set.
"""
from __future__ import annotations

import logging
import socket

from celery import signals

from ..core.heartbeat import Beacon
from ..core.settings import get_settings
from ..core.store import store_for

log = logging.getLogger(__name__)
_beacons: list[Beacon] = []


def beat_node() -> str:
    return f"beat@{socket.gethostname()}"


@signals.beat_init.connect
def _start_beat_heartbeat(**_) -> None:
    settings = get_settings()
    try:
        beacon = Beacon("beat", beat_node(), lambda: store_for(get_settings()), interval=settings.heartbeat_seconds,
                        directory=settings.heartbeat_dir, names_process=False)
        beacon.start()
    except Exception:  # a probe's input; beat schedules the service either way
        log.warning("beat heartbeat not started", exc_info=True)
        return
    _beacons.append(beacon)
    log.info("beat heartbeat every %.0fs as %s", settings.heartbeat_seconds, beat_node())


@signals.celeryd_init.connect
def _worker_error_tracking(**_) -> None:
    from ..ops import errors
    errors.start(get_settings(), "worker")


@signals.beat_init.connect
def _beat_error_tracking(**_) -> None:
    from ..ops import errors
    errors.start(get_settings(), "beat")
