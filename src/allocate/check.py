"""The independent checker: every rule of FORMAT.md §3, each breach a coded violation.

``check(scenario, plan)`` re-derives everything from the scenario and the plan, and imports no
solver module (no ortools, pulp, highspy, pyvrp, nor allocate's distribute/routing/escorts/
planner): a plan is trusted only as far as this module can verify it. Road usability comes from
:class:`~allocate.network.RoadNetwork` and unmet claims from :class:`~allocate.access.AccessFacts`,
which state FORMAT.md's road and claim rules once for the whole library.

Each rule family is one short function yielding :class:`Violation` s; what several rules need
about a convoy (the vehicle types it really uses, where its stops sit on its path, the roads
along it, its clock, its route risk) is worked out once in :class:`_Context`.

Speed (a 10,000-convoy plan): road facts are computed once per distinct path; least distances
come from scipy's compiled Dijkstra, many sources per call, behind the ``RoadNetwork`` API
(:class:`_FastNetwork`, tested to answer as networkx does); busy counts are an O(n log n) event
sweep; and the network is kept per scenario object, so a repair loop re-checking edited plans of
one scenario grows each tree once. ``benchmarks/bench_check.py`` measures it.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_right
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate, chain
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from allocate.access import AccessFacts, within
from allocate.network import ESCORT_ROADS, Distances, RoadNetwork, Usability, Weight, risk_from_weight
from allocate.network import Path as RoadPath
from allocate.plan import CHECKED_REASONS, METRIC_NAMES, Convoy, Coverage, Plan, compute_metrics
from allocate.scenario import Depot, EscortUnit, FleetType, Scenario, Site

__all__ = ["Report", "Violation", "check", "RULE_CODES"]

RULE_CODES: dict[str, tuple[str, ...]] = {
    "references": ("REF",),
    "path": ("PATH", "PATH_CLOSED", "PATH_DENIED", "PATH_WEIGHT", "PATH_ENDS", "STOP_ORDER"),
    "vehicles": ("VEHICLE_ORG", "VEHICLE_DEPOT", "MIXED_FLEET", "LOAD_WEIGHT", "LOAD_VOLUME"),
    "stock and need": ("STOCK", "NEED"),
    "time": (
        "TIME_DEPART", "TIME_ARRIVAL", "TIME_WINDOW", "TIME_RETURN", "HORIZON",
        "FLEET_BUSY", "ESCORT_BUSY", "ESCORT_POSITION",
    ),
    "security": (
        "RISK_MAX", "RISK_UNESCORTED", "ESCORT_CONSENT", "ESCORT_LAST_RESORT", "MILITARY_CONSENT",
        "MILITARY_LAST_RESORT", "PARTY_ESCORT", "CLAIM", "CLAIM_SERVED",
    ),
    "coverage": ("MIN_COVERAGE", "PARITY", "UNLISTED", "METRIC"),
}
"""FORMAT.md's violation codes, by rule (§3 and its code table)."""


# ----- tolerance (FORMAT.md §3) ------------------------------------------------------------
def _tol(bound: float) -> float:
    return 1e-6 * max(1.0, abs(bound))


def at_least(x: float, bound: float) -> bool:
    """``x >= bound`` within the tolerance: the mirror of :func:`~allocate.access.within`."""
    return x >= bound - _tol(bound)


def same(x: float, bound: float) -> bool:
    """``x == bound`` within the tolerance (a reported metric against its recomputation)."""
    return abs(x - bound) <= _tol(bound)


def _finite(x: float | None) -> float | None:
    """Numbers in a report must be JSON numbers: an infinite measure is reported as None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ----- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    """One breach of a rule: its FORMAT.md code, what it is about, and the numbers."""

    code: str
    subject: str
    message: str
    measured: float | None = None
    allowed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "subject": self.subject,
            "message": self.message,
            "measured": _finite(self.measured),
            "allowed": _finite(self.allowed),
        }


@dataclass(frozen=True)
class Report:
    """What checking a plan found: the violations and the recomputed §3.7 metrics."""

    violations: tuple[Violation, ...]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def codes(self) -> set[str]:
        return {v.code for v in self.violations}

    def summary(self) -> str:
        """A few lines for a human: verdict, then one line per violation."""
        if self.ok:
            return "plan OK: no rule of FORMAT.md §3 is broken"
        lines = [f"{len(self.violations)} violation(s): {', '.join(sorted(self.codes))}"]
        for v in self.violations:
            numbers = ""
            if v.measured is not None or v.allowed is not None:
                numbers = f" (measured {_fmt(v.measured)}, allowed {_fmt(v.allowed)})"
            lines.append(f"  {v.code:<20} {v.subject}: {v.message}{numbers}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The ``allocate check --json`` object of FORMAT.md §4."""
        return {
            "ok": self.ok,
            "violations": [v.to_dict() for v in self.violations],
            "metrics": {k: _finite(v) if isinstance(v, float) else v for k, v in self.metrics.items()},
        }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


# ----- least distances, many sources at once ----------------------------------------------
@dataclass(frozen=True)
class _PathRoads:
    """The roads along one path (§3.2), whoever drives it; leg ``i`` joins positions i and i+1."""

    cum_h: np.ndarray  # road hours from the start to each position (a missing road adds 0)
    missing: tuple[int, ...]  # legs without a road drivable in that direction
    closed: tuple[int, ...]
    denied: tuple[int, ...]  # legs with an end in a denied zone
    limited: tuple[tuple[int, float], ...]  # (leg, max_weight_t) of weight-limited roads


