"""Escorted waves: loads left without escort travel together under one unit, never double-booking."""

from __future__ import annotations

import time

import pytest

from allocate.access import AccessFacts
from allocate.check import check
from allocate.escorts import assign_escorts
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim
from allocate.scenario import Scenario
from allocate.waves import fit_around, place_waves, pool_waves, shift_range


def _scenario(escorts: int = 1, trucks: int = 4) -> Scenario:
    """Depot D, site S one risky hour away (risk 0.15 each way), 10 t trucks, one UN escort unit."""
    return Scenario.from_dict(
        {
            "format": "allocate.scenario/1",
            "name": "waves",
            "horizon_h": 24,
            "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
            "parties": [{"id": "un", "kind": "un"}],
            "zones": [],
            "nodes": [
                {"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 2000}},
                {"id": "S", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 800}, "severity": 4},
            ],
            "roads": [{"a": "D", "b": "S", "km": 40, "hours": 1, "risk": 0.15}],
            "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
            "fleet": [{"id": "truck", "organization": "wfp", "depot": "D", "count": trucks, "capacity_t": 10, "capacity_m3": 40}],
            "escorts": [{"id": "E", "provider": "un", "base": "D", "count": escorts, "effectiveness": 0.9}],
        }
    )


def _truck_convoys(n: int) -> list[Convoy]:
    """``n`` single-truck convoys leaving together, each with 200 units (10 t)."""
    return [
        Convoy(id=f"C{i}", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "S", "D"),
               depart_h=0.0, stops=(Stop(site="S", arrive_h=1.0, unload={"food": 200}),), return_h=2.0, escort=None)
        for i in range(n)
    ]


def _plan(scenario: Scenario, convoys: list[Convoy]) -> Plan:
    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version="test")
    from allocate.plan import site_coverage

    short = [UnmetClaim(site=s, reason="escorts") for s, c in site_coverage(scenario, convoys).items() if c.delivered_t < c.need_t - 1e-9]
    return Plan.build(scenario, convoys, short, solver)


def test_loads_left_without_escort_leave_together_in_one_wave() -> None:
    scenario = _scenario()
    network = RoadNetwork(scenario)
    first = assign_escorts(scenario, _truck_convoys(4), network=network)
    kept = [c for c in first.convoys if c.escort is not None]
    short = [c for c in first.convoys if c.escort is None]
    assert len(kept) == 1 and len(short) == 3, "one unit protects one of four simultaneous convoys"

    waves = pool_waves(scenario, network, AccessFacts(scenario, network), kept, short)
    assert len(waves) == 1
    wave = waves[0]
    assert wave.vehicles == {"truck": 3}
    assert wave.stops[0].unload["food"] == pytest.approx(600)
    assert wave.depart_h >= 2.0 - 1e-9, "the unit is busy with the first convoy until it returns"

    second = assign_escorts(scenario, kept + waves, network=network)
    assert not second.unescorted
    result = _plan(scenario, list(second.convoys))
    report = check(scenario, result)
    assert report.ok, sorted(report.codes)
    assert result.metrics["delivered_t"] == pytest.approx(40.0)


def test_no_wave_when_no_truck_is_ever_idle() -> None:
    scenario = _scenario(trucks=1)
    network = RoadNetwork(scenario)
    # the only truck is busy all day with an escorted convoy; nothing can be pooled
    busy = Convoy(id="K", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "S", "D"), depart_h=0.0,
                  stops=(Stop(site="S", arrive_h=1.0, unload={"food": 200}),), return_h=24.0, escort="E")
    short = _truck_convoys(1)
    assert pool_waves(scenario, network, AccessFacts(scenario, network), [busy], short) == []


