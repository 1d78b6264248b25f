"""Results of finished races, and the per-date ledger that makes collection resumable."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow

LEDGER_STATUSES = ("pending", "running", "complete", "empty", "unavailable", "failed")
# Statuses that mean "nothing more to fetch for this date".
LEDGER_DONE = ("complete", "empty")


class OddsHistorical(Base):
    __tablename__ = "ra_odds_historical"
    __table_args__ = (
        UniqueConstraint("race_id", "horse_id"),
        Index("ix_ra_odds_historical_race_date_track", "race_date", "track"),
        Index("ix_ra_odds_historical_country", "country"),
        Index("ix_ra_odds_historical_updated_at", "updated_at"),  # recent activity without a scan
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    race_id: Mapped[str] = mapped_column(String(32))
    horse_id: Mapped[str] = mapped_column(String(32))
    race_date: Mapped[date] = mapped_column(Date)
    country: Mapped[str | None] = mapped_column(String(8))
    track: Mapped[str | None] = mapped_column(String(64))
    course_id: Mapped[str | None] = mapped_column(String(32))
    race_time: Mapped[str | None] = mapped_column(String(5))
    off_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    race_name: Mapped[str | None] = mapped_column(String(255))
    going: Mapped[str | None] = mapped_column(String(64))
    race_type: Mapped[str | None] = mapped_column(String(32))
    distance: Mapped[str | None] = mapped_column(String(32))
    distance_f: Mapped[float | None] = mapped_column(Float)
    race_class: Mapped[int | None] = mapped_column(Integer)
    is_handicap: Mapped[bool | None] = mapped_column()
    runners_count: Mapped[int | None] = mapped_column(Integer)
    horse_name: Mapped[str | None] = mapped_column(String(128))
    official_rating: Mapped[int | None] = mapped_column(Integer)
    age: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[str | None] = mapped_column(String(16))
    weight_lbs: Mapped[int | None] = mapped_column(Integer)
    jockey: Mapped[str | None] = mapped_column(String(128))
    jockey_id: Mapped[str | None] = mapped_column(String(32))
    trainer: Mapped[str | None] = mapped_column(String(128))
    trainer_id: Mapped[str | None] = mapped_column(String(32))
    headgear: Mapped[str | None] = mapped_column(String(16))
    stall: Mapped[int | None] = mapped_column(Integer)
    finishing_position: Mapped[str | None] = mapped_column(String(16))  # as published
    beaten_distance: Mapped[str | None] = mapped_column(String(16))
    industry_sp: Mapped[float | None] = mapped_column(Float)
    sp_fractional: Mapped[str | None] = mapped_column(String(16))
    sp_fav_rank: Mapped[int | None] = mapped_column(Integer)
    betfair_sp: Mapped[float | None] = mapped_column(Float)
    pre_race_min: Mapped[float | None] = mapped_column(Float)
    pre_race_max: Mapped[float | None] = mapped_column(Float)
    last_price_before_off: Mapped[float | None] = mapped_column(Float)
    win_return: Mapped[float | None] = mapped_column(Float)
    place_return: Mapped[float | None] = mapped_column(Float)
    ew_return: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollectionLedger(Base):
    """One row per UK race date: how far historical collection got."""
    __tablename__ = "ra_collection_ledger"

    race_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    races: Mapped[int] = mapped_column(Integer, default=0)
    runners: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackfillRequest(Base):
    """A backfill asked for, kept in the database so it survives a lost broker: the resume
    job re-enqueues its unsettled dates if the work stalls or the progress chain is lost."""
    __tablename__ = "ra_backfill_requests"
    __table_args__ = (Index("ix_ra_backfill_requests_status", "status"),)

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    newest_first: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | complete
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the progress chain's last tick
    progressed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when `done` last grew
