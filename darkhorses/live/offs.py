"""The off as it happens: a race closes when it goes off, not at its scheduled time.

`off_dt` is the *scheduled* off; no field says a race has gone off. Past its scheduled off a
race stays OPEN, polled at the fastest band, until the first terminal signal: its result in
/v1/results/today, `is_abandoned`, a `race_status` saying it is off or finished, no price moved
for LIVE_OFF_QUIET_SECONDS past the scheduled off (quiet), or LIVE_OFF_CAP_MINUTES past it (cap).
A race first seen past its scheduled off is opened only if its prices moved after that off and are
not already quiet. Once CLOSED nothing observed is written for it again (the close-out only back-fills moves made
before the close, darkhorses/live/closeout.py).

`off_late_seconds` estimates how late it went: bookmakers trade until the real off and then
freeze, so the newest price move after the scheduled off marks it (0 when nothing moved after).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..core.clock import uk_date, uk_time
from ..core.logsafe import Tally, safe
from ..core.settings import Settings
from ..db import rowcount, session_scope, upsert
from ..models import CloseReason, LivePrice, LiveRace, LiveRunner, LiveSchedule, RaceOffTime
from ..models.views import status_code
from ..racing_api.values import text
from .parse import OPEN, ParsedRace
from .summary import CycleSummary

log = logging.getLogger(__name__)

CLOSED, ABANDONED = "CLOSED", "ABANDONED"
# Free text (empty on UK cards): words that mean the race is under way or over.
OFF_STATUS = re.compile(r"\b(off|finished|result|results|weighed in|race over)\b", re.IGNORECASE)
# ra_live_schedule's row for /v1/results/today: at most one call per cycle, this far apart.
RESULTS_TODAY = "results_today"
RESULTS_TODAY_SPACING = timedelta(seconds=30)
# Moves are tracked (ra_live_races.last_move_at) for races this close to their scheduled off.
TRACK_MOVES_FROM = timedelta(minutes=10)


@contextmanager
def single_attempt(client) -> Iterator[None]:
    """The client tries once: a call the next cycle makes again anyway must not hold this one up
    with retries and backoff (the client's own; a test double may have none)."""
    attempts = getattr(client, "max_attempts", None)
    if attempts is not None:
        client.max_attempts = 1
    try:
        yield
    finally:
        if attempts is not None:
            client.max_attempts = attempts


class StoredRace(NamedTuple):
    market_status: str
    off_dt: datetime | None
    last_move_at: datetime | None


class Close(NamedTuple):
    race_id: str
    status: str            # CLOSED | ABANDONED
    reason: str            # CloseReason
    off_dt: datetime | None
    last_move_at: datetime | None
    closeout: bool = True  # False: nothing to back-fill (a race gone from the cards long ago)


class Decisions(NamedTuple):
    write: list[ParsedRace]     # open: written this cycle
    past_off: list[ParsedRace]  # of those, past their scheduled off (checked for quiet after the write)
    closes: list[Close]
    not_opened: list[ParsedRace]  # first seen past the off with prices frozen before it


def stored_races(session: Session, race_ids: list[str]) -> dict[str, StoredRace]:
    if not race_ids:
        return {}
    races = LiveRace.__table__
    return {race_id: StoredRace(status, off, moved) for race_id, status, off, moved in session.execute(
        select(races.c.race_id, races.c.market_status, races.c.off_dt, races.c.last_move_at)
        .where(races.c.race_id.in_(race_ids)))}


def newest_stamp(race: ParsedRace, now: datetime) -> datetime | None:
    """The newest bookmaker `updated` stamp on the card, never later than now."""
    stamps = [p.odds_timestamp for p in race.prices if p.odds_timestamp is not None]
    return min(max(stamps), now) if stamps else None


def hold_retimings(races: list[ParsedRace], stored: dict[str, StoredRace], now: datetime,
                   summary: CycleSummary) -> None:
    """A re-timing into the past (an earlier off that has already gone by) is refused: the stored
    off stands, one log line, counted. Any other re-timing is taken (recorded by record_off_times)."""
    refused = Tally()
    for race in races:
        before = stored.get(race.race_id)
        if before is None or before.off_dt is None or race.off_dt >= before.off_dt or race.off_dt > now:
            continue
        refused.add(f"race {race.race_id}: off_dt {race.off_dt.isoformat()} is earlier than "
                    f"{before.off_dt.isoformat()} and already past; the stored off kept")
        summary.bad_retimings += 1
        race.off_dt = before.off_dt
        race.values = race.values._replace(off_dt=before.off_dt, race_date=uk_date(before.off_dt),
                                           race_time=uk_time(before.off_dt))
    refused.warn(log, "racecard re-timings into the past")


def record_off_times(session: Session, races: list[ParsedRace], stored: dict[str, StoredRace],
                     now: datetime, summary: CycleSummary) -> None:
    """ra_race_off_times: a race's first scheduled off, then every re-timing, with when we saw it."""
    rows = []
    for race in races:
        before = stored.get(race.race_id)
        if before is not None and before.off_dt == race.off_dt:
            continue
        if before is not None:
            summary.retimed += 1
            log.info("race %s re-timed: %s -> %s", race.race_id, before.off_dt, race.off_dt)
        rows.append({"race_id": race.race_id, "seen_at": now, "off_dt": race.off_dt})
    upsert(session, RaceOffTime.__table__, rows, ("race_id", "seen_at"), ("off_dt",))


def needs_results(races: list[ParsedRace], stored: dict[str, StoredRace], now: datetime,
                  settings: Settings) -> bool:
    """Is some race past its scheduled off and still open (or about to be opened)?"""
    for race in races:
        before = stored.get(race.race_id)
        if race.abandoned or race.off_dt > now or (before is not None and before.market_status != OPEN):
            continue
        if before is not None or _opens_late(race, now, settings):
            return True
    return False


def _opens_late(race: ParsedRace, now: datetime, settings: Settings) -> bool:
    """A race first seen past its scheduled off is opened only if a price moved at or after that
    off, and recently enough that it is not already quiet (it went off long ago: nothing to watch)."""
    newest = newest_stamp(race, now)
    return (newest is not None and newest >= race.off_dt
            and (now - newest).total_seconds() < settings.live_off_quiet_seconds)


def decide(races: list[ParsedRace], stored: dict[str, StoredRace], now: datetime, settings: Settings,
           resulted: set[str]) -> Decisions:
    """Which races are written this cycle and which close (and why), before the write."""
    cap = timedelta(minutes=settings.live_off_cap_minutes)
    decisions = Decisions([], [], [], [])
    for race in races:
        before = stored.get(race.race_id)
        if before is not None and before.market_status != OPEN:
            continue  # closed: never written again
        moved = before.last_move_at if before else None
        if race.abandoned:
            decisions.closes.append(Close(race.race_id, ABANDONED, CloseReason.ABANDONED, race.off_dt, moved))
            continue
        if race.off_dt > now:
            decisions.write.append(race)
            continue
        if before is None and not _opens_late(race, now, settings):
            decisions.not_opened.append(race)
            continue
        reason = (CloseReason.RESULT if race.race_id in resulted
                  else CloseReason.STATUS if race.status_text and OFF_STATUS.search(race.status_text)
                  else CloseReason.CAP if now - race.off_dt >= cap else None)
        if reason is not None and before is not None:
            decisions.closes.append(Close(race.race_id, CLOSED, reason, race.off_dt, moved))
        elif reason is None:
            decisions.write.append(race)
            decisions.past_off.append(race)
        else:
            decisions.not_opened.append(race)  # first seen with its result already out
    return decisions


def note_moves(session: Session, moves: dict[str, datetime]) -> None:
    """ra_live_races.last_move_at: the newest price change seen, for races near or past their off."""
    races = LiveRace.__table__
    for race_id, moved in moves.items():
        session.execute(update(races).where(
            races.c.race_id == race_id, or_(races.c.last_move_at.is_(None), races.c.last_move_at < moved))
            .values(last_move_at=moved))


def quiet_closes(session: Session, past_off: list[ParsedRace], now: datetime, settings: Settings) -> list[Close]:
    """Races past their off whose prices have not moved for LIVE_OFF_QUIET_SECONDS since the
    scheduled off or their last move, whichever is later."""
    if not past_off:
        return []
    quiet = timedelta(seconds=settings.live_off_quiet_seconds)
    stored = stored_races(session, [r.race_id for r in past_off])
    closes = []
    for race in past_off:
        before = stored.get(race.race_id)
        moved = before.last_move_at if before else None
        if now - max(race.off_dt, moved or race.off_dt) >= quiet:
            closes.append(Close(race.race_id, CLOSED, CloseReason.QUIET, race.off_dt, moved))
    return closes


def capped_elsewhere(session: Session, now: datetime, settings: Settings, seen: set[str]) -> list[Close]:
    """Open races gone from the cards and past the cap: closed (cap) so nothing waits on them."""
    races = LiveRace.__table__
    limit = now - timedelta(minutes=settings.live_off_cap_minutes)
    rows = session.execute(select(races.c.race_id, races.c.off_dt, races.c.last_move_at).where(
        races.c.market_status == OPEN, races.c.off_dt <= limit))
    return [Close(race_id, CLOSED, CloseReason.CAP, off, moved, closeout=False)
            for race_id, off, moved in rows if race_id not in seen]


def off_late_seconds(close: Close, now: datetime) -> float | None:
    """How late the race went off, from its last move past the scheduled off; unknown (None)
    when it was abandoned or closed at the cap (its prices never settled)."""
    if close.reason in (CloseReason.ABANDONED, CloseReason.CAP) or close.off_dt is None:
        return None
    if close.last_move_at is None:
        return 0.0
    return round(max(0.0, (min(close.last_move_at, now) - close.off_dt).total_seconds()), 1)


def close_races(session: Session, closes: list[Close], now: datetime) -> int:
    """Mark markets closed once, with when and why; their prices stay as they are."""
    closed = 0
    live, races, runners = LivePrice.__table__, LiveRace.__table__, LiveRunner.__table__
    for close in closes:
        race_runners = select(runners.c.runner_key).where(runners.c.race_id == close.race_id)
        session.execute(update(live).where(live.c.runner_key.in_(race_runners),
                                           live.c.market_status_code == status_code(OPEN))
                        .values(market_status_code=status_code(close.status)))
        closed += rowcount(session.execute(update(races).where(
            races.c.race_id == close.race_id, races.c.market_status == OPEN).values(
            market_status=close.status, closed_at=now, close_reason=close.reason,
            off_late_seconds=off_late_seconds(close, now), **({} if close.closeout else {"closeout_at": now}))))
    return closed


class TodaysResults(NamedTuple):
    resulted: set[str]   # races whose result is out (terminal signal)
    results: list[dict]  # the readable results of races we know, to store as provisional


def poll_results_today(client, now: datetime, settings: Settings, summary: CycleSummary) -> list | None:
    """/v1/results/today, at most once a cycle and RESULTS_TODAY_SPACING apart (across processes:
    the due time is in ra_live_schedule). A failure is logged and tried again when due; it never
    fails the cycle."""
    with session_scope() as session:
        schedule = session.get(LiveSchedule, RESULTS_TODAY)
        if schedule is not None and schedule.due_at > now:
            return None
    results, error = None, None
    try:
        with single_attempt(client):
            results = client.results_today(settings.regions)
    except Exception as exc:  # noqa: BLE001 - the prices of the cycle matter more
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("results/today not fetched (the cycle carries on): %s", safe(error, 300))
    summary.results_today_calls += 1
    with session_scope() as session:
        upsert(session, LiveSchedule.__table__, [{
            "name": RESULTS_TODAY, "due_at": now + RESULTS_TODAY_SPACING, "last_attempt_at": now,
            "last_error": error}], ("name",), ("due_at", "last_attempt_at", "last_error"))
    return results if isinstance(results, list) else None


def read_results(session: Session, results: list | None, known: set[str], summary: CycleSummary) -> TodaysResults:
    """The races results/today says are over. A result for a race we never saw, or with no
    runners, is left out: one log line per kind, counted."""
    out = TodaysResults(set(), [])
    if not results:
        return out
    ids = {text(r.get("race_id"), 32) for r in results if isinstance(r, dict)} - {None, ""}
    seen = known | set(session.execute(select(LiveRace.race_id).where(
        LiveRace.race_id.in_(sorted(ids - known)))).scalars()) if ids - known else known
    unknown, empty = Tally(), Tally()
    for result in results:
        race_id = text(result.get("race_id"), 32) if isinstance(result, dict) else None
        if not race_id:
            empty.add("a result without a race_id")
            summary.bad_results += 1
        elif race_id not in seen:
            unknown.add(f"race {race_id}: not on any card we saw")
            summary.unknown_results += 1
        elif not isinstance(result.get("runners"), list) or not result["runners"]:
            empty.add(f"race {race_id}: no runners")
            summary.bad_results += 1
        else:
            out.resulted.add(race_id)
            out.results.append(result)
    unknown.warn(log, "results/today for races never seen (not stored)")
    empty.warn(log, "results/today without runners (not stored)")
    return out


def open_past_off(session: Session, now: datetime) -> bool:
    """Does a race stored OPEN sit past its scheduled off?"""
    races = LiveRace.__table__
    return session.execute(select(races.c.race_id).where(
        and_(races.c.market_status == OPEN, races.c.off_dt <= now)).limit(1)).first() is not None
