"""Live prices: the current price per bookmaker, every change of it, and the races polled.

Names and types of the replaced service's columns are kept exactly (docs/switching.md):
its readers query them. Ours are added beside them.
"""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, ViewBase, utcnow
from .views import SOURCES

# Prices as the readers see them: numeric(10,3), returned to Python as floats.
OddsDecimal = Numeric(10, 3, asdecimal=False)
# SMALLINT on PostgreSQL; INTEGER on SQLite, where only that makes an autoincrementing key.
SmallKey = SmallInteger().with_variant(Integer(), "sqlite")


class Bookmaker(Base):
    __tablename__ = "ra_bookmakers"

    bookmaker_id: Mapped[str] = mapped_column(Text, primary_key=True)
    bookmaker_name: Mapped[str] = mapped_column(Text)
    bookmaker_type: Mapped[str] = mapped_column(Text)  # fixed | exchange | unknown (a name not in our list)
    active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, server_default=text("CURRENT_TIMESTAMP"))


class LiveRaceFacts(Base):
    """A race's columns of the live prices, once per race (the card last written). Read by the
    view `ra_odds_live` beside each of the race's prices."""
    __tablename__ = "ra_live_race_facts"
    __table_args__ = (
        Index("ix_ra_live_race_facts_race_date", "race_date"),  # readers: races today and tomorrow, live by date
        Index("ix_ra_live_race_facts_off_dt", "off_dt"),  # readers: upcoming races
    )

    # Columns in alignment order (8-byte, 4, then text): no byte is padding.
    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    race_date: Mapped[date] = mapped_column(Date)
    race_time: Mapped[time | None] = mapped_column(Time)  # UK clock time of the off
    runners: Mapped[int | None] = mapped_column(Integer)
    course: Mapped[str] = mapped_column(Text)
    course_id: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(8))
    race_name: Mapped[str | None] = mapped_column(Text)
    race_class: Mapped[str | None] = mapped_column(Text)
    race_type: Mapped[str | None] = mapped_column(Text)
    distance: Mapped[str | None] = mapped_column(Text)
    going: Mapped[str | None] = mapped_column(Text)


class LiveRunnerFacts(Base):
    """A runner's columns of the live prices, once per runner (ra_live_runners' key)."""
    __tablename__ = "ra_live_runner_facts"

    runner_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    horse_number: Mapped[int | None] = mapped_column(Integer)
    draw: Mapped[int | None] = mapped_column(Integer)
    age: Mapped[int | None] = mapped_column(Integer)
    horse_name: Mapped[str] = mapped_column(Text)
    jockey: Mapped[str | None] = mapped_column(Text)
    trainer: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[str | None] = mapped_column(Text)  # the API's `lbs`
    form: Mapped[str | None] = mapped_column(Text)


class LiveBookFacts(Base):
    """Each (bookmaker name, type) pair a price was written with, numbered: the old service's
    rows may name one bookmaker id two ways, so this is exact where one row per id would not be."""
    __tablename__ = "ra_live_book_facts"
    __table_args__ = (
        # The writer's and the INSERT trigger's lookup of a pair (a NULL type is one pair too).
        UniqueConstraint("bookmaker_name", "bookmaker_type", postgresql_nulls_not_distinct=True),
    )

    book_facts_key: Mapped[int] = mapped_column(SmallKey, primary_key=True, autoincrement=True)
    bookmaker_name: Mapped[str] = mapped_column(Text)
    bookmaker_type: Mapped[str | None] = mapped_column(Text)  # fixed | exchange | unknown


class LivePrice(Base):
    """One row per (runner, bookmaker): the latest price seen before the off, narrow (about 140
    bytes a price with its key, from 888 wide): the race's, runner's and bookmaker's text live
    once in the facts tables, and readers see it all joined as the view `ra_odds_live`.

    `fetched_at` is when the row was last written; the view's is the race's last check
    (`LiveRace.fetched_at`), so "last confirmed" stays true while an unchanged price costs no write."""
    __tablename__ = "ra_live_prices"
    __table_args__ = (
        # The only index: a race's prices (its runners' keys, then each bookmaker), the
        # writer's UPDATE … FROM by key, and the natural key.
        PrimaryKeyConstraint("runner_key", "bookmaker_key", name="pk_ra_live_prices"),
        # Pages packed full: only today's rows are ever updated (docs/data.md, fillfactor).
        {"postgresql_with": {"fillfactor": 100}},
    )

    # Columns in alignment order (8-byte, 4, 2, 1, then text): no byte is padding.
    id: Mapped[int] = mapped_column(BigInteger, Identity())  # the contract's id (SQLite: one past the largest)
    odds_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)  # bookmaker's `updated`
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when we saw it become a non-runner
    runner_key: Mapped[int] = mapped_column(Integer)
    odds_x10000: Mapped[int | None] = mapped_column(Integer)  # decimal odds x 10,000, as ra_odds_moves
    bookmaker_key: Mapped[int] = mapped_column(SmallKey)
    book_facts_key: Mapped[int] = mapped_column(SmallKey)
    # The index of the status in MARKET_STATUSES (OPEN | CLOSED | ABANDONED | NON_RUNNER)
    market_status_code: Mapped[int | None] = mapped_column(SmallInteger, server_default=text("0"))
    in_play: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    odds_fractional: Mapped[str | None] = mapped_column(String(16))
    ew_places: Mapped[str | None] = mapped_column(String(8))
    ew_denom: Mapped[str | None] = mapped_column(String(8))
    market_type: Mapped[str | None] = mapped_column(Text, server_default=text("'WIN'"))


