"""Statistics against a small dataset whose answers are worked out by hand."""
import json
import threading
from datetime import date, datetime, time, timedelta, timezone

from darkhorses.core import task_names
from darkhorses.core.clock import day_start
from darkhorses.core.files import write_json_atomic
from darkhorses.core.settings import get_settings
from darkhorses.db import session_scope
from darkhorses.historical import ledger
from darkhorses.models import LiveRace, OddsHistorical, OddsLive, RunRecord
from darkhorses.stats.compute import compute_statistics, update_statistics

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc)
TODAY, YESTERDAY = date(2026, 11, 28), date(2026, 11, 27)


def live_row(race, horse, bookmaker, price, day, course, status="OPEN", minutes_ago=30):
    moment = NOW - timedelta(minutes=minutes_ago)
    return OddsLive(race_id=race, horse_id=horse, bookmaker_id=bookmaker, race_date=day, course=course,
                    horse_name=f"Horse {horse}", jockey="J", trainer="T", odds_decimal=price,
                    odds_fractional="x", off_dt=NOW + timedelta(hours=1), market_status=status,
                    bookmaker_name=bookmaker, bookmaker_type="fixed", odds_timestamp=moment,
                    fetched_at=moment, created_at=moment, updated_at=moment)


def load_fixture(session):
    # race r1 yesterday at Kempton: closed, 2 horses x 2 books; one row changed 3 hours ago
    session.add_all([
        live_row("r1", "h1", "bet365", 2.0, YESTERDAY, "Kempton", "CLOSED", minutes_ago=180),
        live_row("r1", "h1", "coral", 2.2, YESTERDAY, "Kempton", "CLOSED"),
        live_row("r1", "h2", "bet365", None, YESTERDAY, "Kempton", "CLOSED"),  # no price
        live_row("r1", "h2", "coral", 3.5, YESTERDAY, "Kempton", "CLOSED"),
        # race r2 today at Ascot: open, 3 horses at bet365 (book 1/1.5 + 1/3 + 1/6 = 116.67%)
        live_row("r2", "h3", "bet365", 1.5, TODAY, "Ascot"),
        live_row("r2", "h4", "bet365", 3.0, TODAY, "Ascot"),
        live_row("r2", "h5", "bet365", 6.0, TODAY, "Ascot", minutes_ago=5),
    ])
    session.add_all([
        LiveRace(race_id="r1", race_date=YESTERDAY, off_dt=datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc),
                 course="Kempton", market_status="CLOSED", captures=40,
                 fetched_at=datetime(2026, 11, 27, 13, 59, 52, tzinfo=timezone.utc)),
        LiveRace(race_id="r2", race_date=TODAY, off_dt=NOW + timedelta(hours=1), course="Ascot",
                 market_status="OPEN", captures=3, fetched_at=NOW - timedelta(minutes=5)),
    ])
    for race, horse, day, country, track, jockey, sp, low in (
            ("r1", "h1", YESTERDAY, "GB", "Kempton", "j1", 2.0, 1.9),
            ("r1", "h2", YESTERDAY, "GB", "Kempton", "j2", 3.0, None),
            ("r9", "h7", YESTERDAY, "IRE", "Naas", "j1", None, None),     # never captured live
            ("r8", "h8", date(2026, 11, 10), "IRE", "Naas", "j3", 5.0, None)):
        session.add(OddsHistorical(race_id=race, horse_id=horse, date_of_race=day_start(day), country=country,
                                   track=track, race_time=time(14, 0), jockey_id=jockey, trainer_id="t1",
                                   horse_name=horse, industry_sp=sp, pre_race_min=low, pre_race_max=low,
                                   updated_at=NOW - timedelta(hours=2 if race != "r8" else 400)))
    for day, status in ((date(2015, 1, 1), "unavailable"), (date(2015, 1, 2), "unavailable"),
                        (date(2025, 6, 1), "complete"), (date(2025, 12, 25), "empty"), (YESTERDAY, "complete")):
        ledger.update(session, day, status=status)
    session.flush()


