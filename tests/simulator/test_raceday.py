"""The simulator's compressed race day: a race every minute or two from now, seeded, and its
control endpoints (schedule, faults, prices at a moment)."""
import json
from datetime import datetime, timedelta, timezone

from darkhorses.simulator.raceday import FIRST_OFF_AFTER, RaceDaySimulator
from tests.support import Clock


def get(sim, target):
    status, _, body = sim.handle("GET", target, {})
    return status, json.loads(body)


def test_a_race_goes_off_every_minute_or_two_from_now_and_the_same_seed_repeats_it():
    now = datetime(2026, 6, 6, 13, 0, 20, tzinfo=timezone.utc)
    sim = RaceDaySimulator(seed=5, clock=Clock(now))
    offs = sorted(r["first_off_ts"] for r in sim.schedule())   # as laid out, before any re-timing
    assert len(offs) >= 30
    assert offs[0] == (now.replace(second=0) + FIRST_OFF_AFTER).timestamp()
    assert {b - a for a, b in zip(offs, offs[1:], strict=False)} <= {60, 120}
    assert sim.schedule() == RaceDaySimulator(seed=5, clock=Clock(now)).schedule()
    assert [r["race_id"] for r in sim.schedule()] != [r["race_id"] for r in
                                                      RaceDaySimulator(seed=6, clock=Clock(now)).schedule()]
    # the cards served carry the latest scheduled offs, and other days keep their usual layout
    cards = sim.racecards_pro(now.date(), limit=500)["racecards"]
    assert ({datetime.fromisoformat(c["off_dt"]).timestamp() for c in cards}
            <= {r["off_ts"] for r in sim.schedule()} | set(offs))
    assert all(r["real_off_ts"] >= r["off_ts"] >= r["first_off_ts"] for r in sim.schedule())
    tomorrow = sim.racecards_pro(now.date() + timedelta(days=1))["racecards"]
    assert min(datetime.fromisoformat(c["off_dt"]).hour for c in tomorrow) >= 11


def test_faults_set_and_cleared_through_the_control_endpoint():
    sim = RaceDaySimulator(seed=5)
    status, faults = get(sim, "/_sim/faults?error_rate=1&hang_seconds=3")
    assert status == 200 and faults["error_rate"] == 1 and faults["hang_seconds"] == 3
    assert sim.handle("GET", "/v1/courses", {"Authorization": "Basic c2ltOnNpbQ=="})[0] in (500, 502, 503)
    assert get(sim, "/_sim/faults")[1]["error_rate"] == 0
    assert sim.handle("GET", "/v1/courses", {"Authorization": "Basic c2ltOnNpbQ=="})[0] == 200
    assert get(sim, "/_sim/faults?error_rate=7")[0] == 422


def test_prices_at_a_moment_match_the_card_served_then():
    clock = Clock(datetime(2026, 6, 6, 13, 0, 20, tzinfo=timezone.utc))
    sim = RaceDaySimulator(seed=5, clock=clock)
    clock.advance(60)
    card = next(c for c in sim.racecards_pro(clock.now.date())["racecards"] if not c["is_abandoned"])
    served = {r["horse_id"]: sorted(float(q["decimal"]) for q in r["odds"] if q["decimal"].replace(".", "").isdigit())
              for r in card["runners"]}
    status, prices = get(sim, f"/_sim/prices?race_id={card['race_id']}&at={clock.now.timestamp()}")
    assert status == 200 and prices == served
    assert get(sim, "/_sim/prices?race_id=nope&at=1")[0] == 422
