"""Convoy routing: turn an allocation (units per depot, site, commodity) into convoys.

One OR-Tools routing problem per depot (an allocation fixes the depot of every unit, and a
convoy never leaves from two depots), through the engine-neutral adapter
(:mod:`allocate.backends.routing_problem`). In each problem:

* **visits** are *chunks* of a (depot, site) delivery (split deliveries), sized so that every
  vehicle type fills most of its weight and volume with whole chunks (coarser when the problem
  would be too large to search); chunks are optional, with a drop penalty far above any routing
  cost, scaled by severity and tonnes, so the solver drops only what it cannot carry and every
  drop comes back with a reason;
* **vehicles** are the physical vehicles (``count`` of each usable fleet type; military types
  only where ``military_assets`` is not ``never``), each with *reload nodes*: optional returns to
  the depot between trips where loads and the risk total restart, so a vehicle runs several
  trips within the horizon and is never on two at once (no ``FLEET_BUSY``);
* **matrices** are per *profile* (weight class × whether the organization may take an escort):
  each leg between two places is one concrete road path (least ``km + λ·risk`` on the roads that
  weight class may use: closed roads, denied zones and weight limits excluded; least-risk legs
  for a site whose out-and-back would break the risk cap otherwise), so the solver's times, costs
  and risks are exactly those of the road path written into the plan; a site's service time is
  paid once, on leaving it;
* **risk** is a cumulative dimension of ``-ln(1 - r)`` scaled to integers, capped per trip at
  ``risk_threshold`` for organizations that never take an escort and at ``max_risk`` for the
  others (their convoys above the threshold get an escort later; ``escort_credit`` raises that
  cap to what the best admissible escort makes safe);
* times are scaled up (ceil) and windows down (floor), so the real walk of the plan is never
  later than the solver's schedule: the plan's times satisfy FORMAT.md §3.5 by construction.

The search starts from greedy trips (most severe sites first, on the vehicle back soonest),
which on large problems carry most of the allocation in milliseconds. They are also the floor,
built again without the reload-node limit (as many trips per vehicle as the horizon holds): a
depot whose search finds nothing, or routes fewer severity-weighted tonnes than they do, keeps
the greedy trips; so does a depot problem too large to search in its share of the time left
(estimated before building it: then only the legs to and from the depot are computed, two
Dijkstras per profile instead of one per place, and OR-Tools is not called). Depot problems are
built one at a time, largest first, and freed once read; each search keeps back room for OR-Tools
ending late (:data:`OVERSHOOT_PER_MODEL_S`). ``plan.solver`` names those depots
(``warm_start_depots``, ``unsearched_depots``, ``note``). After solving, a trip whose
route risk is above ``risk_threshold`` is re-pathed leg by leg on least-risk paths when that keeps
its times valid (the escort stays the last resort), trips with the same organization, depot,
path and stops are moved onto one departure (within their own slack) and merged into one convoy
of several vehicles (one escort for all), and military trips under ``last_resort`` are kept
only when they depart while every civilian vehicle of their organization at their depot is busy
(moved later if that helps, else dropped with reason ``fleet``).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from allocate.access import AccessFacts, within
from allocate.arguments import require_seed
from allocate.backends.ortools_routing import solve_ortools
from allocate.backends.routing_problem import (
    MatrixProfile,
    RoutingProblem,
    RoutingResult,
    SearchParams,
    drop_reason,
    screen_visits,
)
from allocate.network import Path, RoadNetwork, Usability, risk_from_weight
from allocate.plan import CHECKED_REASONS, Convoy, Plan, SolverInfo, Stop, UnmetClaim
from allocate.scenario import FleetType, Scenario

__all__ = ["route", "DROP_REASONS"]

TIME_SCALE = 1000  # solver time units per hour
RISK_SCALE = 1_000_000  # solver risk units per unit of -ln(1 - r)
LOAD_SCALE = 1000  # kg per tonne, litres per m3
KM_SCALE = 10  # arc cost units per km
RISK_KM_UNESCORTED = 20_000.0  # km a route may add to avoid one unit of -ln(1-r) (≈ 200 km per 1 %)
RISK_KM_ESCORTABLE = 5_000.0  # softer for organizations that may take an escort (still ≈ 50 km per 1 %)
RISK_KM_SAFE = 1e7  # least-risk legs: km only break ties between equally risky paths
MAX_TRIPS = 30  # trips per physical vehicle offered to the solver (reload nodes)
RELOAD_BUDGET = 400  # reload nodes per depot problem (trips per vehicle shrink beyond it)
MAX_CHUNKS = 24  # chunks per (depot, site) delivery, beyond what the largest vehicle needs
NODE_BUDGET = 600  # chunks per depot problem before chunks grow to the largest vehicle's size
GREEDY_EXTEND = False  # warm-start trips go on to further sites when that beats a trip of their own
WARM_START = True  # start the search from greedy out-and-back trips (see greedy_routes)
FIRST_SOLUTION = "auto"  # OR-Tools first-solution strategy (the adapter's choice by default)
DETERMINISTIC_SOLUTIONS = 60  # OR-Tools solution limit per depot problem under deterministic=True
SEARCH = True  # hand depot problems to OR-Tools (False: the greedy warm-start trips only)
# Cost model of a depot problem, to decide whether it can be searched within its share of the
# time limit (measured at 2,000 generated sites on the 2-core shared machine, with margin):
LEGS_S_PER_CELL = 4e-6  # leg paths: seconds per (place x network node) per matrix profile
MODEL_S_PER_CELL = 3e-6  # OR-Tools model build and warm-start read: seconds per node^2 per 2 profiles
MIN_SEARCH_S = 1.0  # a search gets at least this long after its model is built, else none runs
# An OR-Tools search can end after its time limit by a call of its cheapest-insertion LNS
# operators, which it does not interrupt: on the sample crises' depot problems, measured up to 1.2
# times the depot's model estimate (cote_divoire_like's D05, 564 visits: 3.3 s late on a 4 s
# limit, model estimate 2.7 s; without this, route() took 9.4 s for an 8 s limit). A search is
# given no more than the time left less this many model estimates, so the last depot searched
# ends inside the routing's limit; what an earlier depot does not use passes to the next.
# Switching those operators off keeps the clock too, but routes 1.1-1.9 % less on haiti_like and
# cote_divoire_like at 60 s.
OVERSHOOT_PER_MODEL_S = 1.5
_EPS_UNITS = 1e-9

DROP_REASONS = {
    "no_vehicle": "fleet",
    "capacity": "fleet",
    "time_window": "horizon",
    "extra_cap": "escorts",
    "penalty": "fleet",
    "search": "routing",
}
"""Adapter drop reason → informative unmet reason of the plan (FORMAT.md §2, not checked)."""


# ----- inputs --------------------------------------------------------------------------------------
def _allocation_rows(allocation: Any) -> list[Mapping[str, Any]]:
    """Rows of an allocation: an object with ``.rows()`` or any iterable of row mappings."""
    rows = allocation.rows() if hasattr(allocation, "rows") else allocation
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            row = {k: getattr(row, k) for k in ("depot", "site", "commodity", "units")}
        out.append(row)
    return out


def _demands(scenario: Scenario, rows: Iterable[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], dict[str, float]], set[str]]:
    """``{(depot, site): {commodity: units}}`` clipped to stock and need; sites clipped for stock."""
    s = scenario
    raw: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        depot, site, commodity, units = row["depot"], row["site"], row["commodity"], float(row["units"])
        if s.node_by_id.get(depot) is None or s.node(depot).kind != "depot":
            raise ValueError(f"allocation row names {depot!r}, which is not a depot of the scenario")
        if s.node_by_id.get(site) is None or s.node(site).kind != "site":
            raise ValueError(f"allocation row names {site!r}, which is not a site of the scenario")
        if commodity not in s.commodity_by_id:
            raise ValueError(f"allocation row names {commodity!r}, which is not a commodity of the scenario")
        if not math.isfinite(units) or units < 0:
            raise ValueError(f"allocation row {depot}->{site} {commodity}: units must be finite and >= 0, not {units}")
        if units > _EPS_UNITS:
            cell = raw[(depot, site)]
            cell[commodity] = cell.get(commodity, 0.0) + units
    short_stock: set[str] = set()
    # never unload more than a depot holds, nor more than a site needs (deterministic order)
    used: dict[tuple[str, str], float] = defaultdict(float)
    got: dict[tuple[str, str], float] = defaultdict(float)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for depot, site in sorted(raw):
        stock = s.node(depot).stock  # type: ignore[union-attr]
        need = s.node(site).need  # type: ignore[union-attr]
        cell: dict[str, float] = {}
        for commodity in sorted(raw[(depot, site)]):
            units = raw[(depot, site)][commodity]
            room_stock = stock.get(commodity, 0.0) - used[(depot, commodity)]
            room_need = need.get(commodity, 0.0) - got[(site, commodity)]
            take = min(units, max(0.0, room_stock), max(0.0, room_need))
            if take < units - 1e-9 and room_stock < units:
                short_stock.add(site)
            if take > _EPS_UNITS:
                cell[commodity] = take
                used[(depot, commodity)] += take
                got[(site, commodity)] += take
        if cell:
            out[(depot, site)] = cell
    return out, short_stock


# ----- paths ---------------------------------------------------------------------------------------
class _LegPaths:
    """Least ``km + λ·risk`` road paths between a set of places, on one weight class's roads.

    One Dijkstra (scipy) from every place; the km, hours and risk weight of every leg are summed
    along the shortest-path trees by pointer jumping (vectorised), so a problem with a thousand
    places costs seconds, not minutes. Node lists are rebuilt only for the legs a plan uses.
    """

    def __init__(self, network: RoadNetwork, usability: Usability, risk_km: float, places: Sequence[str],
                 hub: str | None = None):
        self.network = network
        self.usability = usability
        g = network.graph(usability)
        self.names = [n.id for n in network.scenario.nodes]
        index = {name: i for i, name in enumerate(self.names)}
        n = len(self.names)
        ea = np.array([index[a] for a, _ in g.edges()], dtype=np.int64)
        eb = np.array([index[b] for _, b in g.edges()], dtype=np.int64)
        attrs = np.array([(d["km"], d["hours"], -math.log1p(-d["risk"])) for _, _, d in g.edges(data=True)],
                         dtype=float).reshape(-1, 3)
        # explicit epsilon: a zero weight is still an edge
        cost = attrs[:, 0] + risk_km * attrs[:, 2] + 1e-9
        graph = csr_matrix((cost, (ea, eb)), shape=(n, n))
        edge_id = csr_matrix((np.arange(1, len(ea) + 1, dtype=np.int64), (ea, eb)), shape=(n, n))
        self.places = list(dict.fromkeys(places))
        self.row = {p: i for i, p in enumerate(self.places)}
        self.index = index
        self.hub = hub
        self._cache: dict[tuple[str, str], Path | None] = {}
        cols = np.array([index[p] for p in self.places], dtype=np.int64)
        if hub is not None:
            # legs to and from the hub only (a tree out of it and a tree into it): what
            # out-and-back trips need, at the cost of two Dijkstras instead of one per place
            src = np.array([index[hub]], dtype=np.int64)
            _, pred_out = dijkstra(graph, directed=True, indices=src, return_predecessors=True)
            _, pred_in = dijkstra(graph.T.tocsr(), directed=True, indices=src, return_predecessors=True)
            self.pred_out, self.pred_in = pred_out, pred_in
            L = len(self.places)
            self.totals = np.full((3, L, L), np.inf)
            h = self.row[hub]
            self.totals[:, h, :] = self._sum_along_trees(src, cols, edge_id, attrs, pred_out)[:, 0, :]
            self.totals[:, :, h] = self._sum_along_trees(src, cols, edge_id, attrs, pred_in, reverse=True)[:, 0, :]
            idx = np.arange(L)
            self.totals[:, idx, idx] = 0.0
            return
        _, self.pred = dijkstra(graph, directed=True, indices=cols, return_predecessors=True)
        self.totals = self._sum_along_trees(cols, cols, edge_id, attrs, self.pred)  # (3, L, L): km, hours, risk weight

    @staticmethod
    def _sum_along_trees(sources: np.ndarray, place_cols: np.ndarray, edge_id: csr_matrix, attrs: np.ndarray,
                         pred_in: np.ndarray, reverse: bool = False) -> np.ndarray:
        """``(3, sources, places)`` sums of km, hours and risk weight along shortest-path trees
        (``reverse``: trees of the reversed graph, whose edge into ``j`` is ``j -> pred[j]``)."""
        pred = pred_in.astype(np.int64)  # (L, N); -9999 at the source and where unreachable
        L, n = pred.shape
        cols = np.broadcast_to(np.arange(n), pred.shape)
        has = pred >= 0
        padded = np.vstack([attrs, np.zeros((1, 3))])  # the last row: no edge (roots, unreachable)
        ids = np.full(pred.shape, len(attrs), dtype=np.int64)
        if has.any():
            if reverse:
                ids[has] = np.asarray(edge_id[cols[has], pred[has]]).ravel() - 1
            else:
                ids[has] = np.asarray(edge_id[pred[has], cols[has]]).ravel() - 1
        acc = padded[ids].transpose(2, 0, 1)  # (3, L, N): the edge into each node
        ptr = np.where(has, pred, cols)  # roots and unreachable nodes point to themselves
        for _ in range(64):
            nxt = np.take_along_axis(ptr, ptr, axis=1)
            if np.array_equal(nxt, ptr):
                break
            acc = acc + np.take_along_axis(acc, np.broadcast_to(ptr, acc.shape), axis=2)
            ptr = nxt
        # a node is reached when its pointer chain ends at the source
        reached = ptr == sources[:, None]
        out = acc[:, :, place_cols]
        out[:, ~reached[:, place_cols]] = np.inf
        return out

    def leg(self, a: str, b: str) -> tuple[float, float, float]:
        """``(km, hours, risk weight)`` of the leg (``inf`` when unreachable)."""
        i, j = self.row[a], self.row[b]
        return float(self.totals[0, i, j]), float(self.totals[1, i, j]), float(self.totals[2, i, j])

    def path(self, a: str, b: str) -> Path | None:
        """The leg's road path (its nodes, km, hours, risk weight), or None when unreachable."""
        key = (a, b)
        if key not in self._cache:
            if a == b:
                self._cache[key] = Path((a,), 0.0, 0.0, 0.0)
            elif self.hub is not None:
                self._cache[key] = self._hub_path(a, b)
            else:
                pred = self.pred[self.row[a]]
                j = self.index[b]
                nodes = [b]
                src = self.index[a]
                while j != src:
                    j = int(pred[j])
                    if j < 0:
                        self._cache[key] = None
                        return None
                    nodes.append(self.names[j])
                self._cache[key] = self.network.measure(list(reversed(nodes)))
        return self._cache[key]

    def _hub_path(self, a: str, b: str) -> Path | None:
        """A leg from or to the hub (None for any other leg: not computed)."""
        if a == self.hub:
            pred, j, stop = self.pred_out[0], self.index[b], self.index[a]
        elif b == self.hub:
            pred, j, stop = self.pred_in[0], self.index[a], self.index[b]
        else:
            return None
        nodes = [self.names[j]]
        while j != stop:
            j = int(pred[j])
            if j < 0:
                return None
            nodes.append(self.names[j])
        return self.network.measure(nodes if b == self.hub else list(reversed(nodes)))

    def override(self, a: str, b: str, path: Path) -> None:
        """Use ``path`` for the leg from ``a`` to ``b`` (in totals and node lists)."""
        self._cache[(a, b)] = path
        i, j = self.row[a], self.row[b]
        self.totals[:, i, j] = (path.km, path.hours, path.risk_weight)


