"""The HTTP client against canned responses (`responses`); no network, no real sleeping."""
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from darkhorses.core.settings import settings_from_env
from darkhorses.racing_api.client import (
    BadResponse,
    CredentialsRejected,
    RacingAPIClient,
    RequestRefused,
    TemporarilyUnavailable,
)
from darkhorses.racing_api.ratelimit import RateLimiter
from tests.builders import page

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


@responses.activate
def test_results_paginate_until_total_with_repeated_region_parameters(client):
    pages = [[{"race_id": f"r{i}"} for i in range(start, min(start + 100, 230))] for start in (0, 100, 200)]
    for skip, items in zip((0, 100, 200), pages, strict=True):
        responses.get(f"{BASE}/v1/results", json=page("results", items, 230, skip, 100),
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
    responses.get(f"{BASE}/v1/racecards/pro", json=page("racecards", [{"race_id": "a"}], 1, 0, 500))
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
    responses.get(f"{BASE}/v1/racecards/pro", json=page("racecards", [], 0, 0, 500))
    assert client.racecards_pro(date(2026, 11, 28), ("gb",)) == []
    assert len(responses.calls) == 2


@responses.activate
def test_a_page_without_the_promised_fields_is_a_bad_response(client):
    responses.get(f"{BASE}/v1/results", json={"unexpected": True})
    with pytest.raises(BadResponse) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert "/v1/results" in str(error.value)


# -- hostile upstream (issue 12): every bound is ours, every failure our own type ------------------

def _client_with(**env):
    settings = settings_from_env({"RACING_API_URL": BASE, "RACING_API_USERNAME": "user",
                                  "RACING_API_PASSWORD": "pw-123", **env})
    sleeps = []
    api = RacingAPIClient(settings, limiter=RateLimiter({"racecards": 1000, "results": 1000, "odds": 1000}),
                          sleep=sleeps.append)
    api.sleeps = sleeps
    return api


@pytest.mark.parametrize("value", ["soon", "inf", "nan", "-5", "1e999", "Sun, 99 Foo 2026 99:99:99 GMT", ""])
@responses.activate
def test_an_unreadable_retry_after_is_a_bad_response_retried_like_any_other(client, value):
    responses.get(f"{BASE}/v1/odds/r1/h1", status=503, headers={"Retry-After": value})
    responses.get(f"{BASE}/v1/odds/r1/h1", json={"horse": "X"})
    assert client.runner_odds("r1", "h1") == {"horse": "X"}
    assert len(responses.calls) == 2
    assert len(client.sleeps) == 1 and 0.8 <= client.sleeps[0] <= 1.2  # the ordinary first backoff


@responses.activate
def test_an_unreadable_retry_after_every_time_ends_in_our_own_error(client):
    for _ in range(6):
        responses.get(f"{BASE}/v1/odds/r1/h1", status=429, headers={"Retry-After": "soon"})
    with pytest.raises(TemporarilyUnavailable) as error:
        client.runner_odds("r1", "h1")
    assert "unreadable Retry-After 'soon'" in str(error.value) and len(responses.calls) == 6


@responses.activate
def test_a_retry_after_beyond_the_cap_is_a_clear_failure_without_waiting(client):
    responses.get(f"{BASE}/v1/odds/r1/h1", status=429, headers={"Retry-After": "100000"})
    with pytest.raises(TemporarilyUnavailable) as error:
        client.runner_odds("r1", "h1")
    assert "100,000s" in str(error.value) and "RACING_API_MAX_RETRY_AFTER=120s" in str(error.value)
    assert client.sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_a_retry_after_as_an_http_date_is_obeyed():
    import time as clock
    from email.utils import formatdate
    api = _client_with()
    responses.get(f"{BASE}/v1/odds/r1/h1", status=503,
                  headers={"Retry-After": formatdate(clock.time() + 30, usegmt=True)})
    responses.get(f"{BASE}/v1/odds/r1/h1", json={"horse": "X"})
    api.runner_odds("r1", "h1")
    assert 27 <= api.sleeps[0] <= 31


@pytest.mark.parametrize("body", ["[" * 200_000, '{"a": ' * 200_000, '{"total": 1' + "0" * 5000 + "}"])
@responses.activate
def test_bodies_that_break_the_parser_are_retried_then_a_bad_response(client, body):
    for _ in range(6):
        responses.get(f"{BASE}/v1/results", body=body)
    with pytest.raises(BadResponse) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert "not valid JSON after 6 attempts" in str(error.value)
    assert len(responses.calls) == 6


@responses.activate
def test_a_body_over_the_size_cap_is_refused_and_retried():
    api = _client_with(RACING_API_MAX_RESPONSE_BYTES="4096", RACING_API_MAX_ATTEMPTS="2")
    big = {"racecards": [{"race_id": "x" * 30}] * 500, "total": 500}
    responses.get(f"{BASE}/v1/racecards/pro", json=big)
    responses.get(f"{BASE}/v1/racecards/pro", json=big)
    with pytest.raises(BadResponse) as error:
        api.racecards_pro(date(2026, 11, 28), ("gb",))
    assert "RACING_API_MAX_RESPONSE_BYTES=4,096" in str(error.value) and len(responses.calls) == 2


@responses.activate
def test_a_total_needing_more_pages_than_the_cap_is_refused_at_the_first_page(client):
    responses.get(f"{BASE}/v1/results", json=page("results", [{"race_id": "r"}] * 100, 10 ** 9, 0, 100))
    with pytest.raises(BadResponse) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert "10000000 pages" in str(error.value) and "RACING_API_MAX_PAGES=200" in str(error.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_listing_whose_total_keeps_growing_stops_after_the_first_totals_pages(client):
    for n in range(10):  # each page claims 100 more items than the last
        responses.get(f"{BASE}/v1/results",
                      json=page("results", [{"race_id": f"r{n}-{i}"} for i in range(100)],
                                 250 + 100 * n, 100 * n, 100))
    results = client.results(date(2026, 3, 1), ("gb",))
    assert len(responses.calls) == 3 and len(results) == 300  # ceil(250 / 100) pages


@responses.activate
def test_a_page_larger_than_asked_for_is_a_bad_response(client):
    responses.get(f"{BASE}/v1/results", json=page("results", [{}] * 101, 101, 0, 100))
    with pytest.raises(BadResponse) as error:
        client.results(date(2026, 3, 1), ("gb",))
    assert "101 items, more than the 100" in str(error.value)


@responses.activate
def test_a_redirect_to_another_host_is_never_followed(client):
    from darkhorses.racing_api.client import RedirectRefused
    responses.get(f"{BASE}/v1/odds/r1/h1", status=302, headers={"Location": "https://evil.example.test/steal"})
    responses.get("https://evil.example.test/steal", json={"horse": "stolen"})
    with pytest.raises(RedirectRefused) as error:
        client.runner_odds("r1", "h1")
    assert "evil.example.test" in str(error.value) and "RACING_API_URL" in str(error.value)
    assert [c.request.url for c in responses.calls] == [f"{BASE}/v1/odds/r1/h1"]


@responses.activate
def test_a_redirect_on_the_same_host_is_followed(client):
    responses.get(f"{BASE}/v1/odds/r1/h1", status=301, headers={"Location": "/v1/odds/r1/h1/"})
    responses.get(f"{BASE}/v1/odds/r1/h1/", json={"horse": "X"})
    assert client.runner_odds("r1", "h1") == {"horse": "X"}


def test_plain_http_to_another_machine_is_warned_about_once(caplog):
    from darkhorses.racing_api.client import _warned_plain_http
    _warned_plain_http.clear()
    with caplog.at_level("WARNING", logger="darkhorses.racing_api"):
        for url in ("http://api.example.test", "http://api.example.test", "http://127.0.0.1:8765",
                    "http://localhost:1", "http://[::1]:2", "https://api.example.test"):
            RacingAPIClient(settings_from_env({"RACING_API_URL": url, "RACING_API_USERNAME": "u",
                                               "RACING_API_PASSWORD": "secret-pw"})).close()
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1 and "api.example.test" in warnings[0] and "secret-pw" not in warnings[0]


@responses.activate
def test_api_text_in_errors_and_logs_has_control_characters_escaped(client, caplog):
    responses.get(f"{BASE}/v1/odds/r1/h%0Afake", status=503)
    responses.get(f"{BASE}/v1/odds/r1/h%0Afake", status=422, json={"detail": "no\nINFO forged line\x1b[31m"})
    with caplog.at_level("WARNING", logger="darkhorses.racing_api"), pytest.raises(RequestRefused) as error:
        client.runner_odds("r1", "h\nfake")
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)
    assert "no\\x0aINFO forged line\\x1b[31m" in error.value.detail
    assert all("\n" not in r.getMessage() for r in caplog.records)


@responses.activate
def test_a_listing_of_short_pages_stops_at_the_page_cap():
    api = _client_with(RACING_API_MAX_PAGES="4")
    for n in range(10):  # one item a page while claiming 300: would take 300 requests
        responses.get(f"{BASE}/v1/results", json=page("results", [{"race_id": f"r{n}"}], 300, n, 100))
    with pytest.raises(BadResponse) as error:
        api.results(date(2026, 3, 1), ("gb",))
    assert "after RACING_API_MAX_PAGES=4 pages" in str(error.value) and len(responses.calls) == 4
