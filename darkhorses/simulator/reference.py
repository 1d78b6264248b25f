"""The simulator's fixed world: courses, name pools, race titles, the odds ladders, stable
hashing for deterministic randomness, and the API's text formats for times, distances and money."""
from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from ..racing_api.bookmakers import BOOKMAKERS

UK = ZoneInfo("Europe/London")
CARDS_FROM = date(2023, 1, 23)     # the API's racecard tracking began here
RESULTS_FROM = date(1988, 1, 1)    # oldest results with the historical add-on
HISTORY_FROM = date(2025, 3, 17)   # odds `history` exists for races from this date
TICK = 40                          # seconds; prices can change only on tick boundaries
CARD_HISTORY = 3                   # earlier prices per bookmaker in racecards (the odds endpoint gives all)
RACE_HISTORY = 40                  # ... in one race's card (/v1/racecards/{race_id}/pro): its last hours
# A race's result is published at most this long after its scheduled off (darkhorses/simulator/offs.py:
# up to 20 minutes late, then up to 8.5 minutes to run and publish).
RESULT_DELAY = timedelta(minutes=29)
DEFAULT_LIMITS = {"racecards": 2, "racecard": 5, "results": 5, "results_today": 5, "odds": 5}
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
_MARGIN = [.985 if ex else 1.04 + .07 * (_key("margin", b.id) % 1000) / 1000
           for b, ex in zip(BOOKMAKERS, _EXCHANGE_BOOK, strict=True)]
_SALT = [_key("book", b.id) for b in BOOKMAKERS]
_SP_BOOKS = [j for j, b in enumerate(BOOKMAKERS)
             if b.id in ("bet365", "williamhill", "paddypower", "skybet", "ladbrokes")]
# A bookmaker outside darkhorses.bookmakers, on about a third of the races: a client must keep
# its prices. It copies BetUK's line, never re-stamps `updated` and keeps no history.
UNLISTED = "BetMGM"
_UNLISTED_LINE = next(j for j, b in enumerate(BOOKMAKERS) if b.id == "betuk")


def _dec(x: float) -> str:
    s = f"{x:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _exchange_frac(x: float) -> str:
    f = Fraction(round(x * 100) - 100, 100)
    return "evens" if f == 1 else f"{f.numerator}/{f.denominator}"


# Served text for every rung of both ladders, computed once.
_FIXED_SERVED = [(_dec(x), t) for x, t in zip(_FIXED, _FIXED_TEXT, strict=True)]
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

