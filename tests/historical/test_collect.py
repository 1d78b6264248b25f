"""Results into ra_odds_historical: mapping quirks, returns, the ledger, the daily walk."""
from datetime import date, datetime, time, timedelta, timezone

import pytest
import responses
from celery.schedules import crontab
from sqlalchemy import func, select

from darkhorses.core import task_names
from darkhorses.core.clock import UK
from darkhorses.db import session_scope
from darkhorses.historical import collect, ledger, planning
from darkhorses.historical.collect import DateUnavailable
from darkhorses.historical.ledger import mark as mark_ledger
from darkhorses.historical.mapping import map_results
from darkhorses.historical.planning import DateRefused, check_date
from darkhorses.historical.returns import compute_returns, favourite_ranks, place_terms
from darkhorses.models import CollectionLedger, OddsHistorical, OddsHistory, OddsLive
from tests.builders import page, result, result_runner

BASE = "http://api.example.test"


def collect_day(day):
    """As the task does it: a client of its own, closed afterwards."""
    from darkhorses.racing_api.client import RacingAPIClient
    client = RacingAPIClient()
    try:
        return collect.collect_day(day, client)
    finally:
        client.close()


@pytest.fixture
def canned_api(monkeypatch):
    """Settings pointing at BASE, where `responses` answers."""
    from darkhorses.core.settings import reset_settings
    monkeypatch.setenv("RACING_API_URL", BASE)
    monkeypatch.setenv("RACING_API_USERNAME", "u")
    monkeypatch.setenv("RACING_API_PASSWORD", "p")
    reset_settings()


# -- returns, worked by hand -------------------------------------------------------------------

def test_place_terms_table():
    assert place_terms(4, False) is None
    assert place_terms(5, False) == (2, 0.25) and place_terms(7, True) == (2, 0.25)
    assert place_terms(8, False) == (3, 0.2) and place_terms(16, False) == (3, 0.2)
    assert place_terms(12, True) == (3, 0.25) and place_terms(15, True) == (3, 0.25)
    assert place_terms(16, True) == (4, 0.25)


def test_returns_for_a_winner_a_placed_horse_and_a_loser():
    # 10 runners, not a handicap: 3 places at 1/5. Winner at 5.0 (4/1): place odds 1 + 4/5 = 1.8
    assert compute_returns("1", 5.0, 1, 10, False) == (5.0, 1.8, 6.8)
    # third at 11.0 (10/1): place 1 + 10/5 = 3.0, win 0
    assert compute_returns("3", 11.0, 1, 10, False) == (0.0, 3.0, 3.0)
    # fourth: nothing
    assert compute_returns("4", 3.0, 1, 10, False) == (0.0, 0.0, 0.0)
    # pulled up, fell, unseated, disqualified: nothing
    for position in ("PU", "F", "UR", "DSQ", "0"):
        assert compute_returns(position, 3.0, 1, 10, False) == (0.0, 0.0, 0.0)


def test_dead_heat_rules():
    # dead-heat for first of two at 4.0 (3/1), 8 runners: half the win stake wins -> 2.0;
    # both places are paid in full (positions 1 and 2 are both paying places): 1 + 3/5 = 1.6
    assert compute_returns("1", 4.0, 2, 8, False) == (2.0, 1.6, 3.6)
    # dead-heat for third (the last paying place) of two at 6.0 (5/1): place odds 1 + 5/5 = 2.0, halved
    assert compute_returns("3", 6.0, 2, 8, False) == (0.0, 1.0, 1.0)


def test_small_fields_pay_win_only():
    # 4 runners: no place terms; each-way is two units on the win
    assert compute_returns("1", 3.0, 1, 4, False) == (3.0, None, 6.0)
    assert compute_returns("2", 3.0, 1, 4, False) == (0.0, None, 0.0)


def test_favourite_rank_joint_favourites_share():
    assert favourite_ranks({"a": 3.0, "b": 3.0, "c": 5.0, "d": None}) == {"a": 1, "b": 1, "c": 2}


# -- mapping with the API's quirks (served by `responses`) ------------------------------------------

