"""The deterministic card: which meetings run on a day, when each race is off, and every race's
conditions, runners, horses and people, all a pure function of (seed, date, ids)."""
from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import TYPE_CHECKING

from .model import Race, Runner
from .offs import OffPlan, off_plan
from .reference import (
    _DISTANCES,
    _FIRST,
    _FIXED,
    _FIXED_TEXT,
    _LAST,
    _SPONSORS,
    _TITLES,
    _TOWNS,
    _W1,
    _W2,
    COURSES,
    CROP,
    RESULTS_FROM,
    UK,
    _as_date,
    _clock12,
    _distance,
    _key,
    _money,
    _rng,
)


class Cards:
    """Card generation, mixed into Simulator (uses its seed, _ids, anchor, _lock, _days, _index,
    _horse and _person caches)."""

    if TYPE_CHECKING:  # Simulator's, declared for the type checker only
        seed: int
        anchor: datetime
        _ids: int
        _lock: threading.Lock
        _days: OrderedDict[date, list[Race]]
        _index: dict[date, tuple]
        _horse: Callable[[int], dict]
        _person: Callable[[str, int], dict]

    def races_for(self, day) -> list[Race]:
        """All races on a UK date (both regions), ordered by off time then course."""
        day = _as_date(day)
        with self._lock:
            if day in self._days:
                self._days.move_to_end(day)
                return self._days[day]
        rot = _key(self.seed, day, "horses") % CROP
        races = sorted((self._race(day, rot, *slot) for slot in self._skeleton(day)),
                       key=lambda r: (r.off_ts, r.course))
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
        for m, (course, n) in enumerate(zip(courses, sizes, strict=True)):
            kind = course[3]
            if kind == "mixed":
                kind = "jumps" if (day.month in (10, 11, 12, 1, 2, 3, 4)) == (rng.random() < .8) else "flat"
            for j in range(n):
                slot = m * 8 + j
                race_id = f"rac_{10_000_000 + (self._ids + (day - RESULTS_FROM).days * 64 + slot) % 90_000_000}"
                # The off after any re-timing: the day's order and the results follow it.
                off = offs[m][j] + timedelta(minutes=off_plan(self.seed, race_id).retime_minutes)
                out.append((slot, course, kind, off, race_id, j == n - 1))
        return out

    def _index_of(self, day: date) -> tuple:
        """(result_ts, region, abandoned) per race of a day, kept for every day ever asked about."""
        if day not in self._index:
            self._index[day] = tuple((self._result_ts(int(off.timestamp()), plan), course[2], plan.abandoned)
                                     for _, course, _, off, race_id, _ in self._skeleton(day)
                                     for plan in (off_plan(self.seed, race_id),))
        return self._index[day]

    @staticmethod
    def _result_ts(off_ts: int, plan: OffPlan) -> int:
        return off_ts + plan.late_seconds + plan.result_delay

    def _layout(self, day: date, sizes: list[int]) -> list[list[datetime]]:
        """Off times per meeting: 12:00-20:30 normally; around the anchor on the anchor's day."""
        rng = _rng(self.seed, day, "times")
        gaps = [rng.choice((25, 30, 35)) for _ in sizes]
        anchor = self.anchor.astimezone(timezone.utc)
        if day != anchor.astimezone(UK).date():
            out = []
            for n, gap in zip(sizes, gaps, strict=True):
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
        for m, (n, gap) in enumerate(zip(sizes, gaps, strict=True)):
            gap = min(gap, max(3, (past + ahead) // n))
            if m == 0:
                lo = max(0, math.ceil((n - 1) - (ahead - lead) / gap))
                start_at = first - minute * gap * rng.randint(lo, max(lo, min(n - 1, int((past + lead) // gap))))
            else:
                start_at = floor - minute * past + minute * rng.randint(0, max(0, past + ahead - (n - 1) * gap))
            offs = [start_at + minute * gap * j for j in range(n)]
            out.append([(floor if anchor < o < first else o).astimezone(UK) for o in offs])
        return out

    def _race(self, day, rot, slot, course, kind, off, race_id, last) -> Race:
        rng = _rng(self.seed, race_id)
        plan = off_plan(self.seed, race_id)
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
        runners = self._field(rng, n, day, rot, slot, off, race_id, ages, jumps, handicap, klass)
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
            "jumps": (f"{round(fur / 2)} hurdles" if rtype == "Hurdle" else
                      f"{round(fur * .75)} fences" if rtype == "Chase" else ""),
            "runners": None, "big_race": bool(pattern) and rng.random() < .3, "is_abandoned": plan.abandoned,
            "tip": tip, "verdict": f"{tip.upper()} has strong claims and is taken to come out on top.",
            "betting_forecast": forecast, "race_status": "",
        }
        if n < 5:
            ew = ("", "")
        else:
            ew = (("2", "4") if n < 8 else ("4", "4") if handicap and n >= 16
                  else ("3", "4") if handicap and n >= 12 else ("3", "5"))
        off_ts = int(off.timestamp())
        first_off = (off - timedelta(minutes=plan.retime_minutes)) if plan.retime_minutes else None
        first_ts = int(first_off.timestamp()) if first_off else off_ts
        return Race(race_id, day, region, cid, cname, off, rtype, name, plan.abandoned, runners,
                    card, ew, off_ts, yards, first_off=first_off,
                    retimed_at_ts=first_ts - plan.retime_notice if first_off else 0,
                    real_off_ts=off_ts + plan.late_seconds,
                    abandoned_at_ts=first_ts - plan.abandon_notice if plan.abandoned else 0,
                    result_ts=self._result_ts(off_ts, plan))

    def _field(self, rng, n, day, rot, slot, off, race_id, ages, jumps, handicap, klass) -> list[Runner]:
        """The race's n runners, numbered by weight; draws from rng in the order the card depends on."""
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
        return runners

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
            "trainer_14_days": {"runs": str(runs), "wins": str(wins),
                                "percent": str(round(100 * wins / runs) if runs else 0)},
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
