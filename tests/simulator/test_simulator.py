"""The simulator must be indistinguishable from The Racing API for a client.

Every response is validated against the vendor's own OpenAPI schemas (a copy of spec v1.4.3
in tests/fixtures), in-process and over HTTP, for several seeds and for past, today's,
future, BST and GMT dates. Time is a controllable clock, so nothing sleeps.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator

from darkhorses.racing_api.bookmakers import BOOKMAKERS
from darkhorses.simulator import UNLISTED, ApiError, Faults, Simulator, serve
from darkhorses.simulator.offs import off_plan
from tests.support import Clock

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "fixtures" / "racing-api-openapi.yml"
UK = ZoneInfo("Europe/London")
ANCHOR = datetime(2026, 11, 28, 14, 7, 23, tzinfo=timezone.utc)   # a GMT Saturday afternoon
TODAY = ANCHOR.astimezone(UK).date()
GMT_DAY, BST_DAY = date(2024, 1, 20), date(2025, 7, 15)
AUTH = ("sim", "sim")


@pytest.fixture(scope="module")
def schemas():
    spec = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {name: Draft202012Validator({"components": spec["components"], "$ref": f"#/components/schemas/{name}"})
            for name in ("RacecardsOddsProPage", "ResultsStandardPage", "RaceRunnerOdds", "HTTPValidationError",
                         "ResultsBasicPage", "RacecardOddsPro")}


def assert_valid(schemas, name, document):
    errors = sorted(schemas[name].iter_errors(document), key=lambda e: str(list(e.absolute_path)))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def make_sim(seed=1, **kw) -> Simulator:
    kw.setdefault("clock", Clock(ANCHOR))
    return Simulator(seed, **kw)


@pytest.fixture(scope="module")
def sim():
    """Seed 1 at ANCHOR, shared by the tests that only read (its caches make them fast)."""
    return make_sim()


@pytest.fixture
def http():
    servers = []

    def start(sim):
        server, url = serve(sim)
        servers.append(server)
        return url
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def prices(card):
    return {(r["horse_id"], q["bookmaker"]): (q["decimal"], q["fractional"], q["updated"], q["history"])
            for r in card["runners"] for q in r["odds"]}


# ------------------------------------------------------------------ schema conformance
@pytest.mark.parametrize("seed, day", [(1, GMT_DAY), (1, BST_DAY), (1, TODAY - timedelta(days=1)), (1, TODAY),
                                       (1, TODAY + timedelta(days=3)), (20261128, BST_DAY), (20261128, TODAY)])
def test_documents_match_the_spec(schemas, seed, day):
    sim = make_sim(seed)
    cards = sim.racecards_pro(day, ["gb", "ire"], limit=2, skip=0)
    assert_valid(schemas, "RacecardsOddsProPage", cards)
    assert cards["total"] >= 30 and len(cards["racecards"]) == 2
    race = cards["racecards"][0]
    odds = sim.runner_odds(race["race_id"], race["runners"][0]["horse_id"])
    assert_valid(schemas, "RaceRunnerOdds", odds)
    if day < TODAY:
        results = sim.results(day, day, None, limit=4, skip=0)
        assert_valid(schemas, "ResultsStandardPage", results)
        assert len(results["results"]) == 4


def test_a_full_card_and_a_full_day_of_results_match_the_spec(schemas):
    sim = make_sim(3)
    assert_valid(schemas, "RacecardsOddsProPage", sim.racecards_pro(TODAY, ["IRE"], 8, 0))
    yesterday = TODAY - timedelta(days=1)
    assert_valid(schemas, "ResultsStandardPage", sim.results(yesterday, yesterday, None, 100, 0))


def test_http_responses_match_the_spec(schemas, http):
    sim = make_sim(5, rate_limits={"racecards": 50, "results": 50, "odds": 50})
    base = http(sim)
    r = requests.get(f"{base}/v1/racecards/pro", params={"date": TODAY.isoformat(), "region_codes": ["gb", "ire"],
                                                         "limit": 2}, auth=AUTH, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    cards = r.json()
    assert_valid(schemas, "RacecardsOddsProPage", cards)
    assert cards["query"] == [["date", TODAY.isoformat()], ["region_codes", "gb"], ["region_codes", "ire"],
                              ["limit", "2"]]
    assert cards == sim.racecards_pro(TODAY, ["gb", "ire"], 2, 0, query=cards["query"])
    race, runner = cards["racecards"][0]["race_id"], cards["racecards"][0]["runners"][0]["horse_id"]
    r = requests.get(f"{base}/v1/odds/{race}/{runner}", auth=AUTH, timeout=10)
    assert r.status_code == 200
    assert_valid(schemas, "RaceRunnerOdds", r.json())
    r = requests.get(f"{base}/v1/results", params={"start_date": "2025-07-15", "end_date": "2025-07-15",
                                                   "region": ["gb", "ire"], "limit": 100}, auth=AUTH, timeout=10)
    assert r.status_code == 200
    assert_valid(schemas, "ResultsStandardPage", r.json())
    assert r.json()["total"] == len(r.json()["results"]) > 30
    assert requests.get(f"{base}/v1/courses", auth=AUTH, timeout=10).json()["total"] > 20


# ------------------------------------------------------------------ determinism and times
def test_same_seed_same_data_and_other_seeds_differ(sim):
    a = sim.racecards_pro(BST_DAY, None, 500, 0)
    b = make_sim(1).racecards_pro(BST_DAY, None, 500, 0)
    c = make_sim(2).racecards_pro(BST_DAY, ["ire"], 500, 0)
    assert json.dumps(a) == json.dumps(b)
    ids = lambda page: {rc["race_id"] for rc in page["racecards"]}
    horses = lambda page: {r["horse"] for rc in page["racecards"] for r in rc["runners"]}
    assert not ids(a) & ids(c) and len(horses(a) & horses(c)) < len(horses(a)) / 2


def test_off_times_are_uk_times_on_a_12_hour_clock(sim):
    for day, offset in ((GMT_DAY, "+00:00"), (BST_DAY, "+01:00")):
        cards = sim.racecards_pro(day, None, 500, 0)["racecards"]
        assert 30 <= len(cards) <= 64
        for card in cards:
            off = datetime.fromisoformat(card["off_dt"])
            assert card["off_dt"].endswith(offset) and card["date"] == off.date().isoformat() == day.isoformat()
            assert card["off_time"] == f"{off.hour % 12 or 12}:{off.minute:02d}"
            assert "12:00" <= off.strftime("%H:%M") <= "20:30"
            assert card["region"] in ("GB", "IRE") and 5 <= len(card["runners"]) <= 16
        assert {c["type"] for c in cards} <= {"Flat", "Hurdle", "Chase", "NH Flat"}
        assert any("Handicap" in c["race_name"] for c in cards)


@pytest.mark.parametrize("anchor", [ANCHOR, datetime(2026, 10, 25, 0, 14, 17, tzinfo=timezone.utc),  # in the
                                    datetime(2026, 7, 1, 21, 49, 17, tzinfo=timezone.utc)])   # repeated hour; 22:49 BST
def test_todays_card_is_laid_out_around_the_anchor(sim, anchor):
    sim = sim if anchor == ANCHOR else make_sim(clock=Clock(anchor))
    today = anchor.astimezone(UK).date()
    offs = [datetime.fromisoformat(c["off_dt"]) for c in sim.racecards_pro(today, None, 500, 0)["racecards"]]
    assert offs == sorted(offs) and all(o.astimezone(UK).date() == today for o in offs)
    gone = [o for o in offs if o <= anchor]
    ahead = [o for o in offs if o > anchor]
    assert gone and min(gone) >= anchor - timedelta(hours=3, minutes=1)
    assert timedelta(minutes=3) <= ahead[0] - anchor <= timedelta(minutes=6)
    assert len(ahead) > len(gone) or anchor.astimezone(UK).hour >= 21


def test_prices_move_between_ticks_and_history_links_them():
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    soon = [r for r in sim.races_for(TODAY) if ANCHOR < r.off < ANCHOR + timedelta(hours=2)]
    page = lambda: {c["race_id"]: prices(c) for c in sim.racecards_pro(TODAY, None, 500, 0)["racecards"]}
    before = page()
    clock.advance(40)
    after = page()
    changed = total = 0
    for race in soon:
        for key, (dec, frac, updated, history) in after[race.race_id].items():
            old = before[race.race_id][key]
            total += 1
            assert updated <= clock.now.astimezone(UK).strftime("%Y-%m-%d %H:%M:%S")
            if key[1] == UNLISTED:  # its feed never re-stamps a move, nor keeps history
                assert updated == old[2] and history == []
            elif (dec, frac) != old[:2]:
                changed += 1
                assert updated > old[2] and (history[0]["decimal"], history[0]["fractional"]) == old[:2]
            else:
                assert updated == old[2]
    assert 0.03 * total < changed < 0.5 * total


def test_prices_move_until_the_real_off_then_freeze():
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    races = sim.races_for(TODAY)    # in the order the racecards endpoint serves them
    race = min((r for r in races if r.off > ANCHOR and r.real_off_ts - r.off_ts >= 180 and not r.is_abandoned),
               key=lambda r: r.off)
    card = lambda: sim.racecards_pro(TODAY, None, 1, races.index(race))["racecards"][0]
    assert card()["race_id"] == race.race_id
    clock.now = race.off.astimezone(timezone.utc)
    at_scheduled_off = prices(card())
    real_off = datetime.fromtimestamp(race.real_off_ts, timezone.utc)
    clock.now = real_off + timedelta(seconds=5)
    at_real_off = prices(card())
    assert at_real_off != at_scheduled_off    # bookmakers kept trading past the scheduled time
    assert max(u for _, _, u, _ in at_real_off.values()) > race.off.strftime("%Y-%m-%d %H:%M:%S")
    clock.advance(3600)
    assert prices(card()) == at_real_off
    assert max(u for _, _, u, _ in at_real_off.values()) < real_off.astimezone(UK).strftime("%Y-%m-%d %H:%M:%S")


def test_price_strings_and_quirks(sim):
    quotes = [q for c in sim.racecards_pro(TODAY, None, 500, 0)["racecards"] for r in c["runners"] for q in r["odds"]]
    decimals = Counter(q["decimal"] for q in quotes)
    assert decimals["-"] and decimals[""] and {q["fractional"] for q in quotes if q["decimal"] == "2.0"} == {"evens"}
    for q in quotes:
        if q["decimal"] not in ("-", "", "SP"):
            assert float(q["decimal"]) > 1 and (q["fractional"] == "evens" or "/" in q["fractional"])
        datetime.strptime(q["updated"], "%Y-%m-%d %H:%M:%S")
        for h in q["history"]:
            assert set(h) == {"changed_at", "fractional", "decimal"}
            assert datetime.fromisoformat(h["changed_at"]).utcoffset() is not None
    assert {q["bookmaker"] for q in quotes} == {b.name for b in BOOKMAKERS} | {UNLISTED}
    far = sim.racecards_pro(TODAY + timedelta(days=7), None, 500, 0)["racecards"]
    assert {q["decimal"] for c in far for r in c["runners"] for q in r["odds"]} == {"SP"}
    nr = [r for r in sim.races_for(TODAY) for r in r.runners if r.nr_at and r.nr_at < ANCHOR]
    assert nr, "expected a non-runner already declared today"
    nr_quotes = [q for c in sim.racecards_pro(TODAY, None, 500, 0)["racecards"] for r in c["runners"]
                 if r["horse_id"] == nr[0].horse_id for q in r["odds"]]
    assert {(q["decimal"], q["fractional"]) for q in nr_quotes} == {("-", "-")}


@pytest.mark.parametrize("seed, day", [(1, BST_DAY), (7, TODAY)])
def test_books_have_realistic_overrounds(seed, day):
    """Each bookmaker's win book on a race sums to 102-140 % (fixed odds), near 100 % on an
    exchange, also once a non-runner has gone (the books reframe)."""
    sim = make_sim(seed)
    books = {b.name: b.type for b in BOOKMAKERS}
    sums: dict[str, list[float]] = {"fixed": [], "exchange": []}
    for card in sim.racecards_pro(day, None, 500, 0)["racecards"]:
        running = [r for r in card["runners"] if any(q["decimal"] not in ("-", "") for q in r["odds"])]
        by_book: dict[str, list] = {}
        for runner in running:
            for q in runner["odds"]:
                if q["bookmaker"] != UNLISTED:  # a copy of BetUK's line
                    by_book.setdefault(q["bookmaker"], []).append(q["decimal"])
        for book, decs in by_book.items():
            if len(decs) == len(running) and all(d not in ("-", "", "SP") for d in decs):
                sums[books[book]].append(sum(1 / float(d) for d in decs))
    fixed, exchange = sorted(sums["fixed"]), sorted(sums["exchange"])
    assert len(fixed) > 300 and len(exchange) > 50
    assert 1.10 < fixed[len(fixed) // 2] < 1.25 and 1.0 < fixed[0] and fixed[-1] < 1.45
    assert sum(1.02 <= x <= 1.40 for x in fixed) >= 0.99 * len(fixed)
    assert 0.99 < exchange[len(exchange) // 2] < 1.03 and 0.96 < exchange[0] and exchange[-1] < 1.06


def test_runner_odds_history_is_newest_first_and_starts_2025_03_17(sim):
    race = next(r for r in sim.races_for(TODAY) if r.off > ANCHOR + timedelta(hours=1))
    runner = next(r for r in race.runners if r.nr_at is None)
    odds = sim.runner_odds(race.race_id, runner.horse_id)
    assert odds["horse"] == runner.horse
    for q in (q for q in odds["odds"] if q["bookmaker"] != UNLISTED):
        times = [datetime.fromisoformat(h["changed_at"]) for h in q["history"]]
        assert len(times) > 5 and times == sorted(times, reverse=True)
        assert times[0].astimezone(UK).strftime("%Y-%m-%d %H:%M:%S") < q["updated"]
    old = sim.races_for(date(2025, 3, 16))[0]
    assert all(q["history"] == [] for q in sim.runner_odds(old.race_id, old.runners[0].horse_id)["odds"])
    with pytest.raises(ApiError) as err:
        sim.runner_odds(race.race_id, "hrs_1")
    assert err.value.status == 404


# ------------------------------------------------------------------ results
def test_results_agree_with_the_cards(sim):
    for day in (BST_DAY, TODAY - timedelta(days=1)):
        cards = {c["race_id"]: c for c in sim.racecards_pro(day, None, 500, 0)["racecards"]}
        results = sim.results(day, day, None, 100, 0)["results"]
        assert {r["race_id"] for r in results} == {i for i, c in cards.items() if not c["is_abandoned"]}
        for result in results:
            card = cards[result["race_id"]]
            assert (result["off"], result["off_dt"]) == (card["off_time"], card["off_dt"])
            declared = {r["horse_id"] for r in card["runners"]}
            ran = [r["horse_id"] for r in result["runners"]]
            assert len(set(ran)) == len(ran) and set(ran) <= declared
            missing = [r["horse"] for r in card["runners"] if r["horse_id"] not in ran]
            assert all(name in result["non_runners"] for name in missing)
            positions = [r["position"] for r in result["runners"]]
            assert positions[0] == "1"
            numeric = [int(p) for p in positions if p.isdigit()]
            assert numeric == sorted(numeric) and len(numeric) - len(set(numeric)) <= 1
            assert all(p.isdigit() or p in ("PU", "F", "UR", "DSQ") for p in positions)
            favs = [r for r in result["runners"] if r["sp"].endswith("F")]
            assert favs and {float(r["sp_dec"]) for r in favs} == {min(float(r["sp_dec"]) for r in result["runners"])}


def test_dead_heats_abandonments_and_fallers_occur(sim):
    dead_heats = abandoned = fallers = 0
    for n in range(1, 9):
        day = TODAY - timedelta(days=n)
        results = {r["race_id"]: r for r in sim.results(day, day, None, 100, 0)["results"]}
        abandoned += sum(r.is_abandoned and r.race_id not in results for r in sim.races_for(day))
        for result in results.values():
            positions = [r["position"] for r in result["runners"]]
            dead_heats += any(positions.count(p) == 2 for p in positions if p.isdigit())
            fallers += any(p in ("PU", "F", "UR") for p in positions)
    assert dead_heats and abandoned and fallers


def test_todays_results_only_cover_finished_races():
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    first = sim.results(TODAY, TODAY, None, 100, 0)
    assert first["total"] == len(first["results"]) > 0
    published = {r.race_id: r.result_ts for r in sim.races_for(TODAY)}
    assert all(published[r["race_id"]] <= ANCHOR.timestamp() for r in first["results"])
    clock.advance(2 * 3600)
    assert sim.results(TODAY, TODAY, None, 100, 0)["total"] > first["total"]
    tomorrow = TODAY + timedelta(days=1)
    assert sim.results(tomorrow, tomorrow, None, 100, 0)["total"] == 0


# ------------------------------------------------------------------ the off as it happens
def test_lateness_follows_the_field():
    """About 57 % of races a minute or more late (the Racing Post's 2023 figure is 56.8 %), most
    of those 1-5 minutes, a few over 10; a few re-timed beforehand, now and then one abandoned."""
    sim = make_sim(11)
    ids = [race_id for n in range(60) for *_, race_id, _ in sim._skeleton(BST_DAY - timedelta(days=n))]
    plans = [off_plan(11, race_id) for race_id in ids]
    late = [p.late_seconds for p in plans]
    assert len(ids) > 2000 and min(late) >= 0 and max(late) <= 1200
    a_minute = [s for s in late if s >= 60]
    assert 0.53 < len(a_minute) / len(late) < 0.61
    assert sum(s <= 300 for s in a_minute) > 0.8 * len(a_minute)
    assert 0.01 < sum(s > 600 for s in late) / len(late) < 0.06
    assert 0.02 < sum(p.retime_minutes > 0 for p in plans) / len(plans) < 0.07
    assert 0.005 < sum(p.abandoned for p in plans) / len(plans) < 0.04
    assert plans == [off_plan(11, race_id) for race_id in ids]   # seeded: the same again
    for race in sim.races_for(BST_DAY):   # the races served follow their plans
        plan = off_plan(11, race.race_id)
        assert race.real_off_ts - race.off_ts == plan.late_seconds and race.is_abandoned == plan.abandoned
        assert (race.first_off is not None) == (plan.retime_minutes > 0)
        if race.first_off is not None:
            assert race.first_off < race.off and race.retimed_at_ts < race.first_off.timestamp()
        assert race.result_ts > race.real_off_ts


def test_a_retimed_race_and_one_abandoned_on_the_day_change_their_cards():
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    days = [TODAY + timedelta(days=n) for n in range(1, 7)]
    retimed = next(r for d in days for r in sim.races_for(d) if r.first_off is not None)
    abandoned = next(r for d in days for r in sim.races_for(d) if r.is_abandoned)

    def card(race):
        return sim.racecards_pro(race.date, None, 1, sim.races_for(race.date).index(race))["racecards"][0]
    clock.now = datetime.fromtimestamp(retimed.retimed_at_ts - 60, timezone.utc)
    assert datetime.fromisoformat(card(retimed)["off_dt"]) == retimed.first_off
    clock.advance(120)
    assert datetime.fromisoformat(card(retimed)["off_dt"]) == retimed.off
    assert card(retimed)["off_time"] == f"{retimed.off.hour % 12 or 12}:{retimed.off.minute:02d}"
    clock.now = datetime.fromtimestamp(abandoned.abandoned_at_ts - 60, timezone.utc)
    assert card(abandoned)["is_abandoned"] is False
    clock.advance(120)
    assert card(abandoned)["is_abandoned"] is True


def test_results_today_appear_minutes_after_the_real_off(schemas, http):
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    race = min((r for r in sim.races_for(TODAY) if r.off > ANCHOR and not r.is_abandoned
                and r.real_off_ts - r.off_ts >= 120), key=lambda r: r.off)
    ids = lambda: {r["race_id"] for r in sim.results_today(None, 100, 0)["results"]}
    clock.now = datetime.fromtimestamp(race.real_off_ts, timezone.utc)
    assert race.race_id not in ids()
    clock.advance(2 * 60)
    assert race.race_id not in ids()    # a race takes a while to run and to publish
    clock.now = datetime.fromtimestamp(race.real_off_ts + 9 * 60, timezone.utc)
    assert race.race_id in ids()
    base = http(sim)
    r = requests.get(f"{base}/v1/results/today", params={"region": ["gb", "ire"], "limit": 100}, auth=AUTH,
                     timeout=10)
    assert r.status_code == 200
    page = r.json()
    assert_valid(schemas, "ResultsBasicPage", page)
    assert race.race_id in {x["race_id"] for x in page["results"]} and page["total"] == len(page["results"])
    assert all("bsp" not in runner for x in page["results"] for runner in x["runners"])
    assert requests.get(f"{base}/_sim/requests", timeout=10).json()[-1][1:] == ["results_today", 200]


def test_one_race_card_keeps_each_bookmakers_history_after_the_race(schemas, http):
    clock = Clock(ANCHOR)
    sim = make_sim(clock=clock)
    race = min((r for r in sim.races_for(TODAY) if r.off > ANCHOR and not r.is_abandoned), key=lambda r: r.off)
    clock.now = datetime.fromtimestamp(race.real_off_ts + 1800, timezone.utc)
    base = http(sim)
    r = requests.get(f"{base}/v1/racecards/{race.race_id}/pro", auth=AUTH, timeout=10)
    assert r.status_code == 200
    card = r.json()
    assert_valid(schemas, "RacecardOddsPro", card)
    quotes = [q for runner in card["runners"] for q in runner["odds"] if q["bookmaker"] != UNLISTED
              and q["decimal"] not in ("-", "")]
    assert quotes and all(len(q["history"]) > 3 for q in quotes)
    frozen_at = datetime.fromtimestamp(race.real_off_ts, UK).strftime("%Y-%m-%d %H:%M:%S")
    assert max(q["updated"] for q in quotes) < frozen_at
    assert requests.get(f"{base}/v1/racecards/rac_1/pro", auth=AUTH, timeout=10).status_code == 404
    assert requests.get(f"{base}/_sim/requests", timeout=10).json()[-1][1:] == ["racecard", 404]


def test_results_outside_the_plan_are_refused(http):
    sim = make_sim(results_history_days=365)
    old = TODAY - timedelta(days=400)
    with pytest.raises(ApiError) as err:
        sim.results(old, old, None, 50, 0)
    assert err.value.status == 422 and "plan" in err.value.payload["detail"]
    assert sim.results(TODAY - timedelta(days=300), TODAY - timedelta(days=300), None, 50, 0)["total"] > 0
    r = requests.get(f"{http(sim)}/v1/results", params={"start_date": old, "end_date": old}, auth=AUTH, timeout=10)
    assert r.status_code == 422 and "plan" in r.json()["detail"]
    unlimited = make_sim()
    assert unlimited.results(date(1990, 5, 5), date(1990, 5, 5), None, 50, 0)["total"] > 0


# ------------------------------------------------------------------ HTTP behaviour
def test_every_v1_path_needs_basic_auth(http):
    base = http(make_sim())
    for auth in (None, ("sim", "wrong"), ("someone", "sim")):
        r = requests.get(f"{base}/v1/racecards/pro", auth=auth, timeout=10)
        assert r.status_code == 401 and isinstance(r.json()["detail"], str)
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{base}/v1/odds/rac_1/hrs_1", timeout=10).status_code == 401
    assert requests.get(f"{base}/v1/racecards/pro", auth=AUTH, params={"limit": 1}, timeout=10).status_code == 200


def test_pagination_covers_the_total_without_duplicates(http):
    sim = make_sim(rate_limits={"racecards": 100, "results": 100})
    base = http(sim)
    for path, key, params in (("racecards/pro", "racecards", {"date": TODAY.isoformat()}),
                              ("results", "results", {"start_date": "2025-07-14", "end_date": "2025-07-15"})):
        seen, skip, total = [], 0, None
        while total is None or skip < total:
            page = requests.get(f"{base}/v1/{path}", params={**params, "limit": 10, "skip": skip},
                                auth=AUTH, timeout=10).json()
            assert page["limit"] == 10 and page["skip"] == skip and len(page[key]) == min(10, page["total"] - skip)
            total = page["total"]
            seen += [item["race_id"] for item in page[key]]
            skip += 10
        assert len(seen) == len(set(seen)) == total > 10


def test_parameters_are_validated_like_fastapi(schemas, http):
    base = http(make_sim(rate_limits={"racecards": 100, "results": 100}))
    get = lambda path, **params: requests.get(f"{base}/v1/{path}", params=params, auth=AUTH, timeout=10)
    for path, params, loc in (("racecards/pro", {"limit": 501}, "limit"), ("racecards/pro", {"limit": 0}, "limit"),
                              ("racecards/pro", {"limit": "many"}, "limit"), ("racecards/pro", {"skip": 501}, "skip"),
                              ("results", {"limit": 101}, "limit")):
        r = get(path, **params)
        assert r.status_code == 422, params
        assert_valid(schemas, "HTTPValidationError", r.json())
        assert r.json()["detail"][0]["loc"] == ["query", loc]
    for bad_day in ("2022-12-31", (TODAY + timedelta(days=8)).isoformat(), "28/11/2026"):
        r = get("racecards/pro", date=bad_day)
        assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert get("racecards/pro", date=(TODAY + timedelta(days=7)).isoformat(), limit=1).status_code == 200
    assert get("racecards/pro", date="2023-01-23", limit=1).status_code == 200
    assert get("odds/rac_123/hrs_456").status_code == 404
    assert get("nothing").status_code == 404


def test_rate_limit_answers_429_with_retry_after(http):
    sim = make_sim(rate_limits={"racecards": 2})
    sim.races_for(TODAY)
    base = http(sim)
    with requests.Session() as s:
        codes = [s.get(f"{base}/v1/racecards/pro", params={"limit": 1}, auth=AUTH, timeout=10) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1 and codes[2].json()["detail"]
    log = requests.get(f"{base}/_sim/requests", timeout=10).json()
    assert [(key, status) for _, key, status in log] == [("racecards", 200), ("racecards", 200), ("racecards", 429)]
    assert sim.request_log[-1][1:] == ("racecards", 429)


# ------------------------------------------------------------------ faults
def test_faults_parse():
    assert Faults.parse("") == Faults()
    assert Faults.parse(" latency=0.2, error_rate=0.1 ") == Faults(latency=0.2, error_rate=0.1)
    for bad, words in (("latncy=0.2", "unknown fault"), ("error_rate=2", "between 0 and 1"),
                       ("truncate_rate=abc", "truncate_rate"), ("rate429", "rate429"), ("latency=-1", "latency")):
        with pytest.raises(ValueError, match=words):
            Faults.parse(bad)


@pytest.mark.parametrize("fault, check", [
    ("truncate_rate=1", lambda r: r.status_code == 200 and pytest.raises(ValueError, r.json)),
    ("error_rate=1", lambda r: r.status_code in (500, 502, 503)),
    ("rate429=1", lambda r: r.status_code == 429 and r.headers["Retry-After"] == "1"),
])
def test_injected_faults(http, fault, check):
    base = http(make_sim(faults=Faults.parse(fault)))
    assert check(requests.get(f"{base}/v1/racecards/pro", params={"limit": 1}, auth=AUTH, timeout=10))


def test_timeout_fault_makes_the_client_time_out(http):
    sim = make_sim(faults=Faults(timeout_rate=1.0))
    sim.hang_seconds = 5
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{http(sim)}/v1/racecards/pro", params={"limit": 1}, auth=AUTH, timeout=0.3)


# ------------------------------------------------------------------ command line
def test_main_serves_until_sigterm():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", "from darkhorses.simulator import main; main()",
                             "--port", "0", "--seed", "4", "--username", "u", "--password", "p"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("simulator listening on http://127.0.0.1:") and line.rstrip().endswith("credentials u/p")
        url = line.split()[3].rstrip(";")
        assert requests.get(f"{url}/v1/courses", auth=("u", "p"), timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
