"""Live prices: the current price per bookmaker, every change of it, and the races polled.

Names and types of the replaced service's columns are kept exactly (docs/switching.md):
its readers query them. Ours are added beside them.
"""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, Boolean, Date, Float, Index, Integer, Numeric, String, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow

# Prices as the readers see them: numeric(10,3), returned to Python as floats.
OddsDecimal = Numeric(10, 3, asdecimal=False)


class Bookmaker(Base):
    __tablename__ = "ra_bookmakers"

    bookmaker_id: Mapped[str] = mapped_column(Text, primary_key=True)
    bookmaker_name: Mapped[str] = mapped_column(Text)
    bookmaker_type: Mapped[str] = mapped_column(Text)  # fixed | exchange | unknown (a name not in our list)
    active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, server_default=text("CURRENT_TIMESTAMP"))


class OddsLive(Base):
    """One row per (race, horse, bookmaker): the latest price seen before the off.

    This is the physical table; readers query the view `ra_odds_live` over it, whose
    `fetched_at` is when the race was last checked (`LiveRace.fetched_at`), so "last
    confirmed" stays true while an unchanged price costs no write. Here `fetched_at` is when
    the row was last written (for adopted rows, the old service's value).
    """
    __tablename__ = "ra_odds_live_prices"
    __table_args__ = (
        UniqueConstraint("race_id", "horse_id", "bookmaker_id", name="uq_ra_odds_live_race_id_horse_id_bookmaker_id"),
        Index("ix_ra_odds_live_race_date_course", "race_date", "course"),
        Index("ix_ra_odds_live_bookmaker_id_horse_id", "bookmaker_id", "horse_id"),  # per-bookmaker coverage
        Index("ix_ra_odds_live_off_dt", "off_dt"),
        # Room on each page so a price update is a HOT update: no index entries rewritten.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    race_id: Mapped[str] = mapped_column(Text)
    horse_id: Mapped[str] = mapped_column(Text)
    bookmaker_id: Mapped[str] = mapped_column(Text)
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
    weight: Mapped[str | None] = mapped_column(Text)  # the API's `lbs`
    form: Mapped[str | None] = mapped_column(Text)
    bookmaker_name: Mapped[str] = mapped_column(Text)
    bookmaker_type: Mapped[str | None] = mapped_column(Text, server_default=text("'fixed'"))
    market_type: Mapped[str | None] = mapped_column(Text, server_default=text("'WIN'"))
    odds_decimal: Mapped[float | None] = mapped_column(OddsDecimal)
    odds_fractional: Mapped[str | None] = mapped_column(Text)
    ew_places: Mapped[str | None] = mapped_column(String(8))
    ew_denom: Mapped[str | None] = mapped_column(String(8))
    # OPEN | CLOSED | ABANDONED | NON_RUNNER
    market_status: Mapped[str | None] = mapped_column(Text, default="OPEN", server_default=text("'OPEN'"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when we saw it become a non-runner
    in_play: Mapped[bool | None] = mapped_column(Boolean, default=False, server_default=text("false"))
    odds_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)  # bookmaker's `updated`
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow,
                                                        server_default=text("CURRENT_TIMESTAMP"))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow,
                                                        server_default=text("CURRENT_TIMESTAMP"))


# ra_odds_history.source: a move we saw in a poll, or one the close-out read afterwards from the
# bookmaker's history[] (a move made between two polls before the race closed).
OBSERVED = "observed"
CLOSEOUT = "closeout"


class OddsHistory(Base):
    """Append-only: one row per price a bookmaker offered, keyed by when they set it."""
    __tablename__ = "ra_odds_history"
    __table_args__ = (
        UniqueConstraint("race_id", "horse_id", "bookmaker_id", "changed_at"),
        Index("ix_ra_odds_history_observed_at", "observed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    race_id: Mapped[str] = mapped_column(String(32))
    horse_id: Mapped[str] = mapped_column(String(32))
    bookmaker_id: Mapped[str] = mapped_column(String(32))
    odds_decimal: Mapped[float] = mapped_column(Float)
    odds_fractional: Mapped[str | None] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the bookmaker's `updated`
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when we saw it
    source: Mapped[str] = mapped_column(String(16), default=OBSERVED, server_default=text(f"'{OBSERVED}'"))


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
