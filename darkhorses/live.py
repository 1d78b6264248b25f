"""One live-odds cycle: fetch today's racecards with embedded odds, write what changed.

Plain functions over a session and a client; `darkhorses.tasks.live` wraps them in the
self-scheduling Celery loop. A race that is off is never written again: its last captured
prices stay as the closing snapshot and its market is marked CLOSED.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Float, cast, select, update

from . import cards as card_digests
from .bookmakers import bookmaker_for
from .db import session_scope, upsert
from .logsafe import Tally, safe
from .models import Bookmaker, LiveFetch, LiveRace, LiveSchedule, OddsHistory, OddsLive, Withdrawal
from .prices import parse_price, parse_timestamp, text, to_int, uk_date, uk_time
from .racing_api import RacingAPIClient
from .settings import get_settings

log = logging.getLogger(__name__)

MAX_SLEEP = 900.0
UNCAPTURED_LOOKBACK = timedelta(hours=1)
# ra_live_schedule's row for tomorrow's cards, fetched on their own clock.
TOMORROW = "tomorrow"
LIVE_KEY = ("race_id", "horse_id", "bookmaker_id")
# What decides whether a stored row must be rewritten; timestamps are not part of it.
COMPARED = ("race_date", "race_time", "off_dt", "course", "course_id", "country", "race_name",
            "race_class", "race_type", "distance", "going", "runners", "horse_name",
            "horse_number", "draw", "jockey", "trainer", "age", "weight", "form",
            "bookmaker_name", "bookmaker_type", "odds_decimal", "odds_fractional", "ew_places",
            "ew_denom", "market_status")
UPDATED = COMPARED + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
# A quote's own fields: when only these differ, the row is rewritten with these alone.
QUOTE = ("odds_decimal", "odds_fractional", "ew_places", "ew_denom", "market_status")
QUOTE_UPDATED = QUOTE + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
QUOTE_STAMPED = QUOTE + ("odds_timestamp",)  # a quote row; the rest of QUOTE_UPDATED is the cycle's own
# Rows as tuples: a new or rewritten live row, a history row.
WHOLE = LIVE_KEY + UPDATED + ("created_at",)
HISTORY = ("race_id", "horse_id", "bookmaker_id", "odds_decimal", "odds_fractional", "changed_at", "observed_at")
assert COMPARED[-len(QUOTE):] == QUOTE and QUOTE[:2] == ("odds_decimal", "odds_fractional")


class MalformedRace(ValueError):
    pass


# A parsed price is a tuple (the runner's RUNNER tuple, then PRICE): a day's prices as
# dicts held ~4x the memory, and the write path compares and COPYs tuples as they are.
RACE = COMPARED[:12]
RUNNER = ("horse_id",) + COMPARED[12:20]
PRICE = ("bookmaker_id", "bookmaker_name", "bookmaker_type", "odds_decimal", "odds_fractional",
         "ew_places", "ew_denom", "odds_timestamp")
assert RACE[-1] == "runners" and RUNNER[-1] == "form" and COMPARED[20:22] == PRICE[1:3]


@dataclass
class ParsedRace:
    race_id: str
    off_dt: datetime
    abandoned: bool
    meta: dict
    prices: list[tuple] = field(default_factory=list)  # one per runner and bookmaker: (RUNNER tuple, *PRICE)
    # The API's own earlier prices per (horse, bookmaker), parsed only for prices new to us.
    raw_history: dict[tuple[str, str], list] = field(default_factory=dict)
    runners: int = 0
    skipped_runners: int = 0
    skipped_prices: int = 0
    duplicate_runners: int = 0
    horses: set[str] = field(default_factory=set)        # every runner on the card, priced or not
    non_runners: set[str] = field(default_factory=set)   # runners every bookmaker shows as '-'
    unknown_bookmakers: dict[str, str] = field(default_factory=dict)  # id -> name as the API spells it

    @property
    def rows(self) -> list[dict]:
        """The prices as ra_odds_live rows, built afresh on each access (for readers of one race;
        the write path uses `prices`)."""
        return [{**self.meta, **dict(zip(RUNNER, price[0], strict=True)), **dict(zip(PRICE, price[1:], strict=True))}
                for price in self.prices]


@dataclass
class CycleSummary:
    races: int = 0
    runners: int = 0
    bookmakers: int = 0
    prices: int = 0
    changed: int = 0
    history: int = 0
    closed: int = 0
    errors: int = 0
    skipped_races: int = 0
    skipped_runners: int = 0
    skipped_prices: int = 0
    duplicates: int = 0  # races repeated across pages, runners listed twice: the last kept
    tomorrow_races: int | None = None  # None: tomorrow's cards were not due this cycle
    unknown_bookmakers: int = 0
    withdrawn: int = 0
    reopened: int = 0
    next_off: str | None = None
    next_poll_seconds: float = MAX_SLEEP
    duration_seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def parse_racecard(card: dict, bad_runners: Tally | None = None) -> ParsedRace:
    """A racecard as rows for ra_odds_live; bad runners and prices are skipped and counted
    (into `bad_runners` for one summary line, else a line each); a runner listed twice
    counts once, its last listing kept."""
    if not isinstance(card, dict):
        raise MalformedRace("racecard is not an object")
    race_id = text(card.get("race_id"), 32)
    off_dt = parse_timestamp(card.get("off_dt"))
    if not race_id or off_dt is None:
        raise MalformedRace(f"race {race_id or '?'}: missing race_id or a readable off_dt")
    region = text(card.get("region"), 8)
    meta = {
        "race_id": race_id,
        "race_date": uk_date(off_dt),
        "race_time": uk_time(off_dt),
        "off_dt": off_dt,
        "course": text(card.get("course"), 64) or "",  # never null for the readers
        "course_id": text(card.get("course_id"), 32),
        "country": region.upper() if region else None,
        "race_name": text(card.get("race_name"), 255),
        "race_class": text(card.get("race_class"), 32),
        "race_type": text(card.get("type"), 32),
        "distance": text(card.get("distance"), 32),
        "going": text(card.get("going"), 64),
        "runners": to_int(card.get("field_size")),
    }
    race = ParsedRace(race_id, off_dt, card.get("is_abandoned") is True, meta)
    runners = card.get("runners")
    if not isinstance(runners, list):
        raise MalformedRace(f"race {race_id}: runners is not a list")
    by_horse: dict[str, list[tuple]] = {}
    for runner in runners:
        start = len(race.prices)
        try:
            horse_id = _parse_runner(race, runner)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            race.skipped_runners += 1
            horse = runner.get("horse_id") if isinstance(runner, dict) else None
            reason = f"race {race_id} runner {horse}: {exc}"
            if bad_runners is not None:
                bad_runners.add(reason)
            else:
                log.warning("skipped malformed runner %s", safe(reason, 300))
            continue
        if horse_id in by_horse:
            race.duplicate_runners += 1
            race.runners -= 1
        by_horse[horse_id] = race.prices[start:]
    if race.duplicate_runners:
        race.prices = [price for prices in by_horse.values() for price in prices]
        kept = {(price[0][0], price[1]) for price in race.prices}
        race.raw_history = {k: v for k, v in race.raw_history.items() if k in kept}
    return race


def _parse_runner(race: ParsedRace, runner: dict) -> str:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    runner_meta = (  # RUNNER's order
        horse_id,
        text(runner.get("horse"), 128) or horse_id,  # never null for the readers
        to_int(runner.get("number")),
        to_int(runner.get("draw")),
        text(runner.get("jockey"), 128),
        text(runner.get("trainer"), 128),
        to_int(runner.get("age")),
        text(runner.get("lbs"), 8),
        text(runner.get("form"), 32),
    )
    race.horses.add(horse_id)
    odds = runner.get("odds") or []
    if not isinstance(odds, list):
        raise ValueError("odds is not a list")
    race.runners += 1
    # '-' from every book is how a declared non-runner shows on a racecard.
    if odds and all(isinstance(q, dict) and str(q.get("decimal")).strip() == "-" for q in odds):
        race.non_runners.add(horse_id)
    seen = set()
    for quote in odds:
        bookmaker = bookmaker_for(quote.get("bookmaker")) if isinstance(quote, dict) else None
        values = _quote_values(quote.get("decimal"), quote.get("fractional"), quote.get("ew_places"),
                               quote.get("ew_denom"), quote.get("updated")) if bookmaker else None
        if values is None or bookmaker.id in seen:
            race.skipped_prices += 1
            continue
        seen.add(bookmaker.id)
        if bookmaker.type == "unknown":
            race.unknown_bookmakers.setdefault(bookmaker.id, bookmaker.name)
        race.prices.append((runner_meta, bookmaker.id, bookmaker.name, bookmaker.type) + values)  # (RUNNER, *PRICE)
        if quote.get("history"):
            race.raw_history[(horse_id, bookmaker.id)] = quote["history"]
    return horse_id


def _quote_values(decimal, fractional, ew_places, ew_denom, updated) -> tuple | None:
    """PRICE's quote values (odds_decimal on) from a quote's strings; None for no price.
    A card repeats the same few odds and stamps, so strings are parsed once per process."""
    try:
        return _cached_quote_values(decimal, fractional, ew_places, ew_denom, updated)
    except TypeError:  # a list or dict where a string belongs: unhashable, parsed uncached
        return _parse_quote_values(decimal, fractional, ew_places, ew_denom, updated)


def _parse_quote_values(decimal, fractional, ew_places, ew_denom, updated) -> tuple | None:
    price = parse_price(decimal, fractional)
    if price is None:
        return None
    return (round(price, 3),  # as numeric(10,3) stores it, so an unchanged price compares equal
            text(fractional, 16), text(ew_places, 8), text(ew_denom, 8), parse_timestamp(updated))


_cached_quote_values = functools.lru_cache(maxsize=16384, typed=True)(_parse_quote_values)


def earlier_prices(race_id: str, horse_id: str, bookmaker_id: str, history) -> list[dict]:
    """History rows from the API's `history` list of a quote; unreadable entries are dropped."""
    rows = []
    for earlier in history if isinstance(history, list) else ():
        if not isinstance(earlier, dict):
            continue
        price = parse_price(earlier.get("decimal"), earlier.get("fractional"))
        # The spec's history entries carry `changed_at`; accept `updated` as the quote itself does.
        changed_at = parse_timestamp(earlier.get("changed_at") or earlier.get("updated"))
        if price is not None and changed_at is not None:
            rows.append({"race_id": race_id, "horse_id": horse_id, "bookmaker_id": bookmaker_id,
                         "odds_decimal": price, "odds_fractional": text(earlier.get("fractional"), 16),
                         "changed_at": changed_at})
    return rows


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


