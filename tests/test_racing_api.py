"""The HTTP client against canned responses (`responses`); no network, no real sleeping."""
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from darkhorses.racing_api import (BadResponse, CredentialsRejected, RacingAPIClient, RequestRefused,
                                   TemporarilyUnavailable)
from darkhorses.ratelimit import RateLimiter
from darkhorses.settings import settings_from_env

BASE = "https://api.example.test"


@pytest.fixture
def client():
    settings = settings_from_env({"RACING_API_URL": BASE, "RACING_API_USERNAME": "user",
                                  "RACING_API_PASSWORD": "pw-123"})
    sleeps = []
    api = RacingAPIClient(settings, limiter=RateLimiter({"racecards": 1000, "results": 1000, "odds": 1000}),
                          sleep=sleeps.append)
    api.sleeps = sleeps
    return api


def _page(key, items, total, skip, limit):
    return {key: items, "total": total, "skip": skip, "limit": limit, "query": []}


@responses.activate
def test_results_paginate_until_total_with_repeated_region_parameters(client):
    pages = [[{"race_id": f"r{i}"} for i in range(start, min(start + 100, 230))] for start in (0, 100, 200)]
    for skip, items in zip((0, 100, 200), pages):
        responses.get(f"{BASE}/v1/results", json=_page("results", items, 230, skip, 100),
                      match=[responses.matchers.query_param_matcher(
                          {"start_date": "2026-03-01", "end_date": "2026-03-01", "region": ["gb", "ire"],
                           "limit": "100", "skip": str(skip)})])
    results = client.results(date(2026, 3, 1), ("gb", "ire"))
    assert [r["race_id"] for r in results] == [f"r{i}" for i in range(230)]
    assert len(responses.calls) == 3
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["region"] == ["gb", "ire"]
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_racecards_use_region_codes_and_the_largest_page(client):
    responses.get(f"{BASE}/v1/racecards/pro", json=_page("racecards", [{"race_id": "a"}], 1, 0, 500))
    assert client.racecards_pro(date(2026, 11, 28), ("gb", "ire")) == [{"race_id": "a"}]
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query == {"date": ["2026-11-28"], "region_codes": ["gb", "ire"], "limit": ["500"], "skip": ["0"]}


@responses.activate
def test_429_is_retried_after_the_time_the_api_asks_for(client):
    responses.get(f"{BASE}/v1/odds/r1/h1", status=429, headers={"Retry-After": "7"}, json={"detail": "slow down"})
    responses.get(f"{BASE}/v1/odds/r1/h1", json={"race_id": "r1", "horse_id": "h1", "horse": "X"})
    assert client.runner_odds("r1", "h1")["horse"] == "X"
    assert len(client.sleeps) == 1 and client.sleeps[0] >= 7


@responses.activate
def test_5xx_and_connection_errors_back_off_exponentially_then_give_up(client):
    responses.get(f"{BASE}/v1/odds/r1/h1", status=503)
    responses.get(f"{BASE}/v1/odds/r1/h1", body=requests.ConnectionError("refused"))
    responses.get(f"{BASE}/v1/odds/r1/h1", status=502)
    responses.get(f"{BASE}/v1/odds/r1/h1", status=500)
    responses.get(f"{BASE}/v1/odds/r1/h1", status=500)
    responses.get(f"{BASE}/v1/odds/r1/h1", status=500)
    with pytest.raises(TemporarilyUnavailable) as error:
        client.runner_odds("r1", "h1")
    assert "/v1/odds/r1/h1" in str(error.value)
    assert len(responses.calls) == 6
    # 1, 2, 4, 8, 16 seconds, each within the ±20% jitter
    for attempt, slept in enumerate(client.sleeps):
        assert 0.8 * 2 ** attempt <= slept <= 1.2 * 2 ** attempt


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_rejected_credentials_are_not_retried_and_never_echoed(client, status):
    responses.get(f"{BASE}/v1/results", status=status, json={"detail": "Not authenticated"})
    with pytest.raises(CredentialsRejected) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert len(responses.calls) == 1
    assert "rejected the credentials" in str(error.value)
    assert "pw-123" not in str(error.value)


@responses.activate
def test_a_date_outside_the_plan_is_refused_with_the_api_message(client):
    responses.get(f"{BASE}/v1/results", status=422,
                  json={"detail": "Results older than 12 months require the historical add-on"})
    with pytest.raises(RequestRefused) as error:
        client.results(date(2015, 3, 1), ("gb",))
    assert error.value.status == 422
    assert "historical add-on" in error.value.detail
    assert len(responses.calls) == 1


@responses.activate
def test_a_body_that_is_not_json_is_a_clear_error_naming_the_endpoint(client):
    for _ in range(6):
        responses.get(f"{BASE}/v1/racecards/pro", body='{"racecards": [{"race_id"', status=200)
    with pytest.raises(BadResponse) as error:
        client.racecards_pro(date(2026, 11, 28), ("gb",))
    assert "/v1/racecards/pro" in str(error.value) and "not valid JSON" in str(error.value)


@responses.activate
def test_a_truncated_body_is_retried(client):
    responses.get(f"{BASE}/v1/racecards/pro", body='{"racecards": [', status=200)
    responses.get(f"{BASE}/v1/racecards/pro", json=_page("racecards", [], 0, 0, 500))
    assert client.racecards_pro(date(2026, 11, 28), ("gb",)) == []
    assert len(responses.calls) == 2


@responses.activate
def test_a_page_without_the_promised_fields_is_a_bad_response(client):
    responses.get(f"{BASE}/v1/results", json={"unexpected": True})
    with pytest.raises(BadResponse) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert "/v1/results" in str(error.value)
