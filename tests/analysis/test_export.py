"""`python -m darkhorses export`: a day's file of each kind equals the SQL it stands for, row for
row; a re-run writes the same bytes; bad input is one line, exit 2, and nothing half-written."""
import csv
import hashlib
from datetime import date, datetime, time, timedelta, timezone

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from darkhorses.analysis import export as export_module
from darkhorses.commands import cli
from darkhorses.db import session_scope
from darkhorses.models import MarketLine, OddsHistorical, OddsHistory, OddsLive

DAY = date(2026, 3, 1)


def _at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), timezone.utc)


def seed(day=DAY, races=2):
    """A small day of every kind, and a few rows of the next day that must stay out of it."""
    with session_scope() as session:
        for d in (day, day + timedelta(days=1)):
            for r in range(races):
                race_id = f"rac_{d:%m%d}_{r}"
                for h in range(3):
                    horse_id = f"hrs_{r}_{h}"
                    for b, book in enumerate(("bet365", "coral")):
                        session.add(OddsLive(race_id=race_id, horse_id=horse_id, bookmaker_id=book, race_date=d,
                                             course="Kempton (AW)", horse_name=f"Horse {h}", bookmaker_name=book,
                                             odds_timestamp=_at(d, 13, h), odds_decimal=3.0 + h + b / 2,
                                             odds_fractional=None if h == 2 else f"{2 + h}/1",
                                             market_status="CLOSED"))
                        for move in range(3):
                            session.add(OddsHistory(race_id=race_id, horse_id=horse_id, bookmaker_id=book,
                                                    odds_decimal=3.0 + move, odds_fractional=f"{2 + move}/1",
                                                    changed_at=_at(d, 10 + move, h),
                                                    observed_at=_at(d, 10 + move, h + 1)))
                    session.add(MarketLine(race_id=race_id, horse_id=horse_id, race_date=d, opening_price=4.0,
                                           opening_at=_at(d, 10), closing_price=3.5 if h else None,
                                           closing_at=_at(d, 14), closing_books=2, industry_sp=3.25,
                                           betfair_sp=None, updated_at=_at(d, 18)))
                    session.add(OddsHistorical(race_id=race_id, horse_id=horse_id,
                                               date_of_race=datetime.combine(d, time(), timezone.utc),
                                               country="GB", track="Kempton (AW)", race_time=time(14, 30),
                                               match_timestamp=_at(d, 14, 30), horse_name=f"Horse {h}",
                                               finishing_position=str(h + 1), industry_sp=3.25,
                                               sp_fractional="9/4", race_class=4, runners_count=3))
        # the replaced service's row of the day (no ids) is not ours to export
        session.add(OddsHistorical(date_of_race=datetime.combine(day, time(), timezone.utc), horse_name="Old"))


# What each file stands for, written here as an analyst would (docs/analysts.md#exports).
QUERIES = {
    "prices": "SELECT race_id, horse_id, bookmaker_id, race_date, off_dt, course, race_name, horse_name, "
              "bookmaker_name, bookmaker_type, odds_decimal, odds_fractional, market_status, odds_timestamp, "
              "fetched_at, updated_at FROM ra_odds_live WHERE race_date = :day ORDER BY 1, 2, 3",
    "history": "SELECT race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, changed_at, observed_at "
               "FROM ra_odds_history WHERE (changed_at AT TIME ZONE 'UTC')::date = :day ORDER BY 1, 2, 3, 6",
    "lines": "SELECT race_id, horse_id, race_date, opening_price, opening_at, closing_price, closing_at, "
             "closing_books, industry_sp, betfair_sp FROM ra_market_lines WHERE race_date = :day ORDER BY 1, 2",
    "results": "SELECT " + ", ".join(name for name, _ in export_module.KINDS["results"].columns)
               + " FROM ra_odds_historical WHERE (date_of_race AT TIME ZONE 'UTC')::date = :day "
                 "AND race_id IS NOT NULL ORDER BY race_id, horse_id",
}


