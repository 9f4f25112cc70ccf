"""Optional PyVRP back-end: the quality anchor for plain CVRP / VRPTW.

PyVRP expresses multi-depot, heterogeneous fleets (capacities in several dimensions, fixed
costs, cost factors, shift durations), time windows, service times and optional visits
with a prize (our drop penalty). It has no extra route-level cumulative dimension and no
allowed-vehicles-per-visit rule: :func:`can_use_pyvrp` says when a problem fits.
PyVRP has a real seed; with ``iteration_limit`` the run is reproducible.
"""

from __future__ import annotations

import time

import numpy as np

from allocate.backends.routing_problem import (
    DropReason,
    RoutingProblem,
    RoutingResult,
    SearchParams,
    StoppedBy,
    drop_reason,
    evaluate_routes,
    screen_visits,
)

__all__ = ["can_use_pyvrp", "solve_pyvrp", "pyvrp_available"]


try:  # imported once here, not inside solve: the first import costs ~0.3 s of the time limit
    import pyvrp as _pyvrp
except ImportError:  # pragma: no cover - PyVRP is optional
    _pyvrp = None


def pyvrp_available() -> bool:
    return _pyvrp is not None


def can_use_pyvrp(problem: RoutingProblem) -> bool:
    """True when PyVRP can express ``problem`` exactly (and PyVRP is installed)."""
    p = problem
    if p.extra_arc_values is not None:
        return False
    if p.profiles or p.trip_chains or p.reloads:  # per-vehicle matrices and trip chains: OR-Tools only
        return False
    if p.allowed_vehicles is not None and any(len(p.allowed(x)) < p.num_vehicles for x in p.visits):
        return False
    if any(x in p.depots for x in p.visits):  # pragma: no cover - visits exclude depots by definition
        return False
    return pyvrp_available()


