"""Public VRP benchmarks (CVRPLIB CVRP, Solomon VRPTW) through allocate's routing engines.

The yardstick for the routing engine: read an instance into a :class:`RoutingProblem`
under the instance set's own distance convention, solve it with a chosen back-end, report
the cost under that convention and write a VRPLIB ``.sol`` file.

Conventions (see the data READMEs):

* CVRP (``TYPE : CVRP``, ``EUC_2D``): each arc is the Euclidean distance rounded to the
  nearest integer (TSPLIB ``nint``); cost is an integer.
* Solomon VRPTW: each arc is the Euclidean distance *truncated* to one decimal (CVRPLIB /
  DIMACS convention of the distance-optimal ``bks``). We work on integers scaled by 10:
  ``floor(10 d) = isqrt(100 (dx^2 + dy^2))`` exactly; windows and service times x10;
  travel time = distance. Cost = scaled sum / 10.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import vrplib

from allocate.arguments import require_seed
from allocate.backends.ortools_routing import solve_ortools
from allocate.backends.pyvrp_routing import can_use_pyvrp, solve_pyvrp
from allocate.backends.routing_problem import RoutingProblem, RoutingResult, SearchParams

__all__ = [
    "VrpInstance",
    "VrpSolution",
    "read_instance",
    "solve_problem",
    "solve_instance",
    "solution_cost",
    "write_solution",
    "Backend",
    "choose_backend",
    "deterministic_budget",
]

Backend = Literal["auto", "ortools", "pyvrp"]
Kind = Literal["cvrp", "vrptw"]



# OR-Tools GLS solutions per second at 100 customers, about half the rate measured on a quiet
# 2-core machine (X-n101-k25: 2,000 in 22.5 s; A-n32-k5: 2,000 in 2.4 s, so the rate falls as
# the square of the customers), so that the solution limit binds before the time limit.
ORTOOLS_SOLUTIONS_PER_S_AT_100 = 45.0


def deterministic_budget(time_limit: float, customers: int = 100) -> tuple[int, int]:
    """Work limits for ``deterministic=True``: (OR-Tools solutions, PyVRP iterations).

    Sized so that they normally bind before ``time_limit`` on a loaded 2-core machine (PyVRP
    ~130 iterations/s on X-n101-k25 with other jobs running; OR-Tools: see
    :data:`ORTOOLS_SOLUTIONS_PER_S_AT_100`, scaled by ``customers``: a fixed count of 4 per
    second stopped A-n32-k5 after 0.01 s at cost 995 where the time limit reaches 784); a slower
    machine hits the time limit first, and says so in ``RoutingResult.stopped_by``.
    """
    per_s = ORTOOLS_SOLUTIONS_PER_S_AT_100 * (100.0 / max(1, customers)) ** 2
    return max(20, int(per_s * time_limit)), max(100, int(50 * time_limit))


@dataclass(frozen=True, eq=False)
class VrpInstance:
    """A benchmark instance and the integer problem built from it.

    ``scale`` divides integer costs back to the instance's unit (1 for CVRP, 10 for
    Solomon). Node ``i`` of the problem is customer number ``i`` (0 is the depot), as in
    the ``.sol`` files.
    """

    name: str
    kind: Kind
    path: Path
    problem: RoutingProblem
    scale: int
    coords: np.ndarray


@dataclass(frozen=True)
class VrpSolution:
    """A solved instance: routes as customer numbers, cost in the instance's unit."""

    instance: str
    kind: Kind
    routes: tuple[tuple[int, ...], ...]
    cost: float
    scaled_cost: int
    scale: int
    backend: str
    result: RoutingResult

    @property
    def complete(self) -> bool:
        return self.result.status == "feasible"


def _euclid_sq(coords: np.ndarray) -> np.ndarray:
    c = np.asarray(coords, dtype=np.int64)
    diff = c[:, None, :] - c[None, :, :]
    return (diff**2).sum(axis=-1)


def _cvrp_vehicles(name: str, demand: np.ndarray, capacity: int, n_customers: int) -> int:
    """Fleet size: the ``k`` in the name (or the bin lower bound) plus some slack.

    The fleet is unlimited in CVRPLIB, but best solutions sometimes use more than ``k``
    routes; OR-Tools slows down with many idle vehicles, so we give ~15 % slack.
    """
    lower = math.ceil(int(demand.sum()) / capacity)
    m = re.search(r"-k(\d+)", name)
    k = max(lower, int(m.group(1))) if m else lower
    return min(n_customers, k + max(3, math.ceil(0.15 * k)))


