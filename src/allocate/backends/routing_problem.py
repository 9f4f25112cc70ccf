"""Solver-agnostic routing problem, search parameters and result.

These types are what the scenario-level router builds and reads; the engine adapters
(`ortools_routing`, `pyvrp_routing`) translate them. Everything is integer (costs, times,
loads, risk) because both engines work on integers: callers scale before building.

Nodes are numbered ``0..n-1``. A node that is the start or end of some vehicle is a
*depot*: it is never visited as a stop and its time window bounds the vehicles' start and
end times. Every other node is a *visit* that must be served once, unless it has a drop
penalty (then the solver may skip it and pay the penalty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

Status = Literal["feasible", "partial", "no_solution", "invalid"]
"""``feasible``: every mandatory visit served; ``partial``: a solution that drops at least one
mandatory visit (see ``RoutingResult.drop_reasons``); ``no_solution``: the engine found none;
``invalid``: the problem cannot be handed to this engine."""

StoppedBy = Literal["time", "solutions", "iterations", "local_optimum", "none"]
"""Which limit ended the search: wall clock (``time``, not reproducible run to run), a
deterministic work limit (``solutions`` for OR-Tools, ``iterations`` for PyVRP), or the
search ended on its own (``local_optimum``; ``none`` when no search ran)."""

DropReason = Literal["no_vehicle", "capacity", "time_window", "extra_cap", "penalty", "search"]
"""Why a visit is not served. The first four are proven by a one-visit check (no allowed
vehicle; demand above every allowed vehicle's capacity; window unreachable within the
horizon even on a direct out-and-back trip; out-and-back extra value above every cap).
``penalty``: an optional visit the solver chose to skip; ``search``: a mandatory visit the
search could not fit (it may still be servable: the instance is hard or the limit short)."""


def _int_array(value: object, name: str, ndim: int) -> IntArray:
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim == ndim:
        # already integers (finite by construction): skip the float round trip, which costs
        # seconds on the scenario router's matrices of a thousand nodes and more
        out = value.astype(np.int64, copy=True)
        out.setflags(write=False)
        return out
    arr = np.array(value, dtype=np.float64 if ndim else None)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: values must be finite")
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name}: values must be integers (scale them first)")
    out = arr.astype(np.int64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class MatrixProfile:
    """One vehicle profile's matrices (see ``RoutingProblem.vehicle_profile``)."""

    arc_costs: IntArray
    travel_times: IntArray
    extra_arc_values: IntArray | None = None


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """A rich VRP: multi-depot, heterogeneous fleet, several capacities, time windows.

    Parameters
    ----------
    arc_costs : (n, n) int
        Cost of driving from node i to node j (e.g. km mixed with risk, scaled).
    travel_times : (n, n) int
        Driving time from i to j (same unit as windows, service times, horizon).
    vehicle_starts, vehicle_ends : (V,) int
        Start and end node of each vehicle (multi-depot; start may differ from end).
    demands : (D, n) int
        Demand of each node in each capacity dimension (e.g. weight and volume). Depot rows
        are ignored.
    capacities : (D, V) int
        Capacity of each vehicle in each dimension.
    capacity_names : D names, e.g. ``("weight", "volume")``.
    vehicle_fixed_costs : (V,) int, optional
        Paid once if the vehicle leaves its depot.
    vehicle_cost_factors : (V,) int, optional
        Integer multiplier of ``arc_costs`` per vehicle (default 1: heterogeneous cost/km).
    time_windows : (n, 2) int, optional
        ``[open, close]`` of the service start at each visit; at a depot, the window in which
        vehicles leave and return. Default ``[0, horizon]``.
    service_times : (n,) int, optional
        Time spent at each visit, added before leaving it.
    horizon : int, optional
        Every vehicle must be back by then. Default: the largest window close, or a bound on
        any route's length when there are no windows.
    max_route_duration : (V,) int, optional
        Longest time from leaving to returning, per vehicle.
    extra_arc_values, extra_caps : (n, n) int and (V,) int, optional
        An extra cumulative dimension, e.g. route risk ``-ln(1 - r)`` scaled: its sum along
        a route must stay within the vehicle's cap.
    extra_name : name of the extra dimension (for messages).
    allowed_vehicles : n entries, optional
        ``None`` for all vehicles, else the vehicles that may serve the node.
    drop_penalties : n entries, optional
        ``None`` for a mandatory visit, else the penalty paid when the node is skipped.
    vehicle_profile, profiles : (V,) int and tuple of :class:`MatrixProfile`, optional
        Per-vehicle matrices (added for the scenario router: vehicles of different weight
        classes drive different roads, hence different times, costs and risks). Vehicle ``v``
        uses the base ``arc_costs``/``travel_times``/``extra_arc_values`` when
        ``vehicle_profile[v] == 0``, else ``profiles[vehicle_profile[v] - 1]``.
    trip_chains : tuple of vehicle-index tuples, optional
        Multi-trip: the vehicles of one chain are successive trips of one physical vehicle,
        so each (that has a route) returns before the next one leaves:
        ``end(chain[k]) <= start(chain[k + 1])``. Indices ascend within a chain.
    reload_vehicle : n entries, optional
        Multi-trip by reload nodes (cheaper to search than chains): ``reload_vehicle[i] = v``
        makes node ``i`` an optional return of vehicle ``v`` to its depot between two trips
        (give it the depot's matrix rows and columns). Only ``v`` may visit it, skipping it
        costs nothing, and every capacity dimension and the extra dimension restart from zero
        there, so each trip between reloads respects the capacities and the extra cap. Reload
        nodes are neither depots nor visits (never reported dropped).
    """

    arc_costs: IntArray
    travel_times: IntArray
    vehicle_starts: IntArray
    vehicle_ends: IntArray
    demands: IntArray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    capacities: IntArray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    capacity_names: tuple[str, ...] = ()
    vehicle_fixed_costs: IntArray | None = None
    vehicle_cost_factors: IntArray | None = None
    time_windows: IntArray | None = None
    service_times: IntArray | None = None
    horizon: int | None = None
    max_route_duration: IntArray | None = None
    extra_arc_values: IntArray | None = None
    extra_caps: IntArray | None = None
    extra_name: str = "risk"
    allowed_vehicles: tuple[tuple[int, ...] | None, ...] | None = None
    drop_penalties: tuple[int | None, ...] | None = None
    vehicle_profile: IntArray | None = None
    profiles: tuple["MatrixProfile", ...] = ()
    trip_chains: tuple[tuple[int, ...], ...] | None = None
    reload_vehicle: tuple[int | None, ...] | None = None

    def __post_init__(self) -> None:  # noqa: C901 - one check per field, in order
        s = object.__setattr__
        arc = _int_array(self.arc_costs, "arc_costs", 2)
        n = arc.shape[0]
        if arc.shape != (n, n) or n == 0:
            raise ValueError(f"arc_costs: expected a non-empty square matrix, got {arc.shape}")
        s(self, "arc_costs", arc)
        tt = _int_array(self.travel_times, "travel_times", 2)
        if tt.shape != (n, n):
            raise ValueError(f"travel_times: expected shape {(n, n)}, got {tt.shape}")
        s(self, "travel_times", tt)
        starts = _int_array(self.vehicle_starts, "vehicle_starts", 1)
        ends = _int_array(self.vehicle_ends, "vehicle_ends", 1)
        v = starts.shape[0]
        if v == 0 or ends.shape != (v,):
            raise ValueError("vehicle_starts and vehicle_ends: need one entry per vehicle (>= 1)")
        for name, arr in (("vehicle_starts", starts), ("vehicle_ends", ends)):
            if np.any(arr < 0) or np.any(arr >= n):
                raise ValueError(f"{name}: node index out of range 0..{n - 1}")
        s(self, "vehicle_starts", starts)
        s(self, "vehicle_ends", ends)
        dem = np.asarray(self.demands)
        if dem.size == 0:
            dem = np.zeros((0, n))
        dem = _int_array(dem, "demands", 2)
        d = dem.shape[0]
        if dem.shape != (d, n):
            raise ValueError(f"demands: expected shape (D, {n}), got {dem.shape}")
        cap = np.asarray(self.capacities)
        if cap.size == 0:
            cap = np.zeros((d, v)) if d == 0 else cap
        cap = _int_array(cap, "capacities", 2)
        if cap.shape != (d, v):
            raise ValueError(f"capacities: expected shape {(d, v)}, got {cap.shape}")
        s(self, "demands", dem)
        s(self, "capacities", cap)
        names = tuple(self.capacity_names) or tuple(f"load{i}" for i in range(d))
        if len(names) != d:
            raise ValueError(f"capacity_names: expected {d} names, got {len(names)}")
        s(self, "capacity_names", names)
        for name in ("vehicle_fixed_costs", "vehicle_cost_factors", "max_route_duration", "extra_caps"):
            val = getattr(self, name)
            if val is not None:
                arr = _int_array(val, name, 1)
                if arr.shape != (v,):
                    raise ValueError(f"{name}: expected {v} entries (one per vehicle), got {arr.shape}")
                s(self, name, arr)
        if self.service_times is not None:
            st = _int_array(self.service_times, "service_times", 1)
            if st.shape != (n,):
                raise ValueError(f"service_times: expected {n} entries, got {st.shape}")
            s(self, "service_times", st)
        if self.time_windows is not None:
            tw = _int_array(self.time_windows, "time_windows", 2)
            if tw.shape != (n, 2):
                raise ValueError(f"time_windows: expected shape {(n, 2)}, got {tw.shape}")
            s(self, "time_windows", tw)
        if self.extra_arc_values is not None:
            ex = _int_array(self.extra_arc_values, "extra_arc_values", 2)
            if ex.shape != (n, n):
                raise ValueError(f"extra_arc_values: expected shape {(n, n)}, got {ex.shape}")
            if self.extra_caps is None:
                raise ValueError("extra_caps: required when extra_arc_values is given")
            s(self, "extra_arc_values", ex)
        elif self.extra_caps is not None:
            raise ValueError("extra_caps: given without extra_arc_values")
        if self.allowed_vehicles is not None:
            if len(self.allowed_vehicles) != n:
                raise ValueError(f"allowed_vehicles: expected {n} entries, got {len(self.allowed_vehicles)}")
            av = tuple(None if a is None else tuple(sorted({int(x) for x in a})) for a in self.allowed_vehicles)
            for node, a in enumerate(av):
                if a is not None and any(x < 0 or x >= v for x in a):
                    raise ValueError(f"allowed_vehicles[{node}]: vehicle index out of range 0..{v - 1}")
            s(self, "allowed_vehicles", av)
        if self.drop_penalties is not None:
            if len(self.drop_penalties) != n:
                raise ValueError(f"drop_penalties: expected {n} entries, got {len(self.drop_penalties)}")
            s(self, "drop_penalties", tuple(None if p is None else int(p) for p in self.drop_penalties))
        for name in ("arc_costs", "travel_times", "demands", "capacities", "vehicle_fixed_costs",
                     "vehicle_cost_factors", "service_times", "max_route_duration", "extra_arc_values",
                     "extra_caps"):
            val = getattr(self, name)
            if val is not None and np.any(val < 0):
                raise ValueError(f"{name}: values must be >= 0")
        if self.drop_penalties is not None and any(p is not None and p < 0 for p in self.drop_penalties):
            raise ValueError("drop_penalties: values must be >= 0")
        self._check_profiles_and_chains(n, v)
        if self.horizon is not None:
            if int(self.horizon) < 0:
                raise ValueError("horizon: must be >= 0")
            s(self, "horizon", int(self.horizon))

    # ---- derived views -------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return int(self.arc_costs.shape[0])

    @property
    def num_vehicles(self) -> int:
        return int(self.vehicle_starts.shape[0])

    @property
    def num_dimensions(self) -> int:
        return int(self.demands.shape[0])

    @property
    def depots(self) -> frozenset[int]:
        """Nodes that start or end some vehicle's route (never visited as stops)."""
        return frozenset(int(x) for x in self.vehicle_starts) | frozenset(int(x) for x in self.vehicle_ends)

    @property
    def visits(self) -> tuple[int, ...]:
        """Nodes to serve (every non-depot node), ascending."""
        deps = self.depots
        reloads = self.reloads
        return tuple(i for i in range(self.num_nodes) if i not in deps and i not in reloads)

    @property
    def reloads(self) -> dict[int, int]:
        """``{reload node: its vehicle}`` (see ``reload_vehicle``)."""
        if self.reload_vehicle is None:
            return {}
        return {i: x for i, x in enumerate(self.reload_vehicle) if x is not None}

    def service(self) -> IntArray:
        """Service time per node (zeros when not given)."""
        if self.service_times is None:
            return np.zeros(self.num_nodes, dtype=np.int64)
        return self.service_times

    def cost_factors(self) -> IntArray:
        if self.vehicle_cost_factors is None:
            return np.ones(self.num_vehicles, dtype=np.int64)
        return self.vehicle_cost_factors

    def fixed_costs(self) -> IntArray:
        if self.vehicle_fixed_costs is None:
            return np.zeros(self.num_vehicles, dtype=np.int64)
        return self.vehicle_fixed_costs

    def effective_horizon(self) -> int:
        """The horizon, or a safe bound when none is given (no route can take longer)."""
        if self.horizon is not None:
            return self.horizon
        if self.time_windows is not None:
            return int(self.time_windows[:, 1].max())
        bound = int(self.travel_times.max(axis=1).sum() + self.service().sum())
        return max(bound, 1)

    def windows(self) -> IntArray:
        """Time windows clipped to ``[0, horizon]`` (default: the whole horizon)."""
        h = self.effective_horizon()
        if self.time_windows is None:
            tw = np.zeros((self.num_nodes, 2), dtype=np.int64)
            tw[:, 1] = h
            return tw
        return np.clip(self.time_windows, 0, h)

    # ---- per-vehicle matrices and trip chains (scenario router) ----------------------
    def _check_profiles_and_chains(self, n: int, v: int) -> None:
        s = object.__setattr__
        if self.vehicle_profile is not None:
            prof = _int_array(self.vehicle_profile, "vehicle_profile", 1)
            if prof.shape != (v,):
                raise ValueError(f"vehicle_profile: expected {v} entries, got {prof.shape}")
            if np.any(prof < 0) or np.any(prof > len(self.profiles)):
                raise ValueError(f"vehicle_profile: values must lie in 0..{len(self.profiles)}")
            s(self, "vehicle_profile", prof)
        elif self.profiles:
            raise ValueError("profiles: given without vehicle_profile")
        checked = []
        for k, mp in enumerate(self.profiles):
            arc = _int_array(mp.arc_costs, f"profiles[{k}].arc_costs", 2)
            tt = _int_array(mp.travel_times, f"profiles[{k}].travel_times", 2)
            ex = None if mp.extra_arc_values is None else _int_array(mp.extra_arc_values, f"profiles[{k}].extra", 2)
            for name, arr in (("arc_costs", arc), ("travel_times", tt), ("extra_arc_values", ex)):
                if arr is not None and (arr.shape != (n, n) or np.any(arr < 0)):
                    raise ValueError(f"profiles[{k}].{name}: expected a ({n}, {n}) matrix of values >= 0")
            if (ex is None) != (self.extra_arc_values is None):
                raise ValueError(f"profiles[{k}].extra_arc_values: given iff the base extra_arc_values is")
            checked.append(MatrixProfile(arc, tt, ex))
        s(self, "profiles", tuple(checked))
        if self.reload_vehicle is not None:
            if len(self.reload_vehicle) != n:
                raise ValueError(f"reload_vehicle: expected {n} entries, got {len(self.reload_vehicle)}")
            rv = tuple(None if x is None else int(x) for x in self.reload_vehicle)
            ends = {int(x) for x in self.vehicle_starts} | {int(x) for x in self.vehicle_ends}
            for node, x in enumerate(rv):
                if x is not None and (x < 0 or x >= v or node in ends):
                    raise ValueError(f"reload_vehicle[{node}]: a vehicle index 0..{v - 1} on a non-depot node")
            s(self, "reload_vehicle", rv)
        if self.trip_chains is not None:
            seen: set[int] = set()
            chains = tuple(tuple(int(x) for x in c) for c in self.trip_chains)
            for c in chains:
                if any(x < 0 or x >= v for x in c) or list(c) != sorted(set(c)) or seen & set(c):
                    raise ValueError(f"trip_chains: {c}: distinct ascending vehicle indices in one chain only")
                seen |= set(c)
            s(self, "trip_chains", chains)

    def _profile(self, vehicle: int) -> "MatrixProfile | None":
        if self.vehicle_profile is None or int(self.vehicle_profile[vehicle]) == 0:
            return None
        return self.profiles[int(self.vehicle_profile[vehicle]) - 1]

    def arcs_of(self, vehicle: int) -> IntArray:
        """Arc costs vehicle ``vehicle`` pays (its profile's, else the base matrix)."""
        mp = self._profile(vehicle)
        return self.arc_costs if mp is None else mp.arc_costs

    def times_of(self, vehicle: int) -> IntArray:
        """Travel times of vehicle ``vehicle``."""
        mp = self._profile(vehicle)
        return self.travel_times if mp is None else mp.travel_times

    def extra_of(self, vehicle: int) -> IntArray | None:
        """Extra-dimension arc values of vehicle ``vehicle`` (None without the dimension)."""
        mp = self._profile(vehicle)
        return self.extra_arc_values if mp is None else mp.extra_arc_values

    def previous_trip(self) -> dict[int, int]:
        """``{vehicle: the vehicle whose trip must end before it starts}`` from ``trip_chains``."""
        out: dict[int, int] = {}
        for chain in self.trip_chains or ():
            for a, b in zip(chain, chain[1:]):
                out[b] = a
        return out

    def is_mandatory(self, node: int) -> bool:
        return self.drop_penalties is None or self.drop_penalties[node] is None

    def allowed(self, node: int) -> tuple[int, ...]:
        """Vehicles allowed to serve ``node``."""
        if self.reload_vehicle is not None and self.reload_vehicle[node] is not None:
            return (int(self.reload_vehicle[node]),)  # type: ignore[arg-type]
        if self.allowed_vehicles is None or self.allowed_vehicles[node] is None:
            return tuple(range(self.num_vehicles))
        return self.allowed_vehicles[node]  # type: ignore[return-value]


