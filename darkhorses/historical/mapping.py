"""The Racing API's results as ra_odds_historical rows: one row per runner, with SP, returns and
the favourite rank. Pure: no database, no HTTP. Bad races and runners are skipped and counted,
repeated ones collapsed (the last kept) and counted."""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from ..analysis.non_runners import ParsedNonRunner, parse_non_runners
from ..core.clock import day_start, uk_date, uk_time
from ..core.logsafe import Tally
from ..racing_api.values import parse_sp, parse_timestamp, text, to_float, to_int
from .returns import compute_returns, favourite_ranks

log = logging.getLogger(__name__)

# Who wrote a row (the replaced service left its own values here) and where it came from.
DATA_SOURCE, FILE_SOURCE = "darkhorses-workers", "Racing API"


@dataclass
class MappedDay:
    rows: list[dict]
    races: int = 0
    skipped_races: int = 0
    skipped_runners: int = 0
    duplicate_races: int = 0    # a race repeated in the answer (paging while data shifts): last kept
    duplicate_runners: int = 0  # a runner listed twice in a race: last kept, not a dead heat
    # What the answer held but could not be read: its stored rows stay as they are.
    unreadable_races: set = field(default_factory=set)
    unreadable_runners: set = field(default_factory=set)
    # The results' `non_runners` text, parsed (darkhorses/analysis/non_runners.py).
    non_runners: list[ParsedNonRunner] = field(default_factory=list)
    skipped_non_runners: int = 0


def map_results(results: list[dict]) -> MappedDay:
    """API results as ra_odds_historical rows; bad races and runners are skipped and counted,
    repeated races and runners collapsed (the last one kept) and counted."""
    day = MappedDay(rows=[])
    races: dict[str, list[dict]] = {}
    non_runners: dict[str, list[ParsedNonRunner]] = {}
    bad_races, bad_runners = Tally(), Tally()
    for result in results:
        try:
            race_id, rows = _map_race(result, day, bad_runners)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            day.skipped_races += 1
            bad_id = text(result.get("race_id"), 32) if isinstance(result, dict) else None
            if bad_id:
                day.unreadable_races.add(bad_id)
            bad_races.add(f"result {bad_id}: {exc}")
            continue
        if race_id in races:
            day.duplicate_races += 1
        races[race_id] = rows
        if rows:
            non_runners[race_id], skipped = parse_non_runners(result.get("non_runners"), race_id,
                                                              rows[0]["date_of_race"].date())
            day.skipped_non_runners += skipped
    bad_races.warn(log, "results")
    bad_runners.warn(log, "result runners")
    if day.duplicate_races or day.duplicate_runners:
        log.warning("results repeated %d races and %d runners; the last of each kept",
                    day.duplicate_races, day.duplicate_runners)
    day.races = len(races)
    day.rows = [row for rows in races.values() for row in rows]
    day.non_runners = [row for rows in non_runners.values() for row in rows]
    return day


def _race_fields(result: dict) -> dict:
    race_id = text(result["race_id"], 32)
    if not race_id:
        raise ValueError("no race_id")
    off_dt = parse_timestamp(result.get("off_dt"))
    race_date = uk_date(off_dt) if off_dt else date.fromisoformat(str(result["date"])[:10])
    region = text(result.get("region"), 8)
    race_name = text(result.get("race_name"), 255)
    race_class = re.search(r"\d+", str(result.get("class") or ""))
    return {
        "race_id": race_id, "date_of_race": day_start(race_date),
        "country": region.upper() if region else None,
        "track": text(result.get("course"), 64), "course_id": text(result.get("course_id"), 32),
        "race_time": uk_time(off_dt) if off_dt else None, "match_timestamp": off_dt,
        "race_name": race_name, "going": text(result.get("going"), 64),
        "race_type": text(result.get("type"), 32), "distance": text(result.get("dist"), 32),
        "distance_f": to_float(str(result.get("dist_f") or "").rstrip("f")),
        "race_class": int(race_class.group()) if race_class else None,
        "is_handicap": "handicap" in (race_name or "").lower(),
    }


def _runner_fields(runner: dict) -> dict:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    sp, sp_fractional = parse_sp(runner.get("sp"), runner.get("sp_dec"))
    bsp = to_float(runner.get("bsp"))
    return {"horse_id": horse_id, "horse_name": text(runner.get("horse"), 128),
            "official_rating": to_int(runner.get("or")), "age": to_int(runner.get("age")),
            "weight": text(runner.get("weight"), 16), "weight_lbs": to_int(runner.get("weight_lbs")),
            "jockey": text(runner.get("jockey"), 128), "jockey_id": text(runner.get("jockey_id"), 32),
            "trainer": text(runner.get("trainer"), 128), "trainer_id": text(runner.get("trainer_id"), 32),
            "headgear": text(runner.get("headgear"), 16), "stall_number": to_int(runner.get("draw")),
            "finishing_position": text(runner.get("position"), 16), "winning_distance": text(runner.get("btn"), 16),
            "industry_sp": sp, "sp_fractional": sp_fractional, "betfair_sp": bsp if bsp else None}


def _map_race(result: dict, day: MappedDay, bad_runners: Tally) -> tuple[str, list[dict]]:
    """(race_id, rows) of one result; a malformed runner is skipped and counted, never the race."""
    race = _race_fields(result)
    race_id = race["race_id"]
    runners: dict[str, dict] = {}
    for runner in result["runners"]:
        try:
            fields = _runner_fields(runner)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            day.skipped_runners += 1
            horse_id = text(runner.get("horse_id"), 32) if isinstance(runner, dict) else None
            if horse_id:
                day.unreadable_runners.add((race_id, horse_id))
            bad_runners.add(f"race {race_id} runner {horse_id}: {exc}")
            continue
        if fields["horse_id"] in runners:
            day.duplicate_runners += 1
        runners[fields["horse_id"]] = fields
    race["runners_count"] = field_size = len(runners)
    ties = Counter(r["finishing_position"] or "" for r in runners.values())
    ranks = favourite_ranks({h: r["industry_sp"] for h, r in runners.items()})
    rows = []
    for horse_id, runner in runners.items():
        position = runner["finishing_position"]
        win, place, each_way = compute_returns(position, runner["industry_sp"], ties[position or ""],
                                               field_size, race["is_handicap"])
        rows.append({**race, **runner, "sp_win_return": win, "place_return": place, "ew_return": each_way,
                     "data_source": DATA_SOURCE, "file_source": FILE_SOURCE,
                     "sp_favorite_position": ranks.get(horse_id)})
    return race_id, rows
