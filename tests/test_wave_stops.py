"""Further stops for escorted waves (wave_stops.py): a nearby short site rides along under the
same unit when the trucks have room, and never at the cost of a rule the checker holds."""

from __future__ import annotations

import pytest

from allocate.access import AccessFacts
from allocate.check import check
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, Stop
from allocate.scenario import Scenario
from allocate.wave_stops import extend_waves, remaining_loads
from wave_helpers import escorted_plan


def _scenario(*, trucks: int = 2, c_road_risk: float = 0.15, c_window: list[float] | None = None,
              horizon: float = 24, road_d_c: bool = True) -> Scenario:
    """Depot D; risky sites A (severity 4) one hour out and C (severity 3) half an hour beyond
    A; 10 t trucks; one UN unit based at D (effectiveness 0.9, max_risk 0.2)."""
    c: dict = {"id": "C", "kind": "site", "lat": 0, "lon": 2, "need": {"food": 400}, "severity": 3}
    if c_window is not None:
        c["window"] = c_window
    return Scenario.from_dict({
        "format": "allocate.scenario/1", "name": "wave-stops", "horizon_h": horizon,
        "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
        "parties": [{"id": "un", "kind": "un"}], "zones": [],
        "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 5000}},
                  {"id": "A", "kind": "site", "lat": 0, "lon": 1, "need": {"food": 100}, "severity": 4}, c],
        "roads": [{"a": "D", "b": "A", "km": 40, "hours": 1, "risk": 0.15},
                  {"a": "A", "b": "C", "km": 20, "hours": 0.5, "risk": c_road_risk},
                  *([{"a": "D", "b": "C", "km": 90, "hours": 2, "risk": 0.15}] if road_d_c else [])],
        "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
        "fleet": [{"id": "truck", "organization": "wfp", "depot": "D", "count": trucks, "capacity_t": 10,
                   "capacity_m3": 40}],
        "escorts": [{"id": "E", "provider": "un", "base": "D", "count": 1, "effectiveness": 0.9}],
        "policy": {"risk_threshold": 0.05, "max_risk": 0.2},
    })


def _wave_to_a(depart: float = 0.0, trucks: int = 1, units: float = 100) -> Convoy:
    return Convoy(id="W0001", organization="wfp", depot="D", vehicles={"truck": trucks}, path=("D", "A", "D"),
                  depart_h=depart, stops=(Stop(site="A", arrive_h=depart + 1, unload={"food": units}),),
                  return_h=depart + 2, escort=None, wave=True)


LOADS = {("D", "wfp", "A"): {"food": 100.0}, ("D", "wfp", "C"): {"food": 400.0}}


def _extend(scenario: Scenario, placed: list[tuple[Convoy, str | None]]) -> list[tuple[Convoy, str | None]]:
    network = RoadNetwork(scenario)
    return extend_waves(scenario, network, AccessFacts(scenario, network), placed, remaining_loads(LOADS, placed))


def _checked(scenario: Scenario, convoys: list[Convoy]) -> Plan:
    plan = escorted_plan(scenario, RoadNetwork(scenario), convoys)
    report = check(scenario, plan)
    assert report.ok, sorted(report.codes)
    return plan


def test_room_in_a_wave_carries_the_next_site_and_idle_trucks_join_for_the_rest() -> None:
    # A takes 5 t of the wave's one truck; C needs 20 t: the other truck joins, and C gets 15 t
    scenario = _scenario(trucks=2)
    [(wave, unit)] = _extend(scenario, [(_wave_to_a(), "E")])
    assert unit == "E"
    assert [s.site for s in wave.stops] == ["A", "C"]
    assert wave.vehicles == {"truck": 2}
    assert wave.path == ("D", "A", "C", "A", "D")  # home the quick way round, within max_risk
    assert wave.stops[1].arrive_h == pytest.approx(1.5) and wave.return_h == pytest.approx(3.0)
    assert scenario.weight_t(wave.stops[1].unload) == pytest.approx(15.0)
    _checked(scenario, [wave])


def test_no_further_stop_where_the_whole_trip_would_exceed_max_risk() -> None:
    # the only road on to C is so risky that even escorted (× 0.1) the round trip D-A-C-A-D
    # comes to 1 - 0.985² · 0.901² = 0.21 > max_risk 0.2
    scenario = _scenario(c_road_risk=0.99, road_d_c=False)
    [(wave, _)] = _extend(scenario, [(_wave_to_a(), "E")])
    assert [s.site for s in wave.stops] == ["A"]


def _booked_right_after() -> Convoy:
    """A second wave of unit E, leaving as the first (0-2 h) comes back."""
    return _wave_to_a(depart=2.0).model_copy(update={"id": "W0002", "stops": (
        Stop(site="A", arrive_h=3.0, unload={"food": 0.5}),)})


def test_the_units_later_wave_moves_later_for_a_further_stop() -> None:
    # the first wave goes on to C (back at 3 h, an hour later), so the unit's next wave leaves
    # at 3 h instead of 2 h, and takes C's last 5 t on to C in its turn
    scenario = _scenario()
    out = _extend(scenario, [(_wave_to_a(units=99.5), "E"), (_booked_right_after(), "E")])
    assert [[s.site for s in c.stops] for c, _ in out] == [["A", "C"], ["A", "C"]]
    assert out[0][0].return_h == pytest.approx(3.0)
    assert out[1][0].depart_h == pytest.approx(3.0)
    _checked(scenario, [c for c, _ in out])