class OddsLive(ViewBase):
    """The view `ra_odds_live`: one row per (race, horse, bookmaker), the replaced service's
    table as its readers know it, over the narrow tables above. An INSERT into it (one row at
    a time: tests, hand repairs) goes through a trigger into them; the collector writes them itself."""
    __tablename__ = "ra_odds_live"

    race_id: Mapped[str] = mapped_column(Text, primary_key=True)
    horse_id: Mapped[str] = mapped_column(Text, primary_key=True)
    bookmaker_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[int | None] = mapped_column(BigInteger)
    race_date: Mapped[date] = mapped_column(Date)
    race_time: Mapped[time | None] = mapped_column(Time)  # UK clock time of the off
    off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    course: Mapped[str] = mapped_column(Text)
    course_id: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(8))
    race_name: Mapped[str | None] = mapped_column(Text)
    race_class: Mapped[str | None] = mapped_column(Text)
    race_type: Mapped[str | None] = mapped_column(Text)
    distance: Mapped[str | None] = mapped_column(Text)
    going: Mapped[str | None] = mapped_column(Text)
    runners: Mapped[int | None] = mapped_column(Integer)
    horse_name: Mapped[str] = mapped_column(Text)
    horse_number: Mapped[int | None] = mapped_column(Integer)
    draw: Mapped[int | None] = mapped_column(Integer)
    jockey: Mapped[str | None] = mapped_column(Text)
    trainer: Mapped[str | None] = mapped_column(Text)
    age: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[str | None] = mapped_column(Text)
    form: Mapped[str | None] = mapped_column(Text)
    bookmaker_name: Mapped[str] = mapped_column(Text)
    bookmaker_type: Mapped[str | None] = mapped_column(Text, default="fixed")
    market_type: Mapped[str | None] = mapped_column(Text, default="WIN")
    odds_decimal: Mapped[float | None] = mapped_column(OddsDecimal)
    odds_fractional: Mapped[str | None] = mapped_column(Text)
    ew_places: Mapped[str | None] = mapped_column(String(8))
    ew_denom: Mapped[str | None] = mapped_column(String(8))
    market_status: Mapped[str | None] = mapped_column(Text, default="OPEN")  # MARKET_STATUSES
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_play: Mapped[bool | None] = mapped_column(Boolean, default=False)
    odds_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)  # the race's last check
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class LiveRunner(Base):
    """A runner of a race, numbered: the compact key a price move refers to (4 bytes instead of
    two ids of text on every row of ra_odds_moves)."""
    __tablename__ = "ra_live_runners"
    __table_args__ = (UniqueConstraint("race_id", "horse_id"),)  # a race's runners: the charts' way in

    runner_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    race_id: Mapped[str] = mapped_column(String(32))
    horse_id: Mapped[str] = mapped_column(String(32))


class BookmakerKey(Base):
    """A bookmaker id, numbered (2 bytes on every move). Every id a move ever had, so an
    adopted or unknown bookmaker needs no row in ra_bookmakers."""
    __tablename__ = "ra_bookmaker_keys"

    bookmaker_key: Mapped[int] = mapped_column(SmallKey, primary_key=True, autoincrement=True)
    bookmaker_id: Mapped[str] = mapped_column(String(32), unique=True)


# ra_odds_history.source: a move we saw in a poll, or one the close-out read afterwards from the
# bookmaker's history[] (a move made between two polls before the race closed).
OBSERVED, CLOSEOUT = SOURCES  # ra_odds_moves.source_code is the index in SOURCES: 2 bytes, not text


class OddsMove(Base):
    """Append-only: one row per price a bookmaker offered, keyed by when they set it; read as
    the view `ra_odds_history` (race_id, horse_id, bookmaker_id, odds_decimal, ...).

    Narrow on purpose (about 60 bytes a row with its key): a year is ~37M rows. Columns in
    alignment order (8-byte, 4, 2, then text) so no byte is padding. On PostgreSQL
    partitioned by month of changed_at (darkhorses.db.partitions)."""
    __tablename__ = "ra_odds_moves"
    __table_args__ = (
        # The only index: a runner's moves (charts, movers, min/max, market lines), and the
        # natural key that keeps a redelivered cycle from writing a move twice.
        PrimaryKeyConstraint("runner_key", "bookmaker_key", "changed_at", name="pk_ra_odds_moves"),
        # The day's count of moves (collection health): BRIN, a few pages for a year, since
        # moves are appended in the order we see them.
        Index("ix_ra_odds_moves_observed_at_day_counts", "observed_at", postgresql_using="brin"),
    )

    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the bookmaker's `updated`
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when we saw it
    runner_key: Mapped[int] = mapped_column(Integer)
    odds_x10000: Mapped[int] = mapped_column(Integer)  # decimal odds x 10,000: 4 bytes, exact to 4 places
    bookmaker_key: Mapped[int] = mapped_column(SmallKey)
    source_code: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))  # SOURCES
    odds_fractional: Mapped[str | None] = mapped_column(String(16))


