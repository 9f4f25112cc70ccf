"""Routing adapters: one feasibility test per constraint, run on every engine that can express it.

Tiny named instances on a plane; costs and times are rounded Euclidean distances.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from allocate.backends.ortools_routing import RoutingProblem, SearchParams, solve_ortools
from allocate.backends.pyvrp_routing import can_use_pyvrp, solve_pyvrp
from allocate.backends.routing_problem import RoutingResult, evaluate_routes, screen_visits

FAST = SearchParams(time_limit=2.0, solution_limit=300)
ENGINES = {"ortools": solve_ortools, "pyvrp": solve_pyvrp}
FAST_BY_ENGINE = {
    "ortools": FAST,
    "pyvrp": SearchParams(time_limit=2.0, iteration_limit=300),
}


def dist(points: list[tuple[float, float]], scale: float = 1.0) -> np.ndarray:
    c = np.asarray(points, dtype=float)
    return np.rint(np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) * scale).astype(np.int64)


def problem(points: list[tuple[float, float]], nv: int, **kw: object) -> RoutingProblem:
    d = dist(points)
    kw.setdefault("vehicle_starts", [0] * nv)
    kw.setdefault("vehicle_ends", [0] * nv)
    return RoutingProblem(arc_costs=d, travel_times=d, **kw)  # type: ignore[arg-type]


def solve(engine: str, p: RoutingProblem, **kw: object) -> RoutingResult:
    if engine == "pyvrp" and not can_use_pyvrp(p):
        pytest.skip("PyVRP cannot express this problem")
    res = ENGINES[engine](p, replace(FAST_BY_ENGINE[engine], **kw))
    assert res.backend == engine
    return res


def assert_valid(p: RoutingProblem, res: RoutingResult) -> None:
    """The independent evaluation finds no violated rule, and the engine's cost agrees."""
    m = evaluate_routes(p, res.routes)
    assert m.violations == ()
    assert res.cost == m.cost
    served = sorted(x for r in res.routes for x in r)
    assert served == sorted(set(p.visits) - set(res.dropped))
    for v, (route, arr) in enumerate(zip(res.routes, res.arrivals)):
        tw = p.windows()
        assert len(route) == len(arr)
        for node, t in zip(route, arr):
            assert tw[node, 0] <= t <= tw[node, 1], (v, node, t)


# ---- capacity -----------------------------------------------------------------------

