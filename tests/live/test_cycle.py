"""The live cycle's parts: parsing racecards with every quirk, the countdown, the writes."""
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses.core.settings import parse_poll_intervals
from darkhorses.db import session_scope
from darkhorses.live.cycle import TurnLost, next_poll_seconds, run_cycle
from darkhorses.live.parse import MalformedRace, earlier_prices, parse_racecard
from darkhorses.live.write import _unknown_logged
from darkhorses.models import LiveFetch, LiveRace, OddsHistory, OddsLive
from darkhorses.racing_api.client import TemporarilyUnavailable
from tests.builders import FakeCards, card, quote, result, result_runner, runner

TABLE = parse_poll_intervals("300:10,1800:60,7200:300,*:900")


def test_prices_with_every_quirk():
    race = parse_racecard(card(runners=[runner("h1", [
        quote("Bet365", "4.5", "7/2"),
        quote("William Hill", "evens", "evens"),
        quote("Paddy Power", "", "evens"),          # decimal missing: from the fraction
        quote("Sky Bet", "-", "-"),                 # not priced: skipped
        quote("Ladbrokes", "SP", "SP"),             # SP only: skipped
        quote("Coral", "", ""),                     # empty: skipped
        quote("Betfred", "abc", "x/y"),             # junk: skipped
        quote("Some New Bookie", "3.0", "2/1"),     # a bookmaker not in our list: kept as unknown
        quote("Betfair Exchange", "4.6", "18/5"),
    ])]))
    prices = {r["bookmaker_id"]: (r["odds_decimal"], r["odds_fractional"]) for r in race.rows}
    assert prices == {"bet365": (4.5, "7/2"), "williamhill": (2.0, "evens"), "paddypower": (2.0, "evens"),
                      "betfair": (4.6, "18/5"), "somenewbookie": (3.0, "2/1")}
    assert race.skipped_prices == 4
    assert race.unknown_bookmakers == {"somenewbookie": "Some New Bookie"}
    exchange = next(r for r in race.rows if r["bookmaker_id"] == "betfair")
    assert exchange["bookmaker_type"] == "exchange" and exchange["bookmaker_name"] == "Betfair Exchange"


def test_race_time_comes_from_off_dt_in_uk_time_never_the_12_hour_off_time():
    summer = parse_racecard(card(off_dt="2026-07-04T13:50:00+01:00", off_time="1:50",
                                 runners=[runner("h1", [quote("Bet365", "3.0", "2/1")])]))
    assert summer.values.race_time == time(13, 50)
    assert summer.off_dt == datetime(2026, 7, 4, 12, 50, tzinfo=timezone.utc)
    late = parse_racecard(card(off_dt="2026-11-28T20:15:00+00:00", off_time="8:15"))
    assert late.values.race_time == time(20, 15)


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
    with pytest.raises(MalformedRace):
        parse_racecard(bad)


def test_the_apis_own_history_is_kept():
    race = parse_racecard(card(runners=[runner("h1", [quote("Bet365", "3.0", "2/1", history=[
        {"fractional": "5/2", "decimal": "3.5", "changed_at": "2026-11-28T12:00:00+00:00"},
        {"fractional": "-", "decimal": "-", "changed_at": "2026-11-28T11:00:00+00:00"}])])]))
    history = earlier_prices("rac_1", "h1", "bet365", race.raw_history[("h1", "bet365")])
    assert [(h["odds_decimal"], h["changed_at"].isoformat()) for h in history] == [
        (3.5, "2026-11-28T12:00:00+00:00")]
    assert earlier_prices("r", "h", "b", "not a list") == []


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

