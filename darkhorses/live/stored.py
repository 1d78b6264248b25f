"""The live rows already stored for the races a cycle polls, read in the shapes a parsed price
compares with (darkhorses.live.parse), so a cycle writes only what changed."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Float, cast, select
from sqlalchemy.orm import Session

from ..db import driver_cursor
from ..models import OddsLive
from .parse import BOOK, CARD, LIVE_KEY, QUOTE, BookValues, Card, Quote, RaceValues, RunnerValues

Key = tuple[str, str, str]  # (race_id, horse_id, bookmaker_id)


class StoredRow(NamedTuple):
    """A live row as stored, in the shapes a parsed price compares with."""
    quote: Quote
    odds_timestamp: datetime | None  # the bookmaker's `updated` stamp as stored
    card: Card
    book: BookValues


def _card(values: list) -> Card:
    """A Card from the CARD columns as the database returns them."""
    race, runner = _split(values, RaceValues._fields, RunnerValues._fields)
    return Card(RaceValues._make(race), RunnerValues._make(runner))


def read_stored_rows(session: Session, race_ids: list[str]) -> dict[Key, StoredRow]:
    """The stored live rows of these races, by key.

    On PostgreSQL each row brings its quote alone; the card values that are the same for every
    row of a runner (and the book values of a bookmaker) come once per runner (bookmaker),
    shared by its rows: a third of the decoding and memory. Rows of a runner or bookmaker whose
    stored values differ between rows (a row not rewritten when its card changed) are read whole."""
    live = OddsLive.__table__
    if session.get_bind().dialect.name != "postgresql":
        columns = [cast(live.c[c], Float) if c == "odds_decimal" else live.c[c]
                   for c in LIVE_KEY + QUOTE + ("odds_timestamp",) + CARD + BOOK]
        stored = {}
        for race_id, horse_id, bookmaker_id, *values in session.execute(
                select(*columns).where(live.c.race_id.in_(race_ids))):
            quote, (stamp,), card, book = _split(values, QUOTE, ("odds_timestamp",), CARD, BOOK)
            stored[(race_id, horse_id, bookmaker_id)] = StoredRow(Quote._make(quote), stamp, _card(card),
                                                                  BookValues._make(book))
        return stored
    # Straight from the driver (numeric read as float8): psycopg2 returns the types the
    # rows compare with; SQLAlchemy's per-value result processing would cost more.
    cursor = driver_cursor(session)
    where = f"FROM {live.name} WHERE race_id = ANY(%s)"
    cursor.execute(f"SELECT DISTINCT race_id, horse_id, {', '.join(CARD)} {where}", (race_ids,))
    cards: dict[tuple[str, str], Card] = {}
    mixed = set()
    for race_id, horse_id, *values in cursor:
        if (race_id, horse_id) in cards:
            mixed.add((race_id, horse_id))
        cards[(race_id, horse_id)] = _card(values)
    cursor.execute(f"SELECT DISTINCT bookmaker_id, {', '.join(BOOK)} {where}", (race_ids,))
    books: dict[str, BookValues] = {}
    mixed_books = set()
    for bookmaker_id, *values in cursor:
        if bookmaker_id in books:
            mixed_books.add(bookmaker_id)
        books[bookmaker_id] = BookValues._make(values)
    quote_columns = ", ".join("odds_decimal::float8" if c == "odds_decimal" else c for c in QUOTE)
    cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, odds_timestamp, {quote_columns} {where}", (race_ids,))
    stored = {(race_id, horse_id, bookmaker_id): StoredRow(Quote._make(quote), stamp, cards[(race_id, horse_id)],
                                                           books[bookmaker_id])
              for race_id, horse_id, bookmaker_id, stamp, *quote in cursor}
    if mixed or mixed_books:
        cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, {', '.join(CARD + BOOK)} {where} "
                       "AND (race_id = ANY(%s) OR bookmaker_id = ANY(%s))",
                       (race_ids, sorted({race_id for race_id, _ in mixed}), sorted(mixed_books)))
        for race_id, horse_id, bookmaker_id, *values in cursor:
            if (race_id, horse_id) in mixed or bookmaker_id in mixed_books:
                key = (race_id, horse_id, bookmaker_id)
                card, book = _split(values, CARD, BOOK)
                stored[key] = stored[key]._replace(card=_card(card), book=BookValues._make(book))
    return stored


def _split(values: list, *groups: tuple[str, ...]) -> list[list]:
    """`values` cut into consecutive groups as long as each column list of `groups`."""
    parts, start = [], 0
    for group in groups:
        parts.append(values[start:start + len(group)])
        start += len(group)
    if start != len(values):
        raise ValueError(f"{len(values)} values for {start} columns")
    return parts
