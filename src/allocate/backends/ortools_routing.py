"""OR-Tools routing adapter: the only module of allocate that imports ``pywrapcp``.

Upstream is renaming the routing API, so every use of it lives here, behind the
engine-neutral types of :mod:`allocate.backends.routing_problem`.

Design choices against known user pains (OR-Tools #2361, #1331, #2212):

* transit values are registered as matrices/vectors (no Python callbacks in the search);
* mandatory visits get a large drop penalty (``SearchParams.soft_mandatory``), so a hard or
  infeasible instance returns a plan plus the dropped visits and a reason, not nothing;
* visits that provably cannot be served (screened upfront) are forced inactive;
* the time limit covers model build + search; the search gets what is left;
* OR-Tools has no seed: the search is single-threaded and deterministic for a given model, so
  a solution limit makes results reproducible; a non-zero seed permutes the internal node
  order (reproducibly) to explore a different search path.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from allocate.backends.routing_problem import (
    DropReason,
    RoutingProblem,
    RoutingResult,
    SearchParams,
    StoppedBy,
    drop_reason,
    evaluate_routes,
    forward_schedule,
    screen_visits,
)

__all__ = [
    "RoutingProblem",
    "RoutingResult",
    "SearchParams",
    "solve_ortools",
    "node_order",
    "FIRST_SOLUTION_STRATEGIES",
    "METAHEURISTICS",
]

FIRST_SOLUTION_STRATEGIES: tuple[str, ...] = tuple(
    k for k in routing_enums_pb2.FirstSolutionStrategy.Value.keys() if k not in ("UNSET",)
)
METAHEURISTICS: tuple[str, ...] = tuple(
    k for k in routing_enums_pb2.LocalSearchMetaheuristic.Value.keys() if k not in ("UNSET",)
)

_HEAVY_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_relocate_expensive_chain",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_swap_active_chain",
)
_MAX_PENALTY = 2**50  # n * penalty must stay far below 2**63
_MARGIN_S = 0.05  # time kept back for reading the solution out


def node_order(n: int, seed: int) -> np.ndarray:
    """Internal node order for a seed: identity for 0, a fixed permutation otherwise."""
    if seed == 0:
        return np.arange(n)
    return np.random.default_rng(seed).permutation(n)


def _has_windows(p: RoutingProblem) -> bool:
    if p.time_windows is None:
        return False
    tw = p.windows()
    h = p.effective_horizon()
    visits = list(p.visits)
    return bool(np.any(tw[visits, 0] > 0) or np.any(tw[visits, 1] < h))


def _first_solution(p: RoutingProblem, name: str) -> int:
    if name == "auto":
        # measured on CVRPLIB X at 10 s: SAVINGS wins by ~0.5 % on X-n101/X-n200 but loses
        # ~6 % on X-n303; PATH_CHEAPEST_ARC fails on tight windows (Solomon R101), where
        # PARALLEL_CHEAPEST_INSERTION works
        name = "PARALLEL_CHEAPEST_INSERTION" if _has_windows(p) or p.extra_arc_values is not None else "PATH_CHEAPEST_ARC"
    if name not in FIRST_SOLUTION_STRATEGIES:
        raise ValueError(f"first_solution: unknown strategy {name!r}; one of {FIRST_SOLUTION_STRATEGIES}")
    return routing_enums_pb2.FirstSolutionStrategy.Value.Value(name)


def _big_penalty(p: RoutingProblem) -> int:
    """A drop penalty larger than the cost of any complete plan (so dropping is a last resort)."""
    maxarc = max(int(m.max()) for m in (p.arc_costs, *(mp.arc_costs for mp in p.profiles)))
    bound = (p.num_nodes + p.num_vehicles) * maxarc * int(p.cost_factors().max()) + int(p.fixed_costs().sum())
    if p.drop_penalties is not None:
        bound += sum(x for x in p.drop_penalties if x is not None)
    return int(min(_MAX_PENALTY, max(1, bound) * 2 + 1))


def _search_parameters(p: RoutingProblem, params: SearchParams, seconds: float) -> object:
    sp = pywrapcp.DefaultRoutingSearchParameters()
    sp.first_solution_strategy = _first_solution(p, params.first_solution)
    if params.metaheuristic not in METAHEURISTICS:
        raise ValueError(f"metaheuristic: unknown {params.metaheuristic!r}; one of {METAHEURISTICS}")
    sp.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.Value.Value(params.metaheuristic)
    sp.guided_local_search_lambda_coefficient = params.gls_lambda
    sp.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    sp.lns_time_limit.FromMilliseconds(max(1, int(params.lns_time_limit * 1000)))
    if params.solution_limit is not None:
        sp.solution_limit = int(params.solution_limit)
    if params.neighbors_ratio is not None:
        sp.ls_operator_neighbors_ratio = params.neighbors_ratio
        sp.ls_operator_min_neighbors = params.min_neighbors
    if params.lean_operators:
        # the insertion-based LNS and chain operators added in recent OR-Tools versions are
        # costly per move; on plain, all-mandatory problems GLS gets further without them
        off = optional_boolean_pb2.BOOL_FALSE
        ops = sp.local_search_operators
        for name in _HEAVY_OPERATORS:
            setattr(ops, name, off)
    if params.extra_lns:
        ops = sp.local_search_operators
        on = optional_boolean_pb2.BOOL_TRUE
        ops.use_path_lns = on
        ops.use_inactive_lns = on
        ops.use_relocate_neighbors = on
        ops.use_cross_exchange = on
    sp.log_search = params.log
    return sp


def _add_time_dimension(routing, manager, p: RoutingProblem, profile: list[int], ix, pos, screened) -> object:  # type: ignore[no-untyped-def]
    """The ``time`` dimension: windows, horizon, route duration caps and trip chains."""
    h = p.effective_horizon()
    tw = p.windows()
    svc = p.service()
    nv = p.num_vehicles
    time_cb: dict[int, int] = {}  # one transit matrix per profile
    for pf in sorted(set(profile)):
        transit = (p.times_of(profile.index(pf)) + svc[:, None])[ix]
        time_cb[pf] = routing.RegisterTransitMatrix(transit.tolist())
    if len(time_cb) == 1:
        routing.AddDimension(time_cb[profile[0]], h, h, False, "time")
    else:
        routing.AddDimensionWithVehicleTransits([time_cb[profile[v]] for v in range(nv)], h, h, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    # trip chains: successive trips of one physical vehicle do not overlap in time
    for later, earlier in p.previous_trip().items():
        routing.solver().Add(time_dim.CumulVar(routing.End(earlier)) <= time_dim.CumulVar(routing.Start(later)))
    for node in p.visits:
        if node in screened:
            continue
        time_dim.CumulVar(manager.NodeToIndex(int(pos[node]))).SetRange(int(tw[node, 0]), int(tw[node, 1]))
    for v in range(nv):
        s, e = int(p.vehicle_starts[v]), int(p.vehicle_ends[v])
        time_dim.CumulVar(routing.Start(v)).SetRange(int(tw[s, 0]), int(min(tw[s, 1], h)))
        time_dim.CumulVar(routing.End(v)).SetRange(int(tw[e, 0]), int(min(tw[e, 1], h)))
        if p.max_route_duration is not None:
            time_dim.SetSpanUpperBoundForVehicle(int(p.max_route_duration[v]), v)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
    return time_dim


def solve_ortools(problem: RoutingProblem, params: SearchParams | None = None) -> RoutingResult:
    """Solve ``problem`` with OR-Tools routing; never raises on a hard or infeasible instance.

    Returns a :class:`RoutingResult` whose ``status`` is ``feasible`` (every mandatory visit
    served), ``partial`` (some dropped, each with a reason) or ``no_solution``.
    """
    params = params or SearchParams()
    t0 = time.perf_counter()
    p = problem
    n, nv = p.num_nodes, p.num_vehicles
    screened = screen_visits(p)
    order = node_order(n, params.seed)  # internal index k is node order[k]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    starts = [int(pos[x]) for x in p.vehicle_starts]
    ends = [int(pos[x]) for x in p.vehicle_ends]
    manager = pywrapcp.RoutingIndexManager(n, nv, starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    ix = np.ix_(order, order)

    # arc costs, per distinct (matrix profile, vehicle factor)
    factors = p.cost_factors()
    profile = [0] * nv if p.vehicle_profile is None else [int(x) for x in p.vehicle_profile]
    for pf, f in sorted({(profile[v], int(factors[v])) for v in range(nv)}):
        arc = p.arcs_of(profile.index(pf))[ix]
        cb = routing.RegisterTransitMatrix((arc * f).tolist())
        for v in range(nv):
            if profile[v] == pf and int(factors[v]) == f:
                routing.SetArcCostEvaluatorOfVehicle(cb, v)
    fixed = p.fixed_costs()
    for v in range(nv):
        if fixed[v]:
            routing.SetFixedCostOfVehicle(int(fixed[v]), v)

    depots = p.depots
    reloads = p.reloads
    # capacities (a reload node of vehicle v unloads up to v's capacity: its demand is minus that
    # capacity and a slack there, the only slack allowed, brings the load back to zero)
    reset_dims = []
    for d in range(p.num_dimensions):
        dem = p.demands[d].copy()
        for x in depots:
            dem[x] = 0
        for x, v in reloads.items():
            dem[x] = -int(p.capacities[d, v])
        cb = routing.RegisterUnaryTransitVector(dem[order].tolist())
        slack = int(p.capacities[d].max()) if reloads else 0
        routing.AddDimensionWithVehicleCapacity(cb, slack, [int(c) for c in p.capacities[d]], True, p.capacity_names[d])
        reset_dims.append(routing.GetDimensionOrDie(p.capacity_names[d]))

    # time: transit(i, j) = service(i) + travel(i, j); waiting allowed up to the horizon.
    # A plain CVRP (no windows, horizon, duration cap or trip chain) gets no time dimension:
    # it would only slow the search down; times are then read by a forward pass.
    h = p.effective_horizon()
    tw = p.windows()
    svc = p.service()
    timed = (
        p.time_windows is not None or p.horizon is not None or p.max_route_duration is not None or bool(p.trip_chains)
    )
    time_dim = _add_time_dimension(routing, manager, p, profile, ix, pos, screened) if timed else None

    # extra cumulative dimension (route risk)
    if p.extra_arc_values is not None and p.extra_caps is not None:
        extra_cb = {}
        for pf in sorted(set(profile)):
            ex = p.extra_of(profile.index(pf)).copy()  # type: ignore[union-attr]
            for x, v in reloads.items():  # leaving a reload node restarts the trip's extra total
                ex[x, :] -= int(p.extra_caps[v])
            extra_cb[pf] = routing.RegisterTransitMatrix(ex[ix].tolist())
        slack = int(p.extra_caps.max()) if reloads else 0
        routing.AddDimensionWithVehicleTransitAndCapacity(
            [extra_cb[profile[v]] for v in range(nv)], slack, [int(c) for c in p.extra_caps], True, p.extra_name
        )
        reset_dims.append(routing.GetDimensionOrDie(p.extra_name))
    if reloads:
        # reload nodes: optional (free to skip), only their vehicle; slack only at them
        for x, v in reloads.items():
            index = manager.NodeToIndex(int(pos[x]))
            routing.VehicleVar(index).RemoveValues([u for u in range(nv) if u != v])
            routing.AddDisjunction([index], 0)
        for index in range(routing.Size()):
            if routing.IsStart(index) or int(order[manager.IndexToNode(index)]) not in reloads:
                for dim in reset_dims:
                    dim.SlackVar(index).SetValue(0)
        if p.extra_arc_values is not None and p.extra_caps is not None:
            # the extra value of the arc leaving a reload node belongs to the next trip: the
            # slack there may only top the ended trip up to the cap, never absorb that arc
            extra_dim = routing.GetDimensionOrDie(p.extra_name)
            for x, v in reloads.items():
                index = manager.NodeToIndex(int(pos[x]))
                routing.solver().Add(extra_dim.CumulVar(index) + extra_dim.SlackVar(index) == int(p.extra_caps[v]))

    # allowed vehicles, disjunctions, screened visits
    big = _big_penalty(p)
    for node in p.visits:
        index = manager.NodeToIndex(int(pos[node]))
        allowed = p.allowed(node)
        if allowed and len(allowed) < nv:
            # SetAllowedVehiclesForIndex takes an absl::Span the 9.15 Python wrapper cannot
            # build; removing values from the visit's vehicle variable is equivalent.
            ok = set(allowed)
            routing.VehicleVar(index).RemoveValues([v for v in range(nv) if v not in ok])
        if p.is_mandatory(node):
            if params.soft_mandatory:
                routing.AddDisjunction([index], big)
        else:
            routing.AddDisjunction([index], int(p.drop_penalties[node]))  # type: ignore[index]
        if node in screened:
            if not params.soft_mandatory and p.is_mandatory(node):
                return _empty(p, params, t0, screened, "no_solution", f"node {node}: {screened[node]}")
            routing.ActiveVar(index).SetValue(0)

    count = [0]
    routing.AddAtSolutionCallback(lambda: count.__setitem__(0, count[0] + 1))
    remaining = params.time_limit - (time.perf_counter() - t0) - _MARGIN_S
    search_seconds = max(0.01, remaining)
    sp = _search_parameters(p, params, search_seconds)
    ts = time.perf_counter()
    try:
        initial = None
        if params.initial_routes is not None and len(params.initial_routes) == nv:
            routing.CloseModelWithParameters(sp)
            internal = [[manager.NodeToIndex(int(pos[x])) for x in r] for r in params.initial_routes]
            initial = routing.ReadAssignmentFromRoutes(internal, True)
        if initial is not None:
            solution = routing.SolveFromAssignmentWithParameters(initial, sp)
        else:
            solution = routing.SolveWithParameters(sp)
    except Exception as exc:  # engine errors become a status, never a traceback
        return _empty(p, params, t0, screened, "no_solution", f"OR-Tools error: {exc}")
    searched = time.perf_counter() - ts
    if solution is None:
        return _empty(p, params, t0, screened, "no_solution", f"OR-Tools status {routing.status()}")

    routes: list[tuple[int, ...]] = []
    arrivals: list[tuple[int, ...]] = []
    st, et = [], []
    for v in range(nv):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        stops, arr = [], []
        while not routing.IsEnd(index):
            stops.append(int(order[manager.IndexToNode(index)]))
            if time_dim is not None:
                arr.append(int(solution.Min(time_dim.CumulVar(index))))
            index = solution.Value(routing.NextVar(index))
        routes.append(tuple(stops))
        if time_dim is not None:
            arrivals.append(tuple(arr))
            st.append(int(solution.Value(time_dim.CumulVar(routing.Start(v)))))
            et.append(int(solution.Value(time_dim.CumulVar(routing.End(v)))))
        else:
            start, times, end = forward_schedule(p, v, stops)
            arrivals.append(times)
            st.append(start)
            et.append(end)
    served = {x for r in routes for x in r}
    dropped = tuple(x for x in p.visits if x not in served)
    reasons: dict[int, DropReason] = {x: drop_reason(p, x, screened) for x in dropped}
    metrics = evaluate_routes(p, routes)
    optional_penalty = sum(int(p.drop_penalties[x]) for x in dropped if not p.is_mandatory(x))  # type: ignore[index]
    status = "partial" if any(p.is_mandatory(x) for x in dropped) else "feasible"
    stopped: StoppedBy
    if params.solution_limit is not None and count[0] >= params.solution_limit:
        stopped = "solutions"
    elif searched >= 0.95 * search_seconds:
        stopped = "time"
    else:
        stopped = "local_optimum"
    return RoutingResult(
        routes=tuple(routes),
        arrivals=tuple(arrivals),
        start_times=tuple(st),
        end_times=tuple(et),
        cost=metrics.cost,
        objective=metrics.cost + optional_penalty,
        dropped=dropped,
        drop_reasons=reasons,
        status=status,
        stopped_by=stopped,
        seconds=time.perf_counter() - t0,
        backend="ortools",
        seed=params.seed,
        time_limit=params.time_limit,
        message="; ".join(metrics.violations),
    )


def _empty(
    p: RoutingProblem, params: SearchParams, t0: float, screened: dict[int, DropReason], status: str, message: str
) -> RoutingResult:
    """A result with no routes: every visit dropped, with the best reason known."""
    dropped = p.visits
    return RoutingResult(
        routes=tuple(() for _ in range(p.num_vehicles)),
        arrivals=tuple(() for _ in range(p.num_vehicles)),
        start_times=tuple(0 for _ in range(p.num_vehicles)),
        end_times=tuple(0 for _ in range(p.num_vehicles)),
        cost=0,
        objective=0,
        dropped=dropped,
        drop_reasons={x: drop_reason(p, x, screened) for x in dropped},
        status=status,  # type: ignore[arg-type]
        stopped_by="none",
        seconds=time.perf_counter() - t0,
        backend="ortools",
        seed=params.seed,
        time_limit=params.time_limit,
        message=message,
    )
