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


# ----- trucks idle during a convoy's trip join it (add_idle_trucks) -------------------------------
def _escorted_site(trucks: int = 4, heavy: int = 0) -> Scenario:
    """Depot D, site S one risky hour away (an escort is needed), 10 t trucks, one UN escort."""
    fleet = [{"id": "truck", "organization": "wfp", "depot": "D", "count": trucks, "capacity_t": 10, "capacity_m3": 40}]
    if heavy:
        fleet.append({"id": "heavy", "organization": "wfp", "depot": "D", "count": heavy, "capacity_t": 30, "capacity_m3": 90})
    return Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "grow", "horizon_h": 24,
        "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
        "parties": [{"id": "un", "kind": "un"}], "zones": [],
        "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 2000}},
                  {"id": "S", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 800}, "severity": 4}],
        "roads": [{"a": "D", "b": "S", "km": 40, "hours": 1, "risk": 0.15}],
        "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
        "fleet": fleet,
        "escorts": [{"id": "E", "provider": "un", "base": "D", "count": 1, "effectiveness": 0.9}],
    })


def _convoy(cid: str, trucks: int, units: float, depart: float = 0.0, escort: str | None = "E"):
    from allocate.plan import Convoy, Stop

    return Convoy(id=cid, organization="wfp", depot="D", vehicles={"truck": trucks}, path=("D", "S", "D"),
                  depart_h=depart, stops=(Stop(site="S", arrive_h=depart + 1, unload={"food": units}),),
                  return_h=depart + 2, escort=escort)


def _plan_of(s: Scenario, convoys) -> Plan:
    from allocate.plan import SolverInfo, UnmetClaim, site_coverage

    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version="test")
    short = [UnmetClaim(site=x, reason="escorts") for x, c in site_coverage(s, convoys).items() if c.delivered_t < c.need_t - 1e-9]
    return Plan.build(s, convoys, short, solver)


def test_idle_trucks_join_an_escorted_convoy_for_its_sites_remaining_need() -> None:
    from allocate.network import RoadNetwork
    from allocate.topup import add_idle_trucks

    s = _escorted_site(trucks=4)
    before = [_convoy("A", trucks=1, units=200)]  # 10 t of the 40 t S needs, three trucks idle
    after = add_idle_trucks(s, RoadNetwork(s), before)
    assert after[0].vehicles == {"truck": 4}
    assert after[0].stops[0].unload["food"] == pytest.approx(800, abs=1e-3)
    assert (after[0].path, after[0].depart_h, after[0].return_h, after[0].escort) == (("D", "S", "D"), 0.0, 2.0, "E")
    report = check(s, _plan_of(s, after))
    assert report.ok, sorted(report.codes)


def test_only_trucks_idle_for_the_whole_trip_join() -> None:
    from allocate.network import RoadNetwork
    from allocate.topup import add_idle_trucks

    s = _escorted_site(trucks=4)
    # B holds two trucks over 1-3 h, overlapping A's 0-2 h trip: one truck is free to join A
    before = [_convoy("A", trucks=1, units=200), _convoy("B", trucks=2, units=100, depart=1.0, escort=None)]
    after = add_idle_trucks(s, RoadNetwork(s), before)
    assert after[0].vehicles == {"truck": 2}
    assert "FLEET_BUSY" not in check(s, _plan_of(s, after)).codes


def test_no_heavier_truck_joins_and_nothing_joins_without_stock() -> None:
    from allocate.network import RoadNetwork
    from allocate.topup import add_idle_trucks

    s = _escorted_site(trucks=1, heavy=2)  # heavier trucks could break the convoy's road and risk checks
    assert add_idle_trucks(s, RoadNetwork(s), [_convoy("A", trucks=1, units=200)])[0].vehicles == {"truck": 1}
    data = _escorted_site(trucks=4).to_dict()
    data["nodes"][0]["stock"] = {"food": 200}  # all the depot holds is already on A
    s2 = Scenario.from_dict(data)
    assert add_idle_trucks(s2, RoadNetwork(s2), [_convoy("A", trucks=1, units=200)])[0].vehicles == {"truck": 1}
