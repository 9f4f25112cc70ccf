"""Escorted waves scheduled together on CP-SAT: checkable, never below the greedy start, and
better than it where a wave placed early blocks a better pair."""

from __future__ import annotations

import pytest

from allocate.access import AccessFacts
from allocate.check import check
from allocate.escorts import escort_busy_window
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Stop
from allocate.scenario import Scenario
from allocate.wave_schedule import schedule_waves
from allocate.waves import ANY_ORGANIZATION, place_waves
from wave_helpers import escorted_plan


def _scenario(*, escorts: int = 1, trucks: int = 2, window_b: list[float] | None = None, horizon: float = 24) -> Scenario:
    """Depot D; site A (severity 4) and site B (severity 3) each one risky hour away; 10 t
    trucks; one UN escort unit based at D. Each site needs 10 t (200 units of food)."""
    b: dict = {"id": "B", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 200}, "severity": 3}
    if window_b is not None:
        b["window"] = window_b
    return Scenario.from_dict(
        {
            "format": "allocate.scenario/1",
            "name": "wave-schedule",
            "horizon_h": horizon,
            "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
            "parties": [{"id": "un", "kind": "un"}],
            "zones": [],
            "nodes": [
                {"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 2000}},
                {"id": "A", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 200}, "severity": 4},
                b,
            ],
            "roads": [
                {"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                {"a": "D", "b": "B", "km": 40, "hours": 1, "risk": 0.15},
            ],
            "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
            "fleet": [{"id": "truck", "organization": "wfp", "depot": "D", "count": trucks, "capacity_t": 10, "capacity_m3": 40}],
            "escorts": [{"id": "E", "provider": "un", "base": "D", "count": escorts, "effectiveness": 0.9}],
        }
    )


LOADS = {("D", ANY_ORGANIZATION, "A"): {"food": 200.0}, ("D", ANY_ORGANIZATION, "B"): {"food": 200.0}}


def _weighted_t(scenario: Scenario, convoys: list[Convoy]) -> float:
    severity = {s.id: s.severity for s in scenario.sites}
    return sum(severity[stop.site] * scenario.weight_t(stop.unload) for c in convoys for stop in c.stops)


def _both(scenario: Scenario, seconds: float = 5.0) -> tuple[list, list]:
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    greedy = place_waves(scenario, network, access, [], LOADS)
    scheduled = schedule_waves(scenario, network, access, [], LOADS, time_limit=seconds, seed=0, hint=greedy)
    return greedy, scheduled


def test_an_early_wave_that_blocks_a_window_is_moved_and_both_sites_are_served() -> None:
    # B's window closes at 1.5 h: its wave must leave by 0.5 h. Greedy sends A first (more
    # severity-weighted tonnes per escort hour), which holds the one unit until 2 h and B is lost.
    # Scheduled together, B leaves at 0 and A after B's wave is back.
    scenario = _scenario(window_b=[0, 1.5])
    greedy, scheduled = _both(scenario)
    assert {w.stops[0].site for w, _ in greedy} == {"A"}, "the greedy start this test relies on"
    assert {w.stops[0].site for w, _ in scheduled} == {"A", "B"}
    waves = [w for w, _ in scheduled]
    assert _weighted_t(scenario, waves) == pytest.approx(4 * 10 + 3 * 10)
    wave_b = next(w for w in waves if w.stops[0].site == "B")
    assert wave_b.stops[0].arrive_h <= 1.5 + 1e-9
    report = check(scenario, escorted_plan(scenario, RoadNetwork(scenario), waves))
    assert report.ok, sorted(report.codes)


def test_one_unit_never_escorts_two_waves_at_once() -> None:
    # Both loads fit any time; one unit, two trucks: the waves may not overlap in the unit's
    # busy windows even though two trucks could leave together for the two sites.
    scenario = _scenario()
    network = RoadNetwork(scenario)
    _, scheduled = _both(scenario)
    assert len(scheduled) == 2
    windows = sorted(escort_busy_window(scenario, network, unit, wave) for wave, unit in scheduled)
    assert windows[0][1] <= windows[1][0] + 1e-9, windows
    assert check(scenario, escorted_plan(scenario, network, [w for w, _ in scheduled])).ok


def test_two_units_let_both_waves_leave_at_once() -> None:
    scenario = _scenario(escorts=2)
    _, scheduled = _both(scenario)
    assert len(scheduled) == 2
    assert all(wave.depart_h <= 1e-9 for wave, _ in scheduled), [w.depart_h for w, _ in scheduled]


def test_a_wave_that_cannot_return_within_the_horizon_is_not_sent() -> None:
    # A 1.5 h horizon leaves room for no 2 h round trip: nothing is scheduled rather than a
    # wave that comes back late.
    scenario = _scenario(horizon=1.5)
    _, scheduled = _both(scenario)
    assert scheduled == []


def test_never_below_the_greedy_start() -> None:
    for scenario in (_scenario(), _scenario(window_b=[0, 1.5]), _scenario(escorts=2, trucks=1)):
        greedy, scheduled = _both(scenario, seconds=2.0)
        assert _weighted_t(scenario, [w for w, _ in scheduled]) >= _weighted_t(scenario, [w for w, _ in greedy]) - 1e-9


def test_deterministic_search_gives_the_same_waves_twice() -> None:
    scenario = _scenario(window_b=[0, 1.5])
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    runs = [schedule_waves(scenario, network, access, [], LOADS, time_limit=2.0, seed=3, deterministic=True)
            for _ in range(2)]
    assert [w.model_dump() for w, _ in runs[0]] == [w.model_dump() for w, _ in runs[1]]
    assert runs[0], "both sites fit"


def _one_depot(*, sites: list[dict], roads: list[dict], fleet: list[dict], escorts: list[dict],
               horizon: float = 24, commodity: dict | None = None, escort_policy: str = "accept") -> Scenario:
    """Depot D with plenty of stock; the given sites, roads, wfp fleet and UN escort units."""
    commodity = commodity or {"id": "food", "weight_t": 0.05, "volume_m3": 0.1}
    return Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "wave-schedule-edge", "horizon_h": horizon,
        "commodities": [commodity], "parties": [{"id": "un", "kind": "un"}], "zones": [],
        "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {commodity["id"]: 20000}}, *sites],
        "roads": roads,
        "organizations": [{"id": "wfp", "escort_policy": escort_policy, "military_assets": "never"}],
        "fleet": [{"organization": "wfp", "depot": "D", **f} for f in fleet],
        "escorts": [{"provider": "un", "effectiveness": 0.9, **e} for e in escorts],
    })


