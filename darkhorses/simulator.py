"""A stand-in for The Racing API (spec v1.4.3) that a client cannot tell from the real one.

Everything served is a pure function of (seed, date, ids, clock time), so a newcomer with no
account, the tests and the benchmarks all see the same racing. Cards, prices and results
honour the spec's component schemas and the API's quirks (12-hour `off_time`, prices as
strings with '-', 'SP', '' and 'evens', dead-heats, non-runners, abandoned races), and the
HTTP side adds Basic auth, per-endpoint rate limits and optional injected faults.

Prices move without any per-request state: each (race, horse, bookmaker) price may change
only on its own grid of clock ticks (every few ticks in the last two hours, six times
slower before), and the value at a change is a hash of the ids and the tick, so the price
"now", its `updated` time and its history are computed directly, never replayed.
"""
from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import hmac
import json
import math
import random
import re
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time as dtime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

from darkhorses.bookmakers import BOOKMAKERS

UK = ZoneInfo("Europe/London")
CARDS_FROM = date(2023, 1, 23)     # the API's racecard tracking began here
RESULTS_FROM = date(1988, 1, 1)    # oldest results with the historical add-on
HISTORY_FROM = date(2025, 3, 17)   # odds `history` exists for races from this date
TICK = 40                          # seconds; prices can change only on tick boundaries
CARD_HISTORY = 3                   # earlier prices per bookmaker in racecards (the odds endpoint gives all)
RESULT_DELAY = timedelta(minutes=10)   # a race's result is published this long after the off
DEFAULT_LIMITS = {"racecards": 2, "results": 5, "odds": 5}
CROP = 2500                        # horses foaled per year per seed
_M64 = (1 << 64) - 1


# ---------------------------------------------------------------- deterministic randomness
def _key(*parts) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process)."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """splitmix64: cheap per-tick randomness, thousands of times per request."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _rng(*parts) -> random.Random:
    return random.Random(_key(*parts))


# ---------------------------------------------------------------- reference data
COURSES = (  # (course_id, name, region, kind): kind decides flat/jumps/all-weather cards
    ("crs_52", "Ascot", "GB", "mixed"), ("crs_4", "Aintree", "GB", "jumps"),
    ("crs_260", "Cheltenham", "GB", "jumps"), ("crs_728", "Kempton", "GB", "aw"),
    ("crs_1053", "Newmarket", "GB", "flat"), ("crs_1950", "York", "GB", "flat"),
    ("crs_390", "Doncaster", "GB", "mixed"), ("crs_624", "Haydock", "GB", "mixed"),
    ("crs_1404", "Sandown", "GB", "mixed"), ("crs_910", "Lingfield", "GB", "aw"),
    ("crs_1898", "Wolverhampton", "GB", "aw"), ("crs_1378", "Southwell", "GB", "aw"),
    ("crs_28054", "Chelmsford City", "GB", "aw"), ("crs_1040", "Newcastle", "GB", "aw"),
    ("crs_286", "Chepstow", "GB", "mixed"), ("crs_494", "Exeter", "GB", "jumps"),
    ("crs_1872", "Wincanton", "GB", "jumps"), ("crs_988", "Market Rasen", "GB", "jumps"),
    ("crs_1014", "Musselburgh", "GB", "mixed"), ("crs_76", "Ayr", "GB", "mixed"),
    ("crs_234", "Catterick", "GB", "mixed"), ("crs_598", "Goodwood", "GB", "flat"),
    ("crs_468", "Epsom", "GB", "flat"), ("crs_1066", "Newbury", "GB", "mixed"),
    ("crs_1716", "Uttoxeter", "GB", "jumps"), ("crs_1820", "Warwick", "GB", "jumps"),
    ("crs_1196", "Plumpton", "GB", "jumps"), ("crs_572", "Fontwell", "GB", "jumps"),
    ("crs_4368", "Leopardstown", "IRE", "mixed"), ("crs_4420", "Curragh", "IRE", "flat"),
    ("crs_4394", "Fairyhouse", "IRE", "jumps"), ("crs_4758", "Punchestown", "IRE", "jumps"),
    ("crs_4732", "Naas", "IRE", "mixed"), ("crs_4498", "Dundalk", "IRE", "aw"),
    ("crs_4550", "Galway", "IRE", "mixed"), ("crs_4680", "Navan", "IRE", "mixed"),
    ("crs_4628", "Limerick", "IRE", "mixed"), ("crs_4446", "Cork", "IRE", "mixed"),
    ("crs_4862", "Thurles", "IRE", "jumps"), ("crs_4576", "Gowran Park", "IRE", "mixed"),
)
_W1 = ("Golden Silver Royal Dark Bold Swift Lucky Wild Brave Noble Silent Crimson Midnight Scarlet "
       "Misty Stormy Sunny Rapid Gallant Mighty Proud Secret Hidden Magic Mystic Velvet Iron Copper "
       "Amber Ivory Shadow Desert Northern Southern Western Eastern Highland Island River Ocean "
       "Mountain Summer Winter Autumn Spring Morning Evening Lunar Solar Frosty Fiery Gentle Rebel "
       "Cosmic Electric Emerald Ruby Sapphire Crystal Marble Granite Rustic Urban Classic Ancient "
       "Majestic Regal Dancing Flying Roaring Whispering Shining Blazing Soaring Laughing Dashing "
       "Daring Fearless Restless Timeless Endless Rising Wandering Distant Hollow Jolly Merry Happy "
       "Glorious Famous Captain Major General Lady Lord King Queen Prince Princess Baron Duke Count "
       "Master Mister Little Grand Great High Deep True Free Final First Blue Green Red Black White "
       "Easy Quiet Kind Clever Cool Hot Late Early Lost Last Sweet Sharp").split()
_W2 = ("Arrow Valour Ranger Diamond Spirit Legend Storm Dancer Dream Warrior Hero Knight Voyage Echo "
       "Harbour Meadow Harvest Horizon Rhythm Melody Symphony Promise Fortune Destiny Glory Triumph "
       "Quest Venture Spark Flame Blaze Comet Meteor Eclipse Rainbow Breeze Tempest Cyclone Thunder "
       "Lightning Falcon Eagle Hawk Raven Sparrow Phoenix Dragon Tiger Lion Panther Wolf Fox Stag "
       "Mustang Stallion Charger Runner Rover Drifter Pilgrim Nomad Pioneer Explorer Admiral "
       "Commander Senator Ambassador Diplomat Minstrel Poet Artist Dreamer Gambler Rogue Bandit "
       "Outlaw Maverick Renegade Jester Joker Wizard Sorcerer Oracle Prophet Sage Scholar Tycoon "
       "Mogul Magnate Boulevard Avenue Crescent Terrace Castle Palace Tower Citadel Fortress Bridge "
       "Garden Orchard Vineyard Forest Valley Canyon Summit Glacier Lagoon Reef Tide Current Compass "
       "Anchor Beacon Lantern Mirror Canvas Ledger Sonnet Ballad Anthem Sunrise Sunset").split()
