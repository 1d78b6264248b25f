"""One live-odds cycle: fetch today's racecards with embedded odds, write what changed.

Plain functions over a session and a client; `darkhorses.tasks.live` wraps them in the
self-scheduling Celery loop. A race that is off is never written again: its last captured
prices stay as the closing snapshot and its market is marked CLOSED.
"""
from __future__ import annotations

import hashlib
import json
import logging
import operator
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, select, update

from .bookmakers import bookmaker_for
from .db import session_scope, upsert
from .models import LiveFetch, LiveRace, OddsHistory, OddsLive
from .prices import (parse_price, parse_timestamp, text, to_int, uk_date, uk_time)
from .racing_api import RacingAPIClient
from .settings import get_settings

log = logging.getLogger(__name__)

# Fetch tomorrow's cards too when this window from now crosses midnight UK time.
LOOKAHEAD = timedelta(hours=2)
MAX_SLEEP = 900.0
LIVE_KEY = ("race_id", "horse_id", "bookmaker_id")
# What decides whether a stored row must be rewritten; timestamps are not part of it.
COMPARED = ("race_date", "race_time", "off_dt", "course", "course_id", "country", "race_name",
            "race_class", "race_type", "distance", "going", "runners", "horse_name",
            "horse_number", "draw", "jockey", "trainer", "age", "weight", "form",
            "bookmaker_name", "bookmaker_type", "odds_decimal", "odds_fractional", "ew_places",
            "ew_denom", "market_status")
UPDATED = COMPARED + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
_compared = operator.itemgetter(*COMPARED)
_PRICE_AT = (COMPARED.index("odds_decimal"), COMPARED.index("odds_fractional"))
# A quote's own fields: when only these differ, the row is rewritten with these alone.
QUOTE = ("odds_decimal", "odds_fractional", "ew_places", "ew_denom", "market_status")
QUOTE_UPDATED = QUOTE + ("in_play", "odds_timestamp", "fetched_at", "updated_at")
# Part of every card digest: a change to how cards are parsed must not match old digests.
DIGEST_VERSION = "1"


class MalformedRace(ValueError):
    pass


@dataclass
class ParsedRace:
    race_id: str
    off_dt: datetime
    abandoned: bool
    meta: dict
    rows: list[dict] = field(default_factory=list)  # one per runner and bookmaker
    # The API's own earlier prices per (horse, bookmaker), parsed only for prices new to us.
    raw_history: dict[tuple[str, str], list] = field(default_factory=dict)
    runners: int = 0
    skipped_runners: int = 0
    skipped_prices: int = 0
    digest: str | None = None
    counts_seen: dict | None = None

    def counts(self) -> dict:
        return {"runners": self.runners, "prices": len(self.rows), "skipped_runners": self.skipped_runners,
                "skipped_prices": self.skipped_prices,
                "bookmakers": sorted({row["bookmaker_id"] for row in self.rows})}


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
    next_off: str | None = None
    next_poll_seconds: float = MAX_SLEEP
    duration_seconds: float = 0.0
    bookmakers_seen: set = field(default_factory=set, repr=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "bookmakers_seen"}


def parse_racecard(card: dict) -> ParsedRace:
    """A racecard as rows for ra_odds_live; bad runners and prices are skipped and counted."""
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
    for runner in runners:
        try:
            _parse_runner(race, runner)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            race.skipped_runners += 1
            horse = runner.get("horse_id") if isinstance(runner, dict) else None
            log.warning("race %s: skipped malformed runner %s: %s", race_id, horse, exc)
    return race


