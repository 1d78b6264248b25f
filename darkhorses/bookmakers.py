"""The bookmakers The Racing API reports, by the name it uses in `odds[].bookmaker`.

The API names a bookmaker with free text ("Bet365", "Betfair Exchange"); readers of
`ra_odds_live` join on the short canonical id instead, so the mapping lives here once and
is also loaded into `ra_bookmakers` by the first migration.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bookmaker:
    id: str
    name: str  # exactly as the API spells it
    type: str  # "fixed" or "exchange"


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


def bookmaker_for(api_name: str) -> Bookmaker | None:
    """The canonical bookmaker for an API name, tolerant of case and spacing; None if unknown."""
    if not isinstance(api_name, str):
        return None
    return _BY_KEY.get(api_name.casefold().replace(" ", ""))