def test_a_wave_never_overbooks_the_escort_unit() -> None:
    scenario = _scenario(escorts=1, trucks=8)
    network = RoadNetwork(scenario)
    first = assign_escorts(scenario, _truck_convoys(8), network=network)
    kept = [c for c in first.convoys if c.escort is not None]
    short = [c for c in first.convoys if c.escort is None]
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), kept, short)
    second = assign_escorts(scenario, kept + waves, network=network)
    result = _plan(scenario, [c for c in second.convoys if c.escort is not None])
    assert "ESCORT_BUSY" not in check(scenario, result).codes
    assert "FLEET_BUSY" not in check(scenario, result).codes


def test_loads_the_router_never_carried_go_in_waves_of_an_organization_that_takes_escorts() -> None:
    # Nothing routed: 800 units (40 t) for S are handed over as an unrouted escorted load. The
    # four 10 t trucks leave together under the one unit, and the plan passes the checker.
    scenario = _scenario()
    network = RoadNetwork(scenario)
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), [], [], {("D", "S"): {"food": 800.0}})
    assert len(waves) == 1 and waves[0].organization == "wfp"
    assert waves[0].vehicles == {"truck": 4} and waves[0].stops[0].unload == {"food": pytest.approx(800.0)}
    escorted = assign_escorts(scenario, waves, network=network).convoys
    assert all(c.escort == "E" for c in escorted)
    assert check(scenario, _plan(scenario, list(escorted))).ok


def test_an_organization_that_never_takes_escorts_sends_no_wave() -> None:
    data = _scenario().to_dict()
    data["organizations"][0]["escort_policy"] = "never"
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    assert pool_waves(scenario, network, AccessFacts(scenario, network), [], [], {("D", "S"): {"food": 800.0}}) == []


def test_idle_trucks_carry_safe_loads_the_router_left_without_an_escort() -> None:
    # A safe road; the one truck is busy 0-2 h with a routed convoy. The 600 units (30 t) nobody
    # carries leave on it afterwards, 10 t a trip, one trip at a time, with no escort.
    from allocate.waves import fill_idle_trucks

    data = _scenario(escorts=0, trucks=1).to_dict()
    data["roads"][0]["risk"] = 0.0
    data["escorts"] = []
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    kept = _truck_convoys(1)
    fills = fill_idle_trucks(scenario, network, kept, {("D", "S"): {"food": 600.0}})
    assert len(fills) == 3 and all(c.escort is None and c.vehicles == {"truck": 1} for c in fills)
    assert sum(c.stops[0].unload["food"] for c in fills) == pytest.approx(600.0)
    assert min(c.depart_h for c in fills) >= 2.0 - 1e-9
    assert check(scenario, _plan(scenario, kept + fills)).ok
    # a deadline already past: the loads stay where they are, within the planner's time limit
    assert fill_idle_trucks(scenario, network, kept, {("D", "S"): {"food": 600.0}}, deadline=time.monotonic()) == []


def test_no_idle_truck_takes_a_road_above_the_risk_threshold() -> None:
    from allocate.waves import fill_idle_trucks

    scenario = _scenario(escorts=1, trucks=2)  # the only road is risky: it needs an escort
    assert fill_idle_trucks(scenario, RoadNetwork(scenario), [], {("D", "S"): {"food": 200.0}}) == []


def _two_site_scenario() -> Scenario:
    """Depot D, sites S and T each one risky hour away, 8 trucks, one escort unit of one copy."""
    data = _scenario(escorts=1, trucks=8).to_dict()
    data["nodes"].append({"id": "T", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 400}, "severity": 4})
    data["roads"].append({"a": "D", "b": "T", "km": 40, "hours": 1, "risk": 0.15})
    return Scenario.from_dict(data)


def test_each_wave_books_the_unit_it_was_fitted_around() -> None:
    # One copy of one unit for two sites: the second wave must wait for the unit to come back,
    # or the escort stage finds it taken and the wave leaves nothing delivered.
    scenario = _two_site_scenario()
    network = RoadNetwork(scenario)
    loads = {("D", "S"): {"food": 800.0}, ("D", "T"): {"food": 400.0}}
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), [], [], loads)
    assert len(waves) == 2
    first, second = sorted(waves, key=lambda c: c.depart_h)
    assert second.depart_h >= first.return_h - 1e-9
    escorted = assign_escorts(scenario, waves, network=network)
    assert not escorted.unescorted
    assert check(scenario, _plan(scenario, list(escorted.convoys))).ok


