"""Rule 4(c) and settlement on hand-worked cases (the figures below were worked on paper from
the Tattersalls scale) and fractional prices; `darkhorses settle` on the same race: test_settle_cli.py."""
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from darkhorses.analysis.prices import PriceError, from_decimal, parse_fractional, parse_price
from darkhorses.analysis.rule4 import SCALE, RaceResult, Withdrawal, deduction_pence, race_deductions, settle

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def at(minutes):
    return NOON + timedelta(minutes=minutes)


@pytest.mark.parametrize("text, odds", [
    ("EVS", 1), ("evens", 1), ("1/1", 1), ("100/30", Fraction(10, 3)), (" 5 / 2 ", Fraction(5, 2)),
    ("11/8", Fraction(11, 8)), ("2/1F", 2), ("7/2JF", Fraction(7, 2))])
def test_fractional_prices_as_quoted(text, odds):
    assert parse_fractional(text) == odds


@pytest.mark.parametrize("text", ["", "SP", "-", "5/0", "0/1", "five to two", "5/2/1", "-5/2", None, "1e3/2"])
def test_odd_fractional_strings_are_one_clear_error(text):
    with pytest.raises(PriceError) as error:
        parse_fractional(text)
    assert "\n" not in str(error.value) and repr(text) in str(error.value)


@pytest.mark.parametrize("odds, pence", [
    ("1/10", 90), ("1/9", 90), ("2/17", 85), ("1/6", 85), ("2/11", 85), ("1/5", 80), ("2/9", 80), ("1/4", 80),
    ("2/7", 75), ("3/10", 75), ("1/3", 70), ("4/11", 70), ("2/5", 70), ("4/9", 65), ("1/2", 65), ("8/15", 65),
    ("4/7", 60), ("8/13", 60), ("4/6", 55), ("8/11", 55), ("4/5", 55), ("5/6", 50), ("10/11", 50), ("20/21", 50),
    ("EVS", 45), ("11/10", 45), ("6/5", 45), ("5/4", 40), ("11/8", 40), ("6/4", 40), ("8/5", 35), ("13/8", 35),
    ("7/4", 35), ("9/5", 30), ("15/8", 30), ("2/1", 30), ("9/4", 30), ("12/5", 25), ("5/2", 25), ("11/4", 25),
    ("3/1", 25), ("16/5", 20), ("100/30", 20), ("7/2", 20), ("4/1", 20), ("9/2", 15), ("5/1", 15), ("11/2", 15),
    ("6/1", 10), ("13/2", 10), ("9/1", 10), ("19/2", 5), ("10/1", 5), ("14/1", 5), ("15/1", 0), ("50/1", 0)])
def test_the_scale_row_by_row(odds, pence):
    assert deduction_pence(parse_fractional(odds)) == pence


def test_stored_decimals_fall_in_the_row_of_their_fraction():
    # numeric(10,3) rounds 2/7 to 1.286 and 1/3 to 1.333: still 75p and 70p.
    assert deduction_pence(from_decimal(1.286)) == 75
    assert deduction_pence(from_decimal(1.333)) == 70
    assert parse_price("3.5") == Fraction(5, 2)
    with pytest.raises(PriceError):
        from_decimal(1.0)


# A race with two withdrawals: A at 2/1 (30p) at 12:00, B at 9/2 (15p) at 13:00.
TWO = RaceResult("r1", withdrawals=(Withdrawal("hA", "Alpha", at(0), 3.0), Withdrawal("hB", "Bravo", at(60), 5.5)),
                 positions={"hW": "1", "hL": "2"}, starting_prices={"hW": 4.0, "hL": 6.0})


def test_two_withdrawals_running_total():
    rows = race_deductions(list(TWO.withdrawals))
    assert [(r.horse_id, r.deduction_pence, r.running_total_pence, r.rule4_estimated) for r in rows] == [
        ("hA", 30, 30, True), ("hB", 15, 45, True)]


def test_bet_struck_before_both_withdrawals_carries_both():
    # £10 at 6/1: winnings 60, less 45p in the £ = 33; returned 43.
    result = settle("6/1", 10, at(-60), TWO, horse_id="hW")
    assert (result.deduction_pence, result.winnings, result.returned, result.won) == (45, 33.0, 43.0, True)
    assert result.applied == ("Alpha", "Bravo")


