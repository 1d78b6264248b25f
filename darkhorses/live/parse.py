"""A racecard as rows: the race's, runners' and bookmakers' values read from the API's strings.

Pure: no database, no HTTP. A malformed runner or price is skipped and counted, never the race.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import NamedTuple

from ..core.clock import uk_date, uk_time
from ..core.logsafe import Tally, safe
from ..racing_api.bookmakers import bookmaker_for
from ..racing_api.values import parse_price, parse_timestamp, text, to_int

log = logging.getLogger(__name__)

class MalformedRace(ValueError):
    pass


class RaceValues(NamedTuple):
    """A race's columns of a live row (race_id aside): the same on each of its rows."""
    race_date: date
    race_time: time
    off_dt: datetime
    course: str  # never null for the readers
    course_id: str | None
    country: str | None
    race_name: str | None
    race_class: str | None
    race_type: str | None
    distance: str | None
    going: str | None
    runners: int | None


class RunnerValues(NamedTuple):
    """A runner's columns of a live row (horse_id aside): the same for each of its bookmakers."""
    horse_name: str  # never null for the readers
    horse_number: int | None
    draw: int | None
    jockey: str | None
    trainer: str | None
    age: int | None
    weight: str | None
    form: str | None


class Card(NamedTuple):
    """A price's race and runner values (stored once per race and per runner: ra_live_race_facts,
    ra_live_runner_facts)."""
    race: RaceValues
    runner: RunnerValues


class Runner(NamedTuple):
    horse_id: str
    values: RunnerValues


class BookValues(NamedTuple):
    bookmaker_name: str  # as the API spells it
    bookmaker_type: str  # fixed | exchange | unknown


class Quote(NamedTuple):
    """What a bookmaker offers: a stored price is rewritten when this (or its book) differs."""
    odds_decimal: float
    odds_fractional: str | None
    ew_places: str | None
    ew_denom: str | None
    market_status: str


class Price(NamedTuple):
    """One parsed price: a runner's quote at one bookmaker, and the bookmaker's own stamp of it.
    A day's prices as dicts held ~4x the memory; runner values, book values and quotes are
    shared between the prices that repeat them."""
    runner: Runner
    bookmaker_id: str
    book: BookValues
    quote: Quote
    odds_timestamp: datetime | None


class HistoryRow(NamedTuple):
    """One row of ra_odds_history: a price a bookmaker set, when, and when we saw it."""
    race_id: str
    horse_id: str
    bookmaker_id: str
    odds_decimal: float
    odds_fractional: str | None
    changed_at: datetime
    observed_at: datetime


HISTORY_KEY = ("race_id", "horse_id", "bookmaker_id", "changed_at")
OPEN = "OPEN"


@dataclass
class ParsedRace:
    race_id: str
    off_dt: datetime
    abandoned: bool
    values: RaceValues
    prices: list[Price] = field(default_factory=list)  # one per runner and bookmaker
    # The API's own earlier prices per (horse, bookmaker), parsed only for prices new to us.
    raw_history: dict[tuple[str, str], list] = field(default_factory=dict)
    runners: int = 0
    skipped_runners: int = 0
    skipped_prices: int = 0
    duplicate_runners: int = 0
    horses: set[str] = field(default_factory=set)        # every runner on the card, priced or not
    non_runners: set[str] = field(default_factory=set)   # runners every bookmaker shows as '-'
    unknown_bookmakers: dict[str, str] = field(default_factory=dict)  # id -> name as the API spells it
    status_text: str | None = None  # the card's free-text race_status (empty on UK cards)

    @property
    def rows(self) -> list[dict]:
        """The prices as ra_odds_live rows, built afresh on each access (for readers of one race;
        the write path uses `prices`)."""
        race = {"race_id": self.race_id, **self.values._asdict()}
        return [{**race, "horse_id": price.runner.horse_id, **price.runner.values._asdict(),
                 "bookmaker_id": price.bookmaker_id, **price.book._asdict(), **price.quote._asdict(),
                 "odds_timestamp": price.odds_timestamp} for price in self.prices]


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
    values = RaceValues(
        race_date=uk_date(off_dt),
        race_time=uk_time(off_dt),
        off_dt=off_dt,
        course=text(card.get("course"), 64) or "",
        course_id=text(card.get("course_id"), 32),
        country=region.upper() if region else None,
        race_name=text(card.get("race_name"), 255),
        race_class=text(card.get("race_class"), 32),
        race_type=text(card.get("type"), 32),
        distance=text(card.get("distance"), 32),
        going=text(card.get("going"), 64),
        runners=to_int(card.get("field_size")),
    )
    race = ParsedRace(race_id, off_dt, card.get("is_abandoned") is True, values,
                      status_text=text(card.get("race_status"), 64))
    runners = card.get("runners")
    if not isinstance(runners, list):
        raise MalformedRace(f"race {race_id}: runners is not a list")
    by_horse: dict[str, list[Price]] = {}
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
        kept = {(price.runner.horse_id, price.bookmaker_id) for price in race.prices}
        race.raw_history = {k: v for k, v in race.raw_history.items() if k in kept}
    return race


