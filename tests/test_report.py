"""report.html: every section with the fixture's numbers, nothing fetched, renders in Chromium."""
import os
import re
import shutil
import subprocess
import tempfile
from datetime import timedelta

import pytest

from darkhorses.report import write_report
from darkhorses.stats import compute_statistics
from tests.test_charts import OFF, load_fixture

NOW = OFF - timedelta(minutes=1)


def make_report(tmp_path):
    load_fixture()
    return write_report(tmp_path, compute_statistics(NOW), NOW)


def test_every_section_with_the_fixture_numbers(database_url, tmp_path):
    from darkhorses.historical import mark_ledger
    from datetime import date
    mark_ledger(date(2015, 3, 1), status="unavailable")
    html = make_report(tmp_path).read_text()
    for section in ("health", "bookmakers", "backfill", "movers"):
        assert f"id='{section}'" in html
    assert "Fixture Handicap" in html and ">40<" in html  # captures of r1
    assert re.search(r"<td>bet365</td><td class='n'>2</td>", html)  # two prices at bet365
    assert "<td>2015</td>" in html and "<td class='n'>1</td>" in html
    # h1 steamed: mean first (3.0 + 3.5) / 2 = 3.25 -> mean last (2.25 + 2.75) / 2 = 2.5: -23.1%
    assert "Name h1" in html and "3.25" in html and "2.50" in html and "-23.1%" in html
    # h2 drifted: (6.0 + 5.5) / 2 = 5.75 -> (8.0 + 5.5) / 2 = 6.75: +17.4%
    assert "+17.4%" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html), "nothing is fetched from the network"
    assert oct(os.stat(tmp_path / "report.html").st_mode & 0o777) == "0o644"


def _chromium():
    # Tests never install system packages: .ci/run installs Debian's chromium.
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_the_days_non_runners_are_listed_and_left_out_of_the_movers(database_url, tmp_path):
    from darkhorses.db import session_scope
    from darkhorses.models import Withdrawal
    load_fixture()
    with session_scope() as session:
        session.add(Withdrawal(race_id="r1", horse_id="h2", race_date=OFF.date(), horse_name="Name h2",
                               withdrawn_at=OFF - timedelta(minutes=25), last_price=8.0, last_price_books=2,
                               reason="off_card"))
    html = write_report(tmp_path, compute_statistics(NOW), NOW).read_text()
    section = html[html.index("id='withdrawals'"):]
    assert "Name h2" in section and "14:05:00" in section and "8.00" in section and "gone from the card" in section
    movers = html[html.index("id='movers'"):html.index("id='withdrawals'")]
    assert "Name h1" in movers and "Name h2" not in movers  # h2's drift was a withdrawn horse's


def test_a_real_browser_renders_it_without_console_errors(database_url, tmp_path):
    report = make_report(tmp_path)
    chromium = _chromium()
    screenshot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--window-size=1200,1400",
             f"--screenshot={screenshot}", f"file://{report}"], capture_output=True, text=True, timeout=120)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console_errors == []
