"""The live prices already stored for the races a cycle polls, read from the narrow tables in the
shapes a parsed price compares with (darkhorses.live.parse), so a cycle writes only what changed."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import driver_cursor
from ..models import BookmakerKey, LiveBookFacts, LivePrice, LiveRaceFacts, LiveRunner, LiveRunnerFacts
from ..models.views import MARKET_STATUSES, PRICE_SCALE, RACE_FACTS, RUNNER_FACTS
from .parse import BookValues, Card, Quote, RaceValues, RunnerValues

Key = tuple[str, str, str]  # (race_id, horse_id, bookmaker_id)
RunnerId = tuple[str, str]  # (race_id, horse_id)
# A stored price's own columns, in the order read: its keys, the bookmaker's stamp, the quote.
PRICE_READ = ("runner_key", "bookmaker_key", "book_facts_key", "odds_timestamp", "odds_x10000", "odds_fractional",
              "ew_places", "ew_denom", "market_status_code")


class StoredRow(NamedTuple):
    """A live price as stored, in the shapes a parsed price compares with, and its keys."""
    quote: Quote
    odds_timestamp: datetime | None  # the bookmaker's `updated` stamp as stored
    card: Card
    book: BookValues
    runner_key: int


@dataclass
class Stored:
    """What is stored for a cycle's races: each price by key, and the keys and facts they refer to
    (the writer numbers what is missing and writes facts only where they changed)."""
    rows: dict[Key, StoredRow] = field(default_factory=dict)
    runner_keys: dict[RunnerId, int] = field(default_factory=dict)
    race_facts: dict[str, RaceValues] = field(default_factory=dict)
    runner_facts: dict[RunnerId, RunnerValues] = field(default_factory=dict)
    bookmaker_keys: dict[str, int] = field(default_factory=dict)  # every bookmaker id numbered
    book_keys: dict[BookValues, int] = field(default_factory=dict)  # every (name, type) pair numbered


def read_stored(session: Session, race_ids: list[str]) -> Stored:
    """The stored prices of these races, with their race's and runner's facts (read once each,
    shared by the prices that refer to them) and the bookmaker numbering (a few dozen rows)."""
    stored = Stored()
    facts, runners, runner_facts = LiveRaceFacts.__table__, LiveRunner.__table__, LiveRunnerFacts.__table__
    for race_id, *values in session.execute(
            select(facts.c.race_id, *(facts.c[c] for c in RACE_FACTS)).where(facts.c.race_id.in_(race_ids))):
        stored.race_facts[race_id] = RaceValues._make(values)
    by_key: dict[int, RunnerId] = {}
    for runner_key, race_id, horse_id, *values in session.execute(
            select(runners.c.runner_key, runners.c.race_id, runners.c.horse_id,
                   *(runner_facts.c[c] for c in RUNNER_FACTS))
            .select_from(runners.outerjoin(runner_facts, runner_facts.c.runner_key == runners.c.runner_key))
            .where(runners.c.race_id.in_(race_ids))):
        runner = (race_id, horse_id)
        stored.runner_keys[runner], by_key[runner_key] = runner_key, runner
        if values[0] is not None:  # horse_name is never null: a runner of the history alone has no facts
            stored.runner_facts[runner] = RunnerValues._make(values)
    stored.bookmaker_keys = read_bookmaker_keys(session)
    book_ids = {key: bookmaker_id for bookmaker_id, key in stored.bookmaker_keys.items()}
    stored.book_keys = read_book_keys(session)
    book_values = {key: values for values, key in stored.book_keys.items()}
    cards: dict[RunnerId, Card] = {}
    for runner_key, bookmaker_key, book_key, stamp, odds, fractional, places, denom, status in _prices(
            session, sorted(by_key)):
        race_id, horse_id = runner = by_key[runner_key]
        card = cards.get(runner)
        if card is None:
            card = cards[runner] = Card(stored.race_facts[race_id], stored.runner_facts[runner])
        # As stored: an adopted row may have no price or status (None, which no parsed quote equals).
        quote = Quote._make((None if odds is None else odds / PRICE_SCALE, fractional, places, denom,
                             None if status is None else MARKET_STATUSES[status]))
        stored.rows[(race_id, horse_id, book_ids[bookmaker_key])] = StoredRow(
            quote, stamp, card, book_values[book_key], runner_key)
    return stored


def read_bookmaker_keys(session: Session) -> dict[str, int]:
    """bookmaker_id -> bookmaker_key, every id numbered (a few dozen rows)."""
    books = BookmakerKey.__table__
    return {bookmaker_id: key for key, bookmaker_id in session.execute(
        select(books.c.bookmaker_key, books.c.bookmaker_id))}


def read_book_keys(session: Session) -> dict[BookValues, int]:
    """(bookmaker name, type) -> book_facts_key, every pair numbered."""
    facts = LiveBookFacts.__table__
    return {BookValues(name, kind): key for key, name, kind in session.execute(
        select(facts.c.book_facts_key, facts.c.bookmaker_name, facts.c.bookmaker_type))}


def _prices(session: Session, runner_keys: list[int]):
    """The PRICE_READ columns of these runners' prices. On PostgreSQL straight from the driver:
    psycopg2 returns the types the rows compare with; SQLAlchemy's per-value result processing
    would cost more, on every cycle."""
    if not runner_keys:
        return []
    if session.get_bind().dialect.name == "postgresql":
        cursor = driver_cursor(session)
        cursor.execute(f"SELECT {', '.join(PRICE_READ)} FROM {LivePrice.__tablename__} WHERE runner_key = ANY(%s)",
                       (runner_keys,))
        return cursor.fetchall()
    prices = LivePrice.__table__
    return session.execute(select(*(prices.c[c] for c in PRICE_READ)).where(prices.c.runner_key.in_(runner_keys))).all()