def _parse_runner(race: ParsedRace, runner: dict) -> None:
    horse_id = text(runner["horse_id"], 32)
    if not horse_id:
        raise ValueError("no horse_id")
    runner_meta = {
        "horse_id": horse_id,
        "horse_name": text(runner.get("horse"), 128) or horse_id,  # never null for the readers
        "horse_number": to_int(runner.get("number")),
        "draw": to_int(runner.get("draw")),
        "jockey": text(runner.get("jockey"), 128),
        "trainer": text(runner.get("trainer"), 128),
        "age": to_int(runner.get("age")),
        "weight": text(runner.get("lbs"), 8),
        "form": text(runner.get("form"), 32),
    }
    odds = runner.get("odds") or []
    if not isinstance(odds, list):
        raise ValueError("odds is not a list")
    race.runners += 1
    seen = set()
    for quote in odds:
        bookmaker = bookmaker_for(quote.get("bookmaker")) if isinstance(quote, dict) else None
        price = parse_price(quote.get("decimal"), quote.get("fractional")) if bookmaker else None
        if price is None or bookmaker.id in seen:
            race.skipped_prices += 1
            continue
        seen.add(bookmaker.id)
        race.rows.append({
            **race.meta, **runner_meta,
            "bookmaker_id": bookmaker.id,
            "bookmaker_name": bookmaker.name,
            "bookmaker_type": bookmaker.type,
            "odds_decimal": round(price, 3),  # as numeric(10,3) stores it, so an unchanged price compares equal
            "odds_fractional": text(quote.get("fractional"), 16),
            "ew_places": text(quote.get("ew_places"), 8),
            "ew_denom": text(quote.get("ew_denom"), 8),
            "odds_timestamp": parse_timestamp(quote.get("updated")),
        })
        if quote.get("history"):
            race.raw_history[(horse_id, bookmaker.id)] = quote["history"]


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


def _off(card) -> datetime | None:
    return parse_timestamp(card.get("off_dt")) if isinstance(card, dict) else None


def _fetch_cards(client: RacingAPIClient, now: datetime, regions) -> list[dict]:
    """Today's cards, plus tomorrow's when the look-ahead crosses midnight or today is over
    (so the countdown can aim at tomorrow's first race)."""
    today = uk_date(now)
    cards = client.racecards_pro(today, regions)
    today_has_more = any(off > now for off in map(_off, cards) if off)
    if uk_date(now + LOOKAHEAD) != today or not today_has_more:
        cards = cards + client.racecards_pro(today + timedelta(days=1), regions)
    return cards


def run_cycle(client: RacingAPIClient | None = None, now: datetime | None = None,
              settings=None) -> CycleSummary:
    """Fetch, parse and write one cycle; returns its summary (also stored as a run record)."""
    settings = settings or get_settings()
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    own_client = client is None
    client = client or RacingAPIClient(settings)
    try:
        cards = _fetch_cards(client, now, settings.regions)
    finally:
        if own_client:
            client.close()

    summary = CycleSummary()
    with session_scope() as session:
        open_cards, unchanged, finished, abandoned = _classify(session, cards, now, summary)
        summary.closed = _close_markets(session, finished, abandoned)
        written = _write_open_races(session, open_cards, now, summary)
        _count_unchanged(session, unchanged, now, summary)
        upcoming = [r.off_dt for r in written] + [off for _, off, _ in unchanged]
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
            bookmaker_list=sorted(summary.bookmakers_seen), fetch_duration_ms=round(summary.duration_seconds * 1000, 1),
            errors_count=summary.errors, prices_changed=summary.changed, created_at=now,
            detail={k: v for k, v in summary.as_dict().items() if k not in (
                "races", "runners", "bookmakers", "prices", "changed", "errors", "duration_seconds")}))
    return summary


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


def _card_digest(card: dict) -> str:
    return hashlib.blake2b((DIGEST_VERSION + json.dumps(card, separators=(",", ":"), default=str)).encode(),
                           digest_size=16).hexdigest()


def _classify(session, cards: list, now: datetime, summary: CycleSummary):
    """(open cards to write as (card, digest), unchanged open races, finished ids, abandoned ids).

    An open race whose card is byte-for-byte the one written last time is not parsed at all:
    its rows are already what parsing would produce (the digest is stored with them). Open
    cards are parsed later, one at a time, so a cycle never holds every parsed row at once."""
    digests = {}
    for card in cards:
        off = _off(card)
        race_id = text(card.get("race_id"), 32) if off else None
        if race_id and off > now and card.get("is_abandoned") is not True:
            digests[id(card)] = (race_id, off, _card_digest(card))
    stored = _stored_digests(session, {race_id: digest for race_id, _, digest in digests.values()})
    open_cards, unchanged, finished, abandoned = [], [], [], []
    for card in cards:
        race_id, off, digest = digests.get(id(card), (None, None, None))
        if digest is not None:
            if stored.get(race_id) == digest:
                unchanged.append((race_id, off, digest))
            else:
                open_cards.append((card, digest))
            continue
        try:
            race = parse_racecard(card)
        except MalformedRace as exc:
            summary.skipped_races += 1
            log.warning("skipped malformed race: %s", exc)
            continue
        if race.abandoned:
            abandoned.append(race.race_id)
        elif race.off_dt <= now:
            finished.append(race.race_id)
    return open_cards, unchanged, finished, abandoned