def _parse_runner(race: ParsedRace, runner: dict) -> str:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    parsed = Runner(horse_id, RunnerValues(
        horse_name=text(runner.get("horse"), 128) or horse_id,
        horse_number=to_int(runner.get("number")),
        draw=to_int(runner.get("draw")),
        jockey=text(runner.get("jockey"), 128),
        trainer=text(runner.get("trainer"), 128),
        age=to_int(runner.get("age")),
        weight=text(runner.get("lbs"), 8),
        form=text(runner.get("form"), 32),
    ))
    race.horses.add(horse_id)
    odds = runner.get("odds") or []
    if not isinstance(odds, list):
        raise ValueError("odds is not a list")
    race.runners += 1
    # '-' from every book is how a declared non-runner shows on a racecard.
    if odds and all(isinstance(q, dict) and str(q.get("decimal")).strip() == "-" for q in odds):
        race.non_runners.add(horse_id)
    seen: set[str] = set()
    for quote in odds:
        bookmaker = bookmaker_for(quote.get("bookmaker")) if isinstance(quote, dict) else None
        offered = _quote(quote.get("decimal"), quote.get("fractional"), quote.get("ew_places"),
                         quote.get("ew_denom"), quote.get("updated")) if bookmaker else None
        if bookmaker is None or offered is None or bookmaker.id in seen:
            race.skipped_prices += 1
            continue
        seen.add(bookmaker.id)
        if bookmaker.type == "unknown":
            race.unknown_bookmakers.setdefault(bookmaker.id, bookmaker.name)
        race.prices.append(Price(parsed, bookmaker.id, _book_values(bookmaker.name, bookmaker.type), *offered))
        if quote.get("history"):
            race.raw_history[(horse_id, bookmaker.id)] = quote["history"]
    return horse_id


@functools.lru_cache(maxsize=1024)
def _book_values(name: str, kind: str) -> BookValues:
    return BookValues(name, kind)


def _quote(decimal, fractional, ew_places, ew_denom, updated) -> tuple[Quote, datetime | None] | None:
    """(the quote, the bookmaker's stamp) from a quote's strings; None for no price. A card
    repeats the same few odds and stamps, so strings are parsed once per process (and equal
    quotes share one tuple)."""
    try:
        return _cached_quote(decimal, fractional, ew_places, ew_denom, updated)
    except TypeError:  # a list or dict where a string belongs: unhashable, parsed uncached
        return _parse_quote(decimal, fractional, ew_places, ew_denom, updated)


def _parse_quote(decimal, fractional, ew_places, ew_denom, updated) -> tuple[Quote, datetime | None] | None:
    price = parse_price(decimal, fractional)
    if price is None:
        return None
    quote = Quote(odds_decimal=round(price, 3),  # as numeric(10,3) stores it: an unchanged price compares equal
                  odds_fractional=text(fractional, 16), ew_places=text(ew_places, 8), ew_denom=text(ew_denom, 8),
                  market_status=OPEN)
    return quote, parse_timestamp(updated)


_cached_quote = functools.lru_cache(maxsize=16384, typed=True)(_parse_quote)


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