def test_cycle_writes_changes_only_and_freezes_races_that_are_off(database_url):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    cards = [card("rac_1", "2026-11-28T13:20:00+00:00", [
                runner("h1", [quote("Bet365", "3.0", "2/1"), quote("Coral", "4.0", "3/1")]),
                runner("h2", [quote("Bet365", "5.0", "4/1")])]),
             # first seen ten minutes past its off, its prices frozen before it: not opened
             card("rac_2", "2026-11-28T12:50:00+00:00", [runner("h9", [quote(
                 "Bet365", "2.5", "6/4", updated="2026-11-28T12:49:00+00:00")])])]
    client = FakeCards(cards)
    first = run_cycle(client, now)
    assert (first.races, first.runners, first.prices, first.changed) == (1, 2, 3, 3)
    assert first.not_opened == 1
    assert first.next_poll_seconds == pytest.approx(60 - first.duration_seconds, abs=0.01)

    second = run_cycle(client, now + timedelta(seconds=60))
    assert second.changed == 0 and second.prices == 3

    cards[0]["runners"][0]["odds"][0] = quote("Bet365", "2.5", "6/4", updated="2026-11-28T13:01:30+00:00")
    cards[0]["going"] = "Standard to Slow"
    third = run_cycle(client, now + timedelta(seconds=120))
    assert third.changed == 1  # one price moved; the going change is the race's facts, one row for all its prices

    with session_scope() as session:
        history = session.execute(select(OddsHistory.horse_id, OddsHistory.bookmaker_id, OddsHistory.odds_decimal)
                                  .order_by(OddsHistory.observed_at, OddsHistory.horse_id,
                                            OddsHistory.bookmaker_id)).all()
        assert history == [("h1", "bet365", 3.0), ("h1", "coral", 4.0), ("h2", "bet365", 5.0), ("h1", "bet365", 2.5)]
        assert session.execute(select(func.count()).select_from(OddsLive)).scalar() == 3
        assert set(session.execute(select(OddsLive.going)).scalars()) == {"Standard to Slow"}
        race = session.get(LiveRace, "rac_1")
        assert race.captures == 3 and race.fetched_at == now + timedelta(seconds=120)
        assert session.execute(select(func.count()).select_from(LiveFetch)).scalar() == 3

    # past the scheduled off the race stays open: a move is written like any other
    after_off = now + timedelta(minutes=21)
    cards[0]["runners"][0]["odds"][0] = quote("Bet365", "9.0", "8/1", updated="2026-11-28T13:20:40+00:00")
    late = run_cycle(client, after_off)
    assert late.races == 1 and late.changed == 1 and late.closed == 0 and late.past_off_open == 1
    assert late.next_poll_seconds <= 10  # the fastest band until it goes off
    # nothing moved for LIVE_OFF_QUIET_SECONDS (120) since its last move at 13:20:40: closed, quiet
    quiet = run_cycle(client, now + timedelta(minutes=22, seconds=35))
    assert quiet.closed == 0
    closing = run_cycle(client, now + timedelta(minutes=22, seconds=41))
    assert closing.closed == 1 and closing.past_off_open == 0
    # a later move is never written
    cards[0]["runners"][0]["odds"][0] = quote("Bet365", "1.5", "1/2", updated="2026-11-28T13:25:00+00:00")
    after = run_cycle(client, now + timedelta(minutes=25, seconds=30))
    assert after.races == 0 and after.changed == 0
    with session_scope() as session:
        prices = dict(session.execute(select(OddsLive.bookmaker_id, OddsLive.odds_decimal)
                                      .where(OddsLive.horse_id == "h1")).all())
        assert prices == {"bet365": 9.0, "coral": 4.0}
        assert set(session.execute(select(OddsLive.market_status)).scalars()) == {"CLOSED"}
        assert session.execute(select(func.max(OddsLive.updated_at))).scalar() == after_off
        race = session.get(LiveRace, "rac_1")
        assert (race.close_reason, race.closed_at) == ("quiet", now + timedelta(minutes=22, seconds=41))
        assert race.off_late_seconds == 40.0  # the last move, 40 s after the scheduled off
        assert session.get(LiveRace, "rac_2") is None


