"""When a simulated race really goes off: late as in the field, now and then re-timed on the card
beforehand or abandoned on the day, its result published a few minutes after the real off.

All pure functions of (seed, race_id). The lateness follows the Racing Post's 2023 study of GB/IRE
races (56.8 % at least 60 s late): about 57 % a minute or more, most of those 1-5 minutes, a few
over 10.
"""
from __future__ import annotations

from typing import NamedTuple

from .reference import _key

_UNIT = float(1 << 64)


def _uniform(*parts) -> float:
    return _key(*parts) / _UNIT


# (cumulative share, shortest delay, longest delay) in seconds
LATENESS = ((0.43, 0, 59), (0.83, 60, 180), (0.925, 181, 300), (0.97, 301, 600), (1.0, 601, 1200))
RETIMED_SHARE = 0.04          # re-timed on the card before the off (a later off)
RETIME_SHIFTS = (5, 10, 15, 20)   # minutes later
ABANDONED_ONE_IN = 60


class OffPlan(NamedTuple):
    late_seconds: int            # the real off minus the final scheduled off
    retime_minutes: int          # 0, or how much later the card moved the off
    retime_notice: int           # seconds before the first scheduled off that the card changed
    abandoned: bool
    abandon_notice: int          # seconds before the off that the card said abandoned
    result_delay: int            # seconds from the real off to the result in results/today


def late_seconds(seed: int, race_id: str) -> int:
    u = _uniform(seed, race_id, "late")
    lo, hi = next((lo, hi) for share, lo, hi in LATENESS if u < share)
    return lo + int(_uniform(seed, race_id, "late-within") * (hi - lo + 1))


def abandoned(seed: int, race_id: str) -> bool:
    return _key(seed, race_id, "abandoned") % ABANDONED_ONE_IN == 0


def off_plan(seed: int, race_id: str) -> OffPlan:
    retimed = _uniform(seed, race_id, "retimed") < RETIMED_SHARE
    return OffPlan(
        late_seconds=late_seconds(seed, race_id),
        retime_minutes=RETIME_SHIFTS[_key(seed, race_id, "retime-by") % len(RETIME_SHIFTS)] if retimed else 0,
        retime_notice=20 * 60 + _key(seed, race_id, "retime-notice") % (70 * 60),
        abandoned=abandoned(seed, race_id),
        abandon_notice=10 * 60 + _key(seed, race_id, "abandon-notice") % (5 * 3600),
        # A race runs one to eight minutes, and the result takes a minute or two to publish.
        result_delay=150 + _key(seed, race_id, "result-delay") % 360)
