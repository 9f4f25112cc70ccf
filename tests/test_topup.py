"""Topping up convoys already on the road (topup.py): more delivered, nothing else changed, and
every rule still holds (loads, stock, need are the checker's to judge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocate import check, load_plan, load_scenario
from allocate.plan import Plan
from allocate.scenario import Scenario
from allocate.topup import top_up

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(ROOT / "models" / "tiny.json")


@pytest.fixture(scope="module")
def hand_plan() -> Plan:
    return load_plan(ROOT / "tests" / "data" / "tiny_hand_plan.json")


def _weight(s: Scenario, convoy) -> float:
    return sum(s.weight_t(stop.unload) for stop in convoy.stops)


def test_spare_room_is_filled_and_the_plan_still_passes(tiny, hand_plan) -> None:
    topped = top_up(tiny, hand_plan.convoys)
    plan = Plan.build(tiny, topped, hand_plan.unmet, hand_plan.solver)
    assert check(tiny, plan).ok, check(tiny, plan).violations
    for before, after in zip(hand_plan.convoys, topped):
        # same convoy on the road: path, times, vehicles, escort, stops untouched
        assert (after.path, after.depart_h, after.return_h, after.vehicles, after.escort) == (
            before.path, before.depart_h, before.return_h, before.vehicles, before.escort)
        assert [s.site for s in after.stops] == [s.site for s in before.stops]
        assert [s.arrive_h for s in after.stops] == [s.arrive_h for s in before.stops]
        cap = sum(n * tiny.fleet_by_id[f].capacity_t for f, n in after.vehicles.items())
        assert _weight(tiny, before) < _weight(tiny, after) <= cap
        # each 8 t truck leaves (nearly) full: its sites need more than it carried
        assert _weight(tiny, after) == pytest.approx(cap, abs=1e-3)
    assert plan.metrics["weighted_coverage"] > hand_plan.metrics["weighted_coverage"]


def test_nothing_is_added_beyond_the_depot_stock(tiny, hand_plan) -> None:
    # D1's stock cut to what convoy A already unloads: A cannot take one unit more
    data = tiny.to_dict()
    a = next(c for c in hand_plan.convoys if c.depot == "D1")
    for node in data["nodes"]:
        if node["id"] == "D1":
            node["stock"] = dict(a.unloaded())
    short = Scenario.from_dict(data)
    topped = top_up(short, hand_plan.convoys)
    after = next(c for c in topped if c.depot == "D1")
    assert after.unloaded() == a.unloaded()
    assert check(short, Plan.build(short, topped, hand_plan.unmet, hand_plan.solver)).codes.isdisjoint({"STOCK", "NEED"})


def test_nothing_is_added_beyond_the_site_need(tiny, hand_plan) -> None:
    # S01's need cut to what convoy A already brings: the spare room stays empty
    data = tiny.to_dict()
    a = next(c for c in hand_plan.convoys if c.depot == "D1")
    for node in data["nodes"]:
        if node["id"] == a.stops[0].site:
            node["need"] = dict(a.stops[0].unload)
    short = Scenario.from_dict(data)
    after = next(c for c in top_up(short, hand_plan.convoys) if c.depot == "D1")
    assert after.unloaded() == a.unloaded()