def read_instance(path: str | Path, *, vehicles: int | None = None) -> VrpInstance:
    """Read a VRPLIB CVRP ``.vrp`` or a Solomon ``.txt`` file into a :class:`VrpInstance`."""
    path = Path(path)
    text_head = path.read_text(errors="replace")[:2000]
    solomon = path.suffix.lower() == ".txt" or ("VEHICLE" in text_head and "CUSTOMER" in text_head)
    if solomon:
        inst = vrplib.read_instance(str(path), instance_format="solomon")
        coords = np.asarray(inst["node_coord"])
        if np.any(coords != np.round(coords)):
            raise ValueError(f"{path}: non-integer coordinates are not supported")
        sq = _euclid_sq(coords)
        dist = np.vectorize(lambda x: math.isqrt(100 * int(x)), otypes=[np.int64])(sq)
        n = len(coords)
        nv = int(vehicles or inst["vehicles"])
        tw = np.asarray(inst["time_window"], dtype=np.int64) * 10
        problem = RoutingProblem(
            arc_costs=dist,
            travel_times=dist,
            vehicle_starts=[0] * nv,
            vehicle_ends=[0] * nv,
            demands=[np.asarray(inst["demand"], dtype=np.int64)],
            capacities=[[int(inst["capacity"])] * nv],
            capacity_names=("demand",),
            time_windows=tw,
            service_times=np.asarray(inst["service_time"], dtype=np.int64) * 10,
            horizon=int(tw[0, 1]),
        )
        name = str(inst.get("name", path.stem)).strip() or path.stem
        return VrpInstance(name=name, kind="vrptw", path=path, problem=problem, scale=10, coords=coords)

    inst = vrplib.read_instance(str(path))
    if str(inst.get("type", "CVRP")).strip().upper() != "CVRP":
        raise ValueError(f"{path}: only TYPE : CVRP is supported, got {inst.get('type')}")
    if str(inst.get("edge_weight_type", "EUC_2D")).strip().upper() != "EUC_2D":
        raise ValueError(f"{path}: only EDGE_WEIGHT_TYPE : EUC_2D is supported")
    depots = [int(x) for x in np.atleast_1d(inst["depot"])]
    if depots != [0]:
        raise ValueError(f"{path}: expected a single depot at node 1, got {[d + 1 for d in depots]}")
    coords = np.asarray(inst["node_coord"], dtype=np.float64)
    dist = np.floor(np.sqrt(_euclid_sq(coords).astype(np.float64)) + 0.5).astype(np.int64)  # TSPLIB nint
    demand = np.asarray(inst["demand"], dtype=np.int64)
    capacity = int(inst["capacity"])
    name = str(inst.get("name", path.stem)).strip()
    n = len(coords)
    nv = int(vehicles or _cvrp_vehicles(name, demand, capacity, n - 1))
    problem = RoutingProblem(
        arc_costs=dist,
        travel_times=dist,
        vehicle_starts=[0] * nv,
        vehicle_ends=[0] * nv,
        demands=[demand],
        capacities=[[capacity] * nv],
        capacity_names=("demand",),
    )
    return VrpInstance(name=name, kind="cvrp", path=path, problem=problem, scale=1, coords=coords)


def solution_cost(instance: VrpInstance, routes: list[list[int]] | tuple[tuple[int, ...], ...]) -> float:
    """Cost of ``routes`` (customer numbers, depot omitted) under the instance's convention."""
    d = instance.problem.arc_costs
    total = 0
    for r in routes:
        if not r:
            continue
        path = [0, *[int(x) for x in r], 0]
        total += int(sum(d[a, b] for a, b in zip(path, path[1:])))
    return total / instance.scale if instance.scale != 1 else float(total)


def choose_backend(problem: RoutingProblem, backend: Backend) -> str:
    """``auto``: PyVRP where it can express the problem, else OR-Tools."""
    if backend == "auto":
        return "pyvrp" if can_use_pyvrp(problem) else "ortools"
    if backend == "pyvrp" and not can_use_pyvrp(problem):
        raise ValueError("backend 'pyvrp' cannot express this problem (extra dimension or allowed vehicles)")
    if backend not in ("ortools", "pyvrp"):
        raise ValueError(f"backend must be auto, ortools or pyvrp, got {backend!r}")
    return backend


def solve_problem(problem: RoutingProblem, params: SearchParams, backend: Backend = "auto") -> RoutingResult:
    """Solve with the chosen engine; under ``auto`` fall back to OR-Tools if PyVRP fails."""
    engine = choose_backend(problem, backend)
    if engine == "pyvrp":
        res = solve_pyvrp(problem, params)
        if res.status == "no_solution" and backend == "auto":
            left = params.time_limit - res.seconds
            if left > 0.2:
                return solve_ortools(problem, replace(params, time_limit=left))
        return res
    return solve_ortools(problem, params)


def solve_instance(
    path: str | Path,
    *,
    time_limit: float = 20.0,
    seed: int = 0,
    backend: Backend = "auto",
    deterministic: bool = False,
    params: SearchParams | None = None,
) -> VrpSolution:
    """Read, solve and cost one benchmark instance.

    ``deterministic=True`` adds a work limit (solutions for OR-Tools, iterations for
    PyVRP) so that the same seed gives the same routes; ``time_limit`` still caps the run
    and ``result.stopped_by`` says which limit ended it. ``params`` overrides the search
    parameters entirely (its time limit, seed and limits are then used as given).
    """
    require_seed(seed)
    inst = read_instance(path)
    if params is None:
        solutions, iterations = deterministic_budget(time_limit, customers=len(inst.problem.visits))
        params = SearchParams(
            time_limit=time_limit,
            seed=seed,
            solution_limit=solutions if deterministic else None,
            iteration_limit=iterations if deterministic else None,
        )
    res = solve_problem(inst.problem, params, backend)
    routes = tuple(r for r in res.routes if r)
    scaled = res.cost
    return VrpSolution(
        instance=inst.name,
        kind=inst.kind,
        routes=routes,
        cost=solution_cost(inst, routes),
        scaled_cost=scaled,
        scale=inst.scale,
        backend=res.backend,
        result=res,
    )


def _format_cost(sol: VrpSolution) -> str:
    if sol.scale == 1:
        return str(int(round(sol.cost)))
    return f"{sol.scaled_cost / sol.scale:.{int(round(math.log10(sol.scale)))}f}"


def write_solution(sol: VrpSolution, path: str | Path) -> Path:
    """Write ``sol`` as a VRPLIB ``.sol`` file (``Route #i: ...`` lines and ``Cost N``)."""
    path = Path(path)
    lines = [f"Route #{i}: {' '.join(str(x) for x in r)}" for i, r in enumerate(sol.routes, start=1)]
    lines.append(f"Cost {_format_cost(sol)}")
    path.write_text("\n".join(lines) + "\n")
    return path
