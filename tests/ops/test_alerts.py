"""Alerts: real problem states on PostgreSQL and Redis, delivered to a local webhook receiver."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from darkhorses.core.settings import SettingsError, get_settings, reset_settings, settings_from_env
from darkhorses.core.store import store_for
from darkhorses.db import session_scope
from darkhorses.historical.ledger import mark as mark_ledger
from darkhorses.live import lease
from darkhorses.models import RunRecord
from darkhorses.ops import alerts
from tests.support import free_port


class Receiver:
    """A webhook endpoint on a free port: keeps every JSON body; answers `status`."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T1/B2/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self):
        return [b["text"] for b in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("ALERT_WEBHOOK_URL", r.url)
    reset_settings()
    yield r
    r.close()


def check_and_notify():
    """As the task runs it: a session and the coordination store of its own."""
    settings = get_settings()
    with session_scope() as session:
        return alerts.check_and_notify(session, settings, store_for(settings))


def hold_the_loop():
    """A live loop is running: its lease is held in Redis, as a poll holds it."""
    assert lease.claim(store_for(get_settings()), None, 0, 120)


def test_a_problem_is_announced_once_and_its_clearing_once(database_url, redis_url, beating, receiver):
    hold_the_loop()
    now = datetime.now(timezone.utc)
    with session_scope() as session:  # statistics fresh: only the failed date is a problem
        session.add(RunRecord(kind="stats", started_at=now - timedelta(minutes=5)))
    mark_ledger(date(2020, 2, 3), status="failed", last_error="BadResponse: truncated")

    first = check_and_notify()
    assert first["raised"] == ["historical-failed"] and first["problems"] == ["historical-failed"]
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["text"] == body["content"], "one message readable by Slack (text) and Discord (content)"
    assert body["text"].startswith("DarkHorses problem: 1 historical date(s) failed (2020-02-03..2020-02-03)")

    assert check_and_notify()["raised"] == []
    assert len(receiver.bodies) == 1, "an unchanged problem is not announced again"

    mark_ledger(date(2020, 2, 3), status="complete")
    cleared = check_and_notify()
    assert cleared["cleared"] == ["historical-failed"] and cleared["problems"] == []
    assert receiver.texts()[1].startswith("DarkHorses resolved: 1 historical date(s) failed")
    check_and_notify()
    assert len(receiver.bodies) == 2


def test_loop_down_stats_stale_and_rejected_credentials(database_url, redis_url, beating, receiver, simulator):
    from darkhorses.tasks.app import app
    app.loader.import_default_modules()
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        session.add(RunRecord(kind="stats", started_at=now - timedelta(minutes=31)))
    simulator._auth = b"someone:else"  # the API now rejects sim/sim
    assert app.tasks["darkhorses.live.poll"].apply().failed()  # the cycle fails, the loop holds its lease
    result = check_and_notify()
    assert sorted(result["raised"]) == ["credentials-rejected", "stats-stale"], result
    assert any("rejected the credentials" in t for t in receiver.texts())

    loop_store = store_for(get_settings())
    loop_store.delete(lease.LEASE_KEY)  # the loop died
    assert check_and_notify()["raised"] == ["loop-not-running"]

    simulator._auth = b"sim:sim"
    assert app.tasks["darkhorses.live.poll"].apply().successful()  # a new loop, credentials work
    from darkhorses.stats.compute import update_statistics
    with session_scope() as session:
        update_statistics(session, get_settings())
    result = check_and_notify()
    assert sorted(result["cleared"]) == ["credentials-rejected", "loop-not-running", "stats-stale"], result
    assert result["problems"] == []
    assert len(receiver.bodies) == 6
    assert sum(t.startswith("DarkHorses resolved:") for t in receiver.texts()) == 3


def test_a_race_that_went_off_uncaptured_while_the_loop_ran(database_url, redis_url, beating, receiver):
    from darkhorses.live.cycle import run_cycle
    from tests.builders import FakeCards, card, quote, runner
    hold_the_loop()
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        session.add(RunRecord(kind="stats", started_at=now))
    prices = [runner("h1", [quote("Bet365", "3.0", "2/1")])]
    early = card("rac_early", (now - timedelta(minutes=50)).isoformat(), prices)  # off before the loop ran
    missed = card("rac_missed", (now - timedelta(minutes=5)).isoformat(), prices)  # absent from the first cards
    watched = card("rac_seen", (now - timedelta(minutes=4)).isoformat(), prices)
    # 20 minutes ago the loop ran and saw rac_seen but not rac_missed; now both are off.
    run_cycle(FakeCards([watched]), now - timedelta(minutes=20))
    run_cycle(FakeCards([early, missed, watched]), now)
    result = check_and_notify()
    if uk_today_changed(now):
        pytest.skip("the UK date changed during the test")
    assert result["raised"] == ["race-uncaptured:rac_missed"], result
    assert "race rac_missed (Kempton" in receiver.texts()[0]


def uk_today_changed(now):
    from darkhorses.core.clock import uk_date
    return uk_date(now - timedelta(minutes=5)) != uk_date(now)


def test_a_failing_webhook_never_fails_the_check_and_is_retried(database_url, redis_url, beating, receiver):
    hold_the_loop()
    mark_ledger(date(2020, 2, 3), status="failed")
    receiver.status = 500
    assert check_and_notify()["raised"] == []
    receiver.status = 204
    assert check_and_notify()["raised"] == ["historical-failed"], "not delivered: tried again"
    assert len(receiver.bodies) == 2


def test_an_unreachable_webhook_is_logged_masked(database_url, redis_url, beating, monkeypatch, caplog):
    hold_the_loop()
    url = f"http://127.0.0.1:{free_port()}/hooks/very-secret-path"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    reset_settings()
    mark_ledger(date(2020, 2, 3), status="failed")
    from darkhorses.tasks.app import app
    app.loader.import_default_modules()
    outcome = app.tasks["darkhorses.ops.alerts"].apply()
    assert outcome.successful()
    assert "alert webhook http://127.0.0.1/*** failed" in caplog.text
    assert "very-secret-path" not in caplog.text


def test_alert_webhook_url_is_validated():
    with pytest.raises(SettingsError, match=r"^ALERT_WEBHOOK_URL: expected http\(s\)://HOST/PATH, got 'ftp://x/\*\*\*'$"):
        settings_from_env({"ALERT_WEBHOOK_URL": "ftp://x/secret"})
    assert settings_from_env({"ALERT_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc"}).alert_webhook_url
    assert "abc" not in repr(settings_from_env({"ALERT_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc"}))


def test_the_beat_entry_expires_within_its_period_on_the_stats_queue():
    import celeryconfig
    entry = celeryconfig.beat_schedule["ops-alerts"]
    assert entry["task"] == "darkhorses.ops.alerts" and entry["options"]["expires"] < entry["schedule"]
    from darkhorses.tasks.app import app
    app.loader.import_default_modules()
    assert app.amqp.router.route({}, "darkhorses.ops.alerts")["queue"].name == "stats"
    assert "darkhorses.ops.alerts" in app.tasks
