"""The Racing API's answers built by hand, for the tests and the benchmarks: one place for them.

Racecards (/v1/racecards/pro): `card` holds `runner`s, each quoted by `quote`s; `FakeCards`
stands in for the client's racecards call. Results (/v1/results): `result` holds
`result_runner`s; `FakeResults` stands in for the client's results call. `page` is the
envelope every listing comes in. Last, one race stored with its price history (`load_fixture`),
the race the chart and report tests draw.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from darkhorses.db import session_scope
from darkhorses.models import LiveRace, OddsHistory, OddsLive

# -- racecards ------------------------------------------------------------------------------------


def quote(bookmaker, decimal, fractional, updated="2026-11-28T13:40:00+00:00", history=None):
    """One bookmaker's price of a runner, each-way 1/5 three places."""
    return {"bookmaker": bookmaker, "fractional": fractional, "decimal": decimal, "ew_places": "3",
            "ew_denom": "5", "updated": updated, **({"history": history} if history is not None else {})}


def runner(horse_id, odds, **extra):
    """A runner of a racecard with its `odds` (a list of `quote`s); `extra` adds or replaces fields."""
    return {"horse_id": horse_id, "horse": f"Horse {horse_id}", "number": "1", "draw": "4", "lbs": "140",
            "jockey": "A Jockey", "trainer": "A Trainer", "age": "5", "form": "1-23", "odds": odds, **extra}


def card(race_id="rac_1", off_dt="2026-11-28T13:50:00+00:00", runners=None, **extra):
    """A racecard at Kempton; `extra` adds or replaces fields."""
    return {"race_id": race_id, "course": "Kempton", "course_id": "crs_1", "date": "2026-11-28",
            "off_time": "1:50", "off_dt": off_dt, "race_name": "Kempton Handicap", "region": "GB",
            "race_class": "Class 4", "type": "Flat", "distance": "1m", "going": "Standard",
            "field_size": "8", "runners": runners or [], **extra}


class FakeCards:
    """Stands in for the HTTP client's racecards call: the cards whose off_dt falls on the day
    asked for (so today's, and nothing tomorrow). With `on`, every card on that day, whatever
    its off_dt says, and none on any other. Also today's results (`results`, as results/today
    answers) and one race's card by id (the close-out's call; `race_cards` overrides a race's
    answer, an exception raised), each call noted in `requests`."""

    def __init__(self, cards, on: date | None = None, results=None):
        self.cards, self.on = cards, on
        self.results = results if results is not None else []
        self.race_cards: dict = {}
        self.requests: list[tuple] = []

    def racecards_pro(self, day, regions):
        self.requests.append(("racecards", day))
        if self.on is not None:
            return list(self.cards) if day == self.on else []
        return [c for c in self.cards if c["off_dt"][:10] == day.isoformat()]

    def results_today(self, regions):
        self.requests.append(("results_today",))
        return list(self.results)

    def racecard_pro(self, race_id):
        from darkhorses.racing_api.client import RequestRefused
        self.requests.append(("racecard", race_id))
        answer = self.race_cards.get(race_id) or next((c for c in self.cards if c["race_id"] == race_id), None)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise RequestRefused(f"/v1/racecards/{race_id}/pro: 404", 404, "Race not found")
        return answer


# -- results --------------------------------------------------------------------------------------


def result_runner(horse_id, position, sp, sp_dec, **extra):
    """A runner of a result: its finishing position and starting price; `extra` adds or replaces fields."""
    base = {"horse_id": horse_id, "horse": f"Horse {horse_id}", "sp": sp, "sp_dec": sp_dec, "number": "1",
            "position": position, "draw": "3", "btn": "0", "ovr_btn": "0", "age": "4", "sex": "G",
            "weight": "9-7", "weight_lbs": "133", "headgear": "", "time": "1:40.1", "or": "78", "rpr": "80",
            "tsr": "70", "prize": "", "jockey": "J Doe", "jockey_id": "jky_1", "trainer": "T Roe",
            "trainer_id": "trn_1", "owner": "O", "owner_id": "own_1", "sire": "S", "sire_id": "s",
            "dam": "D", "dam_id": "d", "damsire": "DS", "damsire_id": "ds", "comment": ""}
    return {**base, **extra}


def result(race_id, runners, race_name="Novice Stakes", off_dt="2026-03-01T14:30:00+00:00", region="gb", off="2:30",
           **extra):
    """A race's result at Kempton (AW), dated by `off_dt`; `extra` adds or replaces fields."""
    return {"race_id": race_id, "date": off_dt[:10], "region": region, "course": "Kempton (AW)",
            "course_id": "crs_1", "off": off, "off_dt": off_dt, "race_name": race_name, "type": "Flat",
            "class": "Class 4", "pattern": "", "rating_band": "", "age_band": "4yo+", "sex_rest": "",
            "dist": "1m", "dist_y": "1760", "dist_m": "1609", "dist_f": "8.0f", "going": "Standard",
            "runners": runners, "non_runners": "", **extra}


class FakeResults:
    """Stands in for the HTTP client's results call: the results dated the day asked for."""

    def __init__(self, races):
        self.races = races

    def results(self, day, regions):
        return [r for r in self.races if r["date"] == day.isoformat()]


def page(key, items, total=None, skip=0, limit=100):
    """One page of a listing as the API sends it: `items` under `key` ("results", "racecards"),
    `total` (by default, the items given) and the paging the page was asked with."""
    return {key: items, "total": len(items) if total is None else total, "skip": skip, "limit": limit, "query": []}


# -- one race stored with its price history -------------------------------------------------------

FIXTURE_OFF = datetime(2026, 11, 28, 14, 30, tzinfo=timezone.utc)
# horse -> bookmaker -> [(minutes before the off, price)]
FIXTURE_HISTORY = {"h1": {"bet365": [(60, 3.0), (30, 2.5), (5, 2.25)], "coral": [(50, 3.5), (10, 2.75)]},
                   "h2": {"bet365": [(60, 6.0), (20, 8.0)], "coral": [(55, 5.5)]}}


def load_fixture(session=None):
    """The race r1 with its price history, in `session` (a test's rolled-back one) or committed."""
    if session is None:
        with session_scope() as session:
            return load_fixture(session)
    off = FIXTURE_OFF
    session.add(LiveRace(race_id="r1", race_date=date(2026, 11, 28), off_dt=off, course="Kempton",
                         race_name="Fixture Handicap", market_status="CLOSED", captures=40, fetched_at=off))
    for horse, books in FIXTURE_HISTORY.items():
        for book, moves in books.items():
            session.add(OddsLive(race_id="r1", horse_id=horse, bookmaker_id=book, race_date=date(2026, 11, 28),
                                 horse_name=f"Name {horse}", off_dt=off, odds_decimal=moves[-1][1],
                                 course="Kempton", bookmaker_name=book, odds_timestamp=off))
            for minutes, price in moves:
                session.add(OddsHistory(race_id="r1", horse_id=horse, bookmaker_id=book, odds_decimal=price,
                                        changed_at=off - timedelta(minutes=minutes),
                                        observed_at=off - timedelta(minutes=minutes)))
    session.flush()
