"""bench/narrow_live.py: the narrow layout planned for migration 0009 gives the view
ra_odds_live every contract column with the same values (count and checksum equal), on a
real PostgreSQL, for collected rows and for adopted-looking rows full of nulls."""
from datetime import date, datetime, time, timezone

from bench.narrow_live import SCHEMA, checksums, convert
from darkhorses.models import OddsLive
from tests.builders import load_fixture


def test_the_narrow_view_gives_every_contract_value_back(db_session):
    load_fixture(db_session)
    stamp = datetime(2026, 3, 1, 14, 0, tzinfo=timezone.utc)
    db_session.add_all([  # a second race: one full row, one withdrawn with no price, one adopted-looking
        OddsLive(race_id="r2", horse_id="h1", bookmaker_id="bet365", race_date=date(2026, 3, 1),
                 race_time=time(14, 30), off_dt=stamp, course="Ayr", course_id="crs_1", country="GB",
                 race_name="Ayr Handicap", race_class="Class 4", race_type="Flat", distance="1m", going="Good",
                 runners=9, horse_name="Alpha", horse_number=3, draw=5, jockey="J Smith", trainer="T Jones",
                 age=4, weight="9-2", form="1-23", bookmaker_name="Bet365", bookmaker_type="fixed",
                 odds_decimal=5.5, odds_fractional="9/2", ew_places="3", ew_denom="5",
                 odds_timestamp=stamp, fetched_at=stamp, created_at=stamp, updated_at=stamp),
        OddsLive(race_id="r2", horse_id="h2", bookmaker_id="bet365", race_date=date(2026, 3, 1),
                 race_time=time(14, 30), off_dt=stamp, course="Ayr", course_id="crs_1", country="GB",
                 race_name="Ayr Handicap", race_class="Class 4", race_type="Flat", distance="1m", going="Good",
                 runners=9, horse_name="Beta", bookmaker_name="Bet365", odds_decimal=None,
                 market_status="NON_RUNNER", withdrawn_at=stamp, odds_timestamp=stamp),
        OddsLive(race_id="r3", horse_id="h9", bookmaker_id="oldbook", race_date=date(2025, 6, 1), course="Ascot",
                 horse_name="Gamma", bookmaker_name="Old Book", bookmaker_type=None, market_type=None,
                 odds_decimal=101.125, in_play=None, market_status="CLOSED", odds_timestamp=stamp,
                 fetched_at=None, created_at=None, updated_at=None),
    ])
    db_session.flush()
    cursor = db_session.connection().connection.cursor()  # the test's transaction, rolled back after

    convert(cursor, batch=2)  # several batches even for a few rows
    wide, narrow = checksums(cursor)

    assert wide[0] == 3 + sum(1 for _ in db_session.query(OddsLive).filter(OddsLive.race_id == "r1"))
    assert narrow == wide
    cursor.execute(f"SELECT count(*) FROM {SCHEMA}.ra_live_race_facts")
    assert cursor.fetchone()[0] == 3  # each race's text once
    # The checksum sees a single value changed.
    cursor.execute(f"UPDATE {SCHEMA}.ra_live_prices SET odds_x10000 = odds_x10000 + 10 WHERE odds_x10000 = 55000")
    assert checksums(cursor)[1] != wide
