"""Escorted waves built as tours (wave_tours.py): one unit leads trucks through several sites
when single-site trips cannot fit its day, a copy takes only its share of the trucks, and a tour
never takes an escort the principles refuse."""

from __future__ import annotations

import math

from allocate.access import AccessFacts
from allocate.check import check
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Stop, site_coverage
from allocate.planner import _best_by_depot, plan
from allocate.scenario import Scenario
from allocate.wave_tours import tour_waves
from wave_helpers import escorted_plan

CHAIN = ("A", "B", "C", "E")


def _scenario(*, horizon: float = 7.0, copies: int = 1, trucks: int = 4, need: float = 100,
              risk: float = 0.1) -> Scenario:
    """Depot D two hours from A, then B, C and E half an hour apart along a chain, E 2.9 h from D:
    D → A → B → C → E → D takes 6.4 h, one site and back 4 h or more. Every road has ``risk``
    (threshold 0.05, max_risk 0.3); a UN unit at D (effectiveness 0.9, ``copies``) may escort
    wfp (``last_resort``); ``trucks`` 10 t trucks; each site needs ``need`` units of 0.05 t."""
    sites = [{"id": s, "kind": "site", "lat": 0, "lon": i + 1, "need": {"food": need}, "severity": 3}
             for i, s in enumerate(CHAIN)]
    roads = [{"a": "D", "b": "A", "km": 80, "hours": 2, "risk": risk},
             *({"a": a, "b": b, "km": 20, "hours": 0.5, "risk": risk} for a, b in zip(CHAIN, CHAIN[1:])),
             {"a": "E", "b": "D", "km": 110, "hours": 2.9, "risk": risk}]
    return Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "wave-tours", "horizon_h": horizon,
        "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
        "parties": [{"id": "un", "kind": "un"}], "zones": [],
        "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 5000}}, *sites],
        "roads": roads,
        "organizations": [{"id": "wfp", "escort_policy": "last_resort", "military_assets": "never"}],
        "fleet": [{"id": "truck", "organization": "wfp", "depot": "D", "count": trucks, "capacity_t": 10,
                   "capacity_m3": 40}],
        "escorts": [{"id": "E1", "provider": "un", "base": "D", "count": copies, "effectiveness": 0.9}],
        "policy": {"risk_threshold": 0.05, "max_risk": 0.3},
    })


def _loads(scenario: Scenario) -> dict[tuple[str, str, str], dict[str, float]]:
    return {("D", "wfp", s.id): dict(s.need) for s in scenario.sites}


def _tours(scenario: Scenario, **kwargs):
    network = RoadNetwork(scenario)
    return network, tour_waves(scenario, network, AccessFacts(scenario, network), [], _loads(scenario), **kwargs)


def test_one_unit_serves_four_sites_in_one_tour_where_single_trips_reach_one():
    scenario = _scenario()
    network, placed = _tours(scenario)
    assert [[s.site for s in c.stops] for c, _ in placed] == [list(CHAIN)]
    assert [unit for _, unit in placed] == ["E1"]
    result = escorted_plan(scenario, network, [c for c, _ in placed])
    report = check(scenario, result)
    assert report.ok, sorted(report.codes)
    coverage = site_coverage(scenario, result.convoys)
    assert all(abs(coverage[s].delivered_t - 5.0) < 1e-6 for s in CHAIN)


def test_a_copy_takes_its_share_of_the_trucks_unless_told_otherwise():
    # two copies at D, four 10 t trucks, 80 t wanted: each tour takes two trucks, both leave at once
    scenario = _scenario(copies=2, need=400, horizon=24)
    _, shared = _tours(scenario)
    first = [c for c, _ in shared if c.depart_h == 0]
    assert len(first) == 2 and all(sum(c.vehicles.values()) == 2 for c in first)
    _, every = _tours(scenario, share_scale=math.inf)
    assert sum(every[0][0].vehicles.values()) == 4
    # a site needing 40 t: shared, two trips of two trucks; its whole load may go on one trip
    scenario = _scenario(copies=2, need=800, horizon=24)
    _, shared = _tours(scenario)
    assert max(sum(c.vehicles.values()) for c, _ in shared) == 2
    _, whole = _tours(scenario, whole_loads=True)
    assert max(sum(c.vehicles.values()) for c, _ in whole) == 4