@dataclass(frozen=True)
class SearchParams:
    """How long and how to search. Shared by both engines; each ignores what it lacks.

    ``time_limit`` (seconds) always applies, to the whole call (model build included).
    A deterministic limit (``solution_limit`` for OR-Tools, ``iteration_limit`` for PyVRP)
    makes the result reproducible: same problem, same params, same seed ⇒ same routes, as
    long as the time limit does not cut in first (``RoutingResult.stopped_by`` says which).

    ``seed``: OR-Tools has no seed, so seed ``s != 0`` permutes the engine's internal node
    order with ``numpy.random.default_rng(s)`` (changing tie-breaks, hence the search path,
    reproducibly); seed 0 keeps the natural order. PyVRP gets the seed as is.

    ``first_solution``: an OR-Tools FirstSolutionStrategy name, or ``"auto"``:
    PATH_CHEAPEST_ARC when no visit has a real time window (nor a risk cap), else
    PARALLEL_CHEAPEST_INSERTION (PATH_CHEAPEST_ARC fails on tight windows such as Solomon
    R101). ``lean_operators`` switches off OR-Tools' costlier insertion-LNS and chain
    operators (an experiment knob; not clearly better on CVRPLIB X at 10 s). ``metaheuristic``: a
    LocalSearchMetaheuristic name (``GUIDED_LOCAL_SEARCH`` by default).

    ``soft_mandatory``: give mandatory visits a large drop penalty so that a hard or
    infeasible instance returns a plan with the dropped visits named, instead of nothing.
    """

    time_limit: float = 10.0
    solution_limit: int | None = None
    iteration_limit: int | None = None
    seed: int = 0
    first_solution: str = "auto"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    gls_lambda: float = 0.1
    lns_time_limit: float = 0.1
    neighbors_ratio: float | None = None
    min_neighbors: int = 20
    extra_lns: bool = False
    lean_operators: bool = False
    soft_mandatory: bool = True
    acceptance_history: int | None = 50
    """PyVRP: history length of its late-acceptance criterion (None: PyVRP's own 300). A shorter
    history accepts worse solutions less long, which pays in short runs: at 20 s on CVRPLIB X
    it measured better than 300 (benchmarks/RESULTS.md, "Routing quality")."""
    log: bool = False
    initial_routes: tuple[tuple[int, ...], ...] | None = None
    """A warm start (OR-Tools): one node list per vehicle, as in ``RoutingResult.routes``. Used
    when it satisfies the model (else ignored: the first-solution strategy runs instead)."""

    @property
    def deterministic(self) -> bool:
        return self.solution_limit is not None or self.iteration_limit is not None


