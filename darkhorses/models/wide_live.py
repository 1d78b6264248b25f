"""The wide live-price table of migrations 0003-0008, `ra_odds_live_prices`: gone since 0009
(darkhorses.models.live.LivePrice and its facts tables), described here for what still builds
it: adopting the old service's database (which reaches 0008 first) and downgrading 0009.
Not in Base.metadata, so schema comparisons at the head leave it alone.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Boolean, Date, Index, Integer, MetaData, String, Table, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .base import NAMING_CONVENTION, BigId, UTCDateTime, utcnow
from .live import OddsDecimal


class WideBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        __table__: ClassVar[Table]  # as Base: a Table, not any FromClause


class WideOddsLive(WideBase):
    """The wide live prices as migrations 0003-0008 left them: one row per (race, horse,
    bookmaker) with every race and runner column. Readers queried the view `ra_odds_live` over it, whose
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


WIDE_LIVE_PRICES = WideOddsLive.__table__