def _around(scenario: Scenario, loads: dict, kept: list[Convoy] = ()) -> tuple[list[Convoy], list[Convoy]]:
    """Greedy and scheduled waves for ``loads`` around ``kept``; the scheduled ones, with the
    kept convoys, must make a plan the checker passes."""
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    greedy = place_waves(scenario, network, access, list(kept), loads)
    scheduled = schedule_waves(scenario, network, access, list(kept), loads, time_limit=5.0, seed=0, hint=greedy)
    waves = [w for w, _ in scheduled]
    report = check(scenario, escorted_plan(scenario, network, list(kept) + waves))
    assert report.ok, sorted(report.codes)
    return [w for w, _ in greedy], waves


SITE_A = {"id": "A", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 800}, "severity": 4}
SITE_B = {"id": "B", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 600}, "severity": 1}
TRUCK = {"id": "truck", "capacity_t": 10, "capacity_m3": 40}


def _to_b(depart: float, back: float, trucks: int) -> Convoy:
    """A kept, unescorted convoy to the safe site B and back."""
    return Convoy(id=f"K{depart}", organization="wfp", depot="D", vehicles={"truck": trucks}, path=["D", "B", "D"],
                  depart_h=depart, stops=(Stop(site="B", arrive_h=(depart + back) / 2, unload={"food": 100}),),
                  return_h=back, escort=None)


def test_kept_convoys_back_to_back_at_an_off_grid_moment_leave_room_for_a_wave() -> None:
    # The only truck does D-B-D from 0 to 1.0005 h and again to 2.001 h. Each convoy rounded
    # outwards to ticks would hold tick 1000 twice: one truck, two convoys, no schedule at all.
    scenario = _one_depot(sites=[{**SITE_A, "need": {"food": 200}}, SITE_B], fleet=[{**TRUCK, "count": 1}],
                          escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                                 {"a": "D", "b": "B", "km": 20, "hours": 0.50025, "risk": 0.0}])
    kept = [_to_b(0.0, 1.0005, 1), _to_b(1.0005, 2.001, 1)]
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 200.0}}, kept)
    assert _weighted_t(scenario, scheduled) == pytest.approx(4 * 10)
    assert all(w.depart_h >= 2.001 - 1e-9 for w in scheduled)


