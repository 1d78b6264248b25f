"""The replaced service's readers keep working: every reader query of docs/switching.md,
translated to SQL, and every key of its files, on a database filled by live cycles and a day
of results against the simulator, and on an adopted one filled the same way after adoption."""
import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from darkhorses import db
from darkhorses.core import task_names
from darkhorses.core.settings import get_settings, reset_settings
from darkhorses.db.migrations import upgrade
from darkhorses.historical.collect import collect_day
from darkhorses.live.cycle import run_cycle
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.racing_api.ratelimit import RateLimiter
from darkhorses.simulator import Simulator
from tests.legacy import CONTRACT, build_legacy, own_database
from tests.support import Clock, serve_as_racing_api

NOW = datetime(2026, 11, 28, 12, 40, tzinfo=timezone.utc)
TODAY, YESTERDAY = date(2026, 11, 28), date(2026, 11, 27)
OLD_DAY = date(2024, 3, 1)

LIVE_SECTIONS = {
    "basic_metrics": {"total_records", "earliest_race_date", "latest_race_date", "latest_odds_timestamp",
                      "latest_fetch"},
    "recent_activity": {"records_last_hour", "records_last_24h"},
    "unique_entities": {"unique_races", "unique_horses", "unique_courses", "unique_bookmakers"},
    "data_quality": {"null_race_id", "null_horse_id", "null_bookmaker_id", "null_race_date", "null_course",
                     "null_horse_name", "null_odds_decimal", "null_odds_timestamp", "total_records"},
}
LIVE_LISTS = {
    "bookmaker_coverage": {"bookmaker_id", "bookmaker_name", "bookmaker_type", "odds_count", "races_covered",
                           "horses_covered", "latest_odds"},
    "records_per_date": {"race_date", "record_count", "unique_races", "unique_bookmakers"},
    "course_distribution": {"course", "record_count", "unique_races", "unique_bookmakers"},
    "market_status": {"market_status", "record_count", "percentage"},
}
HISTORICAL_SECTIONS = {
    "basic_metrics": {"total_records", "earliest_race_date", "latest_race_date", "date_range_days", "latest_update"},
    "recent_activity": {"records_last_hour", "records_last_24h", "records_last_7d"},
    "unique_entities": {"unique_horses", "unique_tracks", "unique_jockeys", "unique_trainers", "unique_countries"},
    "data_quality": {"null_date_of_race", "null_track", "null_horse_name", "null_industry_sp",
                     "null_finishing_position", "null_jockey", "null_trainer", "null_country", "total_records"},
    "odds_coverage": {"has_industry_sp", "has_pre_race_min", "has_pre_race_max", "has_forecasted_odds",
                      "total_records"},
}
HISTORICAL_LISTS = {"records_per_date": {"race_date", "record_count"},
                    "country_distribution": {"country", "record_count", "percentage"},
                    "track_distribution": {"track", "record_count"}}
JOB_KEYS = {"last_run", "last_success", "status"}


