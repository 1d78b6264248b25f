"""A deadline a piece of work carries through its API calls, whatever the worker pool.

Celery enforces time limits only in the prefork pool (a signal in the child process); the live
worker runs the threads pool, where a stalled socket would hold a cycle for as long as the
client's retries allow (minutes). The Racing API client takes a Deadline: each request's
timeouts are cut to what is left, no retry waits past it, and once it has passed the client
raises DeadlinePassed, so the cycle ends, is recorded as failed and hands its lease over
while it still holds it.
"""
from __future__ import annotations

import time
from collections.abc import Callable


class DeadlinePassed(Exception):
    """The work ran out of its time; str() names what and how long it had. Not a TimeoutError
    (an OSError): the client's handlers of network errors must not take it for one to retry."""


class Deadline:
    def __init__(self, seconds: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.what = what
        self._clock = clock
        self._ends = clock() + seconds

    def remaining(self) -> float:
        return self._ends - self._clock()

    def check(self) -> None:
        """Raise DeadlinePassed when no time is left."""
        if self.remaining() <= 0:
            raise DeadlinePassed(f"{self.what}: cut after its {self.seconds:g}s deadline")

    def bound(self, seconds: float) -> float:
        """`seconds`, or the time left when that is shorter; DeadlinePassed when none is left."""
        self.check()
        return min(seconds, self.remaining())