def test_trucks_kept_busy_all_day_mean_more_smaller_waves() -> None:
    # Three of four trucks are out all day: each wave carries one truck's 10 t, so the 40 t
    # load needs four waves, not the one a whole free fleet would need.
    scenario = _one_depot(sites=[SITE_A, SITE_B], fleet=[{**TRUCK, "count": 4}],
                          escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                                 {"a": "D", "b": "B", "km": 40, "hours": 1, "risk": 0.0}])
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 800.0}}, [_to_b(0.0, 24.0, 3)])
    assert len(scheduled) == 4
    assert _weighted_t(scenario, scheduled) == pytest.approx(4 * 40)


def test_a_truck_class_that_misses_the_window_leaves_its_slots_to_one_that_makes_it() -> None:
    # The heavy truck must go round a 5 t bridge (10 h) and cannot arrive by 5 h; the light
    # one crosses in 1 h. The heavy class ranks first per escort hour but gets no slots.
    scenario = _one_depot(
        sites=[{"id": "A", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 10000}, "severity": 4, "window": [0, 5]},
               {"id": "X", "kind": "junction", "lat": 1, "lon": 1}],
        roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15, "max_weight_t": 5},
               {"a": "D", "b": "X", "km": 400, "hours": 5, "risk": 0.05},
               {"a": "X", "b": "A", "km": 400, "hours": 5, "risk": 0.05}],
        fleet=[{"id": "heavy", "count": 1, "capacity_t": 20, "capacity_m3": 80},
               {"id": "light", "count": 1, "capacity_t": 1, "capacity_m3": 4}],
        escorts=[{"id": "E", "base": "D", "count": 24}])
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 10000.0}})
    assert _weighted_t(scenario, greedy) == pytest.approx(4 * 3), "three light trips by 5 h"
    assert _weighted_t(scenario, scheduled) == pytest.approx(4 * 3)


def test_a_unit_positioning_before_dawn_and_after_dusk_still_gets_every_departure() -> None:
    # The unit is based 5 h from the depot; a trip takes 1 h, so it is busy 11 h per wave.
    # Its positioning may fall outside the horizon (FORMAT.md §3.5): departures at 0, 11 and
    # 22 h all fit in 24 h, three waves, not floor(24 / 11) = 2.
    scenario = _one_depot(
        sites=[{**SITE_A, "need": {"food": 600}}, {"id": "P", "kind": "junction", "lat": 1, "lon": 1}],
        roads=[{"a": "D", "b": "A", "km": 20, "hours": 0.5, "risk": 0.15},
               {"a": "D", "b": "P", "km": 200, "hours": 5, "risk": 0.0}],
        fleet=[{**TRUCK, "count": 1}], escorts=[{"id": "E", "base": "P", "count": 1}])
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 600.0}})
    assert len(scheduled) == 3
    assert _weighted_t(scenario, scheduled) == pytest.approx(4 * 30)


def test_a_load_whose_tonnes_are_float_noise_below_a_kilogram_goes_whole() -> None:
    # 3 units of 0.7 t are 2.0999999999999996 t: floored to whole kilograms without care, the
    # wave would carry 2,099 kg and leave the site a kilogram short.
    scenario = _one_depot(sites=[{**SITE_A, "need": {"kit": 3}}], fleet=[{**TRUCK, "count": 1}],
                          escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15}],
                          commodity={"id": "kit", "weight_t": 0.7, "volume_m3": 1.0})
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"kit": 3.0}})
    assert sum(stop.unload["kit"] for w in scheduled for stop in w.stops) == pytest.approx(3.0, abs=1e-9)