@dataclass(frozen=True)
class RouteMetrics:
    """Independent re-evaluation of a set of routes against a problem."""

    cost: int
    route_costs: tuple[int, ...]
    loads: tuple[tuple[int, ...], ...]
    extra: tuple[int, ...]
    violations: tuple[str, ...]


@dataclass(frozen=True)
class RoutingResult:
    """What a routing engine returns.

    ``routes[v]`` lists the nodes vehicle ``v`` visits in order, its start and end depots
    omitted (empty: the vehicle stays home). ``arrivals[v][k]`` is the service start at
    ``routes[v][k]``; ``start_times``/``end_times`` when ``v`` leaves and returns.
    ``cost`` is arc cost (times each vehicle's factor) plus fixed costs; ``objective`` adds
    drop penalties of the optional visits skipped (mandatory visits dropped under
    ``soft_mandatory`` are reported in ``dropped`` and make ``status`` ``partial``).
    """

    routes: tuple[tuple[int, ...], ...]
    arrivals: tuple[tuple[int, ...], ...]
    start_times: tuple[int, ...]
    end_times: tuple[int, ...]
    cost: int
    objective: int
    dropped: tuple[int, ...]
    drop_reasons: dict[int, DropReason]
    status: Status
    stopped_by: StoppedBy
    seconds: float
    backend: str
    seed: int
    time_limit: float
    message: str = ""

    @property
    def num_routes(self) -> int:
        return sum(1 for r in self.routes if r)

    def summary(self) -> str:
        return (
            f"{self.backend}: status={self.status} cost={self.cost} objective={self.objective} "
            f"routes={self.num_routes} dropped={len(self.dropped)} stopped_by={self.stopped_by} "
            f"seconds={self.seconds:.2f}/{self.time_limit:g}"
        )


