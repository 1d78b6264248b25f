"""The CLI's failures (issue 12, items 2 and 10): one line, a non-zero exit, no ledger date left
`running`, nothing queued for a refused date."""
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
import redis
import responses
from sqlalchemy import select

from darkhorses.commands import cli
from darkhorses.core.clock import uk_date
from darkhorses.core.settings import reset_settings
from darkhorses.db import session_scope
from darkhorses.models import CollectionLedger
from tests.support import free_port, service_env

BASE = "https://api.example.test"
DAY = "2026-03-01"


@pytest.fixture
def api_env(monkeypatch):
    monkeypatch.setenv("RACING_API_URL", BASE)
    monkeypatch.setenv("RACING_API_USERNAME", "u")
    monkeypatch.setenv("RACING_API_PASSWORD", "p")
    monkeypatch.setenv("RACING_API_MAX_ATTEMPTS", "2")
    reset_settings()


def _ledger() -> dict:
    with session_scope() as session:
        return {r.race_date: r.status for r in session.execute(select(CollectionLedger)).scalars()}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("answer, expected", [
    ({"status": 401, "json": {"detail": "Not authenticated"}}, "rejected the credentials (HTTP 401)"),
    ({"status": 403, "json": {"detail": "Forbidden"}}, "rejected the credentials (HTTP 403)"),
    ({"status": 503}, "HTTP 503 after 2 attempts"),
    ({"status": 200, "body": "<html><body>Maintenance</body></html>", "content_type": "text/html"},
     "not valid JSON after 2 attempts"),
])
@responses.activate
def test_api_failures_are_one_line_and_leave_no_date_running(database_url, api_env, capsys, answer, expected):
    for _ in range(2):
        responses.get(f"{BASE}/v1/results", **answer)
    assert cli.main(["historical", "--date", DAY]) == 1
    line = _one_line(capsys)
    assert line.startswith("error: The Racing API: /v1/results:") and expected in line
    assert _ledger() == {date(2026, 3, 1): "failed"}


def test_dates_not_over_yet_and_bad_ranges_are_one_line_exit_2_nothing_recorded(database_url, api_env, capsys):
    today = uk_date(datetime.now(timezone.utc))
    cases = [["historical", "--date", today.isoformat()],
             ["historical", "--date", (today + timedelta(days=30)).isoformat()],
             ["backfill", "2026-02-05", "2026-02-01"],
             ["backfill", "2014-12-30", "2015-01-05"],
             ["backfill", (today - timedelta(days=3)).isoformat(), today.isoformat()]]
    for argv in cases:
        assert cli.main(argv) == 2, argv
        assert _one_line(capsys).startswith("error: "), argv
    assert _ledger() == {}


def test_a_refused_backfill_queues_nothing(database_url, redis_url, capsys):
    today = uk_date(datetime.now(timezone.utc))
    assert cli.main(["backfill", (today - timedelta(days=2)).isoformat(), (today + timedelta(days=1)).isoformat()]) == 2
    assert "not over yet" in _one_line(capsys)
    client = redis.Redis.from_url(redis_url)
    assert client.llen("historical") == 0 and client.dbsize() == 0
    assert _ledger() == {}


def test_a_broker_on_a_closed_port_is_one_line(tmp_path):
    broker = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = subprocess.run([sys.executable, "-m", "darkhorses", "backfill", "2026-01-01", "2026-01-02"],
                            cwd=tmp_path, env=service_env(CELERY_BROKER_URL=broker, RACING_API_USERNAME="u",
                                                          RACING_API_PASSWORD="p"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: cannot reach the broker at redis://:***@127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1 and "hunter2" not in result.stderr


@responses.activate
def test_the_in_process_backfill_shows_a_real_rate(database_url, api_env, capsys):
    responses.get(f"{BASE}/v1/results", json={"results": [], "total": 0, "limit": 100, "skip": 0, "query": []})
    assert cli.main(["backfill", "2026-02-01", "2026-02-04"]) == 0
    ticks = capsys.readouterr().out.strip().split("\r")
    rates = [float(m.group(1).replace(",", "")) for m in (re.search(r"([\d,.]+) dates/min", t) for t in ticks) if m]
    assert "4/4 dates" in ticks[-1] and len(rates) == 4
    # four quick dates take well under a minute, but not a microsecond each: a rate of
    # millions per minute is the clock restarting at every tick
    assert all(0 < rate < 60_000 for rate in rates), rates


def test_a_data_error_from_the_database_does_not_blame_database_url():
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    from darkhorses.core.settings import settings_from_env

    class PgError(Exception):
        def __init__(self, message, pgcode):
            super().__init__(message)
            self.pgcode = pgcode
    settings = settings_from_env({"DATABASE_URL": "postgresql://pg:s3cret@db/x"})
    cardinality = ProgrammingError(
        "INSERT", {}, PgError("ON CONFLICT DO UPDATE command cannot affect row a second time", "21000"))
    duplicate = IntegrityError("INSERT", {}, PgError("duplicate key value violates unique constraint", "23505"))
    for exc in (cardinality, duplicate):
        line, code = cli._one_line_error(exc, settings)
        assert code == 1 and line.startswith("database error: ") and "DATABASE_URL" not in line
    missing_table = ProgrammingError("SELECT", {}, PgError('relation "ra_x" does not exist', "42P01"))
    line, code = cli._one_line_error(missing_table, settings)
    assert code == 2 and "migrate" in line and "DATABASE_URL" not in line
    line, code = cli._one_line_error(OperationalError("connect", {}, PgError("connection refused", None)), settings)
    assert code == 2 and "DATABASE_URL (postgresql+psycopg2://pg:***@db/x)" in line and "s3cret" not in line
