"""`python -m darkhorses chart RACE_ID`: how one race's market moved, from ra_odds_history.

For each runner: the best (highest) and the median decimal price across bookmakers over time,
or with `--bookmaker ID` that one book's line; the off marked; UK times; log-scale odds.
"""
from __future__ import annotations

import os
import statistics
import sys
from collections import defaultdict

from sqlalchemy import select

from .db import session_scope
from .market import lines_for
from .models import LiveRace, OddsHistory, OddsLive
from .prices import UK


def race_series(session, race_id: str, bookmaker: str | None = None) -> dict[str, dict[str, list]]:
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


def build_race_figure(session, race_id: str, bookmaker: str | None = None):
    """The matplotlib Figure for a race, or None when it has no price history."""
    series = race_series(session, race_id, bookmaker)
    if not series:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    names = dict(session.execute(select(OddsLive.horse_id, OddsLive.horse_name)
                                 .where(OddsLive.race_id == race_id).distinct()).all())
    race = session.get(LiveRace, race_id)
    off = race.off_dt if race else session.execute(
        select(OddsLive.off_dt).where(OddsLive.race_id == race_id).limit(1)).scalar()
    title = f"{race.course} {off.astimezone(UK):%H:%M} — {race.race_name}" if race and off else race_id
    figure, axes = plt.subplots(figsize=(11, 6.5))
    colours = plt.get_cmap("tab20").colors
    for index, (horse, line) in enumerate(sorted(series.items(), key=lambda item: item[1]["median"][-1])):
        colour = colours[index % len(colours)]
        label = names.get(horse) or horse
        if bookmaker:
            axes.step(line["times"], line["best"], where="post", color=colour, label=f"{label} ({bookmaker})")
        else:
            axes.step(line["times"], line["best"], where="post", color=colour, linestyle="--", linewidth=1,
                      label=f"{label} best")
            axes.step(line["times"], line["median"], where="post", color=colour, linewidth=2,
                      label=f"{label} median")
            mark_opening_closing(axes, session, race_id, horse, off, colour)
    if off:
        axes.axvline(off, color="black", linewidth=1.5, label="off")
    axes.set_yscale("log")
    axes.set_ylabel("decimal odds (log scale)")
    axes.set_xlabel("UK time")
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UK))
    axes.set_title(f"Price movement: {title}" + (f" at {bookmaker}" if bookmaker else ""))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


def mark_opening_closing(axes, session, race_id: str, horse_id: str, off, colour) -> None:
    """A circle at the runner's opening price (best across books at our first capture) and a
    square at its closing price (best at our last capture before the off)."""
    line = lines_for(session, [{"race_id": race_id, "horse_id": horse_id, "race_date": None, "off_dt": off}])[0]
    for kind, marker in (("opening", "o"), ("closing", "s")):
        if line[f"{kind}_price"] is not None:
            axes.scatter([line[f"{kind}_at"]], [line[f"{kind}_price"]], marker=marker, s=45, color=[colour],
                         edgecolors="black", zorder=3, gid=f"{kind}:{horse_id}")


def draw_race_chart(race_id: str, out: str | None = None, bookmaker: str | None = None) -> int:
    with session_scope() as session:
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
