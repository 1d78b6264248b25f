"""The off as it happens: a race stays open past its scheduled off until it goes off.

Hand-made cards on a controlled clock against the real PostgreSQL for each path (quiet, cap,
re-timing, abandonment, status, a race first seen long after its off, the digest skip, the
close-out, same-day results and bad input), then one late race of the simulator walked over
HTTP to its result.
"""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses.core.settings import get_settings
from darkhorses.db import session_scope
from darkhorses.historical.same_day import store_same_day
from darkhorses.live.closeout import merge, run_closeouts
from darkhorses.live.cycle import run_cycle
from darkhorses.models import (
    CollectionLedger,
    LiveFetch,
    LiveRace,
    MarketLine,
    OddsHistorical,
    OddsHistory,
    OddsLive,
    RaceOffTime,
)
from darkhorses.racing_api.client import RequestRefused
from tests.builders import FakeCards, FakeResults, card, quote, result, result_runner, runner

DAY = date(2026, 11, 28)
OFF = datetime(2026, 11, 28, 14, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """`seconds` from the scheduled off."""
    return OFF + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).isoformat()


def race_card(prices=(("h1", "3.0", -600), ("h2", "5.0", -600)), race_id="rac_1", off=OFF, **extra):
    """A race of two runners at Bet365: (horse, price, stamp in seconds from the off)."""
    return card(race_id, off.isoformat(), [runner(h, [quote("Bet365", price, "", updated=stamp(s))])
                                           for h, price, s in prices], **extra)


def the_race(race_id="rac_1") -> LiveRace:
    with session_scope() as session:
        race = session.get(LiveRace, race_id)
        session.expunge_all()
        return race


def observed_after(race_id: str, moment: datetime) -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(OddsHistory).where(
            OddsHistory.race_id == race_id, OddsHistory.source == "observed",
            OddsHistory.observed_at > moment)).scalar()


# -- the paths to a close --------------------------------------------------------------------------

def test_the_digest_skip_never_hides_a_race_past_its_off_from_the_quiet_timer(database_url):
    """The card never changes: before the off it is skipped as unchanged, past it parsed every
    cycle, and closed once no price has moved for LIVE_OFF_QUIET_SECONDS past the off."""
    client = FakeCards([race_card()])
    assert run_cycle(client, at(-60)).changed == 2
    assert run_cycle(client, at(-30)).changed == 0  # unchanged: skipped, counted as before
    for moment in (5, 60, 115):
        summary = run_cycle(client, at(moment))
        assert summary.closed == 0 and summary.past_off_open == 1 and summary.next_poll_seconds <= 10
    assert run_cycle(client, at(121)).closed == 1
    race = the_race()
    assert (race.market_status, race.close_reason, race.closed_at, race.off_late_seconds) == (
        "CLOSED", "quiet", at(121), 0.0)  # nothing moved after the scheduled off: on time, as far as we know


def test_a_race_still_moving_at_the_cap_is_closed_there(database_url):
    client = FakeCards([])
    moment = -30
    while moment < 1900:
        client.cards = [race_card((("h1", f"{3 + (moment // 100) % 2 / 2:.1f}", moment - 1), ("h2", "5.0", -600)))]
        summary = run_cycle(client, at(moment))
        if summary.closed:
            break
        moment += 100  # a move every 100 s: never quiet for 120
    race = the_race()
    assert (race.close_reason, race.closed_at) == ("cap", at(1870))  # the first cycle 30 minutes past the off
    assert race.off_late_seconds is None  # never settled: unknown
    assert observed_after("rac_1", race.closed_at) == 0


def test_a_re_timing_is_recorded_and_one_into_the_past_refused(database_url, caplog):
    client = FakeCards([race_card()])
    run_cycle(client, at(-1200))
    later = OFF + timedelta(minutes=15)
    client.cards = [race_card(off=later)]
    run_cycle(client, at(-600))
    # at the old off the race is not past anything: still open, polled, nothing closed
    summary = run_cycle(client, at(60))
    assert summary.closed == 0 and summary.past_off_open == 0
    # re-timed into the past (earlier than the stored off, and already gone): refused, counted
    client.cards = [race_card(off=OFF - timedelta(minutes=5))]
    with caplog.at_level("WARNING", logger="darkhorses.live"):
        refused = run_cycle(client, at(120))
    assert refused.bad_retimings == 1 and "re-timings into the past" in caplog.text
    assert caplog.text.count("earlier than") == 1
    with session_scope() as session:
        offs = session.execute(select(RaceOffTime.seen_at, RaceOffTime.off_dt).where(
            RaceOffTime.race_id == "rac_1").order_by(RaceOffTime.seen_at)).all()
        assert offs == [(at(-1200), OFF), (at(-600), later)]
        assert session.get(LiveRace, "rac_1").off_dt == later
        assert set(session.execute(select(OddsLive.off_dt)).scalars()) == {later}


