"""The checker's compiled-Dijkstra network must answer exactly as RoadNetwork does.

Why: check() swaps networkx trees for scipy batches to meet its speed target; a drift in which
roads count as usable, or in a least distance, would silently change a verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from allocate.check import _FastNetwork
from allocate.network import RoadNetwork, Usability
from allocate.scenario import load_scenario

ROOT = Path(__file__).parents[1]
SCENARIOS = [ROOT / ".." / "shared" / "vectors" / "scenario.json", ROOT / ".." / "shared" / "vectors" / "scenario-2.json"]
SCENARIOS += [p for p in [ROOT / "models" / "tiny.json"] if p.exists()]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_same_usable_roads_and_least_distances(path: Path) -> None:
    s = load_scenario(path)
    slow, fast = RoadNetwork(s), _FastNetwork(s)
    limits = {r.max_weight_t for r in s.roads if r.max_weight_t is not None}
    near = {x + d for x in limits for d in (5e-7 * max(1, x), 2e-6 * max(1, x))}  # the tolerance edge
    weights = sorted({f.capacity_t for f in s.fleet} | near) + [None]
    usabilities = [Usability(w) for w in weights] + [Usability(None, p.id) for p in s.parties]
    roads = list(slow.directed_roads.values())
    for u in usabilities:
        assert list(fast.usable(u)) == [slow.road_usable(r, u) for r in roads]
        for node in s.nodes:
            for weight, eff in (("hours", 0.0), ("km", 0.0), ("risk", 0.0), ("risk", 0.5)):
                for direction in ("distances_from", "distances_to"):
                    want = getattr(slow, direction)(node.id, weight, u, eff)
                    got = getattr(fast, direction)(node.id, weight, u, eff)
                    assert set(got) == set(want)
                    assert all(math.isclose(got[k], want[k], rel_tol=1e-12, abs_tol=1e-12) for k in want)


def test_measure_matches_and_is_remembered() -> None:
    s = load_scenario(SCENARIOS[0])
    slow, fast = RoadNetwork(s), _FastNetwork(s)
    path = ("D", "J", "S1", "J", "D")
    assert fast.measure(path, 0.5) == slow.measure(path, 0.5)
    assert fast.measure(path, 0.5) is fast.measure(list(path), 0.5)
