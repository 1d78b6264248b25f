"""Non-runners as the results publish them: free text such as
'Diamonds Diva (reserve), Great Rainbow (IRE),  Loughrask Rainbow' into one row per runner
(ra_non_runners), the runner's id matched by name to the runners we captured live, and the
results' list set against our own live withdrawals (ra_withdrawals) for the health report.

Reserves that never got in are tagged '(reserve)': kept, flagged, and never counted as
withdrawals.
"""
from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import NonRunner, OddsHistorical, OddsLive, Withdrawal

log = logging.getLogger(__name__)

_RESERVE = re.compile(r"\(\s*reserve\s*\)", re.IGNORECASE)
# A country suffix on a horse's name: 'Great Rainbow (IRE)'. Dropped only to match names.
_COUNTRY = re.compile(r"\(\s*[a-z]{2,3}\s*\)", re.IGNORECASE)
MAX_NAME = 128


class ParsedNonRunner(NamedTuple):
    race_id: str
    race_date: date
    horse_name: str
    reserve: bool


def parse_non_runners(text: object, race_id: str, race_date: date) -> tuple[list[ParsedNonRunner], int]:
    """(rows, pieces skipped) of one result's `non_runners` text. Odd spacing is tidied; an
    empty piece is ignored; a piece that is no name (too long, no letters) is skipped and
    counted. A name listed twice is kept once (a reserve flag on either copy wins)."""
    if not isinstance(text, str) or not text.strip():
        return [], 0
    rows: dict[str, ParsedNonRunner] = {}
    skipped = 0
    for piece in text.split(","):
        reserve = bool(_RESERVE.search(piece))
        name = " ".join(_RESERVE.sub(" ", piece).split())
        if not name:
            continue
        if len(name) > MAX_NAME or not re.search(r"[^\W\d_]", name):
            skipped += 1
            continue
        earlier = rows.get(name)
        rows[name] = ParsedNonRunner(race_id, race_date, name, reserve or bool(earlier and earlier.reserve))
    return list(rows.values()), skipped


def name_key(name: str | None) -> str:
    """A horse's name for matching: no country suffix, case, spaces or punctuation."""
    return re.sub(r"[\W_]+", "", _COUNTRY.sub("", name or "")).lower()


def store_non_runners(session: Session, parsed: list[ParsedNonRunner], race_ids: set[str],
                      now: datetime | None = None) -> dict[str, int]:
    """Replace the non-runners of `race_ids` (the races a results answer held) with `parsed`,
    each matched by name to a horse id we captured live for its race (else null)."""
    now = now or datetime.now(timezone.utc)
    table = NonRunner.__table__
    if not race_ids:
        return {"non_runners": 0, "unmatched": 0}
    ordered = sorted(race_ids)
    for start in range(0, len(ordered), 500):
        session.execute(delete(table).where(table.c.race_id.in_(ordered[start:start + 500])))
    known = _known_names(session, sorted({row.race_id for row in parsed}))
    rows = [{"race_id": row.race_id, "horse_name": row.horse_name, "race_date": row.race_date,
             "horse_id": known.get((row.race_id, name_key(row.horse_name))), "reserve": row.reserve,
             "updated_at": now} for row in parsed if row.race_id in race_ids]
    if rows:
        session.execute(table.insert(), rows)
    unmatched = sum(row["horse_id"] is None for row in rows)
    if unmatched:
        log.info("non-runners: %d of %d names not matched to a runner we captured", unmatched, len(rows))
    return {"non_runners": len(rows), "unmatched": unmatched}


def _known_names(session: Session, race_ids: list[str]) -> dict[tuple[str, str], str]:
    """(race_id, name key) -> horse_id of every runner we captured live in those races."""
    known: dict[tuple[str, str], str] = {}
    live, withdrawn = OddsLive.__table__, Withdrawal.__table__
    for start in range(0, len(race_ids), 500):
        chunk = race_ids[start:start + 500]
        for table in (live, withdrawn):
            for race_id, horse_id, name in session.execute(
                    select(table.c.race_id, table.c.horse_id, table.c.horse_name)
                    .where(table.c.race_id.in_(chunk)).distinct()):
                if name:
                    known.setdefault((race_id, name_key(name)), horse_id)
    return known


def compare_with_withdrawals(session: Session, today: date, days: int = 7) -> dict[str, int]:
    """Over races of the last `days` days that we watched live and whose result is in: how many
    withdrawals both sides name (agree), we saw live but the results do not list
    (live_only), the results list but we never saw go (results_only), and result non-runners
    whose name matched no runner of ours (unmatched). Reserves are left out."""
    since = today - timedelta(days=days)
    results = select(OddsHistorical.race_id).where(
        OddsHistorical.date_of_race >= datetime(since.year, since.month, since.day, tzinfo=timezone.utc),
        OddsHistorical.race_id.isnot(None)).distinct().scalar_subquery()
    live = {(r, h) for r, h in session.execute(
        select(Withdrawal.race_id, Withdrawal.horse_id).where(
            Withdrawal.race_date >= since, Withdrawal.reopened_at.is_(None), Withdrawal.race_id.in_(results)))}
    listed, unmatched = set(), 0
    watched = select(OddsLive.race_id).where(OddsLive.race_date >= since).distinct().scalar_subquery()
    for race_id, horse_id in session.execute(
            select(NonRunner.race_id, NonRunner.horse_id).where(
                NonRunner.race_date >= since, NonRunner.reserve.is_(False), NonRunner.race_id.in_(watched))):
        if horse_id is None:
            unmatched += 1
        else:
            listed.add((race_id, horse_id))
    return {"agree": len(live & listed), "live_only": len(live - listed), "results_only": len(listed - live),
            "unmatched": unmatched}
