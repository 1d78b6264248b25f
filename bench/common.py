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
def scratch_database(keep_as: str | None = None):
    """tests.support's scratch database, migrated to head and set as DATABASE_URL; dropped
    afterwards, or with `keep_as` renamed to that name and left on the server."""
    from darkhorses.core.settings import reset_settings
    from darkhorses.db.migrations import upgrade
    if keep_as:
        refuse_existing(keep_as)
    with support.scratch_database("darkhorses_bench", ADMIN_URL, missing=_end_run) as url:
        os.environ["DATABASE_URL"] = url
        reset_settings()
        upgrade(url)
        yield url
        if keep_as:
            _rename(url.rsplit("/", 1)[1], keep_as)


def _admin():
    from sqlalchemy import create_engine
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def refuse_existing(name: str) -> None:
    """Ends the run before any work when `name` is taken: a kept database never replaces one."""
    from sqlalchemy import text
    admin = _admin()
    try:
        with admin.connect() as conn:
            taken = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server ends the run in one line
        _end_run("PostgreSQL", exc)
    finally:
        admin.dispose()
    if taken:
        raise SystemExit(f"database {name!r} already exists: drop it or choose another --keep-db name")


def _rename(current: str, name: str) -> None:
    from sqlalchemy import text

    from darkhorses import db
    db.dispose_engines()
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :current "
                          "AND pid <> pg_backend_pid()"), {"current": current})
        conn.execute(text(f'ALTER DATABASE "{current}" RENAME TO "{name}"'))
    admin.dispose()
    print(f"kept the database as {name!r} on {ADMIN_URL.rsplit('/', 1)[0].rsplit('@', 1)[-1]}", flush=True)


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