def use(url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SCHEDULER_STATUS_DIR", str(tmp_path / "status"))
    reset_settings()
    db.dispose_engines()


def fill_by_running(monkeypatch):
    """Three live cycles, as the loop would space them, and yesterday's results, from the simulator over HTTP."""
    clock = Clock(NOW)
    sim = Simulator(seed=11, clock=clock, rate_limits={"racecards": 1000, "results": 1000, "odds": 1000})
    server = serve_as_racing_api(monkeypatch, sim)
    client = RacingAPIClient(get_settings(), limiter=RateLimiter({"racecards": 1000, "results": 1000}))
    try:
        for _ in range(3):
            summary = run_cycle(client, clock.now)
            clock.advance(summary.next_poll_seconds + summary.duration_seconds)
        assert collect_day(YESTERDAY, client)["status"] == "complete"
    finally:
        server.shutdown()
        server.server_close()
        client.close()
    return clock.now


def reader_queries(url, track_day: date, track: str) -> dict[str, list]:
    """Each reader query of the contract, as SQL, with its answer."""
    day_start = datetime(track_day.year, track_day.month, track_day.day, tzinfo=timezone.utc)
    queries = {
        "live by date, course, bookmaker": (
            "SELECT * FROM ra_odds_live WHERE race_date = :today AND course ILIKE :course "
            "AND bookmaker_name ILIKE :book ORDER BY odds_timestamp DESC", {"course": "%", "book": "%bet365%"}),
        "races today and tomorrow": (
            "SELECT DISTINCT race_id, race_date, race_time, course, race_name FROM ra_odds_live "
            "WHERE race_date BETWEEN :today AND :tomorrow", {}),
        "upcoming races": (
            "SELECT DISTINCT race_id, race_date, race_time, off_dt, course, race_name, race_type, distance, runners "
            "FROM ra_odds_live WHERE off_dt >= :now ORDER BY off_dt", {}),
        "a race's prices": (
            "SELECT horse_id, horse_name, horse_number, odds_fractional, odds_decimal, bookmaker_name, odds_timestamp, "
            "fetched_at FROM ra_odds_live WHERE race_id = (SELECT min(race_id) FROM ra_odds_live WHERE off_dt >= :now)",
            {}),
        "best price per horse": (
            "SELECT DISTINCT ON (horse_id) horse_id, horse_name, odds_decimal, bookmaker_name FROM ra_odds_live "
            "WHERE race_id = (SELECT min(race_id) FROM ra_odds_live WHERE off_dt >= :now) "
            "ORDER BY horse_id, odds_decimal DESC NULLS LAST", {}),
        "bookmakers": ("SELECT bookmaker_id, bookmaker_name, bookmaker_type FROM ra_bookmakers", {}),
        "courses": ("SELECT DISTINCT course FROM ra_odds_live", {}),
        "results of a day at a track": (
            "SELECT * FROM ra_odds_historical WHERE date_of_race >= :day AND date_of_race < :next_day "
            "AND track ILIKE :track ORDER BY date_of_race DESC", {"track": f"%{track}%"}),
        "results of a year": (
            "SELECT * FROM ra_odds_historical WHERE date_of_race >= :year AND date_of_race < :next_year "
            "ORDER BY date_of_race DESC", {}),
        "date range": ("SELECT min(date_of_race), max(date_of_race) FROM ra_odds_historical", {}),
        "summary": ("SELECT date_of_race, track, race_time FROM ra_odds_historical", {}),
        "count": ("SELECT count(*) FROM ra_odds_historical", {}),
        "fetch records": ("SELECT * FROM ra_odds_statistics ORDER BY fetch_timestamp DESC", {}),
    }
    common = {"today": TODAY, "tomorrow": TODAY + timedelta(days=1), "now": NOW, "day": day_start,
              "next_day": day_start + timedelta(days=1),
              "year": datetime(track_day.year, 1, 1, tzinfo=timezone.utc),
              "next_year": datetime(track_day.year + 1, 1, 1, tzinfo=timezone.utc)}
    engine = create_engine(url)
    with engine.connect() as conn:
        answers = {name: [dict(r) for r in conn.execute(text(sql), {**common, **params}).mappings()]
                   for name, (sql, params) in queries.items()}
    engine.dispose()
    return answers


def check_answers(answers: dict) -> None:
    for name, rows in answers.items():
        assert rows and all(v is not None for v in rows[0].values() if name in ("date range", "count")), name
    live_row = answers["live by date, course, bookmaker"][0]
    assert set(CONTRACT["ra_odds_live"]) <= set(live_row)
    assert isinstance(live_row["race_time"], time) and isinstance(live_row["horse_number"], int)
    assert isinstance(live_row["odds_decimal"], Decimal) and live_row["odds_decimal"].as_tuple().exponent == -3
    assert live_row["market_type"] == "WIN" and "bet365" in live_row["bookmaker_name"].lower()
    result = answers["results of a day at a track"][0]
    assert set(CONTRACT["ra_odds_historical"]) <= set(result)
    assert result["date_of_race"].timetz() == time(0, tzinfo=timezone.utc)  # midnight UTC of the UK date
    assert set(CONTRACT["ra_odds_statistics"]) <= set(answers["fetch records"][0])
    assert {"betfair", "bet365"} <= {r["bookmaker_id"] for r in answers["bookmakers"]}


def check_files(stats_dir, status_dir) -> None:
    live_file = json.loads((stats_dir / "live_stats_latest.json").read_text())
    historical_file = json.loads((stats_dir / "historical_stats_latest.json").read_text())
    both = json.loads((stats_dir / "all_stats_latest.json").read_text())
    assert live_file["table"] == "live" and historical_file["table"] == "historical"
    for payload, live_part, historical_part in ((live_file, True, False), (historical_file, False, True),
                                                (both, True, True)):
        assert payload["timestamp"]
        if live_part:
            _check_sections(payload["ra_odds_live"], LIVE_SECTIONS, LIVE_LISTS)
        if historical_part:
            _check_sections(payload["ra_odds_historical"], HISTORICAL_SECTIONS, HISTORICAL_LISTS)
    status = json.loads((status_dir / "scheduler_status.json").read_text())
    for job in ("live_odds", "historical_odds", "statistics"):
        assert JOB_KEYS <= set(status[job]) and status[job]["status"] == "success", job
        assert datetime.fromisoformat(status[job]["last_success"])
    assert status["live_odds"]["next_interval"] > 0 and status["live_odds"]["next_check"]


def _check_sections(part: dict, sections: dict, lists: dict) -> None:
    for section, keys in sections.items():
        assert keys <= set(part[section]), section
    assert part["basic_metrics"]["total_records"] > 0
    for section, keys in lists.items():
        assert part[section] and all(keys <= set(entry) for entry in part[section]), section


def write_files(tmp_path, now) -> None:
    from darkhorses.core.settings import get_settings
    from darkhorses.db import session_scope
    from darkhorses.stats.compute import update_statistics
    from darkhorses.tasks.signals import record_task_run
    with session_scope() as session:
        update_statistics(session, get_settings(), now, output_dir=str(tmp_path / "stats"))
    for task in (task_names.LIVE_POLL, task_names.HISTORICAL_COLLECT_DAY, task_names.STATS_UPDATE):
        record_task_run(task, "SUCCESS", 1.0)


def test_readers_on_a_database_filled_by_running(database_url, monkeypatch, tmp_path):
    use(database_url, monkeypatch, tmp_path)
    now = fill_by_running(monkeypatch)
    answers = reader_queries(database_url, YESTERDAY, _a_track(database_url, YESTERDAY))
    check_answers(answers)
    write_files(tmp_path, now)
    check_files(tmp_path / "stats", tmp_path / "status")


def test_readers_on_an_adopted_database(monkeypatch, tmp_path):
    with own_database() as url:
        build_legacy(url, [OLD_DAY])
        use(url, monkeypatch, tmp_path)
        assert upgrade(url)["adopted"] is True
        now = fill_by_running(monkeypatch)
        for day, track in ((YESTERDAY, _a_track(url, YESTERDAY)), (OLD_DAY, "Kempton")):  # ours, and the old rows
            check_answers(reader_queries(url, day, track))
        write_files(tmp_path, now)
        check_files(tmp_path / "stats", tmp_path / "status")


@pytest.mark.parametrize("table", ["ra_odds_live", "ra_odds_historical", "ra_odds_statistics", "ra_bookmakers"])
def test_every_contract_column_has_the_contract_type(database_url, table):
    with own_database() as legacy_url:
        build_legacy(legacy_url, [])
        expected = _types(legacy_url, table)
    assert {c: _types(database_url, table)[c] for c in CONTRACT[table]} == {c: expected[c] for c in CONTRACT[table]}


def _types(url, table):
    engine = create_engine(url)
    with engine.connect() as conn:
        types = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT column_name, data_type, numeric_precision, numeric_scale, character_maximum_length "
            "FROM information_schema.columns WHERE table_name = :t"), {"t": table})}
    engine.dispose()
    return types