def _fetch_tomorrow(client: RacingAPIClient, now: datetime, settings, summary: CycleSummary) -> list[dict]:
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


def run_cycle(client: RacingAPIClient, now: datetime | None = None, settings=None) -> CycleSummary:
    """Fetch, parse and write one cycle; returns its summary (also stored as a run record).

    The caller owns `client` (and closes it). The cycle commits in stages (the due time of
    tomorrow's cards, then the prices) so no transaction stays open across an API call; that
    is why it opens its own short sessions rather than taking one."""
    settings = settings or get_settings()
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    summary = CycleSummary()
    cards = client.racecards_pro(uk_date(now), settings.regions)
    cards = cards + _fetch_tomorrow(client, now, settings, summary)

    with session_scope() as session:
        cards, digests, unchanged = card_digests.skip_unchanged(session, cards, now)
    open_races, off_races, abandoned = _sort_races(cards, now, summary)
    finished = [race.race_id for race in off_races]

    with session_scope() as session:
        # Kept in the run record only (darkhorses.ops.alerts reads it), not in logs or results.
        uncaptured = _uncaptured(session, off_races, now)
        summary.closed = _close_markets(session, finished, abandoned)
        bookmakers = _write_open_races(session, open_races, now, summary, digests)
        card_digests.count_unchanged(session, unchanged, now, summary, bookmakers,
                                     {i for race in open_races for i in race.unknown_bookmakers})
        upcoming = [r.off_dt for r in open_races] + [off for _, off in unchanged]
        next_off = min(upcoming) if upcoming else None
        summary.next_off = next_off.isoformat() if next_off else None
        summary.errors = summary.skipped_races + summary.skipped_runners
        summary.duration_seconds = round(time.monotonic() - started, 3)
        summary.next_poll_seconds = next_poll_seconds(
            (next_off - now).total_seconds() if next_off else None,
            settings.poll_intervals, summary.duration_seconds)
        session.add(LiveFetch(
            fetch_timestamp=now, races_count=summary.races, horses_count=summary.runners,
            bookmakers_found=summary.bookmakers, total_odds_fetched=summary.prices,
            bookmaker_list=sorted(bookmakers), fetch_duration_ms=round(summary.duration_seconds * 1000, 1),
            errors_count=summary.errors, prices_changed=summary.changed, created_at=now,
            detail={**{k: v for k, v in summary.as_dict().items() if k not in (
                "races", "runners", "bookmakers", "prices", "changed", "errors", "duration_seconds")},
                "uncaptured_off": uncaptured}))
    return summary