_FIRST = ("James John Harry Oliver Jack Charlie Thomas George William Daniel Sean Patrick Liam Conor "
          "Ciaran Padraig Declan Rory Finn Callum Jamie Tom Ben Sam Rob Paul Mark David Richard Hollie "
          "Rachael Bryony Megan Lucy Sophie Emma Jane Kate Nicola Harriet Rose Gemma Aine Siobhan "
          "Niamh Saoirse Hayley Josephine Brian Gavin Keith Denis Willie Mick Alan Nicky Gordon").split()
_LAST = ("Murphy Kelly Walsh Ryan O'Brien Byrne Doyle McCarthy Gallagher Doherty Kennedy Lynch Quinn "
         "Moore Power Fitzgerald Townend Mullins Elliott Skelton Henderson Nicholls King Fry Hobbs "
         "Johnson Cobden Bowen Gosden Appleby Haggas Stoute Johnston Fahey Varian Balding Hannon "
         "Channon Charlton Beckett Crowley Buick Kingscote Spencer Atzeni Keniry Hayes Smith Jones "
         "Taylor Brown Williams Wilson Evans Roberts Walker Wright Robinson Thompson White Hughes "
         "Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke Turner Hill Scott Cooper Morris "
         "Ward Watson Baker Harrison Morgan Young Allen Mitchell Anderson Phillips Bell Parker Davis "
         "Dawes Keane Meade Cromwell Harrington O'Neill Dunne Kent").split()
_TOWNS = ("Lambourn, Berks", "Newmarket, Suffolk", "Malton, N Yorks", "Middleham, N Yorks",
          "Ditcheat, Somerset", "Kingsclere, Hants", "Epsom, Surrey", "Cheltenham, Glos",
          "Closutton, Co Carlow", "Cullentra, Co Meath", "Ballydoyle, Co Tipperary", "Curragh, Co Kildare")
_SPONSORS = ("Sky Bet", "Racing TV", "Bet365", "William Hill", "Paddy Power", "Coral", "Ladbrokes",
             "Betfred", "BetVictor", "Unibet", "At The Races", "Jockey Club", "Download The App",
             "EBF Stallions", "Injured Jockeys Fund", "Watch Racing Free Online", "Irish Stallion Farms EBF")
_TITLES = {  # (type, handicap) -> race titles; "Handicap" appears exactly in the handicaps
    ("Flat", True): ("Handicap", "Handicap (Div I)", "Handicap (Div II)", "Apprentice Handicap", "Handicap"),
    ("Flat", False): ("Maiden Stakes", "Novice Stakes", "Conditions Stakes", "Classified Stakes",
                      "Maiden Auction Stakes"),
    ("Hurdle", True): ("Handicap Hurdle", "Novices' Handicap Hurdle", "Conditional Jockeys' Handicap Hurdle"),
    ("Hurdle", False): ("Novices' Hurdle", "Maiden Hurdle", "Juvenile Hurdle", "Selling Hurdle"),
    ("Chase", True): ("Handicap Chase", "Veterans' Handicap Chase"),
    ("Chase", False): ("Novices' Chase", "Beginners' Chase"),
    ("NH Flat", False): ("Standard Open National Hunt Flat Race", "Open National Hunt Flat Race"),
}
_COMMENTS = {
    1: ("Led - ridden clear final furlong", "Held up - headway 2f out - led inside final furlong - ran on"),
    2: ("Tracked leaders - every chance - kept on", "Held up - headway over 1f out - nearest finish"),
    3: ("Prominent - one pace final furlong", "Chased leaders - no extra final 100yds", "Always behind",
        "Midfield - never dangerous", "Led until over 2f out - weakened"),
    "PU": "Behind - pulled up before 2 out", "F": "Fell", "UR": "Unseated rider",
    "DSQ": "Finished in the frame but disqualified"}
_DISTANCES = {"Flat": (5, 5.5, 6, 7, 7.5, 8, 8.5, 9, 10, 10.5, 11.5, 12, 13.5, 14, 16),
              "Hurdle": (16, 16.5, 17, 19, 20, 20.5, 21, 22, 23, 24, 25),
              "Chase": (16, 17, 19.5, 20, 20.5, 21, 23, 24, 25, 26, 29), "NH Flat": (16, 16.5, 17)}
_FRACS = ((1, 5), (2, 9), (1, 4), (2, 7), (3, 10), (1, 3), (4, 11), (2, 5), (4, 9), (1, 2), (8, 15),
          (4, 7), (8, 13), (4, 6), (8, 11), (4, 5), (5, 6), (10, 11), (1, 1), (11, 10), (6, 5), (5, 4),
          (11, 8), (6, 4), (13, 8), (7, 4), (15, 8), (2, 1), (9, 4), (5, 2), (11, 4), (3, 1), (10, 3),
          (7, 2), (4, 1), (9, 2), (5, 1), (11, 2), (6, 1), (13, 2), (7, 1), (15, 2), (8, 1), (17, 2),
          (9, 1), (10, 1), (11, 1), (12, 1), (14, 1), (16, 1), (18, 1), (20, 1), (22, 1), (25, 1),
          (28, 1), (33, 1), (40, 1), (50, 1), (66, 1), (80, 1), (100, 1), (125, 1), (150, 1), (200, 1),
          (250, 1), (300, 1), (500, 1))
_FIXED = [1 + n / d for n, d in _FRACS]
_FIXED_TEXT = ["evens" if n == d else f"{n}/{d}" for n, d in _FRACS]


def _exchange_ladder() -> list[float]:
    out, x = [], 101
    for top, step in ((200, 1), (300, 2), (400, 5), (600, 10), (1000, 20), (2000, 50), (3000, 100),
                      (5000, 200), (10000, 500), (100000, 1000)):
        while x < top:
            out.append(x / 100)
            x += step
    return out + [1000.0]


