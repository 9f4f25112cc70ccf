"""Escorted waves scheduled together on CP-SAT: checkable, never below the greedy start, and
better than it where a wave placed early blocks a better pair."""

from __future__ import annotations

import pytest

from allocate.access import AccessFacts
from allocate.check import check
from allocate.escorts import assign_escorts, escort_busy_window
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, SolverInfo, UnmetClaim, site_coverage
from allocate.scenario import Scenario
from allocate.wave_schedule import schedule_waves
from allocate.waves import ANY_ORGANIZATION, place_waves


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


def _escorted_plan(scenario: Scenario, network: RoadNetwork, waves: list[Convoy]) -> Plan:
    """The waves escorted by :func:`assign_escorts` (every one must find its unit) as a plan."""
    assignment = assign_escorts(scenario, waves, network=network)
    assert not assignment.unescorted, [u.reason for u in assignment.unescorted]
    convoys = list(assignment.convoys)
    short = [UnmetClaim(site=s, reason="escorts") for s, c in site_coverage(scenario, convoys).items()
             if c.delivered_t < c.need_t - 1e-9]
    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version="test")
    return Plan.build(scenario, convoys, short, solver)


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
    report = check(scenario, _escorted_plan(scenario, RoadNetwork(scenario), waves))
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
    assert check(scenario, _escorted_plan(scenario, network, [w for w, _ in scheduled])).ok


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