def check_fixture_answers(stats):
    live, hist, health = stats["ra_odds_live"], stats["ra_odds_historical"], stats["collection_health"]
    assert live["total_rows"] == 7
    assert live["date_range"] == {"first": "2026-11-27", "last": "2026-11-28"}
    assert live["distinct"] == {"races": 2, "horses": 5, "courses": 2, "bookmakers": 2}
    assert live["recent_activity"] == {"changed_last_hour": 6, "changed_last_24h": 7}
    assert live["latest_fetched_at"].startswith("2026-11-28T14:55")
    assert live["null_counts"]["odds_timestamp"] == 0 and live["null_counts"]["odds_decimal"] == 1
    assert {b["bookmaker_id"]: (b["prices"], b["races"], b["horses"]) for b in live["by_bookmaker"]} == {
        "bet365": (5, 2, 5), "coral": (2, 1, 2)}
    assert live["by_date"] == [{"date": "2026-11-28", "rows": 3, "races": 1},
                               {"date": "2026-11-27", "rows": 4, "races": 1}]
    assert live["by_course"] == [{"course": "Ascot", "rows": 3, "races": 1},
                                 {"course": "Kempton", "rows": 4, "races": 1}]
    assert live["market_status"] == {"CLOSED": 4, "OPEN": 3}

    assert hist["total_rows"] == 4
    assert hist["date_range"] == {"first": "2026-11-10", "last": "2026-11-27"}
    assert hist["distinct"] == {"races": 3, "horses": 4, "tracks": 2, "jockeys": 3, "trainers": 1, "countries": 2}
    assert hist["recent_activity"] == {"updated_last_24h": 3}
    assert hist["price_coverage"]["with_sp"] == {"rows": 3, "percent": 75.0}
    assert hist["price_coverage"]["with_pre_race_min"] == {"rows": 1, "percent": 25.0}
    assert hist["by_country"] == [{"country": "GB", "rows": 2, "races": 1}, {"country": "IRE", "rows": 2, "races": 2}]
    assert hist["by_track"] == [{"track": "Kempton", "rows": 2, "races": 1}, {"track": "Naas", "rows": 2, "races": 2}]
    assert hist["null_counts"]["industry_sp"] == 1

    races = {r["race_id"]: r for r in health["races"]}
    assert races["r1"]["captures"] == 40 and races["r1"]["gap_to_off_seconds"] == 8.0
    assert health["closed_races_max_gap_seconds"] == 8.0
    # r9 was never captured, and no live cycle is on record: known from its result, not missed
    assert health["missed"] == [] and health["results_only"] == {"races": 1, "by_date": {"2026-11-27": 1}}
    assert health["ledger_by_year"] == {"2015": {"unavailable": 2}, "2025": {"complete": 1, "empty": 1},
                                        "2026": {"complete": 1}}
    assert health["overround_today"] == [{"race_id": "r2", "bookmaker_id": "bet365", "runners_running": 3,
                                          "runners_priced": 3, "complete": True, "book_percent": 116.67}]


def test_every_statistic_on_postgresql(db_session):
    load_fixture(db_session)
    check_fixture_answers(compute_statistics(db_session, get_settings(), NOW))


def test_a_rebuilt_day_remembers_new_rows_and_ones_committed_after_the_last_run(db_session):
    load_fixture(db_session)
    first = compute_statistics(db_session, get_settings(), NOW)["ra_odds_live"]
    assert first["distinct"]["horses"] == 5
    later = NOW + timedelta(minutes=10)
    # A new runner priced since, and one stamped before the first run by a cycle that committed
    # after it (within rollups.REMEMBER_MARGIN, an hour): both new horses; a row of a known horse adds none.
    db_session.add_all([
        live_row("r2", "h6", "bet365", 8.0, TODAY, "Ascot", minutes_ago=-5),
        live_row("r2", "h7", "coral", 9.0, TODAY, "Ascot", minutes_ago=55),
        live_row("r2", "h3", "coral", 1.6, TODAY, "Ascot", minutes_ago=-5)])
    db_session.flush()
    second = compute_statistics(db_session, get_settings(), later)["ra_odds_live"]
    assert second["distinct"]["horses"] == 7
    assert {b["bookmaker_id"]: b["horses"] for b in second["by_bookmaker"]} == {"bet365": 6, "coral": 4}


def test_the_same_answers_on_sqlite_for_the_embedded_mode(sqlite_url):
    with session_scope() as session:
        load_fixture(session)
        check_fixture_answers(compute_statistics(session, get_settings(), NOW))


def test_files_and_summary_row(db_session, tmp_path):
    load_fixture(db_session)
    summary = update_statistics(db_session, get_settings(), NOW, output_dir=str(tmp_path / "out"))
    assert summary["live_rows"] == 7 and summary["historical_rows"] == 4 and summary["missed_7d"] == 0
    for name in ("all_stats_latest", "ra_odds_live_latest", "ra_odds_historical_latest", "collection_health_latest"):
        payload = json.loads((tmp_path / "out" / f"{name}.json").read_text())
        assert payload["schema_version"] == 1 and payload["generated_at"] == NOW.isoformat()
    assert not list((tmp_path / "out").glob(".*.tmp"))
    run = db_session.query(RunRecord).filter_by(kind="stats").one()
    assert run.prices == 7 and run.runners == 4 and run.detail["missed_7d"] == 0


