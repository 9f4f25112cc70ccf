"""The synthetic crisis generator: valid, deterministic per seed, structured as documented."""

from __future__ import annotations

import time

import networkx as nx
import pytest

from allocate.generate import dumps, generate, generate_scenario
from allocate.scenario import Scenario


@pytest.mark.parametrize("sites", [10, 100, 2000])
def test_generated_scenarios_validate(sites: int) -> None:
    s = generate_scenario(sites, seed=3)
    assert isinstance(s, Scenario)
    assert sum(1 for n in s.nodes if n.kind == "site") == sites


def test_same_seed_same_bytes_and_seeds_differ() -> None:
    a, b = dumps(generate(300, seed=7)), dumps(generate(300, seed=7))
    assert a == b
    assert a != dumps(generate(300, seed=8))


@pytest.mark.parametrize("seed", range(8))
def test_small_variants_validate(seed: int) -> None:
    """Edge settings: one party, one depot, sparse roads, many commodities, bands."""
    generate_scenario(10, seed=seed, parties=1, denied_share=0.0, commodities=1)
    generate_scenario(37, seed=seed, depots=1, neighbours=2, commodities=7, parties=5)
    generate_scenario(60, seed=seed, zone_layout="bands", parties=3,
                      party_escorts="forbidden")


def _open_graph(d: dict) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(n["id"] for n in d["nodes"])
    g.add_edges_from((r["a"], r["b"]) for r in d["roads"] if not r.get("closed"))
    return g


@pytest.mark.parametrize("sites", [10, 500])
def test_open_roads_connect_every_node(sites: int) -> None:
    for seed in range(3):
        assert nx.is_connected(_open_graph(generate(sites, seed=seed, closed_share=0.3)))


def test_structure_has_the_documented_variety() -> None:
    d = generate(500, seed=1)
    zones = {z["id"]: z for z in d["zones"]}
    sites = [n for n in d["nodes"] if n["kind"] == "site"]
    denied = [n for n in sites if zones[n["zone"]]["access"] == "denied"]
    assert len(denied) == 15  # ceil(0.03 * 500)
    assert not any(zones[n["zone"]]["access"] == "denied" for n in d["nodes"]
                   if n["kind"] == "depot")
    assert any(r.get("closed") for r in d["roads"])
    assert any("max_weight_t" in r for r in d["roads"])
    assert any(r["risk"] > 0.05 for r in d["roads"])
    assert any("window" in n for n in sites)
    assert {o["escort_policy"] for o in d["organizations"]} == {"never", "last_resort", "accept"}
    assert any(f["military"] for f in d["fleet"])
    providers = {e["provider"] for e in d["escorts"]}
    assert {"gov", "un"} <= providers and any(p.startswith("ag") for p in providers)
    assert len(d["commodities"]) == 3
    assert [p["id"] for p in d["parties"]] == ["gov", "ag1", "ag2", "un"]


def test_stock_ratio_sets_total_stock() -> None:
    d = generate(200, seed=2, stock_ratio=0.5)
    for c in d["commodities"]:
        need = sum(n["need"].get(c["id"], 0) for n in d["nodes"] if n["kind"] == "site")
        stock = sum(n["stock"].get(c["id"], 0) for n in d["nodes"] if n["kind"] == "depot")
        assert 0.5 * need - len(d["nodes"]) <= stock <= 0.5 * need


def test_bands_put_a_front_line_across() -> None:
    d = generate(300, seed=4, parties=2, zone_layout="bands")
    control = {z["id"]: z["controlled_by"] for z in d["zones"]}
    by_zone = {}
    for n in d["nodes"]:
        by_zone.setdefault(control[n["zone"]], []).append(n["lat"])
    assert max(by_zone["gov"]) < min(by_zone["ag1"] + [99])
    assert None in by_zone  # the contested middle


def test_ten_thousand_sites_fast() -> None:
    t0 = time.perf_counter()
    d = generate(10_000, seed=0)
    assert time.perf_counter() - t0 < 20.0  # ~0.5 s idle; generous on a loaded CI box
    assert sum(1 for n in d["nodes"] if n["kind"] == "site") == 10_000


@pytest.mark.parametrize("kwargs", [{"sites": 0}, {"sites": 5, "parties": 0},
                                    {"sites": 5, "commodities": 0}, {"sites": 5, "depots": 0},
                                    {"sites": 5, "neighbours": 0}])
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(**kwargs)