def _three_roads_scenario() -> Scenario:
    """D to S three ways: via A (2 h, too risky even escorted), via B (4 h, within max_risk
    escorted, above the threshold alone) and via C (10 h, the least risky)."""
    data = _scenario().to_dict()
    data["nodes"] += [{"id": j, "kind": "junction", "lat": 0.5, "lon": 0.5} for j in ("A", "B", "C")]
    data["roads"] = [
        {"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.3}, {"a": "A", "b": "S", "km": 40, "hours": 1, "risk": 0.3},
        {"a": "D", "b": "B", "km": 80, "hours": 2, "risk": 0.05}, {"a": "B", "b": "S", "km": 80, "hours": 2, "risk": 0.05},
        {"a": "D", "b": "C", "km": 200, "hours": 5, "risk": 0.02}, {"a": "C", "b": "S", "km": 200, "hours": 5, "risk": 0.02},
    ]
    data["escorts"][0]["effectiveness"] = 0.5
    return Scenario.from_dict(data)


def test_a_wave_takes_the_quickest_road_its_escort_keeps_within_max_risk() -> None:
    scenario = _three_roads_scenario()
    network = RoadNetwork(scenario)
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), [], [], {("D", "S"): {"food": 800.0}})
    assert len(waves) == 1
    assert waves[0].path == ("D", "B", "S", "B", "D"), "not the 20 h safest road, nor the road too risky to take"
    assert waves[0].return_h - waves[0].depart_h == pytest.approx(8.0)
    escorted = assign_escorts(scenario, waves, network=network).convoys
    assert check(scenario, _plan(scenario, list(escorted))).ok


def test_least_blend_path_trades_hours_for_risk() -> None:
    scenario = _three_roads_scenario()
    network = RoadNetwork(scenario)
    assert network.least_blend_path("D", "S", 0.0).nodes == ("D", "A", "S")
    assert network.least_blend_path("D", "S", 50.0).nodes == ("D", "B", "S")
    assert network.least_blend_path("D", "S", 1e6).nodes == ("D", "C", "S")
    assert network.least_blend_path("D", "nowhere", 1.0) is None


def test_least_blend_path_is_remembered_per_question_and_answers_as_a_fresh_network(monkeypatch) -> None:
    """Each wave placement asks the same blended paths again; the network answers from memory,
    the same path a fresh network finds, and a new question (another multiplier) still runs."""
    import allocate.network as network_module

    runs: list[int] = []
    dijkstra = network_module.dijkstra
    monkeypatch.setattr(network_module, "dijkstra", lambda *a, **k: runs.append(1) or dijkstra(*a, **k))
    scenario = _three_roads_scenario()
    network = RoadNetwork(scenario)
    first = network.least_blend_path("D", "S", 50.0)
    assert network.least_blend_path("D", "S", 50.0) == first and len(runs) == 1
    assert network.least_blend_path("D", "S", 1e6).nodes == ("D", "C", "S") and len(runs) == 2
    assert RoadNetwork(scenario).least_blend_path("D", "S", 50.0) == first == network.least_blend_path("D", "S", 50.0)
    assert len(runs) == 3


