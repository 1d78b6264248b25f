"""A stand-in for The Racing API (spec v1.4.3) that a client cannot tell from the real one.

Everything served is a pure function of (seed, date, ids, clock time), so a newcomer with no
account, the tests and the benchmarks all see the same racing. Cards, prices and results
honour the spec's component schemas and the API's quirks (12-hour `off_time`, prices as
strings with '-', 'SP', '' and 'evens', dead-heats, non-runners, abandoned races), and the
HTTP side adds Basic auth, per-endpoint rate limits and optional injected faults.

Races go off as in the field: late (about 57 % a minute or more), now and then re-timed on the
card or abandoned on the day, prices moving until the real off and frozen after, the result in
results/today a few minutes later (offs.py); each bookmaker's book sums to a realistic over-round.

Layout: reference.py (fixed world, hashing, formats) -> offs.py (the real off) -> cards.py (days, races, runners) ->
markets.py (prices) -> results.py -> api.py (Simulator and its endpoint methods) ->
protocol.py (HTTP semantics without a socket) -> server.py (socket, `serve`, `main`).
"""
from .api import Simulator
from .model import ApiError, Faults, Race, Runner
from .reference import CARDS_FROM, HISTORY_FROM, RESULT_DELAY, RESULTS_FROM, TICK, UK, UNLISTED
from .server import main, serve

__all__ = ["ApiError", "CARDS_FROM", "Faults", "HISTORY_FROM", "RESULT_DELAY", "RESULTS_FROM", "Race", "Runner",
           "Simulator", "TICK", "UK", "UNLISTED", "main", "serve"]
