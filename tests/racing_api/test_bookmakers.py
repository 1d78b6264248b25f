"""Bookmaker names as the API spells them, to our stable ids and types (darkhorses/racing_api/bookmakers.py)."""
import pytest


@pytest.mark.parametrize("name, expected", [
    ("BetMGM", ("betmgm", "unknown")), ("Bet MGM", ("betmgm", "unknown")), ("bet-mgm ", ("betmgm", "unknown")),
    ("William-Hill", ("williamhill", "fixed")),   # a spelling of one of our names is that bookmaker
    ("Grosvenor", ("grosvenor", "fixed")),        # an unknown name never takes one of our ids
    ("Betfair!", ("betfair_sb", "fixed")), ("Betfair Exchange", ("betfair", "exchange")),
])
def test_every_bookmaker_name_has_a_stable_canonical_id(name, expected):
    from darkhorses.racing_api.bookmakers import bookmaker_for
    bookmaker = bookmaker_for(name)
    assert (bookmaker.id, bookmaker.type) == expected
    assert bookmaker_for("---") is None and bookmaker_for(None) is None