def _uncaptured(session, off_races: list[ParsedRace], now: datetime) -> list[dict]:
    """Races that went off in the last hour and that no cycle ever wrote (missing from the
    cards or skipped as malformed before the off, or the loop was down): recorded per cycle so a
    beat task can alert."""
    recent = [r for r in off_races if r.off_dt >= now - UNCAPTURED_LOOKBACK]
    if not recent:
        return []
    seen = set(session.execute(select(LiveRace.race_id).where(
        LiveRace.race_id.in_([r.race_id for r in recent]))).scalars())
    return [{"race_id": r.race_id, "off_dt": r.off_dt.isoformat(), "course": r.meta.get("course")}
            for r in recent if r.race_id not in seen]


def _sort_races(cards: list, now: datetime, summary: CycleSummary):
    """(open races, races that are off, ids of abandoned races); a race repeated on two
    pages (the API paging while races are added) is taken once, its last card kept."""
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
    open_races, finished, abandoned = [], [], []
    for race in parsed.values():
        if race.abandoned:
            abandoned.append(race.race_id)
        elif race.off_dt <= now:
            finished.append(race)
        else:
            open_races.append(race)
    return open_races, finished, abandoned


def _close_markets(session, finished: list[str], abandoned: list[str]) -> int:
    """Mark markets of races that are off (or abandoned) once; their prices stay as they are."""
    closed = 0
    for status, race_ids in (("CLOSED", finished), ("ABANDONED", abandoned)):
        if not race_ids:
            continue
        for table in (OddsLive.__table__, LiveRace.__table__):
            result = session.execute(update(table).where(
                table.c.race_id.in_(race_ids), table.c.market_status == "OPEN").values(market_status=status))
            if table is LiveRace.__table__:
                closed += result.rowcount
    return closed