def _expected(kind, day=DAY):
    with session_scope() as session:
        return [dict(row._mapping) for row in session.execute(text(QUERIES[kind]), {"day": day})]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_day_of_each_kind_equals_its_query_and_a_rerun_is_identical(database_url, tmp_path, capsys):
    seed()
    out = tmp_path / "out"
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{k}-2026-03-01.parquet"
                                                     for k in ("history", "lines", "prices", "results")]
    for kind, count in (("prices", 12), ("history", 36), ("lines", 6), ("results", 6)):
        expected = _expected(kind)
        got = pq.read_table(out / f"{kind}-2026-03-01.parquet").to_pylist()
        assert len(got) == len(expected) == count, kind
        assert got == expected, kind  # row for row, value for value, nulls as nulls
    assert "4 files, 60 rows" in capsys.readouterr().out

    before = {p.name: _digest(p) for p in out.iterdir()}
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY), "--out", str(out)]) == 0
    assert {p.name: _digest(p) for p in out.iterdir()} == before  # same bytes, nothing left beside


def test_csv_two_days_one_file_each(database_url, tmp_path):
    seed()
    out = tmp_path / "csv"
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY + timedelta(days=1)), "--what", "history,lines",
                     "--format", "csv", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["history-2026-03-01.csv", "history-2026-03-02.csv",
                                                     "lines-2026-03-01.csv", "lines-2026-03-02.csv"]
    with open(out / "lines-2026-03-01.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    expected = _expected("lines")
    assert [r["horse_id"] for r in rows] == [e["horse_id"] for e in expected]
    assert [r["closing_price"] for r in rows] == ["" if e["closing_price"] is None else str(e["closing_price"])
                                                  for e in expected]
    assert rows[0]["opening_at"] == "2026-03-01T10:00:00+00:00"


@pytest.mark.parametrize("argv, says", [
    (["--from", "2026-03-02", "--to", "2026-03-01"], "is after --to"),
    (["--from", "2014-12-31", "--to", "2015-01-01"], "before 2015-01-01"),
    (["--from", "2026-03-01", "--to", str(date.today() + timedelta(days=2))], "is after today"),
    (["--from", "2026-03-01", "--to", "2026-03-01", "--what", "prices,odds"], "--what odds"),
    (["--from", "2026-03-01", "--to", "2026-03-01", "--format", "xlsx"], "--format xlsx"),
])
def test_bad_requests_one_line_exit_2_nothing_written(tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    assert cli.main(["export", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("error:")
    assert not out.exists() or not any(out.iterdir())


def test_an_unwritable_directory_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY), "--out", str(blocker / "out")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "cannot write there" in line


def test_a_failure_mid_file_leaves_the_old_file_and_no_part(database_url, tmp_path, monkeypatch):
    seed()
    out = tmp_path / "out"
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY), "--what", "history", "--out", str(out)]) == 0
    path = out / "history-2026-03-01.parquet"
    before = _digest(path)

    monkeypatch.setattr(export_module, "stream_batches", _failing_after_first_batch)
    with pytest.raises(OSError, match="disk full"):
        with session_scope() as session:
            export_module.export(session, DAY, DAY, ["history"], "parquet", out)
    assert _digest(path) == before
    assert [p.name for p in out.iterdir()] == [path.name]


real_stream_batches = export_module.stream_batches


def _failing_after_first_batch(session, kind, params, batch_rows=export_module.BATCH_ROWS):
    yield from real_stream_batches(session, kind, params, batch_rows=5)
    raise OSError("disk full")


def test_the_embedded_mode_exports_too(sqlite_url, tmp_path):
    seed()
    out = tmp_path / "out"
    assert cli.main(["export", "--from", str(DAY), "--to", str(DAY), "--out", str(out)]) == 0
    counts = {kind: pq.read_table(out / f"{kind}-2026-03-01.parquet").num_rows
              for kind in ("prices", "history", "lines", "results")}
    assert counts == {"prices": 12, "history": 36, "lines": 6, "results": 6}
    history = pq.read_table(out / "history-2026-03-01.parquet").to_pylist()
    assert history[0]["changed_at"] == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
