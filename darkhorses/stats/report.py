"""report.html: one self-contained page for people who would rather look than read.

Written next to the statistics JSON, atomically. No scripts, no fonts, nothing fetched: the
charts are small hand-written SVG bars, so the page opens from disk anywhere.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from html import escape
from pathlib import Path

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..core.clock import UK, uk_date
from ..core.files import write_text_atomic
from ..live.market import withdrawals_on
from ..models import OddsHistory, OddsLive, Withdrawal

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;
min-width:120px;flex:1 1 120px}.tile .v{font-size:22px;font-weight:600}.tile .l{color:#444}
.tile.bad{border-color:#d33;background:#fde2e2}.tile.good .v{color:#070}.tile.warn .v{color:#a60}
.quiet{color:#666;font-size:13px}td small{overflow-wrap:anywhere}td.pct{white-space:nowrap}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right}tr.missing td{background:#fde2e2}.late{color:#b00}.ok{color:#070}
.steam{color:#070}.drift{color:#b00}small{color:#666}"""


def biggest_movers(session: Session, day: date, limit: int = 10) -> list[dict]:
    """Steamers and drifters of a UK day: per runner, the mean first and mean last captured
    price across bookmakers, largest changes first."""
    h = OddsHistory.__table__
    day_races = select(OddsLive.race_id).where(OddsLive.race_date == day).distinct()
    # Filtered before grouping: the day's races only, never a scan of the whole history.
    bounds = select(h.c.race_id, h.c.horse_id, h.c.bookmaker_id, func.min(h.c.changed_at).label("first_at"),
                    func.max(h.c.changed_at).label("last_at")).where(h.c.race_id.in_(day_races)) \
        .group_by(h.c.race_id, h.c.horse_id, h.c.bookmaker_id).subquery()
    first, last = h.alias("first_price"), h.alias("last_price")
    rows = session.execute(
        select(bounds.c.race_id, bounds.c.horse_id, func.avg(first.c.odds_decimal).label("first"),
               func.avg(last.c.odds_decimal).label("last"))
        .join(first, and_(first.c.race_id == bounds.c.race_id, first.c.horse_id == bounds.c.horse_id,
                          first.c.bookmaker_id == bounds.c.bookmaker_id, first.c.changed_at == bounds.c.first_at))
        .join(last, and_(last.c.race_id == bounds.c.race_id, last.c.horse_id == bounds.c.horse_id,
                         last.c.bookmaker_id == bounds.c.bookmaker_id, last.c.changed_at == bounds.c.last_at))
        # Each side filtered too: a join alone would probe every month's partition per row.
        .where(bounds.c.race_id.in_(day_races), first.c.race_id.in_(day_races), last.c.race_id.in_(day_races))
        .group_by(bounds.c.race_id, bounds.c.horse_id)).all()
    names = {(r.race_id, r.horse_id): (r.horse_name, r.course, r.race_time) for r in session.execute(
        select(OddsLive.race_id, OddsLive.horse_id, OddsLive.horse_name, OddsLive.course, OddsLive.race_time)
        .where(OddsLive.race_date == day).distinct())}
    # A non-runner's last price is no market move.
    withdrawn = set(session.execute(select(Withdrawal.race_id, Withdrawal.horse_id).where(
        Withdrawal.race_date == day, Withdrawal.reopened_at.is_(None))).all())
    movers = []
    for race_id, horse_id, first_price, last_price in rows:
        if not first_price or first_price == last_price or (race_id, horse_id) in withdrawn:
            continue
        horse, course, race_time = names.get((race_id, horse_id), (horse_id, None, None))
        movers.append({"race_id": race_id, "horse_id": horse_id, "horse": horse, "course": course,
                       "race_time": race_time.strftime("%H:%M") if race_time else None,
                       "first": round(float(first_price), 2),
                       "last": round(float(last_price), 2),
                       "change_percent": round(100 * (float(last_price) - float(first_price)) / float(first_price), 1)})
    movers.sort(key=lambda m: m["change_percent"])
    steamers = [m for m in movers if m["change_percent"] < 0][:limit]
    drifters = [m for m in reversed(movers) if m["change_percent"] > 0][:limit]
    return steamers + drifters


