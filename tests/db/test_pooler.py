"""Through a transaction-mode pooler (pgbouncer, as Supabase's pooler runs): a live cycle, a day's
results and the statistics. Consecutive transactions of one client land on different server
connections here, so anything that keeps state across transactions (a session-level SET,
server-side prepared statements, a temporary table outliving its transaction) fails these tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import create_engine, text

from darkhorses.core.settings import reset_settings
from tests.support import IN_CI, free_port, scratch_database, stop_process, wait_for

CONFIG = """\
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
default_pool_size = 3
min_pool_size = 3
; each transaction takes the next idle server connection, not the last one used
server_round_robin = 1
ignore_startup_parameters = extra_float_digits
"""


def _binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the pooler test must run)", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def pooled_url(database_url, monkeypatch):
    """pgbouncer in transaction mode on a free port in front of the test database; DATABASE_URL
    points at it for the test."""
    binary = _binary()
    target = database_url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = target.partition(":")
    listen = free_port()
    # pgbouncer refuses to run as root: as root it drops to `postgres`, which must read the files.
    directory = Path(tempfile.mkdtemp(prefix="darkhorses-pgbouncer-"))
    directory.chmod(0o755)
    (directory / "users.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(CONFIG.format(host=host, port=port or 5432, listen=listen,
                                                           directory=directory))
    for path in directory.iterdir():
        path.chmod(0o644)
    argv = [binary] + (["-u", "postgres"] if os.geteuid() == 0 else []) + [str(directory / "pgbouncer.ini")]
    log = open(directory / "pgbouncer.log", "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    dbname = database_url.rsplit("/", 1)[1]
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{listen}/{dbname}"
    try:
        wait_for(lambda: psycopg2.connect(host="127.0.0.1", port=listen, user="postgres",
                                          dbname=dbname).close() or True,
                 timeout=20, message="pgbouncer to accept connections")
        _open_every_server_connection(listen, dbname)
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        yield url
    finally:
        from darkhorses import db
        db.dispose_engines()
        stop_process(process)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def _open_every_server_connection(port: int, dbname: str) -> None:
    """Three clients in a transaction at once make pgbouncer open its three server connections;
    idle, round robin then hands them out in turn."""
    clients = [psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname) for _ in range(3)]
    for client in clients:
        client.cursor().execute("SELECT 1")  # psycopg2 opens a transaction: the server stays assigned
    for client in clients:
        client.commit()
        client.close()


def test_the_pooler_really_switches_server_connections_between_transactions(pooled_url):
    engine = create_engine(pooled_url)
    with engine.connect() as conn:
        backends = set()
        for _ in range(6):
            with conn.begin():
                backends.add(conn.execute(text("SELECT pg_backend_pid()")).scalar())
        with conn.begin():
            conn.execute(text("SET statement_timeout = '1234ms'"))  # session-level: survives only on that server
        seen = set()
        for _ in range(6):
            with conn.begin():
                seen.add(conn.execute(text("SHOW statement_timeout")).scalar())
    engine.dispose()
    assert len(backends) >= 2, "one client connection, several server connections: transaction mode"
    assert len(seen) == 2, "a session-level SET is visible on one server connection only"


def test_a_live_cycle_a_days_results_and_the_statistics_through_the_pooler(pooled_url, simulator, tmp_path):
    from datetime import datetime, timezone

    from darkhorses.core.clock import uk_date
    from darkhorses.core.settings import get_settings
    from darkhorses.db import session_scope
    from darkhorses.historical.collect import collect_day
    from darkhorses.live.cycle import run_cycle
    from darkhorses.racing_api.client import RacingAPIClient
    from darkhorses.stats.compute import update_statistics
    yesterday = uk_date(datetime.now(timezone.utc)) - timedelta(days=1)
    errors: list[BaseException] = []

    def with_client(work):  # as a task does: a client of its own, closed afterwards
        client = RacingAPIClient()
        try:
            return work(client)
        finally:
            client.close()

    def run(work):
        try:
            with_client(work)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    # Concurrently, as one worker's threads would: the transactions interleave on the pooler.
    threads = [threading.Thread(target=run, args=(work,)) for work in (
        run_cycle, lambda client: collect_day(yesterday, client),
        lambda client: collect_day(date(2026, 1, 5), client))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []
    second = with_client(run_cycle)  # prices already stored: the unchanged-rows path, then a large merge
    with session_scope() as session:
        result = update_statistics(session, get_settings())
    assert result

    engine = create_engine(pooled_url)
    with engine.connect() as conn:
        live_rows = conn.execute(text("SELECT count(*) FROM ra_odds_live")).scalar()
        fetches = conn.execute(text("SELECT count(*) FROM ra_odds_statistics")).scalar()
        runs = conn.execute(text("SELECT kind, count(*) FROM ra_run_records GROUP BY kind")).all()
        ledger = dict(conn.execute(text("SELECT race_date, status FROM ra_collection_ledger")).all())
        results = conn.execute(text("SELECT count(*) FROM ra_odds_historical")).scalar()
    engine.dispose()
    assert live_rows >= 200, "the first cycle went through COPY and the merge (>= 200 rows)"
    assert second.prices > 0 and second.changed < second.prices, "stored prices were read back: most unchanged"
    assert fetches == 2 and dict(runs) == {"historical": 2, "stats": 1}
    assert ledger == {yesterday: "complete", date(2026, 1, 5): "complete"}
    assert results > 0
    assert (Path(os.environ["STATS_OUTPUT_DIR"]) / "all_stats_latest.json").exists()


def test_migrations_run_through_the_pooler(pooled_url):
    from darkhorses.db.migrations import upgrade
    with scratch_database("darkhorses_test_pool") as direct_url:
        url = pooled_url.rsplit("/", 1)[0] + "/" + direct_url.rsplit("/", 1)[1]
        upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert conn.execute(text("SELECT count(*) FROM ra_bookmakers")).scalar() > 0
        engine.dispose()
