"""Every worker's heartbeat, and the guards that ride along with it (a worker bootstep).

`WorkerHeartbeat` starts with the worker (`celery worker`, and the embedded `run` mode):
a Beacon (darkhorses/core/heartbeat.py) writes `darkhorses:heartbeat:worker:<node name>`
and HEARTBEAT_DIR/worker-<node name>.json every HEARTBEAT_SECONDS. Task modules add guards
with `guard(queue, action)`: each runs every HEARTBEAT_SECONDS in its own thread, in
workers that consume `queue` (the live loop's guard, darkhorses/tasks/live.py).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from celery import bootsteps

from ..core.heartbeat import Beacon, Every
from ..core.settings import get_settings
from ..core.store import store_for

log = logging.getLogger(__name__)

_guards: list[tuple[str, str, Callable[[], object]]] = []


def guard(queue: str, name: str, action: Callable[[], object]) -> None:
    """Run `action` every HEARTBEAT_SECONDS in each worker that consumes `queue`."""
    if all(existing != name for _, existing, _ in _guards):
        _guards.append((queue, name, action))


def _consumes(worker, queue: str) -> bool:
    queues = getattr(getattr(worker, "app", None), "amqp", None)
    consumed = queues.queues.consume_from if queues and queues.queues.consume_from else {}
    return not consumed or queue in consumed


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's beacon and guards: started with the worker, stopped with it."""
    label = "darkhorses heartbeat"

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.beacon: Beacon | None = None
        self.running: list[Every] = []

    def start(self, parent) -> None:
        settings = get_settings()
        self.beacon = Beacon("worker", parent.hostname, lambda: store_for(get_settings()),
                             interval=settings.heartbeat_seconds, directory=settings.heartbeat_dir)
        self.beacon.start()
        for queue, name, action in _guards:
            if _consumes(parent, queue):
                every = Every(settings.heartbeat_seconds, action, name=name)
                every.start()
                self.running.append(every)
        log.info("heartbeat every %.0fs as %s (guards: %s)", settings.heartbeat_seconds, parent.hostname,
                 ", ".join(e.name for e in self.running) or "none")

    def stop(self, parent) -> None:
        for every in self.running:
            every.stop()
        self.running.clear()
        if self.beacon is not None:
            self.beacon.stop()
