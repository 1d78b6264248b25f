"""The one clock of the service: UK dates and times of moments (racing runs on the UK clock).

Moments are aware UTC datetimes everywhere; these turn them into the UK date, the UK clock
time of an off, and the replaced service's `date_of_race` convention.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def uk_date(moment: datetime) -> date:
    return moment.astimezone(UK).date()


def uk_clock(moment: datetime) -> str:
    """'13:50': the 24-hour UK time the 12-hour `off_time` leaves ambiguous."""
    return moment.astimezone(UK).strftime("%H:%M")


def uk_time(moment: datetime) -> time:
    """13:50 as a TIME: the UK clock time of the off (the readers' `race_time`)."""
    return moment.astimezone(UK).time().replace(second=0, microsecond=0)


def day_start(day: date) -> datetime:
    """Midnight UTC of a UK date: how the replaced service stored `date_of_race`."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
