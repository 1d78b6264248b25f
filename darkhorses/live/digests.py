"""Unchanged racecards are not parsed again: a digest of each open race's card is stored with
its rows (ra_live_races.card_digest), and a card identical to the last one written means
its rows already hold what parsing it would produce."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from ..models import LivePrice, LiveRace, LiveRunner
from ..racing_api.values import parse_timestamp, text
from .parse import ParsedRace
from .summary import CycleSummary

# Part of every digest: a change to how cards are parsed must not match old digests.
DIGEST_VERSION = "2"


def card_digest(card: dict) -> str:
    return hashlib.blake2b((DIGEST_VERSION + json.dumps(card, separators=(",", ":"), default=str)).encode(),
                           digest_size=16).hexdigest()


def skip_unchanged(session: Session, cards: list,
                   now: datetime) -> tuple[list, dict[str, str], list[tuple[str, datetime]]]:
    """(cards still to parse, {race: digest} of those that are open, unchanged open races as
    (race_id, off_dt)). Only open races are skipped: closing a race is always done."""
    digests: dict[int, tuple[str, datetime, str]] = {}
    for card in cards:
        off = parse_timestamp(card.get("off_dt")) if isinstance(card, dict) else None
        race_id = text(card.get("race_id"), 32) if off else None
        if race_id and off is not None and off > now and card.get("is_abandoned") is not True:
            digests[id(card)] = (race_id, off, card_digest(card))
    stored = _stored_digests(session, {race_id: digest for race_id, _, digest in digests.values()})
    remaining: list = []
    unchanged: list[tuple[str, datetime]] = []
    for card in cards:
        race_id, off, digest = digests.get(id(card), (None, None, None))
        if race_id is not None and off is not None and stored.get(race_id) == digest:
            unchanged.append((race_id, off))
        else:
            remaining.append(card)
    # A race listed twice keeps its last card's digest, as parsing keeps its last card.
    return remaining, {race_id: digest for race_id, _, digest in digests.values()}, unchanged


def _stored_digests(session: Session, digests: dict[str, str]) -> dict[str, str]:
    """{race: digest} of the races whose stored digest matches and whose rows are still there
    (a race whose rows were deleted behind our back is written again, whatever its digest)."""
    if not digests:
        return {}
    races, runners, prices = LiveRace.__table__, LiveRunner.__table__, LivePrice.__table__
    # A probe of the race's runners, then of a runner's prices, per race.
    has_rows = exists().where(runners.c.race_id == races.c.race_id, prices.c.runner_key == runners.c.runner_key)
    return {race_id: digest for race_id, digest in session.execute(
        select(races.c.race_id, races.c.card_digest).where(races.c.race_id.in_(list(digests)), has_rows))
        if digest == digests[race_id]}


def count_unchanged(session: Session, unchanged: list[tuple[str, datetime]], now: datetime, summary: CycleSummary,
                    bookmakers: set[str], unknown: set[str]) -> None:
    """Unchanged races count in the summary as their last parse did; only their check time
    moves. `bookmakers` and `unknown` (ids outside our list) are those of the parsed races."""
    if not unchanged:
        return
    races = LiveRace.__table__
    ids = [race_id for race_id, _ in unchanged]
    for counts in session.execute(select(races.c.card_counts).where(races.c.race_id.in_(ids))).scalars():
        counts = counts or {}
        summary.races += 1
        summary.runners += counts.get("runners", 0)
        summary.prices += counts.get("prices", 0)
        summary.skipped_runners += counts.get("skipped_runners", 0)
        summary.skipped_prices += counts.get("skipped_prices", 0)
        bookmakers.update(counts.get("bookmakers", ()))
        unknown.update(counts.get("unknown_bookmakers", ()))
    summary.bookmakers = len(bookmakers)
    summary.unknown_bookmakers = len(unknown)
    session.execute(update(races).where(races.c.race_id.in_(ids)).values(
        captures=races.c.captures + 1, fetched_at=now))


def race_counts(race: ParsedRace) -> dict:
    """What a skipped race adds to a cycle's summary: its last parse's counts."""
    return {"runners": race.runners, "prices": len(race.prices), "skipped_runners": race.skipped_runners,
            "skipped_prices": race.skipped_prices, "bookmakers": sorted({price.bookmaker_id for price in race.prices}),
            "unknown_bookmakers": sorted(race.unknown_bookmakers)}
