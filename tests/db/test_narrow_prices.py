"""Migration 0007 converts a filled price history in place: every row, every value (prices to
4 places, the source of each move), across months and the default partition; and back again."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from darkhorses.core.settings import reset_settings
from darkhorses.db.migrations import downgrade, upgrade
from tests.support import scratch_database

CHECKSUM = ("SELECT count(*), md5(string_agg(concat_ws('|', race_id, horse_id, bookmaker_id, "
            "round(CAST(odds_decimal AS numeric), 4), coalesce(odds_fractional, '-'), changed_at, observed_at, "
            "source), ',' "
            "ORDER BY race_id, horse_id, bookmaker_id, changed_at)) FROM ra_odds_history")


@pytest.fixture
def own_database(monkeypatch):
    with scratch_database("darkhorses_narrow") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        yield url


def test_0007_keeps_every_move_and_downgrades(own_database):
    upgrade(own_database, "0006")
    engine = create_engine(own_database)
    start = datetime(2026, 9, 28, 12, tzinfo=timezone.utc)
    books = ("bet365", "coral", "betfair", "a_book_we_never_listed")
    with engine.begin() as conn:
        # ~3,000 moves over three months, some in months with no partition (the default one),
        # prices with 1 to 4 decimals and none, fractional text or null.
        conn.execute(text(
            "INSERT INTO ra_odds_history (race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, "
            "changed_at, observed_at) SELECT 'rac_' || (i % 40), 'hrs_' || (i % 13), (:books)[1 + i % 4], "
            "1.0001 + (i % 997) / 7.0, CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 9) || '/4' END, "
            ":start + i * interval '47 minutes', :start + i * interval '47 minutes' + interval '3 seconds' "
            "FROM generate_series(1, 3000) i"), {"books": list(books), "start": start})
        conn.execute(text("UPDATE ra_odds_history SET odds_decimal = round(CAST(odds_decimal AS numeric), 4), "
                          "source = CASE WHEN random() < 0.1 THEN 'closeout' ELSE source END"))
        before = conn.execute(text(CHECKSUM)).one()
        outliers = conn.execute(text("SELECT count(*) FROM ra_odds_history_default")).scalar()
    assert before[0] == 3000 and outliers > 0   # months 0005 made no partition for

    upgrade(own_database)
    with engine.connect() as conn:
        assert conn.execute(text(CHECKSUM)).one() == before
        # ... now in partitions of their months
        assert conn.execute(text("SELECT count(*) FROM ra_odds_moves_y2026m10")).scalar() > 0
        # runner i % 40, horse i % 13: 3000 rows hit every one of the 520 pairs, each numbered once
        assert conn.execute(text("SELECT count(*) FROM ra_live_runners")).scalar() == 520
        assert conn.execute(text("SELECT count(DISTINCT bookmaker_key) FROM ra_odds_moves")).scalar() == 4
    # Written after the conversion, through the view: numbered and readable like the rest.
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ra_odds_history (race_id, horse_id, bookmaker_id, odds_decimal, "
                          "changed_at, observed_at) VALUES ('rac_new', 'hrs_1', 'bet365', 2.375, :at, :at)"),
                     {"at": start + timedelta(days=1)})
        after = conn.execute(text(CHECKSUM)).one()
    assert after[0] == 3001

    downgrade(own_database, "0006")
    with engine.connect() as conn:
        assert conn.execute(text(CHECKSUM)).one() == after
        assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table "
                                 "WHERE partrelid = 'ra_odds_history'::regclass")).scalar() == 1
    engine.dispose()