def test_abandonment_and_a_status_close_at_once_without_a_close_out(database_url):
    client = FakeCards([race_card(), race_card(race_id="rac_2")])
    run_cycle(client, at(-300))
    client.cards = [race_card(is_abandoned=True), race_card(race_id="rac_2", race_status="Off")]
    summary = run_cycle(client, at(20))
    assert summary.closed == 2 and summary.closeouts == 1  # the abandoned race gets none
    assert (the_race().market_status, the_race().close_reason) == ("ABANDONED", "abandoned")
    assert (the_race("rac_2").market_status, the_race("rac_2").close_reason) == ("CLOSED", "status")
    assert ("racecard", "rac_1") not in client.requests


def test_a_race_first_seen_long_after_its_off_opens_only_if_its_prices_still_move(database_url):
    frozen = race_card(prices=(("h1", "3.0", -120),))
    moving = race_card(race_id="rac_2", prices=(("h1", "4.0", 590),))
    gone_long_ago = race_card(race_id="rac_3", prices=(("h1", "4.0", 200),))  # late, but quiet since
    summary = run_cycle(FakeCards([frozen, moving, gone_long_ago]), at(600))
    assert summary.not_opened == 2 and summary.races == 1
    assert the_race("rac_1") is None and the_race("rac_3") is None
    assert the_race("rac_2").market_status == "OPEN"
    with session_scope() as session:  # the race never captured is left for the alerts to see
        detail = session.execute(select(LiveFetch.detail)).scalar()
    assert [r["race_id"] for r in detail["uncaptured_off"]] == ["rac_1", "rac_3"]


# -- results/today, same-day results ---------------------------------------------------------------

def _result(race_id="rac_1", runners=None):
    return result(race_id, runners if runners is not None else [
        result_runner("h1", "1", "2/1", "3.00"), result_runner("h2", "2", "4/1", "5.00")],
        off_dt=OFF.isoformat(), off="2:00", race_name="Kempton Handicap")


def test_results_today_closes_a_late_race_and_stores_it_provisional_until_the_daily_job(database_url):
    from darkhorses.historical.collect import collect_day
    client = FakeCards([race_card()])
    settings = replace(get_settings(), live_off_quiet_seconds=900)
    run_cycle(client, at(-60), settings)
    assert ("results_today",) not in client.requests  # nothing past its off yet
    client.cards = [race_card((("h1", "2.5", 50), ("h2", "5.0", -600)))]  # moved 50 s after the off
    assert run_cycle(client, at(55), settings, store_results=store_same_day).changed == 1
    assert client.requests.count(("results_today",)) == 1
    client.results = [_result()]
    assert run_cycle(client, at(70), settings, store_results=store_same_day).closed == 0  # 30 s apart
    assert client.requests.count(("results_today",)) == 1
    summary = run_cycle(client, at(90), settings, store_results=store_same_day)
    assert (summary.closed, summary.results_seen, summary.provisional_results) == (1, 1, 2)
    race = the_race()
    assert (race.close_reason, race.closed_at, race.off_late_seconds) == ("result", at(90), 50.0)
    # the closing line: the best price at the last capture before the close (70 s past the off)
    with session_scope() as session:
        lines = {line.horse_id: (line.closing_price, line.closing_at) for line in session.execute(
            select(MarketLine)).scalars()}
        assert lines == {"h1": (2.5, at(70)), "h2": (5.0, at(70))}
        assert set(session.execute(select(OddsHistorical.provisional)).scalars()) == {True}
        assert session.get(CollectionLedger, DAY).status == "provisional"
    # stored once: the same results again add nothing
    assert run_cycle(client, at(130), settings, store_results=store_same_day).provisional_results == 0
    # the daily job settles the date and corrects what was amended (h2 disqualified, removed)
    collect_day(DAY, client=FakeResults([_result(runners=[result_runner("h1", "1", "2/1", "3.00")])]))
    with session_scope() as session:
        rows = session.execute(select(OddsHistorical.horse_id, OddsHistorical.provisional)).all()
        assert rows == [("h1", False)]
        assert session.get(CollectionLedger, DAY).status == "complete"