def test_no_tour_under_last_resort_where_the_roads_are_safe_without_escort():
    scenario = _scenario(risk=0.001)
    _, placed = _tours(scenario)
    assert placed == []


def test_the_planner_sends_the_tour_when_only_a_tour_reaches_every_site():
    scenario = _scenario()
    result = plan(scenario, time_limit=20, seed=0, deterministic=True)
    report = check(scenario, result)
    assert report.ok, sorted(report.codes)
    coverage = site_coverage(scenario, result.convoys)
    assert all(abs(coverage[s].delivered_t - 5.0) < 1e-6 for s in CHAIN)
    assert any(len(c.stops) == 4 and c.escort == "E1" for c in result.convoys)


def test_the_tours_are_placed_before_cp_sat_takes_its_share_of_the_time(monkeypatch):
    """CP-SAT's wave schedule uses all the time it is given; placed after it, the tours stopped at
    their deadlines half built (haiti_like) or were skipped (cote_divoire_like). Here CP-SAT is made
    to spend its whole budget: the tours still come first, with time for every site."""
    import time

    import allocate.planner as planner

    calls: list[str] = []
    tours, schedule = planner.tour_waves, planner.schedule_waves

    def slow_schedule(*args, **kwargs):
        calls.append("schedule")
        time.sleep(kwargs["time_limit"])
        return schedule(*args, **kwargs)

    def recorded_tours(*args, **kwargs):
        calls.append("tours")
        return tours(*args, **kwargs)

    monkeypatch.setattr(planner, "schedule_waves", slow_schedule)
    monkeypatch.setattr(planner, "tour_waves", recorded_tours)
    scenario = _scenario()
    result = plan(scenario, time_limit=8, seed=0)
    assert calls[:3] == ["tours", "tours", "schedule"]
    assert check(scenario, result).ok
    assert any(len(c.stops) == 4 and c.escort == "E1" for c in result.convoys)


def _two_depot_scenario() -> Scenario:
    """Depots D1 and D2, one site each (severity 3 and 5), one truck each."""
    return Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "by-depot", "horizon_h": 24,
        "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
        "parties": [], "zones": [],
        "nodes": [{"id": "D1", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 500}},
                  {"id": "D2", "kind": "depot", "lat": 1, "lon": 0, "stock": {"food": 500}},
                  {"id": "S1", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 200}, "severity": 3},
                  {"id": "S2", "kind": "site", "lat": 1, "lon": 1, "need": {"food": 200}, "severity": 5}],
        "roads": [{"a": "D1", "b": "S1", "km": 10, "hours": 1, "risk": 0},
                  {"a": "D2", "b": "S2", "km": 10, "hours": 1, "risk": 0}],
        "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
        "fleet": [{"id": "t1", "organization": "wfp", "depot": "D1", "count": 1, "capacity_t": 10, "capacity_m3": 40},
                  {"id": "t2", "organization": "wfp", "depot": "D2", "count": 1, "capacity_t": 10, "capacity_m3": 40}],
        "escorts": [],
    })


def _trip(convoy_id: str, depot: str, site: str, units: float, escort: str | None = None) -> Convoy:
    fleet = {"D1": "t1", "D2": "t2"}[depot]
    return Convoy(id=convoy_id, organization="wfp", depot=depot, vehicles={fleet: 1}, path=(depot, site, depot),
                  depart_h=0, stops=(Stop(site=site, arrive_h=1, unload={"food": units}),), return_h=2, escort=escort)


def test_each_depot_takes_the_candidate_moving_most_there_with_ids_unique_and_units_shared_named_again():
    scenario = _two_depot_scenario()
    first = [_trip("W0001", "D1", "S1", 200, escort="E8"), _trip("W0002", "D2", "S2", 50)]
    second = [_trip("W0001", "D1", "S1", 100), _trip("W0002", "D2", "S2", 150, escort="E9")]
    merged = _best_by_depot(scenario, (first, second))
    assert [(c.depot, c.id, c.stops[0].unload["food"], c.escort) for c in merged] == [
        ("D1", "W0001", 200, "E8"), ("D2", "W0002", 150, "E9")]
    # one unit booked by both parts: its convoys go back to the escort stage without a unit
    second = [_trip("W0001", "D1", "S1", 100), _trip("W0002", "D2", "S2", 150, escort="E8")]
    assert [c.escort for c in _best_by_depot(scenario, (first, second))] == [None, None]
    # the same id from two candidates at two depots is renamed, so the plan holds no duplicate (REF)
    second = [_trip("W0001", "D1", "S1", 100), _trip("W0001", "D2", "S2", 150)]
    assert [c.id for c in _best_by_depot(scenario, (first, second))] == ["W0001", "W0001.2"]
    # one candidate best everywhere: nothing new to compare
    assert _best_by_depot(scenario, (first, [_trip("W0009", "D1", "S1", 10)])) == []


