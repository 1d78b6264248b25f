"""Two beats running by mistake: double the periodic messages, but no duplicated data and one loop."""
from datetime import datetime, timedelta, timezone

import pytest
from celery import Celery
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from darkhorses.core.clock import uk_date
from tests.reliability.test_live_faults import assert_one_loop_at_a_time
from tests.support import celery_beat, celery_worker, stop_process, wait_for
from tests.tasks.test_live import cycles, loop_env

pytestmark = pytest.mark.slow


def test_two_beats_duplicate_no_data_and_start_no_second_loop(database_url, redis_url, simulator, tmp_path):
    env = loop_env(database_url, redis_url, simulator, tmp_path, LIVE_WATCHDOG_SECONDS=1,
                   HISTORICAL_CATCHUP_DAYS=3, HISTORICAL_RESUME_SECONDS=1)
    beats = [celery_beat(env, tmp_path, f"beat-{n}") for n in (1, 2)]
    log_path = tmp_path / "worker.log"
    client = Celery("client", broker=redis_url, backend=redis_url)
    try:
        with celery_worker(env, queues="live,historical", pool="threads", concurrency=3, log_path=log_path):
            # both beats fire the 01:00 job (sent by hand here, as each beat would)
            daily = [client.send_task(task_names.HISTORICAL_DAILY, queue="historical") for _ in beats]
            for result in daily:
                result.get(timeout=60)
            wait_for(lambda: sum(1 for n in (1, 2) if "live-watchdog" in (tmp_path / f"beat-{n}.log").read_text())
                     == 2, timeout=60, message="both beats sending the watchdog")
            wait_for(lambda: len([c for c in cycles(log_path) if not c[2]]) >= 5, timeout=90,
                     message="the live loop polling under two beats")
            engine = create_engine(database_url)

            def settled():
                with engine.connect() as conn:
                    return conn.execute(text("SELECT count(*) FROM ra_collection_ledger "
                                             "WHERE status IN ('complete', 'empty')")).scalar() == 3
            wait_for(settled, timeout=90, message="the three catch-up days settled")
    finally:
        for beat in beats:
            stop_process(beat)
    assert_one_loop_at_a_time(cycles(log_path))
    today = uk_date(datetime.now(timezone.utc))
    # one row per runner the API lists in a result (the simulator's answer, not the mapping under test)
    expected = sum(len(race["runners"]) for d in (today - timedelta(days=n) for n in (1, 2, 3))
                   for race in simulator.results(d, d, ["gb", "ire"], 100, 0)["results"])
    with engine.connect() as conn:
        # The catch-up days' rows: in the evening the live loop also stores today's results, provisional.
        rows = conn.execute(text("SELECT count(*) FROM ra_odds_historical WHERE NOT provisional")).scalar()
        distinct = conn.execute(text("SELECT count(DISTINCT (race_id, horse_id)) FROM ra_odds_historical "
                                     "WHERE NOT provisional")).scalar()
    engine.dispose()
    assert rows == distinct == expected
