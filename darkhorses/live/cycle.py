"""One live-odds cycle: fetch today's racecards with embedded odds, write what changed.

Plain functions over a session and a client; `darkhorses.tasks.live` wraps them in the
self-scheduling Celery loop. A race stays open past its scheduled off until it goes off
(darkhorses/live/offs.py); once CLOSED it is never written again: its last captured prices stay
as the closing snapshot, and the close-out back-fills the moves between polls (closeout.py).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.clock import uk_date
from ..core.logsafe import Tally, safe
from ..core.settings import Settings, get_settings
from ..db import session_scope, upsert
from ..models import CloseReason, LiveFetch, LiveRace, LiveSchedule
from ..racing_api.client import RacingAPIClient
from .closeout import run_closeouts
from .digests import count_unchanged, skip_unchanged
from .offs import (
    TRACK_MOVES_FROM,
    capped_elsewhere,
    close_races,
    decide,
    hold_retimings,
    needs_results,
    note_moves,
    poll_results_today,
    quiet_closes,
    read_results,
    record_off_times,
    stored_races,
)
from .parse import MalformedRace, ParsedRace, parse_racecard
from .summary import MAX_SLEEP, CycleSummary
from .write import write_open_races

log = logging.getLogger(__name__)

UNCAPTURED_LOOKBACK = timedelta(hours=1)
# ra_live_schedule's row for tomorrow's cards, fetched on their own clock.
TOMORROW = "tomorrow"


def next_poll_seconds(seconds_to_next_off: float | None, table, elapsed: float = 0.0) -> float:
    """The countdown to the next cycle, measured from the start of this one.

    `table` is ((seconds to off, poll interval), ...) ascending, the last bound infinite.
    The poll also lands no later than the moment the next race enters the first band (its
    last five minutes by default), so no race goes off unobserved there.
    """
    if seconds_to_next_off is None:
        interval = MAX_SLEEP
    else:
        interval = next(seconds for bound, seconds in table if seconds_to_next_off <= bound)
        until_first_band = seconds_to_next_off - table[0][0]
        if until_first_band > 0:
            interval = min(interval, until_first_band)
    return round(max(0.0, min(interval, MAX_SLEEP) - elapsed), 3)


def _fetch_tomorrow(client: RacingAPIClient, now: datetime, settings: Settings, summary: CycleSummary) -> list[dict]:
    """Tomorrow's cards when due on their own clock: every interval of the far band (races
    more than 2 hours away), however often today's races are polled. The due time lives in
    the database, so it holds across cycles, restarts and processes. A failure is logged
    and retried when next due; it never fails today's cycle."""
    with session_scope() as session:
        schedule = session.get(LiveSchedule, TOMORROW)
        if schedule is not None and schedule.due_at > now:
            return []
    cards, error = [], None
    try:
        cards = client.racecards_pro(uk_date(now) + timedelta(days=1), settings.regions)
    except Exception as exc:  # noqa: BLE001 - today's prices matter more than any error here
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("tomorrow's racecards not fetched (today's cycle carries on): %s", error)
    with session_scope() as session:
        upsert(session, LiveSchedule.__table__, [{
            "name": TOMORROW, "due_at": now + timedelta(seconds=settings.poll_intervals[-1][1]),
            "last_attempt_at": now, "last_error": error}], ("name",), ("due_at", "last_attempt_at", "last_error"))
    summary.tomorrow_races = len(cards) if isinstance(cards, list) else 0
    return cards if isinstance(cards, list) else []


class TurnLost(Exception):
    """The cycle was replaced by another loop while it ran (its worker was frozen or too slow)."""


# Stores results/today's results of known races as provisional (darkhorses.historical.same_day,
# passed in by the caller: historical sits above live); returns the runners stored.
ResultsSink = Callable[[list[dict], datetime], int]