_EXCHANGE = _exchange_ladder()
# A fixed-odds firm's book is ~105-120%; exchanges sit close to 100%.
# (Prices are rounded down the ladder, which adds a few percent to these.)
_EXCHANGE_BOOK = [b.type == "exchange" for b in BOOKMAKERS]
_MARGIN = [.985 if ex else .99 + .08 * (_key("margin", b.id) % 1000) / 1000 for b, ex in zip(BOOKMAKERS, _EXCHANGE_BOOK)]
_SALT = [_key("book", b.id) for b in BOOKMAKERS]
_SP_BOOKS = [j for j, b in enumerate(BOOKMAKERS) if b.id in ("bet365", "williamhill", "paddypower", "skybet", "ladbrokes")]
# A price once set never changes: memo by (hash of seed/race/horse/bookmaker, tick, off time).
_MEMO: dict[tuple[int, int, int], tuple] = {}


def _dec(x: float) -> str:
    s = f"{x:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _exchange_frac(x: float) -> str:
    f = Fraction(round(x * 100) - 100, 100)
    return "evens" if f == 1 else f"{f.numerator}/{f.denominator}"


# Served text for every rung of both ladders, computed once.
_FIXED_SERVED = [(_dec(x), t) for x, t in zip(_FIXED, _FIXED_TEXT)]
_EXCHANGE_SERVED = [(_dec(x), _exchange_frac(x)) for x in _EXCHANGE]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UK).isoformat()


def _clock12(dt: datetime) -> str:
    return f"{dt.hour % 12 or 12}:{dt.minute:02d}"


def _distance(f: float) -> str:
    miles, rest = divmod(f, 8)
    fur = f"{int(rest) or ''}{'½' if rest % 1 else ''}"
    return (f"{int(miles)}m" if miles else "") + (f"{fur}f" if fur else "")


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _money(region: str, amount: int, commas: bool = True) -> str:
    return ("€" if region == "IRE" else "£") + (f"{amount:,}" if commas else str(amount))


# ---------------------------------------------------------------- model
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
    off: datetime                  # aware, Europe/London (compare via off_ts: same-zone comparisons ignore DST folds)
    type: str                      # Flat / Hurdle / Chase / NH Flat
    race_name: str
    is_abandoned: bool
    runners: list[Runner]
    card: dict = field(repr=False)  # racecard race fields; "runners" filled in when served
    ew: tuple[str, str] = ("", "")   # each-way places and denominator of the fixed-odds books
    off_ts: int = 0
    yards: int = 0


@dataclass
class Faults:
    latency: float = 0.0        # seconds added to every response
    error_rate: float = 0.0     # probability of a 500/502/503
    truncate_rate: float = 0.0  # probability of a 200 whose JSON body is cut in half
    timeout_rate: float = 0.0   # probability of hanging before answering (the client times out)
    rate429: float = 0.0        # probability of a spurious 429 with Retry-After: 1

    @classmethod
    def parse(cls, text: str) -> "Faults":
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


