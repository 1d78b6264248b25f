"""What the service itself did: one row per live fetch, one per other run, one per task name."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class LiveFetch(Base):
    """One row per live fetch, under the replaced service's names (docs/switching.md)."""
    __tablename__ = "ra_odds_statistics"
    __table_args__ = (Index("ix_ra_odds_statistics_fetch_timestamp", "fetch_timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fetch_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    race_id: Mapped[str | None] = mapped_column(Text)
    races_count: Mapped[int | None] = mapped_column(Integer)
    horses_count: Mapped[int | None] = mapped_column(Integer)
    bookmakers_found: Mapped[int | None] = mapped_column(Integer)
    total_odds_fetched: Mapped[int | None] = mapped_column(Integer)
    bookmaker_list: Mapped[list | None] = mapped_column(ARRAY(Text).with_variant(JSON(), "sqlite"))
    fetch_duration_ms: Mapped[float | None] = mapped_column(Numeric(asdecimal=False))
    errors_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow,
                                                        server_default=text("CURRENT_TIMESTAMP"))
    prices_changed: Mapped[int | None] = mapped_column(Integer)  # ours: rows written this fetch
    detail: Mapped[dict | None] = mapped_column(JSON)


class RunRecord(Base):
    """One row per historical collection or statistics run."""
    __tablename__ = "ra_run_records"
    __table_args__ = (Index("ix_ra_run_records_kind_started_at", "kind", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # historical | stats
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    races: Mapped[int] = mapped_column(Integer, default=0)
    runners: Mapped[int] = mapped_column(Integer, default=0)
    prices: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict | None] = mapped_column(JSON)


class TaskStatus(Base):
    __tablename__ = "ra_task_status"

    task_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_state: Mapped[str] = mapped_column(String(16))  # SUCCESS | FAILURE | RETRY | STARTED
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_duration_seconds: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class StatsDay(Base):
    """Per-day statistics of a table (`source` live | historical), kept as days settle so the
    10-minute job reads days, not rows. Rebuilt for a day whenever it can have changed."""
    __tablename__ = "ra_stats_days"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    race_date: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    figures: Mapped[dict] = mapped_column(JSON)


class StatsSeen(Base):
    """Every distinct value ever counted (horses, jockeys, a bookmaker's horses): distinct
    counts over all days without reading all days. Rows are never deleted from the tables
    counted, so 'ever seen' and 'present' agree."""
    __tablename__ = "ra_stats_seen"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[str] = mapped_column(String(160), primary_key=True)


class StatsCount(Base):
    """How many values of each dimension ra_stats_seen holds, kept as values are added, so
    the statistics never count that table."""
    __tablename__ = "ra_stats_counts"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(48), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Adoption(Base):
    """Present only on a database adopted from the replaced service: what adoption added
    (JSON), so that downgrading removes exactly that and leaves the old tables as they were."""
    __tablename__ = "ra_adoption"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    adopted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added: Mapped[str] = mapped_column(Text)
