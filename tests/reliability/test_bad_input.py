"""Property-based: whatever shape the API's payload takes, nothing crashes, bad runners are
counted and skipped, and the good runners of the same race are kept."""
from datetime import date, datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from darkhorses.db import session_scope
from darkhorses.historical.mapping import map_results
from darkhorses.live.cycle import run_cycle
from darkhorses.live.parse import MalformedRace, earlier_prices, parse_racecard
from darkhorses.models import LivePrice, OddsLive
from tests.builders import FakeCards, quote, runner

junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                 st.text(min_size=300, max_size=2000), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
odd_price = st.one_of(st.sampled_from(["-", "SP", "", "evens", "Evs", "0", "-3", "1.0", "1e9", "nan", "inf", "9/0",
                                       "0/1", "abc", " 4.5 ", "100/30", "5.5"]), junk)
odd_time = st.one_of(st.sampled_from(["2026-11-28T13:50:00+00:00", "2026-07-04 13:50:00", "not a date",
                                      "2026-13-45T99:99:99", "", "1:50"]), junk)


def good_runner(horse_id):
    return runner(horse_id, [quote("Bet365", "3.5", "5/2", updated="2026-11-28 12:00:00")], horse="Good Horse")


@st.composite
def bad_runner(draw):
    runner = {"horse_id": draw(st.one_of(st.text(min_size=1, max_size=40), junk)),
              "horse": draw(junk), "number": draw(junk), "draw": draw(junk), "jockey": draw(junk),
              "lbs": draw(junk), "odds": draw(st.one_of(junk, st.lists(st.one_of(junk, st.fixed_dictionaries({
                  "bookmaker": st.one_of(st.sampled_from(["Bet365", "Coral", "Betfair Exchange"]), junk),
                  "decimal": odd_price, "fractional": odd_price, "updated": odd_time,
                  "history": st.one_of(junk, st.lists(st.dictionaries(
                      st.sampled_from(["decimal", "fractional", "changed_at"]), odd_price), max_size=3))})),
                  max_size=4)))}
    for key in draw(st.lists(st.sampled_from(sorted(runner)), max_size=3)):
        runner.pop(key, None)
    return draw(st.one_of(st.just(runner), junk))


@st.composite
def racecard(draw):
    card = {"race_id": "rac_prop", "off_dt": draw(st.one_of(st.just("2026-11-28T15:50:00+00:00"), odd_time)),
            "course": draw(junk), "region": draw(st.one_of(st.sampled_from(["GB", "ire"]), junk)),
            "race_name": draw(junk), "field_size": draw(junk), "going": draw(junk), "is_abandoned": draw(junk),
            "runners": [good_runner("hrs_good_1")] + draw(st.lists(bad_runner(), max_size=6))
            + [good_runner("hrs_good_2")]}
    return card


@settings(max_examples=300, deadline=None)
@given(racecard())
def test_parsing_a_racecard_never_crashes_and_keeps_good_runners(card):
    try:
        race = parse_racecard(card)
    except MalformedRace:
        assert not isinstance(card["off_dt"], str) or card["off_dt"] not in ("2026-11-28T15:50:00+00:00",)
        return
    horses = {row["horse_id"] for row in race.rows}
    assert {"hrs_good_1", "hrs_good_2"} <= horses
    assert all(1.0 < row["odds_decimal"] <= 1001 for row in race.rows)
    assert all(len(row["horse_id"]) <= 32 for row in race.rows)
    for (horse, bookmaker), history in race.raw_history.items():
        earlier_prices(race.race_id, horse, bookmaker, history)  # must not raise either


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(junk, st.fixed_dictionaries({
    "race_id": st.one_of(st.just("rac_r"), junk), "off_dt": odd_time, "date": odd_time,
    "region": junk, "course": junk, "race_name": junk, "class": junk, "dist_f": junk,
    "runners": st.one_of(junk, st.lists(st.one_of(junk, st.fixed_dictionaries({
        "horse_id": st.one_of(st.just("hrs_x"), junk), "position": junk, "sp": odd_price, "sp_dec": odd_price,
        "bsp": odd_price, "or": junk, "draw": junk, "age": junk, "weight_lbs": junk})), max_size=5))})),
    max_size=4))
def test_mapping_results_never_crashes(results):
    day = map_results(results)
    assert day.races + day.skipped_races + day.duplicate_races == len(results)
    for row in day.rows:
        assert row["sp_win_return"] is None or row["sp_win_return"] >= 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(racecard())
def test_a_cycle_stores_the_good_runners_of_a_bad_race(database_url, card):
    summary = run_cycle(FakeCards([card], on=date(2026, 11, 28)), datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc))
    with session_scope() as session:
        stored = set(session.execute(select(OddsLive.horse_id).where(OddsLive.race_id == "rac_prop")).scalars())
        session.execute(LivePrice.__table__.delete())
    if summary.races == 1:  # a readable off time still ahead, not abandoned
        assert {"hrs_good_1", "hrs_good_2"} <= stored
        assert summary.runners + summary.skipped_runners == len(card["runners"])  # each counted once
    else:
        assert summary.races == 0 and not stored
