"""A racecard as rows: the race's, runners' and bookmakers' values read from the API's strings.

Pure: no database, no HTTP. A malformed runner or price is skipped and counted, never the race.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime

from ..core.clock import uk_date, uk_time
from ..core.logsafe import Tally, safe
from ..racing_api.bookmakers import bookmaker_for
from ..racing_api.values import parse_price, parse_timestamp, text, to_int

log = logging.getLogger(__name__)

LIVE_KEY = ("race_id", "horse_id", "bookmaker_id")
# What decides whether a stored row must be rewritten; timestamps are not part of it.
COMPARED = ("race_date", "race_time", "off_dt", "course", "course_id", "country", "race_name",
            "race_class", "race_type", "distance", "going", "runners", "horse_name",
            "horse_number", "draw", "jockey", "trainer", "age", "weight", "form",
            "bookmaker_name", "bookmaker_type", "odds_decimal", "odds_fractional", "ew_places",
            "ew_denom", "market_status")
UPDATED = COMPARED + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
# A quote's own fields: when only these differ, the row is rewritten with these alone.
QUOTE = ("odds_decimal", "odds_fractional", "ew_places", "ew_denom", "market_status")
QUOTE_UPDATED = QUOTE + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
QUOTE_STAMPED = QUOTE + ("odds_timestamp",)  # a quote row; the rest of QUOTE_UPDATED is the cycle's own
# Rows as tuples: a new or rewritten live row, a history row.
WHOLE = LIVE_KEY + UPDATED + ("created_at",)
HISTORY = ("race_id", "horse_id", "bookmaker_id", "odds_decimal", "odds_fractional", "changed_at", "observed_at")
assert COMPARED[-len(QUOTE):] == QUOTE and QUOTE[:2] == ("odds_decimal", "odds_fractional")


class MalformedRace(ValueError):
    pass


# A parsed price is a tuple (the runner's RUNNER tuple, then PRICE): a day's prices as
# dicts held ~4x the memory, and the write path compares and COPYs tuples as they are.
RACE = COMPARED[:12]
RUNNER = ("horse_id",) + COMPARED[12:20]
PRICE = ("bookmaker_id", "bookmaker_name", "bookmaker_type", "odds_decimal", "odds_fractional",
         "ew_places", "ew_denom", "odds_timestamp")
assert RACE[-1] == "runners" and RUNNER[-1] == "form" and COMPARED[20:22] == PRICE[1:3]


@dataclass
class ParsedRace:
    race_id: str
    off_dt: datetime
    abandoned: bool
    meta: dict
    prices: list[tuple] = field(default_factory=list)  # one per runner and bookmaker: (RUNNER tuple, *PRICE)
    # The API's own earlier prices per (horse, bookmaker), parsed only for prices new to us.
    raw_history: dict[tuple[str, str], list] = field(default_factory=dict)
    runners: int = 0
    skipped_runners: int = 0
    skipped_prices: int = 0
    duplicate_runners: int = 0
    horses: set[str] = field(default_factory=set)        # every runner on the card, priced or not
    non_runners: set[str] = field(default_factory=set)   # runners every bookmaker shows as '-'
    unknown_bookmakers: dict[str, str] = field(default_factory=dict)  # id -> name as the API spells it

    @property
    def rows(self) -> list[dict]:
        """The prices as ra_odds_live rows, built afresh on each access (for readers of one race;
        the write path uses `prices`)."""
        return [{**self.meta, **dict(zip(RUNNER, price[0], strict=True)), **dict(zip(PRICE, price[1:], strict=True))}
                for price in self.prices]


def parse_racecard(card: dict, bad_runners: Tally | None = None) -> ParsedRace:
    """A racecard as rows for ra_odds_live; bad runners and prices are skipped and counted
    (into `bad_runners` for one summary line, else a line each); a runner listed twice
    counts once, its last listing kept."""
    if not isinstance(card, dict):
        raise MalformedRace("racecard is not an object")
    race_id = text(card.get("race_id"), 32)
    off_dt = parse_timestamp(card.get("off_dt"))
    if not race_id or off_dt is None:
        raise MalformedRace(f"race {race_id or '?'}: missing race_id or a readable off_dt")
    region = text(card.get("region"), 8)
    meta = {
        "race_id": race_id,
        "race_date": uk_date(off_dt),
        "race_time": uk_time(off_dt),
        "off_dt": off_dt,
        "course": text(card.get("course"), 64) or "",  # never null for the readers
        "course_id": text(card.get("course_id"), 32),
        "country": region.upper() if region else None,
        "race_name": text(card.get("race_name"), 255),
        "race_class": text(card.get("race_class"), 32),
        "race_type": text(card.get("type"), 32),
        "distance": text(card.get("distance"), 32),
        "going": text(card.get("going"), 64),
        "runners": to_int(card.get("field_size")),
    }
    race = ParsedRace(race_id, off_dt, card.get("is_abandoned") is True, meta)
    runners = card.get("runners")
    if not isinstance(runners, list):
        raise MalformedRace(f"race {race_id}: runners is not a list")
    by_horse: dict[str, list[tuple]] = {}
    for runner in runners:
        start = len(race.prices)
        try:
            horse_id = _parse_runner(race, runner)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            race.skipped_runners += 1
            horse = runner.get("horse_id") if isinstance(runner, dict) else None
            reason = f"race {race_id} runner {horse}: {exc}"
            if bad_runners is not None:
                bad_runners.add(reason)
            else:
                log.warning("skipped malformed runner %s", safe(reason, 300))
            continue
        if horse_id in by_horse:
            race.duplicate_runners += 1
            race.runners -= 1
        by_horse[horse_id] = race.prices[start:]
    if race.duplicate_runners:
        race.prices = [price for prices in by_horse.values() for price in prices]
        kept = {(price[0][0], price[1]) for price in race.prices}
        race.raw_history = {k: v for k, v in race.raw_history.items() if k in kept}
    return race


def _parse_runner(race: ParsedRace, runner: dict) -> str:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    runner_meta = (  # RUNNER's order
        horse_id,
        text(runner.get("horse"), 128) or horse_id,  # never null for the readers
        to_int(runner.get("number")),
        to_int(runner.get("draw")),
        text(runner.get("jockey"), 128),
        text(runner.get("trainer"), 128),
        to_int(runner.get("age")),
        text(runner.get("lbs"), 8),
        text(runner.get("form"), 32),
    )
    race.horses.add(horse_id)
    odds = runner.get("odds") or []
    if not isinstance(odds, list):
        raise ValueError("odds is not a list")
    race.runners += 1
    # '-' from every book is how a declared non-runner shows on a racecard.
    if odds and all(isinstance(q, dict) and str(q.get("decimal")).strip() == "-" for q in odds):
        race.non_runners.add(horse_id)
    seen = set()
    for quote in odds:
        bookmaker = bookmaker_for(quote.get("bookmaker")) if isinstance(quote, dict) else None
        values = _quote_values(quote.get("decimal"), quote.get("fractional"), quote.get("ew_places"),
                               quote.get("ew_denom"), quote.get("updated")) if bookmaker else None
        if values is None or bookmaker.id in seen:
            race.skipped_prices += 1
            continue
        seen.add(bookmaker.id)
        if bookmaker.type == "unknown":
            race.unknown_bookmakers.setdefault(bookmaker.id, bookmaker.name)
        race.prices.append((runner_meta, bookmaker.id, bookmaker.name, bookmaker.type) + values)  # (RUNNER, *PRICE)
        if quote.get("history"):
            race.raw_history[(horse_id, bookmaker.id)] = quote["history"]
    return horse_id


def _quote_values(decimal, fractional, ew_places, ew_denom, updated) -> tuple | None:
    """PRICE's quote values (odds_decimal on) from a quote's strings; None for no price.
    A card repeats the same few odds and stamps, so strings are parsed once per process."""
    try:
        return _cached_quote_values(decimal, fractional, ew_places, ew_denom, updated)
    except TypeError:  # a list or dict where a string belongs: unhashable, parsed uncached
        return _parse_quote_values(decimal, fractional, ew_places, ew_denom, updated)


def _parse_quote_values(decimal, fractional, ew_places, ew_denom, updated) -> tuple | None:
    price = parse_price(decimal, fractional)
    if price is None:
        return None
    return (round(price, 3),  # as numeric(10,3) stores it, so an unchanged price compares equal
            text(fractional, 16), text(ew_places, 8), text(ew_denom, 8), parse_timestamp(updated))


_cached_quote_values = functools.lru_cache(maxsize=16384, typed=True)(_parse_quote_values)


def earlier_prices(race_id: str, horse_id: str, bookmaker_id: str, history) -> list[dict]:
    """History rows from the API's `history` list of a quote; unreadable entries are dropped."""
    rows = []
    for earlier in history if isinstance(history, list) else ():
        if not isinstance(earlier, dict):
            continue
        price = parse_price(earlier.get("decimal"), earlier.get("fractional"))
        # The spec's history entries carry `changed_at`; accept `updated` as the quote itself does.
        changed_at = parse_timestamp(earlier.get("changed_at") or earlier.get("updated"))
        if price is not None and changed_at is not None:
            rows.append({"race_id": race_id, "horse_id": horse_id, "bookmaker_id": bookmaker_id,
                         "odds_decimal": price, "odds_fractional": text(earlier.get("fractional"), 16),
                         "changed_at": changed_at})
    return rows