def _bars(items: list[tuple[str, float]], unit: str = "", width: int = 640) -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return "<p><small>nothing to show yet</small></p>"
    top = max(value for _, value in items) or 1
    row, label_width = 18, 150
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(items) + 4}" '
             f'role="img">']
    for index, (label, value) in enumerate(items):
        y = index * row + 2
        length = (width - label_width - 140) * value / top  # room for the value written after the bar
        parts.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" font-size="12">{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{row - 4}" fill="#4a7bb7"/>'
                     f'<text x="{label_width + length + 4:.1f}" y="{y + 13}" font-size="12">{value:,.0f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _time(value) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UK).strftime("%H:%M:%S")


def _when(value, day: str) -> str:
    """A UK clock time, with the date when it is not on `day`."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value).astimezone(UK)
    return moment.strftime("%H:%M") if moment.date().isoformat() == day else moment.strftime("%d %b %H:%M")


def _withdrawals_section(withdrawals: list[dict]) -> str:
    html = ["<section id='withdrawals'><h2>Today's non-runners</h2>",
            "<table><tr><th>off (UK)</th><th>course</th><th>horse</th><th>withdrawn (UK)</th>"
            "<th class='n'>last best price</th><th class='n'>books</th><th>seen as</th></tr>"]
    for w in withdrawals:
        off = w["off_dt"].astimezone(UK).strftime("%H:%M") if w["off_dt"] else ""
        price = f"{w['last_price']:.2f}" if w["last_price"] else "—"
        seen = "gone from the card" if w["reason"] == "off_card" else "priced '-' by every book"
        if w["reopened_at"]:
            seen += f"; back at {w['reopened_at'].astimezone(UK):%H:%M:%S}"
        html.append(f"<tr><td>{off}</td><td>{escape(w['course'] or '')}</td>"
                    f"<td>{escape(w['horse_name'] or w['horse_id'])}</td>"
                    f"<td>{w['withdrawn_at'].astimezone(UK):%H:%M:%S}</td><td class='n'>{price}</td>"
                    f"<td class='n'>{w['last_price_books'] or 0}</td><td>{escape(seen)}</td></tr>")
    if not withdrawals:
        html.append("<tr><td colspan='7'><small>no runner withdrawn today</small></td></tr>")
    html.append("</table></section>")
    return "".join(html)


def _seconds(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} s" if abs(value) < 120 else f"{value / 60:,.1f} min"


def _tile(label: str, value: str, note: str = "", css: str = "") -> str:
    return (f"<div class='tile {css}'><div class='v'>{escape(value)}</div><div class='l'>{escape(label)}</div>"
            f"<small>{escape(note)}</small></div>")


def _glance(health: dict) -> list[str]:
    glance = health["at_a_glance"]
    loop, backfill = glance["loop"], glance["backfill"]
    if loop["state"] == "running":
        loop_note = (f"since {_when(loop['since'], glance['date'])}, "
                     f"next cycle {_when(loop.get('next_cycle_due'), glance['date'])}")
    elif loop["state"] == "stopped":
        loop_note = f"last cycle {_when(loop['since'], glance['date'])}"
    else:
        loop_note = "no live cycle on record"
    backfill_value = f"{backfill['percent']:g} %" if backfill["percent"] is not None else "—"
    backfill_note = (f"{backfill['settled']:,} of {backfill['days']:,} days settled"
                     + (f", {backfill['failed']} failed" if backfill["failed"] else "")) if backfill["days"] \
        else "nothing requested yet"
    missed = glance["races_missed"]
    tiles = [
        _tile("watched to the off", f"{glance['races_watched_to_off']:,}",
              f"{glance['races_upcoming']:,} still to run"),
        _tile("missed", f"{missed:,}", "went off unwatched while the loop ran", "bad" if missed else "good"),
        _tile("last capture → off, p95", _seconds(glance["gap_to_off_p95_seconds"]),
              "over the races watched, to the real off (the close)"),
        _tile("prices captured", f"{glance['prices_captured']:,}", "price changes recorded today"),
        _tile("non-runners", f"{glance['non_runners']:,}", "withdrawn today"),
        _tile("live loop", loop["state"], loop_note, "good" if loop["state"] == "running" else "warn"),
        _tile("backfill", backfill_value, backfill_note),
    ]
    html = [f"<section id='glance'><h2>{escape(_day_title(glance['date']))} at a glance</h2>",
            "<div class='tiles'>" + "".join(tiles) + "</div>"]
    results_only = health["results_only"]
    if results_only["races"]:
        html.append(f"<p class='quiet'>{results_only['races']:,} races of the last 7 days are known only from their "
                    "results: they went off while no live loop was running (before it first watched, or while it "
                    "was stopped), so they are not counted as missed.</p>")
    stopped = health["off_while_loop_stopped"]
    if stopped:
        html.append(f"<p class='quiet'>{len(stopped):,} races were watched but went off after the loop "
                    "stopped; their last capture is their last price.</p>")
    html.append("</section>")
    return html


def _day_title(day: str) -> str:
    return date.fromisoformat(day).strftime("%A %d %B %Y")


def _missed(health: dict) -> list[str]:
    missed = health["missed"]
    html = ["<section id='missed'><h2>Missed races (last 7 days)</h2>"]
    if not missed:
        html.append("<p class='ok'>None: every race that went off while the loop was running was captured.</p>")
        return html + ["</section>"]
    html.append("<table><tr><th>date</th><th>off (UK)</th><th>course</th><th>race</th></tr>")
    for race in missed:
        html.append(f"<tr class='missing'><td>{escape(race['race_date'])}</td><td>{_time(race['off_dt'])}</td>"
                    f"<td>{escape(race['course'] or '')}</td>"
                    f"<td>{escape(race['race_name'] or race['race_id'])}</td></tr>")
    return html + ["</table></section>"]


def _races_today(health: dict, today: date) -> list[str]:
    races = [r for r in health["races"] if r["race_date"] == today.isoformat()]
    html = ["<section id='health'><h2>Today's races</h2>",
            "<table><tr><th>off (UK)</th><th>course</th><th>race</th><th class='n'>captures</th>"
            "<th class='n'>last capture before the close</th><th>market</th></tr>"]
    for race in races:
        gap = race["gap_to_off_seconds"]
        css = "late" if gap is not None and race["outcome"] == "watched" and gap > 15 else "ok"
        gap_text = _seconds(gap) if race["outcome"] != "upcoming" else "—"
        html.append(f"<tr><td>{_time(race['off_dt'])}</td><td>{escape(race['course'] or '')}</td>"
                    f"<td>{escape(race['race_name'] or '')}</td><td class='n'>{race['captures']}</td>"
                    f"<td class='n {css}'>{gap_text}</td><td>{escape(race['market_status'])}</td></tr>")
    if not races:
        html.append("<tr><td colspan='6'><small>the live loop has not polled a race of today</small></td></tr>")
    return html + ["</table></section>"]


def _lateness(health: dict) -> list[str]:
    late = health["lateness_today"]
    html = ["<section id='lateness'><h2>How late today's races went off</h2>"]
    if not late["races"]:
        return html + ["<p class='quiet'>No race has gone off today yet.</p></section>"]
    html.append(f"<p>{late['races']:,} races: median {_seconds(late['median_seconds'])} late, "
                f"{late['a_minute_or_more_percent']:.0f} % a minute or more. <small>Estimated from the last price "
                "move after the scheduled off (bookmakers trade until the real off).</small></p>")
    html.append("<table><tr><th>off (UK)</th><th>course</th><th class='n'>minutes late</th><th>closed on</th></tr>")
    for race in late["latest"]:
        html.append(f"<tr><td>{_time(race['off_dt'])}</td><td>{escape(race['course'] or race['race_id'])}</td>"
                    f"<td class='n'>{race['minutes_late']:.1f}</td><td>{escape(race['close_reason'] or '')}</td></tr>")
    return html + ["</table></section>"]


def _percent(book: dict | None) -> str:
    return f"{book['book_percent']:.1f} % <small>{escape(book['bookmaker_id'])}</small>" if book else "—"


def _overround(health: dict) -> list[str]:
    """Per race: the complete books' range, and the partial books with how many they priced."""
    names = {r["race_id"]: r for r in health["races"]}
    per_race: dict[str, list] = {}
    for book in health["overround_today"]:
        per_race.setdefault(book["race_id"], []).append(book)
    html = ["<section id='overround'><h2>Overround today</h2>",
            "<p class='quiet'>A book's percentage only where it priced every runner still running.</p>",
            "<table><tr><th>race</th><th class='n'>runners</th><th class='n'>complete books</th>"
            "<th class='n'>lowest</th><th class='n'>highest</th><th>partial books</th></tr>"]
    for race_id, books in sorted(per_race.items(), key=lambda item: names.get(item[0], {}).get("off_dt") or ""):
        race = names.get(race_id, {})
        complete = [b for b in books if b["complete"]]
        low = min(complete, key=lambda b: b["book_percent"]) if complete else None
        high = max(complete, key=lambda b: b["book_percent"]) if complete else None
        partial = ", ".join(f"{b['bookmaker_id']} {b['runners_priced']}/{b['runners_running']}"
                            for b in books if not b["complete"])
        html.append(f"<tr><td>{_time(race.get('off_dt'))[:5]} {escape(race.get('course') or race_id)}</td>"
                    f"<td class='n'>{books[0]['runners_running']}</td><td class='n'>{len(complete)}</td>"
                    f"<td class='n pct'>{_percent(low)}</td><td class='n pct'>{_percent(high)}</td>"
                    f"<td><small>{escape(partial) or '—'}</small></td></tr>")
    if not per_race:
        html.append("<tr><td colspan='6'><small>no prices today yet</small></td></tr>")
    return html + ["</table></section>"]