def run_cycle(client: RacingAPIClient, now: datetime | None = None, settings: Settings | None = None,
              store_results: ResultsSink | None = None, confirm: Callable[[], bool] | None = None) -> CycleSummary:
    """Fetch, parse and write one cycle; returns its summary (also stored as a run record).

    The caller owns `client` (and closes it). The cycle commits in stages (the due time of
    tomorrow's cards, then the prices, then the same-day results and the close-outs) so no
    transaction stays open across an API call; that is why it opens its own short sessions
    rather than taking one. A race past its scheduled off stays open until it goes off
    (darkhorses/live/offs.py). `confirm` (the live loop's lease check) is asked last inside
    the prices' transaction: if it answers False the cycle raises TurnLost and that
    transaction is rolled back, so a replaced cycle writes no price."""
    settings = settings or get_settings()
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    summary = CycleSummary()
    cards = client.racecards_pro(uk_date(now), settings.regions)
    cards = cards + _fetch_tomorrow(client, now, settings, summary)

    with session_scope() as session:
        # Only races before their scheduled off are skipped: one past it is always parsed, so the
        # quiet timer and the terminal checks see it every cycle.
        cards, card_hashes, unchanged = skip_unchanged(session, cards, now)
    parsed = parse_races(cards, summary)
    with session_scope() as session:
        stored = stored_races(session, [race.race_id for race in parsed])
    hold_retimings(parsed, stored, now, summary)
    results = (poll_results_today(client, now, settings, summary)
               if needs_results(parsed, stored, now, settings) else None)

    with session_scope() as session:
        todays = read_results(session, results, {race.race_id for race in parsed}, summary)
        decisions = decide(parsed, stored, now, settings, todays.resulted)
        summary.not_opened = len(decisions.not_opened)
        # Kept in the run record only (darkhorses.ops.alerts reads it), not in logs or results.
        writing = {race.race_id for race in decisions.write}
        uncaptured = _uncaptured(session, [r for r in parsed if r.off_dt <= now and not r.abandoned
                                           and r.race_id not in writing], now)
        closes = decisions.closes + capped_elsewhere(session, now, settings, {race.race_id for race in parsed})
        summary.closed = close_races(session, closes, now)
        summary.results_seen = sum(close.reason == CloseReason.RESULT for close in closes)
        moves: dict[str, datetime] = {}
        bookmakers = write_open_races(session, decisions.write, now, summary, card_hashes, moves)
        record_off_times(session, decisions.write, stored, now, summary)
        note_moves(session, {race.race_id: moves[race.race_id] for race in decisions.write
                             if race.race_id in moves and race.off_dt - now <= TRACK_MOVES_FROM})
        quiet = quiet_closes(session, decisions.past_off, now, settings)
        summary.closed += close_races(session, quiet, now)
        count_unchanged(session, unchanged, now, summary, bookmakers,
                        {i for race in decisions.write for i in race.unknown_bookmakers})
        gone = {close.race_id for close in quiet}
        summary.past_off_open = sum(race.race_id not in gone for race in decisions.past_off)
        # A race past its off still open keeps the loop at the fastest band.
        upcoming = [r.off_dt for r in decisions.write if r.race_id not in gone] + [off for _, off in unchanged]
        next_off = min(upcoming) if upcoming else None
        summary.next_off = next_off.isoformat() if next_off else None
        session.flush()
        if confirm is not None and not confirm():
            raise TurnLost("another live loop took over while this cycle ran; its writes are rolled back")

    if todays.results and store_results is not None:
        try:
            summary.provisional_results = store_results(todays.results, now)
        except Exception as exc:  # noqa: BLE001 - the daily job collects the date anyway
            summary.bad_results += 1
            log.warning("same-day results not stored (the daily job will collect them): %s",
                        safe(f"{type(exc).__name__}: {exc}", 300))
    run_closeouts(client, now, summary, started)

    summary.errors = summary.skipped_races + summary.skipped_runners
    summary.duration_seconds = round(time.monotonic() - started, 3)
    summary.next_poll_seconds = next_poll_seconds(
        (next_off - now).total_seconds() if next_off else None, settings.poll_intervals, summary.duration_seconds)
    with session_scope() as session:
        session.add(LiveFetch(
            fetch_timestamp=now, races_count=summary.races, horses_count=summary.runners,
            bookmakers_found=summary.bookmakers, total_odds_fetched=summary.prices,
            bookmaker_list=sorted(bookmakers), fetch_duration_ms=round(summary.duration_seconds * 1000, 1),
            errors_count=summary.errors, prices_changed=summary.changed, created_at=now,
            detail={**{k: v for k, v in summary.as_dict().items() if k not in (
                "races", "runners", "bookmakers", "prices", "changed", "errors", "duration_seconds")},
                "uncaptured_off": uncaptured}))
    return summary


def _uncaptured(session: Session, off_races: list[ParsedRace], now: datetime) -> list[dict]:
    """Races that went off in the last hour and that no cycle ever wrote (missing from the
    cards or skipped as malformed before the off, or the loop was down): recorded per cycle so a
    beat task can alert."""
    recent = [r for r in off_races if r.off_dt >= now - UNCAPTURED_LOOKBACK]
    if not recent:
        return []
    seen = set(session.execute(select(LiveRace.race_id).where(
        LiveRace.race_id.in_([r.race_id for r in recent]))).scalars())
    return [{"race_id": r.race_id, "off_dt": r.off_dt.isoformat(), "course": r.values.course}
            for r in recent if r.race_id not in seen]


def parse_races(cards: list, summary: CycleSummary) -> list[ParsedRace]:
    """Parse the cards; a race repeated on two pages (the API paging while races are added) is
    taken once, its last card kept."""
    parsed: dict[str, ParsedRace] = {}
    bad_races, bad_runners = Tally(), Tally()
    for card in cards:
        try:
            race = parse_racecard(card, bad_runners)
        except MalformedRace as exc:
            summary.skipped_races += 1
            bad_races.add(str(exc))
            continue
        summary.duplicates += race.duplicate_runners
        if race.race_id in parsed:
            summary.duplicates += 1
        parsed[race.race_id] = race
    bad_races.warn(log, "racecards")
    bad_runners.warn(log, "racecard runners")
    if summary.duplicates:
        log.warning("racecards repeated %d races or runners; the last of each kept", summary.duplicates)
    return list(parsed.values())
