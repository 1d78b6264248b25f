"""report.html: the day at a glance, missed only while the loop ran, checked in a real browser."""
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import date, datetime, timedelta, timezone

import pytest

from darkhorses.core.clock import day_start
from darkhorses.core.settings import get_settings
from darkhorses.historical import ledger
from darkhorses.models import LiveFetch, LiveRace, OddsHistorical, OddsHistory, OddsLive
from darkhorses.stats.compute import compute_statistics
from darkhorses.stats.report import write_report
from tests.builders import FIXTURE_OFF as OFF
from tests.builders import load_fixture

NOW = OFF - timedelta(minutes=1)
DAY = date(2026, 11, 28)
SEEDED_NOW = datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)  # GMT: UK time is UTC


def at(hour, minute=0, second=0):
    return datetime(2026, 11, 28, hour, minute, second, tzinfo=timezone.utc)


def statistics(session, now):
    return compute_statistics(session, get_settings(), now)


def make_report(session, tmp_path):
    load_fixture(session)
    return write_report(session, tmp_path, statistics(session, NOW), NOW)


def add_cycle(session, started_at, next_poll_seconds):
    session.add(LiveFetch(fetch_timestamp=started_at, detail={"next_poll_seconds": next_poll_seconds}))


def add_result(session, race_id, off, track):
    session.add(OddsHistorical(race_id=race_id, horse_id="hx", date_of_race=day_start(off.date()), match_timestamp=off,
                               track=track, race_time=off.time(), race_name=f"Race {race_id}"))


def seed_day(session):
    """A day the loop watched from 12:00, with an outage 12:55-13:30 (it promised a cycle by
    13:01 with the 60 s lease grace, the next came at 13:30), and these races:
    10:00, 11:00  results only: before the loop first ran
    13:15         results only: went off during the outage
    14:00, 15:00  watched to the off, last captures 5 s and 20 s before
    14:30         MISSED: the loop was running and never captured it
    17:00         still to run."""
    cycle = at(12)
    while cycle <= at(15, 55):
        if not at(12, 55) < cycle < at(13, 30):
            add_cycle(session, cycle, 300)
        cycle += timedelta(minutes=5)
    for race_id, off, last, status in (("w1", at(14), at(13, 59, 55), "CLOSED"),
                                       ("w2", at(15), at(14, 59, 40), "CLOSED"),
                                       ("u1", at(17), at(15, 55), "OPEN")):
        session.add(LiveRace(race_id=race_id, race_date=DAY, off_dt=off, course="Watchford",
                             race_name=f"Watched {race_id}", market_status=status, captures=30, fetched_at=last))
    for race_id, off, track in (("b1", at(10), "Earlyton"), ("b2", at(11), "Earlyton"),
                                ("d1", at(13, 15), "Downham"), ("m1", at(14, 30), "Missedbury"),
                                ("y1", at(14) - timedelta(days=1), "Yesterbury")):
        add_result(session, race_id, off, track)
    # w1 at two books: A prices all three runners still running (1/2 + 1/3 + 1/6 = 100 %),
    # B only two of them; h4 is a non-runner, whatever A still shows for it.
    for horse, book, price, status in (("h1", "booka", 2.0, "CLOSED"), ("h2", "booka", 3.0, "CLOSED"),
                                       ("h3", "booka", 6.0, "CLOSED"), ("h4", "booka", 10.0, "NON_RUNNER"),
                                       ("h1", "bookb", 2.1, "CLOSED"), ("h2", "bookb", 3.2, "CLOSED")):
        session.add(OddsLive(race_id="w1", horse_id=horse, bookmaker_id=book, race_date=DAY, course="Watchford",
                             off_dt=at(14), horse_name=f"Horse {horse}", odds_decimal=price, market_status=status,
                             bookmaker_name=book, odds_timestamp=at(13, 50)))
    for minute in (1, 2, 3):
        session.add(OddsHistory(race_id="w1", horse_id="h1", bookmaker_id="booka", odds_decimal=2.0 + minute,
                                changed_at=at(13, minute), observed_at=at(13, minute)))
    for day, status in ((date(2025, 1, 1), "complete"), (date(2025, 1, 2), "complete"), (date(2025, 1, 3), "failed")):
        ledger.update(session, day, status=status)
    session.flush()