LINE4 = [(0, 0), (10, 0), (11, 0), (-10, 0), (-11, 0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_capacity_respected(engine: str) -> None:
    p = problem(LINE4, 3, demands=[[0, 3, 3, 3, 3]], capacities=[[6, 6, 6]])
    res = solve(engine, p)
    assert res.status == "feasible" and res.dropped == ()
    assert_valid(p, res)
    assert all(sum(p.demands[0, list(r)]) <= 6 for r in res.routes)
    assert res.num_routes == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_volume_dimension_binds_even_when_weight_does_not(engine: str) -> None:
    # weight would fit one truck; volume needs two
    p = problem(
        LINE4,
        2,
        demands=[[0, 1, 1, 1, 1], [0, 5, 5, 5, 5]],
        capacities=[[100, 100], [10, 10]],
        capacity_names=("weight", "volume"),
    )
    res = solve(engine, p)
    assert res.status == "feasible"
    assert_valid(p, res)
    assert res.num_routes == 2
    assert all(sum(p.demands[1, list(r)]) <= 10 for r in res.routes)


# ---- time windows -----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_time_windows_force_visit_order(engine: str) -> None:
    # geometry says 1 then 2 (line), windows say 2 first
    pts = [(0, 0), (10, 0), (20, 0)]
    tw = [[0, 1000], [100, 120], [20, 30]]
    p = problem(pts, 1, time_windows=tw, service_times=[0, 5, 5], horizon=1000)
    res = solve(engine, p)
    assert res.status == "feasible"
    assert res.routes[0] == (2, 1)
    assert_valid(p, res)
    assert 20 <= res.arrivals[0][0] <= 30 and 100 <= res.arrivals[0][1] <= 120


@pytest.mark.parametrize("engine", ENGINES)
def test_horizon_and_route_duration(engine: str) -> None:
    # two far customers: one vehicle could do both within the horizon but not within max duration
    pts = [(0, 0), (50, 0), (-50, 0)]
    p = problem(pts, 2, horizon=1000, max_route_duration=[150, 150], vehicle_fixed_costs=[1000, 1000])
    res = solve(engine, p)
    assert res.status == "feasible"
    assert res.num_routes == 2  # despite the fixed cost
    assert_valid(p, res)
    for v, r in enumerate(res.routes):
        if r:
            assert res.end_times[v] - res.start_times[v] <= 150


# ---- risk (extra cumulative dimension) ------------------------------------------------------


def risky_square() -> tuple[RoutingProblem, np.ndarray]:
    """Depot and three customers; the short arcs 1-2 are risky, the detour via 3 is safe."""
    pts = [(0, 0), (10, 0), (10, 10), (0, 10)]
    risk = np.zeros((4, 4), dtype=np.int64)
    risk[1, 2] = risk[2, 1] = 50
    return problem(pts, 1), risk


def test_risk_cap_forces_longer_safer_route() -> None:
    base, risk = risky_square()
    free = solve_ortools(base, FAST)
    capped = replace(base, extra_arc_values=risk, extra_caps=[10])
    res = solve_ortools(capped, FAST)
    assert res.status == "feasible"
    assert_valid(capped, res)
    route = (0, *res.routes[0], 0)
    arcs = set(zip(route, route[1:]))
    assert (1, 2) not in arcs and (2, 1) not in arcs
    assert res.cost > free.cost
    assert evaluate_routes(capped, res.routes).extra[0] <= 10
    assert not can_use_pyvrp(capped)


def test_risk_cap_per_vehicle_splits_work() -> None:
    # each arc out of the depot carries risk 6: a vehicle with cap 10 can do one customer only
    pts = [(0, 0), (10, 0), (11, 0)]
    risk = np.zeros((3, 3), dtype=np.int64)
    risk[0, :] = 3
    risk[:, 0] = 3
    risk[1, 2] = risk[2, 1] = 5
    p = problem(pts, 2, extra_arc_values=risk, extra_caps=[6, 6])
    res = solve_ortools(p, FAST)
    assert res.status == "feasible" and res.num_routes == 2
    assert_valid(p, res)


# ---- allowed vehicles, multi-depot, heterogeneous fleet ------------------------------------


def test_disallowed_vehicle_never_visits_node() -> None:
    # two depots; node 2 sits next to depot 0 but only vehicle 1 (from depot 1) may serve it
    pts = [(0, 0), (100, 0), (1, 0), (99, 0)]
    p = problem(pts, 2, vehicle_starts=[0, 1], vehicle_ends=[0, 1], allowed_vehicles=[None, None, (1,), None])
    res = solve_ortools(p, FAST)
    assert res.status == "feasible"
    assert 2 in res.routes[1] and 2 not in res.routes[0]
    assert_valid(p, res)
    assert not can_use_pyvrp(p)


@pytest.mark.parametrize("engine", ENGINES)
def test_multi_depot_each_vehicle_serves_its_side(engine: str) -> None:
    pts = [(0, 0), (100, 0), (2, 0), (3, 1), (98, 0), (97, 1)]
    p = problem(pts, 2, vehicle_starts=[0, 1], vehicle_ends=[0, 1])
    res = solve(engine, p)
    assert_valid(p, res)
    assert set(res.routes[0]) == {2, 3} and set(res.routes[1]) == {4, 5}


@pytest.mark.parametrize("engine", ENGINES)
def test_open_ended_route_start_differs_from_end(engine: str) -> None:
    pts = [(0, 0), (100, 0), (30, 0), (60, 0)]
    p = problem(pts, 1, vehicle_starts=[0], vehicle_ends=[1])
    res = solve(engine, p)
    assert res.routes[0] == (2, 3)
    assert res.cost == 100


@pytest.mark.parametrize("engine", ENGINES)
def test_cost_factor_prefers_cheap_vehicle(engine: str) -> None:
    p = problem(LINE4, 2, demands=[[0, 1, 1, 1, 1]], capacities=[[10, 10]], vehicle_cost_factors=[3, 1])
    res = solve(engine, p)
    assert res.routes[0] == () and len(res.routes[1]) == 4
    assert_valid(p, res)


# ---- dropped visits --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_dropped_nodes_reported_with_reason(engine: str) -> None:
    pts = [(0, 0), (10, 0), (11, 0), (12, 0), (500, 0)]
    p = problem(
        pts,
        1,
        demands=[[0, 1, 50, 1, 1]],  # node 2 exceeds every capacity
        capacities=[[10]],
        time_windows=[[0, 2000], [0, 2000], [0, 2000], [0, 5], [0, 2000]],  # node 3 unreachable in time
        horizon=2000,
        drop_penalties=[None, None, None, None, 10],  # node 4 optional and not worth the trip
    )
    assert screen_visits(p) == {2: "capacity", 3: "time_window"}
    res = solve(engine, p)
    assert res.status == "partial"
    assert set(res.dropped) == {2, 3, 4}
    assert res.drop_reasons == {2: "capacity", 3: "time_window", 4: "penalty"}
    assert res.routes[0] == (1,)
    assert res.objective == res.cost + 10
    assert_valid(p, res)


def test_hard_instance_returns_partial_plan_not_nothing() -> None:
    # three mandatory visits, room for two: one is dropped ("search"), the rest is planned
    p = problem(LINE4[:4], 1, demands=[[0, 5, 5, 5]], capacities=[[10]])
    res = solve_ortools(p, FAST)
    assert res.status == "partial"
    assert len(res.dropped) == 1 and res.drop_reasons[res.dropped[0]] == "search"
    assert len(res.routes[0]) == 2
    strict = solve_ortools(p, replace(FAST, soft_mandatory=False))
    assert strict.status == "no_solution" and set(strict.dropped) == {1, 2, 3}


def test_no_vehicle_allowed_is_a_reason() -> None:
    p = problem(LINE4[:3], 2, allowed_vehicles=[None, (), None])
    res = solve_ortools(p, FAST)
    assert res.dropped == (1,) and res.drop_reasons[1] == "no_vehicle"


# ---- limits and determinism ---------------------------------------------------------------


def random_cvrp(n: int, seed: int) -> RoutingProblem:
    rng = np.random.default_rng(seed)
    pts = [tuple(x) for x in rng.integers(0, 1000, size=(n, 2))]
    dem = rng.integers(1, 10, size=n)
    dem[0] = 0
    nv = int(dem.sum() // 50) + 3
    return problem(pts, nv, demands=[dem], capacities=[[50] * nv])  # type: ignore[arg-type]


def test_time_limit_honoured() -> None:
    p = random_cvrp(250, 1)
    t0 = time.perf_counter()
    res = solve_ortools(p, SearchParams(time_limit=1.5))
    wall = time.perf_counter() - t0
    assert wall <= 1.5 + 0.5
    assert res.stopped_by == "time"
    assert res.status == "feasible"


def test_same_seed_same_routes_under_solution_limit() -> None:
    p = random_cvrp(40, 2)
    params = SearchParams(time_limit=30, solution_limit=60)
    a, b = solve_ortools(p, params), solve_ortools(p, params)
    assert a.stopped_by == b.stopped_by == "solutions"
    assert a.routes == b.routes and a.cost == b.cost
    c, d = solve_ortools(p, replace(params, seed=7)), solve_ortools(p, replace(params, seed=7))
    assert c.routes == d.routes
    assert_valid(p, c)


def test_pyvrp_same_seed_same_routes_under_iteration_limit() -> None:
    p = random_cvrp(60, 3)
    params = SearchParams(time_limit=30, iteration_limit=500, seed=5)
    a, b = solve_pyvrp(p, params), solve_pyvrp(p, params)
    assert a.stopped_by == "iterations"
    assert a.routes == b.routes
    assert_valid(p, a)


# ---- input validation ----------------------------------------------------------------------


def test_invalid_problem_names_the_field() -> None:
    with pytest.raises(ValueError, match="travel_times"):
        RoutingProblem(arc_costs=np.zeros((3, 3)), travel_times=np.zeros((2, 2)), vehicle_starts=[0], vehicle_ends=[0])
    with pytest.raises(ValueError, match="capacities"):
        problem(LINE4, 2, demands=[[0, 1, 1, 1, 1]], capacities=[[1]])
    with pytest.raises(ValueError, match="arc_costs"):
        RoutingProblem(arc_costs=[[0, 1.5], [1, 0]], travel_times=np.zeros((2, 2)), vehicle_starts=[0], vehicle_ends=[0])
    with pytest.raises(ValueError, match="extra_caps"):
        problem(LINE4, 1, extra_arc_values=np.zeros((5, 5)))


def test_problem_is_immutable() -> None:
    p = problem(LINE4, 1)
    with pytest.raises(ValueError):
        p.arc_costs[0, 1] = 5
