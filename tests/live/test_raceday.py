"""A simulated race day with a controllable clock: simulator over HTTP + real PostgreSQL.

The clock jumps by each cycle's countdown, as the loop would sleep. Every race that goes off
during the walk (late, as in the field) must have been checked within 15 s of its real off,
closed soon after it, and nothing observed about it written after the close. On the way:
tomorrow's prices are captured from the first cycle, a runner withdrawn at 13:05 leaves the
market at the next cycle, the simulator's unlisted bookmaker (BetMGM, which never re-stamps a
move) is stored with every move.
"""
from datetime import datetime, timedelta, timezone

import matplotlib.dates as mdates
import pytest
from sqlalchemy import func, select

from darkhorses.core.settings import get_settings
from darkhorses.db import session_scope
from darkhorses.live.cycle import run_cycle
from darkhorses.live.market import best_prices
from darkhorses.models import Bookmaker, LiveRace, OddsHistory, OddsLive, Withdrawal
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.racing_api.ratelimit import RateLimiter
from darkhorses.simulator import Simulator
from tests.builders import FakeCards, FakeResults, card, quote, result, result_runner, runner
from tests.support import Clock, serve_as_racing_api

WALK = timedelta(minutes=32)
WITHDRAWN_AT = datetime(2026, 11, 28, 13, 5, tzinfo=timezone.utc)


class RecordingClient:
    """The real client, noting the date of every racecards request."""

    def __init__(self, client):
        self.client, self.days = client, []

    def racecards_pro(self, day, regions):
        self.days.append(day)
        return self.client.racecards_pro(day, regions)

    def results_today(self, regions):
        return self.client.results_today(regions)

    def racecard_pro(self, race_id):
        return self.client.racecard_pro(race_id)


