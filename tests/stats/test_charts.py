"""Race charts from a fixture price history: the figure itself is inspected, not just the file."""
from datetime import date, datetime, timedelta, timezone

import matplotlib.dates as mdates
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.text import Text

from darkhorses.commands import cli
from darkhorses.db import session_scope
from darkhorses.models import LiveRace, OddsHistory, OddsLive
from darkhorses.stats.charts import (
    GREY,
    build_race_figure,
    opening_closing,
    place_labels,
    race_series,
    runner_colours,
    x_span,
)
from tests.builders import FIXTURE_OFF as OFF
from tests.builders import load_fixture


def test_series_step_best_and_median_across_bookmakers(database_url):
    load_fixture()
    with session_scope() as session:
        series = race_series(session, "r1")
    h1 = series["h1"]
    # 60: b365 3.0 | 50: +coral 3.5 | 30: b365 2.5 | 10: coral 2.75 | 5: b365 2.25
    assert h1["best"] == [3.0, 3.5, 3.5, 2.75, 2.75]
    assert h1["median"] == [3.0, 3.25, 3.0, 2.625, 2.5]


def _as_datetime(x):
    return x if isinstance(x, datetime) else mdates.num2date(x)


def test_figure_one_line_per_runner_best_band_names_at_ends_and_marks(database_url):
    load_fixture()
    with session_scope() as session:
        figure = build_race_figure(session, "r1", now=OFF + timedelta(hours=1))
        single = build_race_figure(session, "r1", bookmaker="bet365", now=OFF + timedelta(hours=1))
    axes = figure.axes[0]
    assert sorted(line.get_label() for line in axes.get_lines()) == ["Name h1", "Name h2", "off"]
    assert axes.get_legend() is None
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # one best-price band per runner
    assert axes.get_yscale() == "log"
    low, high = axes.get_ylim()
    assert low <= 2.5 and high >= 8.0  # the lowest median (h1) and the highest best price (h2)
    # the x-axis runs from the first capture (60 min before) to the off
    left, right = (_as_datetime(x) for x in axes.get_xlim())
    assert (left, right) == (OFF - timedelta(minutes=60), OFF)
    off_line = next(line for line in axes.get_lines() if line.get_label() == "off")
    assert _as_datetime(off_line.get_xdata()[0]) == OFF
    assert "Kempton" in axes.get_title() and "14:30" in axes.get_title()
    assert axes.get_xlabel() == "UK time"
    names = [t for t in figure.texts if t.get_text().startswith("Name ")]
    assert sorted(t.get_text() for t in names) == ["Name h1", "Name h2"]
    assert all(t.get_position()[0] > axes.get_position().x1 for t in names)  # right of the plot
    # opening: best across books at our first capture (60 min before: bet365 alone); closing: best
    # at our last capture before the off (h1 at 5 min: 2.25 bet365, 2.75 coral; h2 at 20 min: 8.0)
    marks = {c.get_gid(): (_as_datetime(c.get_offsets()[0][0]), float(c.get_offsets()[0][1]))
             for c in axes.collections if isinstance(c, PathCollection)}
    assert marks == {"opening:h1": (OFF - timedelta(minutes=60), 3.0), "closing:h1": (OFF - timedelta(minutes=5), 2.75),
                     "opening:h2": (OFF - timedelta(minutes=60), 6.0), "closing:h2": (OFF - timedelta(minutes=20), 8.0)}
    assert sorted(line.get_label() for line in single.axes[0].get_lines()) == [
        "Name h1 (bet365)", "Name h2 (bet365)", "off"]
    assert not [c for c in single.axes[0].collections if isinstance(c, PolyCollection)]


def test_no_closing_mark_before_the_off(database_url):
    load_fixture()
    with session_scope() as session:
        marks = opening_closing(session, "r1", ["h1", "h2"], OFF, OFF - timedelta(minutes=1))
    assert marks == {"h1": {"opening": (OFF - timedelta(minutes=60), 3.0)},
                     "h2": {"opening": (OFF - timedelta(minutes=60), 6.0)}}


def test_x_span_first_capture_to_the_off_or_to_now():
    ten = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    series = {"h": {"times": [ten, ten + timedelta(minutes=30)]}}
    minutes = lambda m: ten + timedelta(minutes=m)  # noqa: E731
    # off long after now: the data fills the chart, the off is not drawn
    assert x_span(series, minutes(120), minutes(40)) == (ten, minutes(40), False)
    # off 4 min after now, within 15 % of the 40 min drawn: stretched to show it
    assert x_span(series, minutes(44), minutes(40)) == (ten, minutes(44), True)
    # off 7 min after now: beyond 6 min (15 % of 40), left off
    assert x_span(series, minutes(47), minutes(40)) == (ten, minutes(40), False)
    # off already: to the off
    assert x_span(series, minutes(35), minutes(90)) == (ten, minutes(35), True)


def test_colours_never_repeat_and_past_nine_runners_the_rest_are_grey():
    colours = runner_colours([f"h{i}" for i in range(12)])
    coloured = [colours[f"h{i}"] for i in range(9)]
    assert len(set(coloured)) == 9 and GREY not in coloured
    assert [colours[f"h{i}"] for i in (9, 10, 11)] == [GREY] * 3


def test_labels_keep_their_distance_and_stay_inside():
    assert place_labels([100, 102, 104], 0, 1000, 10) == [100, 110, 120]
    assert place_labels([104, 100], 0, 1000, 10) == [110, 100]
    # pushed past the top, the block comes back down: 995 -> 985, 996 -> 995
    assert place_labels([995, 996], 0, 1000, 10) == [985, 995]
    assert place_labels([-50], 0, 1000, 10) == [5]


def crowded_race(runners=16):
    """A field whose prices end within a few ticks of each other (and one outsider), with long names."""
    with session_scope() as session:
        session.add(LiveRace(race_id="big", race_date=date(2026, 11, 28), off_dt=OFF, course="Cheltenham",
                             race_name="The Extremely Long Named Novices' Handicap Chase (Class 2) (Div I)",
                             market_status="CLOSED", captures=90, fetched_at=OFF))
        for i in range(runners):
            horse = f"x{i}"
            session.add(OddsLive(race_id="big", horse_id=horse, bookmaker_id="bet365", race_date=date(2026, 11, 28),
                                 horse_name=f"Horse With A Long Name Number {i}", off_dt=OFF, odds_decimal=8.0,
                                 course="Cheltenham", bookmaker_name="Bet365", odds_timestamp=OFF))
            for book, bump in (("bet365", 0.0), ("coral", 0.5), ("skybet", 1.0)):
                for minutes in (180, 120, 60, 1):
                    session.add(OddsHistory(race_id="big", horse_id=horse, bookmaker_id=book,
                                            odds_decimal=(60.0 if i == 0 else 6.0 + i * 0.02) + bump + minutes / 100,
                                            changed_at=OFF - timedelta(minutes=minutes), observed_at=OFF))


def visible_texts(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts], figure.bbox


def test_no_text_of_a_crowded_chart_overlaps_another_or_leaves_the_figure(database_url):
    crowded_race()
    with session_scope() as session:
        figure = build_race_figure(session, "big", now=OFF + timedelta(hours=1))
    texts, page = visible_texts(figure)
    names = [text for text, _ in texts if text.startswith("Horse With")]
    assert len(names) == 16
    for index, (text, box) in enumerate(texts):
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, text
        for other, other_box in texts[index + 1:]:
            assert not box.overlaps(other_box), f"{text!r} overlaps {other!r}"


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