def test_copies_taken_in_the_order_they_are_free_keep_every_rule():
    scenario = _scenario(copies=2, need=400, horizon=24)
    network, placed = _tours(scenario, by_rate=False)
    assert placed and all(unit == "E1" for _, unit in placed)
    report = check(scenario, escorted_plan(scenario, network, [c for c, _ in placed]))
    assert report.ok, sorted(report.codes)


def test_a_tour_keeps_the_heavy_truck_that_lets_it_take_an_escort_under_last_resort():
    """Light trucks reach A and B safely over a 10 t bridge; the 20 t truck only by risky roads
    through J, so only a convoy with it may take an escort (last_resort). It is busy from 1.75:
    going on from A to B, worth more per hour, would end at 2 on the light trucks alone, which may
    not be escorted."""
    scenario = Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "tour-floor", "horizon_h": 24,
        "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
        "parties": [{"id": "un", "kind": "un"}], "zones": [],
        "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 5000}},
                  {"id": "J", "kind": "junction", "lat": 1, "lon": 0},
                  {"id": "A", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 200}, "severity": 5},
                  {"id": "B", "kind": "site", "lat": 0, "lon": 2, "need": {"food": 100}, "severity": 4}],
        "roads": [{"a": "D", "b": "A", "km": 30, "hours": 1, "risk": 0.0, "max_weight_t": 10},
                  {"a": "A", "b": "B", "km": 15, "hours": 0.5, "risk": 0.0, "max_weight_t": 10},
                  {"a": "D", "b": "J", "km": 15, "hours": 0.5, "risk": 0.1},
                  {"a": "J", "b": "A", "km": 8, "hours": 0.25, "risk": 0.1},
                  {"a": "J", "b": "B", "km": 8, "hours": 0.25, "risk": 0.1}],
        "organizations": [{"id": "wfp", "escort_policy": "last_resort", "military_assets": "never"}],
        "fleet": [{"id": "heavy", "organization": "wfp", "depot": "D", "count": 1, "capacity_t": 20,
                   "capacity_m3": 60},
                  {"id": "light", "organization": "wfp", "depot": "D", "count": 2, "capacity_t": 8,
                   "capacity_m3": 25}],
        "escorts": [{"id": "E1", "provider": "un", "base": "D", "count": 1, "effectiveness": 0.9}],
        "policy": {"risk_threshold": 0.05, "max_risk": 0.3},
    })
    busy_later = Convoy(id="K1", organization="wfp", depot="D", vehicles={"heavy": 1}, path=("D", "J", "A", "J", "D"),
                        depart_h=1.75, stops=(Stop(site="A", arrive_h=2.5, unload={"food": 1}),), return_h=3.25,
                        escort=None)
    network = RoadNetwork(scenario)
    placed = tour_waves(scenario, network, AccessFacts(scenario, network), [busy_later], _loads(scenario))
    assert all(c.vehicles.get("heavy") == 1 for c, _ in placed)
    report = check(scenario, escorted_plan(scenario, network, [c for c, _ in placed]))
    assert report.ok, sorted(report.codes)


def test_an_organization_named_like_the_wildcard_gets_its_load_once():
    data = _scenario().to_dict()
    data["organizations"][0]["id"] = "*"
    data["fleet"][0]["organization"] = "*"
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    loads = {("D", "*", s.id): dict(s.need) for s in scenario.sites}
    placed = tour_waves(scenario, network, AccessFacts(scenario, network), [], loads)
    assert placed
    report = check(scenario, escorted_plan(scenario, network, [c for c, _ in placed]))
    assert report.ok, sorted(report.codes)
