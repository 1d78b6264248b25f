"""The Prometheus exporter scraped over HTTP after real live cycles, checked against the database."""
import pytest
import requests
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from darkhorses.core import task_names
from darkhorses.core.settings import get_settings
from darkhorses.live.cycle import run_cycle
from darkhorses.ops.metrics import serve
from darkhorses.racing_api.client import RacingAPIClient
from darkhorses.tasks.app import app as darkhorses_app
from tests.support import free_port


def scrape(url: str) -> dict:
    """{(name, frozenset(labels)): value} of one scrape."""
    body = requests.get(url, timeout=10).text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


@pytest.mark.slow  # two full live cycles on the simulator: ~9 s
def test_the_exporter_serves_the_numbers_the_database_and_redis_hold(database_url, redis_url, simulator):
    settings = get_settings()
    for _ in range(2):
        client = RacingAPIClient(settings)
        run_cycle(client, settings=settings)
        client.close()
    # two messages waiting for a historical worker that is not there
    sender = Celery("test-client", broker=redis_url)
    for _ in range(2):
        sender.send_task(task_names.HISTORICAL_DAILY, queue=task_names.HISTORICAL_QUEUE)
    darkhorses_app.loader.import_default_modules()
    server, thread = serve(settings, free_port(), "127.0.0.1")
    try:
        metrics = scrape(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()

    def value(name, **labels):
        return metrics[(f"darkhorses_{name}", frozenset(labels.items()))]

    engine = create_engine(database_url)
    with engine.connect() as conn:
        last_prices, last_races = conn.execute(text(
            "SELECT total_odds_fetched, races_count FROM ra_odds_statistics "
            "ORDER BY fetch_timestamp DESC LIMIT 1")).one()
        cycles, written = conn.execute(text(
            "SELECT count(*), sum(prices_changed) FROM ra_odds_statistics")).one()
    engine.dispose()
    assert value("up", source="database") == 1 and value("up", source="redis") == 1
    assert cycles == 2 and value("live_cycles_today") == 2
    assert last_prices > 1000 and value("live_last_cycle_prices") == last_prices
    assert value("live_last_cycle_races") == last_races
    assert value("live_prices_captured_today") == written > 0
    assert 0 <= value("live_last_cycle_age_seconds") < 60
    assert value("races_missed_today") == 0
    assert value("live_loop_running") == 0  # cycles run by hand: no loop holds the lease
    # every request the simulator saw was counted, by endpoint and outcome
    served = [entry for entry in simulator.request_log if entry[1] == "racecards"]
    assert value("api_requests_total", endpoint="racecards", outcome="ok") == len(served) >= 2
    assert value("queue_length", queue="historical") == 2
    assert value("queue_length", queue="live") == 0
    assert value("scrape_duration_seconds") < 1.0
    assert ("darkhorses_statistics_age_seconds", frozenset()) not in metrics  # never computed: no sample


def test_a_database_that_cannot_be_reached_is_reported_not_raised(redis_url, monkeypatch):
    from darkhorses.core.settings import reset_settings
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    reset_settings()
    server, _ = serve(get_settings(), free_port(), "127.0.0.1")
    try:
        metrics = scrape(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert metrics[("darkhorses_up", frozenset({("source", "database")}))] == 0
    assert metrics[("darkhorses_up", frozenset({("source", "redis")}))] == 1
    assert ("darkhorses_queue_length", frozenset({("queue", "live")})) in metrics