def test_bad_results_are_logged_counted_and_never_stored(database_url, caplog):
    client = FakeCards([race_card()])
    run_cycle(client, at(-60))
    client.results = [_result("rac_unseen"), _result(runners=[]), "junk"]
    with caplog.at_level("WARNING", logger="darkhorses.live"):
        summary = run_cycle(client, at(30), store_results=store_same_day)
    assert (summary.unknown_results, summary.bad_results, summary.closed, summary.provisional_results) == (1, 2, 0, 0)
    assert "rac_unseen" in caplog.text and "no runners" in caplog.text
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(OddsHistorical)).scalar() == 0


# -- the close-out ----------------------------------------------------------------------------------

def _history(*moves):
    """history[] entries (minute precision, as the API gives them): (price, seconds from the off)."""
    return [{"decimal": price, "fractional": "", "changed_at": at(s).replace(second=0).isoformat()}
            for price, s in moves]


def test_the_close_out_merges_unobserved_moves_once_and_is_retried_after_a_failure(database_url, caplog):
    client = FakeCards([race_card((("h1", "3.0", -300),))])
    run_cycle(client, at(-200))
    client.cards = [race_card((("h1", "2.75", -90),))]
    run_cycle(client, at(-80))  # observed: 2.75 set at 13:58:30
    client.race_cards["rac_1"] = RequestRefused("/v1/racecards/rac_1/pro: 404", 404, "Race not found")
    closing = run_cycle(client, at(130))  # quiet: closed, its close-out refused
    assert closing.closed == 1 and closing.closeout_failures == 1 and closing.closeouts == 0
    assert "close-out of race rac_1 failed" in caplog.text
    assert the_race().closeout_attempts == 1 and "404" in the_race().closeout_error
    # junk is a failure too; a later cycle retries (not before a minute has passed)
    client.race_cards["rac_1"] = {"race_id": "rac_1", "runners": "junk"}
    assert run_cycle(client, at(150)).closeout_failures == 0
    assert run_cycle(client, at(200)).closeout_failures == 1
    card_after = race_card((("h1", "2.5", 140),))  # the card after the race: its current price set later
    card_after["runners"][0]["odds"][0]["history"] = _history(
        ("2.75", -90),   # observed already (same minute, same price): not again
        ("2.875", -150),  # between two polls: back-filled
        ("3.0", -300))   # the first capture: already there
    client.race_cards["rac_1"] = card_after
    done = run_cycle(client, at(400))
    assert (done.closeouts, done.closeout_moves) == (1, 1)
    race = the_race()
    assert race.closeout_at == at(400) and race.closeout_moves == 1 and race.closeout_error is None

    def rows():
        with session_scope() as session:
            return session.execute(select(OddsHistory.odds_decimal, OddsHistory.changed_at, OddsHistory.source)
                                   .order_by(OddsHistory.changed_at)).all()
    first = rows()
    assert [(price, source) for price, _, source in first] == [
        (3.0, "observed"), (2.875, "closeout"), (2.75, "observed")]  # 2.5 came after the close
    # merged twice: the same rows
    from darkhorses.live.closeout import closeout_rows
    with session_scope() as session:
        assert merge(session, "rac_1", closeout_rows(card_after, "rac_1", race.closed_at), at(500)) == 0
    assert rows() == first
    assert run_cycle(client, at(600)).closeouts == 0  # done once


def test_close_outs_are_bounded_per_cycle(database_url):
    races = [race_card(race_id=f"rac_{n}") for n in range(5)]
    client = FakeCards(races)
    run_cycle(client, at(-60))
    summary = run_cycle(client, at(125))
    assert summary.closed == 5 and summary.closeouts == 3
    assert run_cycle(client, at(135)).closeouts == 2


# -- a late race of the simulator, walked over HTTP ------------------------------------------------

