"""Race charts from a fixture price history: the figure itself is inspected, not just the file."""
from datetime import date, datetime, timedelta, timezone

import matplotlib.dates as mdates

from darkhorses import cli
from darkhorses.charts import build_race_figure, race_series
from darkhorses.db import session_scope
from darkhorses.models import LiveRace, OddsHistory, OddsLive

OFF = datetime(2026, 11, 28, 14, 30, tzinfo=timezone.utc)
# horse -> bookmaker -> [(minutes before the off, price)]
HISTORY = {"h1": {"bet365": [(60, 3.0), (30, 2.5), (5, 2.25)], "coral": [(50, 3.5), (10, 2.75)]},
           "h2": {"bet365": [(60, 6.0), (20, 8.0)], "coral": [(55, 5.5)]}}


def load_fixture():
    with session_scope() as session:
        session.add(LiveRace(race_id="r1", race_date=date(2026, 11, 28), off_dt=OFF, course="Kempton",
                             race_name="Fixture Handicap", market_status="CLOSED", captures=40, fetched_at=OFF))
        for horse, books in HISTORY.items():
            for book, moves in books.items():
                session.add(OddsLive(race_id="r1", horse_id=horse, bookmaker_id=book, race_date=date(2026, 11, 28),
                                     horse_name=f"Name {horse}", off_dt=OFF, odds_decimal=moves[-1][1],
                                     course="Kempton", bookmaker_name=book, odds_timestamp=OFF))
                for minutes, price in moves:
                    session.add(OddsHistory(race_id="r1", horse_id=horse, bookmaker_id=book, odds_decimal=price,
                                            changed_at=OFF - timedelta(minutes=minutes), observed_at=OFF))


def test_series_step_best_and_median_across_bookmakers(database_url):
    load_fixture()
    with session_scope() as session:
        series = race_series(session, "r1")
    h1 = series["h1"]
    # 60: b365 3.0 | 50: +coral 3.5 | 30: b365 2.5 | 10: coral 2.75 | 5: b365 2.25
    assert h1["best"] == [3.0, 3.5, 3.5, 2.75, 2.75]
    assert h1["median"] == [3.0, 3.25, 3.0, 2.625, 2.5]


def test_figure_has_a_line_per_runner_and_measure_labels_off_and_log_scale(database_url):
    load_fixture()
    with session_scope() as session:
        figure = build_race_figure(session, "r1")
        single = build_race_figure(session, "r1", bookmaker="bet365")
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert sorted(labels) == sorted(["Name h1 best", "Name h1 median", "Name h2 best", "Name h2 median", "off"])
    assert axes.get_yscale() == "log"
    low, high = axes.get_ylim()
    assert low <= 2.5 and high >= 8.0  # the lowest median (h1) and the highest best price (h2)
    off_line = next(line for line in axes.get_lines() if line.get_label() == "off")
    x = off_line.get_xdata()[0]
    assert (x if isinstance(x, datetime) else mdates.num2date(x)) == OFF
    assert "Kempton" in axes.get_title() and "14:30" in axes.get_title()
    assert axes.get_xlabel() == "UK time"
    assert sorted(line.get_label() for line in single.axes[0].get_lines()) == [
        "Name h1 (bet365)", "Name h2 (bet365)", "off"]


def test_chart_command_writes_a_png_or_says_why_not(database_url, tmp_path, capsys):
    load_fixture()
    out = tmp_path / "r1.png"
    assert cli.main(["chart", "r1", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert cli.main(["chart", "no-such-race"]) == 1
    error = capsys.readouterr().err
    assert "no price history for race no-such-race" in error


def test_chart_out_dir_writes_into_it_and_a_missing_or_unwritable_dir_is_one_line(database_url, tmp_path, capsys):
    import os
    load_fixture()
    folder = tmp_path / "charts"
    folder.mkdir()
    assert cli.main(["chart", "r1", "--out", str(folder)]) == 0
    assert (folder / "race_r1.png").read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "charts.png").exists()
    capsys.readouterr()
    for out in (tmp_path / "missing" / "r1.png", f"{tmp_path / 'missing'}/"):
        assert cli.main(["chart", "r1", "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("chart: cannot write") and "Traceback" not in err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: make it a file's child instead
            locked = tmp_path / "a-file"
            locked.write_text("x")
        assert cli.main(["chart", "r1", "--out", str(locked / "r1.png")]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("chart: cannot write")
    finally:
        (tmp_path / "locked").chmod(0o700)