def _stored_rows(session, race_ids: list[str]) -> dict:
    """key -> (QUOTE values, the bookmaker's `updated` stamp as stored, the RACE and RUNNER
    values but horse_id, (bookmaker_name, bookmaker_type)).

    On PostgreSQL each row brings its quote alone; the values that are the same for every row
    of a runner (or a bookmaker) come once per runner (bookmaker), shared by its rows: a
    third of the decoding and memory. Rows of a runner or bookmaker whose stored values
    differ between rows (a row not rewritten when its card changed) are read whole."""
    live = OddsLive.__table__
    rest = RACE + RUNNER[1:]
    if session.get_bind().dialect.name != "postgresql":
        columns = [cast(live.c[c], Float) if c == "odds_decimal" else live.c[c]
                   for c in LIVE_KEY + QUOTE + ("odds_timestamp",) + rest + PRICE[1:3]]
        return {tuple(row[:3]): (tuple(row[3:8]), row[8], tuple(row[9:-2]), tuple(row[-2:]))
                for row in session.execute(select(*columns).where(live.c.race_id.in_(race_ids)))}
    # Straight from the driver (numeric read as float8): psycopg2 returns the types the
    # rows compare with; SQLAlchemy's per-value result processing would cost more.
    cursor = session.connection().connection.dbapi_connection.cursor()
    where = f"FROM {live.name} WHERE race_id = ANY(%s)"
    cursor.execute(f"SELECT DISTINCT race_id, horse_id, {', '.join(rest)} {where}", (race_ids,))
    runners, mixed = {}, set()
    for row in cursor:
        if row[:2] in runners:
            mixed.add(row[:2])
        runners[row[:2]] = row[2:]
    cursor.execute(f"SELECT DISTINCT bookmaker_id, bookmaker_name, bookmaker_type {where}", (race_ids,))
    books, mixed_books = {}, set()
    for row in cursor:
        if row[0] in books:
            mixed_books.add(row[0])
        books[row[0]] = row[1:]
    cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, odds_decimal::float8, {', '.join(QUOTE[1:])}, "
                   f"odds_timestamp {where}", (race_ids,))
    stored = {row[:3]: (row[3:8], row[8], runners[row[:2]], books[row[2]]) for row in cursor}
    if mixed or mixed_books:
        cursor.execute(f"SELECT race_id, horse_id, bookmaker_id, {', '.join(rest + PRICE[1:3])} {where} "
                       "AND (race_id = ANY(%s) OR bookmaker_id = ANY(%s))",
                       (race_ids, sorted({race_id for race_id, _ in mixed}), sorted(mixed_books)))
        for row in cursor:
            if row[:2] in mixed or row[2] in mixed_books:
                quote, stamp, _, _ = stored[row[:3]]
                stored[row[:3]] = (quote, stamp, row[3:-2], row[-2:])
    return stored