def _stored_digests(session, digests: dict[str, str]) -> dict[str, str]:
    """{race: digest} of the races whose stored digest matches and whose rows are still there
    (a race whose rows were deleted behind our back is written again, whatever its digest)."""
    if not digests:
        return {}
    races, live = LiveRace.__table__, OddsLive.__table__
    has_rows = exists().where(live.c.race_id == races.c.race_id)  # one index probe per race
    return {race_id: digest for race_id, digest in session.execute(
        select(races.c.race_id, races.c.card_digest).where(races.c.race_id.in_(list(digests)), has_rows))
        if digest == digests[race_id]}


def _count_unchanged(session, unchanged: list, now: datetime, summary: CycleSummary) -> None:
    """Unchanged races count in the summary as their last parse did; only their check time moves."""
    if not unchanged:
        return
    races = LiveRace.__table__
    ids = [race_id for race_id, _, _ in unchanged]
    bookmakers = summary.bookmakers_seen
    for counts in session.execute(select(races.c.card_counts).where(races.c.race_id.in_(ids))).scalars():
        counts = counts or {}
        summary.races += 1
        summary.runners += counts.get("runners", 0)
        summary.prices += counts.get("prices", 0)
        summary.skipped_runners += counts.get("skipped_runners", 0)
        summary.skipped_prices += counts.get("skipped_prices", 0)
        bookmakers.update(counts.get("bookmakers", ()))
    summary.bookmakers = len(bookmakers)
    session.execute(update(races).where(races.c.race_id.in_(ids)).values(
        captures=races.c.captures + 1, fetched_at=now))


_RUNNER_META = len(COMPARED) - 7   # race and runner columns lead COMPARED; 7 per-quote ones follow


def _stored_rows(session, race_ids: list[str]) -> tuple[dict, dict]:
    """({(race, horse, bookmaker): its bookmaker and quote values, then odds_timestamp},
    {(race, horse): {meta values}}).

    Race and runner values are read once per runner, not once per price (a set: rows written
    at different times may differ). Less to read, convert and hold than every column of every row."""
    live = OddsLive.__table__
    meta_columns, quote_columns = COMPARED[:_RUNNER_META], COMPARED[_RUNNER_META:] + ("odds_timestamp",)
    if session.get_bind().dialect.name == "postgresql":
        # Straight from the driver: psycopg2 already returns the types the rows compare with,
        # and SQLAlchemy's per-value result processing would cost more than the query.
        cursor = session.connection().connection.dbapi_connection.cursor()
        # numeric(10,3) read as float8: floats to compare with, no Decimal per row.
        selected = ", ".join("odds_decimal::float8" if c == "odds_decimal" else c for c in LIVE_KEY + quote_columns)
        cursor.execute(f"SELECT {selected} FROM {live.name} WHERE race_id = ANY(%s)", (race_ids,))
        quotes = {row[:3]: row[3:] for row in cursor}
        cursor.execute("SELECT DISTINCT " + ", ".join(("race_id", "horse_id") + meta_columns)
                       + f" FROM {live.name} WHERE race_id = ANY(%s)", (race_ids,))
        meta_rows = cursor.fetchall()
    else:
        quotes = {tuple(row[:3]): tuple(row[3:]) for row in session.execute(
            select(*(live.c[c] for c in LIVE_KEY + quote_columns)).where(live.c.race_id.in_(race_ids)))}
        meta_rows = session.execute(select(*(live.c[c] for c in ("race_id", "horse_id") + meta_columns))
                                    .where(live.c.race_id.in_(race_ids)).distinct()).all()
    meta: dict = {}
    for row in meta_rows:
        meta.setdefault((row[0], row[1]), set()).add(tuple(row[2:]))
    return quotes, meta


