"""report.html: one self-contained page for people who would rather look than read.

Written next to the statistics JSON, atomically. No scripts, no fonts, nothing fetched: the
charts are small hand-written SVG bars, so the page opens from disk anywhere.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from html import escape
from pathlib import Path

from sqlalchemy import and_, func, select

from .db import session_scope
from .files import write_text_atomic
from .market import withdrawals_on
from .models import OddsHistory, OddsLive, Withdrawal
from .prices import UK, uk_date

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right}tr.missing td{background:#fde2e2}.late{color:#b00}.ok{color:#070}
.steam{color:#070}.drift{color:#b00}small{color:#666}"""


def biggest_movers(session, day: date, limit: int = 10) -> list[dict]:
    """Steamers and drifters of a UK day: per runner, the mean first and mean last captured
    price across bookmakers, largest changes first."""
    h = OddsHistory.__table__
    bounds = select(h.c.race_id, h.c.horse_id, h.c.bookmaker_id, func.min(h.c.changed_at).label("first_at"),
                    func.max(h.c.changed_at).label("last_at")).group_by(h.c.race_id, h.c.horse_id,
                                                                        h.c.bookmaker_id).subquery()
    first, last = h.alias("first_price"), h.alias("last_price")
    day_races = select(OddsLive.race_id).where(OddsLive.race_date == day).distinct()
    rows = session.execute(
        select(bounds.c.race_id, bounds.c.horse_id, func.avg(first.c.odds_decimal).label("first"),
               func.avg(last.c.odds_decimal).label("last"))
        .join(first, and_(first.c.race_id == bounds.c.race_id, first.c.horse_id == bounds.c.horse_id,
                          first.c.bookmaker_id == bounds.c.bookmaker_id, first.c.changed_at == bounds.c.first_at))
        .join(last, and_(last.c.race_id == bounds.c.race_id, last.c.horse_id == bounds.c.horse_id,
                         last.c.bookmaker_id == bounds.c.bookmaker_id, last.c.changed_at == bounds.c.last_at))
        .where(bounds.c.race_id.in_(day_races))
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
                       "race_time": race_time.strftime("%H:%M") if race_time else None, "first": round(float(first_price), 2),
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
        length = (width - label_width - 80) * value / top
        parts.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" font-size="12">{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{row - 4}" fill="#4a7bb7"/>'
                     f'<text x="{label_width + length + 4:.1f}" y="{y + 13}" font-size="12">{value:,.0f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _time(value) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UK).strftime("%H:%M:%S")


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


def render_report(stats: dict, movers: list[dict], today: date, withdrawals: list[dict] = ()) -> str:
    health = stats["collection_health"]
    live = stats["ra_odds_live"]
    races_today = [r for r in health["races"] if r["race_date"] == today.isoformat()]
    never = [r for r in health["never_captured"]]
    html = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>DarkHorses collection report</title>"
            f"<style>{CSS}</style></head><body>",
            f"<h1>DarkHorses collection report</h1><p><small>generated {escape(stats['generated_at'])} "
            f"· schema {stats['schema_version']}</small></p>"]

    html.append("<section id='health'><h2>Today's collection health</h2>")
    html.append(f"<p>{len(races_today)} races watched today; {len(never)} finished races of the last 7 days "
                f"never captured.</p>")
    html.append("<table><tr><th>off (UK)</th><th>course</th><th>race</th><th class='n'>captures</th>"
                "<th class='n'>last capture before off</th><th>market</th></tr>")
    for race in races_today:
        gap = race["gap_to_off_seconds"]
        css = "late" if gap is not None and race["market_status"] == "CLOSED" and gap > 15 else "ok"
        gap_text = f"{gap:,.0f} s" if gap is not None else "—"
        html.append(f"<tr><td>{_time(race['off_dt'])}</td><td>{escape(race['course'] or '')}</td>"
                    f"<td>{escape(race['race_name'] or '')}</td><td class='n'>{race['captures']}</td>"
                    f"<td class='n {css}'>{gap_text}</td><td>{escape(race['market_status'])}</td></tr>")
    for race in never:
        html.append(f"<tr class='missing'><td>{escape(race['race_time'] or '')}</td><td>{escape(race['track'] or '')}</td>"
                    f"<td>never captured ({escape(race['race_date'])})</td><td class='n'>0</td><td class='n'>—</td>"
                    f"<td>—</td></tr>")
    html.append("</table></section>")

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
                    f"<td class='n'>{mover['last']:.2f}</td><td class='n {kind}'>{mover['change_percent']:+.1f}%</td></tr>")
    if not movers:
        html.append("<tr><td colspan='6'><small>no price has moved today yet</small></td></tr>")
    html.append("</table></section>")
    html.append(_withdrawals_section(list(withdrawals)))
    html.append("</body></html>")
    return "\n".join(html)


def write_report(directory: Path, stats: dict, now: datetime | None = None) -> Path:
    now = now or datetime.now(timezone.utc)
    today = uk_date(now)
    with session_scope() as session:
        movers = biggest_movers(session, today)
        withdrawals = withdrawals_on(session, today)
    path = directory / "report.html"
    write_text_atomic(path, render_report(stats, movers, today, withdrawals))
    return path