def test_mapping_every_quirk():
    race = result("rac_1", [
        result_runner("h1", "1", "7/2F", "4.50", bsp="4.8"),
        result_runner("h2", "2", "Evs", "", bsp=""),
        result_runner("h3", "PU", "10/1", "11.00", **{"or": "-", "draw": ""}),
        result_runner("h4", "2", "10/1", "11.00"),     # dead-heat for second
        {"horse": "no id at all"},                      # malformed: skipped
    ], race_name="Kempton Handicap", off_dt="2026-07-04T13:50:00+01:00", region="IRE", off="1:50")
    day = map_results([race, {"race_id": None}])
    assert day.races == 1 and day.skipped_races == 1 and day.skipped_runners == 1
    rows = {r["horse_id"]: r for r in day.rows}
    h1, h2, h3, h4 = rows["h1"], rows["h2"], rows["h3"], rows["h4"]
    assert h1["race_time"] == time(13, 50) and h1["country"] == "IRE"
    assert h1["date_of_race"] == datetime(2026, 7, 4, tzinfo=timezone.utc)  # midnight UTC of the UK date
    assert h1["match_timestamp"] == datetime(2026, 7, 4, 12, 50, tzinfo=timezone.utc)
    assert h1["industry_sp"] == 4.5 and h1["sp_fractional"] == "7/2" and h1["betfair_sp"] == 4.8
    assert h2["industry_sp"] == 2.0 and h2["betfair_sp"] is None
    assert h3["official_rating"] is None and h3["stall_number"] is None and h3["finishing_position"] == "PU"
    assert h1["runners_count"] == 4 and h1["race_class"] == 4 and h1["is_handicap"] is True
    assert (h2["sp_favorite_position"], h1["sp_favorite_position"], h3["sp_favorite_position"],
            h4["sp_favorite_position"]) == (1, 2, 3, 3)
    # 4 runners: win only; h2 and h4 dead-heat for second -> nothing on the win
    assert h1["sp_win_return"] == 4.5 and h1["place_return"] is None and h1["ew_return"] == 9.0
    assert h4["sp_win_return"] == 0.0


@responses.activate
def test_collect_day_upserts_and_a_rerun_changes_nothing(database_url, canned_api):
    runners = [result_runner(f"h{i}", str(i), "5/1", "6.0") for i in range(1, 9)]
    responses.get(f"{BASE}/v1/results", json=page("results", [result("rac_1", runners)]))
    # our own live captures of that race: min/max and the closing best fixed price
    with session_scope() as session:
        seen = datetime(2026, 3, 1, 14, 0, tzinfo=timezone.utc)
        for price, minutes in ((6.0, 0), (7.5, 5), (5.5, 10)):
            session.add(OddsHistory(race_id="rac_1", horse_id="h1", bookmaker_id="bet365", odds_decimal=price,
                                    changed_at=seen + timedelta(minutes=minutes), observed_at=seen))
        for bookmaker, kind, price in (("bet365", "fixed", 5.5), ("betfair", "exchange", 6.1)):
            session.add(OddsLive(race_id="rac_1", horse_id="h1", bookmaker_id=bookmaker, race_date=date(2026, 3, 1),
                                 course="Kempton (AW)", horse_name="H1", bookmaker_name=bookmaker,
                                 odds_timestamp=seen, odds_decimal=price, bookmaker_type=kind, market_status="CLOSED"))
    first = collect_day(date(2026, 3, 1))
    assert first["status"] == "complete" and (first["races"], first["runners"]) == (1, 8)

    runners[0]["sp_dec"] = "6.5"  # a correction from the API overwrites
    responses.replace(responses.GET, f"{BASE}/v1/results", json=page("results", [result("rac_1", runners)]))
    collect_day(date(2026, 3, 1))
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(OddsHistorical)).scalar() == 8
        h1 = session.execute(select(OddsHistorical).where(OddsHistorical.horse_id == "h1")).scalar_one()
        assert h1.industry_sp == 6.5
        assert (h1.pre_race_min, h1.pre_race_max, h1.last_price_before_off) == (5.5, 7.5, 5.5)
        assert (h1.ip_min, h1.ip_max) == (5.5, 7.5)
        assert h1.forecasted_odds == 5.8  # (5.5 + 6.1) / 2: every bookmaker's closing price
        assert (h1.data_source, h1.file_source) == ("darkhorses-workers", "Racing API")
        h2 = session.execute(select(OddsHistorical).where(OddsHistorical.horse_id == "h2")).scalar_one()
        assert (h2.pre_race_min, h2.pre_race_max, h2.last_price_before_off) == (None, None, None)
        ledger = session.get(CollectionLedger, date(2026, 3, 1))
        assert (ledger.status, ledger.races, ledger.runners, ledger.attempts) == ("complete", 1, 8, 2)