class _SafeLegs:
    """Least-risk legs to and from depots (``km`` only breaks ties), by scipy trees of the depot.

    Replaces ``network.least_path(.., "risk", ..)`` for legs with a depot at one end: that one
    runs a networkx Dijkstra (Python edge weights, every path kept) from each *site* of a
    return leg, tens of milliseconds each, and holds its tree in memory for good.
    """

    def __init__(self, network: RoadNetwork):
        self.network = network
        self._legs: dict[tuple[str, Usability], _LegPaths] = {}

    def path(self, depot: str, a: str, b: str, usability: Usability) -> Path | None:
        if a == b:
            return Path((a,), 0.0, 0.0, 0.0)
        if depot not in (a, b):
            return self.network.least_path(a, b, "risk", usability)
        key = (depot, usability)
        if key not in self._legs:
            self._legs[key] = _LegPaths(self.network, usability, RISK_KM_SAFE, [depot], hub=depot)
        return self._legs[key].path(a, b)


# ----- one depot's problem -----------------------------------------------------------------------
@dataclass
class _Chunk:
    site: str
    units: dict[str, float]
    weight_t: float
    volume_m3: float
    types: tuple[str, ...]  # fleet types that may serve it


@dataclass
class _Trip:
    """One vehicle's trip: the raw material of convoys."""

    fleet: str
    organization: str
    depot: str
    unit: int
    trip: int
    stops: list[tuple[str, dict[str, float]]]  # (site, unload) in order, consecutive sites merged
    legs: list[Path]  # depot → stop 1 → ... → depot
    depart_h: float
    arrive_h: list[float] = field(default_factory=list)
    return_h: float = 0.0
    horizon_h: float = math.inf
    prev: "_Trip | None" = field(default=None, repr=False)  # the same vehicle's trips before
    next: "_Trip | None" = field(default=None, repr=False)  # and after this one

    @property
    def latest_return_h(self) -> float:
        """The vehicle's next trip leaves then (or the horizon ends)."""
        return self.next.depart_h if self.next is not None else self.horizon_h

    @property
    def earliest_depart_h(self) -> float:
        """The vehicle's previous trip is back then (or 0)."""
        return self.prev.return_h if self.prev is not None else 0.0

    def unlink(self) -> None:
        """Leave the vehicle's chain of trips (the trip is dropped)."""
        if self.prev is not None:
            self.prev.next = self.next
        if self.next is not None:
            self.next.prev = self.prev
        self.prev = self.next = None

    @property
    def path(self) -> tuple[str, ...]:
        nodes: list[str] = [self.depot]
        for leg in self.legs:
            nodes.extend(leg.nodes[1:])
        return tuple(nodes)

    @property
    def risk_weight(self) -> float:
        return sum(leg.risk_weight for leg in self.legs)