class _Changes:
    """The rows a cycle writes, sorted by how: new, whole row, or the quote's own columns only."""

    def __init__(self, now: datetime):
        self.now = now
        # History rows whose stamp the stored price already has go through the merge: their
        # key may exist. The rest are new by construction and are COPYed straight in.
        self.new, self.whole, self.quotes, self.history, self.same_stamp = [], [], [], [], []

    def add(self, row: dict, before, runner_same: bool) -> None:
        row["odds_timestamp"] = row["odds_timestamp"] or self.now  # not null in the contract
        values = _compared(row)
        if before is not None and runner_same and before[:-1] == values[_RUNNER_META:]:
            return
        now = self.now
        if before is None:
            self.new.append(row)
        elif runner_same and before[:2] == values[_RUNNER_META:_RUNNER_META + 2]:
            self.quotes.append({**{c: row[c] for c in LIVE_KEY + QUOTE}, "in_play": False,
                                "odds_timestamp": row["odds_timestamp"], "fetched_at": now, "updated_at": now})
        else:
            self.whole.append(row)
        row.update(in_play=False, fetched_at=now, updated_at=now, created_at=now)
        if before is None or any(before[i - _RUNNER_META] != values[i] for i in _PRICE_AT):
            same = before is not None and before[-1] == row["odds_timestamp"]
            (self.same_stamp if same else self.history).append({
                "race_id": row["race_id"], "horse_id": row["horse_id"], "bookmaker_id": row["bookmaker_id"],
                "odds_decimal": row["odds_decimal"], "odds_fractional": row["odds_fractional"],
                "changed_at": row["odds_timestamp"] or now, "observed_at": now})


def _race_changes(race: ParsedRace, quotes: dict, meta: dict, changes: _Changes, summary: CycleSummary) -> None:
    summary.races += 1
    summary.runners += race.runners
    summary.skipped_runners += race.skipped_runners
    summary.skipped_prices += race.skipped_prices
    runner_same: dict = {}
    for row in race.rows:
        row["market_status"] = "OPEN"
        summary.prices += 1
        summary.bookmakers_seen.add(row["bookmaker_id"])
        runner = (row["race_id"], row["horse_id"])
        if runner not in runner_same:
            runner_same[runner] = meta.get(runner) == {_compared(row)[:_RUNNER_META]}
        changes.add(row, quotes.get(runner + (row["bookmaker_id"],)), runner_same[runner])
    # Earlier prices the API still reports: our own first sight of a price may be late.
    for (horse_id, bookmaker_id), history in race.raw_history.items():
        if (race.race_id, horse_id, bookmaker_id) not in quotes:
            changes.history.extend({**h, "observed_at": changes.now}
                                   for h in earlier_prices(race.race_id, horse_id, bookmaker_id, history))


def _write_open_races(session, open_cards: list, now: datetime, summary: CycleSummary) -> list[ParsedRace]:
    """Parse and write the changed open races; returns them (their rows dropped once sorted)."""
    if not open_cards:
        return []
    quotes, meta = _stored_rows(session, [text(card.get("race_id"), 32) for card, _ in open_cards])
    changes, races = _Changes(now), []
    for card, digest in open_cards:
        try:
            race = parse_racecard(card)
        except MalformedRace as exc:
            summary.skipped_races += 1
            log.warning("skipped malformed race: %s", exc)
            continue
        race.digest = digest
        _race_changes(race, quotes, meta, changes, summary)
        race.counts_seen = race.counts()
        race.rows, race.raw_history = [], {}
        races.append(race)
    del quotes, meta
    summary.bookmakers = len(summary.bookmakers_seen)
    summary.changed = len(changes.new) + len(changes.whole) + len(changes.quotes)
    live = OddsLive.__table__
    upsert(session, live, changes.quotes, LIVE_KEY, QUOTE_UPDATED, known=True)
    upsert(session, live, changes.whole, LIVE_KEY, UPDATED, known=True)
    upsert(session, live, changes.new, LIVE_KEY, UPDATED, expect_new=True)
    history_key = ("race_id", "horse_id", "bookmaker_id", "changed_at")
    summary.history = upsert(session, OddsHistory.__table__, changes.history, history_key, expect_new=True) \
        + upsert(session, OddsHistory.__table__, changes.same_stamp, history_key)
    _record_races(session, races, now)
    return races


def _record_races(session, races: list[ParsedRace], now: datetime) -> None:
    if not races:
        return
    table = LiveRace.__table__
    upsert(session, table, [
        {"race_id": r.race_id, "race_date": r.meta["race_date"], "off_dt": r.off_dt,
         "course": r.meta["course"], "race_name": r.meta["race_name"], "market_status": "OPEN",
         "captures": 0, "first_seen_at": now, "fetched_at": now, "card_digest": r.digest,
         "card_counts": r.counts_seen} for r in races],
        ("race_id",), ("race_date", "off_dt", "course", "race_name", "card_digest", "card_counts"))
    session.execute(update(table).where(table.c.race_id.in_([r.race_id for r in races])).values(
        captures=table.c.captures + 1, fetched_at=now))
