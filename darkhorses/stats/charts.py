"""`python -m darkhorses chart RACE_ID`: how one race's market moved, from ra_odds_history.

One line per runner: the median decimal price across bookmakers, with the best price as a
light band above it (or, with `--bookmaker ID`, that one book's line). Names sit at the
line ends instead of a legend; colours never repeat within a race — past nine runners the
nine shortest-priced keep a colour and the rest are grey. The x-axis runs from the first
capture to the off (or to now for a race not yet off, with the off marked when it is near).
"""
from __future__ import annotations

import os
import statistics
import sys
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.clock import UK
from ..live.market import lines_for
from ..models import LiveRace, OddsHistory, OddsLive

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GREY = "#a8a8a8"
# tab10 without its grey, which would read as one of the grey outsiders.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
LABEL_SIZE = 8.0
# An off later than this share of the drawn span beyond now is left off the chart.
OFF_REACH = 0.15


def race_series(session: Session, race_id: str, bookmaker: str | None = None) -> dict[str, dict[str, list]]:
    """{horse_id: {"times": [...], "best": [...], "median": [...]}} as step series: at every price
    change, each bookmaker's latest price so far, then best and median across them. With
    `bookmaker`, "best" and "median" are both that book's price."""
    query = select(OddsHistory.horse_id, OddsHistory.bookmaker_id, OddsHistory.changed_at,
                   OddsHistory.odds_decimal).where(OddsHistory.race_id == race_id)
    if bookmaker:
        query = query.where(OddsHistory.bookmaker_id == bookmaker)
    series: dict[str, dict[str, list]] = {}
    latest: dict[str, dict[str, float]] = defaultdict(dict)
    for horse, book, changed_at, price in session.execute(query.order_by(OddsHistory.changed_at)):
        latest[horse][book] = price
        prices = list(latest[horse].values())
        line = series.setdefault(horse, {"times": [], "best": [], "median": []})
        line["times"].append(changed_at)
        line["best"].append(max(prices))
        line["median"].append(statistics.median(prices))
    return series


def opening_closing(session: Session, race_id: str, horses: list[str], off: datetime | None,
                    now: datetime) -> dict[str, dict[str, tuple]]:
    """{horse_id: {"opening": (at, price), "closing": (at, price)}} as the market lines record
    them (best across books at our first capture, and at our last one before the off); no
    closing until the race is off, nothing for a runner we never captured."""
    marks: dict[str, dict[str, tuple]] = {horse: {} for horse in horses}
    for line in lines_for(session, [{"race_id": race_id, "horse_id": h, "race_date": None, "off_dt": off}
                                    for h in horses]):
        for kind in ("opening", "closing") if off is not None and off <= now else ("opening",):
            if line[f"{kind}_price"] is not None:
                marks[line["horse_id"]][kind] = (line[f"{kind}_at"], line[f"{kind}_price"])
    return marks


def x_span(series: dict[str, dict[str, list]], off: datetime | None, now: datetime) -> tuple[datetime, datetime, bool]:
    """(left, right, off marked): first capture to the off, or to now for a race not yet off —
    stretched to the off only when it is near enough not to squeeze the data."""
    first = min(line["times"][0] for line in series.values())
    last = max(line["times"][-1] for line in series.values())
    if off is None:
        return first, max(last, first), False
    if off <= now:
        return first, max(off, last), True
    right = max(min(now, off), last)
    if (off - right).total_seconds() <= OFF_REACH * max((right - first).total_seconds(), 1.0):
        return first, off, True
    return first, right, False


def runner_colours(order: list[str]) -> dict[str, str]:
    """Distinct colours for the nine shortest-priced runners, grey for the rest."""
    return {horse: PALETTE[i] if i < len(PALETTE) else GREY for i, horse in enumerate(order)}


def _extend(values: list, times: list, right: datetime) -> tuple[list, list]:
    """The step series carried to the right edge, so a runner's last price reaches it."""
    if times[-1] < right:
        return times + [right], values + [values[-1]]
    return times, values


