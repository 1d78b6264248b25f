"""The Simulator: its state and clock, and the endpoint methods that return exactly what the HTTP
side serves (or raise ApiError as it would answer)."""
from __future__ import annotations

import random
import threading
from collections import OrderedDict, deque
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from .cards import Cards
from .markets import Markets
from .model import ApiError, Faults, Race
from .protocol import HttpSemantics
from .reference import CARDS_FROM, COURSES, DEFAULT_LIMITS, RACE_HISTORY, RESULTS_FROM, UK, _as_date, _key
from .results import Results


class Simulator(Cards, Markets, Results, HttpSemantics):
    """The API's data and HTTP behaviour. The endpoint methods (racecards_pro, results,
    runner_odds) return exactly what the HTTP side serves, or raise ApiError as it would
    answer; `handle` is the HTTP semantics without a socket; `serve` puts it on one.
    """

    def __init__(self, seed: int = 1, *, username="sim", password="sim", clock=None,
                 faults: Faults | None = None, rate_limits: dict | None = None,
                 results_history_days: int | None = None, anchor=None):
        self.seed = seed
        self._auth = f"{username}:{password}".encode()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.faults = faults or Faults()
        self.rate_limits = {**DEFAULT_LIMITS, **(rate_limits or {})}
        self.results_history_days = results_history_days
        self.anchor = anchor or self.clock()
        self.request_log: list[tuple[float, str, int]] = []
        self.hang_seconds = 30.0
        self._lock = threading.Lock()
        self._windows: dict[str, deque] = {}
        self._days: OrderedDict = OrderedDict()     # recent days, fully built
        self._index: dict[date, tuple] = {}         # see _index_of
        self._fault_rng = random.Random(_key(seed, "faults"))
        self._ids = _key(seed, "ids") % 40_000_000
        self._horse = lru_cache(maxsize=30000)(self._make_horse)
        self._person = lru_cache(maxsize=5000)(self._make_person)
        self._closing = threading.Event()

    # -------------------------------------------------------- time
    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc)

    def today(self) -> date:
        return self.clock().astimezone(UK).date()

    # -------------------------------------------------------- endpoints (in-process)
    @staticmethod
    def _check(name, value, lo, hi):
        """FastAPI/pydantic's 422 for a query integer out of range."""
        if lo is not None and value < lo:
            kind, op, ctx = "greater_than_equal", "greater than or equal to", {"ge": lo}
        elif value > hi:
            kind, op, ctx = "less_than_equal", "less than or equal to", {"le": hi}
        else:
            return
        raise ApiError(422, [{"type": kind, "loc": ["query", name], "input": str(value), "ctx": ctx,
                              "msg": f"Input should be {op} {next(iter(ctx.values()))}"}])

    @staticmethod
    def _regions(regions) -> set[str] | None:
        return {r.upper() for r in regions} if regions else None

    def racecards_pro(self, date: date, regions: list[str] | None = None, limit: int = 500, skip: int = 0,
                      *, query: list | None = None) -> dict:
        """A RacecardsOddsProPage, exactly as GET /v1/racecards/pro serves it."""
        self._check("limit", limit, 1, 500)
        self._check("skip", skip, None, 500)
        day = _as_date(date)
        today = self.today()
        if not CARDS_FROM <= day <= today + timedelta(days=7):
            raise ApiError(422, f"Racecards are available from {CARDS_FROM} to {today + timedelta(days=7)} "
                                f"(one week ahead); {day} is outside that range.")
        wanted = self._regions(regions)
        races = [r for r in self.races_for(day) if wanted is None or r.region in wanted]
        query = query if query is not None else ([["date", day.isoformat()]]
                                                 + [["region_codes", r] for r in regions or ()]
                                                 + [["limit", str(limit)], ["skip", str(skip)]])
        page = races[max(skip, 0):max(skip, 0) + limit]
        return {"racecards": [self._card(r) for r in page], "total": len(races), "limit": limit,
                "skip": skip, "query": query}

    def results(self, start: date | None = None, end: date | None = None, regions: list[str] | None = None,
                limit: int = 50, skip: int = 0, *, query: list | None = None) -> dict:
        """A ResultsStandardPage (newest race first), exactly as GET /v1/results serves it."""
        self._check("limit", limit, 1, 100)
        self._check("skip", skip, None, 20000)
        today, now = self.today(), self.now().timestamp()
        end = _as_date(end) if end else today
        start = _as_date(start) if start else end - timedelta(days=365)
        if start > end:
            raise ApiError(422, "start_date must be on or before end_date.")
        if (end - start).days > 365:
            raise ApiError(422, "The maximum range between start_date and end_date is 365 days.")
        if self.results_history_days is not None and start < today - timedelta(days=self.results_history_days):
            raise ApiError(422, f"Results before {today - timedelta(days=self.results_history_days)} are outside "
                                f"your plan: it covers the last {self.results_history_days} days. The historical "
                                "results add-on is required to query older results.")
        wanted = self._regions(regions)

        def ready(result_ts, region, abandoned):
            return not abandoned and (wanted is None or region in wanted) and result_ts <= now
        total, lo = 0, max(skip, 0)
        page: list[Race] = []
        day = min(end, today)
        while day >= max(start, RESULTS_FROM):
            index = self._index_of(day)
            count = sum(ready(*i) for i in index)
            if count and total + count > lo and len(page) < limit:
                races = [r for r in reversed(self.races_for(day)) if ready(r.result_ts, r.region, r.is_abandoned)]
                first = max(0, lo - total)
                page += races[first:first + limit - len(page)]
            total += count
            day -= timedelta(days=1)
        query = query if query is not None else ([["start_date", start.isoformat()], ["end_date", end.isoformat()]]
                                                 + [["region", r] for r in regions or ()]
                                                 + [["limit", str(limit)], ["skip", str(skip)]])
        return {"results": [self._result(r) for r in page], "total": total, "limit": limit, "skip": skip,
                "query": query}

    def results_today(self, regions: list[str] | None = None, limit: int = 50, skip: int = 0,
                      *, query: list | None = None) -> dict:
        """A ResultsBasicPage (newest race first), as GET /v1/results/today serves it: each race of
        today's UK date a few minutes after it really went off (no Betfair SP yet)."""
        self._check("limit", limit, 1, 100)
        now, wanted = self.now().timestamp(), self._regions(regions)
        races = [r for r in reversed(self.races_for(self.today())) if not r.is_abandoned and r.result_ts <= now
                 and (wanted is None or r.region in wanted)]
        page = races[max(skip, 0):max(skip, 0) + limit]
        results = []
        for race in page:
            result = self._result(race)
            result["runners"] = [{k: v for k, v in runner.items() if k != "bsp"} for runner in result["runners"]]
            results.append(result)
        query = query if query is not None else ([["region", r] for r in regions or ()]
                                                 + [["limit", str(limit)], ["skip", str(skip)]])
        return {"results": results, "total": len(races), "limit": limit, "skip": skip, "query": query}

    def racecard_pro(self, race_id: str) -> dict:
        """A RacecardOddsPro, as GET /v1/racecards/{race_id}/pro serves it: one race with each
        bookmaker's recent history[], also after the race."""
        race = self._find_race(race_id)
        if race is None:
            raise ApiError(404, "Race not found")
        return self._card(race, RACE_HISTORY)

    def runner_odds(self, race_id: str, horse_id: str) -> dict:
        """A RaceRunnerOdds: every bookmaker's price with its full history since the book opened."""
        race = self._find_race(race_id)
        runner = next((r for r in race.runners if r.horse_id == horse_id), None) if race else None
        if runner is None:
            raise ApiError(404, "Race or horse not found")
        return {"race_id": race_id, "horse_id": horse_id, "horse": runner.horse,
                "odds": self._quotes(race, runner, 1000)}

    def _find_race(self, race_id: str) -> Race | None:
        try:
            n = (int(race_id.removeprefix("rac_")) - 10_000_000 - self._ids) % 90_000_000
            day = RESULTS_FROM + timedelta(days=n // 64)
        except (ValueError, OverflowError):
            return None
        if not race_id.startswith("rac_") or day > self.today() + timedelta(days=7):
            return None
        return next((r for r in self.races_for(day) if r.race_id == race_id), None)

    def courses(self, regions: list[str] | None = None) -> dict:
        wanted = self._regions(regions)
        rows = [{"id": c, "course": n, "region_code": g.lower(), "region": "Great Britain" if g == "GB" else "Ireland"}
                for c, n, g, _ in COURSES if wanted is None or g in wanted]
        return {"courses": rows, "total": len(rows)}

