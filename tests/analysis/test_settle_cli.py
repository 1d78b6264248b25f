"""`darkhorses settle` and `darkhorses rule4` on a race in PostgreSQL give the hand-worked
figures of test_rule4; bad input is one line and exit 2."""
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from darkhorses.commands import cli
from darkhorses.db import session_scope
from darkhorses.models import OddsHistorical, OddsHistory, OddsLive, Rule4Official, Withdrawal

DAY = date(2026, 12, 5)
NOON = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def race(database_url):
    """rac_1: Alpha withdrawn at 12:00 at 2/1 (30p; best of two books), Bravo at 13:00 at 9/2 (15p); hW won
    at SP 3/1; prices kept moving after both withdrawals (a new market)."""
    with session_scope() as session:
        for horse_id, name, minutes, price in (("hA", "Alpha", 0, 3.0), ("hB", "Bravo", 60, 5.5)):
            session.add(Withdrawal(race_id="rac_1", horse_id=horse_id, race_date=DAY, horse_name=name,
                                   withdrawn_at=NOON + timedelta(minutes=minutes), last_price=price,
                                   last_price_books=2, reason="off_card"))
        for book, fractional, decimal in (("bet365", "2/1", 3.0), ("coral", "15/8", 2.875)):
            session.add(OddsLive(race_id="rac_1", horse_id="hA", bookmaker_id=book, race_date=DAY, course="Ascot",
                                 horse_name="Alpha", bookmaker_name=book, odds_timestamp=NOON,
                                 odds_decimal=decimal, odds_fractional=fractional, market_status="NON_RUNNER"))
        session.add(OddsHistory(race_id="rac_1", horse_id="hW", bookmaker_id="bet365", odds_decimal=4.0,
                                changed_at=NOON + timedelta(minutes=90), observed_at=NOON + timedelta(minutes=90)))
        for horse_id, position, sp in (("hW", "1", 4.0), ("hL", "2", 6.0)):
            session.add(OddsHistorical(race_id="rac_1", horse_id=horse_id, finishing_position=position,
                                       industry_sp=sp, date_of_race=datetime(2026, 12, 5, tzinfo=timezone.utc)))


def _settle(capsys, *argv):
    code = cli.main(["settle", "rac_1", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 and "--json" in argv else out


def test_settle_gives_the_hand_worked_figures(race, capsys):
    code, before_both = _settle(capsys, "hW", "--price", "6/1", "--stake", "10", "--struck-at",
                                "2026-12-05T11:00:00+00:00", "--json")
    assert code == 0
    assert (before_both["deduction_pence"], before_both["winnings"], before_both["returned"]) == (45, 33.0, 43.0)
    assert before_both["applied"] == ["Alpha", "Bravo"] and before_both["won"] is True
    _, between = _settle(capsys, "hW", "--price", "6/1", "--stake", "10", "--struck-at", "2026-12-05T12:30", "--json")
    assert (between["deduction_pence"], between["returned"]) == (15, 61.0)
    # SP: a new market formed after both withdrawals, so no deduction: £10 at 3/1 returns 40.
    _, sp = _settle(capsys, "hW", "--price", "SP", "--stake", "10", "--json")
    assert (sp["price"], sp["deduction_pence"], sp["returned"]) == (4.0, 0, 40.0)
    _, loser = _settle(capsys, "hL", "--price", "5/1", "--stake", "10", "--struck-at", "2026-12-05T11:00", "--json")
    assert (loser["won"], loser["returned"]) == (False, 0.0)
    code, line = _settle(capsys, "hW", "--price", "6/1", "--stake", "10", "--struck-at", "2026-12-05T11:00")
    assert code == 0 and line.strip() == "return 43.00: stake 10.00 at 7, Rule 4 45p (Alpha, Bravo), won"


def test_rule4_per_withdrawal_with_each_bookmakers_price_and_an_official_override(race, capsys):
    assert cli.main(["rule4", "rac_1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["horse_id"], r["deduction_pence"], r["running_total_pence"], r["rule4_estimated"]) for r in rows] == [
        ("hA", 30, 30, True), ("hB", 15, 45, True)]
    assert rows[0]["bookmakers"] == [
        {"bookmaker_id": "bet365", "odds_fractional": "2/1", "odds_decimal": 3.0, "deduction_pence": 30},
        {"bookmaker_id": "coral", "odds_fractional": "15/8", "odds_decimal": 2.875, "deduction_pence": 30}]
    with session_scope() as session:
        session.add(Rule4Official(race_id="rac_1", horse_id="hA", deduction_pence=20, source="Racing Post"))
    assert cli.main(["rule4", "rac_1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (rows[0]["deduction_pence"], rows[0]["rule4_estimated"], rows[1]["running_total_pence"]) == (20, False, 35)
    _, settled = _settle(capsys, "hW", "--price", "6/1", "--stake", "10", "--struck-at", "2026-12-05T11:00", "--json")
    assert settled["returned"] == 49.0  # 60 less 35p = 39, + 10


@pytest.mark.parametrize("argv, says", [
    (["hW", "--price", "five to one", "--struck-at", "2026-12-05T11:00"], "expected fractional odds"),
    (["hW", "--price", "5/0", "--struck-at", "2026-12-05T11:00"], "odds must be above zero"),
    (["hW", "--price", "6/1"], "needs --struck-at"),
    (["hW", "--price", "6/1", "--struck-at", "noon"], "--struck-at 'noon'"),
    (["hW", "--price", "6/1", "--stake", "0", "--struck-at", "2026-12-05T11:00"], "--stake 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, says):
    assert cli.main(["settle", "rac_1", *argv]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert says in line


def test_unknown_race_is_one_line(database_url, capsys):
    assert cli.main(["settle", "rac_none", "h1", "--price", "SP"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "race rac_none: no withdrawal and no result recorded" in line