@responses.activate
def test_a_day_without_racing_is_settled_empty_and_an_unavailable_date_says_why(database_url, canned_api):
    responses.get(f"{BASE}/v1/results", json=page("results", []),
                  match=[responses.matchers.query_param_matcher({"start_date": "2025-12-25"}, strict_match=False)])
    responses.get(f"{BASE}/v1/results", status=422,
                  json={"detail": "Outside your plan: results before 2025-11-28 need the add-on"},
                  match=[responses.matchers.query_param_matcher({"start_date": "2015-01-01"}, strict_match=False)])
    assert collect_day(date(2025, 12, 25))["status"] == "empty"
    with pytest.raises(DateUnavailable):
        collect_day(date(2015, 1, 1))
    with session_scope() as session:
        ledger = session.get(CollectionLedger, date(2015, 1, 1))
        assert ledger.status == "unavailable" and "add-on" in ledger.last_error
    # neither date is planned again, and they do not block later dates
    with session_scope() as session:
        assert planning.plan(session, date(2015, 1, 1), date(2015, 1, 3), newest_first=False) == [
            date(2015, 1, 2), date(2015, 1, 3)]
        assert date(2025, 12, 25) not in planning.daily_dates(session, date(2025, 12, 27), 14)


def test_ledger_resume_skips_settled_dates_in_both_orders(db_session):
    for day, status in ((date(2026, 2, 2), "complete"), (date(2026, 2, 3), "failed"), (date(2026, 2, 4), "empty")):
        ledger.update(db_session, day, status=status)
    assert planning.plan(db_session, date(2026, 2, 1), date(2026, 2, 5)) == [
        date(2026, 2, 5), date(2026, 2, 3), date(2026, 2, 1)]
    assert planning.plan(db_session, date(2026, 2, 1), date(2026, 2, 5), newest_first=False) == [
        date(2026, 2, 1), date(2026, 2, 3), date(2026, 2, 5)]
    progress = planning.progress(db_session, date(2026, 2, 1), date(2026, 2, 5))
    assert (progress["total"], progress["done"], progress["remaining"]) == (5, 3, 2)


def test_daily_schedule_through_both_2026_clock_changes_collects_every_day_once(db_session):
    """Beat's 01:00 Europe/London crontab walked minute by minute from March to November 2026
    with a controlled clock. 01:00 does not exist on 29 March (clocks jump 01:00 -> 02:00) and
    happens once on 25 October; whatever beat does, every UK day is collected exactly once."""
    clock = {"now": datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)}
    schedule = crontab(hour=1, minute=0, nowfun=lambda: clock["now"].astimezone(UK))
    collected = []

    def collect(day):  # stands in for the API; the ledger logic under test is the real one
        collected.append(day)
        ledger.update(db_session, day, status="complete", races=1, runners=1)

    for n in range(1, 16):  # everything before the walk was collected already
        ledger.update(db_session, date(2026, 3, 20) - timedelta(days=n), status="complete")
    last_run = clock["now"].astimezone(UK)
    runs = []
    end = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)
    while clock["now"] < end:
        due, _next = schedule.is_due(last_run)
        if due:
            now_uk = clock["now"].astimezone(UK)
            runs.append(now_uk)
            last_run = now_uk
            for day in planning.daily_dates(db_session, now_uk.date(), 14):
                collect(day)
        clock["now"] += timedelta(minutes=5)
    expected = [date(2026, 3, 20) + timedelta(days=n) for n in range((date(2026, 11, 4) - date(2026, 3, 20)).days + 1)]
    assert sorted(collected) == expected
    assert len(collected) == len(set(collected))
    # and the runs really happened at 01:00 UK time on both sides of each change
    assert all(r.hour in (1, 2) for r in runs)
    assert any(r.date() == date(2026, 3, 30) for r in runs) and any(r.date() == date(2026, 10, 26) for r in runs)


