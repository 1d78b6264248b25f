"""A simulated race day with a controllable clock: simulator over HTTP + real PostgreSQL.

The clock jumps by each cycle's countdown, as the loop would sleep. Every race that goes
off during the walk must have been checked within 15 s of its off, and nothing about it
may be written after the off.
"""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses import live
from darkhorses.db import session_scope
from darkhorses.models import LiveRace, OddsHistory, OddsLive
from darkhorses.racing_api import RacingAPIClient
from darkhorses.ratelimit import RateLimiter
from darkhorses.settings import get_settings, reset_settings
from darkhorses.simulator import Simulator, serve
from tests.conftest import Clock

WALK = timedelta(minutes=25)


@pytest.mark.slow  # a 25-minute walk of real cycles over HTTP: about two minutes
def test_every_race_is_watched_to_its_off_and_frozen_after(database_url, monkeypatch):
    clock = Clock(datetime(2026, 11, 28, 12, 40, tzinfo=timezone.utc))
    sim = Simulator(seed=11, clock=clock, rate_limits={"racecards": 1000, "results": 1000, "odds": 1000})
    server, url = serve(sim)
    monkeypatch.setenv("RACING_API_URL", url)
    monkeypatch.setenv("RACING_API_USERNAME", "sim")
    monkeypatch.setenv("RACING_API_PASSWORD", "sim")
    reset_settings()
    client = RacingAPIClient(get_settings(), limiter=RateLimiter({"racecards": 1000}))
    start = clock.now
    cycles = 0
    try:
        while clock.now < start + WALK:
            summary = live.run_cycle(client, clock.now)
            cycles += 1
            assert summary.errors == 0
            # the loop sleeps the countdown from the start of the cycle
            clock.advance(summary.next_poll_seconds + summary.duration_seconds)
    finally:
        server.shutdown()
        client.close()

    went_off = [r for r in sim.races_for(start.date()) if not r.is_abandoned
                and start + timedelta(minutes=5) < r.off <= start + WALK - timedelta(seconds=30)]
    assert len(went_off) >= 2, "the walk covers several offs"
    with session_scope() as session:
        for race in went_off:
            seen = session.get(LiveRace, race.race_id)
            off = race.off.astimezone(timezone.utc)
            assert seen is not None, race.race_id
            gap = (off - seen.fetched_at).total_seconds()
            assert 0 < gap <= 15, f"{race.race_id}: last capture {gap:.1f}s before the off"
            assert seen.market_status == "CLOSED"
            last_write = session.execute(select(func.max(OddsLive.updated_at)).where(
                OddsLive.race_id == race.race_id)).scalar()
            last_history = session.execute(select(func.max(OddsHistory.observed_at)).where(
                OddsHistory.race_id == race.race_id)).scalar()
            assert last_write < off and last_history < off
            assert set(session.execute(select(OddsLive.market_status).where(
                OddsLive.race_id == race.race_id)).scalars()) == {"CLOSED"}
        assert session.execute(select(func.count()).select_from(OddsHistory)).scalar() > 0
    # the cadence is adaptive: far fewer cycles than polling every 10 s for the whole walk
    assert cycles < WALK.total_seconds() / 10