def render_report(stats: dict, movers: list[dict], today: date, withdrawals: Sequence[dict] = ()) -> str:
    health = stats["collection_health"]
    live = stats["ra_odds_live"]
    html = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>DarkHorses collection report</title><style>{CSS}</style></head><body>",
            f"<h1>DarkHorses collection report</h1><p><small>generated {escape(stats['generated_at'])} "
            f"· schema {stats['schema_version']}</small></p>"]
    html += _glance(health) + _missed(health) + _races_today(health, today) + _lateness(health) + _overround(health)

    html.append("<section id='bookmakers'><h2>Bookmaker coverage</h2>")
    html.append(_bars([(b["bookmaker_id"], b["prices"]) for b in live["by_bookmaker"]], " prices"))
    html.append("<table><tr><th>bookmaker</th><th class='n'>prices</th><th class='n'>races</th>"
                "<th class='n'>horses</th><th>latest</th></tr>")
    for b in live["by_bookmaker"]:
        html.append(f"<tr><td>{escape(b['bookmaker_id'])}</td><td class='n'>{b['prices']:,}</td>"
                    f"<td class='n'>{b['races']:,}</td><td class='n'>{b['horses']:,}</td>"
                    f"<td>{escape(str(b['latest'] or ''))}</td></tr>")
    html.append("</table></section>")

    html.append("<section id='backfill'><h2>Backfill coverage by year</h2>")
    statuses = ("complete", "empty", "unavailable", "failed", "pending", "running")
    html.append("<table><tr><th>year</th>" + "".join(f"<th class='n'>{s}</th>" for s in statuses) + "</tr>")
    for year, counts in sorted(health["ledger_by_year"].items()):
        html.append(f"<tr><td>{escape(year)}</td>" + "".join(
            f"<td class='n'>{counts.get(s, 0)}</td>" for s in statuses) + "</tr>")
    html.append("</table>")
    html.append(_bars([(year, counts.get("complete", 0) + counts.get("empty", 0))
                       for year, counts in sorted(health["ledger_by_year"].items())], " days settled"))
    html.append("</section>")

    html.append("<section id='movers'><h2>Today's biggest movers</h2>")
    html.append("<table><tr><th></th><th>horse</th><th>race</th><th class='n'>first</th><th class='n'>last</th>"
                "<th class='n'>change</th></tr>")
    for mover in movers:
        kind = "steam" if mover["change_percent"] < 0 else "drift"
        html.append(f"<tr class='{kind}'><td>{'steamer' if kind == 'steam' else 'drifter'}</td>"
                    f"<td>{escape(str(mover['horse']))}</td><td>{escape(mover['race_time'] or '')} "
                    f"{escape(mover['course'] or '')}</td><td class='n'>{mover['first']:.2f}</td>"
                    f"<td class='n'>{mover['last']:.2f}</td>"
                    f"<td class='n {kind}'>{mover['change_percent']:+.1f}%</td></tr>")
    if not movers:
        html.append("<tr><td colspan='6'><small>no price has moved today yet</small></td></tr>")
    html.append("</table></section>")
    html.append(_withdrawals_section(list(withdrawals)))
    html.append("</body></html>")
    return "\n".join(html)


def write_report(session: Session, directory: Path, stats: dict, now: datetime | None = None) -> Path:
    now = now or datetime.now(timezone.utc)
    today = uk_date(now)
    movers = biggest_movers(session, today)
    withdrawals = withdrawals_on(session, today)
    path = directory / "report.html"
    write_text_atomic(path, render_report(stats, movers, today, withdrawals))
    return path