def place_labels(wanted: list[float], low: float, high: float, gap: float) -> list[float]:
    """Label centres (pixels) as near as possible to `wanted`, at least `gap` apart, within
    [low, high]: sorted, pushed up past each neighbour, then the block pulled back under `high`."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed: list[float] = []
    for i in order:
        y = max(wanted[i], low + gap / 2)
        if placed and y < placed[-1] + gap:
            y = placed[-1] + gap
        placed.append(y)
    overflow = placed[-1] + gap / 2 - high if placed else 0
    if overflow > 0:
        for k in range(len(placed) - 1, -1, -1):
            ceiling = high - gap / 2 if k == len(placed) - 1 else placed[k + 1] - gap
            placed[k] = min(placed[k], ceiling)
    result = [0.0] * len(wanted)
    for position, i in enumerate(order):
        result[i] = placed[position]
    return result


def _odds_ticks(low: float, high: float) -> list[float]:
    ladder = [1.1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000]
    ticks = [t for t in ladder if low <= t <= high]
    while len(ticks) > 12:
        ticks = ticks[::2]
    return ticks


def _label_ends(figure, axes, ends: list[tuple[str, float, str]]) -> None:
    """Write each runner's name at its line's end, right of the plot, never overlapping:
    the right margin is sized to the longest name, and a crowded field gets a smaller font."""
    from matplotlib.lines import Line2D
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    size = LABEL_SIZE
    texts = [figure.text(0, 0, name, color=colour, fontsize=size, va="center") for name, _, colour in ends]
    longest = max(t.get_window_extent(renderer).width for t in texts)
    figure.subplots_adjust(left=0.07, right=1 - (longest + 28) / width, top=0.91, bottom=0.13)
    box = axes.get_window_extent(renderer)
    line_height = max(t.get_window_extent(renderer).height for t in texts) * 1.15
    if line_height * len(texts) > box.height:
        size = max(4.0, size * box.height / (line_height * len(texts)))
        line_height *= size / LABEL_SIZE
        for text in texts:
            text.set_fontsize(size)
    x_end = axes.get_xlim()[1]
    wanted = [axes.transData.transform((x_end, price))[1] for _, price, _ in ends]
    placed = place_labels(wanted, box.y0, box.y1, line_height)
    for text, want, y, (_, _, colour) in zip(texts, wanted, placed, ends, strict=True):
        text.set_position(((box.x1 + 10) / width, y / height))
        figure.lines.append(Line2D([box.x1 / width, (box.x1 + 8) / width], [want / height, y / height],
                                   transform=figure.transFigure, color=colour, linewidth=0.6))


def build_race_figure(session: Session, race_id: str, bookmaker: str | None = None,
                      now: datetime | None = None) -> Figure | None:
    """The matplotlib Figure for a race, or None when it has no price history."""
    series = race_series(session, race_id, bookmaker)
    if not series:
        return None
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    now = now or datetime.now(timezone.utc)
    names = dict(session.execute(select(OddsLive.horse_id, OddsLive.horse_name)
                                 .where(OddsLive.race_id == race_id).distinct()).all())
    race = session.get(LiveRace, race_id)
    off = race.off_dt if race else session.execute(
        select(OddsLive.off_dt).where(OddsLive.race_id == race_id).limit(1)).scalar()
    title = f"{race.course} {off.astimezone(UK):%H:%M} — {race.race_name}" if race and off else race_id
    figure = Figure(figsize=(11, 6.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    order = sorted(series, key=lambda horse: series[horse]["median"][-1])
    colours = runner_colours(order)
    left, right, mark_off = x_span(series, off, now)
    marks = opening_closing(session, race_id, order, off, now)
    ends = []
    for horse in reversed(order):  # the favourites drawn last, on top
        line, colour = series[horse], colours[horse]
        grey = colour == GREY
        times, median = _extend(line["median"], line["times"], right)
        _, best = _extend(line["best"], line["times"], right)
        if not bookmaker and not grey:
            axes.fill_between(times, median, best, step="post", color=colour, alpha=0.15, linewidth=0)
        name = names.get(horse) or horse
        axes.step(times, median, where="post", color=colour, linewidth=1.0 if grey else 1.8, zorder=2 if grey else 3,
                  label=f"{name} ({bookmaker})" if bookmaker else name)
        ends.append((name, median[-1], colour))
        for kind, (at, price) in marks[horse].items():
            axes.scatter([at], [price], s=22, zorder=4, color=colour, edgecolors=colour, gid=f"{kind}:{horse}",
                         facecolors="white" if kind == "opening" else colour, marker="o" if kind == "opening" else "D")
    # matplotlib's stubs take x as a float only; datetimes go through its date converter.
    if mark_off and off is not None:  # x_span marks the off only when there is one
        axes.axvline(off, color="black", linewidth=1.2, label="off")  # type: ignore[arg-type]
        axes.text(off, 0.99, f"off {off.astimezone(UK):%H:%M} ",  # type: ignore[arg-type]
                  transform=axes.get_xaxis_transform(), ha="right", va="top", fontsize=8)
    axes.set_xlim(left, right)  # type: ignore[arg-type]
    axes.set_yscale("log")
    low, high = axes.get_ylim()
    axes.yaxis.set_major_locator(FixedLocator(_odds_ticks(low, high)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_ylabel("decimal odds (log scale)")
    axes.set_xlabel("UK time")
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=9, tz=UK))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UK))
    axes.set_title(f"Price movement: {title}" + (f" at {bookmaker}" if bookmaker else ""), fontsize=11)
    axes.grid(True, alpha=0.3)
    key = "line: that book's price" if bookmaker else "line: median across books · band: up to the best price"
    figure.text(0.01, 0.015, key + " · ○ opening · ◆ closing (best price)", fontsize=7.5, color="#555")
    _label_ends(figure, axes, ends)
    return figure


def draw_race_chart(session: Session, race_id: str, out: str | None = None, bookmaker: str | None = None) -> int:
    figure = build_race_figure(session, race_id, bookmaker)
    if figure is None:
        print(f"chart: no price history for race {race_id}"
              + (f" at bookmaker {bookmaker}" if bookmaker else "") + "; nothing to draw", file=sys.stderr)
        return 1
    path = _chart_path(race_id, out)
    try:
        if not os.path.isdir(os.path.dirname(path) or "."):
            raise FileNotFoundError(f"no directory {os.path.dirname(path)!r}")
        figure.savefig(path, dpi=110, format="png")
    except OSError as exc:
        print(f"chart: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"chart of race {race_id} written to {path}")
    return 0


def _chart_path(race_id: str, out: str | None) -> str:
    """--out DIR (existing, or ending in a slash) writes DIR/race_ID.png; anything else is the file."""
    name = f"race_{race_id}.png".replace(os.sep, "_")
    if not out:
        return name
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        return os.path.join(out, name)
    return out