def test_resume_re_enqueues_a_stalled_backfill_and_restarts_its_lost_progress_chain(database_url, redis_url,
                                                                                    monkeypatch):
    import redis as redis_client

    from darkhorses.db import session_scope as scope
    from darkhorses.models import BackfillRequest
    from darkhorses.tasks.app import app
    app.loader.import_default_modules()
    with session_scope() as session:
        opened = datetime.now(timezone.utc)
        planning.open_request(session, "bf-1", date(2026, 2, 1), date(2026, 2, 5), True, opened)
        planning.open_request(session, "bf-2", date(2026, 3, 1), date(2026, 3, 2), True, opened)
    mark_ledger(date(2026, 2, 3), status="complete")
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    with scope() as session:
        session.get(BackfillRequest, "bf-1").reported_at = long_ago
        session.get(BackfillRequest, "bf-1").progressed_at = long_ago
    monkeypatch.setitem(app.conf, "broker_url", redis_url)
    result = app.tasks[task_names.HISTORICAL_RESUME].apply().get()
    assert result == {"resumed": ["bf-1"]}  # bf-2 is fresh: left alone
    queued = redis_client.Redis.from_url(redis_url).lrange("historical", 0, -1)
    bodies = b"\n".join(queued)
    assert len(queued) == 5  # four unsettled dates + the restarted progress chain
    assert b"2026-02-03" not in bodies and b"2026-02-05" in bodies and b"bf-1" in bodies
    with scope() as session:
        assert session.get(BackfillRequest, "bf-1").resumes == 1


# -- hostile, duplicated and amended answers (issue 12) ---------------------------------------

def _stored(day=date(2026, 3, 1)):
    with session_scope() as session:
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)  # how date_of_race is stored
        rows = session.execute(select(OddsHistorical.race_id, OddsHistorical.horse_id,
                                      OddsHistorical.finishing_position, OddsHistorical.sp_win_return)
                               .where(OddsHistorical.date_of_race == midnight)).all()
        ledger = session.get(CollectionLedger, day)
    return {(r.race_id, r.horse_id): (r.finishing_position, r.sp_win_return) for r in rows}, ledger


@responses.activate
def test_a_runner_listed_twice_is_one_runner_not_a_dead_heat_with_itself(database_url, canned_api):
    runners = [result_runner("h1", "1", "4/1", "5.0")] + [
        result_runner(f"h{i}", str(i), "6/1", "7.0") for i in range(2, 7)]
    runners.append(dict(runners[0]))  # the same winner again
    responses.get(f"{BASE}/v1/results", json=page("results", [result("rac_1", runners)]))
    summary = collect_day(date(2026, 3, 1))
    with session_scope() as session:
        h1 = session.execute(select(OddsHistorical).where(OddsHistorical.horse_id == "h1")).scalar_one()
    # 6 runners, not a handicap: 2 places at 1/4; 4/1 wins 5.0, places at 1 + 4/4 = 2.0
    assert (h1.sp_win_return, h1.place_return, h1.ew_return, h1.runners_count) == (5.0, 2.0, 7.0, 6)
    stored, ledger = _stored()
    assert (ledger.races, ledger.runners) == (1, 6) and len(stored) == 6
    assert (summary["runners"], summary["duplicate_runners"]) == (6, 1)


@responses.activate
def test_a_race_repeated_on_two_pages_of_a_large_day_is_stored_once(database_url, canned_api):
    races = [result(f"rac_{n}", [result_runner(f"h{n}_{i}", str(i), "5/1", "6.0") for i in range(1, 11)])
             for n in range(25)]  # 250 rows: the COPY-and-merge path
    races[3]["runners"][0]["sp_dec"] = "9.0"
    repeated = dict(races[3], runners=[dict(r) for r in races[3]["runners"]])
    repeated["runners"][0]["sp_dec"] = "6.5"  # the later page's copy wins
    responses.get(f"{BASE}/v1/results", json=page("results", races[:20], total=26),
                  match=[responses.matchers.query_param_matcher({"skip": "0"}, strict_match=False)])
    responses.get(f"{BASE}/v1/results", json=page("results", races[20:] + [repeated], total=26, skip=20),
                  match=[responses.matchers.query_param_matcher({"skip": "20"}, strict_match=False)])
    summary = collect_day(date(2026, 3, 1))
    assert (summary["status"], summary["races"], summary["runners"], summary["duplicate_races"]) == (
        "complete", 25, 250, 1)
    with session_scope() as session:
        sp = session.execute(select(OddsHistorical.industry_sp).where(OddsHistorical.horse_id == "h3_1")).scalar_one()
    assert sp == 6.5


