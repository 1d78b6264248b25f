"""Results of finished races, and the per-date ledger that makes collection resumable."""
from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Boolean, Date, Float, Index, Integer, Numeric, String, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class LedgerStatus(StrEnum):
    """Where historical collection stands for one UK date (ra_collection_ledger.status).
    Written only through darkhorses/historical/ledger.py."""
    PENDING = "pending"          # a transient failure; a retry is scheduled
    RUNNING = "running"
    COMPLETE = "complete"
    EMPTY = "empty"              # collected: no racing that day
    UNAVAILABLE = "unavailable"  # outside the account's plan
    FAILED = "failed"            # retries exhausted, or an error a retry cannot fix
    LEGACY = "legacy"            # the replaced service's rows cover the date; re-collected only on --refresh
    PROVISIONAL = "provisional"  # same-day results from /v1/results/today; the daily job settles it


LEDGER_STATUSES = tuple(LedgerStatus)
# Statuses that mean "nothing more to fetch for this date".
LEDGER_DONE = (LedgerStatus.COMPLETE, LedgerStatus.EMPTY)


# Returns, SP and pre-race prices as the readers see them: numeric(10,4), floats in Python.
Odds4 = Numeric(10, 4, asdecimal=False)


class OddsHistorical(Base):
    """One row per runner of a finished race. The replaced service's columns keep their names
    and types (docs/switching.md); its rows (no race or horse ids) are kept as they are."""
    __tablename__ = "ra_odds_historical"
    __table_args__ = (
        UniqueConstraint("race_id", "horse_id"),
        Index("ix_ra_odds_historical_date_of_race_track", "date_of_race", "track"),
        Index("ix_ra_odds_historical_country", "country"),
        Index("ix_ra_odds_historical_updated_at", "updated_at"),  # recent activity without a scan
    )

    racing_bet_data_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    race_id: Mapped[str | None] = mapped_column(String(32))
    horse_id: Mapped[str | None] = mapped_column(String(32))
    date_of_race: Mapped[datetime | None] = mapped_column(UTCDateTime)  # midnight UTC of the UK date
    country: Mapped[str | None] = mapped_column(String(10))
    track: Mapped[str | None] = mapped_column(Text)
    course_id: Mapped[str | None] = mapped_column(String(32))
    race_time: Mapped[time | None] = mapped_column(Time)  # UK clock time of the off
    match_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the off
    race_name: Mapped[str | None] = mapped_column(Text)
    going: Mapped[str | None] = mapped_column(Text)
    race_type: Mapped[str | None] = mapped_column(Text)
    distance: Mapped[str | None] = mapped_column(Text)
    distance_f: Mapped[float | None] = mapped_column(Float)
    race_class: Mapped[int | None] = mapped_column(Integer)
    is_handicap: Mapped[bool | None] = mapped_column()
    runners_count: Mapped[int | None] = mapped_column(Integer)
    horse_name: Mapped[str | None] = mapped_column(Text)
    official_rating: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    age: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[str | None] = mapped_column(Text)
    weight_lbs: Mapped[int | None] = mapped_column(Integer)
    jockey: Mapped[str | None] = mapped_column(Text)
    jockey_id: Mapped[str | None] = mapped_column(String(32))
    trainer: Mapped[str | None] = mapped_column(Text)
    trainer_id: Mapped[str | None] = mapped_column(String(32))
    headgear: Mapped[str | None] = mapped_column(Text)
    stall_number: Mapped[int | None] = mapped_column(Integer)
    finishing_position: Mapped[str | None] = mapped_column(Text)  # as published
    winning_distance: Mapped[str | None] = mapped_column(Text)  # the API's `btn`
    industry_sp: Mapped[float | None] = mapped_column(Odds4)
    sp_fractional: Mapped[str | None] = mapped_column(String(16))
    sp_favorite_position: Mapped[int | None] = mapped_column(Integer)
    betfair_sp: Mapped[float | None] = mapped_column(Float)
    ip_min: Mapped[float | None] = mapped_column(Odds4)
    ip_max: Mapped[float | None] = mapped_column(Odds4)
    pre_race_min: Mapped[float | None] = mapped_column(Odds4)
    pre_race_max: Mapped[float | None] = mapped_column(Odds4)
    forecasted_odds: Mapped[float | None] = mapped_column(Odds4)
    last_price_before_off: Mapped[float | None] = mapped_column(Float)
    sp_win_return: Mapped[float | None] = mapped_column(Odds4)
    ew_return: Mapped[float | None] = mapped_column(Odds4)
    place_return: Mapped[float | None] = mapped_column(Odds4)
    data_source: Mapped[str | None] = mapped_column(Text)
    file_source: Mapped[str | None] = mapped_column(Text, server_default=text("'Racing API'"))
    # A same-day result (results/today), not yet settled by the daily job: may still be amended.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=text("CURRENT_TIMESTAMP"))


class CollectionLedger(Base):
    """One row per UK race date: how far historical collection got."""
    __tablename__ = "ra_collection_ledger"

    race_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=LedgerStatus.PENDING.value)
    races: Mapped[int] = mapped_column(Integer, default=0)
    runners: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    legacy_rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # adopted rows of the date
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