def _write_open_races(session, races: list[ParsedRace], now: datetime, summary: CycleSummary,
                      digests: dict[str, str] | None = None) -> set[str]:
    """Write the prices that changed; returns the ids of the bookmakers seen."""
    if not races:
        return set()
    race_ids = [r.race_id for r in races]
    live = OddsLive.__table__
    stored = _stored_rows(session, race_ids)
    _mark_non_runners(session, races, stored, now, summary)

    # New rows are COPYed straight in; known keys are one UPDATE … FROM, of the quote's
    # columns alone when nothing else about the row changed.
    new_rows, whole_rows, quote_rows, history_rows, bookmakers = [], [], [], [], set()
    for race in races:
        summary.races += 1
        summary.runners += race.runners
        summary.skipped_runners += race.skipped_runners
        summary.skipped_prices += race.skipped_prices
        summary.prices += len(race.prices)
        _sort_changes(race, stored, now, bookmakers, (new_rows, whole_rows, quote_rows, history_rows))
        # Earlier prices the API still reports: our own first sight of a price may be late.
        for (horse_id, bookmaker_id), history in race.raw_history.items():
            if (race.race_id, horse_id, bookmaker_id) not in stored:
                history_rows.extend(tuple(h[c] for c in HISTORY[:-1]) + (now,)
                                    for h in earlier_prices(race.race_id, horse_id, bookmaker_id, history))
    summary.bookmakers = len(bookmakers)
    summary.changed = len(new_rows) + len(whole_rows) + len(quote_rows)
    del stored
    _register_unknown_bookmakers(session, races, summary)
    same = {"in_play": False, "fetched_at": now, "updated_at": now}
    upsert(session, live, quote_rows, LIVE_KEY, QUOTE_UPDATED, known=True, columns=LIVE_KEY + QUOTE_STAMPED, same=same)
    upsert(session, live, whole_rows, LIVE_KEY, UPDATED, known=True, columns=WHOLE)
    upsert(session, live, new_rows, LIVE_KEY, UPDATED, expect_new=True, columns=WHOLE)
    # A new price's changed_at is past the stored stamp (_changed_at): its key is new.
    summary.history = upsert(session, OddsHistory.__table__, history_rows,
                             ("race_id", "horse_id", "bookmaker_id", "changed_at"), expect_new=True,
                             columns=HISTORY)

    digests = digests or {}
    upsert(session, LiveRace.__table__, [
        {"race_id": r.race_id, "race_date": r.meta["race_date"], "off_dt": r.off_dt,
         "course": r.meta["course"], "race_name": r.meta["race_name"], "market_status": "OPEN",
         "captures": 0, "first_seen_at": now, "fetched_at": now, "card_digest": digests.get(r.race_id),
         "card_counts": card_digests.race_counts(r)} for r in races],
        ("race_id",), ("race_date", "off_dt", "course", "race_name", "card_digest", "card_counts"))
    races_table = LiveRace.__table__
    session.execute(update(races_table).where(races_table.c.race_id.in_(race_ids)).values(
        captures=races_table.c.captures + 1, fetched_at=now))
    return bookmakers