def test_a_reader_never_sees_a_half_written_file(tmp_path):
    path = tmp_path / "stats.json"
    versions = [{"version": n, "payload": "x" * (200_000 + n)} for n in range(40)]
    write_json_atomic(path, versions[0])
    seen, problems, done = set(), [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                seen.add(json.loads(path.read_text())["version"])
            except Exception as exc:  # a torn read would land here
                problems.append(exc)
    thread = threading.Thread(target=reader)
    thread.start()
    for version in versions[1:]:
        write_json_atomic(path, version)
    done.set()
    thread.join(10)
    assert problems == []
    assert len(seen) > 1 and seen <= set(range(40))
    assert json.loads(path.read_text())["version"] == 39


def test_status_after_a_failing_task(database_url, monkeypatch):
    from darkhorses.ops.status import collect_status, render_status
    from darkhorses.tasks.app import app
    app.loader.import_default_modules()
    outcome = app.tasks[task_names.HISTORICAL_COLLECT_DAY].apply(args=["not-a-date"])
    assert outcome.failed()
    with session_scope() as session:
        report = collect_status(session, get_settings())
    task = report["tasks"][task_names.HISTORICAL_COLLECT_DAY]
    assert task["state"] == "FAILURE" and "not-a-date" in task["last_error"] and task["failures"] == 1
    assert report["healthy"] is False
    text = render_status(report)
    assert "NEEDS ATTENTION" in text and task_names.HISTORICAL_COLLECT_DAY in text and "FAILURE" in text
    mirrored = json.loads(open("logs/scheduler_status.json").read())
    assert mirrored["tasks"][task_names.HISTORICAL_COLLECT_DAY]["state"] == "FAILURE"


def test_status_is_healthy_at_a_glance_after_live_cycles(database_url):
    from darkhorses.live.cycle import run_cycle
    from darkhorses.ops.status import collect_status, render_status
    from tests.builders import FakeCards, card, quote, runner
    now = datetime.now(timezone.utc)
    off = (now + timedelta(minutes=20)).isoformat()
    cards = [card("rac_1", off, [runner("h1", [quote("Bet365", "3.0", "2/1")])])]
    run_cycle(FakeCards(cards), now)
    with session_scope() as session:
        report = collect_status(session, get_settings())
    text = render_status(report)
    assert report["healthy"] is True and report["problems"] == []
    assert "HEALTHY" in text and "Live loop: running" in text and "ra_odds_live 1" in text


def test_contract_sections_from_the_rollups(db_session):
    from darkhorses.stats.legacy_files import historical_sections, live_sections
    load_fixture(db_session)
    compute_statistics(db_session, get_settings(), NOW)  # keeps the rollups the contract sections read
    live, hist = live_sections(db_session, NOW), historical_sections(db_session, NOW)
    assert live["basic_metrics"]["total_records"] == 7
    assert live["unique_entities"] == {"unique_races": 2, "unique_horses": 5, "unique_courses": 2,
                                       "unique_bookmakers": 2}
    assert live["course_distribution"] == [
        {"course": "Kempton", "record_count": 4, "unique_races": 1, "unique_bookmakers": 2},
        {"course": "Ascot", "record_count": 3, "unique_races": 1, "unique_bookmakers": 1}]
    assert [(b["bookmaker_id"], b["odds_count"], b["races_covered"], b["horses_covered"])
            for b in live["bookmaker_coverage"]] == [("bet365", 5, 2, 5), ("coral", 2, 1, 2)]
    assert live["market_status"] == [{"market_status": "CLOSED", "record_count": 4, "percentage": 57.14},
                                     {"market_status": "OPEN", "record_count": 3, "percentage": 42.86}]
    assert hist["basic_metrics"]["total_records"] == 4 and hist["basic_metrics"]["date_range_days"] == 17
    assert hist["unique_entities"]["unique_tracks"] == 2 and hist["unique_entities"]["unique_countries"] == 2
    assert hist["country_distribution"] == [{"country": "GB", "record_count": 2, "percentage": 50.0},
                                            {"country": "IRE", "record_count": 2, "percentage": 50.0}]
    assert hist["odds_coverage"]["has_industry_sp"] == 3 and hist["data_quality"]["null_industry_sp"] == 1