def test_a_wave_takes_light_trucks_over_a_bridge_rather_than_heavy_ones_round_it() -> None:
    # A 10 t bridge on the 1 h road; heavy trucks must take a 6 h detour. 16 t move in one 2 h
    # light wave, not one 12 h heavy wave: the escort unit's hours are what runs short.
    data = _scenario().to_dict()
    data["nodes"][1]["need"] = {"food": 320}
    data["nodes"].append({"id": "J", "kind": "junction", "lat": 0.5, "lon": 0.5})
    data["roads"] = [
        {"a": "D", "b": "S", "km": 40, "hours": 1, "risk": 0.15, "max_weight_t": 10},
        {"a": "D", "b": "J", "km": 120, "hours": 3, "risk": 0.1}, {"a": "J", "b": "S", "km": 120, "hours": 3, "risk": 0.1},
    ]
    data["fleet"] = [
        {"id": "heavy", "organization": "wfp", "depot": "D", "count": 2, "capacity_t": 20, "capacity_m3": 80},
        {"id": "light", "organization": "wfp", "depot": "D", "count": 2, "capacity_t": 8, "capacity_m3": 40},
    ]
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), [], [], {("D", "S"): {"food": 320.0}})
    assert len(waves) == 1
    assert waves[0].vehicles == {"light": 2} and waves[0].path == ("D", "S", "D")
    escorted = assign_escorts(scenario, waves, network=network).convoys
    assert check(scenario, _plan(scenario, list(escorted))).ok


def test_spare_stock_goes_to_short_sites_that_need_no_escort_never_beyond_the_depot() -> None:
    from allocate.waves import fill_idle_trucks, spare_stock_loads

    data = _two_site_scenario().to_dict()
    data["roads"][0]["risk"] = 0.0  # S is safe, T still needs an escort
    data["nodes"][0]["stock"] = {"food": 700}  # less than S (800) and T (400) need together
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    kept = _truck_convoys(1)  # 200 units already on their way to S
    loads = spare_stock_loads(scenario, access, kept)
    assert loads == {("D", "S"): {"food": pytest.approx(500.0)}}, "500 left in stock, S still short by 600, T escort-only"
    fills = fill_idle_trucks(scenario, network, kept, loads, prefix="G")
    assert fills and all(c.id.startswith("G") and c.escort is None for c in fills)
    report = check(scenario, _plan(scenario, kept + fills))
    assert report.ok, sorted(report.codes)
    assert sum(c.stops[0].unload["food"] for c in fills) == pytest.approx(500.0)


def test_back_to_back_waves_keep_their_escort_on_an_off_grid_road_time() -> None:
    # 1.23456789 h each way: a wave fitted right after the unit's return must not overlap it on
    # the 1/1000 h grid the escort stage judges busy times on, or every other wave loses its unit.
    data = _scenario(escorts=1, trucks=4).to_dict()
    data["roads"][0]["hours"] = 1.23456789
    data["nodes"][1]["need"] = {"food": 4200}
    data["nodes"][0]["stock"] = {"food": 4200}
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    waves = pool_waves(scenario, network, AccessFacts(scenario, network), [], [], {("D", "S"): {"food": 4200.0}})
    assert len(waves) == 6
    escorted = assign_escorts(scenario, waves, network=network)
    assert not escorted.unescorted
    report = check(scenario, _plan(scenario, list(escorted.convoys)))
    assert report.ok, sorted(report.codes)


def test_trucks_back_to_back_up_to_float_noise_are_not_double_booked() -> None:
    # 0.9430000000000001 and 0.943 are one moment: both trucks come back as the next trip leaves.
    # Counted as an overlap, the calendar saw 4 of 2 trucks busy, -2 idle, and a wave with a
    # negative load crashed the planner.
    from allocate.waves import Calendar

    scenario = _scenario(trucks=2)
    calendar = Calendar(scenario, RoadNetwork(scenario), [])
    calendar.fleet["truck"] += [(0.0, 0.9430000000000001, 2), (0.943, 1.886, 2)]
    truck = scenario.fleet_by_id["truck"]
    assert calendar.idle_trucks(truck, 0.5, 1.5) == 0
    assert calendar.idle_trucks(truck, 1.886, 3.0) == 2
    calendar.fleet["truck"].append((0.5, 1.0, 1))  # a real overlap still counts, and idle stays >= 0
    assert calendar.idle_trucks(truck, 0.0, 2.0) == 0