@pytest.mark.slow  # a few simulated minutes of 10-second cycles over HTTP
def test_a_late_race_is_watched_to_its_result_over_http(database_url, monkeypatch):
    from darkhorses.live.market import best_prices
    from darkhorses.racing_api.client import RacingAPIClient
    from darkhorses.racing_api.ratelimit import RateLimiter
    from darkhorses.simulator import Simulator
    from tests.support import Clock, serve_as_racing_api
    anchor = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    clock = Clock(anchor)
    sim = Simulator(seed=5, clock=clock, rate_limits={k: 1000 for k in (
        "racecards", "racecard", "results", "results_today", "odds")})
    # an Irish race (the Irish cards alone are polled: fewer races a cycle) at least a minute late
    race = min((r for r in sim.races_for(anchor.date()) if r.off > anchor + timedelta(minutes=10)
                and r.region == "IRE" and not r.is_abandoned and r.first_off is None
                and r.real_off_ts - r.off_ts >= 60), key=lambda r: r.result_ts - r.off_ts)
    off, real_off = race.off.astimezone(timezone.utc), datetime.fromtimestamp(race.real_off_ts, timezone.utc)
    published = datetime.fromtimestamp(race.result_ts, timezone.utc)
    server = serve_as_racing_api(monkeypatch, sim)
    client = RacingAPIClient(get_settings(), limiter=RateLimiter({"racecards": 1000}))
    # quiet long enough that the result closes it (the simulator's prices freeze at the real off)
    settings = replace(get_settings(), live_off_quiet_seconds=1200, regions=("ire",))
    clock.now = off - timedelta(seconds=40)
    results_calls = []
    try:
        while clock.now < published + timedelta(minutes=2):
            summary = run_cycle(client, clock.now, settings, store_results=store_same_day)
            if summary.results_today_calls:
                results_calls.append(clock.now)
            seen = the_race(race.race_id)
            if seen is not None and seen.closed_at is not None:
                break
            clock.advance(summary.next_poll_seconds + summary.duration_seconds)
    finally:
        server.shutdown()
        client.close()
    seen = the_race(race.race_id)
    assert (seen.market_status, seen.close_reason) == ("CLOSED", "result")
    assert published <= seen.closed_at <= published + timedelta(seconds=45)
    assert 0 <= seen.off_late_seconds <= (real_off - off).total_seconds() + 1
    assert real_off < seen.fetched_at < seen.closed_at  # watched past the scheduled off, to the close
    assert results_calls  # (only while some race is past its off and open: the hand-made test above)
    assert all(b - a >= timedelta(seconds=30) for a, b in zip(results_calls, results_calls[1:], strict=False))
    with session_scope() as session:
        late_moves = session.execute(select(func.count()).select_from(OddsHistory).where(
            OddsHistory.race_id == race.race_id, OddsHistory.source == "observed",
            OddsHistory.changed_at > off)).scalar()
        assert late_moves > 0  # the moves after the scheduled off are kept
        assert observed_after(race.race_id, seen.closed_at) == 0
        best = best_prices(session, race.race_id)
        lines = {line.horse_id: line for line in session.execute(
            select(MarketLine).where(MarketLine.race_id == race.race_id)).scalars()}
        assert lines and all(lines[h].closing_price == best[h] and lines[h].closing_at == seen.fetched_at
                             for h in lines if h in best)
        assert set(session.execute(select(OddsHistorical.provisional).where(
            OddsHistorical.race_id == race.race_id)).scalars()) == {True}
        assert seen.closeout_at is not None and seen.closeout_error is None


def test_a_failing_close_out_is_tried_once_a_cycle_never_held_up_by_retries(database_url, monkeypatch):
    import time

    from darkhorses.live.summary import CycleSummary
    from darkhorses.racing_api.client import RacingAPIClient
    from darkhorses.simulator import Faults, Simulator
    from tests.support import serve_as_racing_api
    client = FakeCards([race_card()])
    run_cycle(client, at(-60))
    client.race_cards["rac_1"] = RequestRefused("/v1/racecards/rac_1/pro: 404", 404, "Race not found")
    assert run_cycle(client, at(125)).closeout_failures == 1
    sim = Simulator(seed=3, faults=Faults(error_rate=1.0))
    server = serve_as_racing_api(monkeypatch, sim)
    http = RacingAPIClient(get_settings(), backoff=5.0)
    try:
        summary, started = CycleSummary(), time.monotonic()
        run_closeouts(http, at(300), summary, started)
        assert summary.closeout_failures == 1 and time.monotonic() - started < 5  # no backoff waited
        assert [key for _, key, _ in sim.request_log] == ["racecard"] and http.max_attempts > 1
    finally:
        server.shutdown()
        http.close()
    assert the_race().closeout_attempts == 2 and the_race().closeout_at is None


def test_an_open_race_gone_from_the_cards_is_closed_at_the_cap_without_a_close_out(database_url):
    client = FakeCards([race_card()])
    run_cycle(client, at(-60))
    client.cards = []
    assert run_cycle(client, at(600)).closed == 0
    assert run_cycle(client, at(1800)).closed == 1
    race = the_race()
    assert (race.close_reason, race.closeout_at) == ("cap", at(1800))
    assert not [r for r in client.requests if r[0] == "racecard"]