def evaluate_routes(problem: RoutingProblem, routes: tuple[tuple[int, ...], ...] | list[list[int]]) -> RouteMetrics:
    """Recompute cost, loads, extra totals and list every violated rule.

    Written without any engine, so tests and callers can check what an engine returned.
    Times are recomputed by an earliest-start forward pass (waiting allowed); the route's
    duration is measured with the latest departure that keeps that schedule.
    """
    p = problem
    if len(routes) != p.num_vehicles:
        raise ValueError(f"expected {p.num_vehicles} routes, got {len(routes)}")
    tw = p.windows()
    svc = p.service()
    h = p.effective_horizon()
    factors, fixed = p.cost_factors(), p.fixed_costs()
    violations: list[str] = []
    seen: dict[int, int] = {}
    route_costs, loads, extras = [], [], []
    depots = p.depots
    previous = p.previous_trip()
    ready: dict[int, int] = {}  # when each vehicle (a trip of a chain) leaves the next trip free
    for v, route in enumerate(routes):
        route = [int(x) for x in route]
        s, e = int(p.vehicle_starts[v]), int(p.vehicle_ends[v])
        arcs, times, extra = p.arcs_of(v), p.times_of(v), p.extra_of(v)
        ready[v] = ready.get(previous[v], 0) if v in previous else 0
        if not route:
            route_costs.append(0)
            loads.append(tuple(0 for _ in range(p.num_dimensions)))
            extras.append(0)
            continue
        path = [s, *route, e]
        arc = int(sum(arcs[a, b] for a, b in zip(path, path[1:])))
        route_costs.append(arc * int(factors[v]) + int(fixed[v]))
        # loads and extra per trip: a reload node of this vehicle ends one trip and starts the next
        reloads = p.reloads
        trips: list[list[int]] = [[]]
        for node in route:
            if reloads.get(node) == v:
                trips.append([])
            else:
                trips[-1].append(node)
        load = tuple(
            max(int(p.demands[d, trip].sum()) if trip else 0 for trip in trips) for d in range(p.num_dimensions)
        )
        loads.append(load)
        for d, (ld, cp) in enumerate(zip(load, p.capacities[:, v])):
            if ld > cp:
                violations.append(f"vehicle {v}: {p.capacity_names[d]} load {ld} > capacity {cp}")
        if extra is not None and p.extra_caps is not None:
            ex = 0
            for trip in trips:
                legs = [s, *trip, e]
                ex = max(ex, int(sum(extra[a, b] for a, b in zip(legs, legs[1:]))))
            extras.append(ex)
            if ex > p.extra_caps[v]:
                violations.append(f"vehicle {v}: {p.extra_name} {ex} > cap {p.extra_caps[v]}")
        else:
            extras.append(0)
        for node in route:
            if node in depots:
                violations.append(f"vehicle {v}: visits depot node {node} as a stop")
            if node in seen:
                violations.append(f"node {node} visited by vehicles {seen[node]} and {v}")
            seen[node] = v
            if v not in p.allowed(node):
                violations.append(f"vehicle {v} visits node {node} it is not allowed to serve")
        # earliest-start schedule
        t = max(int(tw[s, 0]), ready[v])
        prev = s
        for node in route:
            t = max(int(tw[node, 0]), t + int(svc[prev]) + int(times[prev, node]))
            if t > tw[node, 1]:
                violations.append(f"vehicle {v}: arrives at node {node} at {t} > close {tw[node, 1]}")
            prev = node
        end = t + int(svc[prev]) + int(times[prev, e])
        ready[v] = end
        if end > min(int(tw[e, 1]), h):
            violations.append(f"vehicle {v}: returns at {end} > {min(int(tw[e, 1]), h)}")
        if p.max_route_duration is not None:
            # latest departure that still returns at the earliest end (backward pass)
            latest = end
            nxt = e
            for node in reversed(route):
                latest = min(int(tw[node, 1]), latest - int(times[node, nxt]) - int(svc[node]))
                nxt = node
            depart = min(int(tw[s, 1]), latest - int(times[s, nxt]) - int(svc[s]))
            depart = max(depart, int(tw[s, 0]))
            if end - depart > p.max_route_duration[v]:
                violations.append(f"vehicle {v}: duration {end - depart} > max {p.max_route_duration[v]}")
    return RouteMetrics(
        cost=int(sum(route_costs)),
        route_costs=tuple(route_costs),
        loads=tuple(loads),
        extra=tuple(extras),
        violations=tuple(violations),
    )


