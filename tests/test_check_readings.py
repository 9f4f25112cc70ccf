"""The readings of FORMAT.md that the vectors leave open, pinned down as tests.

Each test names the sentence it reads; changing a reading must be a visible decision.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from allocate.check import check
from allocate.plan import Plan
from allocate.scenario import Scenario

VECTORS = Path(__file__).parents[1] / ".." / "shared" / "vectors"
SCENARIO = json.loads((VECTORS / "scenario.json").read_text(encoding="utf-8"))
PLAN = json.loads((VECTORS / "plan-09-military-departs-while-civ-army-idle.json").read_text(encoding="utf-8"))


def _codes(scenario: dict, plan: dict) -> set[str]:
    return check(Scenario.from_dict(scenario), Plan.from_dict(plan)).codes


def _military_after(civ_return_h: float, civ_depart_h: float = 3.0) -> set[str]:
    """plan-09 with the civilian convoy A ending (or starting) around the military one's 14.5 h."""
    plan = copy.deepcopy(PLAN)
    a = plan["convoys"][0]
    shift = civ_return_h - a["return_h"]
    a["depart_h"] = civ_depart_h + shift
    a["stops"][0]["arrive_h"] += shift
    a["return_h"] = civ_return_h
    a["escort"] = "E2"  # keep E1 out of the way; E2 sits at D
    return _codes(SCENARIO, plan)


def test_military_last_resort_is_judged_at_the_instant_depart_h_on_half_open_intervals() -> None:
    """"every civilian vehicle ... is busy (at the instant depart_h)": [depart, return) half-open."""
    assert "MILITARY_LAST_RESORT" not in _military_after(15.0)  # civ_army out until 15 h: busy
    assert "MILITARY_LAST_RESORT" in _military_after(14.5)  # back exactly at 14.5 h: idle
    assert "MILITARY_LAST_RESORT" in _military_after(14.5 + 1e-7)  # back within the tolerance: idle


def test_escort_side_of_a_too_risky_claim_ignores_weight_limits() -> None:
    """"escort positioning and the escort side of a claim use roads ... without weight limits".

    The 5 t bridge D-S1 carries no truck of D, and the road through J is too risky even escorted;
    only an escort, on its own roads, may take the bridge: so the too_risky claim on S1 is false.
    """
    scenario = copy.deepcopy(SCENARIO)
    for road in scenario["roads"]:
        if {road["a"], road["b"]} == {"D", "S1"}:
            road["max_weight_t"] = 5
        if {road["a"], road["b"]} == {"J", "S1"}:
            road["risk"] = 0.9
    plan = copy.deepcopy(json.loads((VECTORS / "plan-19-true-claims-only.json").read_text(encoding="utf-8")))
    plan["unmet"].append({"site": "S1", "reason": "too_risky"})
    assert "CLAIM" in _codes(scenario, plan)


def test_a_missing_road_adds_no_time() -> None:
    """A path over a road that does not exist is a PATH breach, not also a time breach (plan-43)."""
    plan = json.loads((VECTORS / "plan-30-no-road-joins-d-and-s2.json").read_text(encoding="utf-8"))
    assert _codes(SCENARIO, plan) == {"PATH"}


def test_vehicle_types_with_count_zero_take_no_part() -> None:
    """A type listed with 0 vehicles neither mixes the fleet nor limits the bridge it crosses."""
    plan = json.loads((VECTORS / "plan-13-light-truck-on-the-safe-direct-road.json").read_text(encoding="utf-8"))
    base = _codes(SCENARIO, plan)
    plan["convoys"][0]["vehicles"]["big"] = 0  # 20 t, would break the 10 t bridge
    plan["convoys"][0]["vehicles"]["mil"] = 0
    assert _codes(SCENARIO, plan) == base
