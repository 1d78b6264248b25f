"""A hostile or confused upstream, served by a real HTTP server (issue 12): duplicated and
amended days, listings that never end, bodies that stall or are huge. Each is bounded, ends
in our own error type when it cannot be helped, and loses no row once the API behaves."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from darkhorses.core.settings import get_settings, reset_settings
from darkhorses.db import session_scope
from darkhorses.historical.collect import collect_day
from darkhorses.live.cycle import run_cycle
from darkhorses.models import CollectionLedger, OddsHistorical, OddsLive
from darkhorses.racing_api.client import BadResponse, RacingAPIClient, TemporarilyUnavailable
from tests.builders import card, page, quote, result, result_runner, runner
from tests.reliability.conftest import elapsed_since
from tests.support import REPO, service_env

DAY = date(2026, 3, 1)


class Upstream:
    """A real HTTP server whose answers the test sets: `answer(path, query)` returns
    (status, headers, body chunks); the body ends when the connection closes."""

    def __init__(self):
        upstream = self
        self.answer = lambda path, query: (404, {}, [b"{}"])
        self.paths: list[str] = []
        self.bytes_sent = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # close-delimited: no Content-Length to trust

            def do_GET(self):
                parts = urlsplit(self.path)
                upstream.paths.append(parts.path)
                status, headers, chunks = upstream.answer(parts.path, parse_qs(parts.query))
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        upstream.bytes_sent += len(chunk)
                except OSError:  # the client gave up: what a bound is for
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream(monkeypatch):
    server = Upstream()
    for name, value in {"RACING_API_URL": server.url, "RACING_API_USERNAME": "u", "RACING_API_PASSWORD": "p",
                        "RACING_API_TIMEOUT": "1", "RACING_API_MAX_ATTEMPTS": "2"}.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield server
    server.close()


def _client():
    return RacingAPIClient(get_settings(), backoff=0.05)


def _json(payload, status=200, headers=None):
    return status, headers or {}, [json.dumps(payload).encode()]


def _paged(items: list, key: str, limit: int, query: dict, total: int | None = None):
    skip = int(query.get("skip", ["0"])[0])
    return _json(page(key, items[skip:skip + limit], len(items) if total is None else total, skip, limit))


def _stored_day() -> dict:
    with session_scope() as session:
        rows = session.execute(select(OddsHistorical.race_id, OddsHistorical.horse_id, OddsHistorical.industry_sp,
                                      OddsHistorical.finishing_position).where(
            OddsHistorical.date_of_race == datetime(2026, 3, 1, tzinfo=timezone.utc))).all()
        ledger = session.get(CollectionLedger, DAY)
    return {"rows": {(r.race_id, r.horse_id): (r.industry_sp, r.finishing_position) for r in rows},
            "ledger": (ledger.status, ledger.races, ledger.runners) if ledger else None}


def _expected(results: list) -> dict:
    """(race_id, horse_id) -> (SP, position) as worked from the answer: the last of each repeat."""
    expected = {}
    for race in results:
        for r in race["runners"]:
            expected[(race["race_id"], r["horse_id"])] = (float(r["sp_dec"]), r["position"])
    return expected


def _day(races: int, runners: int, sp="6.0"):
    return [result(f"rac_{n}", [result_runner(f"h{n}_{i}", str(i), "5/1", sp) for i in range(1, runners + 1)],
                   off_dt=f"2026-03-01T{12 + n // 4:02d}:{(n % 4) * 15:02d}:00+00:00") for n in range(races)]


def test_races_and_runners_repeated_across_pages_are_stored_once(database_url, upstream, fault_log):
    day = _day(25, 10)  # 250 rows: the COPY-and-merge path
    moved = json.loads(json.dumps(day[5]))
    moved["runners"][0]["sp_dec"] = "7.5"  # the race seen again on the next page, its SP corrected
    moved["runners"].append(dict(moved["runners"][1], sp_dec="8.0"))  # and a runner listed twice
    answer = day[:10] + [day[10]] + day[10:] + [moved]  # rac_10 straddles two pages, rac_5 comes back
    upstream.answer = lambda path, query: _paged(answer, "results", 100, query)
    summary = collect_day(DAY, _client())
    stored = _stored_day()
    expected = _expected(answer)
    assert (summary["duplicate_races"], summary["duplicate_runners"]) == (2, 1)
    assert stored["rows"] == expected and len(expected) == 250
    assert stored["ledger"] == ("complete", 25, 250)
    lost = len(set(expected) - set(stored["rows"]))

    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    cards = [card(f"rac_l{n}", "2026-11-28T13:00:00+00:00",
                  [runner(f"h{i}", [quote(b, "3.0", "2/1") for b in ("Bet365", "Coral", "Betfred")])
                   for i in range(1, 21)]) for n in range(5)]  # 300 rows
    cards_answer = cards[:3] + cards[2:]  # one race on both pages
    upstream.answer = lambda path, query: (_paged(cards_answer, "racecards", 3, query, total=5)
                                           if query["date"] == ["2026-11-28"] else _paged([], "racecards", 3, query))
    cycle = run_cycle(_client(), now)
    with session_scope() as session:
        live_rows = session.execute(select(OddsLive.race_id)).scalars().all()
    assert (cycle.races, cycle.duplicates, len(live_rows)) == (5, 1, 300)
    fault_log("duplicates: races and runners repeated across pages", True, lost + 300 - len(live_rows),
              "250 result rows and 300 live rows, each written once, the last copy kept")


def test_an_amended_day_is_replaced_by_the_latest_answer(database_url, upstream, fault_log):
    original = _day(4, 6)
    upstream.answer = lambda path, query: _paged(original, "results", 100, query)
    collect_day(DAY, _client())
    assert len(_stored_day()["rows"]) == 24
    amended = json.loads(json.dumps(original[:3]))  # rac_3 voided and gone
    amended[0]["runners"] = amended[0]["runners"][1:]  # the winner disqualified and removed
    for position, r in enumerate(amended[0]["runners"], start=1):
        r["position"] = str(position)
    upstream.answer = lambda path, query: _paged(amended, "results", 100, query)
    summary = collect_day(DAY, _client())
    stored = _stored_day()
    expected = _expected(amended)
    assert summary["removed"] == 7 and stored["rows"] == expected and stored["ledger"] == ("complete", 3, 17)
    winners = [key for key, (_, position) in stored["rows"].items() if key[0] == "rac_0" and position == "1"]
    assert winners == [("rac_0", "h0_2")]
    fault_log("amendments: a winner removed, a race voided", True, len(set(expected) - set(stored["rows"])),
              f"{summary['removed']} stale rows removed in the same transaction")


def test_endless_listings_are_bounded_by_the_first_total_and_a_ceiling(database_url, upstream, fault_log):
    calls = {"n": 0}

    def growing(path, query):  # every page claims 100 more results than the last
        calls["n"] += 1
        skip = int(query["skip"][0])
        if calls["n"] > 20:  # an unbounded client would page forever: end it so the test fails, not hangs
            return _json({"results": [], "total": 250 + skip, "skip": skip, "limit": 100})
        races = _day(100, 1)
        for n, race in enumerate(races):
            race["race_id"] = f"rac_{skip + n}"
        return _json({"results": races, "total": 250 + skip, "skip": skip, "limit": 100})
    upstream.answer = growing
    started = time.monotonic()
    client = _client()
    assert len(client.results(DAY, ("gb",))) == 300 and calls["n"] == 3
    upstream.answer = lambda path, query: _json({"results": [], "total": 10 ** 9, "skip": 0, "limit": 100})
    with pytest.raises(BadResponse, match="RACING_API_MAX_PAGES"):
        collect_day(DAY, client)
    assert _stored_day()["ledger"][0] == "failed"  # settled neither way: collected again later
    healthy = _day(3, 5)
    upstream.answer = lambda path, query: _paged(healthy, "results", 100, query)
    collect_day(DAY, client)
    stored = _stored_day()
    assert stored["ledger"] == ("complete", 3, 15)
    fault_log("endless upstream: total grows each page, total 1e9", True,
              len(set(_expected(healthy)) - set(stored["rows"])),
              f"{len(upstream.paths)} requests in {elapsed_since(started)}s, then the day collected")


def test_a_stalling_upstream_is_cut_at_the_request_deadline(database_url, upstream, monkeypatch, fault_log):
    monkeypatch.setenv("RACING_API_REQUEST_DEADLINE", "2")
    reset_settings()
    healthy = _day(2, 5)
    body = b'{"results": [], "total": 0}' + b" " * 200  # fine JSON, 45 s at the trickle's pace

    def trickle(path, query):  # a byte every 0.2 s: each read is quick, the answer is not
        def chunks():
            for i in range(len(body)):
                time.sleep(0.2)
                yield body[i:i + 1]
        return 200, {}, chunks()
    upstream.answer = trickle
    outcome = {}

    def collect():
        try:
            collect_day(DAY, _client())
        except Exception as exc:
            outcome["error"] = exc
    started = time.monotonic()
    worker = threading.Thread(target=collect, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "still reading the trickle after 20 s: no whole-request deadline"
    assert isinstance(outcome.get("error"), BadResponse) and "RACING_API_REQUEST_DEADLINE=2s" in str(outcome["error"])
    took = time.monotonic() - started
    assert took < 8, took  # two attempts of about 2 s each, and a short backoff
    assert _stored_day()["ledger"][0] == "failed"
    upstream.answer = lambda path, query: _paged(healthy, "results", 100, query)
    collect_day(DAY, _client())
    stored = _stored_day()
    assert stored["rows"] == _expected(healthy)
    fault_log("stalling upstream: a body trickled a byte at a time", True,
              len(set(_expected(healthy)) - set(stored["rows"])), f"cut after {took:.1f}s, then collected")


def test_hostile_sizes_and_shapes_end_in_our_own_errors(database_url, upstream, fault_log):
    started = time.monotonic()
    shapes = {
        "200k-deep JSON": lambda path, query: (200, {}, [b"[" * 200_000]),
        "Retry-After: 100000": lambda path, query: _json({"detail": "later"}, 429, {"Retry-After": "100000"}),
        "Retry-After: soon": lambda path, query: _json({"detail": "later"}, 503, {"Retry-After": "soon"}),
        "Retry-After: inf": lambda path, query: _json({"detail": "later"}, 503, {"Retry-After": "inf"}),
        "a page of 5000 items for a limit of 100": lambda path, query: _json(
            {"results": [{}] * 5000, "total": 5000}),
    }
    from darkhorses.tasks.historical import TRANSIENT
    for name, answer in shapes.items():
        upstream.answer = answer
        with pytest.raises((BadResponse, TemporarilyUnavailable)) as error:
            collect_day(DAY, _client())
        assert isinstance(error.value, TRANSIENT), name  # the task retries it later: never failed for good
        assert _stored_day()["ledger"][0] == "failed", name
    assert time.monotonic() - started < 20
    healthy = _day(2, 4)
    upstream.answer = lambda path, query: _paged(healthy, "results", 100, query)
    collect_day(DAY, _client())
    stored = _stored_day()
    fault_log("hostile shapes: deep JSON, huge/junk Retry-After, oversized page", True,
              len(set(_expected(healthy)) - set(stored["rows"])), f"{len(shapes)} shapes, each our own error")


CHILD = """
import resource, sys
from datetime import datetime, timezone
from darkhorses.live.cycle import run_cycle
from darkhorses.racing_api.client import RacingAPIClient, RacingAPIError
try:
    run_cycle(RacingAPIClient(), now=datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc))
    print("no error")
