"""Per-day statistics kept in ra_stats_days, so the 10-minute job reads days, not rows.

A day's figures are rebuilt when the day can have changed: it has no figures yet, its figures
were made before it settled (the UK day after it is over: live prices are written for today
and tomorrow only, results the night after), or (results) its ledger entry moved since.
Distinct counts across days come from ra_stats_seen, filled with each rebuilt day's values.
Totals are sums over the days' figures, which is a few hundred small rows a year.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import String, case, cast, delete, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..core.clock import UK, day_start, uk_date
from ..models import CollectionLedger, OddsHistorical, OddsLive, StatsCount, StatsDay, StatsSeen

LIVE_NULL_COLUMNS = ("odds_decimal", "odds_fractional", "off_dt", "course", "horse_name",
                     "jockey", "trainer", "odds_timestamp")
HISTORICAL_NULL_COLUMNS = ("match_timestamp", "track", "horse_name", "finishing_position", "industry_sp",
                           "betfair_sp", "official_rating", "jockey", "trainer",
                           "pre_race_min", "pre_race_max")
# The contract files' data_quality columns, counted beside ours.
CONTRACT_LIVE_NULLS = ("race_id", "horse_id", "bookmaker_id", "race_date", "course", "horse_name", "odds_decimal",
                       "odds_timestamp")
CONTRACT_HISTORICAL_NULLS = ("date_of_race", "track", "horse_name", "industry_sp", "finishing_position", "jockey",
                             "trainer", "country")
_LIVE_NULLS = tuple(dict.fromkeys(LIVE_NULL_COLUMNS + CONTRACT_LIVE_NULLS))
_HISTORICAL_NULLS = tuple(dict.fromkeys(HISTORICAL_NULL_COLUMNS + CONTRACT_HISTORICAL_NULLS))
COVERAGE = {"with_sp": "industry_sp", "with_bsp": "betfair_sp", "with_pre_race_min": "pre_race_min",
            "with_pre_race_max": "pre_race_max", "with_forecasted_odds": "forecasted_odds"}
# A results day re-collected this recently is rebuilt (its ledger time is set before commit).
LEDGER_MARGIN = timedelta(hours=1)
# A live row created this long before a day's last rebuild may have committed after it (a cycle
# stamps its rows when it starts): its values are remembered again at the next rebuild.
REMEMBER_MARGIN = timedelta(hours=1)
SOURCES = {"live": OddsLive.__table__, "historical": OddsHistorical.__table__}
# Each table's day: live prices a DATE; results the contract's `date_of_race`, midnight UTC
# of the UK date as a timestamp (so a day's rows are those equal to day_start(day)).
DAY_COLUMN = {"live": "race_date", "historical": "date_of_race"}


def _day_column(table):
    return table.c[DAY_COLUMN["live" if table is OddsLive.__table__ else "historical"]]


def _as_day(value) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _in_days(table, days):
    """The table's rows of these days (its day column's values for them)."""
    column = _day_column(table)
    return column.in_(days if table is OddsLive.__table__ else [day_start(d) for d in days])


def _utc_iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.astimezone(timezone.utc).isoformat()


def settled_at(day: date) -> datetime:
    """When nothing more is written for `day` in normal running: the start of the UK day after next."""
    return datetime.combine(day + timedelta(days=2), time(0), UK).astimezone(timezone.utc)


def present_days(session: Session, table) -> list[date]:
    """The distinct days of a table, by skipping along its day index (PostgreSQL), so the cost
    is one probe per day rather than one read per row."""
    column = _day_column(table).name
    if session.get_bind().dialect.name == "postgresql":
        name = table.name
        values = session.execute(text(
            f"WITH RECURSIVE d AS ((SELECT {column} AS v FROM {name} WHERE {column} IS NOT NULL "
            f"ORDER BY {column} LIMIT 1) "
            f"UNION ALL SELECT (SELECT {column} FROM {name} WHERE {column} > d.v ORDER BY {column} LIMIT 1) "
            f"FROM d WHERE d.v IS NOT NULL) SELECT v FROM d WHERE v IS NOT NULL")).scalars()
    else:
        values = session.execute(select(_day_column(table)).where(_day_column(table).is_not(None)).distinct()).scalars()
    return sorted({_as_day(v) for v in values})


def _dirty_days(session: Session, source: str, now: datetime
                ) -> tuple[list[date], list[date], dict[date, datetime]]:
    """(days to rebuild, days whose figures must go because the table no longer has them, when
    each day rolled so far was last rebuilt)."""
    present = present_days(session, SOURCES[source])
    rolled = dict(session.execute(select(StatsDay.race_date, StatsDay.computed_at)
                                  .where(StatsDay.source == source)).all())
    dirty = {day for day in present if day not in rolled or rolled[day] < settled_at(day)}
    if source == "historical" and rolled:
        ledger = CollectionLedger.__table__
        for day, updated in session.execute(select(ledger.c.race_date, ledger.c.updated_at)
                                            .where(ledger.c.updated_at >= min(rolled.values()) - LEDGER_MARGIN)):
            if day in rolled and updated >= rolled[day] - LEDGER_MARGIN:
                dirty.add(day)
    present_set = set(present)
    return sorted(dirty & present_set), sorted(set(rolled) - present_set), rolled


def _nulls(table, columns):
    return [func.sum(case((table.c[c].is_(None), 1), else_=0)).label(f"null_{c}") for c in columns]


def _per_race(session: Session, table, days, columns: dict[str, str]) -> dict[date, dict[str, list]]:
    """{day: {label: [[value, rows, races], ...]}} for race-level columns (a race's min value)."""
    day = _day_column(table)
    per_race = select(day.label("day"), *(func.min(table.c[c]).label(c) for c in columns.values()),
                      func.count().label("rows")).where(_in_days(table, days)) \
        .group_by(day, table.c.race_id).cte("per_race")
    out: dict = defaultdict(lambda: {label: [] for label in columns})
    for label, column in columns.items():
        for day_value, value, rows, races in session.execute(
                select(per_race.c.day, cast(per_race.c[column], String), func.sum(per_race.c.rows),
                       func.count()).group_by(per_race.c.day, per_race.c[column])):
            out[_as_day(day_value)][label].append([value, int(rows), races])
    return out


def _remember(session: Session, source: str, table, days, dimensions: dict[str, list], created_since=None) -> None:
    """Add the days' distinct values to ra_stats_seen and count the new ones in
    ra_stats_counts; `dimensions` maps a name to columns (two columns: the first qualifies the
    name, e.g. a bookmaker's horses). With `created_since`, only rows created since then (or
    with no creation time) are read: the others' values were remembered at an earlier rebuild,
    and probing ra_stats_seen's key again for each of them is what grew with a year of horses."""
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    added: Counter = Counter()
    for name, columns in dimensions.items():
        value = table.c[columns[-1]]
        dimension = literal(name) if len(columns) == 1 else literal(name) + table.c[columns[0]]
        rows = select(literal(source), dimension, value).where(_in_days(table, days), value.is_not(None)).distinct()
        if created_since is not None:
            rows = rows.where((table.c.created_at >= created_since) | table.c.created_at.is_(None))
        added.update(session.execute(insert(StatsSeen.__table__).from_select(["source", "dimension", "value"], rows)
                                     .on_conflict_do_nothing().returning(StatsSeen.__table__.c.dimension)).scalars())
    if added:
        statement = insert(StatsCount.__table__).values(
            [{"source": source, "dimension": dimension, "count": n} for dimension, n in added.items()])
        session.execute(statement.on_conflict_do_update(
            index_elements=["source", "dimension"],
            set_={"count": StatsCount.__table__.c.count + statement.excluded["count"]}))


def live_days(session: Session, days: list[date], created_since: datetime | None = None) -> dict[date, dict]:
    """The days' figures; `created_since`: every row created before it was remembered already."""
    t = OddsLive.__table__
    figures: dict = defaultdict(lambda: {"rows": 0, "status": {}, "nulls": Counter(), "latest_odds": None,
                                         "latest_fetch": None, "bookmakers": {}})
    for row in session.execute(select(
            t.c.race_date, t.c.market_status, func.count().label("rows"),
            func.max(t.c.odds_timestamp).label("latest_odds"), func.max(t.c.fetched_at).label("latest_fetch"),
            *_nulls(t, _LIVE_NULLS)).where(_in_days(t, days))
            .group_by(t.c.race_date, t.c.market_status)).mappings():
        day = figures[row["race_date"]]
        day["rows"] += row["rows"]
        day["status"][row["market_status"]] = row["rows"]
        day["nulls"].update({c: row[f"null_{c}"] or 0 for c in _LIVE_NULLS})
        day["latest_odds"] = max(filter(None, (day["latest_odds"], _utc_iso(row["latest_odds"]))), default=None)
        day["latest_fetch"] = max(filter(None, (day["latest_fetch"], _utc_iso(row["latest_fetch"]))), default=None)
    per_book = select(t.c.race_date, t.c.bookmaker_id, func.count().label("prices"),
                      func.max(t.c.updated_at).label("latest"), func.max(t.c.odds_timestamp).label("odds")) \
        .where(_in_days(t, days)).group_by(t.c.race_date, t.c.bookmaker_id, t.c.race_id).subquery()
    for day, bookmaker, prices, races, latest, odds in session.execute(
            select(per_book.c.race_date, per_book.c.bookmaker_id, func.sum(per_book.c.prices), func.count(),
                   func.max(per_book.c.latest), func.max(per_book.c.odds))
            .group_by(per_book.c.race_date, per_book.c.bookmaker_id)):
        figures[day]["bookmakers"][bookmaker] = [int(prices), races, _utc_iso(latest), _utc_iso(odds)]
    for day, breakdowns in _per_race(session, t, days, {"course": "course"}).items():
        figures[day].update(breakdowns)
    _remember(session, "live", t, days, {"horse": ["horse_id"], "horse@": ["bookmaker_id", "horse_id"],
                                         "bookmaker@": ["course", "bookmaker_id"]}, created_since)
    return figures


def historical_days(session: Session, days: list[date], created_since: datetime | None = None) -> dict[date, dict]:
    """The days' figures, every row's values remembered (a re-collected day replaces its rows)."""
    t = OddsHistorical.__table__
    figures: dict = {}
    for row in session.execute(select(
            t.c.date_of_race, func.count().label("rows"), func.max(t.c.updated_at).label("latest_update"),
            *(func.count(t.c[c]).label(k) for k, c in COVERAGE.items()),
            *_nulls(t, _HISTORICAL_NULLS)).where(_in_days(t, days)).group_by(t.c.date_of_race)).mappings():
        figures[_as_day(row["date_of_race"])] = {
            "rows": row["rows"], "latest_update": _utc_iso(row["latest_update"]),
            "coverage": {k: row[k] for k in COVERAGE},
            "nulls": {c: row[f"null_{c}"] or 0 for c in _HISTORICAL_NULLS}}
    for day, breakdowns in _per_race(session, t, days, {"country": "country", "track": "track"}).items():
        figures[day].update(breakdowns)
    _remember(session, "historical", t, days,
              {"horse": ["horse_id"], "jockey": ["jockey_id"], "trainer": ["trainer_id"],
               # by name too: the contract counts names (the old service's rows have no ids)
               "horse_name": ["horse_name"], "jockey_name": ["jockey"], "trainer_name": ["trainer"]})
    return figures


BUILDERS = {"live": live_days, "historical": historical_days}
BATCH_DAYS = 31  # a first build over years of rows goes a month at a time


def refresh(session: Session, source: str, now: datetime) -> dict:
    """Rebuild the days that can have changed; returns {"rebuilt": n, "removed": n}."""
    dirty, gone, rolled = _dirty_days(session, source, now)
    if gone:
        session.execute(delete(StatsDay.__table__).where(StatsDay.source == source, StatsDay.race_date.in_(gone)))
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    for start in range(0, len(dirty), BATCH_DAYS):
        batch = dirty[start:start + BATCH_DAYS]
        # Days rebuilt before need only the rows created since their last rebuild remembered.
        created_since = (min(rolled[day] for day in batch) - REMEMBER_MARGIN
                         if all(day in rolled for day in batch) else None)
        figures = BUILDERS[source](session, batch, created_since)
        rows = [{"source": source, "race_date": day, "computed_at": now, "figures": figures[day]}
                for day in batch if day in figures]
        if rows:
            statement = insert(StatsDay.__table__).values(rows)
            session.execute(statement.on_conflict_do_update(
                index_elements=["source", "race_date"],
                set_={"computed_at": statement.excluded.computed_at, "figures": statement.excluded.figures}))
    return {"rebuilt": len(dirty), "removed": len(gone)}


def days(session: Session, source: str) -> list[tuple[date, dict]]:
    return list(session.execute(select(StatsDay.race_date, StatsDay.figures)
                                .where(StatsDay.source == source).order_by(StatsDay.race_date)).all())


def seen_counts(session: Session, source: str) -> dict[str, int]:
    return dict(session.execute(select(StatsCount.dimension, StatsCount.count)
                                .where(StatsCount.source == source)).all())


def merge_breakdown(days_figures, label: str) -> list[dict]:
    """[{label: value, rows, races}] over all days, sorted by value (None last)."""
    totals: dict = {}
    for _, figures in days_figures:
        for value, rows, races in figures.get(label, ()):
            entry = totals.setdefault(value, [0, 0])
            entry[0] += rows
            entry[1] += races
    return [{label: value, "rows": rows, "races": races}
            for value, (rows, races) in sorted(totals.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]


def recent_live_changes(session: Session, now: datetime) -> tuple[int, int]:
    """Rows changed in the last hour and day. A live row is written only while its race is
    today's or tomorrow's, so only race dates from yesterday (UK) on can hold such rows."""
    t = OddsLive.__table__
    row = session.execute(select(
        func.sum(case((t.c.updated_at >= now - timedelta(hours=1), 1), else_=0)),
        func.sum(case((t.c.updated_at >= now - timedelta(hours=24), 1), else_=0)))
        .where(t.c.race_date >= uk_date(now - timedelta(hours=24)) - timedelta(days=1))).one()
    return row[0] or 0, row[1] or 0


def summed(days, key: str) -> Counter:
    """One counter of the per-day figures under `key`, over (day, figures) pairs."""
    total: Counter = Counter()
    for _, figures in days:
        total.update(figures.get(key, {}))
    return total
