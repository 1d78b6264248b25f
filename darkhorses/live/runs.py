"""The live loop's recorded cycles (ra_odds_statistics, one row per live fetch), and the
stretches in which the loop ran without a break, judged from them."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Result, select
from sqlalchemy.orm import Session

from ..models import LiveFetch


def live_cycles(session: Session, since: datetime) -> Result[datetime, dict | None]:
    """(started at, detail) of every recorded live cycle since `since`, oldest first."""
    return session.execute(select(LiveFetch.fetch_timestamp, LiveFetch.detail)
                           .where(LiveFetch.fetch_timestamp >= since).order_by(LiveFetch.fetch_timestamp))


def loop_runs(session: Session, since: datetime, now: datetime, grace: float) -> list[dict]:
    """The stretches in which the live loop ran without a break, from its recorded cycles.

    A cycle promises the next one within its countdown; a successor that came later than
    that plus the lease grace means the loop was down in between. Each stretch ends at its
    last recorded cycle, or at `now` when the loop is still within its promise."""
    runs: list[dict] = []
    due = None
    for started_at, detail in live_cycles(session, since):
        if due is None or started_at > due:
            runs.append({"start": started_at, "end": started_at, "cycles": 0})
        runs[-1]["end"] = started_at
        runs[-1]["cycles"] += 1
        due = started_at + timedelta(seconds=float((detail or {}).get("next_poll_seconds") or 0) + grace)
    if runs and due is not None and now <= due:
        runs[-1]["end"], runs[-1]["running"] = now, True
        runs[-1]["next_cycle_due"] = due - timedelta(seconds=grace)
    return runs