def test_no_further_stop_when_the_units_later_wave_cannot_move() -> None:
    # the horizon ends as the second wave returns (4 h): it cannot move, so neither grows
    scenario = _scenario(horizon=4)
    out = _extend(scenario, [(_wave_to_a(units=99.5), "E"), (_booked_right_after(), "E")])
    assert [len(c.stops) for c, _ in out] == [1, 1]
    assert out[1][0].depart_h == pytest.approx(2.0)
    _checked(scenario, [c for c, _ in out])


def test_no_further_stop_past_the_next_sites_window() -> None:
    scenario = _scenario(c_window=[0, 1.2])
    [(wave, _)] = _extend(scenario, [(_wave_to_a(), "E")])
    assert [s.site for s in wave.stops] == ["A"]


def test_convoys_without_escort_and_full_waves_are_left_as_they_are() -> None:
    scenario = _scenario(trucks=1)
    full = _wave_to_a(units=200)  # the only truck full at A, none idle to join
    safe = _wave_to_a(depart=5.0).model_copy(update={"id": "K1"})
    out = _extend(scenario, [(full, "E"), (safe, None)])
    assert out == [(full, "E"), (safe, None)]


def test_what_is_left_counts_only_what_waves_carry() -> None:
    placed = [(_wave_to_a(units=60), "E"), (_wave_to_a(units=40).model_copy(update={"id": "K"}), None)]
    assert remaining_loads(LOADS, placed) == {("D", "A"): {"food": 40.0}, ("D", "C"): {"food": 400.0}}


def test_a_wave_full_by_volume_takes_no_further_stop() -> None:
    # 0.4 m3 a unit: 100 units fill the one truck's 40 m3 with 5 t still free by weight
    data = _scenario(trucks=1).to_dict()
    data["commodities"] = [{"id": "food", "weight_t": 0.05, "volume_m3": 0.4}]
    scenario = Scenario.from_dict(data)
    full = _wave_to_a(units=100)
    assert _extend(scenario, [(full, "E")]) == [(full, "E")]


def _far_unit(horizon: float = 24, base: str = "J") -> Scenario:
    """:func:`_scenario` with one truck, a safe site B an hour from D (severity 1), and unit E
    based at ``base`` (J: an hour from D, so it pays positioning on every wave)."""
    data = _scenario(trucks=1, horizon=horizon).to_dict()
    data["nodes"] += [{"id": "B", "kind": "site", "lat": 1, "lon": 0, "need": {"food": 100}, "severity": 1},
                      {"id": "J", "kind": "junction", "lat": -1, "lon": 0}]
    data["roads"] += [{"a": "D", "b": "B", "km": 40, "hours": 1, "risk": 0.0},
                      {"a": "J", "b": "D", "km": 40, "hours": 1, "risk": 0.0}]
    data["escorts"][0]["base"] = base
    return Scenario.from_dict(data)


def _safe_to_b(depart: float = 2.0) -> Convoy:
    """A convoy without escort on the only truck, leaving as the wave to A comes back."""
    return Convoy(id="K1", organization="wfp", depot="D", vehicles={"truck": 1}, path=("D", "B", "D"),
                  depart_h=depart, stops=(Stop(site="B", arrive_h=depart + 1, unload={"food": 10}),),
                  return_h=depart + 2, escort=None)


def test_a_far_units_wave_goes_on_and_the_convoy_without_escort_waits_for_its_truck() -> None:
    # The wave's truck is booked from 2 h by K1; the unit pays an hour's positioning each way on
    # every wave, so the wave goes on to C (back at 3 h) and K1 leaves at 3 h instead.
    scenario = _far_unit()
    out = _extend(scenario, [(_wave_to_a(), "E"), (_safe_to_b(), None)])
    assert [[s.site for s in c.stops] for c, _ in out] == [["A", "C"], ["B"]]
    assert out[0][0].return_h == pytest.approx(3.0)
    assert out[1] == (_safe_to_b(3.0), None)
    _checked(scenario, [out[0][0]])
    report = check(scenario, escorted_plan(scenario, RoadNetwork(scenario), [c for c, _ in out]))
    assert not report.codes & {"FLEET_BUSY", "TIME_RETURN", "HORIZON"}, sorted(report.codes)


def test_a_convoy_without_escort_that_cannot_wait_gives_way_only_to_more_tonnes() -> None:
    # A 4 h horizon: K1 (0.5 t to a severity-1 site) cannot leave later, and the stop at C
    # (5 t at severity 3) is worth more, so K1 is left to the fill-ins and the wave goes on.
    scenario = _far_unit(horizon=4)
    out = _extend(scenario, [(_wave_to_a(), "E"), (_safe_to_b(), None)])
    assert [c.id for c, _ in out] == ["W0001"]
    assert [s.site for s in out[0][0].stops] == ["A", "C"]


def test_a_unit_based_at_the_depot_does_not_displace_convoys_without_escort() -> None:
    # Back at D it can lead the next wave at once: K1 keeps its truck and the wave its one stop.
    scenario = _far_unit(base="D")
    placed = [(_wave_to_a(), "E"), (_safe_to_b(), None)]
    assert _extend(scenario, placed) == placed