def _sort_changes(race: ParsedRace, stored: dict, now: datetime, bookmakers: set, out: tuple) -> None:
    """Append the race's changed prices to (new, whole, quote, history) rows: new keys whole,
    known keys whole or, when nothing but the quote changed, the quote's columns alone."""
    new_rows, whole_rows, quote_rows, history_rows = out
    race_id, race_values = race.race_id, tuple(race.meta[c] for c in RACE)
    last_runner = rest = None
    for runner, bookmaker_id, name, kind, decimal, fractional, ew_places, ew_denom, stamp in race.prices:
        bookmakers.add(bookmaker_id)
        if runner is not last_runner:  # a runner's prices are consecutive and share its tuple
            last_runner, rest = runner, race_values + runner[1:]
        key = (race_id, runner[0], bookmaker_id)
        quote = (decimal, fractional, ew_places, ew_denom, "OPEN")
        before = stored.get(key)
        same_rest = before is not None and before[2] == rest and before[3] == (name, kind)
        if same_rest and before[0] == quote:
            continue
        stamp = stamp or now
        if same_rest:
            quote_rows.append(key + quote + (stamp,))
        else:
            (whole_rows if before is not None else new_rows).append(
                key + rest + (name, kind) + quote + (False, stamp, now, now, now))
        if before is None or before[0][:2] != (decimal, fractional):
            history_rows.append(key + (decimal, fractional, _changed_at(stamp, before, now), now))


def _changed_at(stamp: datetime | None, before, now: datetime) -> datetime:
    """When a new price was set: the bookmaker's `updated` stamp, or our own time when the
    stamp did not move past the stored one (a move the bookmaker did not re-stamp would
    otherwise collide with the earlier price's history row and be lost)."""
    if stamp is None or (before is not None and before[1] is not None and stamp <= before[1]):
        return now
    return stamp


_unknown_logged: set[str] = set()


