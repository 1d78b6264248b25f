"""Prices without per-request state: each (race, horse, bookmaker) price may change only on its
own grid of clock ticks, and the value at a change is a hash of the ids and the tick, so the
price "now", its `updated` time and its history are computed directly, never replayed."""
from __future__ import annotations

import bisect
import math
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING

from ..racing_api.bookmakers import BOOKMAKERS
from .model import Race, Runner
from .reference import (
    _EXCHANGE,
    _EXCHANGE_BOOK,
    _EXCHANGE_SERVED,
    _FIXED,
    _FIXED_SERVED,
    _MARGIN,
    _SALT,
    _UNLISTED_LINE,
    CARD_HISTORY,
    HISTORY_FROM,
    TICK,
    UK,
    UNLISTED,
    _clock12,
    _iso,
    _key,
    _mix,
)

# A price once set never changes: memo by (hash of seed/race/horse/bookmaker, tick, off time).
_MEMO: dict[tuple[int, int, int], tuple] = {}


class Markets:
    """Bookmakers' prices and the served racecard, mixed into Simulator (uses its now())."""

    if TYPE_CHECKING:  # Simulator's, declared for the type checker only
        seed: int

        def now(self) -> datetime: ...

    def _line(self, race: Race, runner: Runner, j: int, h: int, t: float, n: int) -> list[tuple]:
        """Up to n prices (ts, decimal, fractional) set at or before t, newest first; [] before the book opens."""
        period = 3 + (h >> 10) % 6
        slow = 6 * period                       # before the last two hours prices move 6x less often
        phase = (h >> 20) % slow
        k0 = -(-(race.off_ts - 50400 - (h >> 32) % 43200) // TICK)  # book opens 14-26 h before the off
        kb = -(-(race.off_ts - 7200) // TICK)
        k = int(t // TICK)
        if k < k0:
            return []
        ticks: list[int] = []
        while len(ticks) < n:
            c = k - (k + phase) % (period if k >= kb else slow)
            if k >= kb > c:
                k = kb - 1
                continue
            if c <= k0:
                ticks.append(k0)
                break
            ticks.append(c)
            k = c - 1

        def count(lo, hi, m):
            return 0 if hi < lo else (hi + phase) // m - (lo - 1 + phase) // m
        # The parity of a change's index alternates, and it sets the parity of the ladder step,
        # so two consecutive prices always differ.
        i = count(k0 + 1, min(ticks[0], kb - 1), slow) + count(max(kb, k0 + 1), ticks[0], period)
        if len(_MEMO) > 300_000:
            _MEMO.clear()
        off = race.off_ts
        return [_MEMO.get((h, c, off))
                or _MEMO.setdefault((h, c, off), self._price(race, runner, j, h, c, i - x, c == k0))
                for x, c in enumerate(ticks)]

    @staticmethod
    def _price(race, runner, j, h, c, i, opening) -> tuple:
        """(ts, decimal, fractional, ISO time) of the price set at change tick c; never changes once past."""
        r = _mix(h ^ c)
        ts = c * TICK if opening else c * TICK - r % TICK   # the bookmaker moved some time within the tick
        quirk = (r >> 8) % 1000
        if not opening and quirk < 9:
            return (ts, "-", "-", _iso(ts)) if quirk < 6 else (ts, "", "", _iso(ts))
        x = min(1.0, max(0.0, (c * TICK - race.off_ts + 93600) / 93600))
        p = max(.0015, runner.p_open + (runner.p_close - runner.p_open) * x)
        # A book reframes after a withdrawal: the runners left share what the non-runners held.
        gone = sum(max(.0015, o.p_open + (o.p_close - o.p_open) * x) for o in race.runners
                   if o.nr_at is not None and o.nr_at.timestamp() <= c * TICK)
        p = min(.97, p / max(.2, 1 - gone))
        ladder, served = (_EXCHANGE, _EXCHANGE_SERVED) if _EXCHANGE_BOOK[j] else (_FIXED, _FIXED_SERVED)
        base = max(0, bisect.bisect_right(ladder, 1 / (p * _MARGIN[j])) - 1)
        # Odd-numbered changes sit one rung either side of the (even) trend rung, even ones on it
        # or, now and then, two rungs away: a flicker around a drifting trend.
        wobble = ((r >> 20) % 2) * 2 - 1 if i & 1 else (0, 0, 0, 0, 0, 2, -2)[(r >> 20) % 7]
        k = min(len(ladder) - 1, max(0, (base & ~1) + wobble))
        return (ts, *served[k], _iso(ts))

    def _quote(self, race, runner, j, t, history: int) -> dict | None:
        h = _mix(runner.key ^ _SALT[j])
        if h % 1000 < 12:                       # this bookmaker does not list this runner
            return None
        nr_ts = runner.nr_at.timestamp() if runner.nr_at else math.inf
        line = self._line(race, runner, j, h, min(t, nr_ts - 1), history + 1)
        if t >= nr_ts:
            line = [(nr_ts, "-", "-", _iso(nr_ts))] + line
        if line:
            _, dec, frac, iso = line[0]
        else:                                   # not pricing yet; `updated` is when the card was declared
            dec = frac = "SP"
            iso = datetime.combine(race.date - timedelta(days=8), dtime(10), UK).isoformat()
        places, denom = race.ew if BOOKMAKERS[j].type == "fixed" else ("", "")
        if places and _mix(race.off_ts ^ _SALT[j]) % 8 == 0:
            places = str(int(places) + 1)       # an extra-places offer
        keep = line[1:history + 1] if race.date >= HISTORY_FROM else []
        return {"bookmaker": BOOKMAKERS[j].name, "fractional": frac, "decimal": dec,
                "ew_places": places, "ew_denom": denom, "updated": f"{iso[:10]} {iso[11:19]}",
                "history": [{"changed_at": s, "fractional": f, "decimal": d} for _, d, f, s in keep]}

    def _quotes(self, race, runner, history: int) -> list[dict]:
        t = min(self.now().timestamp(), race.freeze_ts - 1)   # frozen at the real off (or abandonment)
        quotes = [q for j in range(len(BOOKMAKERS)) if (q := self._quote(race, runner, j, t, history))]
        if (_key(self.seed, race.race_id, "unlisted") % 3 == 0
                and (q := self._quote(race, runner, _UNLISTED_LINE, t, 0))):
            stamp = datetime.combine(race.date - timedelta(days=1), dtime(9), UK)
            quotes.append({**q, "bookmaker": UNLISTED, "updated": f"{stamp:%Y-%m-%d %H:%M:%S}", "history": []})
        return quotes

    # -------------------------------------------------------- served documents
    def _card(self, race: Race, history: int = CARD_HISTORY) -> dict:
        out = dict(race.card)
        now = self.now().timestamp()
        if race.first_off is not None and now < race.retimed_at_ts:   # not re-timed yet
            out["off_time"], out["off_dt"] = _clock12(race.first_off), race.first_off.isoformat()
        if race.is_abandoned and now < race.abandoned_at_ts:
            out["is_abandoned"] = False
        out["runners"] = [{**{k: v for k, v in r.card.items() if k[0] != "_"},
                           "odds": self._quotes(race, r, history)}
                          for r in race.runners]
        return out