@pytest.mark.slow  # a 32-minute walk of real cycles over HTTP, 10 s apart while a race is past its off: ~3 min
def test_every_race_is_watched_to_its_off_and_frozen_after(database_url, monkeypatch):
    clock = Clock(datetime(2026, 11, 28, 12, 40, tzinfo=timezone.utc))
    sim = Simulator(seed=11, clock=clock, rate_limits={k: 1000 for k in (
        "racecards", "racecard", "results", "results_today", "odds")})
    server = serve_as_racing_api(monkeypatch, sim)
    http = RacingAPIClient(get_settings(), limiter=RateLimiter({"racecards": 1000}))
    client = RecordingClient(http)
    start = clock.now
    today, tomorrow = start.date(), start.date() + timedelta(days=1)
    # a runner of a race after 13:15 declared a non-runner at 13:05: every book shows '-' from then
    race_nr = next(r for r in sim.races_for(today)
                   if not r.is_abandoned and r.off > WITHDRAWN_AT + timedelta(minutes=10))
    horse_nr = next(r for r in race_nr.runners if r.nr_at is None)
    horse_nr.nr_at = WITHDRAWN_AT
    cycles = []
    try:
        while clock.now < start + WALK:
            summary = run_cycle(client, clock.now)
            cycles.append(clock.now)
            assert summary.errors == 0
            # the loop sleeps the countdown from the start of the cycle
            clock.advance(summary.next_poll_seconds + summary.duration_seconds)
    finally:
        server.shutdown()
        http.close()

    # races that went off in the walk, and whose prices have been still long enough for the quiet close
    end = start + WALK
    went_off = [r for r in sim.races_for(start.date()) if not r.is_abandoned and start + timedelta(minutes=5) < r.off
                and datetime.fromtimestamp(r.real_off_ts, timezone.utc) + timedelta(seconds=150) <= end]
    assert len(went_off) >= 2, "the walk covers several offs"
    with session_scope() as session:
        for race in went_off:
            seen = session.get(LiveRace, race.race_id)
            real_off = datetime.fromtimestamp(race.real_off_ts, timezone.utc)
            assert seen is not None, race.race_id
            assert seen.market_status == "CLOSED" and seen.closed_at is not None, race.race_id
            # watched to the real off (not the scheduled one), closed within the quiet time of it
            assert seen.fetched_at >= real_off - timedelta(seconds=15), f"{race.race_id}: last capture early"
            assert seen.closed_at <= real_off + timedelta(seconds=135), race.race_id
            last_write = session.execute(select(func.max(OddsLive.updated_at)).where(
                OddsLive.race_id == race.race_id)).scalar()
            last_history = session.execute(select(func.max(OddsHistory.observed_at)).where(
                OddsHistory.race_id == race.race_id, OddsHistory.source == "observed")).scalar()
            assert last_write <= seen.closed_at and last_history <= seen.closed_at
            statuses = set(session.execute(select(OddsLive.market_status).where(
                OddsLive.race_id == race.race_id)).scalars())
            assert "CLOSED" in statuses and statuses <= {"CLOSED", "NON_RUNNER"}  # the simulator's own non-runners
        assert session.execute(select(func.count()).select_from(OddsHistory)).scalar() > 0

        # tomorrow's first prices, captured at the first cycle, the afternoon before
        tomorrows = select(LiveRace.race_id).where(LiveRace.race_date == tomorrow)
        assert session.execute(select(func.count()).select_from(OddsHistory).where(
            OddsHistory.race_id.in_(tomorrows), OddsHistory.observed_at == start)).scalar() > 0

        # the non-runner: closed at the first cycle from 13:05, absent from best prices
        next_cycle = min(t for t in cycles if t >= WITHDRAWN_AT)
        assert max(t for t in cycles if t < WITHDRAWN_AT) < WITHDRAWN_AT <= next_cycle
        assert set(session.execute(select(OddsLive.market_status, OddsLive.withdrawn_at).where(
            OddsLive.race_id == race_nr.race_id, OddsLive.horse_id == horse_nr.horse_id)).all()) == {
            ("NON_RUNNER", next_cycle)}
        withdrawal = session.get(Withdrawal, (race_nr.race_id, horse_nr.horse_id))
        assert withdrawal.withdrawn_at == next_cycle and withdrawal.last_price > 1 and withdrawal.reopened_at is None
        best = best_prices(session, race_nr.race_id)
        assert horse_nr.horse_id not in best and len(best) >= len(race_nr.runners) - 3

        # the unlisted bookmaker, and a move of its price under an unchanged stamp
        assert session.get(Bookmaker, "betmgm").bookmaker_type == "unknown"
        stamps = dict(session.execute(select(func.concat(OddsLive.race_id, OddsLive.horse_id), OddsLive.odds_timestamp)
                                      .where(OddsLive.bookmaker_id == "betmgm")).all())
        assert stamps
        moves = session.execute(select(OddsHistory.race_id, OddsHistory.horse_id, OddsHistory.changed_at)
                                .where(OddsHistory.bookmaker_id == "betmgm",
                                       OddsHistory.changed_at == OddsHistory.observed_at)).all()
        assert any(changed_at > stamps[race_id + horse_id] for race_id, horse_id, changed_at in moves)

    # tomorrow on its own clock: from the first cycle, then every 15 minutes, never on the fast polls
    assert client.days[:2] == [today, tomorrow]
    assert client.days.count(today) == len(cycles)
    due, expected = start, 0
    for moment in cycles:  # the first cycle, then the first cycle at least 15 minutes after the last fetch
        if moment >= due:
            expected, due = expected + 1, moment + timedelta(minutes=15)
    assert client.days.count(tomorrow) == expected >= 2
    # the cadence is adaptive: far fewer cycles than polling every 10 s for the whole walk
    assert len(cycles) < WALK.total_seconds() / 10


# -- opening and closing lines: a hand-made race, worked by hand ---------------------------------

def _quote(book, decimal, stamp):
    return quote(book, decimal, "", updated=f"2026-11-28T{stamp}:00+00:00")


def _card(odds_by_horse):
    return card("rac_hm", "2026-11-28T14:00:00+00:00", [runner(h, odds) for h, odds in odds_by_horse.items()],
                race_name="Hand-made Handicap", field_size="3")