# ---------------------------------------------------------------- the simulator
class Simulator:
    """The API's data and HTTP behaviour. The endpoint methods (racecards_pro, results,
    runner_odds) return exactly what the HTTP side serves, or raise ApiError as it would
    answer; `handle` is the HTTP semantics without a socket; `serve` puts it on one.
    """

    def __init__(self, seed: int = 1, *, username="sim", password="sim", clock=None,
                 faults: Faults | None = None, rate_limits: dict | None = None,
                 results_history_days: int | None = None, anchor=None):
        self.seed = seed
        self._auth = f"{username}:{password}".encode()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.faults = faults or Faults()
        self.rate_limits = {**DEFAULT_LIMITS, **(rate_limits or {})}
        self.results_history_days = results_history_days
        self.anchor = anchor or self.clock()
        self.request_log: list[tuple[float, str, int]] = []
        self.hang_seconds = 30.0
        self._lock = threading.Lock()
        self._windows: dict[str, deque] = {}
        self._days: OrderedDict = OrderedDict()     # recent days, fully built
        self._index: dict[date, tuple] = {}         # see _index_of
        self._fault_rng = random.Random(_key(seed, "faults"))
        self._ids = _key(seed, "ids") % 40_000_000
        self._horse = lru_cache(maxsize=30000)(self._make_horse)
        self._person = lru_cache(maxsize=5000)(self._make_person)
        self._closing = threading.Event()

    # -------------------------------------------------------- time
    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc)

    def today(self) -> date:
        return self.clock().astimezone(UK).date()

    # -------------------------------------------------------- the deterministic card
    def races_for(self, day) -> list[Race]:
        """All races on a UK date (both regions), ordered by off time then course."""
        day = _as_date(day)
        with self._lock:
            if day in self._days:
                self._days.move_to_end(day)
                return self._days[day]
        rot = _key(self.seed, day, "horses") % CROP
        races = sorted((self._race(day, rot, *slot) for slot in self._skeleton(day)), key=lambda r: (r.off_ts, r.course))
        with self._lock:
            self._days[day] = races
            while len(self._days) > 48:
                self._days.popitem(last=False)
        return races

    def _skeleton(self, day: date) -> list[tuple]:
        """(slot, course, kind, off, race_id, last_of_meeting) per race: cheap, so a year of
        results can be counted without building every runner."""
        rng = _rng(self.seed, day, "day")
        n_ire = rng.choice((1, 1, 2, 2, 3))
        courses = (rng.sample([c for c in COURSES if c[2] == "IRE"], n_ire)
                   + rng.sample([c for c in COURSES if c[2] == "GB"], rng.choice((5, 6, 6, 7, 7, 8)) - n_ire))
        sizes = [rng.randint(6, 8) for _ in courses]
        offs = self._layout(day, sizes)
        out = []
        for m, (course, n) in enumerate(zip(courses, sizes)):
            kind = course[3]
            if kind == "mixed":
                kind = "jumps" if (day.month in (10, 11, 12, 1, 2, 3, 4)) == (rng.random() < .8) else "flat"
            for j in range(n):
                slot = m * 8 + j
                race_id = f"rac_{10_000_000 + (self._ids + (day - RESULTS_FROM).days * 64 + slot) % 90_000_000}"
                out.append((slot, course, kind, offs[m][j], race_id, j == n - 1))
        return out

    def _index_of(self, day: date) -> tuple:
        """(off_ts, region, abandoned) per race of a day, kept for every day ever asked about."""
        if day not in self._index:
            self._index[day] = tuple((int(off.timestamp()), course[2], self._abandoned(race_id))
                                     for _, course, _, off, race_id, _ in self._skeleton(day))
        return self._index[day]

    def _abandoned(self, race_id: str) -> bool:
        return _key(self.seed, race_id, "abandoned") % 60 == 0

    def _layout(self, day: date, sizes: list[int]) -> list[list[datetime]]:
        """Off times per meeting: 12:00-20:30 normally; around the anchor on the anchor's day."""
        rng = _rng(self.seed, day, "times")
        gaps = [rng.choice((25, 30, 35)) for _ in sizes]
        anchor = self.anchor.astimezone(timezone.utc)
        if day != anchor.astimezone(UK).date():
            out = []
            for n, gap in zip(sizes, gaps):
                start = 720 + 5 * rng.randint(0, (1230 - (n - 1) * gap - 720) // 5)
                out.append([datetime.combine(day, dtime((start + j * gap) // 60, (start + j * gap) % 60), UK)
                            for j in range(n)])
            return out
        # Today: some races already off (up to 3 h back), the next one 3-6 minutes away, the rest
        # spread over the coming hours, all on today's UK date unless the anchor is near midnight.
        minute = timedelta(minutes=1)
        midnight = datetime.combine(day, dtime(), UK).astimezone(timezone.utc)
        end = datetime.combine(day + timedelta(days=1), dtime(), UK).astimezone(timezone.utc) - 2 * minute
        floor = anchor.replace(second=0, microsecond=0)
        past = min(180, int((anchor - midnight) / minute))
        ahead = max(10, min(480, int((end - anchor) / minute)))
        first = floor + minute * (1 + rng.randint(3, 5) if anchor > floor else rng.randint(3, 5))
        lead = (first - anchor) / minute
        out = []
        for m, (n, gap) in enumerate(zip(sizes, gaps)):
            gap = min(gap, max(3, (past + ahead) // n))
            if m == 0:
                lo = max(0, math.ceil((n - 1) - (ahead - lead) / gap))
                start = first - minute * gap * rng.randint(lo, max(lo, min(n - 1, int((past + lead) // gap))))
            else:
                start = floor - minute * past + minute * rng.randint(0, max(0, past + ahead - (n - 1) * gap))
            offs = [start + minute * gap * j for j in range(n)]
            out.append([(floor if anchor < o < first else o).astimezone(UK) for o in offs])
        return out

    def _race(self, day, rot, slot, course, kind, off, race_id, last) -> Race:
        rng = _rng(self.seed, race_id)
        cid, cname, region, _ = course
        rtype = ("Flat" if kind in ("flat", "aw") else
                 "NH Flat" if last and rng.random() < .6 else rng.choice(("Hurdle", "Hurdle", "Chase")))
        jumps = rtype != "Flat"
        handicap = rtype != "NH Flat" and rng.random() < .55
        klass = 0 if region == "IRE" else rng.choice((1, 2, 3, 4, 4, 5, 5, 6))
        pattern = ""
        if not handicap and (klass == 1 or (region == "IRE" and rng.random() < .05)):
            pattern = rng.choice(("Grade 2", "Grade 3", "Listed") if jumps else ("Group 3", "Group 2", "Listed"))
        title = rng.choice(_TITLES[(rtype, handicap)])
        name = f"{rng.choice(_SPONSORS)} {title}" + (f" ({pattern})" if pattern else "")
        fur = rng.choice(_DISTANCES[rtype])
        yards = round(fur * 220) + rng.randint(-30, 60)
        if jumps:
            band, ages = rng.choice((("4yo+", (4, 11)), ("5yo+", (5, 12)), ("4-6yo", (4, 6))))
        else:
            band, ages = rng.choice((("3yo+", (3, 8)), ("4yo+", (4, 9)), ("3yo", (3, 3)))
                                    + ((("2yo", (2, 2)),) if 4 <= day.month <= 10 else ()))
        if kind == "aw":
            surface, going = "AW", rng.choice(("Standard", "Standard", "Standard To Slow"))
        else:
            surface = "Turf"
            wet = day.month in (10, 11, 12, 1, 2, 3)
            going = rng.choice(("Soft", "Good To Soft", "Heavy", "Good") if wet else
                               ("Good", "Good To Firm", "Good To Soft", "Good"))
            if region == "IRE" and rng.random() < .3:
                going = rng.choice(("Yielding", "Yielding To Soft"))
        n = max(5, min(16, round(rng.gauss(12 if handicap else 10, 3))))
        prize = (rng.randint(8, 25) * 1000 + rng.randint(0, 99) * 5 if region == "IRE"
                 else {1: 40000, 2: 15000, 3: 8000, 4: 5000, 5: 3500, 6: 3000}[klass] + rng.randint(0, 999))
        strengths = [math.exp(1.1 * rng.gauss(0, 1)) for _ in range(n)]
        drift = [s * math.exp(rng.gauss(0, .3)) for s in strengths]
        p_open = [s / sum(strengths) for s in strengths]
        p_close = [s / sum(drift) for s in drift]
        jockeys = rng.sample(range(220), n)
        draws = rng.sample(range(1, n + 1), n)
        # Each race slot of the day owns 37 consecutive horses of every foal crop, so no horse
        # runs twice in a day; `rot` (per day) changes which horses those are.
        picks = rng.sample(range(37), n)
        runners = []
        lbs_top = (168 if jumps else 140) - rng.randint(0, 6)
        for i in range(n):
            age = rng.randint(*ages)
            h_idx = (day.year - age - 1970) * CROP + (rot + slot * 37 + picks[i]) % CROP
            horse = self._horse(h_idx)
            rating = max(40, min(165, (120 if jumps else 85) - 8 * max(0, klass - 2) + round(rng.gauss(0, 10))))
            nr_at = None
            if n > 5 and rng.random() < .03:
                nr_at = off.astimezone(timezone.utc) - timedelta(minutes=rng.randint(30, 1200))
            runners.append(self._runner(race_id, horse, age, jockeys[i], draws[i] if not jumps else 0,
                                        lbs_top - rng.randint(0, 24 if handicap else 8), rating, handicap,
                                        p_open[i], p_close[i], nr_at, rng))
        runners.sort(key=lambda r: (-int(r.card["lbs"]), r.horse))
        for number, r in enumerate(runners, 1):
            r.number, r.card["number"] = number, str(number)
        fav = sorted(runners, key=lambda r: -r.p_open)[:4]
        forecast = ", ".join(f"{_FIXED_TEXT[max(0, bisect.bisect_right(_FIXED, 1 / (r.p_open * 1.15)) - 1)]} {r.horse}"
                             .replace("evens", "Evens") for r in fav)
        tip = rng.choice(fav[:3]).horse
        top_rating = max((int(r.card["ofr"]) for r in runners if r.card["ofr"]), default=0)
        card = {
            "race_id": race_id, "course": cname, "course_id": cid, "date": day.isoformat(),
            "off_time": _clock12(off), "off_dt": off.isoformat(), "race_name": name,
            "distance_round": _distance(round(fur)), "distance": _distance(fur), "distance_f": f"{fur:.1f}",
            "region": region, "pattern": pattern, "sex_restriction": "",
            "race_class": f"Class {klass}" if klass else "", "type": rtype, "age_band": band,
            "rating_band": f"0-{10 * (top_rating // 10 + 1)}" if handicap and top_rating else "",
            "prize": _money(region, prize), "field_size": str(n),
            "going_detailed": going + (" (Good to Soft in places)" if going == "Good" and rng.random() < .3 else ""),
            "rail_movements": "", "stalls": "" if jumps else rng.choice(("Inside", "Outside", "Centre")),
            "weather": "", "going": going, "surface": surface,
            "jumps": f"{round(fur / 2)} hurdles" if rtype == "Hurdle" else f"{round(fur * .75)} fences" if rtype == "Chase" else "",
            "runners": None, "big_race": bool(pattern) and rng.random() < .3, "is_abandoned": self._abandoned(race_id),
            "tip": tip, "verdict": f"{tip.upper()} has strong claims and is taken to come out on top.",
            "betting_forecast": forecast, "race_status": "",
        }
        if n < 5:
            ew = ("", "")
        else:
            ew = ("2", "4") if n < 8 else ("4", "4") if handicap and n >= 16 else ("3", "4") if handicap and n >= 12 else ("3", "5")
        return Race(race_id, day, region, cid, cname, off, rtype, name, card["is_abandoned"], runners,
                    card, ew, int(off.timestamp()), yards)

    def _runner(self, race_id, horse, age, jockey, draw, lbs, rating, handicap,
                p_open, p_close, nr_at, rng) -> Runner:
        sexes = {"g": ("gelding", "G"), "f": ("filly", "F") if age <= 4 else ("mare", "M"),
                 "m": ("colt", "C") if age <= 4 else ("horse", "H")}
        sex, sex_code = sexes[horse["sex"]]
        jk, claim = self._person("jockey", jockey), (0 if jockey >= 40 else (3, 5, 7)[jockey % 3])
        tr, ow = self._person("trainer", horse["trainer"]), self._person("owner", horse["owner"])
        runs = rng.randint(0, 40)
        wins = rng.randint(0, runs // 3)
        ofr = str(rating) if handicap or rng.random() < .6 else ""
        card = {
            "horse_id": horse["id"], "horse": horse["name"], "dob": horse["dob"], "age": str(age),
            "sex": sex, "sex_code": sex_code, "colour": horse["colour"], "region": horse["region"],
            "breeder": horse["breeder"], **horse["pedigree"],
            "trainer": tr["name"], "trainer_id": tr["id"], "trainer_location": tr["location"],
            "trainer_14_days": {"runs": str(runs), "wins": str(wins), "percent": str(round(100 * wins / runs) if runs else 0)},
            "owner": ow["name"], "owner_id": ow["id"], "prev_trainers": [], "prev_owners": [],
            "comment": rng.choice(("Solid claims on form.", "Needs to improve.", "Interesting newcomer.",
                                   "Consistent sort.", "Well handicapped on old form.", "")),
            "spotlight": "", "quotes": [], "stable_tour": [], "medical": [],
            "number": "0", "draw": str(draw) if draw else "",
            "headgear": (hg := rng.choice(("", "", "", "", "", "p", "t", "b", "v", "h", "tp", "cp"))),
            "headgear_run": "1" if hg and rng.random() < .2 else "", "wind_surgery": "", "wind_surgery_run": "",
            "past_results_flags": [], "lbs": str(lbs), "ofr": ofr,
            "rpr": str(rating + rng.randint(-8, 8)) if rng.random() < .85 else "",
            "ts": str(rating - rng.randint(5, 30)) if rng.random() < .7 else "-",
            "jockey": jk["name"] + (f"({claim})" if claim else ""), "jockey_id": jk["id"],
            "silk_url": f"https://www.url-for-silk.com/svg/{ow['id'][4:]}.svg",
            "last_run": str(rng.randint(7, 120)) if rng.random() < .9 else "",
            "form": "".join(rng.choice("1234567890PUF-") for _ in range(rng.randint(0, 6))).strip("-"),
            "trainer_rtf": str(rng.randint(0, 80)), "odds": None,
        }
        card["_claim"] = claim    # for results; keys starting "_" are never served
        return Runner(horse["id"], horse["name"], 0, p_open, p_close, nr_at, card,
                      _key(self.seed, race_id, horse["id"]))

    def _make_horse(self, idx: int) -> dict:
        r = _rng(self.seed, "horse", idx)
        name_id = (idx * 7919 + self._ids) % (len(_W1) * len(_W2))
        region = r.choice(("GB", "GB", "IRE", "IRE", "FR", "GB", "USA", "GER"))

        def relative(kind, prefix, pool):
            i = r.randrange(pool)
            rr = _rng(self.seed, kind, i)
            return (f"{rr.choice(_W1)} {rr.choice(_W2)}", f"{prefix}_{1_000_000 + (self._ids + i) % 8_000_000}",
                    rr.choice(("GB", "IRE", "IRE", "FR", "USA", "GER")))
        pedigree = {}
        for kind, prefix, pool in (("dam", "dam", 200_000), ("sire", "sir", 400), ("damsire", "dsi", 400)):
            nm, rid, reg = relative(kind, prefix, pool)
            pedigree.update({kind: nm, f"{kind}_id": rid, f"{kind}_region": reg})
        by = 1970 + idx // CROP
        return {"id": f"hrs_{10_000_000 + (self._ids + idx) % 90_000_000}",
                "name": f"{_W1[name_id // len(_W2)]} {_W2[name_id % len(_W2)]}", "region": region,
                "dob": date(by, r.randint(1, 5), r.randint(1, 28)).isoformat(),
                "sex": r.choice("ggggffm"), "colour": r.choice(("b", "b", "ch", "gr", "br", "b/br", "bl")),
                "breeder": f"{r.choice(_FIRST)} {r.choice(_LAST)}", "pedigree": pedigree,
                "trainer": r.randrange(260), "owner": r.randrange(2000)}

    def _make_person(self, kind: str, idx: int) -> dict:
        r = _rng(self.seed, kind, idx)
        name = f"{r.choice(_FIRST)} {r.choice(_LAST)}"
        if kind == "owner" and r.random() < .3:
            name = r.choice((f"{r.choice(_LAST)} Racing", f"Mr & Mrs {name}", f"The {r.choice(_W2)} Partnership"))
        prefix = {"jockey": "jky", "trainer": "trn", "owner": "own"}[kind]
        return {"name": name, "id": f"{prefix}_{100_000 + (self._ids + idx * 7) % 1_000_000}",
                "location": r.choice(_TOWNS)}

    # -------------------------------------------------------- prices
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
        ticks = []
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
        return [_MEMO.get((h, c, off)) or _MEMO.setdefault((h, c, off), self._price(race, runner, j, h, c, i - x, c == k0))
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
        t = min(self.now().timestamp(), race.off_ts - 1)   # frozen at the last pre-off price
        return [q for j in range(len(BOOKMAKERS)) if (q := self._quote(race, runner, j, t, history))]

    # -------------------------------------------------------- served documents
    def _card(self, race: Race) -> dict:
        out = dict(race.card)
        out["runners"] = [{**{k: v for k, v in r.card.items() if k[0] != "_"}, "odds": self._quotes(race, r, CARD_HISTORY)}
                          for r in race.runners]
        return out

    def _result(self, race: Race) -> dict:
        rng = _rng(self.seed, race.race_id, "result")
        starters = [r for r in race.runners if not r.nr_at or r.nr_at >= race.off]
        t = race.off_ts - 1
        sp = {}
        for r in starters:     # SP: the median of the big books' last pre-off prices on the card
            prices = sorted(float(q[0][1]) for j in _SP_BOOKS
                            if (q := self._line(race, r, j, _mix(r.key ^ _SALT[j]), t, 1)) and q[0][1] not in ("-", ""))
            fair = prices[len(prices) // 2] if prices else 1 / (r.p_close * 1.15)
            sp[r.horse_id] = min(range(len(_FIXED)), key=lambda k: abs(_FIXED[k] - fair))
        best = min(sp.values(), default=None)
        n_fav = sum(v == best for v in sp.values())
        order, pool = [], list(starters)
        while pool:            # Plackett-Luce on the closing probabilities
            pick = rng.random() * sum(r.p_close for r in pool)
            for r in pool:
                pick -= r.p_close
                if pick <= 0 or r is pool[-1]:
                    order.append(r)
                    pool.remove(r)
                    break
        fell = {}
        for r in order:
            roll = rng.random()
            if race.type in ("Hurdle", "Chase"):
                fell[r.horse_id] = ("PU" if roll < .06 else "F" if roll < (.1 if race.type == "Chase" else .075)
                                    else "UR" if roll < .11 else None)
            if roll > .997:
                fell[r.horse_id] = "DSQ"
        finishers = [r for r in order if not fell.get(r.horse_id)]
        others = [r for r in order if fell.get(r.horse_id)]
        others.sort(key=lambda r: fell[r.horse_id] == "DSQ")
        heat = rng.choice((1, 1, 2, 3)) if rng.random() < .03 and len(finishers) >= 4 else 0
        speed = (16.6 if race.type == "Flat" else 14.8) * rng.uniform(.95, 1.03)
        yards = race.yards
        win_time = yards / speed
        shares, total = (.55, .2, .1, .06, .04) if race.region == "IRE" else (.57, .2, .11, .06), int(
            race.card["prize"][1:].replace(",", ""))
        rows, ovr, pos = [], 0.0, 0
        for n, r in enumerate(finishers):
            pos = n + 1 if not (heat and n == heat) else heat
            btn = 0.0 if n == 0 or pos == heat and n == heat else rng.choice(
                (.05, .1, .2, .3, .5, .75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20))
            ovr += btn
            secs = win_time + ovr * .2
            rows.append((r, str(pos), f"{btn:g}", f"{ovr:g}", f"{int(secs // 60)}:{secs % 60:05.2f}",
                         _money(race.region, round(total * shares[pos - 1]), False) if pos <= len(shares) else ""))
        rows += [(r, fell[r.horse_id], "-", "-", "-", "") for r in others]
        runners = []
        for r, position, btn, ovr_btn, run_time, prize in rows:
            c, k = r.card, sp[r.horse_id]
            suffix = ("" if k != best else "F" if n_fav == 1 else "JF" if n_fav == 2 else "CF")
            bsp = "" if _mix(r.key) % 20 == 0 else f"{(1 / r.p_close) * math.exp(rng.gauss(0, .08)) + .01:.2f}"
            runners.append({
                "horse_id": r.horse_id, "horse": f"{r.horse} ({c['region']})",
                "sp": ("Evs" if _FIXED_TEXT[k] == "evens" else _FIXED_TEXT[k]) + suffix,
                "sp_dec": f"{_FIXED[k]:.2f}", "bsp": bsp, "number": c["number"], "position": position,
                "draw": c["draw"], "btn": btn, "ovr_btn": ovr_btn, "age": c["age"], "sex": c["sex_code"],
                "weight": f"{int(c['lbs']) // 14}-{int(c['lbs']) % 14}", "weight_lbs": c["lbs"],
                "headgear": c["headgear"], "time": run_time, "or": c["ofr"] or "-", "rpr": c["rpr"] or "-",
                "tsr": c["ts"], "prize": prize, "jockey": c["jockey"].split("(")[0],
                "jockey_claim_lbs": str(c["_claim"]), "jockey_id": c["jockey_id"], "trainer": c["trainer"],
                "trainer_id": c["trainer_id"], "owner": c["owner"], "owner_id": c["owner_id"],
                "sire": f"{c['sire']} ({c['sire_region']})", "sire_id": c["sire_id"],
                "dam": f"{c['dam']} ({c['dam_region']})", "dam_id": c["dam_id"],
                "damsire": f"{c['damsire']} ({c['damsire_region']})", "damsire_id": c["damsire_id"],
                "comment": _COMMENTS.get(position) or rng.choice(_COMMENTS[min(int(position), 3) if position.isdigit() else 3]),
                "silk_url": c["silk_url"]})
        card, currency = race.card, "€" if race.region == "IRE" else "£"
        money = lambda x: f"{currency}{x:.2f}"
        win_dec = _FIXED[sp[finishers[0].horse_id]] if finishers else 2.0
        return {
            "race_id": race.race_id, "date": card["date"], "region": race.region,
            "course": race.course + (" (IRE)" if race.region == "IRE" else ""), "course_id": race.course_id,
            "off": card["off_time"], "off_dt": card["off_dt"], "race_name": race.race_name, "type": race.type,
            "class": card["race_class"], "pattern": card["pattern"], "rating_band": card["rating_band"],
            "age_band": card["age_band"], "sex_rest": "", "dist": card["distance"],
            "dist_y": str(yards), "dist_m": str(round(yards * .9144)), "dist_f": card["distance_f"].replace(".0", "") + "f",
            "going": card["going"], "surface": card["surface"], "jumps": card["jumps"], "runners": runners,
            "winning_time_detail": f"{int(win_time // 60)}m {win_time % 60:.2f}s",
            "comments": "", "non_runners": ", ".join(f"{r.horse} ({r.card['region']})" for r in race.runners
                                                     if r not in starters),
            "tote_win": money(win_dec * rng.uniform(.9, 1.2)), "tote_pl": " ".join(
                money(1 + (_FIXED[sp[r.horse_id]] - 1) / 4 * rng.uniform(.8, 1.2)) for r in finishers[:3]),
            "tote_ex": money(win_dec * 4 * rng.uniform(.8, 3)), "tote_csf": money(win_dec * 4 * rng.uniform(.8, 3)),
            "tote_tricast": money(win_dec * 30 * rng.uniform(.5, 4)) if len(finishers) >= 8 else "",
            "tote_trifecta": money(win_dec * 40 * rng.uniform(.5, 4)) if len(finishers) >= 8 else "",
        }

    # -------------------------------------------------------- endpoints (in-process)
    @staticmethod
    def _check(name, value, lo, hi):
        """FastAPI/pydantic's 422 for a query integer out of range."""
        if lo is not None and value < lo:
            kind, op, ctx = "greater_than_equal", "greater than or equal to", {"ge": lo}
        elif value > hi:
            kind, op, ctx = "less_than_equal", "less than or equal to", {"le": hi}
        else:
            return
        raise ApiError(422, [{"type": kind, "loc": ["query", name], "input": str(value), "ctx": ctx,
                              "msg": f"Input should be {op} {next(iter(ctx.values()))}"}])

    @staticmethod
    def _regions(regions) -> set[str] | None:
        return {r.upper() for r in regions} if regions else None

    def racecards_pro(self, date: date, regions: list[str] | None = None, limit: int = 500, skip: int = 0,
                      *, query: list | None = None) -> dict:
        """A RacecardsOddsProPage, exactly as GET /v1/racecards/pro serves it."""
        self._check("limit", limit, 1, 500)
        self._check("skip", skip, None, 500)
        day = _as_date(date)
        today = self.today()
        if not CARDS_FROM <= day <= today + timedelta(days=7):
            raise ApiError(422, f"Racecards are available from {CARDS_FROM} to {today + timedelta(days=7)} "
                                f"(one week ahead); {day} is outside that range.")
        wanted = self._regions(regions)
        races = [r for r in self.races_for(day) if wanted is None or r.region in wanted]
        query = query if query is not None else ([["date", day.isoformat()]] + [["region_codes", r] for r in regions or ()]
                                                 + [["limit", str(limit)], ["skip", str(skip)]])
        page = races[max(skip, 0):max(skip, 0) + limit]
        return {"racecards": [self._card(r) for r in page], "total": len(races), "limit": limit,
                "skip": skip, "query": query}

    def results(self, start: date | None = None, end: date | None = None, regions: list[str] | None = None,
                limit: int = 50, skip: int = 0, *, query: list | None = None) -> dict:
        """A ResultsStandardPage (newest race first), exactly as GET /v1/results serves it."""
        self._check("limit", limit, 1, 100)
        self._check("skip", skip, None, 20000)
        today, now = self.today(), self.now().timestamp()
        end = _as_date(end) if end else today
        start = _as_date(start) if start else end - timedelta(days=365)
        if start > end:
            raise ApiError(422, "start_date must be on or before end_date.")
        if (end - start).days > 365:
            raise ApiError(422, "The maximum range between start_date and end_date is 365 days.")
        if self.results_history_days is not None and start < today - timedelta(days=self.results_history_days):
            raise ApiError(422, f"Results before {today - timedelta(days=self.results_history_days)} are outside "
                                f"your plan: it covers the last {self.results_history_days} days. The historical "
                                "results add-on is required to query older results.")
        wanted = self._regions(regions)
        ready = lambda off_ts, region, abandoned: (not abandoned and (wanted is None or region in wanted)
                                                   and off_ts + RESULT_DELAY.total_seconds() <= now)
        total, page, lo = 0, [], max(skip, 0)
        day = min(end, today)
        while day >= max(start, RESULTS_FROM):
            index = self._index_of(day)
            count = sum(ready(*i) for i in index)
            if count and total + count > lo and len(page) < limit:
                races = [r for r in reversed(self.races_for(day)) if ready(r.off_ts, r.region, r.is_abandoned)]
                first = max(0, lo - total)
                page += races[first:first + limit - len(page)]
            total += count
            day -= timedelta(days=1)
        query = query if query is not None else ([["start_date", start.isoformat()], ["end_date", end.isoformat()]]
                                                 + [["region", r] for r in regions or ()]
                                                 + [["limit", str(limit)], ["skip", str(skip)]])
        return {"results": [self._result(r) for r in page], "total": total, "limit": limit, "skip": skip,
                "query": query}

    def runner_odds(self, race_id: str, horse_id: str) -> dict:
        """A RaceRunnerOdds: every bookmaker's price with its full history since the book opened."""
        race = self._find_race(race_id)
        runner = next((r for r in race.runners if r.horse_id == horse_id), None) if race else None
        if runner is None:
            raise ApiError(404, "Race or horse not found")
        return {"race_id": race_id, "horse_id": horse_id, "horse": runner.horse,
                "odds": self._quotes(race, runner, 1000)}

    def _find_race(self, race_id: str) -> Race | None:
        try:
            n = (int(race_id.removeprefix("rac_")) - 10_000_000 - self._ids) % 90_000_000
            day = RESULTS_FROM + timedelta(days=n // 64)
        except (ValueError, OverflowError):
            return None
        if not race_id.startswith("rac_") or day > self.today() + timedelta(days=7):
            return None
        return next((r for r in self.races_for(day) if r.race_id == race_id), None)

    def courses(self, regions: list[str] | None = None) -> dict:
        wanted = self._regions(regions)
        rows = [{"id": c, "course": n, "region_code": g.lower(), "region": "Great Britain" if g == "GB" else "Ireland"}
                for c, n, g, _ in COURSES if wanted is None or g in wanted]
        return {"courses": rows, "total": len(rows)}

    # -------------------------------------------------------- HTTP semantics, transport-free
    def handle(self, method: str, target: str, headers) -> tuple[int, dict, bytes]:
        """Answer one request: (status, headers, body). Sleeps for latency/timeout faults."""
        arrived = time.time()  # what a rate limit counts: when the request came in
        url = urlsplit(target)
        path, params = url.path.rstrip("/") or "/", parse_qsl(url.query, keep_blank_values=True)
        if path == "/_sim/requests":
            since = float(dict(params).get("since", 0) or 0)
            with self._lock:
                log = [entry for entry in self.request_log if entry[0] >= since]
            return self._json(200, log)
        parts = path.split("/")
        key = {"racecards": "racecards", "results": "results", "odds": "odds", "courses": "courses"}.get(
            parts[2] if len(parts) > 2 and parts[1] == "v1" else "", "other")
        if self.faults.latency:
            time.sleep(self.faults.latency)
        status, extra, body = self._answer(method, path, params, headers, key)
        with self._lock:
            self.request_log.append((arrived, key, status))
        return status, extra, body

    def _answer(self, method, path, params, headers, key):
        if not path.startswith("/v1/"):
            return self._json(404, {"detail": "Not Found"})
        supplied = (headers.get("Authorization") or "").partition(" ")
        try:
            ok = supplied[0].lower() == "basic" and hmac.compare_digest(base64.b64decode(supplied[2]), self._auth)
        except ValueError:
            ok = False
        if not ok:
            status, hdrs, body = self._json(401, {"detail": "Invalid username or password" if supplied[2]
                                                  else "Not authenticated"})
            return status, {**hdrs, "WWW-Authenticate": 'Basic realm="The Racing API"'}, body
        if method != "GET":
            return self._json(405, {"detail": "Method Not Allowed"})
        wait = self._admit(key)
        if wait is not None:
            status, hdrs, body = self._json(429, {"detail": f"Too Many Requests: the limit for this endpoint is "
                                                            f"{self.rate_limits[key]} requests per second"})
            return status, {**hdrs, "Retry-After": str(max(1, math.ceil(wait)))}, body
        with self._lock:
            rolls = [self._fault_rng.random() for _ in range(4)]
        f = self.faults
        if rolls[0] < f.rate429:
            status, hdrs, body = self._json(429, {"detail": "Too Many Requests"})
            return status, {**hdrs, "Retry-After": "1"}, body
        if rolls[1] < f.error_rate:
            status = (500, 502, 503)[int(rolls[1] / f.error_rate * 3) % 3]
            if status == 500:   # FastAPI's unhandled-error answer; 502/503 come from the CDN as HTML
                return 500, {"Content-Type": "text/plain; charset=utf-8"}, b"Internal Server Error"
            page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1>cloudflare</body></html>"
            return status, {"Content-Type": "text/html"}, page.encode()
        if rolls[2] < f.timeout_rate:
            self._closing.wait(self.hang_seconds)
        try:
            status, hdrs, body = self._json(200, self._route(path, params))
        except ApiError as exc:
            return self._json(exc.status, exc.payload)
        if rolls[3] < f.truncate_rate:
            body = body[:len(body) // 2]
        return status, hdrs, body

    def _route(self, path, params):
        parts, query = path.split("/")[2:], [[k, v] for k, v in params]
        values = lambda name: [v for k, v in params if k == name]
        errors = []

        def integer(name, default):
            raw = values(name)
            if not raw:
                return default
            try:
                return int(raw[-1])
            except ValueError:
                errors.append({"type": "int_parsing", "loc": ["query", name], "input": raw[-1],
                               "msg": "Input should be a valid integer, unable to parse string as an integer"})
                return default

        def day(name, default):
            raw = values(name)
            if not raw:
                return default
            try:
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw[-1]):
                    return date.fromisoformat(raw[-1])
            except ValueError:
                pass
            raise ApiError(422, f"Invalid {name} {raw[-1]!r}: use the format YYYY-MM-DD (e.g. 2023-04-05).")
        if parts == ["racecards", "pro"]:
            limit, skip = integer("limit", 500), integer("skip", 0)
            if errors:
                raise ApiError(422, errors)
            return self.racecards_pro(day("date", self.today()), values("region_codes"), limit, skip, query=query)
        if parts == ["results"]:
            limit, skip = integer("limit", 50), integer("skip", 0)
            if errors:
                raise ApiError(422, errors)
            return self.results(day("start_date", None), day("end_date", None), values("region"), limit, skip,
                                query=query)
        if len(parts) == 3 and parts[0] == "odds":
            return self.runner_odds(unquote(parts[1]), unquote(parts[2]))
        if parts == ["courses"]:
            return self.courses(values("region_codes"))
        raise ApiError(404, "Not Found")

    def _admit(self, key: str) -> float | None:
        """Sliding one-second window per endpoint; returns seconds to wait when over the limit."""
        limit = self.rate_limits.get(key)
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return 1.0 - (now - window[0])
            window.append(now)
        return None

    @staticmethod
    def _json(status: int, payload) -> tuple[int, dict, bytes]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return status, {"Content-Type": "application/json"}, body


# ---------------------------------------------------------------- HTTP server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as clients with sessions expect

    def version_string(self):
        return "uvicorn"

    def _respond(self):
        status, headers, body = self.server.sim.handle(self.command, self.path, self.headers)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (e.g. a timeout fault)

    do_GET = do_POST = do_PUT = do_DELETE = _respond

    def log_message(self, format, *args):   # quiet: and never echo request headers
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass

    def shutdown(self):
        self.sim._closing.set()            # release handlers hanging on a timeout fault
        super().shutdown()


def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start serving in a daemon thread; return (server, base_url). server.shutdown() stops it."""
    server = _Server((host, port), _Handler)
    server.sim = sim
    sim._closing.clear()
    threading.Thread(target=server.serve_forever, args=(0.05,), name="racing-api-simulator", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m darkhorses simulator",
                                     description="Serve a simulator of The Racing API (spec v1.4.3).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--username", default="sim")
    parser.add_argument("--password", default="sim")
    parser.add_argument("--faults", default="", help="e.g. latency=0.2,error_rate=0.1,truncate_rate=0.05")
    parser.add_argument("--results-history-days", type=int, default=None,
                        help="refuse results older than this many days (an account without the add-on)")
    args = parser.parse_args(argv)
    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    sim = Simulator(args.seed, username=args.username, password=args.password, faults=faults,
                    results_history_days=args.results_history_days)
    try:
        server, url = serve(sim, args.host, args.port)
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"simulator listening on {url}; credentials {args.username}/{args.password}", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