def test_a_race_repeated_across_pages_and_a_runner_listed_twice_are_taken_once(database_url, caplog):
    from darkhorses.racing_api.bookmakers import BOOKMAKERS
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    books = [b.name for b in BOOKMAKERS][:20]

    def field(price):
        return [runner(f"h{i}", [quote(b, price, None) for b in books]) for i in range(1, 11)]
    first_copy = card("rac_1", "2026-11-28T13:40:00+00:00", field("3.0"))
    later_copy = card("rac_1", "2026-11-28T13:40:00+00:00", field("3.5"))  # the API paged while prices moved
    later_copy["runners"].append(runner("h1", [quote("Bet365", "4.0", None)]))  # h1 listed again
    with caplog.at_level("WARNING", logger="darkhorses.live"):
        summary = run_cycle(FakeCards([first_copy, later_copy]), now)
    # 10 runners x 20 books, minus h1's first listing (19 books it no longer quotes)
    assert (summary.races, summary.runners, summary.prices, summary.duplicates) == (1, 10, 181, 2)
    with session_scope() as session:
        key = OddsLive.horse_id + "/" + OddsLive.bookmaker_id
        rows = dict(session.execute(select(key, OddsLive.odds_decimal)).all())
        assert len(rows) == 181 and rows["h1/bet365"] == 4.0 and rows["h2/bet365"] == 3.5
        assert session.get(LiveRace, "rac_1").captures == 1
    assert sum("repeated" in r.getMessage() for r in caplog.records) == 1


def test_a_flood_of_malformed_runners_is_one_warning_line(database_url, caplog):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    junk = [{"horse_id": f"bad\n{i}", "odds": "not a list"} for i in range(5000)]
    cards = [card(f"rac_{n}", "2026-11-28T13:40:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1")])] + junk)
             for n in range(3)] + [card(f"bad\r{n}", "2026-11-28T??:??") for n in range(1000)]
    with caplog.at_level("WARNING"):
        summary = run_cycle(FakeCards(cards), now)
    assert (summary.races, summary.skipped_runners, summary.skipped_races) == (3, 15000, 1000)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("\n" not in m for m in messages)
    assert "skipped 15000 malformed racecard runners" in " ".join(messages)


def test_a_nul_in_an_api_string_is_dropped_not_a_failed_cycle(database_url):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    bad = card("rac_1", "2026-11-28T13:40:00+00:00",
               [runner("h1", [quote("Bet365", "3.0", "2/1")], horse="Nul\x00Horse")],
               race_name="Kempton\x00 Handicap")
    assert run_cycle(FakeCards([bad]), now).races == 1
    with session_scope() as session:
        row = session.execute(select(OddsLive.race_name, OddsLive.horse_name)).one()
    assert tuple(row) == ("Kempton Handicap", "NulHorse")


# -- market fidelity: tomorrow, non-runners, every bookmaker, every move -----------------------

class RecordingCards(FakeCards):
    """FakeCards that records each racecards call's date, and can fail for chosen dates."""

    def __init__(self, cards, failing=()):
        super().__init__(cards)
        self.calls, self.failing = [], set(failing)

    def racecards_pro(self, day, regions):
        self.calls.append(day)
        if day in self.failing:
            raise TemporarilyUnavailable("racecards: 503 from the API (test)")
        return super().racecards_pro(day, regions)