def test_bet_struck_between_and_after_the_withdrawals():
    between = settle("6/1", 10, at(30), TWO, horse_id="hW")
    assert (between.deduction_pence, between.returned) == (15, 61.0)  # 60 less 15% = 51, + 10
    after = settle("6/1", 10, at(90), TWO, horse_id="hW")
    assert (after.deduction_pence, after.returned, after.applied) == (0, 70.0, ())


def test_deductions_are_capped_at_90p():
    race = RaceResult("r2", withdrawals=(Withdrawal("h1", "One", at(0), 1.333), Withdrawal("h2", "Two", at(5), 1.667)))
    rows = race_deductions(list(race.withdrawals))
    assert [(r.deduction_pence, r.running_total_pence) for r in rows] == [(70, 70), (55, 90)]
    # £10 at 10/1: winnings 100, less 90p = 10; returned 20.
    result = settle("10/1", 10, at(-1), race)
    assert (result.deduction_pence, result.returned, result.won) == (90, 20.0, None)


def test_withdrawal_at_long_odds_deducts_nothing():
    race = RaceResult("r3", withdrawals=(Withdrawal("h1", "Outsider", at(0), 17.0),))  # 16/1
    result = settle("5/1", 10, at(-30), race)
    assert (result.deduction_pence, result.returned) == (0, 60.0)


def test_starting_price_bets_carry_only_withdrawals_no_new_market_followed():
    race = RaceResult("r4", withdrawals=(Withdrawal("h1", "Early", at(0), 3.0, new_market=True),
                                         Withdrawal("h2", "AtTheStart", at(58), 1.5, new_market=False)),
                      positions={"hW": "1"}, starting_prices={"hW": 4.0})
    # SP 3/1: winnings 30 less 65p (the 1/2 withdrawal only) = 10.5; returned 20.5.
    result = settle("SP", 10, None, race, horse_id="hW")
    assert (result.price, result.deduction_pence, result.returned, result.applied) == (4.0, 65, 20.5, ("AtTheStart",))
    # The early price struck before both carries 30p + 65p, capped at 90p: 30 * 0.1 = 3; returned 13.
    early = settle("3/1", 10, at(-10), race, horse_id="hW")
    assert (early.deduction_pence, early.returned) == (90, 13.0)


def test_official_figure_overrides_the_estimate_and_losers_return_nothing():
    race = RaceResult("r5", withdrawals=(Withdrawal("h1", "One", at(0), 3.0, official_pence=30),),
                      positions={"hW": "1", "hL": "3"})
    [row] = race_deductions(list(race.withdrawals))
    assert (row.deduction_pence, row.rule4_estimated) == (30, False)
    assert settle("4/1", 10, at(-5), race, horse_id="hW").returned == 38.0  # 40 * 0.7 + 10
    lost = settle("4/1", 10, at(-5), race, horse_id="hL")
    assert (lost.won, lost.returned, lost.winnings) == (False, 0.0, 0.0)


def test_dead_heat_halves_the_stake():
    race = RaceResult("r6", positions={"a": "1", "b": "1", "c": "3"})
    result = settle("4/1", 10, at(0), race, horse_id="a")
    assert (result.dead_heat, result.returned) == (2, 25.0)  # £5 at 4/1 returns 25


def test_withdrawal_with_no_price_is_unknown_until_an_official_figure():
    race = RaceResult("r7", withdrawals=(Withdrawal("h1", "Unpriced", at(0), None),))
    [row] = race_deductions(list(race.withdrawals))
    assert (row.deduction_pence, row.running_total_pence) == (None, None)
    with pytest.raises(PriceError, match="no price recorded"):
        settle("5/1", 10, at(-5), race)


def test_a_bet_on_the_withdrawn_runner_is_void():
    result = settle("2/1", 10, at(-60), TWO, horse_id="hA")
    assert (result.void, result.returned, result.deduction_pence) == (True, 10, 0)


@given(st.integers(1, 9999), st.integers(1, 9999), st.sampled_from(["{n}/{d}", " {n} / {d} ", "{n}/{d}F"]))
def test_any_fraction_reads_back_exactly(n, d, shape):
    assert parse_fractional(shape.format(n=n, d=d)) == Fraction(n, d)


@given(st.text(max_size=12))
def test_any_text_is_a_fraction_or_one_clear_error(text):
    try:
        odds = parse_fractional(text)
    except PriceError as error:
        assert "\n" not in str(error)
    else:
        assert odds > 0 and deduction_pence(odds) in {pence for _, pence in SCALE} | {0}