def test_trucks_busy_per_tick_is_the_most_busy_at_any_moment_of_the_tick() -> None:
    from allocate.wave_schedule import _busy_per_tick

    # three convoys back to back inside tick 1000 never hold more than the one truck
    assert _busy_per_tick([(0.0, 1.0002, 1), (1.0002, 1.0004, 1), (1.0004, 2.0, 1)]) == [(0, 2000, 1)]
    # a real overlap is kept, on every tick it touches
    assert _busy_per_tick([(0.0, 1.5, 1), (1.0, 2.0, 1)]) == [(0, 1000, 1), (1000, 1500, 2), (1500, 2000, 1)]
    assert _busy_per_tick([(0.0, 1.0, 2), (2.0, 3.0, 1)]) == [(0, 1000, 2), (2000, 3000, 1)]


def test_a_wave_carries_up_to_its_trucks_total_weight_and_volume_not_each_trucks_own() -> None:
    # Food at 0.5 t/m3 on a 10 t / 12 m3 truck and a 3.3 t / 7.7 m3 one: 13.3 t and 19.7 m3
    # together hold 9.85 t (FORMAT.md LOAD_*); each truck's own lesser limit would add to 9.3 t.
    scenario = _one_depot(sites=[{**SITE_A, "need": {"food": 1000}}], horizon=3,
                          fleet=[{"id": "big", "count": 1, "capacity_t": 10, "capacity_m3": 12},
                                 {"id": "small", "count": 1, "capacity_t": 3.3, "capacity_m3": 7.7}],
                          escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15}])
    greedy, scheduled = _around(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 1000.0}})
    assert len(scheduled) == 1
    assert scenario.weight_t(scheduled[0].stops[0].unload) == pytest.approx(9.85, abs=1e-3)


def test_last_resort_waves_carry_a_truck_with_no_safe_road_or_do_not_go() -> None:
    # wfp takes escorts only as a last resort. A safe 3 h detour via X carries trucks up to
    # 5 t. A wave with the 10 t truck has no safe path (FORMAT.md §3.6 judges the roads all its
    # trucks may use), so it may be escorted with light trucks riding along; light trucks on
    # their own must go unescorted by the detour, never in a wave.
    def scenario(heavy: int):
        return _one_depot(
            escort_policy="last_resort",
            sites=[{**SITE_A, "need": {"food": 400}}, {"id": "X", "kind": "junction", "lat": 1, "lon": 1}],
            roads=[{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                   {"a": "D", "b": "X", "km": 60, "hours": 1.5, "risk": 0.0, "max_weight_t": 5},
                   {"a": "X", "b": "A", "km": 60, "hours": 1.5, "risk": 0.0}],
            fleet=[{"id": "heavy", "count": heavy, "capacity_t": 10, "capacity_m3": 40},
                   {"id": "light", "count": 2, "capacity_t": 5, "capacity_m3": 20}],
            escorts=[{"id": "E", "base": "D", "count": 1}], horizon=4)
    loads = {("D", ANY_ORGANIZATION, "A"): {"food": 400.0}}
    with_heavy = scenario(heavy=1)
    greedy, scheduled = _around(with_heavy, loads)
    for waves in (greedy, scheduled):
        assert waves and all(w.vehicles.get("heavy") for w in waves), [w.vehicles for w in waves]
    assert _weighted_t(with_heavy, scheduled) == pytest.approx(4 * 20)
    assert _around(scenario(heavy=0), loads) == ([], [])


def _with_movable(scenario: Scenario, loads: dict, movable: list[Convoy]) -> list[tuple[Convoy, str | None]]:
    """Waves scheduled with ``movable`` safe convoys (hinted where they are); the result must
    make a plan the checker passes."""
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    scheduled = schedule_waves(scenario, network, access, [], loads, time_limit=5.0, seed=0,
                               hint=[(c, None) for c in movable], movable=movable)
    report = check(scenario, escorted_plan(scenario, network, [c for c, _ in scheduled]))
    assert report.ok, sorted(report.codes)
    return scheduled


ONE_TRUCK_ROADS = [{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                   {"a": "D", "b": "B", "km": 40, "hours": 1, "risk": 0.0}]


def test_a_safe_convoy_on_the_only_truck_moves_so_a_wave_makes_its_window() -> None:
    # The truck is out to B from 0 to 2 h; A (escorted) must be reached by 2 h. Kept fixed, the
    # wave cannot go; movable, the B convoy leaves after the wave is back and both are served.
    scenario = _one_depot(sites=[{**SITE_A, "need": {"food": 200}, "window": [0, 2]}, SITE_B],
                          fleet=[{**TRUCK, "count": 1}], escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=ONE_TRUCK_ROADS)
    loads = {("D", ANY_ORGANIZATION, "A"): {"food": 200.0}}
    fixed = _around(scenario, loads, [_to_b(0.0, 2.0, 1)])[1]
    assert fixed == []
    scheduled = _with_movable(scenario, loads, [_to_b(0.0, 2.0, 1)])
    waves = [c for c, unit in scheduled if unit is not None]
    moved = [c for c, unit in scheduled if unit is None]
    assert [w.stops[0].site for w in waves] == ["A"] and scenario.weight_t(waves[0].stops[0].unload) == pytest.approx(10)
    assert len(moved) == 1 and moved[0].id == "K0.0"
    assert moved[0].depart_h >= waves[0].return_h - 1e-9
    assert moved[0].stops[0].arrive_h - moved[0].depart_h == pytest.approx(1.0)  # moved whole


def test_a_safe_convoy_pinned_by_its_window_stays_home_when_the_wave_is_worth_more() -> None:
    # B's window admits only the arrival the convoy has (1 h), A's wave needs the truck then too:
    # A (severity 4, 10 t) beats B (severity 1, 5 t), so the B convoy is left out, not moved.
    scenario = _one_depot(sites=[{**SITE_A, "need": {"food": 200}, "window": [0, 2]}, {**SITE_B, "window": [1, 1]}],
                          fleet=[{**TRUCK, "count": 1}], escorts=[{"id": "E", "base": "D", "count": 1}],
                          roads=ONE_TRUCK_ROADS)
    scheduled = _with_movable(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 200.0}}, [_to_b(0.0, 2.0, 1)])
    assert [(c.stops[0].site, unit) for c, unit in scheduled] == [("A", "E")]