def test_opening_and_closing_lines_of_every_finished_runner_equal_the_hand_worked_values(database_url):
    from darkhorses.historical.collect import collect_day
    from darkhorses.models import MarketLine
    from darkhorses.stats.charts import build_race_figure
    at = lambda hhmmss: datetime.fromisoformat(f"2026-11-28T{hhmmss}+00:00")
    cards = FakeCards([])
    steps = [  # (capture time, card)
        ("12:00:00", {"h1": [_quote("Bet365", "3.0", "11:50"), _quote("Coral", "3.5", "11:55")],
                      "h2": [_quote("Bet365", "5.0", "11:50")], "h3": []}),
        ("13:00:00", {"h1": [_quote("Bet365", "2.75", "12:58"), _quote("Coral", "3.5", "11:55")],
                      "h2": [_quote("Bet365", "5.0", "11:50"), _quote("Coral", "6.0", "12:59")], "h3": []}),
        ("13:55:00", {"h1": [_quote("Bet365", "2.75", "12:58"), _quote("Coral", "2.75", "13:54")],
                      "h2": [_quote("Bet365", "5.5", "13:54"), _quote("Coral", "6.0", "12:59")], "h3": []}),
        ("13:59:50", None),  # nothing moved
        # past the scheduled off, before the real one: Bet365 still trading, kept
        ("14:00:05", {"h1": [_quote("Bet365", "9.0", "14:00"), _quote("Coral", "2.75", "13:54")],
                      "h2": [_quote("Bet365", "5.5", "13:54"), _quote("Coral", "6.0", "12:59")], "h3": []}),
        ("14:03:00", None),  # its result is out: closed, the last capture was at 14:00:05
        ("14:04:00", {"h1": [_quote("Bet365", "1.5", "14:03")], "h2": [], "h3": []}),  # after the close: ignored
    ]
    finishers = [("h1", "1", "5/2", "3.50", "3.62"), ("h2", "2", "11/2", "6.50", ""),
                 ("h3", "3", "10/1", "11.00", "12.5")]
    race = result("rac_hm", [result_runner(h, p, sp, dec, bsp=bsp) for h, p, sp, dec, bsp in finishers],
                  race_name="Hand-made Handicap", off_dt="2026-11-28T14:00:00+00:00", region="GB", off="2:00",
                  course="Kempton")
    for moment, odds in steps:
        cards.cards = [_card(odds)] if odds else cards.cards
        cards.results = [race] if moment >= "14:03:00" else []
        run_cycle(cards, at(moment))
    collect_day(datetime(2026, 11, 28).date(), client=FakeResults([race]))

    with session_scope() as session:
        lines = {line.horse_id: (line.opening_price, line.opening_at, line.closing_price, line.closing_at,
                                 line.closing_books, line.industry_sp, line.betfair_sp)
                 for line in session.execute(select(MarketLine)).scalars()}
        figure = build_race_figure(session, "rac_hm")
    assert lines == {
        # opening: best of 3.0 and 3.5 at 12:00; closing at 14:00:05, the last capture before the
        # close: Bet365's 9.0, set after the scheduled off
        "h1": (3.5, at("12:00:00"), 9.0, at("14:00:05"), 1, 3.5, 3.62),
        # opening: Bet365 alone at 12:00; closing: Coral's 6.0 beats Bet365's 5.5; no BSP
        "h2": (5.0, at("12:00:00"), 6.0, at("14:00:05"), 1, 6.5, None),
        # never priced: null, not zero
        "h3": (None, None, None, None, None, 11.0, 12.5),
    }
    marks = {c.get_gid(): tuple(c.get_offsets()[0]) for c in figure.axes[0].collections if c.get_gid()}
    day = mdates.date2num(at("12:00:00"))
    assert marks.keys() == {"opening:h1", "closing:h1", "opening:h2", "closing:h2"}
    assert marks["opening:h1"] == pytest.approx((day, 3.5))
    assert marks["closing:h2"] == pytest.approx((mdates.date2num(at("14:00:05")), 6.0))