def _register_unknown_bookmakers(session, races: list[ParsedRace], summary: CycleSummary) -> None:
    """Bookmakers outside our list join ra_bookmakers as 'unknown'; each is logged once per process."""
    unknown = {}
    for race in races:
        for bookmaker_id, name in race.unknown_bookmakers.items():
            unknown.setdefault(bookmaker_id, name)
    summary.unknown_bookmakers = len(unknown)
    if not unknown:
        return
    rows = [{"bookmaker_id": bookmaker_id, "bookmaker_name": name, "bookmaker_type": "unknown"}
            for bookmaker_id, name in sorted(unknown.items())]
    upsert(session, Bookmaker.__table__, rows, ("bookmaker_id",))
    for bookmaker_id, name in unknown.items():
        if bookmaker_id not in _unknown_logged:
            _unknown_logged.add(bookmaker_id)
            log.warning("bookmaker %r is not in our list: stored as %r (type unknown)", name, bookmaker_id)


_STATUS_AT, _PRICE_DECIMAL_AT, _NAME_AT = QUOTE.index("market_status"), QUOTE.index("odds_decimal"), len(RACE)


def _mark_non_runners(session, races: list[ParsedRace], stored: dict, now: datetime, summary: CycleSummary) -> None:
    """Close the live rows of runners gone from their card (or priced '-' by every book), once,
    and record each withdrawal with its last best price; reopen a runner that comes back."""
    by_id = {race.race_id: race for race in races}
    leaving: dict[tuple[str, str], list] = {}
    back = set()
    for (race_id, horse_id, _), (values, _stamp, rest, _book) in stored.items():
        race = by_id[race_id]
        status = values[_STATUS_AT]
        if status == "OPEN":
            # A race with a malformed runner cannot tell us who is missing from it.
            if horse_id in race.non_runners or (horse_id not in race.horses and not race.skipped_runners):
                leaving.setdefault((race_id, horse_id), []).append((values, rest))
        elif status == "NON_RUNNER" and horse_id in race.horses and horse_id not in race.non_runners:
            back.add((race_id, horse_id))
    for (race_id, horse_id), rows in sorted(leaving.items()):
        prices = [v[_PRICE_DECIMAL_AT] for v, _ in rows if v[_PRICE_DECIMAL_AT]]
        _withdraw(session, by_id[race_id], horse_id, rows[0][1][_NAME_AT], prices, now, summary)
    for race_id, horse_id in sorted(back):
        _reopen(session, by_id[race_id], horse_id, now, summary)


def _withdraw(session, race: ParsedRace, horse_id: str, name, prices: list[float], now, summary) -> None:
    live = OddsLive.__table__
    session.execute(update(live).where(live.c.race_id == race.race_id, live.c.horse_id == horse_id,
                                       live.c.market_status == "OPEN")
                    .values(market_status="NON_RUNNER", withdrawn_at=now))
    values = {"race_date": race.meta["race_date"], "horse_name": name, "withdrawn_at": now,
              "last_price": max(prices) if prices else None, "last_price_books": len(prices),
              "reason": "no_prices" if horse_id in race.horses else "off_card", "reopened_at": None}
    upsert(session, Withdrawal.__table__, [{"race_id": race.race_id, "horse_id": horse_id, **values}],
           ("race_id", "horse_id"), values.keys())
    summary.withdrawn += 1
    log.info("race %s: runner %s withdrawn (%s); last best price %s", race.race_id, horse_id,
             values["reason"], values["last_price"])


def _reopen(session, race: ParsedRace, horse_id: str, now, summary) -> None:
    live = OddsLive.__table__
    session.execute(update(live).where(live.c.race_id == race.race_id, live.c.horse_id == horse_id,
                                       live.c.market_status == "NON_RUNNER")
                    .values(market_status="OPEN", withdrawn_at=None))
    table = Withdrawal.__table__
    session.execute(update(table).where(table.c.race_id == race.race_id, table.c.horse_id == horse_id)
                    .values(reopened_at=now))
    summary.reopened += 1
    log.warning("race %s: runner %s is back on the card after being withdrawn; reopened (a glitch?)",
                race.race_id, horse_id)