def test_tomorrow_is_fetched_from_the_first_cycle_then_every_15_minutes_and_never_fails_today(database_url):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    today, tomorrow = now.date(), now.date() + timedelta(days=1)
    cards = [card("rac_1", "2026-11-28T13:04:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1")])]),
             card("rac_2", "2026-11-28T13:45:00+00:00", [runner("h2", [quote("Bet365", "3.0", "2/1")])]),
             card("rac_t", "2026-11-29T14:00:00+00:00", [runner("h7", [quote("Coral", "6.0", "5/1")])])]
    client = RecordingCards(cards)
    first = run_cycle(client, now)
    assert client.calls == [today, tomorrow] and first.tomorrow_races == 1
    assert first.next_off == "2026-11-28T13:04:00+00:00"  # the countdown aims at today's next race
    assert first.next_poll_seconds <= 10
    for seconds in (10, 20, 899):  # the 10-second polls: one call each, today's
        summary = run_cycle(client, now + timedelta(seconds=seconds))
        assert summary.tomorrow_races is None
    assert client.calls == [today, tomorrow, today, today, today]
    run_cycle(client, now + timedelta(seconds=900))
    assert client.calls[-2:] == [today, tomorrow]
    with session_scope() as session:
        early = session.execute(select(OddsHistory.observed_at).where(OddsHistory.race_id == "rac_t")).scalars().all()
        assert early == [now]  # tomorrow's price captured the day before

    # tomorrow's fetch failing: today's cycle still writes, and tomorrow is retried when next due
    failing = RecordingCards(cards, failing={tomorrow})
    cards[1]["runners"][0]["odds"][0] = quote("Bet365", "2.75", "7/4", updated="2026-11-28T13:16:00+00:00")
    summary = run_cycle(failing, now + timedelta(seconds=1800))
    assert failing.calls == [today, tomorrow] and summary.tomorrow_races == 0 and summary.changed == 1
    run_cycle(failing, now + timedelta(seconds=1810))
    assert failing.calls == [today, tomorrow, today]


def test_a_runner_gone_from_the_card_is_closed_once_recorded_and_reopened_if_it_returns(database_url, caplog):
    from darkhorses.live.market import best_prices, withdrawals_on
    from darkhorses.models import Withdrawal
    from darkhorses.stats.compute import collection_health
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    h1 = runner("h1", [quote("Bet365", "3.0", "2/1"), quote("Coral", "3.5", "5/2")])
    h2 = runner("h2", [quote("Bet365", "5.0", "4/1"), quote("Coral", "4.5", "7/2")])
    h3 = runner("h3", [quote("Bet365", "9.0", "8/1"), quote("Coral", "11.0", "10/1")])
    race = card("rac_1", "2026-11-28T14:00:00+00:00", [h1, h2, h3])
    client = FakeCards([race])
    run_cycle(client, now)
    race["runners"] = [h1, h3]  # h2 withdrawn: gone from the card
    h3["odds"] = [quote("Bet365", "-", "-"), quote("Coral", "-", "-")]  # h3: '-' from every book
    at = now + timedelta(minutes=5)
    summary = run_cycle(client, at)
    assert summary.withdrawn == 2
    with session_scope() as session:
        rows = session.execute(select(OddsLive.horse_id, OddsLive.market_status, OddsLive.withdrawn_at)
                               .order_by(OddsLive.horse_id, OddsLive.bookmaker_id)).all()
        assert rows == [("h1", "OPEN", None)] * 2 + [("h2", "NON_RUNNER", at)] * 2 + [("h3", "NON_RUNNER", at)] * 2
        assert best_prices(session, "rac_1") == {"h1": 3.5}
        book = {r["bookmaker_id"]: r["book_percent"] for r in collection_health(session, at, 60)["overround_today"]}
        assert book == {"bet365": round(100 / 3.0, 2), "coral": round(100 / 3.5, 2)}  # h1 alone
        gone = [(w["horse_id"], w["withdrawn_at"], w["last_price"], w["last_price_books"], w["reason"])
                for w in withdrawals_on(session, at.date())]
        assert gone == [("h2", at, 5.0, 2, "off_card"), ("h3", at, 11.0, 2, "no_prices")]

    later = now + timedelta(minutes=10)
    assert run_cycle(client, later).withdrawn == 0  # once
    race["runners"] = [h1, h2, h3]
    with caplog.at_level("WARNING", logger="darkhorses.live"):
        back = run_cycle(client, later + timedelta(minutes=1))
    assert back.reopened == 1 and "h2 is back on the card" in caplog.text
    with session_scope() as session:
        assert set(session.execute(select(OddsLive.market_status, OddsLive.withdrawn_at)
                                   .where(OddsLive.horse_id == "h2")).all()) == {("OPEN", None)}
        assert session.get(Withdrawal, ("rac_1", "h2")).reopened_at == later + timedelta(minutes=1)
        assert best_prices(session, "rac_1") == {"h1": 3.5, "h2": 5.0}
    # the off (its result out a minute later) closes the open runners; the non-runner stays a non-runner
    client.results = [result("rac_1", [result_runner("h1", "1", "5/2", "3.50")], off_dt="2026-11-28T14:00:00+00:00")]
    assert run_cycle(client, now + timedelta(hours=1, minutes=1)).results_seen == 1
    with session_scope() as session:
        assert dict(session.execute(select(OddsLive.horse_id, OddsLive.market_status).distinct()).all()) == {
            "h1": "CLOSED", "h2": "CLOSED", "h3": "NON_RUNNER"}


