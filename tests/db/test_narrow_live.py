"""Migration 0009 converts filled wide live prices in place: every row, every contract column
through the view `ra_odds_live` (count and checksum equal), and back again; on SQLite too."""
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from darkhorses.core.settings import reset_settings
from darkhorses.db.migrations import downgrade, upgrade
from darkhorses.models.views import LIVE_VIEW_COLUMNS, LIVE_VIEW_OURS
from tests.support import scratch_database

CONTRACT = LIVE_VIEW_COLUMNS + ("fetched_at", "updated_at") + LIVE_VIEW_OURS


def checksum(dialect: str) -> str:
    """Rows, and an md5 of every contract column's text in id order (NULL spelled out)."""
    if dialect == "postgresql":
        row = "concat_ws('|', " + ", ".join(f"coalesce(CAST({c} AS text), '~')" for c in CONTRACT) + ")"
        return f"SELECT count(*), md5(string_agg({row}, ',' ORDER BY id)) FROM ra_odds_live"
    row = " || '|' || ".join(f"coalesce(CAST({c} AS text), '~')" for c in CONTRACT)
    return f"SELECT count(*), group_concat(h, ',') FROM (SELECT {row} AS h FROM ra_odds_live ORDER BY id)"


# 4 races x 5 runners x 4 bookmakers; betfair named two ways, NULLs in the optional columns,
# NON_RUNNER and CLOSED statuses, race 'rac_3' without an ra_live_races row (adopted rows).
WIDE_ROWS = """
INSERT INTO ra_odds_live_prices (race_id, horse_id, bookmaker_id, race_date, race_time, off_dt, course, course_id,
    country, race_name, race_class, race_type, distance, going, runners, horse_name, horse_number, draw, jockey,
    trainer, age, weight, form, bookmaker_name, bookmaker_type, market_type, odds_decimal, odds_fractional,
    ew_places, ew_denom, market_status, withdrawn_at, in_play, odds_timestamp, fetched_at, created_at, updated_at)
SELECT 'rac_' || r, 'hrs_' || r || '_' || h, (ARRAY['bet365', 'coral', 'betfair', 'a_book_we_never_listed'])[b + 1],
    DATE '2026-11-28' + r / 2, TIME '13:05' + r * interval '35 minutes',
    TIMESTAMPTZ '2026-11-28 13:05+00' + r * interval '35 minutes', 'Course ' || r,
    CASE WHEN r = 1 THEN NULL ELSE 'crs_' || r END, CASE WHEN r = 2 THEN NULL ELSE 'GB' END,
    'Race ' || r, CASE WHEN r = 0 THEN NULL ELSE 'Class ' || r END, 'Flat', '1m', 'Good', 5,
    'Horse ' || r || h, CASE WHEN h = 4 THEN NULL ELSE h + 1 END, h, CASE WHEN h = 3 THEN NULL ELSE 'J ' || h END,
    'T ' || h, 3 + h, '9-' || h, CASE WHEN h = 2 THEN NULL ELSE '1-2' END,
    CASE WHEN b = 2 AND r % 2 = 1 THEN 'Betfair Exchange' WHEN b = 2 THEN 'Betfair' ELSE 'Book ' || b END,
    CASE WHEN b = 3 THEN NULL WHEN b = 2 THEN 'exchange' ELSE 'fixed' END, 'WIN',
    CASE WHEN h = 0 AND b = 1 THEN NULL ELSE 1.5 + r + h * 0.125 + b * 0.001 END,
    CASE WHEN b = 2 THEN NULL ELSE (h + 1) || '/1' END, CASE WHEN b = 0 THEN '3' END, CASE WHEN b = 0 THEN '5' END,
    CASE WHEN r = 0 THEN 'CLOSED' WHEN h = 1 AND r = 1 THEN 'NON_RUNNER' ELSE 'OPEN' END,
    CASE WHEN h = 1 AND r = 1 THEN TIMESTAMPTZ '2026-11-28 12:00+00' END, b = 2 AND r = 3,
    TIMESTAMPTZ '2026-11-28 11:00+00' + (r * 20 + h * 4 + b) * interval '1 minute',
    TIMESTAMPTZ '2026-11-28 11:30+00' + r * interval '1 minute', TIMESTAMPTZ '2026-11-28 10:00+00',
    TIMESTAMPTZ '2026-11-28 11:40+00' + (h * 4 + b) * interval '1 second'
FROM generate_series(0, 3) r, generate_series(0, 4) h, generate_series(0, 3) b
"""
LIVE_RACES = ("INSERT INTO ra_live_races (race_id, race_date, market_status, captures, first_seen_at, fetched_at) "
              "SELECT 'rac_' || r, DATE '2026-11-28', 'OPEN', 3, :at, :at + r * interval '1 minute' "
              "FROM generate_series(0, 2) r")


