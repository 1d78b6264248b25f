"""The write paths added for speed keep the upsert's meaning: UPDATE … FROM for known keys,
COPY straight in with a fallback on a conflict, and statistics rollups that follow changes."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from darkhorses.core.settings import get_settings
from darkhorses.db import COPY_THRESHOLD, session_scope, upsert
from darkhorses.historical.ledger import mark as mark_ledger
from darkhorses.models import OddsHistorical, OddsHistory, OddsMove, StatsDay
from darkhorses.stats.compute import compute_statistics

AT = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
KEY = ("runner_key", "bookmaker_key", "changed_at")


def history(n, price=2.0, start=0):
    """Moves of runners 0..n-1 (the helper's table; keys need no runner rows)."""
    return [{"runner_key": i, "bookmaker_key": 1, "odds_x10000": round(price * 10000),
             "odds_fractional": "1/1", "changed_at": AT, "observed_at": AT} for i in range(start, start + n)]


def prices():
    with session_scope() as session:
        return {f"h{runner}": odds / 10000 for runner, odds in session.execute(
            select(OddsMove.runner_key, OddsMove.odds_x10000)).all()}


def test_copy_straight_in_and_the_fallback_on_a_conflict(database_url):
    n = COPY_THRESHOLD + 10
    with session_scope() as session:
        assert upsert(session, OddsMove, history(n), KEY, expect_new=True) == n
    # Half of these keys exist: the COPY fails inside its savepoint and the merge keeps the old rows.
    with session_scope() as session:
        written = upsert(session, OddsMove, history(n, price=9.0, start=n // 2), KEY, expect_new=True)
    assert written == n // 2                       # only the keys that were new
    stored = prices()
    assert len(stored) == n + n // 2
    assert stored["h0"] == 2.0 and stored[f"h{n // 2}"] == 2.0 and stored[f"h{n + n // 2 - 1}"] == 9.0


@pytest.mark.parametrize("rows", [3, COPY_THRESHOLD + 5])
def test_known_keys_update_only_the_columns_sent(database_url, rows):
    with session_scope() as session:
        upsert(session, OddsMove, history(rows), KEY)
    narrow = [{"runner_key": i, "bookmaker_key": 1, "changed_at": AT, "odds_x10000": 35000} for i in range(rows)]
    with session_scope() as session:
        assert upsert(session, OddsMove, narrow, KEY, ("odds_x10000",), known=True) == rows
    with session_scope() as session:
        stored = session.execute(select(OddsMove.odds_x10000, OddsMove.odds_fractional)).all()
    assert set(stored) == {(35000, "1/1")} and len(stored) == rows


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
        upsert(session, OddsMove, history(4), KEY)
    with session_scope() as session:
        assert upsert(session, OddsMove, [{"runner_key": 2, "bookmaker_key": 1, "changed_at": AT,
                                           "odds_x10000": 70000}], KEY, ("odds_x10000",), known=True) == 1
    assert prices() == {"h0": 2.0, "h1": 2.0, "h2": 7.0, "h3": 2.0}


def test_the_embedded_mode_writes_the_narrow_tables_too(sqlite_url):
    """On SQLite: new prices numbered one past the largest id, a moved quote rewritten, a card
    change in the facts, a runner gone from its card withdrawn; and a
    row inserted through the view (its trigger) read back like the others."""
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import OddsLive
    from tests.builders import FakeCards, card, quote, runner
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    off = "2026-11-28T13:20:00+00:00"
    books = [quote("Bet365", "3.0", "2/1"), quote("William Hill", "4.0", "3/1")]
    first = run_cycle(FakeCards([card("rac_1", off, [runner("h1", books), runner("h2", books)])]), now)
    assert first.changed == 4
    moved = run_cycle(FakeCards([card("rac_1", off, [runner("h1", [quote("Bet365", "3.5", "5/2"), books[1]],
                                                            jockey="B Jockey")])]), now + timedelta(seconds=10))
    assert moved.changed == 1 and moved.withdrawn == 1
    with session_scope() as session:
        session.add(OddsLive(race_id="rac_2", horse_id="h9", bookmaker_id="bet365", race_date=date(2026, 11, 28),
                             course="Ascot", horse_name="By Hand", bookmaker_name="Bet365", odds_decimal=9.0,
                             odds_timestamp=now))
    with session_scope() as session:
        rows = session.execute(select(OddsLive.id, OddsLive.horse_id, OddsLive.bookmaker_id, OddsLive.jockey,
                                      OddsLive.odds_decimal, OddsLive.market_status).order_by(OddsLive.id)).all()
    assert [tuple(r) for r in rows] == [
        (1, "h1", "bet365", "B Jockey", 3.5, "OPEN"), (2, "h1", "williamhill", "B Jockey", 4.0, "OPEN"),
        (3, "h2", "bet365", "A Jockey", 3.0, "NON_RUNNER"), (4, "h2", "williamhill", "A Jockey", 4.0, "NON_RUNNER"),
        (5, "h9", "bet365", None, 9.0, "OPEN")]


def test_an_unchanged_card_is_skipped_unless_its_rows_are_gone(database_url):
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import LivePrice, OddsLive
    from tests.builders import FakeCards, card, quote, runner
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    cards = FakeCards([card("rac_1", "2026-11-28T13:20:00+00:00", [runner("h1", [quote("Bet365", "3.0", "2/1")])])])
    assert run_cycle(cards, now).changed == 1
    skipped = run_cycle(cards, now + timedelta(seconds=10))
    assert (skipped.changed, skipped.races, skipped.prices) == (0, 1, 1)   # counted as last parsed
    with session_scope() as session:
        session.execute(LivePrice.__table__.delete())
    again = run_cycle(cards, now + timedelta(seconds=20))
    assert again.changed == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(OddsLive)).scalar() == 1


def test_a_card_change_rewrites_the_runners_facts_once_and_no_price(database_url):
    """A runner's values are stored once for all its bookmakers: a card change (a new jockey)
    rewrites that row alone, whichever bookmakers priced the runner in that cycle, and every
    price reads it; a price is written only when its quote changed."""
    from darkhorses.live.cycle import run_cycle
    from darkhorses.models import LivePrice, LiveRunnerFacts, OddsLive
    from tests.builders import FakeCards, card, quote, runner
    now = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    off = "2026-11-28T13:20:00+00:00"
    both = [quote("Bet365", "3.0", "2/1"), quote("William Hill", "4.0", "3/1")]
    assert run_cycle(FakeCards([card("rac_1", off, [runner("h1", both)])]), now).changed == 2
    # The jockey changes while William Hill is off the card: no price moved, the facts did.
    moved = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both[:1], jockey="B Jockey")])]),
                      now + timedelta(seconds=10))
    assert moved.changed == 0
    with session_scope() as session:
        assert session.execute(select(LiveRunnerFacts.jockey)).scalars().all() == ["B Jockey"]
        assert sorted(session.execute(select(OddsLive.bookmaker_id, OddsLive.jockey)).all()) == [
            ("bet365", "B Jockey"), ("williamhill", "B Jockey")]
        untouched = session.execute(select(func.max(LivePrice.updated_at))).scalar()
    assert untouched == now
    price_only = run_cycle(FakeCards([card("rac_1", off, [runner("h1", [quote("Bet365", "3.5", "5/2")],
                                                                  jockey="B Jockey")])]),
                           now + timedelta(seconds=15))
    assert price_only.changed == 1 and price_only.history == 1
    with session_scope() as session:
        row = session.execute(select(OddsLive.odds_decimal, OddsLive.fetched_at, OddsLive.updated_at, OddsLive.in_play)
                              .where(OddsLive.bookmaker_id == "bet365")).one()
        assert tuple(row) == (3.5, now + timedelta(seconds=15), now + timedelta(seconds=15), False)
    # William Hill is back at its old price: nothing to write.
    both[0] = quote("Bet365", "3.5", "5/2")
    back = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both, jockey="B Jockey")])]),
                     now + timedelta(seconds=20))
    assert back.changed == 0 and back.history == 0
    with session_scope() as session:
        rows = session.execute(select(OddsLive.bookmaker_id, OddsLive.jockey, OddsLive.odds_decimal)).all()
        assert sorted(rows) == [("bet365", "B Jockey", 3.5), ("williamhill", "B Jockey", 4.0)]
        assert session.execute(select(func.count()).select_from(OddsHistory)).scalar() == 3
    again = run_cycle(FakeCards([card("rac_1", off, [runner("h1", both, jockey="B Jockey", age="6")])]),
                      now + timedelta(seconds=30))
    assert again.changed == 0
    with session_scope() as session:
        assert set(session.execute(select(OddsLive.age)).scalars()) == {6}