@responses.activate
def test_an_amended_day_replaces_what_was_stored_in_one_go(database_url, canned_api):
    first = [result("rac_1", [result_runner(f"h{i}", str(i), "5/1", "6.0") for i in range(1, 6)]),
             result("rac_2", [result_runner(f"g{i}", str(i), "5/1", "6.0") for i in range(1, 6)],
                    off_dt="2026-03-01T15:00:00+00:00"),
             result("rac_3", [result_runner(f"k{i}", str(i), "5/1", "6.0") for i in range(1, 6)],
                    off_dt="2026-03-01T15:30:00+00:00")]
    responses.get(f"{BASE}/v1/results", json=page("results", first))
    collect_day(date(2026, 3, 1))
    assert len(_stored()[0]) == 15
    # h1 disqualified and removed (h2 promoted), rac_2 voided and gone, rac_3 unreadable this time
    amended = [result("rac_1", [result_runner("h2", "1", "5/1", "6.0")] + [
        result_runner(f"h{i}", str(i - 1), "5/1", "6.0") for i in range(3, 6)]), {"race_id": "rac_3", "runners": None}]
    responses.replace(responses.GET, f"{BASE}/v1/results", json=page("results", amended))
    summary = collect_day(date(2026, 3, 1))
    stored, ledger = _stored()
    assert summary["removed"] == 6 and summary["skipped_races"] == 1
    assert sorted(stored) == [("rac_1", "h2"), ("rac_1", "h3"), ("rac_1", "h4"), ("rac_1", "h5")] + [
        ("rac_3", f"k{i}") for i in range(1, 6)]
    assert sorted(k for k, (position, _) in stored.items() if position == "1") == [("rac_1", "h2"), ("rac_3", "k1")]
    assert (ledger.status, ledger.races, ledger.runners) == ("complete", 2, 9)
    # an answer with no races at all is an API fault, not an amendment: nothing is dropped
    responses.replace(responses.GET, f"{BASE}/v1/results", json=page("results", []))
    collect_day(date(2026, 3, 1))
    assert len(_stored()[0]) == 9
    # the replaced service's rows of the date (no race or horse ids) are not counted as amended
    # runners nor in the ledger (re-collecting replaces them: _replace_legacy_rows)
    with session_scope() as session:
        session.add(OddsHistorical(date_of_race=datetime(2026, 3, 1, tzinfo=timezone.utc), track="Kempton"))
    responses.replace(responses.GET, f"{BASE}/v1/results", json=page("results", amended[:1]))
    summary = collect_day(date(2026, 3, 1))
    stored, ledger = _stored()
    assert summary["removed"] == 5 and len(stored) == 4
    assert (ledger.races, ledger.runners) == (1, 4)


@responses.activate
def test_a_malformed_result_runner_is_skipped_and_counted_never_the_race(database_url, canned_api):
    runners = [result_runner("h1", 1, "4/1", "5.0"),  # position as an integer
               "not a runner", {"horse": "no id"},
               result_runner("h2", "2", "6/1", "7.0")]
    responses.get(f"{BASE}/v1/results", json=page("results", [result("rac_1", runners)]))
    summary = collect_day(date(2026, 3, 1))
    assert (summary["races"], summary["runners"], summary["skipped_runners"], summary["skipped_races"]) == (1, 2, 2, 0)
    stored, _ = _stored()
    assert stored == {("rac_1", "h1"): ("1", 5.0), ("rac_1", "h2"): ("2", 0.0)}


def test_a_date_not_over_yet_is_refused_and_nothing_is_recorded(database_url):
    from darkhorses.core.clock import uk_date
    today = uk_date(datetime.now(timezone.utc))
    for day in (today, today + timedelta(days=1), date(2014, 12, 31)):
        with pytest.raises(DateRefused) as error:
            collect_day(day)
        assert "\n" not in str(error.value) and str(day) in str(error.value)
    with session_scope() as session:
        with pytest.raises(DateRefused, match="starts after it ends"):
            planning.plan(session, date(2026, 2, 5), date(2026, 2, 1))
        with pytest.raises(DateRefused, match="not over yet"):
            planning.plan(session, today - timedelta(days=3), today)
        assert check_date(today - timedelta(days=1)) == today - timedelta(days=1)
        assert planning.daily_dates(session, date(2015, 1, 3), 30) == [date(2015, 1, 1), date(2015, 1, 2)]
        assert session.execute(select(func.count()).select_from(CollectionLedger)).scalar() == 0


@responses.activate
def test_a_failed_collection_never_leaves_the_date_running(database_url, canned_api):
    from darkhorses.racing_api.client import CredentialsRejected
    responses.get(f"{BASE}/v1/results", status=401, json={"detail": "Not authenticated"})
    with pytest.raises(CredentialsRejected):
        collect_day(date(2026, 3, 1))
    _, ledger = _stored()
    assert ledger.status == "failed" and "CredentialsRejected" in ledger.last_error
