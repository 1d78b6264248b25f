"""`python -m darkhorses status` exit codes for monitors: 0 healthy, 1 needs attention, 2 no database."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.support import REPO, free_port, service_env


def status(*args, **env):
    return subprocess.run([sys.executable, "-m", "darkhorses", "status", *args], cwd=REPO,
                          env=service_env(**env), capture_output=True, text=True, timeout=120)


def test_healthy_exits_0(database_url):
    from darkhorses.live.cycle import run_cycle
    from tests.builders import FakeCards, card, quote, runner
    now = datetime.now(timezone.utc)
    cards = [card("rac_1", (now + timedelta(minutes=20)).isoformat(), [runner("h1", [quote("Bet365", "3.0", "2/1")])])]
    run_cycle(FakeCards(cards), now)  # the loop's last cycle announced a poll in the future
    text = status()
    assert text.returncode == 0, text.stdout + text.stderr
    assert "HEALTHY" in text.stdout
    report = status("--json")
    assert report.returncode == 0
    assert json.loads(report.stdout)["verdict"] == "healthy"


def test_needs_attention_exits_1(database_url):
    result = status()  # an empty database: no live cycle has ever run
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NEEDS ATTENTION" in result.stdout and "the live loop is not running" in result.stdout
    report = status("--json")
    assert report.returncode == 1
    parsed = json.loads(report.stdout)
    assert parsed["verdict"] == "needs attention" and parsed["exit_code"] == 1 and parsed["healthy"] is False


def test_unreachable_database_exits_2():
    url = f"postgresql://postgres:db-secret@127.0.0.1:{free_port()}/darkhorses"  # nothing listens there
    result = status(DATABASE_URL=url)
    assert result.returncode == 2
    assert result.stderr.startswith("database error: ") and "db-secret" not in result.stderr
    report = status("--json", DATABASE_URL=url)
    assert report.returncode == 2, report.stderr
    parsed = json.loads(report.stdout)
    assert parsed["verdict"] == "database unreachable" and parsed["exit_code"] == 2
    assert "cannot reach the database" in parsed["problems"][0] and "db-secret" not in report.stdout


def test_what_the_alerts_watch_also_needs_attention(database_url):
    from darkhorses.db import session_scope
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import RunRecord
    from tests.builders import FakeCards, card, quote, runner
    now = datetime.now(timezone.utc)
    cards = [card("rac_1", (now + timedelta(minutes=20)).isoformat(), [runner("h1", [quote("Bet365", "3.0", "2/1")])])]
    run_cycle(FakeCards(cards), now)
    with session_scope() as session:  # the last statistics run was 40 minutes ago
        session.add(RunRecord(kind="stats", started_at=now - timedelta(minutes=40)))
    result = status()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "statistics are stale: last computed" in result.stdout
