"""Live prices: the current price per bookmaker, every change of it, and the races polled."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class Bookmaker(Base):
    __tablename__ = "ra_bookmakers"

    bookmaker_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))  # fixed | exchange


class OddsLive(Base):
    """One row per (race, horse, bookmaker): the latest price seen before the off.

    Column names are those of the service this replaces; the read API depends on them.
    `fetched_at` is when this price was last written (it changed); when the race was last
    checked is `LiveRace.fetched_at`, so an unchanged price costs no write.
    """
    __tablename__ = "ra_odds_live"
    __table_args__ = (
        UniqueConstraint("race_id", "horse_id", "bookmaker_id"),
        Index("ix_ra_odds_live_race_date_course", "race_date", "course"),
        Index("ix_ra_odds_live_bookmaker_id_horse_id", "bookmaker_id", "horse_id"),  # per-bookmaker coverage
        Index("ix_ra_odds_live_off_dt", "off_dt"),
        # Room on each page so a price update is a HOT update: no index entries rewritten.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    race_id: Mapped[str] = mapped_column(String(32))
    horse_id: Mapped[str] = mapped_column(String(32))
    bookmaker_id: Mapped[str] = mapped_column(String(32))
    race_date: Mapped[date] = mapped_column(Date)
    race_time: Mapped[str | None] = mapped_column(String(5))  # HH:MM, UK time, 24-hour
    off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    course: Mapped[str | None] = mapped_column(String(64))
    course_id: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(8))
    race_name: Mapped[str | None] = mapped_column(String(255))
    race_class: Mapped[str | None] = mapped_column(String(32))
    race_type: Mapped[str | None] = mapped_column(String(32))
    distance: Mapped[str | None] = mapped_column(String(32))
    going: Mapped[str | None] = mapped_column(String(64))
    runners: Mapped[int | None] = mapped_column(Integer)
    horse_name: Mapped[str | None] = mapped_column(String(128))
    horse_number: Mapped[str | None] = mapped_column(String(8))
    draw: Mapped[str | None] = mapped_column(String(8))
    jockey: Mapped[str | None] = mapped_column(String(128))
    trainer: Mapped[str | None] = mapped_column(String(128))
    age: Mapped[str | None] = mapped_column(String(8))
    weight_lbs: Mapped[str | None] = mapped_column(String(8))
    form: Mapped[str | None] = mapped_column(String(32))
    bookmaker_name: Mapped[str | None] = mapped_column(String(64))
    bookmaker_type: Mapped[str | None] = mapped_column(String(16))
    odds_decimal: Mapped[float | None] = mapped_column(Float)
    odds_fractional: Mapped[str | None] = mapped_column(String(16))
    ew_places: Mapped[str | None] = mapped_column(String(8))
    ew_denom: Mapped[str | None] = mapped_column(String(8))
    market_status: Mapped[str] = mapped_column(String(16), default="OPEN")  # OPEN | CLOSED | ABANDONED
    in_play: Mapped[bool] = mapped_column(Boolean, default=False)
    odds_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)  # bookmaker's `updated`
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class LiveRace(Base):
    """One row per race the live loop has seen: when it runs, when we last checked it."""
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