def _vehicle_types(p: RoutingProblem) -> list[tuple[tuple[int, ...], list[int]]]:
    """Group identical vehicles (same key) into PyVRP vehicle types, in first-seen order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    factors, fixed = p.cost_factors(), p.fixed_costs()
    for v in range(p.num_vehicles):
        key = (
            int(p.vehicle_starts[v]),
            int(p.vehicle_ends[v]),
            int(fixed[v]),
            int(factors[v]),
            -1 if p.max_route_duration is None else int(p.max_route_duration[v]),
            *(int(c) for c in p.capacities[:, v]),
        )
        groups.setdefault(key, []).append(v)
    return list(groups.items())


def solve_pyvrp(problem: RoutingProblem, params: SearchParams | None = None) -> RoutingResult:
    """Solve ``problem`` with PyVRP's iterated local search.

    Stops at ``params.time_limit`` (whole call) or, when given, ``params.iteration_limit``
    (reproducible). Raises ``ValueError`` if :func:`can_use_pyvrp` is false.
    """
    import pyvrp
    from pyvrp import stop as pstop

    params = params or SearchParams()
    t0 = time.perf_counter()
    p = problem
    if not can_use_pyvrp(p):
        raise ValueError("solve_pyvrp: problem has an extra dimension or allowed-vehicle rules PyVRP cannot express")
    screened = screen_visits(p)
    h = p.effective_horizon()
    tw = p.windows()
    svc = p.service()
    depots = sorted(p.depots)
    depot_pos = {node: i for i, node in enumerate(depots)}
    clients = [x for x in p.visits if x not in screened]
    locations = depots + clients  # PyVRP location k is node locations[k]
    big = 2**40
    locs = [pyvrp.Location(0, 0, name=str(node)) for node in locations]
    pdepots = [
        pyvrp.Depot(i, tw_early=int(tw[node, 0]), tw_late=int(min(tw[node, 1], h)), service_duration=int(svc[node]))
        for i, node in enumerate(depots)
    ]
    pclients = []
    for k, node in enumerate(clients, start=len(depots)):
        mandatory = p.is_mandatory(node)
        pclients.append(
            pyvrp.Client(
                k,
                delivery=[int(x) for x in p.demands[:, node]],
                service_duration=int(svc[node]),
                tw_early=int(tw[node, 0]),
                tw_late=int(tw[node, 1]),
                required=mandatory,
                prize=0 if mandatory else int(min(p.drop_penalties[node], big)),  # type: ignore[index]
                name=str(node),
            )
        )
    types = _vehicle_types(p)
    ptypes = []
    for key, members in types:
        s, e, fixed, factor, maxdur, *caps = key
        ptypes.append(
            pyvrp.VehicleType(
                num_available=len(members),
                capacity=list(caps),
                start_depot=depot_pos[s],
                end_depot=depot_pos[e],
                fixed_cost=fixed,
                tw_early=int(tw[s, 0]),
                tw_late=int(min(tw[e, 1], h)),
                start_late=int(min(tw[s, 1], h)),
                shift_duration=maxdur if maxdur >= 0 else np.iinfo(np.int64).max,
                unit_distance_cost=factor,
            )
        )
    ix = np.ix_(locations, locations)
    dist = np.ascontiguousarray(p.arc_costs[ix], dtype=np.int64)
    dur = np.ascontiguousarray(p.travel_times[ix], dtype=np.int64)
    data = pyvrp.ProblemData(locs, pclients, pdepots, ptypes, [dist], [dur])

    runtime = max(0.01, params.time_limit - (time.perf_counter() - t0) - 0.05)
    stop: object = pstop.MaxRuntime(runtime)
    if params.iteration_limit is not None:
        stop = pstop.MultipleCriteria([pstop.MaxIterations(int(params.iteration_limit)), stop])
    solve_params = pyvrp.SolveParams()
    if params.acceptance_history is not None:
        solve_params = pyvrp.SolveParams(
            ils=pyvrp.IteratedLocalSearchParams(history_length=int(params.acceptance_history)))
    try:
        res = pyvrp.solve(data, stop, seed=int(params.seed) % (2**32), collect_stats=False, display=params.log,
                          params=solve_params)
    except Exception as exc:  # engine errors become a status
        return _no_solution(p, params, t0, screened, f"PyVRP error: {exc}")
    if not res.is_feasible():
        return _no_solution(p, params, t0, screened, "PyVRP found no feasible solution")

    routes: list[list[int]] = [[] for _ in range(p.num_vehicles)]
    arrivals: list[list[int]] = [[] for _ in range(p.num_vehicles)]
    st = [int(tw[int(p.vehicle_starts[v]), 0]) for v in range(p.num_vehicles)]
    et = list(st)
    free = [list(members) for _, members in types]
    # deterministic vehicle assignment: routes in PyVRP's order, vehicles ascending per type
    for route in res.best.routes():
        v = free[route.vehicle_type()].pop(0)
        for act in route.schedule():
            if act.is_client():
                node = clients[act.idx]
                routes[v].append(node)
                arrivals[v].append(int(act.start_time))
        st[v] = int(route.start_time())
        et[v] = int(route.end_time())
    served = {x for r in routes for x in r}
    dropped = tuple(x for x in p.visits if x not in served)
    reasons: dict[int, DropReason] = {x: drop_reason(p, x, screened) for x in dropped}
    metrics = evaluate_routes(p, routes)
    penalty = sum(int(p.drop_penalties[x]) for x in dropped if not p.is_mandatory(x))  # type: ignore[index]
    stopped: StoppedBy = "time"
    if params.iteration_limit is not None and res.num_iterations >= params.iteration_limit:
        stopped = "iterations"
    return RoutingResult(
        routes=tuple(tuple(r) for r in routes),
        arrivals=tuple(tuple(a) for a in arrivals),
        start_times=tuple(st),
        end_times=tuple(et),
        cost=metrics.cost,
        objective=metrics.cost + penalty,
        dropped=dropped,
        drop_reasons=reasons,
        status="partial" if any(p.is_mandatory(x) for x in dropped) else "feasible",
        stopped_by=stopped,
        seconds=time.perf_counter() - t0,
        backend="pyvrp",
        seed=params.seed,
        time_limit=params.time_limit,
        message="; ".join(metrics.violations),
    )


def _no_solution(
    p: RoutingProblem, params: SearchParams, t0: float, screened: dict[int, DropReason], message: str
) -> RoutingResult:
    nv = p.num_vehicles
    return RoutingResult(
        routes=tuple(() for _ in range(nv)),
        arrivals=tuple(() for _ in range(nv)),
        start_times=tuple(0 for _ in range(nv)),
        end_times=tuple(0 for _ in range(nv)),
        cost=0,
        objective=0,
        dropped=p.visits,
        drop_reasons={x: drop_reason(p, x, screened) for x in p.visits},
        status="no_solution",
        stopped_by="none",
        seconds=time.perf_counter() - t0,
        backend="pyvrp",
        seed=params.seed,
        time_limit=params.time_limit,
        message=message,
    )
