"""Engines and the one session scope.

PostgreSQL in production; SQLite only for the no-infrastructure `run` mode.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import Session, sessionmaker

from ..core.settings import get_settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the stats task read while the live loop writes (threads share the file).
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
        return engine
    # pre_ping: a worker outlives PostgreSQL restarts; a dead pooled connection is replaced.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def dispose_engines() -> None:
    """Drop pooled connections (after a fork, or when tests switch databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE matched. Session.execute returns a CursorResult for
    them, but SQLAlchemy's types say the plain Result, which has no rowcount."""
    return cast(CursorResult[Any], result).rowcount


def driver_cursor(session: Session) -> Any:
    """A cursor of the driver itself (psycopg2) on the session's connection, for COPY and for
    reads that skip SQLAlchemy's per-value result processing. psycopg2 ships no types."""
    connection = session.connection().connection.dbapi_connection
    if connection is None:  # only once SQLAlchemy has invalidated the connection
        raise RuntimeError("the session's database connection was invalidated")
    return connection.cursor()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = sessionmaker(bind=get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
