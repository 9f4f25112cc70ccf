"""Synthetic crisis scenarios (FORMAT.md §1) for tests, benchmarks and teaching.

:func:`generate` draws a plausible crisis of any size from 10 to 10,000+ sites in well under a
second per thousand sites: sites clustered around depots, a k-nearest-neighbour road graph joined
into one component by a spanning tree, zones held by a government, armed groups or nobody, a
denied enclave, risky corridors, closed roads, weight-limited bridges, windows, and organizations
with different escort and military-asset policies. Everything is drawn from one
``numpy.random.Generator`` seeded by ``seed``, so the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from allocate.arguments import require_seed

if TYPE_CHECKING:  # pragma: no cover
    from allocate.scenario import Scenario

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG_LAT = 111.32

PartyEscorts = Literal["forbidden", "non_opposed", "any"]
ZoneLayout = Literal["voronoi", "bands"]


# ----- small shared helpers (also used by models/scripts) ----------------------------------------
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km: the straight line a road's length is scaled from."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def dumps(scenario: dict[str, Any]) -> str:
    """Serialise a scenario dict, one list entry per line.

    Why: sample crises live in git; one entity per line keeps diffs readable and files small,
    and a fixed layout makes byte-for-byte reproducibility checks meaningful.
    """
    lines = ["{"]
    items = list(scenario.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {json.dumps(key)}: [")
            for j, entry in enumerate(value):
                sep = "," if j < len(value) - 1 else ""
                lines.append("    " + json.dumps(entry, ensure_ascii=False) + sep)
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----- commodities -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _CommodityTemplate:
    id: str
    name: str
    unit: str
    weight_t: float
    volume_m3: float
    per_person_per_day: float  # units; 0 means a one-off item (see per_person_once)
    per_person_once: float
    share_of_sites: float  # probability a site needs it (food is always needed)


COMMODITY_TEMPLATES: tuple[_CommodityTemplate, ...] = (
    # WFP general ration: 0.5 kg cereal / person / day = 0.01 bag of 50 kg.
    _CommodityTemplate("food", "cereal, 50 kg bag", "bag", 0.05, 0.07, 0.01, 0.0, 1.0),
    _CommodityTemplate("shelter", "shelter kit", "kit", 0.03, 0.12, 0.0, 0.2, 0.6),
    _CommodityTemplate("wash", "hygiene kit", "kit", 0.01, 0.03, 0.0, 0.2, 0.6),
    _CommodityTemplate("nutrition", "RUTF carton, 150 sachets", "carton", 0.0138, 0.03,
                       0.0007, 0.0, 0.5),
    _CommodityTemplate("health", "emergency health kit", "kit", 0.2, 0.6, 0.0, 0.0002, 0.4),
)


def _commodity_templates(n: int) -> list[_CommodityTemplate]:
    """The first ``n`` templates; beyond the named ones, generic light items."""
    out = list(COMMODITY_TEMPLATES[:n])
    for i in range(len(out), n):
        out.append(_CommodityTemplate(f"item{i + 1}", f"generic item {i + 1}", "unit", 0.02,
                                      0.05, 0.0, 0.05, 0.3))
    return out


# ----- geometry ----------------------------------------------------------------------------------
def _farthest_points(rng: np.random.Generator, n: int, side: float) -> np.ndarray:
    """``n`` well-spread points (greedy farthest-point sampling): depots are not bunched."""
    cand = rng.uniform(0.08 * side, 0.92 * side, size=(max(8 * n, 16), 2))
    chosen = [0]
    dist = np.linalg.norm(cand - cand[0], axis=1)
    for _ in range(1, n):
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.linalg.norm(cand - cand[i], axis=1))
    return cand[chosen]


def _site_points(rng: np.random.Generator, n: int, depots_xy: np.ndarray, side: float,
                 clustered: float) -> np.ndarray:
    """Sites: a share ``clustered`` around depots (Gaussian), the rest spread uniformly."""
    n_clu = int(round(clustered * n))
    sigma = side / (2.2 * math.sqrt(len(depots_xy)))
    weights = rng.dirichlet(np.full(len(depots_xy), 2.0))
    owner = rng.choice(len(depots_xy), size=n_clu, p=weights)
    clu = depots_xy[owner] + rng.normal(0.0, sigma, size=(n_clu, 2))
    uni = rng.uniform(0.0, side, size=(n - n_clu, 2))
    return np.clip(np.vstack([clu, uni]), 0.0, side)


def _road_pairs(xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected road pairs: k nearest neighbours plus a spanning tree that joins them all.

    Returns ``(pairs, backbone)``: pairs ``i < j`` sorted, and a mask of the spanning-tree pairs
    (never closed nor made one-way, so the open network stays connected).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
    from scipy.spatial import cKDTree

    n = len(xy)
    tree = cKDTree(xy)
    kk = min(k + 1, n)
    _, idx = tree.query(xy, k=kk)
    idx = np.asarray(idx).reshape(n, -1)
    src = np.repeat(np.arange(n), kk - 1)
    dst = idx[:, 1:].reshape(-1)
    pairs = np.unique(np.sort(np.stack([src, dst], axis=1), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    # join the k-NN components: spanning tree over the k-NN graph plus, per extra component,
    # its shortest link to the rest (found by a k-NN query widened until it leaves the component)
    w = np.linalg.norm(xy[pairs[:, 0]] - xy[pairs[:, 1]], axis=1) + 1e-9
    graph = coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    ncomp, labels = connected_components(graph, directed=False)
    links = []
    if ncomp > 1:
        links = _component_links(xy, labels, ncomp, tree)
    all_pairs = np.vstack([pairs] + ([np.array(links)] if links else []))
    all_pairs = np.unique(np.sort(all_pairs, axis=1), axis=0)
    w = np.linalg.norm(xy[all_pairs[:, 0]] - xy[all_pairs[:, 1]], axis=1) + 1e-9
    graph = coo_matrix((w, (all_pairs[:, 0], all_pairs[:, 1])), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(graph).tocoo()
    tree_pairs = {(min(a, b), max(a, b)) for a, b in zip(mst.row.tolist(), mst.col.tolist())}
    backbone = np.array([(a, b) in tree_pairs for a, b in all_pairs.tolist()], dtype=bool)
    return all_pairs, backbone


def _component_links(xy: np.ndarray, labels: np.ndarray, ncomp: int, tree: Any) -> list[tuple[int, int]]:
    """Shortest links joining components (Borůvka rounds): guarantees one connected graph."""
    links: list[tuple[int, int]] = []
    parent = list(range(ncomp))

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    n = len(xy)
    while True:
        comp = np.array([find(c) for c in labels.tolist()])
        roots = np.unique(comp)
        if len(roots) == 1:
            return links
        best: dict[int, tuple[float, int, int]] = {}
        k = 8
        pending = set(roots.tolist())
        while pending:
            kq = min(k, n)
            dist, idx = tree.query(xy, k=kq)
            dist, idx = np.asarray(dist).reshape(n, -1), np.asarray(idx).reshape(n, -1)
            for i in range(n):
                c = int(comp[i])
                if c not in pending:
                    continue
                for d, j in zip(dist[i].tolist(), idx[i].tolist()):
                    if comp[j] != c:
                        if c not in best or (d, i, j) < best[c]:
                            best[c] = (d, i, j)
                        break
            pending = {c for c in pending if c not in best}
            if kq == n:  # every node has seen every other: each component found a link
                break
            k *= 4
        for c, (_, i, j) in sorted(best.items()):
            a, b = find(int(comp[i])), find(int(comp[j]))
            if a != b:
                parent[a] = b
                links.append((i, j))


def _to_latlon(xy: np.ndarray, side: float, center: tuple[float, float]) -> np.ndarray:
    """Planar km around ``center`` to (lat, lon), rounded to ~1 m."""
    lat0, lon0 = center
    lat = lat0 + (xy[:, 1] - side / 2) / KM_PER_DEG_LAT
    lon = lon0 + (xy[:, 0] - side / 2) / (KM_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return np.round(np.stack([np.clip(lat, -89.9, 89.9), np.clip(lon, -179.9, 179.9)], axis=1), 5)


# ----- the generator -----------------------------------------------------------------------------
def generate(
    sites: int,
    *,
    seed: int = 0,
    depots: int | None = None,
    commodities: int = 3,
    parties: int = 3,
    denied_share: float = 0.03,
    stock_ratio: float = 0.8,
    closed_share: float = 0.03,
    bridge_share: float = 0.05,
    oneway_share: float = 0.01,
    window_share: float = 0.1,
    junction_share: float = 0.05,
    contested_share: float = 0.2,
    risk_scale: float = 1.0,
    escort_factor: float = 1.0,
    fleet_factor: float = 1.0,
    neighbours: int = 3,
    clustered: float = 0.8,
    extent_km: float | None = None,
    center: tuple[float, float] = (8.0, 30.0),
    circuity: float = 1.3,
    speed_kmh: tuple[float, float, float] = (50.0, 30.0, 18.0),
    horizon_h: float = 72.0,
    days_of_need: float = 7.0,
    population_median: float = 3000.0,
    zone_layout: ZoneLayout = "voronoi",
    party_escorts: PartyEscorts = "non_opposed",
    name: str | None = None,
) -> dict[str, Any]:
    """Draw a synthetic crisis scenario as a FORMAT.md §1 dict.

    Parameters
    ----------
    sites
        Number of sites (at least 1; 10 to 10,000 is the tested range).
    seed
        Seed of the ``numpy.random.Generator``: the same arguments give the same scenario.
    depots
        Number of depots; default ``max(1, round(sqrt(sites) / 2.5))``.
    commodities
        Number of commodities (food, shelter, wash, nutrition, health, then generic items).
    parties
        Conflict parties: one government (``gov``, a state) and ``parties - 1`` armed groups
        (``ag1``...); a UN party ``un`` is always added on top.
    denied_share
        Share of sites inside a denied enclave (0 for none; otherwise at least one site).
    stock_ratio
        Total stock over total need, per commodity (below 1: not everyone can be served).
    closed_share, bridge_share, oneway_share
        Shares of roads closed, with a 10-15 t weight limit, and one-way. Spanning-tree roads are
        never closed nor one-way, so the open network stays connected (denied zones aside).
    window_share
        Share of sites with a delivery window.
    junction_share
        Junctions per site (crossroads; armed groups' escorts are based at them).
    contested_share
        Probability that a zone without a depot is contested (no controller).
    risk_scale
        Multiplies every road risk (before the cap at 0.6).
    escort_factor, fleet_factor
        Multiply escort-unit and vehicle counts (scarce escorts: below 1).
    neighbours
        k of the k-nearest-neighbour road graph (2: few roads; 4: a dense network).
    clustered
        Share of sites clustered around depots (the rest spread uniformly).
    extent_km
        Side of the square area; default ``clip(25 * sqrt(sites), 150, 1500)``.
    center
        (lat, lon) of the area's centre.
    circuity
        Road km over straight-line km (1.3 is typical of rural Africa).
    speed_kmh
        Speeds of main roads, secondary roads and tracks (rainy season).
    horizon_h, days_of_need
        Planning horizon, and how many days of food a site's need covers.
    population_median
        Median site population (log-normal, clipped to 100..500,000).
    zone_layout
        ``"voronoi"``: random zones, those holding a depot government-held, the farthest from
        depots held by armed groups. ``"bands"``: south to north, a government band, a contested
        band, then one band per armed group (a front line across the country).
    party_escorts
        The scenario's ``policy.party_escorts``.
    name
        Scenario name; default ``generated-{sites}-{seed}``.
    """
    require_seed(seed)
    if sites < 1:
        raise ValueError("sites must be at least 1")
    if parties < 1:
        raise ValueError("parties must be at least 1 (the government)")
    if commodities < 1:
        raise ValueError("commodities must be at least 1")
    if neighbours < 1:
        raise ValueError("neighbours must be at least 1")
    rng = np.random.default_rng(seed)
    n_dep = depots if depots is not None else max(1, round(math.sqrt(sites) / 2.5))
    if n_dep < 1:
        raise ValueError("depots must be at least 1")
    side = float(extent_km) if extent_km else float(np.clip(25 * math.sqrt(sites), 150, 1500))
    n_junc = int(round(junction_share * sites))

    dep_xy = _farthest_points(rng, n_dep, side)
    site_xy = _site_points(rng, sites, dep_xy, side, clustered)
    junc_xy = rng.uniform(0.0, side, size=(n_junc, 2))
    xy = np.vstack([dep_xy, junc_xy, site_xy])
    kinds = np.array(["depot"] * n_dep + ["junction"] * n_junc + ["site"] * sites)
    ids = (_ids("D", n_dep) + _ids("J", n_junc) + _ids("S", sites))
    latlon = _to_latlon(xy, side, center)

    party_list = _parties(rng, parties)
    zone_of, zones = _zones(rng, xy, kinds, n_dep, sites, side, party_list, contested_share,
                            denied_share, zone_layout)
    control = {z["id"]: z["controlled_by"] for z in zones}
    denied = {z["id"] for z in zones if z["access"] == "denied"}

    pairs, backbone = _road_pairs(xy, neighbours)
    roads = _roads(rng, xy, pairs, backbone, ids, zone_of, control, denied, party_list,
                   closed_share, bridge_share, oneway_share, risk_scale, circuity, speed_kmh,
                   side)

    templates = _commodity_templates(commodities)
    nodes = _nodes(rng, ids, kinds, latlon, zone_of, control, denied, templates, window_share,
                   horizon_h, days_of_need, population_median)
    nearest_depot = _nearest_depot(xy, n_dep)
    _stock(rng, nodes, nearest_depot, n_dep, templates, stock_ratio)
    orgs = _organizations()
    gov_ok = np.array([control[zone_of[d]] in ("gov", None) for d in range(n_dep)])
    fleet = _fleet(rng, nodes, nearest_depot, xy, n_dep, templates, horizon_h, fleet_factor,
                   stock_ratio, speed_kmh[1] / circuity, gov_ok)
    escorts = _escorts(rng, ids, kinds, zone_of, control, denied, party_list, n_dep,
                       escort_factor, gov_ok)
    return {
        "format": "allocate.scenario/1",
        "name": name or f"generated-{sites}-{seed}",
        "note": (f"Synthetic crisis from allocate.generate (seed {seed}): {sites} sites, "
                 f"{n_dep} depots, {len(party_list) - 1} conflict parties and a UN mission."),
        "horizon_h": float(horizon_h),
        "commodities": [{"id": t.id, "name": t.name, "unit": t.unit, "weight_t": t.weight_t,
                         "volume_m3": t.volume_m3} for t in templates],
        "parties": party_list,
        "zones": zones,
        "nodes": nodes,
        "roads": roads,
        "organizations": orgs,
        "fleet": fleet,
        "escorts": escorts,
        "policy": {"risk_threshold": 0.05, "max_risk": 0.2, "min_coverage": 0.0,
                   "parity_tolerance": 1.0, "party_escorts": party_escorts},
        "x_generator": {"sites": sites, "seed": seed, "depots": n_dep,
                        "commodities": commodities, "parties": parties,
                        "extent_km": round(side, 1)},
    }


def generate_scenario(sites: int, **kwargs: Any) -> "Scenario":
    """:func:`generate`, validated into an immutable :class:`~allocate.scenario.Scenario`."""
    from allocate.scenario import Scenario

    return Scenario.model_validate(generate(sites, **kwargs))


def _ids(prefix: str, n: int) -> list[str]:
    width = max(2, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _parties(rng: np.random.Generator, parties: int) -> list[dict[str, Any]]:
    """Government, armed groups (all opposed to it, some to each other), and the UN."""
    groups = [f"ag{i}" for i in range(1, parties)]
    out = [{"id": "gov", "name": "Government forces", "kind": "state", "opposes": groups}]
    for i, g in enumerate(groups):
        rivals = [h for h in groups[i + 1:] if rng.random() < 0.5]
        out.append({"id": g, "name": f"Armed group {i + 1}", "kind": "non_state",
                    "opposes": rivals})
    out.append({"id": "un", "name": "UN mission", "kind": "un", "opposes": []})
    return out


def _zones(rng: np.random.Generator, xy: np.ndarray, kinds: np.ndarray, n_dep: int, sites: int,
           side: float, party_list: list[dict[str, Any]], contested_share: float,
           denied_share: float, layout: ZoneLayout = "voronoi") -> tuple[list[str], list[dict[str, Any]]]:
    """Voronoi zones: depot zones are government-held, the farthest go to armed groups first.

    A denied enclave takes the ``denied_share`` of sites nearest a point deep in the zones
    farthest from any depot (and the junctions within its radius); depots are never in it.
    """
    from scipy.spatial import cKDTree

    groups = [p["id"] for p in party_list if p["kind"] == "non_state"]
    if layout == "bands":
        zone_of, zones = _bands(xy, side, groups)
        if denied_share > 0 and sites > 1:
            zone_of, zones = _denied(rng, xy, kinds, n_dep, sites, zone_of, zones, groups,
                                     denied_share)
        return zone_of, zones
    n_zones = int(np.clip(round(math.sqrt(sites) / 2) + 2, 3, 40))
    seeds = rng.uniform(0.0, side, size=(n_zones, 2))
    _, zone_idx = cKDTree(seeds).query(xy)
    zone_ids = [f"Z{i + 1:02d}" for i in range(n_zones)]
    depot_zones = set(zone_idx[:n_dep].tolist())
    dist_to_depot, _ = cKDTree(xy[:n_dep]).query(seeds)
    order = [z for z in np.argsort(-dist_to_depot, kind="stable").tolist() if z not in depot_zones]
    controller: dict[int, str | None] = {z: "gov" for z in depot_zones}
    for rank, z in enumerate(order):
        if rank < len(groups):
            controller[z] = groups[rank]
        elif rng.random() < contested_share:
            controller[z] = None
        else:
            pool = ["gov"] + groups
            controller[z] = pool[int(rng.integers(len(pool)))]
    zone_of = [zone_ids[z] for z in zone_idx.tolist()]
    zones = [{"id": zone_ids[z], "name": f"Zone {z + 1}", "controlled_by": controller[z],
              "access": "open"} for z in range(n_zones)]
    if denied_share > 0 and sites > 1:
        zone_of, zones = _denied(rng, xy, kinds, n_dep, sites, zone_of, zones, groups,
                                 denied_share)
    return zone_of, zones


def _bands(xy: np.ndarray, side: float, groups: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """South-to-north bands: government, contested, then one per armed group."""
    holders: list[str | None] = ["gov", None] + list(groups)
    names = ["Government-held south", "Contested middle"] + [f"Held by armed group {i + 1}"
                                                               for i in range(len(groups))]
    band = np.minimum((xy[:, 1] / side * len(holders)).astype(int), len(holders) - 1)
    zone_ids = [f"Z{i + 1:02d}" for i in range(len(holders))]
    zones = [{"id": zone_ids[i], "name": names[i], "controlled_by": holders[i], "access": "open"}
             for i in range(len(holders))]
    return [zone_ids[b] for b in band.tolist()], zones


def _denied(rng: np.random.Generator, xy: np.ndarray, kinds: np.ndarray, n_dep: int,
            sites: int, zone_of: list[str], zones: list[dict[str, Any]], groups: list[str],
            denied_share: float) -> tuple[list[str], list[dict[str, Any]]]:
    """Carve the denied enclave out of the existing zones."""
    from scipy.spatial import cKDTree

    site_idx = np.flatnonzero(kinds == "site")
    d_dep, _ = cKDTree(xy[:n_dep]).query(xy[site_idx])
    far = site_idx[np.argsort(-d_dep, kind="stable")[: max(1, len(site_idx) // 10)]]
    centre = xy[int(far[int(rng.integers(len(far)))])]
    k = min(len(site_idx) - 1, max(1, math.ceil(denied_share * sites)))
    d_site = np.linalg.norm(xy[site_idx] - centre, axis=1)
    chosen = site_idx[np.argsort(d_site, kind="stable")[:k]]
    radius = float(np.max(np.linalg.norm(xy[chosen] - centre, axis=1)))
    junc = np.flatnonzero((kinds == "junction") & (np.linalg.norm(xy - centre, axis=1) <= radius))
    zone_of = list(zone_of)
    for i in np.concatenate([chosen, junc]).tolist():
        zone_of[i] = "ZD"
    holder = groups[int(rng.integers(len(groups)))] if groups else None
    zones = zones + [{"id": "ZD", "name": "Denied enclave", "controlled_by": holder,
                      "access": "denied"}]
    return zone_of, zones


def _danger(controller: str | None, denied: bool) -> float:
    """Typical risk of one road traversal in a zone (before noise): the security picture."""
    if denied:
        return 0.08
    if controller is None:
        return 0.05
    if controller == "gov":
        return 0.001
    if controller == "un":
        return 0.001
    return 0.015


def _roads(rng: np.random.Generator, xy: np.ndarray, pairs: np.ndarray, backbone: np.ndarray,
           ids: list[str], zone_of: list[str], control: dict[str, str | None], denied: set[str],
           party_list: list[dict[str, Any]], closed_share: float, bridge_share: float,
           oneway_share: float, risk_scale: float, circuity: float,
           speed_kmh: tuple[float, float, float], side: float) -> list[dict[str, Any]]:
    """Road attributes: km, hours (road class), risk (zones, front lines, hotspots), flags."""
    m = len(pairs)
    a, b = pairs[:, 0], pairs[:, 1]
    straight = np.linalg.norm(xy[a] - xy[b], axis=1)
    km = np.maximum(0.5, np.round(straight * circuity * rng.uniform(0.9, 1.15, m), 1))
    klass = rng.choice(3, size=m, p=[0.25, 0.5, 0.25])
    hours = np.maximum(0.01, np.round(km / np.asarray(speed_kmh)[klass], 2))
    opp = {frozenset((p["id"], q)) for p in party_list for q in p["opposes"]}
    zc = [control[z] for z in zone_of]
    zd = [z in denied for z in zone_of]
    base = np.array([(_danger(zc[i], zd[i]) + _danger(zc[j], zd[j])) / 2
                     for i, j in pairs.tolist()])
    front = np.array([zc[i] != zc[j] and (zc[i] is None or zc[j] is None
                                          or frozenset((zc[i], zc[j])) in opp)
                      for i, j in pairs.tolist()], dtype=bool)
    risk = base * rng.lognormal(0.0, 0.6, m) + 0.04 * front
    mid = (xy[a] + xy[b]) / 2
    for _ in range(max(1, m // 600)):  # ambush corridors
        c = rng.uniform(0.0, side, 2)
        r = side * rng.uniform(0.03, 0.08)
        near = np.linalg.norm(mid - c, axis=1) < r
        risk = risk + near * rng.uniform(0.03, 0.12)
    risk = np.clip(np.round(risk * risk_scale, 4), 0.0, 0.6)
    free = ~backbone
    closed = free & (rng.random(m) < closed_share)
    oneway = free & ~closed & (rng.random(m) < oneway_share)
    flip = rng.random(m) < 0.5
    bridge = rng.random(m) < bridge_share
    limit = rng.choice([10, 12, 15], size=m)
    out = []
    for e in range(m):
        i, j = int(a[e]), int(b[e])
        if oneway[e] and flip[e]:
            i, j = j, i
        road: dict[str, Any] = {"a": ids[i], "b": ids[j], "km": float(km[e]),
                                "hours": float(hours[e]), "risk": float(risk[e])}
        if closed[e]:
            road["closed"] = True
        if oneway[e]:
            road["oneway"] = True
        if bridge[e]:
            road["max_weight_t"] = int(limit[e])
        out.append(road)
    return out


def _nodes(rng: np.random.Generator, ids: list[str], kinds: np.ndarray, latlon: np.ndarray,
           zone_of: list[str], control: dict[str, str | None], denied: set[str],
           templates: list[_CommodityTemplate], window_share: float, horizon_h: float,
           days: float, pop_median: float) -> list[dict[str, Any]]:
    """Depots, junctions and sites; site needs follow population and ration scales."""
    n = len(ids)
    pop = np.clip(np.round(rng.lognormal(math.log(pop_median), 1.0, n), -1), 100, 500000)
    pop = pop.astype(int)
    sev_base = np.array([5 if z in denied else 3 if control[z] is None
                         else 2 if control[z] == "gov" else 3 for z in zone_of])
    severity = np.clip(sev_base + rng.integers(-1, 2, n), 1, 5)
    needs = []
    for t in templates:
        q = np.ceil(pop * (t.per_person_per_day * days + t.per_person_once))
        has = rng.random(n) < t.share_of_sites
        needs.append(np.where(has, q, 0.0))
    w_open = np.round(rng.uniform(0.0, horizon_h / 3, n))
    w_len = np.round(rng.uniform(8.0, 24.0, n))
    windowed = rng.random(n) < window_share
    service = rng.choice([0.5, 1.0, 1.5], size=n)
    nodes = []
    for i in range(n):
        node: dict[str, Any] = {"id": ids[i], "kind": str(kinds[i]), "lat": float(latlon[i, 0]),
                                "lon": float(latlon[i, 1]), "zone": zone_of[i]}
        if kinds[i] == "site":
            need = {t.id: float(needs[c][i]) for c, t in enumerate(templates) if needs[c][i] > 0}
            if not need:  # food's share is 1; with a custom first template, keep one positive
                need = {templates[0].id: float(max(1.0, np.ceil(pop[i] * 0.01)))}
            node.update(need=need, population=int(pop[i]), severity=int(severity[i]),
                        service_h=float(service[i]))
            if windowed[i]:
                close = min(horizon_h, float(w_open[i] + w_len[i]))
                node["window"] = [float(w_open[i]), close]
        nodes.append(node)
    return nodes


def _nearest_depot(xy: np.ndarray, n_dep: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    return cKDTree(xy[:n_dep]).query(xy)[1]


def _stock(rng: np.random.Generator, nodes: list[dict[str, Any]], nearest: np.ndarray,
           n_dep: int, templates: list[_CommodityTemplate], stock_ratio: float) -> None:
    """Stock each depot for its catchment's need (noisy), scaled so the total is the ratio."""
    for t in templates:
        catch = np.zeros(n_dep)
        for i, node in enumerate(nodes):
            if node["kind"] == "site":
                catch[nearest[i]] += node["need"].get(t.id, 0.0)
        total = catch.sum()
        share = catch * rng.uniform(0.6, 1.4, n_dep) + total * 0.02 / n_dep
        share = share / share.sum() if share.sum() > 0 else np.full(n_dep, 1 / n_dep)
        units = np.floor(share * total * stock_ratio)
        for d in range(n_dep):
            if units[d] > 0:
                nodes[d].setdefault("stock", {})[t.id] = float(units[d])
    for d in range(n_dep):
        nodes[d].setdefault("stock", {})


def _organizations() -> list[dict[str, Any]]:
    """Four policies side by side: the variety the neutrality rules are about."""
    return [
        {"id": "wfp", "name": "UN food agency", "escort_policy": "last_resort",
         "military_assets": "never"},
        {"id": "ngo", "name": "medical NGO (no armed escorts)", "escort_policy": "never",
         "military_assets": "never"},
        {"id": "unhcr", "name": "UN refugee agency", "escort_policy": "last_resort",
         "military_assets": "last_resort"},
        {"id": "army", "name": "national army logistics", "escort_policy": "accept",
         "military_assets": "last_resort"},
    ]


def _fleet(rng: np.random.Generator, nodes: list[dict[str, Any]], nearest: np.ndarray,
           xy: np.ndarray, n_dep: int, templates: list[_CommodityTemplate], horizon_h: float,
           fleet_factor: float, stock_ratio: float, speed: float,
           gov_ok: np.ndarray) -> list[dict[str, Any]]:
    """Vehicles per depot sized to its catchment: tonnes to move / (capacity × trips).

    The national army has trucks only at depots outside armed groups' zones (``gov_ok``).
    """
    weight = {t.id: t.weight_t for t in templates}
    load = np.zeros(n_dep)
    reach = np.zeros(n_dep)
    for i, node in enumerate(nodes):
        if node["kind"] == "site":
            d = nearest[i]
            load[d] += sum(q * weight[c] for c, q in node["need"].items())
            reach[d] = max(reach[d], float(np.linalg.norm(xy[i] - xy[d])))
    # (org, suffix, capacity_t, capacity_m3, cost/km, military, share of the load)
    types = [("wfp", "heavy", 20.0, 60.0, 2.0, False, 0.45),
             ("wfp", "light", 8.0, 25.0, 1.2, False, 0.15),
             ("ngo", "light", 6.0, 20.0, 1.0, False, 0.15),
             ("unhcr", "medium", 12.0, 40.0, 1.5, False, 0.1),
             ("army", "hired", 10.0, 35.0, 1.5, False, 0.05),
             ("army", "mil", 10.0, 30.0, 3.0, True, 0.1)]
    # probability that an organization has trucks at a given depot
    presence = {"wfp": 1.0, "ngo": 0.6, "unhcr": 0.4, "army": 0.4}
    present = {org: rng.random(n_dep) < p for org, p in presence.items()}
    present["army"] = (present["army"] | (np.arange(n_dep) == int(np.argmax(gov_ok)))) & gov_ok
    present["ngo"] = present["ngo"] | (np.arange(n_dep) == 0)
    fleet = []
    for d in range(n_dep):
        trip_h = 2 * (0.6 * reach[d]) / speed + 3.0
        trips = max(1.0, horizon_h / trip_h)
        for org, suffix, cap_t, cap_m3, cost, mil, share in types:
            if not present[org][d]:
                continue
            count = math.ceil(fleet_factor * share * load[d] * stock_ratio / (cap_t * trips))
            fleet.append({"id": f"{org}_{suffix}_{nodes[d]['id']}", "organization": org,
                          "depot": nodes[d]["id"], "count": max(1, count), "capacity_t": cap_t,
                          "capacity_m3": cap_m3, "cost_per_km": cost, "military": mil})
    return fleet


def _escorts(rng: np.random.Generator, ids: list[str], kinds: np.ndarray, zone_of: list[str],
             control: dict[str, str | None], denied: set[str], party_list: list[dict[str, Any]],
             n_dep: int, factor: float, gov_ok: np.ndarray) -> list[dict[str, Any]]:
    """Government escorts at most depots outside armed groups' zones, UN escorts at a few,
    each armed group's at a node of its own zone."""
    out = []
    first = int(np.argmax(gov_ok))
    for d in range(n_dep):
        if gov_ok[d] and (d == first or rng.random() < 0.6):
            out.append({"id": f"E_gov_{ids[d]}", "provider": "gov", "base": ids[d],
                        "count": max(1, round(factor * int(rng.integers(1, 4)))),
                        "effectiveness": float(np.round(rng.uniform(0.5, 0.7), 2)),
                        "cost_per_km": float(np.round(rng.uniform(2.0, 4.0), 1))})
    n_un = max(1, n_dep // 4)
    for d in sorted(rng.choice(n_dep, size=n_un, replace=False).tolist()):
        out.append({"id": f"E_un_{ids[d]}", "provider": "un", "base": ids[d],
                    "count": max(1, round(factor * int(rng.integers(1, 3)))),
                    "effectiveness": float(np.round(rng.uniform(0.8, 0.9), 2)),
                    "cost_per_km": float(np.round(rng.uniform(4.0, 6.0), 1))})
    for p in party_list:
        if p["kind"] != "non_state":
            continue
        bases = [i for i, z in enumerate(zone_of)
                 if control[z] == p["id"] and z not in denied and kinds[i] != "depot"]
        if bases:
            base = bases[int(rng.integers(len(bases)))]
            out.append({"id": f"E_{p['id']}", "provider": p["id"], "base": ids[base],
                        "count": max(1, round(factor)),
                        "effectiveness": float(np.round(rng.uniform(0.4, 0.6), 2)),
                        "cost_per_km": float(np.round(rng.uniform(1.0, 3.0), 1))})
    return out