@pytest.fixture
def own_database(monkeypatch):
    with scratch_database("darkhorses_narrow_live") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        yield url


def test_0009_keeps_every_live_price_and_downgrades(own_database):
    upgrade(own_database, "0008")
    engine = create_engine(own_database)
    with engine.begin() as conn:
        conn.execute(text(WIDE_ROWS))
        conn.execute(text(LIVE_RACES), {"at": datetime(2026, 11, 28, 12, tzinfo=timezone.utc)})
        before = conn.execute(text(checksum("postgresql"))).one()
    assert before[0] == 80

    started = time.perf_counter()
    upgrade(own_database)
    print(f"0009 upgrade of {before[0]} prices: {time.perf_counter() - started:.2f} s")
    with engine.connect() as conn:
        assert conn.execute(text(checksum("postgresql"))).one() == before
        counts = conn.execute(text(
            "SELECT (SELECT count(*) FROM ra_live_race_facts), (SELECT count(*) FROM ra_live_runner_facts), "
            "(SELECT count(*) FROM ra_live_book_facts), (SELECT count(*) FROM ra_live_prices)")).one()
        assert tuple(counts) == (4, 20, 5, 80)  # betfair named two ways: two book facts
        assert conn.execute(text("SELECT to_regclass('ra_odds_live_prices')")).scalar() is None
        # its key is the table's only index
        assert conn.execute(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'ra_live_prices'")).scalar() == 1
    # A row inserted through the view after the conversion: numbered on from the converted ids.
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ra_odds_live (race_id, horse_id, bookmaker_id, race_date, course, horse_name, bookmaker_name, "
            "odds_decimal, odds_timestamp) VALUES ('rac_9', 'hrs_9', 'bet365', '2026-11-29', 'Newcourse', 'New Horse', "
            "'Book 0', 4.333, '2026-11-29T12:00:00Z')"))
        new = conn.execute(text("SELECT id, market_status, in_play, market_type, bookmaker_type, odds_decimal "
                                "FROM ra_odds_live WHERE race_id = 'rac_9'")).one()
        after = conn.execute(text(checksum("postgresql"))).one()
    assert new.id == 81 and (new.market_status, new.in_play, new.market_type, new.bookmaker_type) == (
        "OPEN", False, "WIN", "fixed") and float(new.odds_decimal) == 4.333

    downgrade(own_database, "0008")
    with engine.connect() as conn:
        assert conn.execute(text(checksum("postgresql"))).one() == after
        assert conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'ra_odds_live_prices'")
                            ).scalar() == ["fillfactor=50"]
    upgrade(own_database)
    with engine.connect() as conn:
        assert conn.execute(text(checksum("postgresql"))).one() == after
    engine.dispose()


def test_0009_on_sqlite_keeps_every_live_price_both_ways(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/dh.db"
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings()
    upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        for race in range(3):
            for horse in range(4):
                for book, name in (("bet365", "Bet365"), ("betfair", "Betfair" if race else "Betfair Exchange")):
                    conn.execute(text(
                        "INSERT INTO ra_odds_live_prices (race_id, horse_id, bookmaker_id, race_date, course, "
                        "horse_name, bookmaker_name, bookmaker_type, odds_decimal, market_status, odds_timestamp, "
                        "fetched_at, updated_at) VALUES (:race, :horse, :book, '2026-11-28', 'Ascot', :hname, :name, "
                        ":kind, :price, :status, '2026-11-28 12:00:00', '2026-11-28 12:01:00', "
                        "'2026-11-28 12:02:00')"),
                        {"race": f"rac_{race}", "horse": f"hrs_{horse}", "book": book, "hname": f"Horse {horse}",
                         "name": name, "kind": None if horse == 3 else "fixed", "price": 2.5 + horse,
                         "status": "NON_RUNNER" if horse == 2 else "OPEN"})
        before = conn.execute(text(checksum("sqlite"))).one()
    assert before[0] == 24
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text(checksum("sqlite"))).one() == before
        assert conn.execute(text("SELECT count(*) FROM ra_live_prices")).scalar() == 24
    downgrade(url, "0008")
    with engine.connect() as conn:
        assert conn.execute(text(checksum("sqlite"))).one() == before
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ra_odds_live")).scalar() == 24
    engine.dispose()