def test_a_movable_convoy_on_trucks_no_wave_can_use_stays_as_it_is() -> None:
    # The B convoy runs on the van of an organization that takes no escort: no wave can use it,
    # so it is kept as it is, not shifted and not weighed against the waves.
    data = _one_depot(sites=[{**SITE_A, "need": {"food": 200}}, SITE_B], fleet=[{**TRUCK, "count": 1}],
                      escorts=[{"id": "E", "base": "D", "count": 1}], roads=ONE_TRUCK_ROADS).to_dict()
    data["organizations"].append({"id": "ngo", "escort_policy": "never", "military_assets": "never"})
    data["fleet"].append({"id": "van", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 5,
                          "capacity_m3": 20})
    scenario = Scenario.from_dict(data)
    van_trip = _to_b(0.0, 2.0, 1).model_copy(update={"organization": "ngo", "vehicles": {"van": 1}})
    scheduled = _with_movable(scenario, {("D", ANY_ORGANIZATION, "A"): {"food": 200.0}}, [van_trip])
    assert [c for c, unit in scheduled if unit is None] == [van_trip]
    assert [c.stops[0].site for c, unit in scheduled if unit is not None] == ["A"]


@pytest.mark.parametrize("workers, expected", [(None, 2), (1, 1)])
def test_workers_set_cp_sats_search_workers(monkeypatch, workers, expected) -> None:
    """``plan(threads=1)`` reaches CP-SAT here: a sweep runs one plan per core on one thread each."""
    import types

    from ortools.sat.python import cp_model

    from allocate import wave_schedule

    seen: list[int] = []

    class RecordingSolver(cp_model.CpSolver):
        def solve(self, model, *args, **kwargs):
            seen.append(self.parameters.num_workers)
            return super().solve(model, *args, **kwargs)

    monkeypatch.setattr(wave_schedule, "cp_model", types.SimpleNamespace(**{**vars(cp_model), "CpSolver": RecordingSolver}))
    scenario = _scenario()
    network = RoadNetwork(scenario)
    scheduled = schedule_waves(scenario, network, AccessFacts(scenario, network), [], LOADS, time_limit=2.0, seed=0,
                               workers=workers)
    assert seen == [expected]
    assert scheduled and check(scenario, escorted_plan(scenario, network, [w for w, _ in scheduled])).ok
