"""check() must judge any plan of the right shape, however wrong its ids: never raise.

Why: a plan is outside input (hand-edited, or from another tool). A dangling id is a REF
violation, and the rest of the plan is still checked as far as it can be.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from allocate.check import check
from allocate.plan import Plan
from allocate.scenario import load_scenario

VECTORS = Path(__file__).parents[1] / ".." / "shared" / "vectors"
SCENARIO = load_scenario(VECTORS / "scenario.json")
BASE = json.loads((VECTORS / "plan-00-valid-two-convoy-plan.json").read_text(encoding="utf-8"))


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def edit(plan: dict) -> None:
        *head, last = path.split(".")
        target: Any = plan["convoys"][0]
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
    return edit


MUTATIONS: dict[str, tuple[Callable[[dict], None], set[str]]] = {
    "unknown fleet type": (_set("vehicles", {"tank": 1}), {"REF"}),
    "zero vehicles": (_set("vehicles", {"civ_army": 0}), {"REF"}),
    "no vehicles": (_set("vehicles", {}), {"REF"}),
    "unknown escort": (_set("escort", "E9"), {"REF"}),
    "unknown organization": (_set("organization", "ghost"), {"REF"}),
    "depot that is a site": (_set("depot", "S2"), {"REF"}),
    "unknown depot": (_set("depot", "D9"), {"REF"}),
    "unknown path node": (_set("path.1", "X"), {"REF"}),
    "empty path": (_set("path", []), {"PATH_ENDS"}),
    "no stops": (_set("stops", []), {"REF"}),
    "stop at a depot": (_set("stops.0.site", "D"), {"REF"}),
    "unknown stop site": (_set("stops.0.site", "S9"), {"REF"}),
    "unknown commodity": (_set("stops.0.unload", {"fuel": 3}), {"REF"}),
    "unmet on a junction": (lambda p: p["unmet"].append({"site": "J", "reason": "no_path"}), {"REF"}),
    "other scenario": (lambda p: p["scenario"].update(name="elsewhere"), {"REF"}),
    "metric missing": (lambda p: p["metrics"].pop("cost"), {"METRIC"}),
    "metric null": (lambda p: p["metrics"].update(cost=None), {"METRIC"}),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_wrong_id_is_reported_not_raised(name: str) -> None:
    edit, codes = MUTATIONS[name]
    data = copy.deepcopy(BASE)
    edit(data)
    report = check(SCENARIO, Plan.from_dict(data))
    assert codes <= report.codes, report.summary()
    json.dumps(report.to_dict(), allow_nan=False)  # always serialisable


def test_no_convoys_at_all() -> None:
    data = {**copy.deepcopy(BASE), "convoys": []}
    report = check(SCENARIO, Plan.from_dict(data))
    assert report.metrics["max_route_risk"] == 0 and report.metrics["delivered_t"] == 0
    assert "UNLISTED" in report.codes  # S1 and S2 left short, silently


def test_checking_twice_gives_the_same_report() -> None:
    plan = Plan.from_dict(copy.deepcopy(BASE))
    assert check(SCENARIO, plan) == check(SCENARIO, plan)


def test_a_scenario_without_roads() -> None:
    """Every leg is missing: PATH, and the escort cannot position; nothing raises."""
    data = json.loads((VECTORS / "scenario.json").read_text(encoding="utf-8"))
    data["roads"] = []
    from allocate.scenario import Scenario

    report = check(Scenario.from_dict(data), Plan.from_dict(copy.deepcopy(BASE)))
    assert {"PATH", "ESCORT_POSITION"} <= report.codes
