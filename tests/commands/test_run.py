"""`python -m darkhorses run`: the whole service in one process, as a newcomer starts it."""
import json
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from darkhorses.core.clock import uk_date
from tests.support import service_env, stop_process, wait_for

pytestmark = pytest.mark.slow


def run_command(cwd, env, *args):
    return subprocess.Popen([sys.executable, "-m", "darkhorses", "run", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def newcomer_env(**extra):
    env = service_env(**extra)
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "RACING_API_USERNAME",
                 "RACING_API_PASSWORD", "RACING_API_URL", "STATS_OUTPUT_DIR"):
        if name not in extra:
            env.pop(name, None)
    return env


def assert_every_part_ran(tmp_path, output):
    """A run in an empty directory: simulator, live cycles, yesterday's results, statistics, log file."""
    assert "using the bundled SIMULATOR" in output
    assert "live cycle [loop" in output and "stopped cleanly" in output
    db = sqlite3.connect(tmp_path / "var" / "darkhorses.db")
    live_rows = db.execute("SELECT count(*) FROM ra_odds_live").fetchone()[0]
    history_rows = db.execute("SELECT count(*) FROM ra_odds_history").fetchone()[0]
    yesterday = (uk_date(datetime.now(timezone.utc)) - timedelta(days=1)).isoformat()
    historical_rows = db.execute("SELECT count(*) FROM ra_odds_historical WHERE date(date_of_race) = ?",
                                 (yesterday,)).fetchone()[0]
    ledger = db.execute("SELECT status FROM ra_collection_ledger WHERE race_date = ?", (yesterday,)).fetchone()
    assert live_rows > 1000 and history_rows >= live_rows and historical_rows > 100
    assert ledger == ("complete",)
    stats = json.loads((tmp_path / "var" / "stats" / "all_stats_latest.json").read_text())
    assert stats["ra_odds_live"]["total_rows"] > 0 and stats["schema_version"] == 1
    assert (tmp_path / "logs" / "workers.log").read_text().count("live cycle [loop") >= 1


def test_run_against_the_real_redis_and_postgresql(tmp_path, database_url, redis_url):
    env = newcomer_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    process = run_command(tmp_path, env, "--for", "20")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "broker redis://" in output
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ra_odds_live")).scalar() > 1000
        assert conn.execute(text("SELECT count(*) FROM ra_odds_historical")).scalar() > 100
    engine.dispose()
    assert not (tmp_path / "var" / "darkhorses.db").exists()


def test_sigterm_stops_cleanly_within_seconds(tmp_path):
    process = run_command(tmp_path, newcomer_env())
    lines = []

    def first_cycle():
        line = process.stdout.readline()
        lines.append(line)
        return "live cycle [loop" in line
    try:
        wait_for(first_cycle, timeout=90, interval=0, message="the first live cycle")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        stop_process(process, signal.SIGKILL)
    assert process.returncode == 0, "".join(lines) + output
    assert "stopped cleanly" in output
    db = sqlite3.connect(tmp_path / "var" / "darkhorses.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM ra_odds_live").fetchone()[0] > 1000


def test_a_minute_in_an_empty_directory_runs_every_part_and_misses_no_race(tmp_path):
    """Yesterday's races were only ever collected as results: not missed, summarised apart."""
    env = newcomer_env()
    process = run_command(tmp_path, env, "--for", "60")
    output, _ = process.communicate(timeout=150)
    assert process.returncode == 0, output
    assert_every_part_ran(tmp_path, output)
    during = json.loads((tmp_path / "var" / "stats" / "collection_health_latest.json").read_text())
    # once more after the loop stopped, over everything it did in the minute
    subprocess.run([sys.executable, "-m", "darkhorses", "stats"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    after = json.loads((tmp_path / "var" / "stats" / "collection_health_latest.json").read_text())
    html = (tmp_path / "var" / "stats" / "report.html").read_text()
    assert during["collection_health"]["at_a_glance"]["loop"]["state"] == "running"
    for health in (during["collection_health"], after["collection_health"]):
        glance = health["at_a_glance"]
        assert glance["races_missed"] == 0 and health["missed"] == []
        assert glance["prices_captured"] > 1000 and isinstance(glance["non_runners"], int)
        assert glance["loop"]["cycles"] >= 1
    glance = after["collection_health"]["at_a_glance"]
    assert after["collection_health"]["results_only"]["races"] > 20  # yesterday's, from results
    assert glance["backfill"]["days"] >= 1 and glance["backfill"]["settled"] >= 1
    assert "<tr class='missing'>" not in html
    assert "<div class='tile good'><div class='v'>0</div><div class='l'>missed</div>" in html
    assert f"<div class='v'>{glance['prices_captured']:,}</div>" in html
    assert f"<div class='v'>{glance['races_watched_to_off']:,}</div>" in html
    assert "known only from their results" in html