def test_the_row_shapes_name_real_columns_in_one_order():
    """The write path sends rows as tuples in these column orders; every column must be one of
    its table's, each once."""
    from darkhorses.live.parse import HistoryRow
    from darkhorses.live.write import KNOWN_PRICE, NEW_PRICE, RACE_FACTS_ROW, RUNNER_FACTS_ROW
    from darkhorses.models import LivePrice, LiveRaceFacts, LiveRunnerFacts

    price_columns = set(LivePrice.__table__.c.keys())
    # every column the collector owns; id is the table's, withdrawn_at the non-runner path's
    assert set(NEW_PRICE) == price_columns - {"id", "market_type", "withdrawn_at"}
    assert len(NEW_PRICE) == len(set(NEW_PRICE)) and NEW_PRICE[:len(KNOWN_PRICE)] == KNOWN_PRICE
    assert set(RACE_FACTS_ROW) == set(LiveRaceFacts.__table__.c.keys())
    assert set(RUNNER_FACTS_ROW) == set(LiveRunnerFacts.__table__.c.keys())
    assert set(HistoryRow._fields) == set(OddsHistory.__table__.c.keys()) - {"source"}  # write_history's argument
    from darkhorses.live.write import MOVE_COLUMNS
    assert set(MOVE_COLUMNS) == set(OddsMove.__table__.c.keys())