def _with_safe_sites() -> Scenario:
    """:func:`_scenario` with one truck, a safe site B (no window) and a safe site C whose window
    is [1, 3] h, each one risk-free hour from D."""
    data = _scenario(trucks=1).to_dict()
    data["nodes"] += [{"id": "B", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 200}, "severity": 2},
                      {"id": "C", "kind": "site", "lat": -1, "lon": 0, "need": {"food": 200}, "severity": 2,
                       "window": [1, 3]}]
    data["roads"] += [{"a": "D", "b": "B", "km": 40, "hours": 1, "risk": 0.0},
                      {"a": "D", "b": "C", "km": 40, "hours": 1, "risk": 0.0}]
    return Scenario.from_dict(data)


def _trip(convoy_id: str, site: str, depart: float, *, wave: bool = False) -> Convoy:
    extra = {"wave": True} if wave else {}
    return Convoy(id=convoy_id, organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", site, "D"),
                  depart_h=depart, stops=(Stop(site=site, arrive_h=depart + 1, unload={"food": 100}),),
                  return_h=depart + 2, escort=None, **extra)


def test_safe_convoys_move_whole_after_a_wave_that_took_their_truck() -> None:
    scenario = _with_safe_sites()
    network = RoadNetwork(scenario)
    wave = _trip("W1", "S", 0.0, wave=True)
    fitted = fit_around(scenario, network, [(wave, "E")], [_trip("K1", "B", 0.0)])
    assert [(c.id, c.depart_h, c.stops[0].arrive_h, c.return_h) for c in fitted] == [("K1", 2.0, 3.0, 4.0)]
    escorted = assign_escorts(scenario, [wave], network=network).convoys
    assert check(scenario, _plan(scenario, list(escorted) + fitted)).ok


def test_a_safe_convoy_its_window_keeps_from_moving_past_the_wave_is_left_out() -> None:
    # C must be reached by 3 h: after the wave (back at 4 h) it is too late, so K2 stays home.
    scenario = _with_safe_sites()
    wave = _trip("W1", "S", 0.0, wave=True).model_copy(update={"return_h": 4.0})
    assert fit_around(scenario, RoadNetwork(scenario), [(wave, "E")], [_trip("K2", "C", 0.0)]) == []
    assert shift_range(scenario, _trip("K2", "C", 0.0)) == (0.0, 2.0)


def test_a_safe_convoy_whose_trucks_are_idle_stays_where_it_is() -> None:
    scenario = _with_safe_sites()
    wave = _trip("W1", "S", 0.0, wave=True)
    k3 = _trip("K3", "B", 5.0)
    assert fit_around(scenario, RoadNetwork(scenario), [(wave, "E")], [k3]) == [k3]


def test_a_wave_waits_for_a_near_unit_rather_than_take_one_a_day_away() -> None:
    # E (at the depot) is out until 20 h; F, based ten hours away, is free now but would be busy
    # 22 h for a 2 h trip. The wave waits for E: F's hours are worth more to loads only it reaches.
    data = _scenario(trucks=4).to_dict()
    data["nodes"].append({"id": "X", "kind": "junction", "lat": 2, "lon": 0})
    data["roads"].append({"a": "D", "b": "X", "km": 400, "hours": 10, "risk": 0.0})
    data["escorts"].append({"id": "F", "provider": "un", "base": "X", "count": 1, "effectiveness": 0.9})
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    busy_e = Convoy(id="K", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "S", "D"), depart_h=0.0,
                    stops=(Stop(site="S", arrive_h=1.0, unload={"food": 10}),), return_h=20.0, escort="E")
    [(wave, unit)] = place_waves(scenario, network, AccessFacts(scenario, network), [busy_e],
                                 {("D", "wfp", "S"): {"food": 100.0}})
    assert unit == "E" and wave.depart_h >= 20.0 - 1e-9