def screen_visits(problem: RoutingProblem) -> dict[int, DropReason]:
    """Visits no vehicle can serve even alone (proven reasons), so engines skip them upfront."""
    p = problem
    tw = p.windows()
    svc = p.service()
    h = p.effective_horizon()
    out: dict[int, DropReason] = {}
    for node in p.visits:
        vehicles = p.allowed(node)
        if not vehicles:
            out[node] = "no_vehicle"
            continue
        if not any(np.all(p.demands[:, node] <= p.capacities[:, v]) for v in vehicles):
            out[node] = "capacity"
            continue

        def reachable(v: int) -> bool:
            s, e = int(p.vehicle_starts[v]), int(p.vehicle_ends[v])
            times = p.times_of(v)
            arrive = max(int(tw[node, 0]), int(tw[s, 0]) + int(svc[s]) + int(times[s, node]))
            back = arrive + int(svc[node]) + int(times[node, e])
            if arrive > tw[node, 1] or back > min(int(tw[e, 1]), h):
                return False
            if p.max_route_duration is not None:
                direct = int(svc[s]) + int(times[s, node]) + int(svc[node]) + int(times[node, e])
                if direct > p.max_route_duration[v]:
                    return False
            return True

        if tw[node, 0] > tw[node, 1] or not any(reachable(v) for v in vehicles):
            out[node] = "time_window"
            continue
        if p.extra_arc_values is not None and p.extra_caps is not None:
            if not any(
                int(p.extra_of(v)[p.vehicle_starts[v], node]) + int(p.extra_of(v)[node, p.vehicle_ends[v]])  # type: ignore[index]
                <= p.extra_caps[v]
                for v in vehicles
            ):
                out[node] = "extra_cap"
    return out


def drop_reason(problem: RoutingProblem, node: int, screened: dict[int, DropReason]) -> DropReason:
    """Reason for a dropped visit: a proven one if screening found it, else penalty/search."""
    if node in screened:
        return screened[node]
    return "search" if problem.is_mandatory(node) else "penalty"


def forward_schedule(problem: RoutingProblem, vehicle: int, route: tuple[int, ...] | list[int]) -> tuple[int, tuple[int, ...], int]:
    """Earliest-start schedule of one route: (departure, service starts, return).

    Used when an engine has no time model of its own for the problem (plain CVRP).
    """
    p = problem
    tw, svc, times = p.windows(), p.service(), p.times_of(vehicle)
    s, e = int(p.vehicle_starts[vehicle]), int(p.vehicle_ends[vehicle])
    start = t = int(tw[s, 0])
    prev, out = s, []
    for node in route:
        t = max(int(tw[node, 0]), t + int(svc[prev]) + int(times[prev, node]))
        out.append(t)
        prev = node
    end = t + int(svc[prev]) + int(times[prev, e]) if route else start
    return start, tuple(out), end
