"""A race's result: starting prices from the last pre-off prices, a finishing order drawn from
the closing probabilities, fallers, dead-heats, prize money and the tote."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .model import Race, Runner
from .reference import _COMMENTS, _FIXED, _FIXED_TEXT, _SALT, _SP_BOOKS, _mix, _money, _rng


class Results:
    """Results, mixed into Simulator (uses its seed and the markets' _line)."""

    if TYPE_CHECKING:  # Simulator's, declared for the type checker only
        seed: int

        def _line(self, race: Race, runner: Runner, j: int, h: int, t: float, n: int) -> list[tuple]: ...

    def _result(self, race: Race) -> dict:
        rng = _rng(self.seed, race.race_id, "result")
        starters = [r for r in race.runners if not r.nr_at or r.nr_at.timestamp() >= race.real_off_ts]
        sp = self._starting_prices(race, starters)
        best = min(sp.values(), default=None)
        n_fav = sum(v == best for v in sp.values())
        finishers, others, fell = self._finish(rng, race, starters)
        rows, win_time = self._placings(rng, race, finishers, others, fell)
        runners = [self._result_runner(rng, row, sp[row[0].horse_id], best, n_fav) for row in rows]
        yards = race.yards
        card, currency = race.card, "€" if race.region == "IRE" else "£"

        def money(x):
            return f"{currency}{x:.2f}"
        win_dec = _FIXED[sp[finishers[0].horse_id]] if finishers else 2.0
        return {
            "race_id": race.race_id, "date": card["date"], "region": race.region,
            "course": race.course + (" (IRE)" if race.region == "IRE" else ""), "course_id": race.course_id,
            "off": card["off_time"], "off_dt": card["off_dt"], "race_name": race.race_name, "type": race.type,
            "class": card["race_class"], "pattern": card["pattern"], "rating_band": card["rating_band"],
            "age_band": card["age_band"], "sex_rest": "", "dist": card["distance"],
            "dist_y": str(yards), "dist_m": str(round(yards * .9144)),
            "dist_f": card["distance_f"].replace(".0", "") + "f",
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

    def _starting_prices(self, race: Race, starters) -> dict[str, int]:
        """Index into the fixed ladder per starter: the median of the big books' last pre-off prices."""
        t = race.real_off_ts - 1
        sp = {}
        for r in starters:
            prices = sorted(float(q[0][1]) for j in _SP_BOOKS
                            if (q := self._line(race, r, j, _mix(r.key ^ _SALT[j]), t, 1)) and q[0][1] not in ("-", ""))
            fair = prices[len(prices) // 2] if prices else 1 / (r.p_close * 1.15)
            sp[r.horse_id] = min(range(len(_FIXED)), key=lambda k: abs(_FIXED[k] - fair))
        return sp

    @staticmethod
    def _finish(rng, race: Race, starters) -> tuple[list, list, dict]:
        """(finishers in order, the others with disqualified last, horse_id -> PU/F/UR/DSQ)."""
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
        return finishers, others, fell

    @staticmethod
    def _placings(rng, race: Race, finishers, others, fell) -> tuple[list[tuple], float]:
        """(runner, position, btn, ovr_btn, time, prize) rows, and the winning time in seconds."""
        heat = rng.choice((1, 1, 2, 3)) if rng.random() < .03 and len(finishers) >= 4 else 0
        speed = (16.6 if race.type == "Flat" else 14.8) * rng.uniform(.95, 1.03)
        win_time = race.yards / speed
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
        return rows, win_time

    @staticmethod
    def _result_runner(rng, row, k, best, n_fav) -> dict:
        r, position, btn, ovr_btn, run_time, prize = row
        c = r.card
        suffix = ("" if k != best else "F" if n_fav == 1 else "JF" if n_fav == 2 else "CF")
        bsp = "" if _mix(r.key) % 20 == 0 else f"{(1 / r.p_close) * math.exp(rng.gauss(0, .08)) + .01:.2f}"
        return {
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
            "comment": (_COMMENTS.get(position)
                        or rng.choice(_COMMENTS[min(int(position), 3) if position.isdigit() else 3])),
            "silk_url": c["silk_url"]}
