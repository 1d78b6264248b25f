"""The simulator's records: a race and its runners as generated, an API refusal, and the faults
the HTTP side can inject."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime


class ApiError(Exception):
    """A refusal the real API would answer with `status` and JSON `payload` ({"detail": ...})."""

    def __init__(self, status: int, detail):
        super().__init__(detail if isinstance(detail, str) else json.dumps(detail))
        self.status, self.payload = status, {"detail": detail}


@dataclass
class Runner:
    horse_id: str
    horse: str
    number: int
    p_open: float                  # win probability when the market forms
    p_close: float                 # ... at the off; prices drift linearly between the two
    nr_at: datetime | None         # declared a non-runner at this time (all prices '-' from then)
    card: dict = field(repr=False)  # the racecard fields except `odds`
    key: int = field(repr=False)


@dataclass
class Race:
    race_id: str
    date: date
    region: str
    course_id: str
    course: str
    off: datetime                  # the scheduled off, after any re-timing; aware, Europe/London
                                   # (compare via off_ts: same-zone comparisons ignore DST folds)
    type: str                      # Flat / Hurdle / Chase / NH Flat
    race_name: str
    is_abandoned: bool
    runners: list[Runner]
    card: dict = field(repr=False)  # racecard race fields; "runners" filled in when served
    ew: tuple[str, str] = ("", "")   # each-way places and denominator of the fixed-odds books
    off_ts: int = 0
    yards: int = 0
    # The off as it happens (darkhorses/simulator/offs.py), all UTC epoch seconds.
    first_off: datetime | None = None  # the off the card gave before a re-timing (None: never re-timed)
    retimed_at_ts: int = 0             # when the card changed to `off`
    real_off_ts: int = 0               # when it really went off: prices freeze here
    abandoned_at_ts: int = 0           # when the card turned is_abandoned (is_abandoned races only)
    result_ts: int = 0                 # when its result appears in results (never, if abandoned)

    @property
    def freeze_ts(self) -> int:
        """Prices stop moving here: at the real off, or when the race was abandoned."""
        return self.abandoned_at_ts if self.is_abandoned else self.real_off_ts


@dataclass
class Faults:
    latency: float = 0.0        # seconds added to every response
    error_rate: float = 0.0     # probability of a 500/502/503
    truncate_rate: float = 0.0  # probability of a 200 whose JSON body is cut in half
    timeout_rate: float = 0.0   # probability of hanging before answering (the client times out)
    rate429: float = 0.0        # probability of a spurious 429 with Retry-After: 1

    @classmethod
    def parse(cls, text: str) -> Faults:
        """'latency=0.2,error_rate=0.1' -> Faults; '' -> all off."""
        out, names = cls(), [f.name for f in fields(cls)]
        for item in filter(None, (s.strip() for s in (text or "").split(","))):
            name, sep, value = (s.strip() for s in item.partition("="))
            if name not in names:
                raise ValueError(f"unknown fault {name!r} in {text!r}; known faults: {', '.join(names)}")
            try:
                number = float(value) if sep else math.nan
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number < 0 or (name != "latency" and number > 1):
                wanted = ">= 0 (seconds)" if name == "latency" else "between 0 and 1"
                raise ValueError(f"fault {name!r} needs a value {wanted}, e.g. {name}=0.1; got {value!r}")
            setattr(out, name, number)
        return out