@dataclass
class _SearchStats:
    """What the search did, summed over the depot problems (recorded in ``plan.solver``)."""

    status: str = "optimal"
    stopped_by: str = "none"
    objective: float = 0.0
    problems: int = 0
    vehicles: int = 0
    visits: int = 0
    dropped_visits: int = 0


def _usable_types(scenario: Scenario, depot: str) -> list[FleetType]:
    """Fleet types based at ``depot`` that may move aid: count ≥ 1, capacity, military consent."""
    orgs = scenario.organization_by_id
    out = []
    for f in sorted(scenario.fleet, key=lambda f: f.id):
        if f.depot != depot or f.count < 1 or f.capacity_t <= 0:
            continue
        if f.military and orgs[f.organization].military_assets == "never":
            continue
        out.append(f)
    return out


def _escortable(scenario: Scenario, fleet: FleetType) -> bool:
    return scenario.organization_by_id[fleet.organization].escort_policy != "never"


def _cap_weight(scenario: Scenario, escortable: bool, facts: AccessFacts | None = None) -> float:
    """The trip's cap on its unescorted risk weight ``Σ -ln(1 - r)``.

    ``risk_threshold`` for an organization that never takes an escort. For the others, the
    cap that the best escort the party rule admits brings within ``max_risk``: an escort of
    effectiveness ``e`` turns ``-ln(1 - r)`` into ``-ln(1 - r(1 - e)) <= (1 - e)·(-ln(1 - r))``
    (``-ln(1 - x)`` is convex and 0 at 0), so ``W <= W_max / (1 - e)`` keeps the escorted route
    risk within ``max_risk``. Which unit escorts is decided later (escorts.py checks it).
    """
    p = scenario.policy
    if not escortable:
        return -math.log1p(-min(p.risk_threshold, 1 - 1e-12))
    w_max = -math.log1p(-min(p.max_risk, 1 - 1e-12))
    best = 0.0
    if facts is not None:
        best = max((e.effectiveness for e in scenario.escorts if e.count >= 1 and facts.party_admits(e)), default=0.0)
    return min(w_max / max(1.0 - best, 1e-6), 50.0)


