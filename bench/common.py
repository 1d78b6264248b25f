"""Shared set-up for the benchmarks: the tests' scratch PostgreSQL database, migrated."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import NoReturn

from tests import support

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", support.PG_ADMIN_URL)


def _end_run(what: str, exc: Exception) -> NoReturn:
    """Without its PostgreSQL a benchmark ends with one line (exit status 1), not a traceback."""
    from darkhorses.core.settings import mask_url
    reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
    raise SystemExit(f"{what} is not reachable at {mask_url(ADMIN_URL)} (BENCH_PG_ADMIN_URL): {reason}")


@contextmanager
def scratch_database():
    """tests.support's scratch database, migrated to head and set as DATABASE_URL; dropped afterwards."""
    from darkhorses.core.settings import reset_settings
    from darkhorses.db.migrations import upgrade
    with support.scratch_database("darkhorses_bench", ADMIN_URL, missing=_end_run) as url:
        os.environ["DATABASE_URL"] = url
        reset_settings()
        upgrade(url)
        yield url


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
