"""Shared fixtures: a fresh PostgreSQL database and a private Redis server per test run.

Under CI=true a missing PostgreSQL or Redis fails the run; elsewhere those tests skip.
"""
from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from darkhorses import db
from darkhorses.core.settings import reset_settings
from tests.support import OwnRedis, scratch_database, serve_as_racing_api, unavailable

# Unset: each run starts a redis-server of its own on a free port, so runs side by side never
# share a queue or a lease. Set it (e.g. redis://127.0.0.1:6379/11) to use a server you run.
REDIS_URL_OVERRIDE = os.environ.get("TEST_REDIS_URL")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Each test starts from known settings, never from a developer's .env or shell."""
    for name in list(os.environ):
        if name.startswith(("RACING_API_", "CELERY_", "LIVE_", "HISTORICAL_")) or name in (
                "DATABASE_URL", "STATS_OUTPUT_DIR", "FLOWER_BASIC_AUTH", "ALERT_WEBHOOK_URL"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_OUTPUT_DIR", str(tmp_path / "stats"))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield
    reset_settings()
    db.dispose_engines()


@pytest.fixture(scope="session")
def pg_database():
    """A database created for this test run, migrated to head, dropped at the end."""
    from darkhorses.db.migrations import upgrade
    with scratch_database() as url:
        upgrade(url)
        yield url


def _empty_collected_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [t for t in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            if t not in ("ra_bookmakers", "alembic_version")]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch):
    """The embedded mode's database: SQLite in the test's directory, migrated, set as DATABASE_URL."""
    from darkhorses.db.migrations import upgrade
    url = f"sqlite:///{tmp_path}/embedded.db"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings()
    return url


@pytest.fixture
def database_url(pg_database, monkeypatch):
    """The run's PostgreSQL database, emptied of collected data, set as DATABASE_URL. For tests
    whose code commits in its own sessions or runs other processes; emptied again afterwards
    so the rolled-back tests (db_session) start from an empty database too."""
    _empty_collected_tables(pg_database)
    monkeypatch.setenv("DATABASE_URL", pg_database)
    reset_settings()
    yield pg_database
    db.dispose_engines()
    _empty_collected_tables(pg_database)


@pytest.fixture
def db_session(pg_database, monkeypatch):
    """A session inside a transaction that is rolled back after the test: whatever the code
    under test writes, and commits, is gone afterwards. A commit by the code releases a
    SAVEPOINT (join_transaction_mode="create_savepoint"), never the outer transaction."""
    monkeypatch.setenv("DATABASE_URL", pg_database)
    reset_settings()
    engine = create_engine(pg_database)
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
        engine.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """The run's own Redis: a redis-server on a free port, or TEST_REDIS_URL when set."""
    if REDIS_URL_OVERRIDE:
        yield REDIS_URL_OVERRIDE
        return
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except Exception as exc:
        server.stop()
        unavailable("redis-server", exc)
    yield server.url
    server.stop()


@pytest.fixture
def redis_url(redis_server, monkeypatch):
    """The run's Redis, flushed for this test, set as broker and backend."""
    url = redis_server
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except Exception as exc:
        unavailable("Redis", exc)
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", url)
    reset_settings()
    return url


@pytest.fixture
def simulator(monkeypatch):
    """The bundled simulator on a free port (real time), set as the Racing API."""
    from darkhorses.simulator import Simulator
    sim = Simulator(seed=7)
    server = serve_as_racing_api(monkeypatch, sim)
    yield sim
    server.shutdown()
    server.server_close()


@pytest.fixture
def beating():
    """This test process beats as a worker does (darkhorses/core/heartbeat.py), so a live-loop
    lease it takes counts as held by a live worker. Ask for it after `redis_url`."""
    from darkhorses.core.heartbeat import Beacon
    from darkhorses.core.settings import get_settings
    from darkhorses.core.store import store_for
    beacon = Beacon("worker", f"test-{os.getpid()}@here", lambda: store_for(get_settings()), interval=1)
    beacon.start()
    yield beacon
    beacon.stop()