def _a_track(url, day):
    engine = create_engine(url)
    with engine.connect() as conn:
        track = conn.execute(text("SELECT min(track) FROM ra_odds_historical WHERE date_of_race = :d"),
                             {"d": datetime(day.year, day.month, day.day, tzinfo=timezone.utc)}).scalar()
    engine.dispose()
    return track


def test_worker_and_beat_write_scheduler_status(database_url, redis_url, simulator, tmp_path):
    from celery import Celery

    from tests.support import celery_beat, celery_worker, service_env, stop_process, wait_for
    status_dir = tmp_path / "status"
    path = status_dir / "scheduler_status.json"
    env = service_env(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL=simulator.url, RACING_API_USERNAME="sim", RACING_API_PASSWORD="sim",
                      SCHEDULER_STATUS_DIR=str(status_dir), STATS_OUTPUT_DIR=str(tmp_path / "stats"))

    def read():
        return json.loads(path.read_text()) if path.exists() else {}
    beat = celery_beat(env, tmp_path)
    try:
        wait_for(lambda: {"live_odds", "historical_odds", "statistics"} <= set(read()), timeout=60,
                 message="beat to write scheduler_status.json")
    finally:
        stop_process(beat)
    assert read()["statistics"]["status"] == "idle"
    path.unlink()
    client = Celery("test-client", broker=redis_url, backend=redis_url)
    with celery_worker(env, queues="stats", log_path=tmp_path / "worker.log"):
        wait_for(path.exists, timeout=60, message="the worker to write scheduler_status.json at start")
        client.send_task(task_names.STATS_UPDATE, queue="stats").get(timeout=120)
        wait_for(lambda: read().get("statistics", {}).get("status") == "success", timeout=30,
                 message="the worker to record the statistics run")
    entry = read()["statistics"]
    assert JOB_KEYS <= set(entry) and entry["last_run"] and entry["last_success"] and "error" not in entry
    assert read()["live_odds"]["status"] == "idle"
