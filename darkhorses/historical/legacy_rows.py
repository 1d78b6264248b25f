"""The replaced service's results rows (no race or horse ids) and their known faults."""
from __future__ import annotations

from datetime import time

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from ..models import CollectionLedger, OddsHistorical

# Irish courses, for counting old rows that said 'GB' for an Irish race.
IRISH_COURSES = ("Ballinrobe", "Bellewstown", "Clonmel", "Cork", "Curragh", "Down Royal", "Downpatrick",
                 "Dundalk", "Fairyhouse", "Galway", "Gowran Park", "Kilbeggan", "Killarney", "Laytown",
                 "Leopardstown", "Limerick", "Listowel", "Naas", "Navan", "Punchestown", "Roscommon", "Sligo",
                 "Thurles", "Tipperary", "Tramore", "Wexford")


def legacy_faults(session: Session) -> dict | None:
    """The old service's rows (no ids) and their known faults, or None when there are none.

    A UK or Irish race never starts before 10:00, so an earlier `race_time` is the 12-hour
    clock (2:30 for 14:30); 'GB' at an Irish course is the other known fault. Both are fixed
    only by re-collecting the date (`backfill --refresh`) while the API still serves it.
    """
    h = OddsHistorical.__table__
    old = h.c.race_id.is_(None)
    irish = or_(*(h.c.track.ilike(f"{course}%") for course in IRISH_COURSES))
    row = session.execute(select(
        func.count().label("rows"),
        func.sum(case_when(h.c.race_time < time(10, 0))).label("twelve_hour_race_time"),
        func.sum(case_when((h.c.country == "GB") & irish)).label("gb_for_irish"),
        func.min(h.c.date_of_race).label("first"), func.max(h.c.date_of_race).label("last")).where(old)).one()
    if not row.rows:
        return None
    dates = session.execute(select(func.count()).select_from(CollectionLedger)
                            .where(CollectionLedger.status == "legacy")).scalar()
    return {"rows_without_ids": row.rows, "twelve_hour_race_time": int(row.twelve_hour_race_time or 0),
            "gb_for_irish_race": int(row.gb_for_irish or 0), "dates_covered": dates,
            "first_date": row.first.date().isoformat() if row.first else None,
            "last_date": row.last.date().isoformat() if row.last else None}


def case_when(condition):
    return case((condition, 1), else_=0)
