"""A compressed race day: today's card rebuilt so a race goes off every minute or two from now.

A thin layer over Simulator (the chaos benchmark's stand-in for a busy afternoon): the same
seeded field model (non-runners, abandonments and whatever else the card model does to a
race), only the offs of the anchor's day are laid out back to back, one to two minutes apart,
starting two minutes after the anchor. Everything stays a pure function of (seed, anchor).

Two control endpoints (no auth, like /_sim/requests) serve the benchmark that drives it:
- GET /_sim/raceday: every race of the day with its first and latest scheduled off (a re-timing
  moves it later) and its real off, abandoned or not;
- GET /_sim/faults?error_rate=0.5&latency=2&hang_seconds=10: set the injected faults (names
  as in Faults; any not given go back to 0), answering the faults now in force;
- GET /_sim/prices?race_id=R&at=UNIX: each runner's numeric decimal prices as a card served
  at that moment would hold them (the benchmark's "no price lost" check).
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

from .api import Simulator
from .model import Faults, Race
from .reference import _UNLISTED_LINE, BOOKMAKERS, UK, _key, _rng

# The first race goes off this long after the anchor (time for the topology to start).
FIRST_OFF_AFTER = timedelta(minutes=2)
GAPS_MINUTES = (1, 1, 2)   # a fresh race every one or two minutes


def real_off_ts(race: Race) -> int:
    """When the race really went off: the field model's late off when it has one, else the schedule."""
    return int(getattr(race, "real_off_ts", None) or race.off_ts)


def first_off_ts(race: Race) -> int:
    """The off the card first gave (before any re-timing)."""
    first = getattr(race, "first_off", None)
    return int(first.timestamp()) if first else race.off_ts


class RaceDaySimulator(Simulator):
    """Simulator whose anchor day is one race after another, a minute or two apart."""

    def _layout(self, day, sizes):
        anchor = self.anchor.astimezone(timezone.utc)
        if day != anchor.astimezone(UK).date():
            return super()._layout(day, sizes)
        rng = _rng(self.seed, day, "raceday")
        # Round-robin over the meetings so each meeting's races stay in order.
        order = [(m, j) for j in range(max(sizes)) for m, n in enumerate(sizes) if j < n]
        off = anchor.replace(second=0, microsecond=0) + FIRST_OFF_AFTER
        out: list[list[datetime]] = [[] for _ in sizes]
        for m, _ in order:
            out[m].append(off.astimezone(UK))
            off += timedelta(minutes=rng.choice(GAPS_MINUTES))
        return out

    # -------------------------------------------------------- control endpoints
    def handle(self, method: str, target: str, headers) -> tuple[int, dict, bytes]:
        url = urlsplit(target)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        path = url.path.rstrip("/")
        if path == "/_sim/raceday":
            return self._json(200, self.schedule())
        if path == "/_sim/faults":
            try:
                return self._json(200, self.set_faults(params))
            except ValueError as exc:
                return self._json(422, {"detail": str(exc)})
        if path == "/_sim/prices":
            try:
                return self._json(200, self.prices_at(params["race_id"], float(params["at"])))
            except (KeyError, ValueError) as exc:
                return self._json(422, {"detail": f"race_id and at (unix seconds) needed: {exc}"})
        return super().handle(method, target, headers)

    def schedule(self) -> list[dict]:
        return [{"race_id": r.race_id, "course": r.course, "off_ts": r.off_ts, "first_off_ts": first_off_ts(r),
                 "real_off_ts": real_off_ts(r),
                 "abandoned": r.is_abandoned, "runners": len(r.runners)} for r in self.races_for(self.today())]

    def set_faults(self, params: dict) -> dict:
        hang = params.pop("hang_seconds", None)
        faults = Faults.parse(",".join(f"{k}={v}" for k, v in params.items()))
        if hang is not None:
            self.hang_seconds = float(hang)
        self.faults = faults
        return {**asdict(faults), "hang_seconds": self.hang_seconds}

    def prices_at(self, race_id: str, at: float) -> dict[str, list[float]]:
        """{horse_id: sorted numeric decimal prices} of a card served at `at` (frozen at the real off)."""
        race = self._find_race(race_id)
        if race is None:
            raise ValueError(f"no race {race_id}")
        t = min(at, real_off_ts(race) - 1)
        out = {}
        for runner in race.runners:
            quotes = [self._quote(race, runner, j, t, 0) for j in range(len(BOOKMAKERS))]
            if _key(self.seed, race.race_id, "unlisted") % 3 == 0:
                quotes.append(self._quote(race, runner, _UNLISTED_LINE, t, 0))
            out[runner.horse_id] = sorted(float(q["decimal"]) for q in quotes if q and _numeric(q["decimal"]))
        return out


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