def test_collection_health_counts_as_missed_only_a_race_that_went_off_while_the_loop_ran(db_session):
    seed_day(db_session)
    health = statistics(db_session, SEEDED_NOW)["collection_health"]
    assert [r["race_id"] for r in health["missed"]] == ["m1"]
    assert health["results_only"] == {"races": 4, "by_date": {"2026-11-27": 1, "2026-11-28": 3}}
    glance = health["at_a_glance"]
    assert glance["races_watched_to_off"] == 2 and glance["races_missed"] == 1
    assert glance["races_upcoming"] == 1 and glance["races_results_only"] == 3
    assert glance["gap_to_off_p95_seconds"] == 20.0  # nearest rank of [5, 20]: the 2nd
    assert glance["prices_captured"] == 3 and glance["non_runners"] == 1
    # last cycle 15:55 promised the next by 16:00 (+60 s grace): running, since the 13:30 restart
    assert glance["loop"]["state"] == "running" and glance["loop"]["since"] == at(13, 30).isoformat()
    assert glance["backfill"]["days"] == 3 and glance["backfill"]["settled"] == 2
    assert glance["backfill"]["percent"] == 66.7 and glance["backfill"]["failed"] == 1
    books = {b["bookmaker_id"]: b for b in health["overround_today"]}
    assert books["booka"] == {"race_id": "w1", "bookmaker_id": "booka", "runners_running": 3, "runners_priced": 3,
                              "complete": True, "book_percent": 100.0}
    assert books["bookb"]["complete"] is False and books["bookb"]["book_percent"] is None
    assert books["bookb"]["runners_priced"] == 2


def test_the_report_opens_with_the_day_and_shows_exactly_the_missed_race_in_red(db_session, tmp_path):
    seed_day(db_session)
    html = write_report(db_session, tmp_path, statistics(db_session, SEEDED_NOW), SEEDED_NOW).read_text()
    assert html.index("id='glance'") < html.index("id='missed'") < html.index("id='health'")
    red_rows = re.findall(r"<tr class='missing'>.*?</tr>", html)
    assert len(red_rows) == 1 and "Missedbury" in red_rows[0] and "14:30" in red_rows[0]
    assert "Earlyton" not in html and "Downham" not in html  # results only: one quiet line, no rows
    assert re.search(r"<p class='quiet'>4 races of the last 7 days are known only from their results", html)
    assert re.search(r"<div class='tile bad'><div class='v'>1</div><div class='l'>missed</div>", html)
    assert "<div class='v'>running</div>" in html and "<div class='v'>66.7 %</div>" in html
    assert "<div class='v'>20 s</div>" in html  # the p95 gap
    assert "100.0 % <small>booka</small>" in html and "bookb 2/3" in html


def test_every_section_with_the_fixture_numbers(db_session, tmp_path):
    ledger.update(db_session, date(2015, 3, 1), status="unavailable")
    html = make_report(db_session, tmp_path).read_text()
    for section in ("glance", "missed", "health", "overround", "bookmakers", "backfill", "movers"):
        assert f"id='{section}'" in html
    assert "Fixture Handicap" in html and ">40<" in html  # captures of r1
    assert re.search(r"<td>bet365</td><td class='n'>2</td>", html)  # two prices at bet365
    # 2015: one date, unavailable; columns complete, empty, unavailable, failed, pending, running
    assert ("<tr><td>2015</td><td class='n'>0</td><td class='n'>0</td><td class='n'>1</td>"
            "<td class='n'>0</td><td class='n'>0</td><td class='n'>0</td></tr>") in html
    # h1 steamed: mean first (3.0 + 3.5) / 2 = 3.25 -> mean last (2.25 + 2.75) / 2 = 2.5: -23.1%
    assert "Name h1" in html and "3.25" in html and "2.50" in html and "-23.1%" in html
    # h2 drifted: (6.0 + 5.5) / 2 = 5.75 -> (8.0 + 5.5) / 2 = 6.75: +17.4%
    assert "+17.4%" in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html), "nothing is fetched from the network"
    assert oct(os.stat(tmp_path / "report.html").st_mode & 0o777) == "0o644"


