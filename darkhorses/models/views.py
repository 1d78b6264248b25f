"""The view `ra_odds_live`: the replaced service's table as its readers know it.

Readers take `fetched_at` as "when this price was last confirmed". The collector writes a
price row only when it changes and stamps each race once per check (`ra_live_races`), so
the view takes the race's last check, falling back to the row's own time (adopted rows,
races the loop never tracked). Plain SQL, valid on PostgreSQL and SQLite.
"""
from __future__ import annotations

LIVE_VIEW = "ra_odds_live"
# Every column of the physical table but `fetched_at`, in the contract's order, ours after.
LIVE_VIEW_COLUMNS = (
    "id", "race_id", "horse_id", "bookmaker_id", "race_date", "race_time", "off_dt", "course",
    "race_name", "race_class", "race_type", "distance", "going", "runners", "horse_name",
    "horse_number", "jockey", "trainer", "draw", "weight", "age", "form", "bookmaker_name",
    "bookmaker_type", "market_type", "odds_decimal", "odds_fractional", "market_status", "in_play",
    "odds_timestamp")
LIVE_VIEW_OURS = ("course_id", "country", "ew_places", "ew_denom", "created_at")


def create_live_view_sql() -> str:
    columns = ", ".join(f"p.{c}" for c in LIVE_VIEW_COLUMNS)
    ours = ", ".join(f"p.{c}" for c in LIVE_VIEW_OURS)
    return (f"CREATE VIEW {LIVE_VIEW} AS SELECT {columns}, "
            "COALESCE(r.fetched_at, p.fetched_at) AS fetched_at, p.updated_at, "
            f"{ours} FROM ra_odds_live_prices p LEFT JOIN ra_live_races r ON r.race_id = p.race_id")


DROP_LIVE_VIEW = f"DROP VIEW IF EXISTS {LIVE_VIEW}"
