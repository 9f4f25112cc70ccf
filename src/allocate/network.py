"""The usable-road network: which roads a vehicle or escort may take, and least paths over them.

One :class:`RoadNetwork` per scenario. Graphs and single-source path trees are computed once per
(usability rule, weight) and cached, so depot-to-site matrices and repeated queries from the
planner, the access facts and the checker cost one Dijkstra per source, not one per query.

Risk is made additive as ``w = -ln(1 - r·m)`` (``m = 1 - effectiveness`` of an escort, 1 without):
the least-risk path minimises the sum of ``w``, and its route risk is ``1 - exp(-Σw)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Iterator, Literal, Mapping, Sequence

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from allocate import clock
from allocate.scenario import Road, Scenario

Weight = Literal["hours", "km", "risk"]


@dataclass(frozen=True)
class Usability:
    """Which roads count as usable.

    ``vehicle_weight_t``: roads whose ``max_weight_t`` is below it are excluded (None: no weight
    limit applies, as for escorts). ``avoid_opposed_to``: a party id; nodes in zones controlled by
    a party opposed to it are excluded (an escort provider under ``non_opposed``).
    Closed roads and roads with an end in a denied zone are always excluded.
    """

    vehicle_weight_t: float | None = None
    avoid_opposed_to: str | None = None


ESCORT_ROADS = Usability()


@dataclass(frozen=True)
class Path:
    """A path over roads, with its totals."""

    nodes: tuple[str, ...]
    km: float
    hours: float
    risk_weight: float  # Σ -ln(1 - r·m) over its traversals

    @property
    def risk(self) -> float:
        return risk_from_weight(self.risk_weight)


def weight_fits(vehicle_t: float, max_weight_t: float) -> bool:
    """A vehicle may cross a bridge when its ``capacity_t`` respects the limit within FORMAT.md
    §3's tolerance (``x <= b + 1e-6·max(1, |b|)``), as the checker's PATH_WEIGHT judges it."""
    return vehicle_t <= max_weight_t + 1e-6 * max(1.0, abs(max_weight_t))


def risk_weight_cap(risk_cap: float) -> float:
    """The path risk weight a risk cap allows (risk ``1 - e^-w``; ``inf`` for a cap of 1)."""
    return -math.log1p(-risk_cap) if risk_cap < 1 else math.inf


def risk_weight(risk: float, escort_effectiveness: float = 0.0) -> float:
    """Additive weight of one traversal: ``-ln(1 - r·m)``."""
    return -math.log1p(-risk * (1.0 - escort_effectiveness))


def risk_from_weight(weight: float) -> float:
    """Route risk ``1 - Π(1 - r·m)`` from its additive weight."""
    return -math.expm1(-weight)


def combine_risks(risks: Iterable[float]) -> float:
    """Risk of running several legs in a row: ``1 - Π(1 - r_i)``."""
    survive = 1.0
    for r in risks:
        survive *= 1.0 - r
    return 1.0 - survive


class Distances(Mapping[str, float]):
    """One row of a distance matrix read as ``{node: distance}`` (unreachable nodes absent)."""

    __slots__ = ("_index", "_row")

    def __init__(self, index: Mapping[str, int], row: np.ndarray):
        self._index, self._row = index, row

    def __getitem__(self, node: str) -> float:
        i = self._index.get(node)
        if i is None or not math.isfinite(self._row[i]):
            raise KeyError(node)
        return float(self._row[i])

    def __iter__(self) -> Iterator[str]:
        return (n for n, i in self._index.items() if math.isfinite(self._row[i]))

    def __len__(self) -> int:
        return int(np.isfinite(self._row).sum())


class RoadNetwork:
    """Usable-road graphs and least paths of one scenario (FORMAT.md §3 usability rules)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self._graphs: dict[Usability, nx.DiGraph] = {}
        self._trees: dict[tuple, np.ndarray] = {}  # predecessor rows of least_path
        self._matrices: dict[tuple, csr_matrix] = {}
        self._rows: dict[tuple, np.ndarray] = {}
        self._blends: dict[tuple, Path | None] = {}  # least_blend_path's answers

    # ----- roads -------------------------------------------------------------------------
    @cached_property
    def directed_roads(self) -> dict[tuple[str, str], Road]:
        """Every road in each direction it may be driven (one-way respected), closed ones too."""
        out: dict[tuple[str, str], Road] = {}
        for road in self.scenario.roads:
            out.setdefault((road.a, road.b), road)
            if not road.oneway:
                out.setdefault((road.b, road.a), road)
        return out

    def road(self, a: str, b: str) -> Road | None:
        """The road that may be driven from ``a`` to ``b`` (closed or not), or None."""
        return self.directed_roads.get((a, b))

    def road_usable(self, road: Road, usability: Usability = ESCORT_ROADS) -> bool:
        s = self.scenario
        if road.closed or s.is_denied(road.a) or s.is_denied(road.b):
            return False
        limit = usability.vehicle_weight_t
        if limit is not None and road.max_weight_t is not None and not weight_fits(limit, road.max_weight_t):
            return False
        if usability.avoid_opposed_to is not None:
            for end in (road.a, road.b):
                if s.opposed(s.controller_of(end), usability.avoid_opposed_to):
                    return False
        return True

    def graph(self, usability: Usability = ESCORT_ROADS) -> nx.DiGraph:
        """The directed graph of usable roads (cached per usability rule)."""
        if usability not in self._graphs:
            g = nx.DiGraph()
            g.add_nodes_from(n.id for n in self.scenario.nodes)
            for (a, b), road in self.directed_roads.items():
                if self.road_usable(road, usability):
                    g.add_edge(a, b, km=road.km, hours=road.hours, risk=road.risk)
            self._graphs[usability] = g
        return self._graphs[usability]

    # ----- least paths -------------------------------------------------------------------
    def _predecessors(self, node: str, weight: Weight, usability: Usability, escort_effectiveness: float) -> np.ndarray | None:
        """scipy's shortest-path predecessors from ``node`` (cached per source, weight and rule).

        Why not networkx: a tree that keeps every path costs tens of ms per source on a few
        thousand nodes, and the planner asks for paths from thousands of sites.
        """
        eff = escort_effectiveness if weight == "risk" else 0.0
        key = (node, weight, usability, eff)
        if key not in self._trees:
            i = self.index.get(node)
            if i is None:
                return None
            _, pred = dijkstra(self._matrix(weight, usability, eff, False), directed=True, indices=i,
                               return_predecessors=True)
            self._trees[key] = pred
        return self._trees[key]

    def _walk_back(self, pred: np.ndarray, source: int, target: int) -> list[str] | None:
        """The node ids from ``source`` to ``target`` along a predecessor row (None: unreachable)."""
        if target != source and pred[target] < 0:
            return None
        nodes = [self.node_ids[target]]
        k = target
        while k != source:
            k = int(pred[k])
            nodes.append(self.node_ids[k])
        return nodes[::-1]

    @cached_property
    def node_ids(self) -> tuple[str, ...]:
        """Row of the distance matrices → node id (the inverse of :attr:`index`)."""
        return tuple(n.id for n in self.scenario.nodes)

    @cached_property
    def index(self) -> dict[str, int]:
        """Node id → row of the distance matrices."""
        return {n.id: i for i, n in enumerate(self.scenario.nodes)}

    def _matrix(self, weight: Weight, usability: Usability, escort_effectiveness: float, reverse: bool) -> csr_matrix:
        """The usable roads as a sparse matrix of one weight (from :meth:`graph`: one usability rule)."""
        key = (weight, usability, escort_effectiveness, reverse)
        if key not in self._matrices:
            index, n = self.index, len(self.index)
            edges = list(self.graph(usability).edges(data=True))
            rows = np.fromiter((index[a] for a, _, _ in edges), dtype=np.int64, count=len(edges))
            cols = np.fromiter((index[b] for _, b, _ in edges), dtype=np.int64, count=len(edges))
            if weight == "risk":
                data = np.fromiter((risk_weight(d["risk"], escort_effectiveness) for _, _, d in edges), float, len(edges))
            else:
                data = np.fromiter((d[weight] for _, _, d in edges), float, len(edges))
            if reverse:
                rows, cols = cols, rows
            # explicit zeros stay edges for csgraph (a road may take 0 h or carry no risk)
            self._matrices[key] = csr_matrix((data, (rows, cols)), shape=(n, n))
        return self._matrices[key]

    def _row(self, node: str, weight: Weight, usability: Usability, escort_effectiveness: float, reverse: bool) -> "Distances":
        eff = escort_effectiveness if weight == "risk" else 0.0
        key = (node, weight, usability, eff, reverse)
        if key not in self._rows:
            i = self.index.get(node)
            if i is None:
                return Distances(self.index, np.full(len(self.index), np.inf))
            self._rows[key] = dijkstra(self._matrix(weight, usability, eff, reverse), directed=True, indices=i)
        return Distances(self.index, self._rows[key])

    def distances_from(
        self, source: str, weight: Weight = "hours", usability: Usability = ESCORT_ROADS, escort_effectiveness: float = 0.0
    ) -> Mapping[str, float]:
        """Least total weight from ``source`` to every reachable node (risk as Σ -ln(1-r·m)).

        scipy's compiled Dijkstra, one row per source, cached: access facts ask for thousands.
        """
        return self._row(source, weight, usability, escort_effectiveness, reverse=False)

    def distances_to(
        self, target: str, weight: Weight = "hours", usability: Usability = ESCORT_ROADS, escort_effectiveness: float = 0.0
    ) -> Mapping[str, float]:
        """Least total weight from every node that reaches ``target``."""
        return self._row(target, weight, usability, escort_effectiveness, reverse=True)

    def least_path(
        self,
        source: str,
        target: str,
        weight: Weight = "hours",
        usability: Usability = ESCORT_ROADS,
        escort_effectiveness: float = 0.0,
    ) -> Path | None:
        """The least path by ``weight``, with its km, hours and risk weight; None if unreachable."""
        pred = self._predecessors(source, weight, usability, escort_effectiveness)
        j = self.index.get(target)
        if pred is None or j is None:
            return None
        nodes = self._walk_back(pred, self.index[source], j)
        clock.tick(4 + (len(nodes) if nodes else 0))  # the work the heuristics' deadlines count (clock.py)
        return None if nodes is None else self.measure(nodes, escort_effectiveness)

    def least_blend_path(
        self,
        source: str,
        target: str,
        risk_hours: float,
        usability: Usability = ESCORT_ROADS,
        escort_effectiveness: float = 0.0,
    ) -> Path | None:
        """The least path by ``hours + risk_hours · w`` (w the risk weight under that escort).

        Why: a risk cap that the quickest path breaks is often met by a path far quicker than the
        safest one; sweeping ``risk_hours`` (a Lagrange multiplier) finds it. scipy's Dijkstra on
        the two cached weight matrices, which share their structure (both come from one graph).
        """
        key = (source, target, risk_hours, usability, escort_effectiveness)
        if key in self._blends:
            clock.tick(4)
            return self._blends[key]
        hours = self._matrix("hours", usability, 0.0, False)
        risk = self._matrix("risk", usability, escort_effectiveness, False)
        i, j = self.index.get(source), self.index.get(target)
        if i is None or j is None:
            return None
        blend = hours.copy()
        # a tiny floor keeps zero-weight roads as edges for csgraph
        blend.data = np.maximum(hours.data + risk_hours * risk.data, 1e-12)
        _, pred = dijkstra(blend, directed=True, indices=i, return_predecessors=True)
        nodes = self._walk_back(pred, i, j)
        # a whole Dijkstra (clock.py): ~80 µs a call and ~0.04 µs a road entry (cote_divoire_like to 2,000 sites)
        clock.tick(60 + blend.nnz // 40 + (len(nodes) if nodes else 0))
        # remembered: each wave placement (pooled, greedy, CP-SAT's slots, tours) asks again for
        # the same loads (2,000 generated sites: 34,346 Dijkstras, 11 s of a 43 s escort stage)
        self._blends[key] = None if nodes is None else self.measure(nodes, escort_effectiveness)
        return self._blends[key]

    def measure(self, nodes: Sequence[str], escort_effectiveness: float = 0.0) -> Path:
        """Totals of a node sequence over the roads joining it (missing roads count as zero)."""
        km = hours = w = 0.0
        for a, b in zip(nodes, nodes[1:]):
            road = self.road(a, b)
            if road is None:
                continue
            km += road.km
            hours += road.hours
            w += risk_weight(road.risk, escort_effectiveness)
        return Path(tuple(nodes), km, hours, w)

    def round_trip(
        self,
        depot: str,
        site: str,
        weight: Weight,
        usability: Usability = ESCORT_ROADS,
        escort_effectiveness: float = 0.0,
    ) -> float:
        """Least depot → site → depot total by ``weight`` (``inf`` when either way is missing)."""
        out = self.distances_from(depot, weight, usability, escort_effectiveness).get(site, math.inf)
        back = self.distances_to(depot, weight, usability, escort_effectiveness).get(site, math.inf)
        return out + back

    def matrix(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        weight: Weight = "hours",
        usability: Usability = ESCORT_ROADS,
        escort_effectiveness: float = 0.0,
    ) -> np.ndarray:
        """``len(sources) × len(targets)`` least weights (``inf`` where unreachable)."""
        out = np.full((len(sources), len(targets)), np.inf)
        column = {t: j for j, t in enumerate(targets)}
        for i, s in enumerate(sources):
            for node, value in self.distances_from(s, weight, usability, escort_effectiveness).items():
                j = column.get(node)
                if j is not None:
                    out[i, j] = value
        return out


def path_risk(network: RoadNetwork, nodes: Sequence[str], escort_effectiveness: float = 0.0) -> float:
    """Route risk of driving ``nodes`` (FORMAT.md §3.6): ``1 - Π(1 - r·m)`` over its traversals."""
    return network.measure(nodes, escort_effectiveness).risk