def _with_military(policy: str) -> Scenario:
    """Depot D, site S (1,000 units needed) behind a 15 t bridge, site T on an open road, both an
    hour away and safe; one 20 t civilian truck, too heavy for the bridge, and one 10 t military
    truck of one organization whose ``military_assets`` is ``policy``."""
    data = _scenario(escorts=0, trucks=1).to_dict()
    data["escorts"] = []
    data["nodes"][1]["need"]["food"] = 1000
    data["nodes"].append({"id": "T", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 200}, "severity": 1})
    data["roads"] = [{"a": "D", "b": "S", "km": 40, "hours": 1, "risk": 0.0, "max_weight_t": 15},
                     {"a": "D", "b": "T", "km": 40, "hours": 1, "risk": 0.0}]
    data["organizations"][0]["military_assets"] = policy
    data["fleet"] = [{"id": "truck", "organization": "wfp", "depot": "D", "count": 1, "capacity_t": 20, "capacity_m3": 80},
                     {"id": "mil", "organization": "wfp", "depot": "D", "count": 1, "capacity_t": 10, "capacity_m3": 40,
                      "military": True}]
    return Scenario.from_dict(data)


def _busy_civilian(depart: float, back: float) -> Convoy:
    """The civilian truck at T from ``depart`` to ``back`` (a long stay there)."""
    return Convoy(id="C0", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "T", "D"),
                  depart_h=depart, stops=(Stop(site="T", arrive_h=depart + 1.0, unload={"food": 200}),),
                  return_h=back, escort=None)


@pytest.mark.parametrize("policy, military_departs", [("never", []), ("accept", [0.0, 2.0]),
                                                      ("last_resort", [4.0, 6.0])])
def test_military_trucks_fill_in_as_the_organization_allows(policy: str, military_departs: list[float]) -> None:
    # 20 t for S, where only the military truck can go. never: it stays home; accept: it leaves
    # at once; last resort: only once the civilian truck is on the road (4-22 h), not at 0 h
    # where that truck is idle.
    from allocate.waves import fill_idle_trucks

    scenario = _with_military(policy)
    network = RoadNetwork(scenario)
    kept = [_busy_civilian(4.0, 22.0)]
    fills = fill_idle_trucks(scenario, network, kept, {("D", "S"): {"food": 400.0}})
    assert all("truck" not in c.vehicles for c in fills), "the civilian truck is too heavy for the bridge"
    assert [c.depart_h for c in fills] == pytest.approx(military_departs)
    report = check(scenario, _plan(scenario, kept + fills))
    assert report.ok, sorted(report.codes)


def test_the_next_wave_is_the_one_moving_most_per_unit_hour_not_the_rest_of_a_load() -> None:
    # One truck (10 t), one unit, 4 h: two round trips. S (severity 4) needs 12 t, T (severity 3)
    # 10 t. After S's first 10 t, S's last 2 t would take the unit's second trip for 8
    # severity-tonnes; T's 10 t give 30: the second wave goes to T.
    data = _two_site_scenario().to_dict()
    data["horizon_h"] = 4
    data["fleet"][0]["count"] = 1
    data["nodes"][2]["severity"] = 3
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    loads = {("D", "S"): {"food": 240.0}, ("D", "T"): {"food": 200.0}}
    waves = sorted(pool_waves(scenario, network, AccessFacts(scenario, network), [], [], loads),
                   key=lambda c: c.depart_h)
    assert [(c.stops[0].site, scenario.weight_t(c.stops[0].unload)) for c in waves] == [("S", 10.0), ("T", 10.0)]
    escorted = assign_escorts(scenario, waves, network=network)
    assert not escorted.unescorted
    assert check(scenario, _plan(scenario, list(escorted.convoys))).ok


