"""For the analyst: non-runners as the results list them, and official Rule 4 figures."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class NonRunner(Base):
    """One runner named in a result's `non_runners` text: the results' side of a withdrawal.
    Reserves that never got in are kept, flagged (`reserve`): they are not withdrawals."""
    __tablename__ = "ra_non_runners"
    __table_args__ = (Index("ix_ra_non_runners_race_date", "race_date"),)

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    horse_name: Mapped[str] = mapped_column(String(128), primary_key=True)  # as published, tag removed
    race_date: Mapped[date] = mapped_column(Date)
    horse_id: Mapped[str | None] = mapped_column(String(32))  # matched by name to our runners, else null
    reserve: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rule4Official(Base):
    """An official Rule 4 deduction recorded by a user for one withdrawal: it replaces our
    estimate (`rule4_estimated` false)."""
    __tablename__ = "ra_rule4_official"

    race_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    horse_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deduction_pence: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
