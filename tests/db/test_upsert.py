"""The one upsert helper on real PostgreSQL: repeated keys in one batch (issue 12, item 1)."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from darkhorses.db import COPY_THRESHOLD, session_scope, upsert
from darkhorses.models import OddsMove

KEY = ("runner_key", "bookmaker_key", "changed_at")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _row(horse: int, price: float) -> dict:
    return {"runner_key": horse, "bookmaker_key": 1, "odds_x10000": round(price * 10000),
            "odds_fractional": None, "changed_at": AT, "observed_at": AT}


def test_unique_by_key_keeps_the_last_of_each_key_in_first_seen_order():
    from darkhorses.db import unique_by_key
    rows = [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 1, "v": "c"}, {"k": 1, "v": "d"}]
    assert unique_by_key(rows, ("k",)) == ([{"k": 1, "v": "d"}, {"k": 2, "v": "b"}], 2)
    assert unique_by_key(rows[:2], ("k",)) == (rows[:2], 0)


@pytest.mark.parametrize("size", [10, COPY_THRESHOLD + 50])  # plain INSERT, and COPY + merge
def test_a_key_repeated_in_one_batch_is_written_once_with_its_last_values(database_url, size, caplog):
    rows = [_row(n, 2.0) for n in range(size)]
    rows += [_row(3, 9.0), _row(5, 7.0), _row(3, 11.0)]  # the API paged while its data shifted
    with caplog.at_level("WARNING", logger="darkhorses.db"), session_scope() as session:
        written = upsert(session, OddsMove.__table__, rows, KEY, ("odds_x10000",))
    assert written == size
    with session_scope() as session:
        prices = dict(session.execute(select(OddsMove.runner_key, OddsMove.odds_x10000)).all())
    assert len(prices) == size and prices[3] == 110000 and prices[5] == 70000 and prices[4] == 20000
    assert any("3 rows repeated a key" in r.getMessage() for r in caplog.records)


def test_db_session_keeps_a_commit_by_the_code_inside_the_test(db_session, pg_database):
    from datetime import date

    from sqlalchemy import create_engine, text

    from darkhorses.historical import ledger
    ledger.update(db_session, date(2026, 2, 1), status="complete")
    db_session.commit()  # what a service's caller would do: here it only releases a SAVEPOINT
    assert db_session.execute(text("SELECT count(*) FROM ra_collection_ledger")).scalar() == 1
    outside = create_engine(pg_database)
    try:
        with outside.connect() as conn:  # another connection sees nothing: the test's transaction is open
            assert conn.execute(text("SELECT count(*) FROM ra_collection_ledger")).scalar() == 0
    finally:
        outside.dispose()
