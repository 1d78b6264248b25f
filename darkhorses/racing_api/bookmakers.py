"""The bookmakers The Racing API reports, by the name it uses in `odds[].bookmaker`.

The API names a bookmaker with free text ("Bet365", "Betfair Exchange"); readers of
`ra_odds_live` join on the short canonical id instead, so the mapping lives here once and
is also loaded into `ra_bookmakers` by the first migration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Bookmaker:
    id: str
    name: str  # exactly as the API spells it
    type: str  # "fixed", "exchange", or "unknown" for a name not in BOOKMAKERS


BOOKMAKERS: tuple[Bookmaker, ...] = (
    Bookmaker("bet365", "Bet365", "fixed"),
    Bookmaker("williamhill", "William Hill", "fixed"),
    Bookmaker("paddypower", "Paddy Power", "fixed"),
    Bookmaker("skybet", "Sky Bet", "fixed"),
    Bookmaker("ladbrokes", "Ladbrokes", "fixed"),
    Bookmaker("coral", "Coral", "fixed"),
    Bookmaker("betfair_sb", "Betfair", "fixed"),
    Bookmaker("betfred", "Betfred", "fixed"),
    Bookmaker("unibet", "Unibet", "fixed"),
    Bookmaker("betvictor", "BetVictor", "fixed"),
    Bookmaker("betway", "Betway", "fixed"),
    Bookmaker("boylesports", "BoyleSports", "fixed"),
    Bookmaker("888sport", "888sport", "fixed"),
    Bookmaker("spreadex", "Spreadex", "fixed"),
    Bookmaker("tote", "Tote", "fixed"),
    Bookmaker("grosvenor", "Grosvenor Sport", "fixed"),
    Bookmaker("midnite", "Midnite", "fixed"),
    Bookmaker("livescorebet", "LiveScore Bet", "fixed"),
    Bookmaker("virginbet", "Virgin Bet", "fixed"),
    Bookmaker("starsports", "Star Sports", "fixed"),
    Bookmaker("betuk", "BetUK", "fixed"),
    Bookmaker("quinnbet", "QuinnBet", "fixed"),
    Bookmaker("betfair", "Betfair Exchange", "exchange"),  # the replaced service's id
    Bookmaker("matchbook", "Matchbook", "exchange"),
    Bookmaker("smarkets", "Smarkets", "exchange"),
    Bookmaker("betdaq", "Betdaq", "exchange"),
)

_BY_KEY = {b.name.casefold().replace(" ", ""): b for b in BOOKMAKERS}
_BY_ID = {b.id: b for b in BOOKMAKERS}
_NOT_ID = re.compile(r"[^a-z0-9]+")


def canonical_id(api_name: str) -> str:
    """A stable id for any bookmaker name: lowercase letters and digits only ('Bet MGM' -> 'betmgm')."""
    return _NOT_ID.sub("", api_name.casefold())[:32]


_BY_CANONICAL_NAME = {canonical_id(b.name): b for b in BOOKMAKERS}


def bookmaker_for(api_name: object) -> Bookmaker | None:
    """The canonical bookmaker for an API name, tolerant of case and spacing. A name outside
    our list becomes an `unknown` bookmaker under its canonical id, so no price is dropped;
    None only for a name with no letters or digits."""
    if not isinstance(api_name, str):
        return None
    known = _BY_KEY.get(api_name.casefold().replace(" ", ""))
    return known if known is not None else _unlisted(api_name)


@lru_cache(maxsize=256)
def _unlisted(api_name: str) -> Bookmaker | None:
    bookmaker_id = canonical_id(api_name)
    if not bookmaker_id:
        return None
    # 'William-Hill' is William Hill: a spelling of one of our names, or of one of our ids
    # ('Grosvenor'), is that bookmaker; an unknown one must never take a known id.
    known = _BY_CANONICAL_NAME.get(bookmaker_id) or _BY_ID.get(bookmaker_id)
    name = "".join(ch for ch in api_name if ch.isprintable()).strip()[:64] or bookmaker_id
    return known or Bookmaker(bookmaker_id, name, "unknown")
