"""The Racing API misbehaving: 429s, 5xx bursts, timeouts, truncated JSON."""
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from darkhorses.core.settings import get_settings, reset_settings
from darkhorses.db import session_scope
from darkhorses.historical.collect import collect_day
from darkhorses.live.cycle import run_cycle
from darkhorses.models import CollectionLedger, LiveRace
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.simulator import Faults
from tests.support import max_in_any_window

pytestmark = pytest.mark.slow


def test_chaos_is_retried_within_the_rate_limit_and_every_race_is_captured(database_url, simulator, monkeypatch,
                                                                            fault_log):
    monkeypatch.setenv("RACING_API_TIMEOUT", "1")
    monkeypatch.setenv("RACING_API_MAX_ATTEMPTS", "12")
    reset_settings()
    simulator.hang_seconds = 2.0
    simulator.faults = Faults(latency=0.02, error_rate=0.25, truncate_rate=0.15, timeout_rate=0.05, rate429=0.15)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(min(seconds, 0.2))  # keep the test short; the schedule itself is asserted below
    client = RacingAPIClient(get_settings(), backoff=0.05, sleep=sleep)
    started = datetime.now(timezone.utc)
    days = [date.today() - timedelta(days=n) for n in (3, 4)]
    try:
        for _ in range(4):
            run_cycle(client)
        for day in days:
            collect_day(day, client)
    finally:
        client.close()
    log = simulator.request_log
    statuses = {status for _, _, status in log}
    assert {429, 200} <= statuses and statuses & {500, 502, 503}, statuses
    for endpoint, limit in (("racecards", 2), ("results", 5)):
        stamps = [t for t, key, _ in log if key == endpoint]
        assert stamps and max_in_any_window(stamps) <= limit, endpoint
    # every Retry-After: 1 answered by waiting at least a second before the next try
    retry_after_waits = [s for s in slept if s >= 1.0]
    assert len(retry_after_waits) >= sum(1 for _, _, s in log if s == 429) - 1

    upcoming = [r.race_id for r in simulator.races_for(simulator.today())
                if not r.is_abandoned and r.off > started + timedelta(seconds=60)]
    with session_scope() as session:
        captured = set(session.execute(select(LiveRace.race_id)).scalars())
        ledger = {r.race_date: r.status for r in session.execute(select(CollectionLedger)).scalars()}
    missing = [r for r in upcoming if r not in captured]
    assert not missing
    assert all(ledger[d] in ("complete", "empty") for d in days)
    fault_log("API chaos: 429, 5xx, timeouts, truncated JSON", True, len(missing),
              f"{len(log)} requests, {sum(1 for *_, s in log if s != 200)} faulty; rate limit held")