except RacingAPIError as exc:
    print("error:", exc)
# VmHWM: this process image's peak resident size. ru_maxrss survives exec, so a child of a
# large pytest process would report its parent's size instead.
try:
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("maxrss_kb", peak)
"""


def test_a_live_cycle_fed_a_50_mb_body_stays_under_300_mb(database_url, upstream, fault_log):
    size = 50 * 1024 * 1024
    item = b'{"a":1},'

    def huge(path, query):  # valid JSON of tiny items: parsed whole it would take gigabytes
        def chunks():
            yield b'{"racecards": ['
            block = item * (1024 * 1024 // len(item))
            for _ in range(size // len(block)):
                yield block
            yield b'{}], "total": 1}'
        return 200, {}, chunks()
    upstream.answer = huge
    started = time.monotonic()
    child = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=180,
                           env=service_env(DATABASE_URL=database_url, RACING_API_URL=upstream.url,
                                           RACING_API_USERNAME="u", RACING_API_PASSWORD="p",
                                           RACING_API_MAX_ATTEMPTS="1", LOG_LEVEL="WARNING"))
    assert child.returncode == 0, child.stderr[-2000:]
    lines = child.stdout.strip().splitlines()
    peak_mb = int(lines[-1].split()[1]) / 1024
    assert lines[0].startswith("error: /v1/racecards/pro:") and "RACING_API_MAX_RESPONSE_BYTES" in lines[0]
    assert peak_mb < 300, peak_mb
    assert upstream.bytes_sent < size  # refused as it arrived, not after reading it all
    fault_log("hostile size: a 50 MB racecards body", True, 0,
              f"refused at the size cap; child peak {peak_mb:.0f} MB in {elapsed_since(started)}s")