def _chunk_counts(scenario: Scenario, units: dict[str, float], types: list[FleetType]) -> tuple[int, int, int] | None:
    """``(coarse, least, fine)`` numbers of equal chunks to split a delivery into.

    ``coarse`` fits the largest allowed vehicle, ``least`` the smallest one (the count of that size
    or a little finer that fills the fleet's tonnage best); ``fine`` (≥ least) is chosen
    so that every vehicle type fills most of its capacity with whole chunks (20 t and 12 t
    trucks with 12 t chunks would leave the big one 40 % empty; 4 t chunks fill both).
    None when no allowed vehicle can carry any part (volume without volume capacity).
    """
    s = scenario
    weight = s.weight_t(units)
    volume = s.volume_m3(units)
    share = []  # the largest share of the delivery each type can carry at once
    tonnes = []  # what each type's vehicles carry together, to weigh its fill
    for f in types:
        if volume > 0 and f.capacity_m3 <= 0:
            continue
        by_v = f.capacity_m3 / volume if volume > 0 else math.inf
        share.append(min(f.capacity_t / weight, by_v))
        tonnes.append(f.count * f.capacity_t)
    if not share:
        return None
    coarse = max(1, math.ceil(1 / max(share) - 1e-9))
    if min(share) >= 1:
        return coarse, 1, 1

    def fill(x: float, k: int) -> float:
        return 1.0 if x >= 1 else math.floor(x * k + 1e-9) / (x * k)

    def filled(k: int) -> float:
        return sum(fill(x, k) for x in share) / len(share)

    def filled_by_tonnes(k: int) -> float:
        return sum(t * fill(x, k) for x, t in zip(share, tonnes)) / max(sum(tonnes), 1e-12)

    # chunks the smallest type can carry, and among the few counts just above, the one that fills
    # the fleet's tonnage best: 68 t over 20, 12, 10, 8 and 6 t trucks in 12 chunks of 5.7 t fill
    # a 20 t truck to 17 t and a 10 t one to 5.7 t; 14 chunks of 4.9 t fill them to 19.5 and 9.8 t
    smallest = max(1, math.ceil(1 / min(share) - 1e-9))
    least = max(range(smallest, smallest + max(1, smallest // 4) + 1),
                key=lambda k: (round(filled_by_tonnes(k), 9), -k))

    candidates = range(smallest, max(smallest, min(4 * smallest, coarse + MAX_CHUNKS)) + 1)
    fine = next((k for k in candidates if filled(k) >= 0.9), max(candidates, key=lambda k: (filled(k), -k)))
    return coarse, least, max(fine, least)


def _chunks(scenario: Scenario, site: str, units: dict[str, float], types: list[FleetType], k: int) -> list[_Chunk]:
    """Split one delivery into ``k`` equal chunks (fractional units are allowed)."""
    s = scenario
    names = tuple(f.id for f in types)
    out = []
    for i in range(k):
        part = {c: u / k for c, u in units.items()} if i < k - 1 else {c: u - (k - 1) * (u / k) for c, u in units.items()}
        out.append(_Chunk(site, part, s.weight_t(part), s.volume_m3(part), names))
    return out


def _ceil(x: float, scale: float) -> int:
    v = x * scale
    r = round(v)
    return int(r) if abs(v - r) < 1e-6 else int(math.ceil(v))


def _ceil_array(x: np.ndarray, scale: float) -> np.ndarray:
    """:func:`_ceil` of every entry (int64)."""
    v = x * scale
    r = np.round(v)
    return np.where(np.abs(v - r) < 1e-6, r, np.ceil(v)).astype(np.int64)


def _floor(x: float, scale: float) -> int:
    v = x * scale
    r = round(v)
    return int(r) if abs(v - r) < 1e-6 else int(math.floor(v))


class _DepotProblem:
    """The routing problem of one depot, its leg paths, and how to read its solution back."""

    def __init__(self, scenario: Scenario, network: RoadNetwork, facts: AccessFacts, depot: str,
                 deliveries: dict[str, dict[str, float]], escort_credit: bool = False, build: bool = True,
                 safe: _SafeLegs | None = None):
        self.scenario = scenario
        self.safe = safe or _SafeLegs(network)
        self.network = network
        self.depot = depot
        self.credit = facts if escort_credit else None  # escort-aware risk caps (see _cap_weight)
        self.rejected: dict[str, str] = {}  # site -> informative reason, whole delivery not routable
        self.types = _usable_types(scenario, depot)
        s = scenario
        plans: list[tuple[str, list[FleetType], tuple[int, int, int]]] = []
        for site in sorted(deliveries):
            allowed: list[FleetType] = []
            modes = []
            seen: dict[tuple[float, bool], str] = {}
            for f in self.types:
                esc = _escortable(s, f)
                if (f.capacity_t, esc) not in seen:
                    # the escort side (a Dijkstra per escort unit) only matters when the trip is
                    # too risky without one: the same mode as asking with escorts at once
                    mode = facts.mode(depot, site, f.capacity_t, escorts_allowed=False)
                    if esc and mode == "too_risky":
                        mode = facts.mode(depot, site, f.capacity_t, escorts_allowed=True)
                    seen[(f.capacity_t, esc)] = mode
                mode = seen[(f.capacity_t, esc)]
                modes.append(mode)
                if mode == "unescorted" or (mode == "escorted" and esc):
                    allowed.append(f)
            if not allowed:
                self.rejected[site] = _reject_reason(modes)
                continue
            counts = _chunk_counts(s, deliveries[site], allowed)
            if counts is None:
                self.rejected[site] = "fleet"
                continue
            plans.append((site, allowed, counts))
        # chunks small enough for the smallest vehicle, unless that makes the problem too big
        # to search in time: then chunks as large as the largest vehicle takes
        # the finest split that keeps the problem searchable: chunks that fill every type well,
        # else chunks the smallest type can carry, else (huge problems) the largest type's size
        level = next((i for i in (2, 1) if sum(k[i] for _, _, k in plans) <= NODE_BUDGET * (3 - i)), 0)
        chunks: list[_Chunk] = []
        for site, allowed, counts in plans:
            k = counts[level]
            chunks.extend(_chunks(s, site, deliveries[site], allowed, k))
        self.chunks = chunks
        self.problem: RoutingProblem | None = None
        self.hub_only = False
        if build:
            self.build()

    def build(self, hub_only: bool = False) -> None:
        """Build the routing problem (nothing to build without chunks or vehicles).

        ``hub_only``: leg paths to and from the depot only (two Dijkstras per profile instead
        of one per place), enough for the greedy out-and-back trips but not for a search: the
        legs between two sites are left unreachable. For problems too large to search in time.
        """
        self.hub_only = hub_only
        if self.chunks and self.types:
            self._build()

    def release(self) -> None:
        """Free the matrices and leg trees once the trips are read (trips keep their paths)."""
        self.problem = None
        self.legs = {}

    @property
    def size(self) -> int:
        """Chunks plus vehicles: the share of the search time this problem gets."""
        return len(self.chunks) + sum(f.count for f in self.types)

    # -- building --
    def _build(self) -> None:
        s, depot = self.scenario, self.depot
        places = [depot, *dict.fromkeys(c.site for c in self.chunks)]
        self.profile_keys: list[tuple[float, bool]] = sorted({(f.capacity_t, _escortable(s, f)) for f in self.types})
        self.legs: dict[tuple[float, bool], _LegPaths] = {}
        for key in self.profile_keys:
            weight_t, esc = key
            legs = _LegPaths(self.network, Usability(vehicle_weight_t=weight_t),
                             RISK_KM_ESCORTABLE if esc else RISK_KM_UNESCORTED, places,
                             hub=depot if self.hub_only else None)
            cap = _cap_weight(s, esc, self.credit)
            # a site whose out-and-back on these legs breaks the risk cap while least-risk legs
            # would not: take the least-risk legs for that site (the cap, not the km, decides)
            for site in places[1:]:
                w = legs.leg(depot, site)[2] + legs.leg(site, depot)[2]
                if not math.isfinite(w) or w <= cap:
                    continue
                safe_out = self.safe.path(depot, depot, site, legs.usability)
                safe_back = self.safe.path(depot, site, depot, legs.usability)
                if safe_out and safe_back:
                    legs.override(depot, site, safe_out)
                    legs.override(site, depot, safe_back)
            self.legs[key] = legs

        # vehicles: one per physical vehicle, with up to T - 1 reload nodes (returns to the
        # depot between trips) each, T bounded by the horizon over its shortest round trip
        round_trip: dict[str, float | None] = {}
        for f in self.types:
            legs = self.legs[(f.capacity_t, _escortable(s, f))]
            hours = [legs.leg(depot, x)[1] + legs.leg(x, depot)[1] for x in {c.site for c in self.chunks if f.id in c.types}]
            hours = [x for x in hours if math.isfinite(x)]
            round_trip[f.id] = min(hours) if hours else None
        self.vehicles: list[tuple[FleetType, int]] = []  # (type, unit)
        reload_of: list[int] = []  # the vehicle of each reload node, in node order
        wanted: list[tuple[FleetType, int, int]] = []  # (type, units, trips per unit)
        for f in self.types:
            rt = round_trip[f.id]
            if rt is None:
                continue
            served = sum(
                1 for c in self.chunks
                if f.id in c.types and within(c.weight_t, f.capacity_t) and within(c.volume_m3, f.capacity_m3)
            )
            if served == 0:
                continue
            trips = MAX_TRIPS if rt <= 0 else max(1, min(MAX_TRIPS, int(s.horizon_h // rt)))
            units = min(f.count, served)  # a vehicle beyond the chunks it could carry is idle anyway
            wanted.append((f, units, max(1, min(trips, math.ceil(served / max(units, 1))))))
        reloads = sum(units * (trips - 1) for _, units, trips in wanted)
        # keep the problem searchable: no more reloads than chunks (a trip carries one at least)
        shrink = min(1.0, min(RELOAD_BUDGET, len(self.chunks)) / reloads) if reloads else 1.0
        for f, units, trips in wanted:
            trips = max(1, 1 + int((trips - 1) * shrink))
            for unit in range(units):
                reload_of.extend([len(self.vehicles)] * (trips - 1))
                self.vehicles.append((f, unit))
        if not self.vehicles:
            for c in self.chunks:
                self.rejected.setdefault(c.site, "fleet")
            self.chunks = []
            return
        nv = len(self.vehicles)
        first_reload = 1 + len(self.chunks)
        n = first_reload + len(reload_of)
        loc = [depot] + [c.site for c in self.chunks] + [depot] * len(reload_of)

        h = _floor(s.horizon_h, TIME_SCALE)
        unreachable_time = h + 1
        service_h = {x.id: x.service_h for x in s.sites}
        matrices = []
        for key in self.profile_keys:
            legs = self.legs[key]
            risk_km = RISK_KM_ESCORTABLE if key[1] else RISK_KM_UNESCORTED
            km, hours, risk = legs.totals
            missing = ~np.isfinite(km)
            place_arc = _ceil_array(np.where(missing, 0.0, (km + risk_km * risk) * KM_SCALE), 1)
            place_arc[missing] = 4 * int(place_arc.max()) + 1
            # a site's service time is paid once, on leaving it for another place: several
            # chunks unloaded at one stop are one service, as in the plan's walk (FORMAT §3.5)
            leave = np.array([_ceil(service_h.get(x, 0.0), TIME_SCALE) for x in legs.places], dtype=np.int64)
            place_tt = _ceil_array(np.where(missing, 0.0, hours), TIME_SCALE) + leave[:, None]
            np.fill_diagonal(place_tt, 0)
            place_tt[missing] = unreachable_time
            place_ex = _ceil_array(np.where(missing, 0.0, risk), RISK_SCALE)
            place_ex[missing] = RISK_SCALE * 100
            at = np.array([legs.row[x] for x in loc], dtype=np.int64)
            grid = np.ix_(at, at)
            arc, tt, ex = place_arc[grid], place_tt[grid], place_ex[grid]
            for m in (arc, tt, ex):
                np.fill_diagonal(m, 0)
            matrices.append((arc, tt, ex))

        orgs = s.organization_by_id
        profile_index = {key: i for i, key in enumerate(self.profile_keys)}
        vehicle_profile = [profile_index[(f.capacity_t, _escortable(s, f))] for f, _ in self.vehicles]
        factors = [max(1, round(f.cost_per_km * 10)) for f, _ in self.vehicles]
        max_arc = max(int(m[0].max()) for m in matrices) or 1
        per_trip = 2 * max_arc * max(factors)
        # military vehicles under last_resort cost a trip's worth more: used when civilians cannot
        fixed = [
            per_trip if f.military and orgs[f.organization].military_assets == "last_resort" else 0
            for f, _ in self.vehicles
        ]
        # a drop costs more than any trip could (so only what cannot be carried is dropped),
        # more for severe sites and heavy chunks (so those are the last to be dropped)
        unit_penalty = 4 * per_trip + max(fixed) + 1
        severity = {x.id: x.severity for x in s.sites}
        penalties: list[int | None] = [None]
        for c in self.chunks:
            scale = (1 + severity[c.site]) * max(1, round(c.weight_t * 10))
            penalties.append(min(2**46 // max(n, 1), unit_penalty * scale))
        penalties.extend([None] * len(reload_of))
        allowed: list[tuple[int, ...] | None] = [None]
        for c in self.chunks:
            allowed.append(tuple(v for v, (f, _) in enumerate(self.vehicles) if f.id in c.types))
        allowed.extend([None] * len(reload_of))
        demands = np.zeros((2, n), dtype=np.int64)
        for i, c in enumerate(self.chunks, start=1):
            demands[0, i] = _ceil(c.weight_t, LOAD_SCALE)
            demands[1, i] = _ceil(c.volume_m3, LOAD_SCALE)
        capacities = np.array(
            [[_floor(f.capacity_t, LOAD_SCALE) for f, _ in self.vehicles],
             [_floor(f.capacity_m3, LOAD_SCALE) for f, _ in self.vehicles]],
            dtype=np.int64,
        )
        windows = np.zeros((n, 2), dtype=np.int64)
        windows[:, 1] = h
        service = np.zeros(n, dtype=np.int64)
        sites = {x.id: x for x in s.sites}
        for i, c in enumerate(self.chunks, start=1):
            site = sites[c.site]
            if site.window is not None:
                windows[i] = (_ceil(site.window[0], TIME_SCALE), min(h, _floor(site.window[1], TIME_SCALE)))
            # (service times live in the travel matrices, see above)
        caps = [_floor(_cap_weight(s, _escortable(s, f), self.credit), RISK_SCALE) for f, _ in self.vehicles]
        base = matrices[0]
        self.first_reload = first_reload
        self.problem = RoutingProblem(
            arc_costs=base[0],
            travel_times=base[1],
            vehicle_starts=np.zeros(nv, dtype=np.int64),
            vehicle_ends=np.zeros(nv, dtype=np.int64),
            demands=demands,
            capacities=capacities,
            capacity_names=("weight", "volume"),
            vehicle_fixed_costs=np.array(fixed, dtype=np.int64),
            vehicle_cost_factors=np.array(factors, dtype=np.int64),
            time_windows=windows,
            service_times=service,
            horizon=h,
            extra_arc_values=base[2],
            extra_caps=np.array(caps, dtype=np.int64),
            extra_name="risk",
            allowed_vehicles=tuple(allowed),
            drop_penalties=tuple(penalties),
            vehicle_profile=np.array(vehicle_profile, dtype=np.int64),
            profiles=tuple(MatrixProfile(a, t, e) for a, t, e in matrices[1:]),
            reload_vehicle=tuple([None] * first_reload + reload_of),
        )

    # -- a warm start --
    def greedy_routes(self) -> tuple[tuple[int, ...], ...]:
        """Greedy trips (see :meth:`_greedy`) as solver routes, at most one trip per reload node.

        A warm start for the search (which then merges and reorders trips): on large problems
        the engine's own insertion heuristics spend most of the time limit building a first
        solution; this one costs milliseconds and already carries most of the allocation.
        """
        plans = max((self._greedy(limit_trips=True, fill_first=f) for f in (False, True)), key=self._plans_value)
        spare: dict[int, list[int]] = defaultdict(list)
        for node, v in sorted(self.problem.reloads.items()):  # type: ignore[union-attr]
            spare[v].append(node)
        routes: list[list[int]] = []
        for v, trips in enumerate(plans):
            route: list[int] = []
            for _, nodes in trips:
                if route:
                    route.append(spare[v].pop(0))
                route.extend(nodes)
            routes.append(route)
        return tuple(tuple(r) for r in routes)

    def greedy_trips(self) -> list[_Trip]:
        """Greedy trips without the solver's reload-node limit: as many trips per vehicle as the
        horizon holds. Why: reload nodes are kept few so that a search stays small, which caps a
        truck on short runs at a few trips a day; trips that are never searched need no nodes."""
        plans = max((self._greedy(limit_trips=False, fill_first=f) for f in (False, True)), key=self._plans_value)
        out: list[_Trip] = []
        for v, trips in enumerate(plans):
            out.extend(self._vehicle_trips(v, [(start / TIME_SCALE, nodes) for start, nodes in trips]))
        return out

    def _plans_value(self, plans: list[list[tuple[int, list[int]]]]) -> float:
        """Severity-weighted tonnes of greedy trips (to keep the better of two greedy rules)."""
        severity = {x.id: x.severity for x in self.scenario.sites}
        return sum(severity[self.chunks[j - 1].site] * self.chunks[j - 1].weight_t
                   for trips in plans for _, nodes in trips for j in nodes)

    def _greedy(self, limit_trips: bool, fill_first: bool = False) -> list[list[tuple[int, list[int]]]]:
        """Trips built greedily, per vehicle ``[(departure in solver time units, chunk nodes)]``:
        most severe sites first, each on the vehicle that takes most of it (``fill_first``: that
        it fills best), back soonest (then, with :data:`GREEDY_EXTEND`, on to the nearest other
        sites while its load and risk cap allow). Neither rule wins everywhere (measured on the
        sample crises), so callers keep the better of the two.
        ``limit_trips``: no more trips per vehicle than its reload nodes allow.
        Civilian vehicles come before military ones under ``last_resort``.
        """
        p = self.problem
        assert p is not None
        s = self.scenario
        tw, svc, h = p.windows(), p.service(), p.effective_horizon()
        severity = {x.id: x.severity for x in s.sites}
        orgs = s.organization_by_id
        reserve = [
            1 if f.military and orgs[f.organization].military_assets == "last_resort" else 0 for f, _ in self.vehicles
        ]
        free_at = [0] * p.num_vehicles
        plans: list[list[tuple[int, list[int]]]] = [[] for _ in range(p.num_vehicles)]
        spare = defaultdict(int)
        for v in p.reloads.values():
            spare[v] += 1
        caps = p.extra_caps if p.extra_caps is not None else None
        by_site: dict[str, list[int]] = defaultdict(list)
        for i in range(1, self.first_reload):
            by_site[self.chunks[i - 1].site].append(i)
        order = sorted(by_site, key=lambda x: (-severity[x], int(tw[by_site[x][0], 1]), x))
        allowed = {x: p.allowed(by_site[x][0]) for x in order}  # chunks of a site share their types
        demand = p.demands.T.tolist()
        capacity = p.capacities.T.tolist()
        dims = range(p.num_dimensions)
        remaining = {x: list(by_site[x]) for x in order}

        def fill(v: int, nodes: list[int], t: int, load: list[int]) -> tuple[list[int], int, list[int]]:
            """As many of ``nodes`` (chunks of one site) as fit, unloaded at one stop."""
            taken: list[int] = []
            for j in nodes:
                if any(load[d] + demand[j][d] > capacity[v][d] for d in dims):
                    break
                at = max(int(tw[j, 0]), t)
                if at > tw[j, 1]:
                    break
                taken.append(j)
                load = [load[d] + demand[j][d] for d in dims]
                t = at + int(svc[j])
            return taken, t, load

        for site in order:
            while remaining[site]:
                todo = remaining[site]
                best = None
                for v in allowed[site]:
                    if limit_trips and plans[v] and len(plans[v]) > spare[v]:
                        continue
                    times, extra = p.times_of(v), p.extra_of(v)
                    i = todo[0]
                    if extra is not None and caps is not None and extra[0, i] + extra[i, 0] > caps[v]:
                        continue
                    trip, t, load = fill(v, todo, free_at[v] + int(times[0, i]), [0] * p.num_dimensions)
                    if not trip:
                        continue
                    back = t + int(times[i, 0])
                    if back > h:
                        continue
                    if fill_first:  # the vehicle this trip fills best: small loads on small trucks
                        filled = max(load[d] / capacity[v][d] for d in dims if capacity[v][d] > 0)
                        key = (reserve[v], -round(filled, 2), back)
                    else:
                        key = (reserve[v], -len(trip), back)
                    if best is None or key < best[0]:
                        best = (key, v, trip, t, load)
                if best is None:
                    break
                _, v, trip, t, load = best
                remaining[site] = todo[len(trip):]
                # then on to other sites while the load and the risk cap allow (fewer trips)
                times, extra = p.times_of(v), p.extra_of(v)
                last = trip[-1]
                risk = int(extra[0, trip[0]]) if extra is not None else 0
                while GREEDY_EXTEND and any(load[d] < capacity[v][d] for d in dims):
                    pick = None
                    for x in order:
                        if not remaining[x] or v not in allowed[x]:
                            continue
                        j = remaining[x][0]
                        at = max(int(tw[j, 0]), t + int(times[last, j]))
                        if at > tw[j, 1] or at + int(times[j, 0]) > h:
                            continue
                        if extra is not None and caps is not None and risk + extra[last, j] + extra[j, 0] > caps[v]:
                            continue
                        if any(load[d] + demand[j][d] > capacity[v][d] for d in dims):
                            continue
                        detour = int(times[last, j]) + int(times[j, 0]) - int(times[last, 0])
                        if detour >= int(times[0, j]) + int(times[j, 0]):
                            continue  # no quicker than a trip of its own
                        if pick is None or detour < pick[0]:
                            pick = (detour, x, j)
                    if pick is None:
                        break
                    _, x, j = pick
                    more, t, load = fill(v, remaining[x], max(int(tw[j, 0]), t + int(times[last, j])), load)
                    if not more:
                        break
                    if extra is not None:
                        risk += int(extra[last, j])
                    remaining[x] = remaining[x][len(more):]
                    trip.extend(more)
                    last = more[-1]
                plans[v].append((free_at[v], trip))
                free_at[v] = t + int(times[last, 0])
        return plans

    def greedy_drops(self, trips: Sequence[_Trip]) -> dict[str, str]:
        """Sites whose chunks the greedy ``trips`` leave short → the informative reason (as
        :meth:`drops` gives for a search: a window no vehicle can make is ``horizon``, else
        ``fleet``)."""
        p = self.problem
        assert p is not None
        left: dict[str, float] = defaultdict(float)
        first: dict[str, int] = {}
        for i, c in enumerate(self.chunks, start=1):
            left[c.site] += c.weight_t
            first.setdefault(c.site, i)
        for t in trips:
            for site, units in t.stops:
                left[site] -= self.scenario.weight_t(units)
        short = [site for site, w in left.items() if w > 1e-6]
        screened = screen_visits(p) if short else {}
        return {site: DROP_REASONS.get(drop_reason(p, first[site], screened), "routing") for site in sorted(short)}

    def value(self, result: RoutingResult) -> float:
        """Severity-weighted tonnes a result routes (what decides between search and warm start)."""
        severity = {x.id: x.severity for x in self.scenario.sites}
        total = 0.0
        for r in result.routes:
            for node in r:
                if 0 < node < self.first_reload:
                    c = self.chunks[node - 1]
                    total += severity[c.site] * c.weight_t
        return total

    # -- reading back --
    def trips(self, result: RoutingResult) -> list[_Trip]:
        """The solver's routes as trips on real road paths with real (earliest) times.

        A vehicle's route splits into trips at its reload nodes; trip k + 1 leaves when the
        solver has the vehicle back at the depot, so the real (never later) walk of trip k is
        back before trip k + 1 leaves.
        """
        out: list[_Trip] = []
        for v, route in enumerate(result.routes):
            if not route:
                continue
            segments: list[tuple[float, list[int]]] = [(result.start_times[v] / TIME_SCALE, [])]
            for node, arrive in zip(route, result.arrivals[v]):
                if node >= self.first_reload:
                    segments.append((arrive / TIME_SCALE, []))
                else:
                    segments[-1][1].append(node)
            out.extend(self._vehicle_trips(v, segments))
        return out

    def _vehicle_trips(self, v: int, segments: Sequence[tuple[float, list[int]]]) -> list[_Trip]:
        """Vehicle ``v``'s trips from ``(departure h, chunk nodes)`` segments, chained in order,
        each on real road paths with its earliest times."""
        s, depot = self.scenario, self.depot
        sites = s.node_by_id
        f, unit = self.vehicles[v]
        legs = self.legs[(f.capacity_t, _escortable(s, f))]
        chain: list[_Trip] = []
        for depart, nodes in segments:
            if not nodes:
                continue
            stops: list[tuple[str, dict[str, float]]] = []
            for node in nodes:
                chunk = self.chunks[node - 1]
                if stops and stops[-1][0] == chunk.site:
                    merged = stops[-1][1]
                    for c, u in chunk.units.items():
                        merged[c] = merged.get(c, 0.0) + u
                else:
                    stops.append((chunk.site, dict(chunk.units)))
            places = [depot, *(site for site, _ in stops), depot]
            paths = [legs.path(a, b) for a, b in zip(places, places[1:])]
            trip = _Trip(f.id, f.organization, depot, unit, len(chain), stops, paths, depart,  # type: ignore[arg-type]
                         horizon_h=s.horizon_h)
            _walk(trip, sites)
            chain.append(trip)
        for a, b in zip(chain, chain[1:]):
            a.next, b.prev = b, a
        return chain

    def drops(self, result: RoutingResult) -> dict[str, str]:
        """Sites with a dropped chunk → the informative reason."""
        out: dict[str, str] = {}
        for node in result.dropped:
            if node == 0:
                continue
            site = self.chunks[node - 1].site
            out.setdefault(site, DROP_REASONS.get(result.drop_reasons.get(node, "search"), "routing"))
        return out


def _trips_value(scenario: Scenario, trips: Sequence[_Trip]) -> float:
    """Severity-weighted tonnes the trips carry (the measure :meth:`_DepotProblem.value` uses)."""
    severity = {x.id: x.severity for x in scenario.sites}
    return sum(severity[site] * scenario.weight_t(units) for t in trips for site, units in t.stops)


def _profiles(dp: "_DepotProblem") -> int:
    return len({(f.capacity_t, _escortable(dp.scenario, f)) for f in dp.types})


def _legs_seconds(dp: "_DepotProblem") -> float:
    """Estimated seconds to build a depot's full leg paths (one Dijkstra per place)."""
    places = 1 + len({c.site for c in dp.chunks})
    return LEGS_S_PER_CELL * places * len(dp.scenario.nodes) * _profiles(dp)


def _model_seconds(dp: "_DepotProblem") -> float:
    """Estimated seconds for OR-Tools to build the model of a depot's problem and read the warm
    start (matrices of nodes^2 per profile), from the built problem when there is one."""
    if dp.problem is not None:
        n = dp.problem.num_nodes
    else:
        n = 1 + len(dp.chunks) + min(RELOAD_BUDGET, len(dp.chunks))
    return MODEL_S_PER_CELL * n * n * max(1.0, _profiles(dp) / 2)


def _reject_reason(modes: Sequence[str]) -> str:
    """Why no vehicle type of a depot may serve a site (informative; checked claims come later)."""
    if "escorted" in modes or "too_risky" in modes:
        return "escorts"
    if "too_far" in modes:
        return "horizon"
    return "fleet"


def _walk(trip: _Trip, sites: Mapping[str, Any]) -> bool:
    """Set the trip's earliest arrivals and return from its ``depart_h`` (FORMAT.md §3.5).

    Returns whether every window and the latest return hold.
    """
    t = trip.depart_h
    ok = True
    trip.arrive_h = []
    for (site, _), leg in zip(trip.stops, trip.legs):
        t += leg.hours
        x = sites[site]
        if x.window is not None:
            t = max(t, x.window[0])
            ok = ok and within(t, x.window[1])
        trip.arrive_h.append(t)
        t += x.service_h
    t += trip.legs[-1].hours
    trip.return_h = t
    return ok


# ----- after the search ----------------------------------------------------------------------------
def _repath_risky(scenario: Scenario, network: RoadNetwork, trips: list[_Trip],
                  safe_legs: _SafeLegs | None = None) -> list[tuple[_Trip, str]]:
    """Re-path trips above ``risk_threshold`` on least-risk legs when times allow.

    An escort is the last resort: when least-risk legs through the same stops are safe enough,
    the trip takes them. If they are safe but break a window or the vehicle's next departure,
    an organization under ``last_resort`` may not be escorted either: the trip is dropped.
    Returns the dropped trips with a reason.
    """
    threshold = scenario.policy.risk_threshold
    sites = {x.id: x for x in scenario.sites}
    fleet = scenario.fleet_by_id
    dropped: list[tuple[_Trip, str]] = []
    for trip in trips:
        if within(risk_from_weight(trip.risk_weight), threshold):
            continue
        usability = Usability(vehicle_weight_t=fleet[trip.fleet].capacity_t)
        places = [trip.depot, *(site for site, _ in trip.stops), trip.depot]
        safe_legs = safe_legs or _SafeLegs(network)
        safe = [safe_legs.path(trip.depot, a, b, usability) for a, b in zip(places, places[1:])]
        if any(p is None for p in safe):
            continue
        safe_w = sum(p.risk_weight for p in safe)  # type: ignore[union-attr]
        if not within(risk_from_weight(safe_w), threshold):
            continue  # no safe path through these stops: the escort is the last resort
        old = (trip.legs, trip.arrive_h, trip.return_h)
        trip.legs = safe  # type: ignore[assignment]
        ok = _walk(trip, sites) and within(trip.return_h, trip.latest_return_h)
        if not ok:
            # leave earlier if the vehicle is free earlier
            shift = trip.return_h - trip.latest_return_h
            if shift > 0 and trip.depart_h - shift >= trip.earliest_depart_h - 1e-9:
                trip.depart_h -= shift
                ok = _walk(trip, sites) and within(trip.return_h, trip.latest_return_h)
        if ok:
            continue
        trip.legs, trip.arrive_h, trip.return_h = old
        if scenario.organization_by_id[trip.organization].escort_policy == "last_resort":
            dropped.append((trip, "horizon"))
    return dropped


def _depart_range(trip: _Trip, sites: Mapping[str, Any]) -> tuple[float, float]:
    """``[lo, hi]``: departures that keep the trip's windows, its vehicle's other trips and the
    horizon (departing earlier never breaks a window: the convoy waits for it to open)."""
    lo = trip.earliest_depart_h
    keep = (trip.depart_h, list(trip.arrive_h), trip.return_h)
    lo_ok, hi_ok = lo, trip.depart_h
    top = trip.latest_return_h
    trip.depart_h = top
    if _walk(trip, sites) and within(trip.return_h, top):
        hi_ok = top
    else:
        bad = top
        for _ in range(40):
            mid = (hi_ok + bad) / 2
            trip.depart_h = mid
            if _walk(trip, sites) and within(trip.return_h, trip.latest_return_h):
                hi_ok = mid
            else:
                bad = mid
            if bad - hi_ok < 1e-7:
                break
    trip.depart_h, trip.arrive_h, trip.return_h = keep[0], keep[1], keep[2]
    return lo_ok, hi_ok


def _synchronize(scenario: Scenario, trips: list[_Trip]) -> None:
    """Align trips that share organization, depot, path and stops onto one departure time, so
    they merge into one convoy (one escort for all of them instead of one each).

    Each trip moves only within its own feasible departure range (windows, horizon, its
    vehicle's previous and next trips), so every time rule still holds afterwards.
    """
    sites = {x.id: x for x in scenario.sites}
    fleet = scenario.fleet_by_id
    families: dict[tuple, list[_Trip]] = defaultdict(list)
    for trip in trips:
        key = (trip.organization, trip.depot, fleet[trip.fleet].military, trip.path,
               tuple(site for site, _ in trip.stops))
        families[key].append(trip)
    for key in sorted(families, key=repr):
        left = sorted(families[key], key=lambda t: (t.depart_h, t.fleet, t.unit, t.trip))
        while len(left) > 1:
            ranges = {id(t): _depart_range(t, sites) for t in left}
            left.sort(key=lambda t: (ranges[id(t)][0], t.fleet, t.unit, t.trip))
            seed_trip = left[0]
            lo, hi = ranges[id(seed_trip)]
            group = [seed_trip]
            units = {(seed_trip.fleet, seed_trip.unit)}
            for t in left[1:]:
                t_lo, t_hi = ranges[id(t)]
                if (t.fleet, t.unit) in units or max(lo, t_lo) > min(hi, t_hi) + 1e-9:
                    continue
                lo, hi = max(lo, t_lo), min(hi, t_hi)
                group.append(t)
                units.add((t.fleet, t.unit))
            if len(group) > 1:
                at = min(max(lo, min(t.depart_h for t in group)), hi)
                for t in group:
                    t.depart_h = at
                    _walk(t, sites)
            left = [t for t in left if t not in group]


def _military_last_resort(scenario: Scenario, trips: list[_Trip]) -> list[tuple[_Trip, str]]:
    """Keep a military trip under ``last_resort`` only while every civilian vehicle of its
    organization at its depot is busy when it departs (moving its departure later if that
    helps and its times allow); drop the others with reason ``fleet``."""
    orgs = scenario.organization_by_id
    fleet = scenario.fleet_by_id
    sites = {x.id: x for x in scenario.sites}
    dropped: list[tuple[_Trip, str]] = []
    military = [t for t in trips if fleet[t.fleet].military and orgs[t.organization].military_assets == "last_resort"]
    civilian = [t for t in trips if not fleet[t.fleet].military]
    for trip in sorted(military, key=lambda t: (t.depart_h, t.fleet, t.unit, t.trip)):
        types = [f for f in scenario.fleet if f.organization == trip.organization and f.depot == trip.depot and not f.military]
        mine = [t for t in civilian if t.organization == trip.organization and t.depot == trip.depot]

        def all_busy(at: float) -> bool:
            for f in types:
                busy = sum(1 for t in mine if t.fleet == f.id and t.depart_h <= at and not within(t.return_h, at))
                if busy < f.count:
                    return False
            return True

        if all_busy(trip.depart_h):
            continue
        old = (trip.depart_h, trip.arrive_h, trip.return_h)
        moved = False
        # "all busy" can only start at a civilian departure: try those within the trip's slack,
        # nearest first
        lo, hi = _depart_range(trip, sites)
        near = sorted({t.depart_h for t in mine if lo <= t.depart_h <= hi}, key=lambda at: (abs(at - old[0]), at))
        for at in near:
            trip.depart_h = at
            if all_busy(at) and _walk(trip, sites) and within(trip.return_h, trip.latest_return_h):
                moved = True
                break
        if not moved:
            trip.depart_h, trip.arrive_h, trip.return_h = old
            dropped.append((trip, "fleet"))
    return dropped


def _convoys(scenario: Scenario, trips: list[_Trip]) -> list[Convoy]:
    """Trips with the same organization, depot, path, stops and times move together: one convoy."""
    fleet = scenario.fleet_by_id
    groups: dict[tuple, list[_Trip]] = {}
    for trip in sorted(trips, key=lambda t: (t.depart_h, t.depot, t.organization, t.fleet, t.unit, t.trip)):
        key = (
            trip.organization,
            trip.depot,
            fleet[trip.fleet].military,
            trip.path,
            tuple(site for site, _ in trip.stops),
            round(trip.depart_h, 9),
            tuple(round(a, 9) for a in trip.arrive_h),
            round(trip.return_h, 9),
        )
        groups.setdefault(key, []).append(trip)
    convoys = []
    for number, members in enumerate(groups.values(), start=1):
        first = members[0]
        vehicles: dict[str, int] = defaultdict(int)
        unloads: list[dict[str, float]] = [defaultdict(float) for _ in first.stops]
        for t in members:
            vehicles[t.fleet] += 1
            for i, (_, unload) in enumerate(t.stops):
                for c, u in unload.items():
                    unloads[i][c] += u
        stops = tuple(
            Stop(site=site, arrive_h=arrive, unload=dict(sorted(unloads[i].items())))
            for i, ((site, _), arrive) in enumerate(zip(first.stops, first.arrive_h))
        )
        convoys.append(
            Convoy(
                id=f"R{number:04d}",
                organization=first.organization,
                depot=first.depot,
                vehicles=dict(sorted(vehicles.items())),
                path=first.path,
                depart_h=first.depart_h,
                stops=stops,
                return_h=first.return_h,
                escort=None,
            )
        )
    return convoys


def _unmet(scenario: Scenario, facts: AccessFacts, convoys: Sequence[Convoy], reasons: Mapping[str, str],
           allocation: Any, claims: Mapping[str, str | None]) -> list[UnmetClaim]:
    """Every site short of its need, with a reason: a checked claim when it holds, else the cause
    seen on the way (dropped by the router, clipped for stock), else why the allocation fell short."""
    s = scenario
    delivered: dict[str, float] = defaultdict(float)
    for c in convoys:
        for stop in c.stops:
            delivered[stop.site] += s.weight_t(stop.unload)
    stock_short = _stock_short(s)
    out = []
    for site in s.sites:
        need = s.weight_t(site.need)
        if within(need, delivered[site.id]):
            continue
        reason = claims.get(site.id)
        if reason is None:
            reason = reasons.get(site.id)
        if reason is None:
            reason = _allocation_reason(s, facts, site.id, allocation, stock_short)
        out.append(UnmetClaim(site=site.id, reason=reason))
    return out


def _dropped_deliveries(scenario: Scenario, demand: Mapping[tuple[str, str], Mapping[str, float]],
                        convoys: Sequence[Convoy], reasons: Mapping[str, str],
                        claims: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Allocated deliveries (depot, site) not (fully) routed: the units left and why."""
    moved: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in convoys:
        for stop in c.stops:
            for commodity, units in stop.unload.items():
                moved[(c.depot, stop.site)][commodity] += units
    out = []
    for (depot, site), units in sorted(demand.items()):
        left = {c: u - moved[(depot, site)][c] for c, u in sorted(units.items())}
        left = {c: u for c, u in left.items() if not within(u, 0.0)}
        if left:
            out.append({"depot": depot, "site": site, "units": left,
                        "reason": claims.get(site) or reasons.get(site, "routing")})
    return out


def _stock_short(scenario: Scenario) -> set[str]:
    """Commodities whose total stock at serving depots is below total need."""
    s = scenario
    stock: dict[str, float] = defaultdict(float)
    for d in s.depots:
        for c, u in d.stock.items():
            stock[c] += u
    need: dict[str, float] = defaultdict(float)
    for x in s.sites:
        for c, u in x.need.items():
            need[c] += u
    return {c for c in need if stock[c] < need[c] - 1e-9}


def _allocation_reason(scenario: Scenario, facts: AccessFacts, site: str, allocation: Any, stock_short: set[str]) -> str:
    """Why a site the router was never asked to serve in full is short: what the allocation says,
    else ``stock`` (a commodity it needs is short overall), ``escorts`` (reachable only under
    escort), else ``fleet`` (the distribution's transport capacity is what else limits it).
    The informative vocabulary is shared with the planner: fleet, horizon, stock, escorts, routing."""
    inaccessible = getattr(allocation, "inaccessible", None) or {}
    if site in inaccessible and inaccessible[site] not in CHECKED_REASONS:
        return str(inaccessible[site])
    needs = scenario.node(site).need  # type: ignore[union-attr]
    if any(c in stock_short for c, u in needs.items() if u > 0):
        return "stock"
    modes = [facts.mode(d, site) for d in facts.serving_depots]
    if modes and "unescorted" not in modes and "escorted" in modes:
        return "escorts"
    return "fleet"


def _ortools_version() -> str:
    try:
        return version("ortools")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


# ----- the entry point -------------------------------------------------------------------------------
def route(
    scenario: Scenario,
    allocation: Any,
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    deterministic: bool = False,
    network: RoadNetwork | None = None,
    escort_credit: bool = False,
) -> Plan:
    """Route an allocation into convoys (escorts not yet assigned) on OR-Tools.

    Parameters
    ----------
    scenario : the scenario the allocation answers.
    allocation : an object with ``.rows()`` (see :func:`allocate.distribute.distribute`) or an
        iterable of rows ``{depot, site, commodity, units}``.
    time_limit : seconds for the whole call (path building, every depot's search, read-back).
    seed : passed to the engine (OR-Tools has no seed: a non-zero one permutes its node order).
    deterministic : add a solution limit so that the same seed gives the same routes, as long
        as the time limit does not cut in first (``plan.solver.stopped_by`` says which did).
    network : a shared :class:`RoadNetwork` (its path caches are reused).
    escort_credit : cap the unescorted risk of trips that may take an escort at what the best
        admissible escort brings within ``max_risk`` (instead of ``max_risk`` itself). Serves
        sites whose least-risk route is above ``max_risk`` unescorted but not escorted; such
        convoys then also fail ``RISK_MAX`` until :func:`allocate.escorts.assign_escorts` gives
        them an escort effective enough.

    Returns
    -------
    Plan
        Convoys with ``escort`` None; ``unmet`` lists every site left short of its need, with a
        checked reason (``no_path``, ``too_far``, ``too_risky``) when that claim holds, else an
        informative one (``fleet``, ``horizon``, ``stock``, ``escorts``, ``routing``). A convoy
        whose route risk is above ``risk_threshold`` needs an escort (``needs_escort`` True).
        ``solver`` records ``seed``, ``time_limit``, ``status`` (``time_limit`` when the clock
        ended a search or left a depot unsearched), ``stopped_by`` (``time``, ``solutions``,
        ``local_optimum``, or ``none`` when no search ran or found anything),
        ``deterministic``, ``dropped`` (every allocated delivery not routed: depot, site, units
        left, reason), ``warm_start_depots`` (depots whose convoys are the greedy warm start:
        the search found nothing better, or did not run), ``unsearched_depots`` (not handed to
        OR-Tools: no time left for their model), ``note`` and ``phase_seconds``.
    """
    require_seed(seed)
    started = time.perf_counter()
    s = scenario
    network = network or RoadNetwork(s)
    facts = AccessFacts(s, network)
    demand, clipped = _demands(s, _allocation_rows(allocation))
    # checked claims of every site, before the search: they are road facts, and the search
    # gets whatever time is left after them
    claims = {x.id: facts.unreachable_reason(x.id) for x in s.sites}
    reasons: dict[str, str] = {site: "stock" for site in clipped}

    by_depot: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (depot, site), units in sorted(demand.items()):
        if claims[site] is not None:
            continue  # a checked claim holds: serving it would be CLAIM_SERVED
        by_depot[depot][site] = units

    # depot problems are built one at a time in the search loop (and freed after it): at a
    # few thousand sites, all of them at once would hold gigabytes of matrices
    problems: list[_DepotProblem] = []
    safe_legs = _SafeLegs(network)
    for depot in sorted(by_depot):
        dp = _DepotProblem(s, network, facts, depot, by_depot[depot], escort_credit, build=False, safe=safe_legs)
        for site, why in dp.rejected.items():
            reasons.setdefault(site, why)
        if dp.chunks and dp.types:
            problems.append(dp)
    # the largest problems are searched first: a search that ends late (OVERSHOOT_PER_MODEL_S)
    # then takes from the shares of those after it, and the last, whose room is kept back, is small
    problems.sort(key=lambda dp: -dp.size)

    stats = _SearchStats(problems=len(problems))
    trips: list[_Trip] = []
    stopped: list[str] = []
    warm_depots: list[str] = []  # depots whose plan is the greedy warm start
    unsearched: list[str] = []  # depots not handed to OR-Tools at all (no time for the model)
    prepared = time.perf_counter()
    def search_share(i: int, dp: _DepotProblem) -> float:
        """Depot ``i``'s share of the time left, less the room kept for a search ending late."""
        left = max(0.0, time_limit * 0.92 - (time.perf_counter() - started))  # a little kept for the plan
        return min(left * dp.size / sum(p.size for p in problems[i:]), left - OVERSHOOT_PER_MODEL_S * _model_seconds(dp))

    for i, dp in enumerate(problems):
        # full leg paths (one Dijkstra per place) only when they and a search fit this
        # problem's share of the time left; else the depot's legs only, for the warm start
        searchable = SEARCH and search_share(i, dp) >= _legs_seconds(dp) + _model_seconds(dp) + MIN_SEARCH_S
        dp.build(hub_only=not searchable)
        for site, why in dp.rejected.items():
            reasons.setdefault(site, why)
        if dp.problem is None:
            continue
        budget = max(0.05, search_share(i, dp))
        result: RoutingResult | None = None
        if searchable and budget >= _model_seconds(dp) + MIN_SEARCH_S:
            warm_routes = dp.greedy_routes()
            params = SearchParams(
                time_limit=budget,
                solution_limit=DETERMINISTIC_SOLUTIONS if deterministic else None,
                seed=seed,
                first_solution=FIRST_SOLUTION,
                initial_routes=warm_routes if WARM_START else None,
            )
            t0 = time.perf_counter()
            result = solve_ortools(dp.problem, params)
            if result.status == "no_solution":
                # no first solution: the clock (or an engine error) ended it
                stopped.append("time" if time.perf_counter() - t0 >= 0.9 * budget else "none")
            else:
                stopped.append(result.stopped_by)
            if result.status == "no_solution":
                result = None
        else:
            unsearched.append(dp.depot)
            if SEARCH:
                stopped.append("time")
        # the floor: greedy trips without the reload-node limit, kept when they carry more
        greedy = dp.greedy_trips()
        if result is not None and dp.value(result) < _trips_value(s, greedy) - 1e-9:
            result = None
        stats.vehicles += dp.problem.num_vehicles
        stats.visits += len(dp.problem.visits)
        if result is None:
            warm_depots.append(dp.depot)
            depot_trips = greedy
            short = dp.greedy_drops(greedy)
            stats.dropped_visits += len(short)
            for site, why in short.items():
                reasons.setdefault(site, why)
        else:
            depot_trips = dp.trips(result)
            stats.dropped_visits += len(result.dropped)
            stats.objective += float(result.cost)
            for site, why in dp.drops(result).items():
                reasons.setdefault(site, why)
        trips.extend(depot_trips)
        dp.release()

    def drop(failed: list[tuple[_Trip, str]]) -> None:
        for trip, why in failed:
            if trip in trips:
                trips.remove(trip)
                trip.unlink()
                for site, _ in trip.stops:
                    reasons.setdefault(site, why)

    searched = time.perf_counter()
    drop(_repath_risky(s, network, trips, safe_legs))
    _synchronize(s, trips)
    drop(_military_last_resort(s, trips))
    convoys = _convoys(s, trips)
    threshold = s.policy.risk_threshold
    convoys = [
        c.model_copy(update={"needs_escort": not within(network.measure(c.path).risk, threshold)}) for c in convoys
    ]
    unmet = _unmet(s, facts, convoys, reasons, allocation, claims)
    dropped = _dropped_deliveries(s, demand, convoys, reasons, claims)

    if "time" in stopped:
        stats.stopped_by, stats.status = "time", "time_limit"
    elif "solutions" in stopped:
        stats.stopped_by, stats.status = "solutions", "feasible"
    elif "local_optimum" in stopped:
        stats.stopped_by, stats.status = "local_optimum", "feasible"
    elif problems:
        stats.stopped_by, stats.status = "none", "feasible"  # no search ran (or found anything)
    note = ""
    if warm_depots:
        note = f"greedy warm start used for depot(s) {', '.join(warm_depots)}"
        if unsearched:
            note += f"; not searched (no time left for the model): {', '.join(unsearched)}"
    solver = SolverInfo(
        status=stats.status,  # type: ignore[arg-type]
        objective=stats.objective / KM_SCALE if problems else 0.0,
        bound=None,
        seconds=time.perf_counter() - started,
        seed=seed,
        version=f"allocate routing / ortools {_ortools_version()}",
        time_limit=time_limit,
        stopped_by=stats.stopped_by,
        deterministic=deterministic,
        backend="ortools",
        vehicles=stats.vehicles,
        visits=stats.visits,
        dropped_visits=stats.dropped_visits,
        dropped=dropped,
        warm_start_depots=warm_depots,
        unsearched_depots=unsearched,
        note=note,
        phase_seconds={
            "prepare": round(prepared - started, 3),
            "search": round(searched - prepared, 3),
            "finish": round(time.perf_counter() - searched, 3),
        },
    )
    return Plan.build(s, convoys, unmet, solver, network)