def _chromium():
    """Debian's chromium; installed by the CI script (.ci/run), never from a test."""
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_the_days_non_runners_are_listed_and_left_out_of_the_movers(db_session, tmp_path):
    from darkhorses.models import Withdrawal
    load_fixture(db_session)
    db_session.add(Withdrawal(race_id="r1", horse_id="h2", race_date=OFF.date(), horse_name="Name h2",
                              withdrawn_at=OFF - timedelta(minutes=25), last_price=8.0, last_price_books=2,
                              reason="off_card"))
    html = write_report(db_session, tmp_path, statistics(db_session, NOW), NOW).read_text()
    section = html[html.index("id='withdrawals'"):]
    assert "Name h2" in section and "14:05:00" in section and "8.00" in section and "gone from the card" in section
    movers = html[html.index("id='movers'"):html.index("id='withdrawals'")]
    assert "Name h1" in movers and "Name h2" not in movers  # h2's drift was a withdrawn horse's
    assert "<div class='v'>1</div><div class='l'>non-runners</div>" in html  # and counted at a glance


# Appended to a copy of the page only: the report itself carries no script.
PROBE = ("<script>addEventListener('load',()=>{const p=document.createElement('pre');p.id='probe';"
         "p.textContent=JSON.stringify({scrollWidth:document.documentElement.scrollWidth,"
         "innerWidth:innerWidth});document.body.appendChild(p)})</script>")


def chromium(page, *args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             *args, f"file://{page}"], capture_output=True, text=True, timeout=120)


def test_a_real_browser_shows_it_at_1300_px_without_scrolling_sideways_or_console_errors(db_session, tmp_path):
    seed_day(db_session)
    load_fixture(db_session)
    report = write_report(db_session, tmp_path, statistics(db_session, SEEDED_NOW), SEEDED_NOW)
    screenshot = tmp_path / "report.png"
    shot = chromium(report, "--window-size=1300,2000", f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dump = chromium(probe, "--window-size=1300,2000", "--virtual-time-budget=3000", "--dump-dom")
    measured = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dump.stdout).group(1))
    assert measured["innerWidth"] == 1300
    assert measured["scrollWidth"] <= 1300, measured
    console_errors = [line for result in (shot, dump) for line in result.stderr.splitlines()
                      if "CONSOLE" in line or "Uncaught" in line]
    assert console_errors == []


def test_watched_to_the_off_is_measured_to_the_close_and_todays_lateness_is_shown(db_session, tmp_path):
    """w1 went off 95 s late and closed on its result; w2 on time, closed quiet; u1 is past its
    scheduled off but still open (it has not gone yet)."""
    seed_day(db_session)
    for race_id, last, closed, reason, late in (("w1", at(14, 1, 40), at(14, 1, 50), "result", 95.0),
                                                ("w2", at(15, 2, 0), at(15, 2, 0), "quiet", 0.0)):
        race = db_session.get(LiveRace, race_id)
        race.fetched_at, race.closed_at, race.close_reason, race.off_late_seconds = last, closed, reason, late
    db_session.get(LiveRace, "u1").off_dt = at(15, 58)
    db_session.flush()
    health = statistics(db_session, SEEDED_NOW)["collection_health"]
    gaps = {r["race_id"]: (r["gap_to_off_seconds"], r["outcome"]) for r in health["races"]}
    assert gaps["w1"] == (10.0, "watched") and gaps["w2"] == (0.0, "watched") and gaps["u1"][1] == "upcoming"
    assert health["at_a_glance"]["gap_to_off_p95_seconds"] == 10.0
    assert health["lateness_today"] == {
        "races": 2, "median_seconds": 47.5, "a_minute_or_more_percent": 50.0,
        "latest": [{"race_id": "w1", "course": "Watchford", "off_dt": at(14).isoformat(), "minutes_late": 1.6,
                    "close_reason": "result"},
                   {"race_id": "w2", "course": "Watchford", "off_dt": at(15).isoformat(), "minutes_late": 0.0,
                    "close_reason": "quiet"}]}
    html = write_report(db_session, tmp_path, statistics(db_session, SEEDED_NOW), SEEDED_NOW).read_text()
    assert html.index("id='health'") < html.index("id='lateness'") < html.index("id='overround'")
    assert "2 races: median 48 s late, 50 % a minute or more" in html
    assert "<td>14:00:00</td><td>Watchford</td><td class='n'>1.6</td><td>result</td>" in html