def _by_path(mask: np.ndarray, leg_off: np.ndarray) -> dict[int, tuple[int, ...]]:
    """``{path: (leg within the path, ...)}`` of the legs ``mask`` marks (few, usually none)."""
    legs = np.flatnonzero(mask)
    owner = np.searchsorted(leg_off, legs, side="right") - 1
    out: dict[int, list[int]] = {}
    for path_i, leg_i in zip(owner.tolist(), (legs - leg_off[owner]).tolist()):
        out.setdefault(path_i, []).append(leg_i)
    return {k: tuple(v) for k, v in out.items()}


class _IndexOrMinusOne(dict):
    """Node index, -1 for an unknown node (a REF, found elsewhere), read at C speed by ``map``."""

    def __missing__(self, key: str) -> int:
        return -1


class _FastNetwork(RoadNetwork):
    """The scenario's :class:`RoadNetwork` with least distances from scipy's compiled Dijkstra.

    Same roads and usability rules (it reads :meth:`RoadNetwork.road_usable`), same answers, but
    a whole batch of sources costs one call and a distance row is a numpy array, not a dict:
    a 10,000-convoy check needs hundreds of trees, which networkx takes a minute to grow.
    """

    def __init__(self, scenario: Scenario):
        super().__init__(scenario)
        self._rows: dict[tuple, np.ndarray] = {}
        self._matrices: dict[tuple, csr_matrix] = {}
        self._usable: dict[Usability, np.ndarray] = {}
        self._measured: dict[tuple[tuple[str, ...], float], RoadPath] = {}
        self.batch_with: tuple[str, ...] = ()  # sources to grow along with any missed tree

    @cached_property
    def index(self) -> dict[str, int]:
        return {n.id: i for i, n in enumerate(self.scenario.nodes)}

    @cached_property
    def _arcs(self) -> dict[str, np.ndarray]:
        """Every drivable direction of every road as arrays: ends, km, hours, risk, usability facts."""
        pairs = list(self.directed_roads.items())
        return {
            "a": np.array([self.index[a] for (a, _), _ in pairs], dtype=np.int64),
            "b": np.array([self.index[b] for (_, b), _ in pairs], dtype=np.int64),
            "km": np.array([r.km for _, r in pairs], dtype=float),
            "hours": np.array([r.hours for _, r in pairs], dtype=float),
            "risk": np.array([r.risk for _, r in pairs], dtype=float),
            "closed": np.array([r.closed for _, r in pairs], dtype=bool),
            "denied": np.array([self.scenario.is_denied(r.a) or self.scenario.is_denied(r.b) for _, r in pairs], dtype=bool),
            "max_weight_t": np.array([math.inf if r.max_weight_t is None else r.max_weight_t for _, r in pairs], dtype=float),
        }

    @cached_property
    def _arc_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """Arc keys ``a·n + b`` sorted, and the arc each sorted key belongs to."""
        keys = self._arcs["a"] * len(self.index) + self._arcs["b"]
        order = np.argsort(keys)
        return keys[order], order

    def _legs_of(self, paths: Sequence[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every traversal of every path: whether a drivable road exists, and which arc.

        Returns ``(found, arc, leg_off)``; the legs of path ``i`` are ``leg_off[i]:leg_off[i+1]``.
        """
        lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
        lookup = _IndexOrMinusOne(self.index)  # an unknown node is -1: a REF, and no road
        flat = np.fromiter(map(lookup.__getitem__, chain.from_iterable(paths)), dtype=np.int64, count=int(lengths.sum()))
        leg_off = np.concatenate(([0], np.cumsum(np.maximum(lengths - 1, 0))))
        within_path = np.ones(max(len(flat) - 1, 0), dtype=bool)  # drop pairs spanning two paths
        last = (np.cumsum(lengths) - 1)[lengths > 0]
        within_path[last[last < len(within_path)]] = False
        src, dst = flat[:-1][within_path], flat[1:][within_path]
        sorted_keys, order = self._arc_lookup
        if not len(sorted_keys):  # a scenario without roads
            return np.zeros(len(src), bool), np.zeros(len(src), np.int64), leg_off
        key = src * len(self.index) + dst
        at = np.minimum(np.searchsorted(sorted_keys, key), len(sorted_keys) - 1)
        return (src >= 0) & (dst >= 0) & (sorted_keys[at] == key), order[at], leg_off

    def walk_paths(self, paths: Sequence[tuple[str, ...]], effs: Sequence[float]) -> list[_PathRoads]:
        """The roads along every path at once (numpy over all traversals), and each path's
        measure under its escort ``effs[i]``, remembered for :meth:`measure` (the metrics)."""
        found, arc, leg_off = self._legs_of(paths)
        arcs = self._arcs

        def per_leg(name: str, missing: float = 0.0) -> np.ndarray:
            values = arcs[name][arc] if len(arcs[name]) else np.zeros(len(arc))
            return np.where(found, values, missing)

        def per_path(values: np.ndarray) -> np.ndarray:
            c = np.concatenate(([0.0], np.cumsum(values)))
            return c[leg_off[1:]] - c[leg_off[:-1]]

        hours, km, risk, limit = per_leg("hours"), per_leg("km"), per_leg("risk"), per_leg("max_weight_t", math.inf)
        m = np.repeat(1.0 - np.asarray(effs, dtype=float), np.diff(leg_off))
        km_p, h_p, w0_p, w_p = per_path(km), per_path(hours), per_path(-np.log1p(-risk)), per_path(-np.log1p(-risk * m))
        cum_h = np.concatenate(([0.0], np.cumsum(hours)))
        missing, closed = _by_path(~found, leg_off), _by_path(per_leg("closed").astype(bool), leg_off)
        denied, limited = _by_path(per_leg("denied").astype(bool), leg_off), _by_path(np.isfinite(limit), leg_off)
        out = []
        for i, path in enumerate(paths):
            off = leg_off[i]
            out.append(_PathRoads(
                cum_h[off:leg_off[i + 1] + 1] - cum_h[off],
                missing.get(i, ()), closed.get(i, ()), denied.get(i, ()),
                tuple((j, float(limit[off + j])) for j in limited.get(i, ())),
            ))
            self._measured[(path, 0.0)] = RoadPath(path, float(km_p[i]), float(h_p[i]), float(w0_p[i]))
            self._measured[(path, effs[i])] = RoadPath(path, float(km_p[i]), float(h_p[i]), float(w_p[i]))
        return out

    def forget_paths(self) -> None:
        """Drop what one plan's paths taught (the road trees stay): memory stays bounded."""
        self._measured.clear()

    def measure(self, nodes: Sequence[str], escort_effectiveness: float = 0.0) -> RoadPath:
        """As :meth:`RoadNetwork.measure`, but remembered per (path, escort): the checker's walk
        fills it, so recomputing the metrics walks no path again."""
        key = (tuple(nodes), escort_effectiveness)
        hit = self._measured.get(key)
        if hit is None:
            hit = self._measured[key] = super().measure(nodes, escort_effectiveness)
        return hit

    def usable(self, usability: Usability) -> np.ndarray:
        """Which arcs :meth:`RoadNetwork.road_usable` admits, as one boolean mask (vectorised)."""
        if usability not in self._usable:
            arcs, s = self._arcs, self.scenario
            keep = ~arcs["closed"] & ~arcs["denied"]
            if usability.vehicle_weight_t is not None:
                limit = arcs["max_weight_t"]
                keep &= usability.vehicle_weight_t <= limit + 1e-6 * np.maximum(1.0, np.abs(limit))  # weight_fits
            party = usability.avoid_opposed_to
            if party is not None:
                hostile = np.array([s.opposed(s.controller_of(n.id), party) for n in s.nodes], dtype=bool)
                keep &= ~(hostile[arcs["a"]] | hostile[arcs["b"]])
            self._usable[usability] = keep
        return self._usable[usability]

    def _matrix(self, weight: Weight, usability: Usability, eff: float, reverse: bool) -> csr_matrix:
        key = (weight, usability, eff, reverse)
        if key not in self._matrices:
            arcs, keep = self._arcs, self.usable(usability)
            data = -np.log1p(-arcs["risk"][keep] * (1.0 - eff)) if weight == "risk" else arcs[weight][keep]
            rows, cols = arcs["a"][keep], arcs["b"][keep]
            if reverse:
                rows, cols = cols, rows
            n = len(self.index)
            # explicit zeros stay edges for csgraph (a road may take 0 h, or carry no risk)
            self._matrices[key] = csr_matrix((data, (rows, cols)), shape=(n, n))
        return self._matrices[key]

    def prefetch(self, sources: Iterable[str], weight: Weight, usability: Usability = ESCORT_ROADS,
                 eff: float = 0.0, reverse: bool = False) -> None:
        """Grow the trees of every source in one compiled call."""
        eff = eff if weight == "risk" else 0.0
        todo = sorted({s for s in sources if s in self.index and (s, weight, usability, eff, reverse) not in self._rows})
        if not todo:
            return
        dist = dijkstra(self._matrix(weight, usability, eff, reverse), directed=True, indices=[self.index[s] for s in todo])
        for s, row in zip(todo, np.atleast_2d(dist)):
            self._rows[(s, weight, usability, eff, reverse)] = row

    def _row(self, node: str, weight: Weight, usability: Usability, eff: float, reverse: bool) -> Mapping[str, float]:
        eff = eff if weight == "risk" else 0.0
        key = (node, weight, usability, eff, reverse)
        if key not in self._rows:  # a tree of this kind is likely wanted from batch_with too
            self.prefetch([node, *self.batch_with], weight, usability, eff, reverse)
        row = self._rows.get(key)
        return {} if row is None else Distances(self.index, row)

    def distances_from(self, source: str, weight: Weight = "hours", usability: Usability = ESCORT_ROADS,
                       escort_effectiveness: float = 0.0) -> Mapping[str, float]:
        return self._row(source, weight, usability, escort_effectiveness, reverse=False)

    def distances_to(self, target: str, weight: Weight = "hours", usability: Usability = ESCORT_ROADS,
                     escort_effectiveness: float = 0.0) -> Mapping[str, float]:
        return self._row(target, weight, usability, escort_effectiveness, reverse=True)


_NETWORKS: OrderedDict[int, tuple[Scenario, _FastNetwork]] = OrderedDict()


def _network_of(scenario: Scenario) -> _FastNetwork:
    """One network per scenario, kept for the last few: a repair loop re-checks the same scenario."""
    hit = _NETWORKS.get(id(scenario))
    if hit is not None and hit[0] is scenario:
        _NETWORKS.move_to_end(id(scenario))
        return hit[1]
    net = _FastNetwork(scenario)
    _NETWORKS[id(scenario)] = (scenario, net)
    while len(_NETWORKS) > 4:
        _NETWORKS.popitem(last=False)
    return net


# ----- shared lookups -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Walk:
    """A convoy's clock along its path (§3.5).

    The clock starts at ``depart_h``, adds each road's hours (a missing road adds none: it is a
    PATH breach, not a delay), and after a matched stop goes on from ``arrive_h + service_h``.
    """

    reach_h: tuple[float | None, ...]  # when the clock reaches each stop (None: unmatched)
    end_h: float  # when the clock reaches the end of the path


@dataclass(frozen=True)
class _ConvoyFacts:
    """What the rules need to know about one convoy, worked out once."""

    convoy: Convoy
    types: tuple[tuple[FleetType, int], ...]  # known fleet types with a positive count
    escort: EscortUnit | None
    stop_positions: tuple[int | None, ...]  # path index of each stop, None when unmatched
    roads: _PathRoads
    walk: _Walk
    risk: float  # §3.6 route risk under its escort
    unloaded: dict[str, float]  # units per commodity over its stops

    @property
    def depot(self) -> str:
        return self.convoy.depot

    @cached_property
    def heaviest_t(self) -> float | None:
        """Largest ``capacity_t`` among its types: a road must carry every one of them."""
        return max((f.capacity_t for f, _ in self.types), default=None)

    @cached_property
    def military(self) -> bool:
        return any(f.military for f, _ in self.types)


class _Context:
    """Lookups shared by the rule functions of one check."""

    def __init__(self, scenario: Scenario, plan: Plan):
        self.scenario = scenario
        self.plan = plan
        self.network = _network_of(scenario)
        self.access = AccessFacts(scenario, self.network)
        self._hostile: dict[str, frozenset[str]] = {}
        self._types: dict[tuple, tuple[tuple[FleetType, int], ...]] = {}
        self.network.forget_paths()
        escorts = self.scenario.escort_by_id
        found = [escorts.get(c.escort) if c.escort is not None else None for c in plan.convoys]
        effs = [e.effectiveness if e else 0.0 for e in found]
        roads = self.network.walk_paths([c.path for c in plan.convoys], effs)
        self.facts = tuple(self._facts(*args) for args in zip(plan.convoys, found, effs, roads))

    def _facts(self, convoy: Convoy, escort: EscortUnit | None, eff: float, roads: _PathRoads) -> _ConvoyFacts:
        vehicles = tuple(convoy.vehicles.items())
        types = self._types.get(vehicles)
        if types is None:  # plans reuse a few vehicle mixes: resolve each once
            fleet = self.scenario.fleet_by_id
            types = self._types[vehicles] = tuple((fleet[f], n) for f, n in vehicles if f in fleet and n > 0)
        positions = _match_stops(convoy)
        risk = risk_from_weight(self.network.measure(convoy.path, eff).risk_weight)
        walk = self._walk(convoy, positions, roads)
        return _ConvoyFacts(convoy, types, escort, positions, roads, walk, risk, convoy.unloaded())

    def _walk(self, convoy: Convoy, positions: tuple[int | None, ...], roads: _PathRoads) -> _Walk:
        """Run the clock from stop to stop on the path's cumulative road hours."""
        nodes, cum = self.scenario.node_by_id, roads.cum_h
        reach: list[float | None] = []
        clock, at = convoy.depart_h, 0
        for stop, pos in zip(convoy.stops, positions):
            if pos is None:
                reach.append(None)
                continue
            clock += float(cum[pos] - cum[at])
            reach.append(clock)
            site = nodes.get(stop.site)
            clock, at = stop.arrive_h + (site.service_h if isinstance(site, Site) else 0.0), pos
        return _Walk(tuple(reach), clock + float(cum[-1] - cum[at]))

    @cached_property
    def civilian_fleet(self) -> dict[tuple[str, str], list[FleetType]]:
        """``(organization, depot) -> [civilian fleet types with vehicles]``."""
        out: dict[tuple[str, str], list[FleetType]] = {}
        for fleet in self.scenario.fleet:
            if not fleet.military and fleet.count >= 1:
                out.setdefault((fleet.organization, fleet.depot), []).append(fleet)
        return out

    def hostile_nodes(self, party: str) -> frozenset[str]:
        """Nodes in zones controlled by a party opposed to ``party`` (cached per party)."""
        if party not in self._hostile:
            s = self.scenario
            self._hostile[party] = frozenset(n.id for n in s.nodes if s.opposed(s.controller_of(n.id), party))
        return self._hostile[party]

    @cached_property
    def delivered(self) -> dict[str, dict[str, float]]:
        """``{node: {commodity: units}}`` over every unload of the plan."""
        return self.plan.delivered()

    def is_depot(self, node: str) -> bool:
        return isinstance(self.scenario.node_by_id.get(node), Depot)

    @cached_property
    def claims(self) -> dict[str, list[tuple[str, bool]]]:
        """``{site: [(reason, holds), ...]}`` for the plan's checked claims on known sites."""
        sites = {s.id for s in self.scenario.sites}
        out: dict[str, list[tuple[str, bool]]] = {}
        self.network.batch_with = self.access.serving_depots  # claims ask the same trees of each
        try:
            for claim in self.plan.unmet:
                if claim.reason in CHECKED_REASONS and claim.site in sites:
                    holds = self.access.claim_holds(claim.site, claim.reason)
                    out.setdefault(claim.site, []).append((claim.reason, holds))
        finally:
            self.network.batch_with = ()
        return out

    @cached_property
    def validly_claimed(self) -> set[str]:
        return {site for site, claims in self.claims.items() if any(holds for _, holds in claims)}

    @cached_property
    def accessible(self) -> set[str]:
        """Sites not validly claimed unmet (FORMAT.md §3.7)."""
        return {s.id for s in self.scenario.sites} - self.validly_claimed

    @cached_property
    def coverage(self) -> dict[str, Coverage]:
        """Delivered and needed weight of every site (§3.7)."""
        s = self.scenario
        return {x.id: Coverage(s.weight_t(_known(s, self.delivered.get(x.id, {}))), s.weight_t(x.need)) for x in s.sites}


def _match_stops(convoy: Convoy) -> tuple[int | None, ...]:
    """§3.2: stop i sits at the first path position after stop i-1's whose node is its site."""
    positions: list[int | None] = []
    after = 0  # position 0 is the departure from the depot
    for stop in convoy.stops:
        try:
            after = convoy.path.index(stop.site, after + 1)
            positions.append(after)
        except ValueError:
            positions.append(None)
    return tuple(positions)


# ----- 1. references ------------------------------------------------------------------------
def _references(ctx: _Context) -> Iterator[Violation]:
    s, plan = ctx.scenario, ctx.plan
    if plan.scenario.name != s.name:
        yield Violation("REF", "plan", f"the plan answers scenario {plan.scenario.name!r}, not {s.name!r}")
    seen: set[str] = set()
    for f in ctx.facts:
        c = f.convoy
        if c.id in seen:
            yield Violation("REF", c.id, f"convoy id {c.id!r} is used by more than one convoy")
        seen.add(c.id)
        for problem in _convoy_references(ctx, c):
            yield Violation("REF", c.id, problem)
        if not c.stops:
            yield Violation("REF", c.id, "the convoy has no stop")
        if not any(n > 0 for n in c.vehicles.values()):
            yield Violation("REF", c.id, "the convoy has no vehicle")
    for claim in plan.unmet:
        if not isinstance(s.node_by_id.get(claim.site), Site):
            yield Violation("REF", claim.site, f"unmet names {claim.site!r}, which is not a site")


def _convoy_references(ctx: _Context, c: Convoy) -> Iterator[str]:
    s = ctx.scenario
    if c.organization not in s.organization_by_id:
        yield f"unknown organization {c.organization!r}"
    if not ctx.is_depot(c.depot):
        yield f"depot {c.depot!r} is not a depot of the scenario"
    for fleet_id in c.vehicles:
        if fleet_id not in s.fleet_by_id:
            yield f"unknown fleet type {fleet_id!r}"
    if c.escort is not None and c.escort not in s.escort_by_id:
        yield f"unknown escort unit {c.escort!r}"
    if not s.node_by_id.keys() >= set(c.path):
        for node in dict.fromkeys(c.path):
            if node not in s.node_by_id:
                yield f"path node {node!r} does not exist"
    for stop in c.stops:
        if not isinstance(s.node_by_id.get(stop.site), Site):
            yield f"stop at {stop.site!r}, which is not a site"
        for commodity in stop.unload:
            if commodity not in s.commodity_by_id:
                yield f"unknown commodity {commodity!r} unloaded at {stop.site!r}"


# ----- 2. path ------------------------------------------------------------------------------
def _paths(ctx: _Context) -> Iterator[Violation]:
    for f in ctx.facts:
        c = f.convoy
        if not c.path or c.path[0] != c.depot or c.path[-1] != c.depot:
            ends = f"{c.path[0]}…{c.path[-1]}" if c.path else "an empty path"
            yield Violation("PATH_ENDS", c.id, f"the path runs {ends}, not from and to depot {c.depot}")
        r = f.roads
        if r.missing or r.closed or r.denied or r.limited:  # most paths: nothing to look at
            yield from _legs(ctx, f)
        if None in f.stop_positions:
            for stop, position in zip(c.stops, f.stop_positions):
                if position is None:
                    yield Violation("STOP_ORDER", c.id, f"stop {stop.site} is not on the path after the previous stop")


def _legs(ctx: _Context, f: _ConvoyFacts) -> Iterator[Violation]:
    """Each consecutive pair of path nodes: a road usable in that direction by every vehicle."""
    c, walk, nodes = f.convoy, f.roads, ctx.scenario.node_by_id

    def leg(i: int) -> str:
        return f"{c.path[i]}-{c.path[i + 1]}"

    for i in walk.missing:
        if c.path[i] in nodes and c.path[i + 1] in nodes:  # an unknown node is a REF
            yield Violation("PATH", c.id, f"no road may be driven from {c.path[i]} to {c.path[i + 1]}")
    for i in walk.closed:
        yield Violation("PATH_CLOSED", c.id, f"the road {leg(i)} is closed")
    for i in walk.denied:
        yield Violation("PATH_DENIED", c.id, f"the road {leg(i)} has an end in a denied zone")
    heaviest = f.heaviest_t
    for i, limit in walk.limited:
        if heaviest is not None and not within(heaviest, limit):
            yield Violation("PATH_WEIGHT", c.id, f"a {heaviest:g} t vehicle on the road {leg(i)} limited to {limit:g} t", heaviest, limit)


# ----- 3. vehicles --------------------------------------------------------------------------
def _vehicles(ctx: _Context) -> Iterator[Violation]:
    s = ctx.scenario
    for f in ctx.facts:
        c = f.convoy
        for fleet, _ in f.types:
            if fleet.organization != c.organization:
                yield Violation("VEHICLE_ORG", c.id, f"fleet type {fleet.id} belongs to {fleet.organization}, not {c.organization}")
            if fleet.depot != c.depot:
                yield Violation("VEHICLE_DEPOT", c.id, f"fleet type {fleet.id} is based at {fleet.depot}, not {c.depot}")
        if len({fleet.military for fleet, _ in f.types}) > 1:
            yield Violation("MIXED_FLEET", c.id, "the convoy mixes military and civilian vehicle types")
        weight = volume = 0.0
        for commodity, units in f.unloaded.items():
            known = s.commodity_by_id.get(commodity)
            if known is not None:  # an unknown commodity is a REF, not a load
                weight += units * known.weight_t
                volume += units * known.volume_m3
        cap_t = sum(n * fleet.capacity_t for fleet, n in f.types)
        cap_m3 = sum(n * fleet.capacity_m3 for fleet, n in f.types)
        if not within(weight, cap_t):
            yield Violation("LOAD_WEIGHT", c.id, f"{weight:g} t unloaded on {cap_t:g} t of capacity", weight, cap_t)
        if not within(volume, cap_m3):
            yield Violation("LOAD_VOLUME", c.id, f"{volume:g} m3 unloaded on {cap_m3:g} m3 of capacity", volume, cap_m3)


def _known(s: Scenario, quantities: Mapping[str, float]) -> dict[str, float]:
    """Quantities of known commodities only (an unknown one is a REF, not a weight)."""
    return {k: v for k, v in quantities.items() if k in s.commodity_by_id}


# ----- 4. stock and need --------------------------------------------------------------------
def _stock_and_need(ctx: _Context) -> Iterator[Violation]:
    s = ctx.scenario
    taken: dict[str, dict[str, float]] = {}
    for f in ctx.facts:
        into = taken.setdefault(f.depot, {})
        for commodity, units in f.unloaded.items():
            into[commodity] = into.get(commodity, 0.0) + units
    for depot_id, units_by in taken.items():
        depot = s.node_by_id.get(depot_id)
        if not isinstance(depot, Depot):
            continue
        for commodity, units in _known(s, units_by).items():
            stock = depot.stock.get(commodity, 0.0)
            if not within(units, stock):
                yield Violation("STOCK", depot_id, f"{units:g} units of {commodity} taken from a stock of {stock:g}", units, stock)
    for site_id, units_by in ctx.delivered.items():
        site = s.node_by_id.get(site_id)
        if not isinstance(site, Site):
            continue
        for commodity, units in _known(s, units_by).items():
            need = site.need.get(commodity, 0.0)
            if not within(units, need):
                yield Violation("NEED", site_id, f"{units:g} units of {commodity} delivered for a need of {need:g}", units, need)


# ----- 5. time ------------------------------------------------------------------------------
def _times(ctx: _Context) -> Iterator[Violation]:
    """Departure, arrivals against the walk and windows, return against the walk and the horizon."""
    s = ctx.scenario
    for f in ctx.facts:
        c = f.convoy
        if not at_least(c.depart_h, 0.0):
            yield Violation("TIME_DEPART", c.id, f"departs at {c.depart_h:g} h, before t = 0", c.depart_h, 0.0)
        for stop, reach in zip(c.stops, f.walk.reach_h):
            if reach is None:
                continue  # an unmatched stop is a STOP_ORDER breach
            if not within(reach, stop.arrive_h):
                yield Violation("TIME_ARRIVAL", c.id, f"arrives at {stop.site} at {stop.arrive_h:g} h, the road allows {reach:g} h", reach, stop.arrive_h)
            site = s.node_by_id.get(stop.site)
            window = site.window if isinstance(site, Site) else None
            if window is not None and not (at_least(stop.arrive_h, window[0]) and within(stop.arrive_h, window[1])):
                bound = window[1] if stop.arrive_h > window[1] else window[0]
                yield Violation("TIME_WINDOW", c.id, f"arrives at {stop.site} at {stop.arrive_h:g} h, outside its window [{window[0]:g}, {window[1]:g}]", stop.arrive_h, bound)
        t = f.walk.end_h
        if not within(t, c.return_h):
            yield Violation("TIME_RETURN", c.id, f"returns at {c.return_h:g} h, the path ends at {t:g} h", t, c.return_h)
        if not within(c.return_h, s.horizon_h):
            yield Violation("HORIZON", c.id, f"returns at {c.return_h:g} h, after the horizon", c.return_h, s.horizon_h)


@dataclass
class _Busy:
    """Half-open busy intervals of one resource, ends pulled in by the tolerance.

    Two intervals overlap only by more than the tolerance, so an end ``e`` is stored as
    ``e - tol(e)``; an interval that vanishes under that shift takes no part.
    """

    starts: list[tuple[float, int]] = field(default_factory=list)
    ends: list[tuple[float, int]] = field(default_factory=list)

    def add(self, start: float, end: float, n: int) -> None:
        end -= _tol(end)
        if end > start:
            self.starts.append((start, n))
            self.ends.append((end, n))

    def peak(self) -> tuple[int, float]:
        """Most units busy at once, and when (an O(n log n) sweep; ends before starts at ties)."""
        events = sorted([(t, 1, n) for t, n in self.starts] + [(t, 0, -n) for t, n in self.ends])
        busy = best = 0
        when = 0.0
        for t, _, delta in events:
            busy += delta
            if busy > best:
                best, when = busy, t
        return best, when

    @cached_property
    def _index(self) -> tuple[list[float], list[int], list[float], list[int]]:
        starts, ends = sorted(self.starts), sorted(self.ends)
        return (
            [t for t, _ in starts], list(accumulate(n for _, n in starts)),
            [t for t, _ in ends], list(accumulate(n for _, n in ends)),
        )

    def at(self, t: float) -> int:
        """Units busy at the instant ``t``: started by ``t`` (within the tolerance), not yet ended."""
        s_times, s_sum, e_times, e_sum = self._index
        i, j = bisect_right(s_times, t + _tol(t)), bisect_right(e_times, t)
        return (s_sum[i - 1] if i else 0) - (e_sum[j - 1] if j else 0)


def _fleet_busy_intervals(ctx: _Context) -> dict[str, _Busy]:
    busy: dict[str, _Busy] = {}
    for f in ctx.facts:
        for fleet, n in f.types:
            busy.setdefault(fleet.id, _Busy()).add(f.convoy.depart_h, f.convoy.return_h, n)
    return busy


def _fleet_busy(ctx: _Context, busy: dict[str, _Busy]) -> Iterator[Violation]:
    for fleet_id, intervals in busy.items():
        count = ctx.scenario.fleet_by_id[fleet_id].count
        peak, when = intervals.peak()
        if peak > count:
            yield Violation("FLEET_BUSY", fleet_id, f"{peak} vehicles busy at {when:g} h, {count} exist", peak, count)


def _escorts(ctx: _Context) -> Iterator[Violation]:
    """Escort busy time includes positioning from its base and the way back (§3.5)."""
    net = ctx.network
    busy: dict[str, _Busy] = {}
    for f in ctx.facts:
        e, c = f.escort, f.convoy
        if e is None or c.depot not in ctx.scenario.node_by_id:
            continue
        p_out = net.distances_from(e.base, "hours").get(c.depot)
        p_back = net.distances_to(e.base, "hours").get(c.depot)
        if p_out is None or p_back is None:
            way = "to" if p_out is None else "back from"
            yield Violation("ESCORT_POSITION", e.id, f"no escort road leads from base {e.base} {way} depot {c.depot} (convoy {c.id})")
            continue
        busy.setdefault(e.id, _Busy()).add(c.depart_h - p_out, c.return_h + p_back, 1)
    for escort_id, intervals in busy.items():
        count = ctx.scenario.escort_by_id[escort_id].count
        peak, when = intervals.peak()
        if peak > count:
            yield Violation("ESCORT_BUSY", escort_id, f"{peak} escorts busy at {when:g} h, {count} exist", peak, count)


# ----- 6. security and neutrality -----------------------------------------------------------
def _risks(ctx: _Context) -> Iterator[Violation]:
    policy = ctx.scenario.policy
    for f in ctx.facts:
        risk = f.risk
        if not within(risk, policy.max_risk):
            yield Violation("RISK_MAX", f.convoy.id, f"route risk {risk:.4g} above max_risk", risk, policy.max_risk)
        if f.escort is None and not within(risk, policy.risk_threshold):
            yield Violation("RISK_UNESCORTED", f.convoy.id, f"unescorted route risk {risk:.4g} above risk_threshold", risk, policy.risk_threshold)


def _escort_consent(ctx: _Context) -> Iterator[Violation]:
    threshold = ctx.scenario.policy.risk_threshold
    last_resort_risk = _LastResort(ctx)
    last_resort_risk.prefetch(ctx.facts)
    for f in ctx.facts:
        org = ctx.scenario.organization_by_id.get(f.convoy.organization)
        if f.escort is None or org is None:
            continue
        if org.escort_policy == "never":
            yield Violation("ESCORT_CONSENT", f.convoy.id, f"{org.id} takes no escort, yet {f.escort.id} escorts it")
        elif org.escort_policy == "last_resort":
            risk = last_resort_risk(f)
            if risk is not None and within(risk, threshold):
                yield Violation(
                    "ESCORT_LAST_RESORT", f.convoy.id,
                    f"escorted though a path through the same stops runs at risk {risk:.4g} unescorted",
                    risk, threshold,
                )


class _LastResort:
    """Least unescorted risk through a convoy's stops in order, cached by (stops, vehicle class).

    Each leg (depot → stop 1 → … → depot) takes its least-risk path over the roads every vehicle
    type of the convoy may use, so one Dijkstra tree per (leg start, weight class) serves all.
    """

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        self.cache: dict[tuple, float | None] = {}

    def _orgs(self, policy: str) -> set[str]:
        return {o.id for o in self.ctx.scenario.organizations if o.escort_policy == policy}

    def prefetch(self, facts: Iterable[_ConvoyFacts]) -> None:
        """Grow every leg tree the escorted last-resort convoys need, one batch per weight class:
        out of the depot and between stops forwards, back into the depot from its reverse tree."""
        orgs = self._orgs("last_resort")
        forward: dict[float | None, set[str]] = {}
        backward: dict[float | None, set[str]] = {}
        for f in facts:
            if f.escort is not None and f.convoy.organization in orgs:
                forward.setdefault(f.heaviest_t, set()).update((f.depot, *(s.site for s in f.convoy.stops[:-1])))
                backward.setdefault(f.heaviest_t, set()).add(f.depot)
        for heaviest, nodes in forward.items():
            self.ctx.network.prefetch(nodes, "risk", Usability(vehicle_weight_t=heaviest))
        for heaviest, nodes in backward.items():
            self.ctx.network.prefetch(nodes, "risk", Usability(vehicle_weight_t=heaviest), reverse=True)

    def __call__(self, f: _ConvoyFacts) -> float | None:
        nodes = (f.depot, *(stop.site for stop in f.convoy.stops), f.depot)
        if any(n not in self.ctx.scenario.node_by_id for n in nodes):
            return None
        key = (nodes, f.heaviest_t)
        if key not in self.cache:
            self.cache[key] = self._risk(nodes, Usability(vehicle_weight_t=f.heaviest_t))
        return self.cache[key]

    def _risk(self, nodes: tuple[str, ...], roads: Usability) -> float:
        net, depot, total = self.ctx.network, nodes[-1], 0.0
        for a, b in zip(nodes, nodes[1:]):
            if a == b:
                continue
            tree = net.distances_to(depot, "risk", roads) if b == depot else net.distances_from(a, "risk", roads)
            total += tree.get(a if b == depot else b, math.inf)
        return risk_from_weight(total) if math.isfinite(total) else 1.0


def _military(ctx: _Context, fleet_busy: dict[str, _Busy]) -> Iterator[Violation]:
    s = ctx.scenario
    for f in ctx.facts:
        org = s.organization_by_id.get(f.convoy.organization)
        if org is None or not f.military:
            continue
        if org.military_assets == "never":
            yield Violation("MILITARY_CONSENT", f.convoy.id, f"{org.id} uses no military assets, yet the convoy is military")
        elif org.military_assets == "last_resort":
            for fleet in ctx.civilian_fleet.get((org.id, f.depot), ()):
                in_use = fleet_busy[fleet.id].at(f.convoy.depart_h) if fleet.id in fleet_busy else 0
                if in_use < fleet.count:
                    yield Violation(
                        "MILITARY_LAST_RESORT", f.convoy.id,
                        f"departs at {f.convoy.depart_h:g} h while {fleet.count - in_use} civilian {fleet.id} vehicle(s) are idle",
                        in_use, fleet.count,
                    )


def _party_escorts(ctx: _Context) -> Iterator[Violation]:
    s = ctx.scenario
    rule = s.policy.party_escorts
    for f in ctx.facts:
        e = f.escort
        if e is None or rule == "any":
            continue
        if rule == "forbidden":
            kind = s.party_by_id[e.provider].kind
            if kind not in ("un", "neutral"):
                yield Violation("PARTY_ESCORT", f.convoy.id, f"escort {e.id} is provided by {e.provider}, a {kind} party")
        else:
            hostile = ctx.hostile_nodes(e.provider).intersection(f.convoy.path)
            if hostile:
                yield Violation(
                    "PARTY_ESCORT", f.convoy.id,
                    f"escort {e.id} of {e.provider} enters zones of an opposed party at {', '.join(sorted(hostile))}",
                )


def _claims(ctx: _Context) -> Iterator[Violation]:
    for site, claims in ctx.claims.items():
        for reason, holds in claims:
            if not holds:
                yield Violation("CLAIM", site, f"the claim {reason!r} does not hold: a serving depot can reach it")
    delivered = ctx.delivered
    for site in sorted(ctx.validly_claimed):
        if any(units > 0 for units in delivered.get(site, {}).values()):
            reasons = ", ".join(r for r, holds in ctx.claims[site] if holds)
            yield Violation("CLAIM_SERVED", site, f"delivered to, yet validly claimed unmet ({reasons})")


# ----- 7. coverage and metrics --------------------------------------------------------------
def _coverage(ctx: _Context) -> Iterator[Violation]:
    s = ctx.scenario
    floor = s.policy.min_coverage
    listed = {claim.site for claim in ctx.plan.unmet}
    zones: dict[str, list[float]] = {}
    for site in s.sites:
        cov = ctx.coverage[site.id]
        if site.id in ctx.accessible:
            if not at_least(cov.ratio, floor):
                yield Violation("MIN_COVERAGE", site.id, f"coverage {cov.ratio:.4g} below min_coverage", cov.ratio, floor)
            if site.zone is not None:
                totals = zones.setdefault(site.zone, [0.0, 0.0])
                totals[0] += cov.delivered_t
                totals[1] += cov.need_t
        if not at_least(cov.ratio, 1.0) and site.id not in listed:
            yield Violation("UNLISTED", site.id, f"coverage {cov.ratio:.4g} and absent from unmet", cov.ratio, 1.0)
    yield from _parity(s, zones)


def _parity(s: Scenario, zones: dict[str, list[float]]) -> Iterator[Violation]:
    ratios = {z: (d / n if n > 0 else 1.0) for z, (d, n) in zones.items()}
    if len(ratios) < 2:
        return
    low = min(ratios, key=lambda z: (ratios[z], z))
    high = max(ratios, key=lambda z: (ratios[z], z))
    gap = ratios[high] - ratios[low]
    if not within(gap, s.policy.parity_tolerance):
        yield Violation(
            "PARITY", low, f"zone {low} at coverage {ratios[low]:.4g} against {high} at {ratios[high]:.4g}",
            gap, s.policy.parity_tolerance,
        )


def _metrics(ctx: _Context, recomputed: Mapping[str, float]) -> Iterator[Violation]:
    reported = ctx.plan.metrics
    for name in METRIC_NAMES:
        value = reported.get(name)
        if value is None:
            yield Violation("METRIC", f"metric:{name}", "missing from the plan", None, recomputed[name])
        elif not same(value, recomputed[name]):
            yield Violation("METRIC", f"metric:{name}", f"reported {value:.10g}, recomputed {recomputed[name]:.10g}", value, recomputed[name])


# ----- entry point --------------------------------------------------------------------------
def check(scenario: Scenario, plan: Plan) -> Report:
    """Check ``plan`` against every rule of FORMAT.md §3 and recompute its §3.7 metrics.

    Road trees are cached per scenario object, so re-checking edited plans of one scenario
    (a repair loop) pays for each Dijkstra once.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"check() takes a Scenario (load_scenario(path) or Scenario.from_dict(data)), "
                        f"not {type(scenario).__name__}")
    if not isinstance(plan, Plan):
        raise TypeError(f"check() takes a Plan (load_plan(path) or Plan.from_dict(data)), not {type(plan).__name__}")
    with _no_gc():
        return _check(scenario, plan)


def _check(scenario: Scenario, plan: Plan) -> Report:
    ctx = _Context(scenario, plan)
    fleet_busy = _fleet_busy_intervals(ctx)
    metrics = compute_metrics(scenario, plan.convoys, ctx.accessible, ctx.network)
    families: Iterable[Iterable[Violation]] = (
        _references(ctx),
        _paths(ctx),
        _vehicles(ctx),
        _stock_and_need(ctx),
        _times(ctx),
        _fleet_busy(ctx, fleet_busy),
        _escorts(ctx),
        _risks(ctx),
        _escort_consent(ctx),
        _military(ctx, fleet_busy),
        _party_escorts(ctx),
        _claims(ctx),
        _coverage(ctx),
        _metrics(ctx, metrics),
    )
    violations = tuple(v for family in families for v in family)
    return Report(violations, metrics)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during a check: a big plan is a million live objects
    that every full collection would walk again, for a fifth of the time, and a check makes no
    reference cycles worth collecting. Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
