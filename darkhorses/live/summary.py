"""What one live cycle did: the counts a run record, the heartbeat and the logs carry."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# The longest the loop sleeps between cycles (the far band of LIVE_POLL_INTERVALS at most).
MAX_SLEEP = 900.0


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
    # The off as it happens (darkhorses/live/offs.py, closeout.py)
    past_off_open: int = 0       # races past their scheduled off still open after this cycle
    not_opened: int = 0          # first seen past the off with prices frozen before it
    retimed: int = 0
    bad_retimings: int = 0       # re-timings into the past, refused
    results_today_calls: int = 0
    results_seen: int = 0        # races closed on their result this cycle
    provisional_results: int = 0  # runners stored from results/today
    unknown_results: int = 0
    bad_results: int = 0
    closeouts: int = 0
    closeout_moves: int = 0      # back-filled into ra_odds_history
    closeout_failures: int = 0
    next_off: str | None = None
    next_poll_seconds: float = MAX_SLEEP
    duration_seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)
