"""The live cycle's parts: parsing racecards with every quirk, the countdown, the writes."""
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses import live
from darkhorses.db import session_scope
from darkhorses.live import next_poll_seconds, parse_racecard
from darkhorses.models import LiveFetch, LiveRace, OddsHistory, OddsLive
from darkhorses.settings import parse_poll_intervals

TABLE = parse_poll_intervals("300:10,1800:60,7200:300,*:900")


def quote(bookmaker, decimal, fractional, updated="2026-11-28T13:40:00+00:00", history=None):
    return {"bookmaker": bookmaker, "fractional": fractional, "decimal": decimal, "ew_places": "3",
            "ew_denom": "5", "updated": updated, **({"history": history} if history is not None else {})}


def runner(horse_id, odds, **extra):
    return {"horse_id": horse_id, "horse": f"Horse {horse_id}", "number": "1", "draw": "4", "lbs": "140",
            "jockey": "A Jockey", "trainer": "A Trainer", "age": "5", "form": "1-23", "odds": odds, **extra}


def card(race_id="rac_1", off_dt="2026-11-28T13:50:00+00:00", runners=None, **extra):
    return {"race_id": race_id, "course": "Kempton", "course_id": "crs_1", "date": "2026-11-28",
            "off_time": "1:50", "off_dt": off_dt, "race_name": "Kempton Handicap", "region": "GB",
            "race_class": "Class 4", "type": "Flat", "distance": "1m", "going": "Standard",
            "field_size": "8", "runners": runners or [], **extra}


def test_prices_with_every_quirk():
    race = parse_racecard(card(runners=[runner("h1", [
        quote("Bet365", "4.5", "7/2"),
        quote("William Hill", "evens", "evens"),
        quote("Paddy Power", "", "evens"),          # decimal missing: from the fraction
        quote("Sky Bet", "-", "-"),                 # not priced: skipped
        quote("Ladbrokes", "SP", "SP"),             # SP only: skipped
        quote("Coral", "", ""),                     # empty: skipped
        quote("Betfred", "abc", "x/y"),             # junk: skipped
        quote("Some New Bookie", "3.0", "2/1"),     # unknown bookmaker: skipped
        quote("Betfair Exchange", "4.6", "18/5"),
    ])]))
    prices = {r["bookmaker_id"]: (r["odds_decimal"], r["odds_fractional"]) for r in race.rows}
    assert prices == {"bet365": (4.5, "7/2"), "williamhill": (2.0, "evens"), "paddypower": (2.0, "evens"),
                      "betfair": (4.6, "18/5")}
    assert race.skipped_prices == 5
    exchange = next(r for r in race.rows if r["bookmaker_id"] == "betfair")
    assert exchange["bookmaker_type"] == "exchange" and exchange["bookmaker_name"] == "Betfair Exchange"


def test_race_time_comes_from_off_dt_in_uk_time_never_the_12_hour_off_time():
    summer = parse_racecard(card(off_dt="2026-07-04T13:50:00+01:00", off_time="1:50",
                                 runners=[runner("h1", [quote("Bet365", "3.0", "2/1")])]))
    assert summer.meta["race_time"] == time(13, 50)
    assert summer.off_dt == datetime(2026, 7, 4, 12, 50, tzinfo=timezone.utc)
    late = parse_racecard(card(off_dt="2026-11-28T20:15:00+00:00", off_time="8:15"))
    assert late.meta["race_time"] == time(20, 15)


def test_a_malformed_runner_is_skipped_and_counted_and_the_race_kept():
    race = parse_racecard(card(runners=[
        runner("h1", [quote("Bet365", "3.0", "2/1")]),
        {"horse": "no id"},                          # missing key
        "not even an object",
        runner("h3", "odds should be a list"),
        runner("h4", [None, 7, quote("Coral", "5.0", "4/1")]),
    ]))
    assert sorted({r["horse_id"] for r in race.rows}) == ["h1", "h4"]
    assert race.skipped_runners == 3
    assert race.skipped_prices == 2


@pytest.mark.parametrize("bad", [{}, {"race_id": "r"}, card(off_dt="not a time"), card(runners="x"), None])
def test_a_malformed_race_raises_a_clear_error(bad):
    with pytest.raises(live.MalformedRace):
        parse_racecard(bad)


