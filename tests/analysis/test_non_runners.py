"""Non-runners from the results' free text into rows, matched to our runners, and set against
the live loop's withdrawals in the health report."""
from datetime import date, datetime, time, timedelta, timezone

import responses
from sqlalchemy import select

from darkhorses.analysis.non_runners import ParsedNonRunner, compare_with_withdrawals, parse_non_runners
from darkhorses.core.settings import get_settings, reset_settings
from darkhorses.db import session_scope
from darkhorses.historical import collect
from darkhorses.models import NonRunner, OddsLive, Withdrawal
from darkhorses.ops.status import collect_status, render_status
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.stats.compute import collection_health
from tests.builders import page, result, result_runner

BASE = "http://api.example.test"
DAY = date(2026, 3, 1)


def test_odd_spacing_reserves_repeats_and_junk():
    text = "  Diamonds Diva (reserve),Great  Rainbow (IRE) ,, Loughrask Rainbow\n (Reserve), 1234, Great Rainbow (IRE)"
    rows, skipped = parse_non_runners(text, "r1", DAY)
    assert rows == [ParsedNonRunner("r1", DAY, "Diamonds Diva", True),
                    ParsedNonRunner("r1", DAY, "Great Rainbow (IRE)", False),
                    ParsedNonRunner("r1", DAY, "Loughrask Rainbow", True)]
    assert skipped == 1  # '1234' is no name; the empty piece is nothing at all
    assert parse_non_runners("", "r1", DAY) == ([], 0)
    assert parse_non_runners(None, "r1", DAY) == ([], 0)
    assert parse_non_runners("x" * 200, "r1", DAY) == ([], 1)


@responses.activate
def test_results_non_runners_stored_matched_and_compared_with_live_withdrawals(database_url, monkeypatch):
    monkeypatch.setenv("RACING_API_URL", BASE)
    monkeypatch.setenv("RACING_API_USERNAME", "u")
    monkeypatch.setenv("RACING_API_PASSWORD", "p")
    reset_settings()
    day = datetime.now(timezone.utc).date() - timedelta(days=1)
    off = datetime.combine(day, time(14, 30), timezone.utc)
    with session_scope() as session:
        # Our live captures of the race: two runners we saw withdrawn, one we never saw go.
        for horse_id, name, status in (("h1", "Great Rainbow (IRE)", "NON_RUNNER"), ("h2", "Sea Cloud", "NON_RUNNER"),
                                       ("h3", "Late Scratch", "CLOSED"), ("h4", "Winner", "CLOSED")):
            session.add(OddsLive(race_id="rac_1", horse_id=horse_id, bookmaker_id="bet365", race_date=day,
                                 course="Kempton (AW)", horse_name=name, bookmaker_name="Bet365",
                                 odds_timestamp=off, odds_decimal=5.0, market_status=status))
        for horse_id, name in (("h1", "Great Rainbow (IRE)"), ("h2", "Sea Cloud")):
            session.add(Withdrawal(race_id="rac_1", horse_id=horse_id, race_date=day, horse_name=name,
                                   withdrawn_at=off - timedelta(hours=2), last_price=5.0, last_price_books=1,
                                   reason="off_card"))
    text = "great rainbow,  Late  Scratch (GB), Nobody We Know, Spare Horse (reserve)"
    runners = [result_runner("h4", "1", "2/1", "3.0")]
    responses.get(f"{BASE}/v1/results", json=page("results", [result(
        "rac_1", runners, off_dt=off.isoformat(), non_runners=text)]))
    client = RacingAPIClient()
    try:
        summary = collect.collect_day(day, client)
    finally:
        client.close()
    assert (summary["non_runners"], summary["unmatched"]) == (4, 2)
    with session_scope() as session:
        rows = {r.horse_name: (r.horse_id, r.reserve) for r in session.execute(select(NonRunner)).scalars()}
        assert rows == {"great rainbow": ("h1", False), "Late Scratch (GB)": ("h3", False),
                        "Nobody We Know": (None, False), "Spare Horse": (None, True)}
        # h1 on both sides; h2 only live; h3 only in the results; one name matched nobody.
        counts = compare_with_withdrawals(session, day + timedelta(days=1))
        assert counts == {"agree": 1, "live_only": 1, "results_only": 1, "unmatched": 1}
        report = collect_status(session, get_settings())
        health = collection_health(session, datetime.combine(day + timedelta(days=1), time(12), timezone.utc), 60)
    assert report["non_runners"] == counts
    assert health["non_runners_vs_results"] == counts
    assert "agree 1, live only 1, results only 1, unmatched 1" in render_status(report)

    # The API amends the race: re-collecting replaces its non-runners, nothing doubles.
    responses.replace(responses.GET, f"{BASE}/v1/results", json=page("results", [result(
        "rac_1", runners, off_dt=off.isoformat(), non_runners="Sea Cloud, Great Rainbow (IRE)")]))
    client = RacingAPIClient()
    try:
        collect.collect_day(day, client)
    finally:
        client.close()
    with session_scope() as session:
        assert sorted(session.execute(select(NonRunner.horse_id)).scalars()) == ["h1", "h2"]
        assert compare_with_withdrawals(session, day) == {"agree": 2, "live_only": 0, "results_only": 0,
                                                          "unmatched": 0}
