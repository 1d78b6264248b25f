"""The write paths added for speed keep the upsert's meaning: UPDATE … FROM for known keys,
COPY straight in with a fallback on a conflict, and statistics rollups that follow changes."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses.core.settings import get_settings
from darkhorses.db import COPY_THRESHOLD, session_scope, upsert
from darkhorses.historical.ledger import mark as mark_ledger
from darkhorses.models import OddsHistorical, OddsHistory, StatsDay
from darkhorses.stats.compute import compute_statistics

AT = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
KEY = ("race_id", "horse_id", "bookmaker_id", "changed_at")


def history(n, price=2.0, start=0):
    return [{"race_id": "r1", "horse_id": f"h{i}", "bookmaker_id": "bet365", "odds_decimal": price,
             "odds_fractional": "1/1", "changed_at": AT, "observed_at": AT} for i in range(start, start + n)]


def prices():
    with session_scope() as session:
        return dict(session.execute(select(OddsHistory.horse_id, OddsHistory.odds_decimal)).all())


def test_copy_straight_in_and_the_fallback_on_a_conflict(database_url):
    n = COPY_THRESHOLD + 10
    with session_scope() as session:
        assert upsert(session, OddsHistory, history(n), KEY, expect_new=True) == n
    # Half of these keys exist: the COPY fails inside its savepoint and the merge keeps the old rows.
    with session_scope() as session:
        written = upsert(session, OddsHistory, history(n, price=9.0, start=n // 2), KEY, expect_new=True)
    assert written == n // 2                       # only the keys that were new
    stored = prices()
    assert len(stored) == n + n // 2
    assert stored["h0"] == 2.0 and stored[f"h{n // 2}"] == 2.0 and stored[f"h{n + n // 2 - 1}"] == 9.0


@pytest.mark.parametrize("rows", [3, COPY_THRESHOLD + 5])
def test_known_keys_update_only_the_columns_sent(database_url, rows):
    with session_scope() as session:
        upsert(session, OddsHistory, history(rows), KEY)
    narrow = [{"race_id": "r1", "horse_id": f"h{i}", "bookmaker_id": "bet365", "changed_at": AT,
               "odds_decimal": 3.5} for i in range(rows)]
    with session_scope() as session:
        assert upsert(session, OddsHistory, narrow, KEY, ("odds_decimal",), known=True) == rows
    with session_scope() as session:
        stored = session.execute(select(OddsHistory.odds_decimal, OddsHistory.odds_fractional)).all()
    assert set(stored) == {(3.5, "1/1")} and len(stored) == rows


def _historical(race, horse, day, sp):
    return OddsHistorical(race_id=race, horse_id=horse, date_of_race=datetime(day.year, day.month, day.day,
                                                                              tzinfo=timezone.utc),
                          track="Naas", country="IRE", horse_name=horse, industry_sp=sp, jockey_id="j",
                          trainer_id="t", updated_at=AT)


def statistics(now):
    with session_scope() as session:
        return compute_statistics(session, get_settings(), now)


def test_rollups_rebuild_new_and_recollected_days_only(database_url):
    old_day, now = date(2026, 10, 1), AT
    with session_scope() as session:
        session.add(_historical("r1", "h1", old_day, 2.0))
    first = statistics(now)["ra_odds_historical"]
    assert first["total_rows"] == 1 and first["price_coverage"]["with_sp"]["rows"] == 1
    # A day that appears later is picked up; the settled day is not rebuilt.
    with session_scope() as session:
        session.add(_historical("r2", "h2", date(2026, 10, 2), None))
        before = session.execute(select(StatsDay.computed_at).where(StatsDay.race_date == old_day)).scalar()
    later = now + timedelta(minutes=10)
    second = statistics(later)["ra_odds_historical"]
    assert second["total_rows"] == 2 and second["distinct"]["horses"] == 2
    with session_scope() as session:
        assert session.execute(select(StatsDay.computed_at).where(StatsDay.race_date == old_day)).scalar() == before
        # Re-collected: its rows change and its ledger entry moves, so the day is rebuilt.
        session.add(_historical("r1", "h3", old_day, 5.0))
    mark_ledger(old_day, status="complete")
    third = statistics(datetime.now(timezone.utc))["ra_odds_historical"]
    assert third["total_rows"] == 3 and third["price_coverage"]["with_sp"]["rows"] == 2
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(StatsDay)).scalar() == 2


def test_known_keys_on_sqlite_too(sqlite_url):
    with session_scope() as session:
        upsert(session, OddsHistory, history(4), KEY)
    with session_scope() as session:
        assert upsert(session, OddsHistory, [{"race_id": "r1", "horse_id": "h2", "bookmaker_id": "bet365",
                                              "changed_at": AT, "odds_decimal": 7.0}], KEY, ("odds_decimal",),
                      known=True) == 1
    assert prices() == {"h0": 2.0, "h1": 2.0, "h2": 7.0, "h3": 2.0}


def test_an_unchanged_card_is_skipped_unless_its_rows_are_gone(database_url):
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import OddsLive
    from tests.builders import FakeCards, card, quote, runner
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    cards = FakeCards([card("rac_1", "2026-11-28T13:20:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1")])])])
    assert run_cycle(cards, now).changed == 1
    skipped = run_cycle(cards, now + timedelta(seconds=10))
    assert (skipped.changed, skipped.races, skipped.prices) == (0, 1, 1)   # counted as last parsed
    with session_scope() as session:
        session.execute(OddsLive.__table__.delete())
    again = run_cycle(cards, now + timedelta(seconds=20))
    assert again.changed == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(OddsLive)).scalar() == 1


def test_a_row_left_behind_by_a_card_change_is_rewritten_when_quoted_again(database_url):
    """The stored values shared by a runner's rows are read once per runner; a runner whose
    rows disagree (a bookmaker absent when its jockey changed) is compared row by row."""
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import OddsLive
    from tests.builders import FakeCards, card, quote, runner
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    off = "2026-11-28T13:20:00+00:00"
    both = [quote("Bet365", "3.0", "2/1"), quote("William Hill", "4.0", "3/1")]
    assert run_cycle(FakeCards([card("rac_1", off, [runner("h1", both)])]), now).changed == 2
    # The jockey changes while William Hill is off the card: only Bet365's row is rewritten.
    moved = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both[:1], jockey="B Jockey")])]),
                           now + timedelta(seconds=10))
    assert moved.changed == 1
    price_only = run_cycle(FakeCards([card("rac_1", off, [runner("h1", [quote("Bet365", "3.5", "5/2")],
                                                                       jockey="B Jockey")])]),
                                now + timedelta(seconds=15))
    assert price_only.changed == 1 and price_only.history == 1
    with session_scope() as session:
        row = session.execute(select(OddsLive.odds_decimal, OddsLive.fetched_at, OddsLive.updated_at, OddsLive.in_play)
                              .where(OddsLive.bookmaker_id == "bet365")).one()
        assert tuple(row) == (3.5, now + timedelta(seconds=15), now + timedelta(seconds=15), False)
    # William Hill is back at its old price: its row alone still holds the old jockey.
    both[0] = quote("Bet365", "3.5", "5/2")
    back = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both, jockey="B Jockey")])]),
                          now + timedelta(seconds=20))
    assert back.changed == 1 and back.history == 0
    with session_scope() as session:
        rows = session.execute(select(OddsLive.bookmaker_id, OddsLive.jockey, OddsLive.odds_decimal)).all()
        assert sorted(rows) == [("bet365", "B Jockey", 3.5), ("williamhill", "B Jockey", 4.0)]
        assert session.execute(select(func.count()).select_from(OddsHistory)).scalar() == 3
    again = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both, jockey="B Jockey", age="6")])]),
                           now + timedelta(seconds=30))
    assert again.changed == 2


def test_the_row_shapes_name_real_columns_in_one_order():
    """The write path sends rows as tuples in these column orders; each is derived from the
    named tuples of darkhorses.live.parse, and every column must be one of the table's."""
    from darkhorses.live.parse import QUOTE_ROW, WHOLE_ROW, HistoryRow
    from darkhorses.models import OddsLive

    live_columns = set(OddsLive.__table__.c.keys())
    # every column the collector owns; id is the table's, withdrawn_at the non-runner path's
    assert set(WHOLE_ROW) == live_columns - {"id", "market_type", "withdrawn_at"}
    assert len(WHOLE_ROW) == len(set(WHOLE_ROW)) and set(QUOTE_ROW) <= set(WHOLE_ROW)
    # source: observed by default (the write path's rows); the close-out marks its own
    assert set(HistoryRow._fields) == set(OddsHistory.__table__.c.keys()) - {"id", "source"}