def test_history_is_written_narrow_and_read_whole_through_the_view(database_url):
    """write_history numbers each runner and bookmaker once, stores a price to 4 places, keeps
    a move already stored, and the view gives back the ids, the price and the source."""
    from darkhorses.live.parse import HistoryRow
    from darkhorses.live.write import write_history
    from darkhorses.models import CLOSEOUT, BookmakerKey, LiveRunner

    rows = [HistoryRow("r1", f"h{i % 3}", "a_new_book" if i % 2 else "bet365", 2 + i / 3, "x", AT,
                       AT + timedelta(seconds=i)) for i in range(6)]
    rows = [r._replace(changed_at=AT + timedelta(minutes=i)) for i, r in enumerate(rows)]
    with session_scope() as session:
        assert write_history(session, rows) == 6
        assert write_history(session, rows[:3] + [rows[0]._replace(horse_id="h9")], source=CLOSEOUT) == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(LiveRunner)).scalar() == 4
        assert session.execute(select(func.count()).select_from(BookmakerKey)
                               .where(BookmakerKey.bookmaker_id == "a_new_book")).scalar() == 1
        view = session.execute(select(OddsHistory.horse_id, OddsHistory.bookmaker_id, OddsHistory.odds_decimal,
                                      OddsHistory.source).order_by(OddsHistory.changed_at, OddsHistory.horse_id)).all()
    assert view[:2] == [("h0", "bet365", 2.0, "observed"), ("h9", "bet365", 2.0, "closeout")]
    assert view[2] == ("h1", "a_new_book", 2.3333, "observed")