def test_an_unlisted_bookmaker_is_stored_counted_and_logged_once(database_url, caplog):
    from darkhorses.models import Bookmaker
    _unknown_logged.discard("betmgm")
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    race = card("rac_1", "2026-11-28T14:00:00+00:00", [
        runner("h1", [quote("Bet365", "3.0", "2/1"), quote("BetMGM", "3.25", "9/4")]),
        runner("h2", [quote("Bet MGM", "6.0", "5/1")])])
    with caplog.at_level("WARNING", logger="darkhorses.live"):
        first = run_cycle(FakeCards([race]), now)
        second = run_cycle(FakeCards([race]), now + timedelta(seconds=60))
    assert first.unknown_bookmakers == 1 and second.unknown_bookmakers == 1 and first.bookmakers == 2
    assert caplog.text.count("is not in our list") == 1
    with session_scope() as session:
        mgm = session.get(Bookmaker, "betmgm")
        assert (mgm.bookmaker_type, mgm.bookmaker_name) == ("unknown", "BetMGM")
        assert dict(session.execute(select(OddsLive.horse_id, OddsLive.odds_decimal)
                                    .where(OddsLive.bookmaker_id == "betmgm")).all()) == {"h1": 3.25, "h2": 6.0}
        assert session.execute(select(LiveFetch.detail).order_by(LiveFetch.id)).scalars().first()[
            "unknown_bookmakers"] == 1


def test_a_move_without_a_new_stamp_is_history_and_a_repeat_is_not(database_url):
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    stamp = "2026-11-28T12:30:00+00:00"
    race = card("rac_1", "2026-11-28T14:00:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1", updated=stamp)])])
    client = FakeCards([race])
    run_cycle(client, now)
    race["runners"][0]["odds"] = [quote("Bet365", "3.5", "5/2", updated=stamp)]  # moved, same stamp
    run_cycle(client, now + timedelta(seconds=60))
    run_cycle(client, now + timedelta(seconds=120))  # repeated: nothing new
    race["runners"][0]["odds"] = [quote("Bet365", "3.0", "2/1", updated=stamp)]  # and back, same stamp
    run_cycle(client, now + timedelta(seconds=180))
    run_cycle(client, now + timedelta(seconds=240))
    with session_scope() as session:
        history = session.execute(select(OddsHistory.odds_decimal, OddsHistory.changed_at, OddsHistory.observed_at)
                                  .order_by(OddsHistory.observed_at)).all()
    stamped = datetime(2026, 11, 28, 12, 30, tzinfo=timezone.utc)
    assert history == [(3.0, stamped, now), (3.5, now + timedelta(seconds=60), now + timedelta(seconds=60)),
                       (3.0, now + timedelta(seconds=180), now + timedelta(seconds=180))]


def test_a_replaced_cycle_writes_no_price(database_url):
    """The live loop's lease check (`confirm`) answers False: its worker was frozen and another
    loop took over. The prices' transaction is rolled back."""
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    cards = [card("rac_1", "2026-11-28T13:20:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1")])])]
    with pytest.raises(TurnLost):
        run_cycle(FakeCards(cards), now, confirm=lambda: False)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(OddsLive)) == 0
        assert session.scalar(select(func.count()).select_from(LiveFetch)) == 0
    assert run_cycle(FakeCards(cards), now, confirm=lambda: True).prices == 1