def test_the_apis_own_history_is_kept():
    race = parse_racecard(card(runners=[runner("h1", [quote("Bet365", "3.0", "2/1", history=[
        {"fractional": "5/2", "decimal": "3.5", "changed_at": "2026-11-28T12:00:00+00:00"},
        {"fractional": "-", "decimal": "-", "changed_at": "2026-11-28T11:00:00+00:00"}])])]))
    history = live.earlier_prices("rac_1", "h1", "bet365", race.raw_history[("h1", "bet365")])
    assert [(h["odds_decimal"], h["changed_at"].isoformat()) for h in history] == [
        (3.5, "2026-11-28T12:00:00+00:00")]
    assert live.earlier_prices("r", "h", "b", "not a list") == []


@pytest.mark.parametrize("seconds_to_off, expected", [
    (60, 10), (300, 10), (301, 1), (330, 30), (900, 60), (1800, 60), (1830, 300),
    (3600, 300), (7200, 300), (7500, 900), (20000, 900), (None, 900),
])
def test_countdown_table(seconds_to_off, expected):
    assert next_poll_seconds(seconds_to_off, TABLE) == expected


def test_countdown_never_skips_a_races_last_five_minutes():
    # every band: waking after the countdown never lands inside the last 5 min without a poll
    for seconds_to_off in range(301, 10000, 7):
        countdown = next_poll_seconds(seconds_to_off, TABLE)
        assert seconds_to_off - countdown >= 300 - 1e-9
        assert countdown <= 900


def test_countdown_is_measured_from_the_start_of_the_cycle():
    assert next_poll_seconds(60, TABLE, elapsed=3.5) == 6.5
    assert next_poll_seconds(60, TABLE, elapsed=30) == 0


# -- writing, against the real PostgreSQL --------------------------------------------------------

class FakeCards:
    """Stands in for the HTTP client: the cards of today (and nothing tomorrow)."""

    def __init__(self, cards):
        self.cards = cards

    def racecards_pro(self, day, regions):
        return [c for c in self.cards if c["off_dt"][:10] == day.isoformat()]


def test_cycle_writes_changes_only_and_freezes_races_that_are_off(database_url):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    cards = [card("rac_1", "2026-11-28T13:20:00+00:00", [
                runner("h1", [quote("Bet365", "3.0", "2/1"), quote("Coral", "4.0", "3/1")]),
                runner("h2", [quote("Bet365", "5.0", "4/1")])]),
             card("rac_2", "2026-11-28T12:50:00+00:00", [runner("h9", [quote("Bet365", "2.5", "6/4")])])]
    client = FakeCards(cards)
    first = live.run_cycle(client, now)
    assert (first.races, first.runners, first.prices, first.changed) == (1, 2, 3, 3)
    assert first.next_poll_seconds == pytest.approx(60 - first.duration_seconds, abs=0.01)

    second = live.run_cycle(client, now + timedelta(seconds=60))
    assert second.changed == 0 and second.prices == 3

    cards[0]["runners"][0]["odds"][0] = quote("Bet365", "2.5", "6/4", updated="2026-11-28T13:01:30+00:00")
    cards[0]["going"] = "Standard to Slow"
    third = live.run_cycle(client, now + timedelta(seconds=120))
    assert third.changed == 3  # one price moved; the going change touches every row of the race

    with session_scope() as session:
        history = session.execute(select(OddsHistory.horse_id, OddsHistory.bookmaker_id, OddsHistory.odds_decimal)
                                  .order_by(OddsHistory.observed_at, OddsHistory.horse_id, OddsHistory.bookmaker_id)).all()
        assert history == [("h1", "bet365", 3.0), ("h1", "coral", 4.0), ("h2", "bet365", 5.0), ("h1", "bet365", 2.5)]
        assert session.execute(select(func.count()).select_from(OddsLive)).scalar() == 3
        assert set(session.execute(select(OddsLive.going)).scalars()) == {"Standard to Slow"}
        race = session.get(LiveRace, "rac_1")
        assert race.captures == 3 and race.fetched_at == now + timedelta(seconds=120)
        assert session.execute(select(func.count()).select_from(LiveFetch)).scalar() == 3

    # the off: the race is never written again, its market is closed
    after_off = now + timedelta(minutes=21)
    cards[0]["runners"][0]["odds"][0] = quote("Bet365", "9.0", "8/1")
    closing = live.run_cycle(client, after_off)
    assert closing.races == 0 and closing.closed == 1
    with session_scope() as session:
        prices = dict(session.execute(select(OddsLive.bookmaker_id, OddsLive.odds_decimal)
                                      .where(OddsLive.horse_id == "h1")).all())
        assert prices == {"bet365": 2.5, "coral": 4.0}
        assert set(session.execute(select(OddsLive.market_status)).scalars()) == {"CLOSED"}
        assert session.execute(select(func.max(OddsLive.updated_at))).scalar() < after_off
