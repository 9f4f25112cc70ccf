"""A hand-built plan for the tiny sample crisis: it passes, and each one-thing break fails right.

tests/data/tiny_hand_plan.json, worked out by hand on models/tiny.json:
- convoy A, the medical NGO (never takes escorts): one 8 t truck D1 → S01 → D1 on the safe
  26 km road (0.7 h each way, risk 0), 100 food (5 t) + 4 medical kits (0.8 t); S01's 1 h service:
  back at 0.7 + 1 + 0.7 = 2.4 h.
- convoy B, the food agency (escorts as a last resort): one 8 t truck D2 → J2 → S06 → J2 → D2.
  Unescorted risk 1 − (0.94·0.98)² = 0.151 > 0.05 and S06 has no safer road, so an escort is
  allowed; the UN unit E_un (effectiveness 0.85, based at D2) brings it to
  1 − (0.991·0.997)² = 0.0238 ≤ 0.2. Leaves 6.0, arrives 8.4 inside S06's window [8, 20],
  1.5 h service, back 12.3 h. 100 food + 50 shelter kits = 6.5 t.
- S11 lies in the denied enclave: its no_path, too_far and too_risky claims all hold; every other
  site is short and listed with an informative reason.
Metrics: delivered 12.3 t; vehicle_km 52 + 124 = 176; cost 52·1.0 + 124·(1.2 + 5.0) = 820.8.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from allocate import check, load_plan, load_scenario
from allocate.plan import Plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    return load_scenario(ROOT / "models" / "tiny.json")


@pytest.fixture(scope="module")
def hand_plan():
    return load_plan(ROOT / "tests" / "data" / "tiny_hand_plan.json")


def test_hand_plan_passes_with_the_hand_worked_metrics(tiny, hand_plan) -> None:
    report = check(tiny, hand_plan)
    assert report.ok, sorted(report.codes)
    assert report.metrics["delivered_t"] == pytest.approx(12.3)
    assert report.metrics["vehicle_km"] == pytest.approx(176)
    assert report.metrics["cost"] == pytest.approx(820.8)
    assert report.metrics["max_route_risk"] == pytest.approx(1 - (0.991 * 0.997) ** 2)
    assert report.metrics["escorted_convoys"] == 1


def _with_convoy(tiny, plan: Plan, convoy_id: str, **changes) -> Plan:
    convoys = [c.model_copy(update=changes) if c.id == convoy_id else c for c in plan.convoys]
    return Plan.build(tiny, convoys, plan.unmet, plan.solver)


@pytest.mark.parametrize(
    "convoy_id, changes, code",
    [
        ("B", {"escort": None}, "RISK_UNESCORTED"),
        ("A", {"escort": "E_gov"}, "ESCORT_CONSENT"),
        ("A", {"path": ("D1", "J1", "S03", "D1")}, "PATH_CLOSED"),
        ("B", {"depart_h": 6.5}, "TIME_ARRIVAL"),
        ("A", {"vehicles": {"wfp_light_D1": 1}}, "VEHICLE_ORG"),
        ("B", {"return_h": 49.0}, "HORIZON"),
    ],
)
def test_one_thing_broken_gives_its_code(tiny, hand_plan, convoy_id, changes, code) -> None:
    broken = _with_convoy(tiny, hand_plan, convoy_id, **changes)
    assert code in check(tiny, broken).codes