def _trucks_back_at_three() -> tuple[Scenario, list[Convoy]]:
    """The waves scenario over 5 h, its four trucks with three of them at safe site T until 3 h."""
    data = _scenario(trucks=4).to_dict()
    data["horizon_h"] = 5
    data["nodes"].append({"id": "T", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 600}, "severity": 1})
    data["roads"].append({"a": "D", "b": "T", "km": 60, "hours": 1.5, "risk": 0.0})
    scenario = Scenario.from_dict(data)
    at_t = Convoy(id="K", organization="wfp", depot="D", vehicles={"truck": 3}, path=("D", "T", "D"), depart_h=0.0,
                  stops=(Stop(site="T", arrive_h=1.5, unload={"food": 600}),), return_h=3.0, escort=None)
    return scenario, [at_t]


def test_a_wave_may_wait_for_trucks_coming_back_when_the_rule_says_so() -> None:
    # S needs 40 t, an escorted 2 h round trip. At 0 h one truck is idle, at 3 h all four. The
    # earliest-departure rule sends 10 t at 0 h and 10 t at 2 h (a third would end past 5 h).
    # Trying later departures, the second wave waits an hour (no longer than its trip) for the
    # three trucks back at 3 h: 30 t in 3 h of its unit beat 10 t in 2.
    from allocate.waves import WaveRule, best_placement

    scenario, kept = _trucks_back_at_three()
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    loads = {("D", "wfp", "S"): {"food": 800.0}}

    def tonnes(placed: list[tuple[Convoy, str | None]]) -> float:
        return sum(scenario.weight_t(c.stops[0].unload) for c, _ in placed)

    earliest = place_waves(scenario, network, access, kept, loads)
    assert [(c.depart_h, c.vehicles["truck"]) for c, _ in earliest] == [(0.0, 1), (2.0, 1)]
    waiting = place_waves(scenario, network, access, kept, loads, WaveRule(departures=12))
    assert [(c.depart_h, c.vehicles["truck"]) for c, _ in waiting] == [(0.0, 1), (3.0, 3)]
    assert tonnes(waiting) == pytest.approx(40.0) and tonnes(earliest) == pytest.approx(20.0)

    best = best_placement(scenario, network, access, kept, loads, tonnes,
                          rules=(WaveRule(), WaveRule(departures=12)))
    assert best == waiting
    escorted = assign_escorts(scenario, [c for c, _ in best], network=network)
    assert not escorted.unescorted
    report = check(scenario, _plan(scenario, kept + list(escorted.convoys)))
    assert report.ok, sorted(report.codes)


def test_best_placement_keeps_the_first_rule_when_no_time_is_left_for_others() -> None:
    from allocate.waves import WaveRule, best_placement

    scenario, kept = _trucks_back_at_three()
    network = RoadNetwork(scenario)
    loads = {("D", "wfp", "S"): {"food": 800.0}}
    placed = best_placement(scenario, network, AccessFacts(scenario, network), kept, loads,
                            lambda p: sum(scenario.weight_t(c.stops[0].unload) for c, _ in p),
                            deadline=time.monotonic() - 1.0, rules=(WaveRule(), WaveRule(departures=12)))
    assert [c.depart_h for c, _ in placed] == [0.0, 2.0]


def test_a_far_units_way_out_before_zero_and_way_back_after_the_horizon_cost_no_hours() -> None:
    # FORMAT.md §3.5 lets a unit position before 0 and go home after the horizon: a unit ten hours
    # away pays one way on a first wave at 0 or a last wave ending at the horizon, two in between
    from allocate.waves import least_unit_hours, unit_hours_in_horizon

    assert unit_hours_in_horizon(24.0, 0.0, 2.0, (10.0, 10.0)) == pytest.approx(12.0)  # out before 0
    assert unit_hours_in_horizon(24.0, 22.0, 24.0, (10.0, 10.0)) == pytest.approx(12.0)  # back after 24
    assert unit_hours_in_horizon(24.0, 11.0, 13.0, (10.0, 10.0)) == pytest.approx(22.0)  # both inside
    assert unit_hours_in_horizon(24.0, 3.0, 21.0, (10.0, 10.0)) == pytest.approx(24.0)  # both spill
    assert unit_hours_in_horizon(24.0, 0.0, 2.0, (0.0, 0.0)) == pytest.approx(2.0)  # based at the depot
    # the least over departures, which the greedy's bounds use: never above any departure's hours
    for trip, pos in ((2.0, (10.0, 10.0)), (2.0, (3.0, 15.0)), (20.0, (10.0, 10.0)), (2.0, (0.0, 0.0))):
        least = least_unit_hours(24.0, trip, pos)
        departures = [24.0 * i / 200 for i in range(201) if 24.0 * i / 200 + trip <= 24.0]
        assert least <= min(unit_hours_in_horizon(24.0, d, d + trip, pos) for d in departures) + 1e-9
    assert least_unit_hours(24.0, 2.0, (10.0, 10.0)) == pytest.approx(12.0)