class OddsHistory(ViewBase):
    """The view `ra_odds_history`: every move with its race, horse and bookmaker ids, as the
    table of that name had them. An INSERT into it (one row at a time: tests, hand repairs)
    goes through a trigger into ra_odds_moves; the collector writes ra_odds_moves itself."""
    __tablename__ = "ra_odds_history"

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    horse_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bookmaker_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    odds_decimal: Mapped[float] = mapped_column(Float)
    odds_fractional: Mapped[str | None] = mapped_column(String(16))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16), default=OBSERVED)


class CloseReason:
    """Why a race's market closed (ra_live_races.close_reason): the first terminal signal seen."""
    RESULT = "result"        # its result appeared in /v1/results/today
    ABANDONED = "abandoned"  # is_abandoned on its card
    STATUS = "status"        # race_status said it is off or finished
    QUIET = "quiet"          # no price moved for LIVE_OFF_QUIET_SECONDS past the scheduled off
    CAP = "cap"              # LIVE_OFF_CAP_MINUTES past the scheduled off


CLOSE_REASONS = (CloseReason.RESULT, CloseReason.ABANDONED, CloseReason.STATUS, CloseReason.QUIET, CloseReason.CAP)


class LiveRace(Base):
    """One row per race the live loop has seen: when it runs, when we last checked it, and
    its off as it happened (a race stays OPEN past its scheduled `off_dt` until a terminal signal)."""
    __tablename__ = "ra_live_races"
    __table_args__ = (Index("ix_ra_live_races_race_date", "race_date"),)

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    race_date: Mapped[date] = mapped_column(Date)
    off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    course: Mapped[str | None] = mapped_column(String(64))
    race_name: Mapped[str | None] = mapped_column(String(255))
    market_status: Mapped[str] = mapped_column(String(16), default="OPEN")
    captures: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The card as last written (a hash) and its parse counts: an identical card is not parsed again.
    card_digest: Mapped[str | None] = mapped_column(String(32))
    card_counts: Mapped[dict | None] = mapped_column(JSON)
    # The off. `off_dt` above is the latest scheduled time (every value in ra_race_off_times).
    last_move_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # newest price change seen
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the cycle that saw the terminal signal
    close_reason: Mapped[str | None] = mapped_column(String(16))  # CLOSE_REASONS
    off_late_seconds: Mapped[float | None] = mapped_column(Float)  # estimated real off minus scheduled off
    # The close-out: one /v1/racecards/{race_id}/pro read after the close (history[] back-fill).
    closeout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # done (null: still due)
    closeout_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    closeout_moves: Mapped[int | None] = mapped_column(Integer)  # rows it added to ra_odds_history
    closeout_error: Mapped[str | None] = mapped_column(Text)


class RaceOffTime(Base):
    """Every scheduled off the API gave a race, with when we first saw it: the first row is
    the original schedule, each later one a re-timing."""
    __tablename__ = "ra_race_off_times"

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    off_dt: Mapped[datetime] = mapped_column(UTCDateTime)


class Withdrawal(Base):
    """A runner withdrawn from its race (a non-runner), with its last prices, for Rule 4."""
    __tablename__ = "ra_withdrawals"
    __table_args__ = (Index("ix_ra_withdrawals_race_date", "race_date"),)

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    horse_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    race_date: Mapped[date] = mapped_column(Date)
    horse_name: Mapped[str | None] = mapped_column(String(128))
    withdrawn_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the cycle that first saw it gone
    last_price: Mapped[float | None] = mapped_column(Float)  # best across books just before
    last_price_books: Mapped[int | None] = mapped_column(Integer)  # books still pricing it then
    reason: Mapped[str] = mapped_column(String(16))  # off_card | no_prices
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set when it came back (a glitch)


class LiveSchedule(Base):
    """When a fetch on its own clock is next due (tomorrow's cards), shared by every process."""
    __tablename__ = "ra_live_schedule"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class MarketLine(Base):
    """Opening and closing prices of each finished runner beside its SP and BSP, so the
    closing-line value of a bet is one SELECT. Null, not zero, when we never captured it."""
    __tablename__ = "ra_market_lines"
    __table_args__ = (Index("ix_ra_market_lines_race_date", "race_date"),)

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    horse_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    race_date: Mapped[date] = mapped_column(Date)
    opening_price: Mapped[float | None] = mapped_column(Float)  # best across books at our first capture
    opening_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_price: Mapped[float | None] = mapped_column(Float)  # best at our last capture before the race closed
    closing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_books: Mapped[int | None] = mapped_column(Integer)  # books offering the closing price
    industry_sp: Mapped[float | None] = mapped_column(Float)
    betfair_sp: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
