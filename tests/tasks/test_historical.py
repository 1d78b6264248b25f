"""A month's backfill through a real worker on the real Redis, against the simulator."""
import pytest
from celery import Celery
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from tests.support import celery_worker, service_env, wait_for

pytestmark = pytest.mark.slow


def test_a_month_backfill_reports_progress_and_settles_every_date_once(database_url, redis_url, simulator, tmp_path):
    env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim")
    client = Celery("test-client", broker=redis_url, backend=redis_url)
    states = []
    with celery_worker(env, queues="historical", pool="threads", concurrency=2, log_path=tmp_path / "worker.log"):
        result = client.send_task(task_names.HISTORICAL_BACKFILL, args=["2026-10-01", "2026-10-31"],
                                  queue="historical")

        def settled():
            states.append((result.state, result.info if isinstance(result.info, dict) else None))
            return result.state == "SUCCESS"
        wait_for(settled, timeout=120, interval=0.5, message="the backfill to finish")
        final = result.get(timeout=10)
        # a second backfill of the same month finds nothing left to do
        again = client.send_task(task_names.HISTORICAL_BACKFILL, args=["2026-10-01", "2026-10-31"],
                                 queue="historical").get(timeout=60)
    assert (final["total"], final["done"], final["remaining"]) == (31, 31, 0)
    assert final["by_status"].get("complete", 0) + final["by_status"].get("empty", 0) == 31
    progress = [info for state, info in states if state == "PROGRESS"]
    assert progress and all(0 <= p["done"] <= p["total"] == 31 for p in progress)
    assert again["done"] == 31
    engine = create_engine(database_url)
    with engine.connect() as conn:
        dates, races, rows = conn.execute(text(
            "SELECT count(DISTINCT date_of_race), count(DISTINCT race_id), count(*) FROM ra_odds_historical")).one()
        ledger_runners = conn.execute(text("SELECT sum(runners) FROM ra_collection_ledger")).scalar()
        attempts = conn.execute(text("SELECT max(attempts) FROM ra_collection_ledger")).scalar()
    engine.dispose()
    expected_races = sum(1 for day in range(1, 32) for r in simulator.races_for(f"2026-10-{day:02d}")
                         if not r.is_abandoned)
    assert dates == 31 and races == expected_races and rows == ledger_runners
    assert attempts == 1, "no date was collected twice"


def test_backfill_command_waits_with_a_progress_bar(database_url, redis_url, simulator, tmp_path):
    import subprocess
    import sys

    from tests.support import REPO
    env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim")
    with celery_worker(env, queues="historical", pool="threads", concurrency=2, log_path=tmp_path / "worker.log"):
        result = subprocess.run([sys.executable, "-m", "darkhorses", "backfill", "2026-10-01", "2026-10-07",
                                 "--oldest-first", "--wait"], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 0, result.stderr
    assert "queued as task" in result.stdout
    final = result.stdout.rstrip().split("\r")[-1]
    assert "7/7 dates" in final and "dates/min" in final and "ETA" in final


def test_tasks_refuse_dates_not_over_yet_and_record_nothing(database_url, redis_url, tmp_path):
    from datetime import datetime, timedelta, timezone

    from darkhorses.core.clock import uk_date
    today = uk_date(datetime.now(timezone.utc))
    env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL="http://127.0.0.1:9", RACING_API_USERNAME="u", RACING_API_PASSWORD="p")
    client = Celery("test-client", broker=redis_url, backend=redis_url)
    with celery_worker(env, queues="historical", log_path=tmp_path / "worker.log"):
        day = client.send_task(task_names.HISTORICAL_COLLECT_DAY, args=[today.isoformat()], queue="historical")
        assert day.get(timeout=60)["status"] == "refused"
        backfill = client.send_task(task_names.HISTORICAL_BACKFILL, queue="historical",
                                    args=[(today - timedelta(days=2)).isoformat(),
                                          (today + timedelta(days=1)).isoformat()])
        outcome = backfill.get(timeout=60)
        assert outcome["status"] == "refused" and "not over yet" in outcome["error"]
        reversed_range = client.send_task(task_names.HISTORICAL_BACKFILL, args=["2026-02-05", "2026-02-01"],
                                          queue="historical")
        assert reversed_range.get(timeout=60)["status"] == "refused"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ra_collection_ledger")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM ra_backfill_requests")).scalar() == 0
    engine.dispose()
    log = (tmp_path / "worker.log").read_text()
    assert "collect_day refused" in log and "Traceback" not in log