def test_a_wave_is_rated_on_its_units_hours_inside_the_horizon() -> None:
    # F, based ten hours from the depot, leads a 2 h wave at 0: 10 h of its day, not 22
    from allocate.waves import _wave_rate

    data = _scenario(trucks=4).to_dict()
    data["nodes"].append({"id": "X", "kind": "junction", "lat": 2, "lon": 0})
    data["roads"].append({"a": "D", "b": "X", "km": 400, "hours": 10, "risk": 0.0})
    data["escorts"] = [{"id": "F", "provider": "un", "base": "X", "count": 1, "effectiveness": 0.9}]
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    [(wave, unit)] = place_waves(scenario, network, AccessFacts(scenario, network), [],
                                 {("D", "wfp", "S"): {"food": 800.0}})[:1]
    assert unit == "F" and wave.depart_h == pytest.approx(0.0)
    hours = wave.return_h - wave.depart_h + 10.0
    assert _wave_rate(scenario, network, (wave, unit), 4) == pytest.approx(4 * scenario.weight_t(wave.stops[0].unload) / hours)
    assert check(scenario, _plan(scenario, list(assign_escorts(scenario, [wave], network=network).convoys))).ok


def test_spare_stock_goes_from_the_next_depot_when_the_nearest_ones_trucks_are_busy_all_day() -> None:
    # S is an hour from D and two from D2, both on safe roads with food to spare; D's one truck is
    # out all day, D2's is idle. The spare stock is handed to the nearest depot, D, first: it
    # cannot go from there, so it goes from D2
    from allocate.waves import fill_spare_stock, spare_stock_loads

    data = _scenario(escorts=0, trucks=1).to_dict()
    data["escorts"] = []
    data["roads"] = [{"a": "D", "b": "S", "km": 40, "hours": 1, "risk": 0.0},
                     {"a": "D2", "b": "S", "km": 80, "hours": 2, "risk": 0.0}]
    data["nodes"].append({"id": "D2", "kind": "depot", "lat": 0, "lon": 2, "stock": {"food": 2000}})
    data["fleet"].append({"id": "truck2", "organization": "wfp", "depot": "D2", "count": 1, "capacity_t": 10,
                          "capacity_m3": 40})
    scenario = Scenario.from_dict(data)
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    all_day = Convoy(id="K", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "S", "D"), depart_h=0.0,
                     stops=(Stop(site="S", arrive_h=1.0, unload={"food": 10}),), return_h=24.0, escort=None)
    assert set(spare_stock_loads(scenario, access, [all_day])) == {("D", "S")}
    spare = fill_spare_stock(scenario, network, access, [all_day])
    assert spare and {c.depot for c in spare} == {"D2"}
    assert all(c.id.startswith("G") for c in spare) and len({c.id for c in spare}) == len(spare)
    delivered = sum(scenario.weight_t(s.unload) for c in spare for s in c.stops)
    assert delivered == pytest.approx(scenario.weight_t({"food": 790}))  # all S still needs: four trips of D2's truck
    assert check(scenario, _plan(scenario, [all_day, *spare])).ok
