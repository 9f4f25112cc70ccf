"""Build models/south_sudan.json from the real open data in ../shared/data/real.

Usage (from the repository root)::

    python models/scripts/build_south_sudan.py [OUT.json] [--data DIR]

Inputs (read only, never copied): WFP markets (sites, hubs), OCHA COD-PS 2022 county population
(needs), Insecurity Insight aid-worker KIKA incidents 2020-2024 (road risk). Everything else is a
documented assumption (constants below; models/README.md, section "south_sudan"). No network, no
randomness: the output is the same bytes on every run.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from allocate.generate import dumps, haversine_km

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "real"
OUT = REPO / "models" / "south_sudan.json"

# ----- assumptions (all stated in models/README.md) ---------------------------------------------
IN_NEED = 0.6            # share of county population in need of food assistance
DAYS = 7                 # days of ration per cycle (a weekly push; --days 30 for a month)
CEREAL_KG = 0.5          # WFP cereal ration, kg / person / day
SAM_SHARE = 0.02         # people in need who are severely malnourished children
RUTF_CARTONS = 0.5       # RUTF cartons (150 sachets) per SAM child per month
CAMP_SHARE = 0.10        # share of its county's population living in an IDP camp market
HOUSEHOLD = 5            # people per household: one shelter kit each, in IDP camps only
STOCK_RATIO = 0.75       # pipeline resourced at 75 % of need
HORIZON_H = 168.0        # one week (--horizon-h)
TOWN_KM = 15.0           # markets closer than this (single linkage) form one town
K_NEAREST = 3            # each town joins its 3 nearest towns by road
CIRCUITY = 1.3           # road km / great-circle km
SPEED_KMH = 25.0         # unpaved roads, rainy season
FLOOD_SPEED_KMH = 15.0   # roads inside the Sudd flood-plain states
URBAN_SPEED_KMH = 15.0   # within a town
URBAN_KM = 3.0           # a market to its town's hub, or a depot to its town's market
FLOOD_STATES = ("Jonglei", "Unity", "Upper Nile")
FLOOD_CLOSE_KM = 150.0   # flood-plain roads longer than this are closed (if the network stays connected)
LAMBDA = 1.5             # traversal risk per expected KIKA incident met (calibration)
BASE_PER_100KM = 0.004   # background hazard per 100 km of road
RISK_CAP = 0.6
# weight and spread (km) of an incident by its geo-precision code; (6) country is ignored
PRECISION = {"2": (1.0, 25.0), "3": (0.6, 50.0), "4": (0.25, 150.0), "5": (1.0, 25.0)}
ROAD_FACTOR = {True: 1.0, False: 0.3}  # incidents located on a road count fully
HUBS = {  # depot id: (market name in the WFP file, hub town)
    "D_JUBA": ("Konyokonyo", "Juba"), "D_BOR": ("Bor", "Bor"), "D_RUMBEK": ("Rumbek", "Rumbek"),
    "D_WAU": ("Jau", "Wau"), "D_MALAKAL": ("Malakal", "Malakal"),
    "D_BENTIU": ("Bentiu", "Bentiu"), "D_AWEIL": ("Aweil Town", "Aweil"),
}
OPPOSITION_COUNTIES = ("Akobo", "Nyirol", "Uror", "Fangak", "Ulang")
DENIED_COUNTIES = ("Pibor",)
LAT0 = 7.5  # reference latitude of the local planar projection


def fold(name: str) -> str:
    """Admin-name folding for joins: case, spaces and punctuation ignored."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_hxl_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV whose second row is an HXL hashtag row (skipped)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[1:]


def xy_km(lat: float, lon: float) -> tuple[float, float]:
    """Local equirectangular km: good to ~1 % over South Sudan, enough for buffers."""
    return lon * 111.32 * math.cos(math.radians(LAT0)), lat * 111.32


# ----- data ------------------------------------------------------------------------------------
def load_markets(data: Path) -> list[dict[str, Any]]:
    pop = {fold(r["ADM2_EN"]): r for r in read_hxl_csv(data / "ssd_cod_ps_2022_adm2_population.csv")}
    markets = []
    for r in read_hxl_csv(data / "ssd_wfp_markets.csv"):
        county = pop[fold(r["admin2"])]  # all 115 join (README of the data)
        markets.append({"id": f"M{r['market_id']}", "name": r["market"], "state": r["admin1"],
                        "county": county["ADM2_EN"], "pcode": county["ADM2_PCODE"],
                        "county_pop": int(county["T_TL"]), "lat": float(r["latitude"]),
                        "lon": float(r["longitude"]), "camp": "(IDP Camp)" in r["market"]})
    markets.sort(key=lambda m: int(m["id"][1:]))
    towns_in = defaultdict(int)
    for m in markets:
        towns_in[m["pcode"]] += not m["camp"]
    for m in markets:
        camp_pop = CAMP_SHARE * m["county_pop"]
        has_camp = any(o["camp"] and o["pcode"] == m["pcode"] for o in markets)
        rest = m["county_pop"] - (camp_pop if has_camp else 0.0)
        m["population"] = round(camp_pop if m["camp"] else rest / towns_in[m["pcode"]])
    return markets


def load_incidents(data: Path) -> np.ndarray:
    """Rows (x km, y km, weight, spread km), one per incident with a usable location."""
    out = []
    for r in read_hxl_csv(data / "ssd_aid_worker_incidents_2020_2024.csv"):
        code = r["Geo Precision"].strip()[1:2]
        if code not in PRECISION or not r["Latitude"] or not r["Longitude"]:
            continue
        w, spread = PRECISION[code]
        w *= ROAD_FACTOR[r["Location of Incident"].strip() == "Road"]
        out.append((*xy_km(float(r["Latitude"]), float(r["Longitude"])), w, spread))
    return np.array(out)


# ----- towns and roads -------------------------------------------------------------------------
def towns(markets: list[dict[str, Any]]) -> list[list[int]]:
    """Single-linkage clusters of markets within TOWN_KM: one road hub per town."""
    g = nx.Graph()
    g.add_nodes_from(range(len(markets)))
    for i, a in enumerate(markets):
        for j in range(i + 1, len(markets)):
            b = markets[j]
            if haversine_km(a["lat"], a["lon"], b["lat"], b["lon"]) < TOWN_KM:
                g.add_edge(i, j)
    return sorted(sorted(c) for c in nx.connected_components(g))


def exposure(a: tuple[float, float], b: tuple[float, float], inc: np.ndarray) -> float:
    """Incident density integrated along segment a-b (expected incidents met per traversal).

    Each incident is a 2-D Gaussian of its precision's spread (per km², weighted), so a road
    passing straight through one incident of spread σ collects ``w / (σ √(2π))``; a short road
    collects in proportion to its length. Midpoint rule, steps of at most 1 km.
    """
    pa, pb = np.asarray(a), np.asarray(b)
    length = float(np.linalg.norm(pb - pa))
    steps = max(1, math.ceil(length))
    t = (np.arange(steps) + 0.5) / steps
    pts = pa + t[:, None] * (pb - pa)
    d2 = ((pts[:, None, :] - inc[None, :, :2]) ** 2).sum(axis=2)
    s2 = inc[:, 3] ** 2
    dens = (inc[:, 2] * np.exp(-d2 / (2 * s2)) / (2 * math.pi * s2)).sum(axis=1)
    return float(dens.sum() * max(length, 1e-9) / steps)


def density(p: tuple[float, float], inc: np.ndarray) -> float:
    """Weighted incident density at a point (per 1,000 km²): ranks sites by insecurity."""
    d2 = ((np.asarray(p)[None, :] - inc[:, :2]) ** 2).sum(axis=1)
    s2 = inc[:, 3] ** 2
    return float(1000 * (inc[:, 2] * np.exp(-d2 / (2 * s2)) / (2 * math.pi * s2)).sum())


def road_risk(km: float, expo: float) -> float:
    """1 - exp(-(λ·exposure + β·km/100)), capped: always in [0, 1)."""
    return round(min(RISK_CAP, 1.0 - math.exp(-(LAMBDA * expo + BASE_PER_100KM * km / 100))), 4)


def town_links(markets: list[dict[str, Any]], clusters: list[list[int]]) -> list[tuple[int, int]]:
    """k nearest towns plus a minimum spanning tree (connected whatever the geography)."""
    hubs = [c[0] for c in clusters]
    n = len(hubs)
    dist = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            a, b = markets[hubs[i]], markets[hubs[j]]
            dist[i, j] = haversine_km(a["lat"], a["lon"], b["lat"], b["lon"])
    pairs = set()
    for i in range(n):
        for j in np.argsort(dist[i], kind="stable")[1:K_NEAREST + 1].tolist():
            pairs.add((min(i, j), max(i, j)))
    g = nx.Graph()
    g.add_weighted_edges_from((i, j, dist[i, j]) for i in range(n) for j in range(i + 1, n))
    for i, j in nx.minimum_spanning_edges(g, algorithm="kruskal", data=False):
        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def build_roads(markets: list[dict[str, Any]], clusters: list[list[int]],
                incidents: np.ndarray,
                hub_market: dict[str, int]) -> list[dict[str, Any]]:
    roads: list[dict[str, Any]] = []
    where = [xy_km(m["lat"], m["lon"]) for m in markets]
    for cluster in clusters:  # urban links: every market to its town's hub market
        for i in cluster[1:]:
            roads.append(_road(markets[cluster[0]], markets[i], URBAN_KM, URBAN_SPEED_KMH,
                               exposure(where[cluster[0]], where[i], incidents)))
    for depot, i in hub_market.items():  # a depot to its town's market
        x, y = where[i]
        roads.append(_road({"id": depot}, markets[i], URBAN_KM, URBAN_SPEED_KMH,
                           exposure((x, y), (x + URBAN_KM, y), incidents)))
    inter = []
    for ti, tj in town_links(markets, clusters):
        a, b = markets[clusters[ti][0]], markets[clusters[tj][0]]
        km = round(haversine_km(a["lat"], a["lon"], b["lat"], b["lon"]) * CIRCUITY, 1)
        flood = a["state"] in FLOOD_STATES and b["state"] in FLOOD_STATES
        road = _road(a, b, km, FLOOD_SPEED_KMH if flood else SPEED_KMH,
                     exposure(where[clusters[ti][0]], where[clusters[tj][0]], incidents))
        inter.append((flood and km > FLOOD_CLOSE_KM, road))
    _close_flooded(inter, roads)
    return roads + [r for _, r in inter]


def _road(a: dict[str, Any], b: dict[str, Any], km: float, speed: float,
          expo: float) -> dict[str, Any]:
    return {"a": a["id"], "b": b["id"], "km": km, "hours": round(km / speed, 2),
            "risk": road_risk(km, expo), "x_incident_exposure": round(expo, 4)}


def _close_flooded(inter: list[tuple[bool, dict[str, Any]]], urban: list[dict[str, Any]]) -> None:
    """Close long flood-plain roads, longest first, unless that would split the network."""
    g = nx.Graph()
    g.add_edges_from((r["a"], r["b"]) for r in urban)
    g.add_edges_from((r["a"], r["b"]) for _, r in inter)
    for flag, road in sorted(inter, key=lambda fr: (-fr[1]["km"], fr[1]["a"], fr[1]["b"])):
        if not flag:
            continue
        g.remove_edge(road["a"], road["b"])
        if nx.is_connected(g):
            road["closed"] = True
            road["note"] = "flood plain, rainy season: impassable (assumption)"
        else:
            g.add_edge(road["a"], road["b"])


# ----- scenario --------------------------------------------------------------------------------
def zone_of(m: dict[str, Any]) -> str:
    if m["county"] in DENIED_COUNTIES:
        return "Z_PIBOR"
    if m["county"] in OPPOSITION_COUNTIES:
        return "Z_OPPOSITION"
    return "Z_" + fold(m["state"]).upper()


def zones(markets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for state in sorted({m["state"] for m in markets}):
        contested = state in ("Jonglei", "Upper Nile")
        out.append({"id": "Z_" + fold(state).upper(), "name": state,
                    "controlled_by": None if contested else "gov", "access": "open",
                    "note": "state (admin1); controller is a modelling assumption"})
    out.append({"id": "Z_OPPOSITION", "name": "opposition-influenced counties: "
                + ", ".join(OPPOSITION_COUNTIES), "controlled_by": "opposition",
                "access": "open", "note": "modelling assumption, not a statement of control"})
    out.append({"id": "Z_PIBOR", "name": "Pibor county", "controlled_by": None,
                "access": "denied", "note": "access denied (assumption); 15 KIKA incidents "
                "in the Greater Pibor Administrative Area 2020-2024"})
    return out


def site_needs(m: dict[str, Any], days: float) -> dict[str, float]:
    in_need = m["population"] * IN_NEED
    need = {"cereal": math.ceil(in_need * CEREAL_KG * days / 50),
            "rutf": math.ceil(in_need * SAM_SHARE * RUTF_CARTONS * days / 30)}
    if m["camp"]:
        need["shelter"] = math.ceil(m["population"] / HOUSEHOLD)
    return {c: float(q) for c, q in need.items()}


def severity(m: dict[str, Any], expo: float, q75: float) -> int:
    """No IPC data offline: 3, +1 for IDP camps, +1 in the top quartile of incident exposure."""
    return min(5, 3 + int(m["camp"]) + int(expo > q75))


def build(data: Path = DATA, days: float = DAYS, horizon_h: float = HORIZON_H) -> dict[str, Any]:
    """The scenario dict; ``days`` of ration to deliver within ``horizon_h`` hours."""
    markets = load_markets(data)
    incidents = load_incidents(data)
    clusters = towns(markets)
    by_name = {m["name"]: i for i, m in enumerate(markets)}
    hub_market = {d: by_name[name] for d, (name, _) in HUBS.items()}
    roads = build_roads(markets, clusters, incidents, hub_market)
    where = [xy_km(m["lat"], m["lon"]) for m in markets]
    local = [density(p, incidents) for p in where]
    q75 = float(np.quantile(local, 0.75))
    sites = []
    for m, expo in zip(markets, local):
        sites.append({"id": m["id"], "kind": "site", "name": m["name"], "lat": m["lat"],
                      "lon": m["lon"], "zone": zone_of(m), "need": site_needs(m, days),
                      "population": m["population"], "severity": severity(m, expo, q75),
                      "service_h": 2.0, "x_county": m["county"], "x_adm2_pcode": m["pcode"]})
    depots = []
    for d, (name, town) in HUBS.items():
        m = markets[hub_market[d]]
        depots.append({"id": d, "kind": "depot", "name": f"{town} hub", "lat": m["lat"],
                       "lon": m["lon"], "zone": zone_of(m), "stock": {}})
    scenario = {
        "format": "allocate.scenario/1",
        "name": "south_sudan",
        "note": ("Real places, population and insecurity data (WFP markets, OCHA COD-PS 2022, "
                 "Insecurity Insight KIKA 2020-2024) with an assumed road graph, ration and "
                 f"control map: {days:g} days of general food distribution delivered within "
                 f"{horizon_h:g} h from seven hubs in the rainy season. See models/README.md "
                 "for every assumption."),
        "horizon_h": float(horizon_h),
        "commodities": [
            {"id": "cereal", "name": "cereal (sorghum/maize), 50 kg bag", "unit": "bag",
             "weight_t": 0.05, "volume_m3": 0.07},
            {"id": "rutf", "name": "RUTF, carton of 150 sachets", "unit": "carton",
             "weight_t": 0.0138, "volume_m3": 0.03},
            {"id": "shelter", "name": "shelter/NFI kit", "unit": "kit", "weight_t": 0.03,
             "volume_m3": 0.12},
        ],
        "parties": [
            {"id": "gov", "name": "Government forces", "kind": "state",
             "opposes": ["opposition"]},
            {"id": "opposition", "name": "Armed opposition (generic)", "kind": "non_state",
             "opposes": []},
            {"id": "un", "name": "UN peacekeeping mission", "kind": "un", "opposes": []},
        ],
        "zones": zones(markets),
        "nodes": depots + sites,
        "roads": roads,
    }
    _stock_and_fleet(scenario)
    return scenario


def _catchments(s: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], float]]]:
    """Each site to its nearest depot by open-road hours, with that time."""
    denied = {z["id"] for z in s["zones"] if z["access"] == "denied"}
    zone = {n["id"]: n["zone"] for n in s["nodes"]}
    g = nx.Graph()
    for r in s["roads"]:
        if not r.get("closed") and zone[r["a"]] not in denied and zone[r["b"]] not in denied:
            g.add_edge(r["a"], r["b"], hours=r["hours"])
    depots = [n["id"] for n in s["nodes"] if n["kind"] == "depot"]
    dist = {d: nx.single_source_dijkstra_path_length(g, d, weight="hours") for d in depots}
    out: dict[str, list[tuple[dict[str, Any], float]]] = {d: [] for d in depots}
    for n in s["nodes"]:
        if n["kind"] == "site":
            reach = [(dist[d][n["id"]], d) for d in depots if n["id"] in dist[d]]
            if reach:
                h, d = min(reach)
                out[d].append((n, h))
    return out


def _stock_and_fleet(s: dict[str, Any]) -> None:
    horizon_h = s["horizon_h"]
    """Stock hubs for their catchment at STOCK_RATIO; fleets sized to move it in the horizon."""
    weight = {c["id"]: c["weight_t"] for c in s["commodities"]}
    catch = _catchments(s)
    depot_nodes = {n["id"]: n for n in s["nodes"] if n["kind"] == "depot"}
    fleet = []
    for d, members in catch.items():
        stock: dict[str, float] = defaultdict(float)
        load_t = 0.0
        for site, _ in members:
            for c, q in site["need"].items():
                stock[c] += q * STOCK_RATIO
                load_t += q * weight[c] * STOCK_RATIO
        depot_nodes[d]["stock"] = {c: float(math.floor(stock[c])) for c in weight if stock[c] >= 1}
        mean_h = sum(h for _, h in members) / max(1, len(members))
        trips = max(1.0, horizon_h / (2 * mean_h + 6.0))
        def count(share: float, cap: float) -> int:
            return max(1, math.ceil(share * load_t / (cap * trips)))
        fleet.append(_vehicle("wfp", "heavy", d, count(0.6, 20), 20, 60, 2.0, False))
        fleet.append(_vehicle("wfp", "light", d, count(0.15, 8), 8, 25, 1.2, False))
        if d in ("D_JUBA", "D_BOR", "D_MALAKAL", "D_BENTIU", "D_AWEIL"):
            fleet.append(_vehicle("ngo", "light", d, count(0.1, 6), 6, 20, 1.0, False))
        if d in ("D_JUBA", "D_WAU", "D_MALAKAL", "D_RUMBEK"):
            fleet.append(_vehicle("army", "hired", d, count(0.05, 10), 10, 35, 1.5, False))
            fleet.append(_vehicle("army", "mil", d, count(0.1, 10), 10, 30, 3.0, True))
    s["organizations"] = [
        {"id": "wfp", "name": "WFP-like food agency", "escort_policy": "last_resort",
         "military_assets": "never"},
        {"id": "ngo", "name": "medical NGO (no armed escorts)", "escort_policy": "never",
         "military_assets": "never"},
        {"id": "army", "name": "national army logistics (military trucks as a last resort)",
         "escort_policy": "accept", "military_assets": "last_resort"},
    ]
    s["fleet"] = fleet
    s["escorts"] = [
        {"id": f"E_gov_{d[2:]}", "name": f"government escort, {d[2:].title()}",
         "provider": "gov", "base": d, "count": 2, "effectiveness": 0.5, "cost_per_km": 2.0}
        for d in ("D_JUBA", "D_WAU", "D_RUMBEK", "D_AWEIL")
    ] + [
        {"id": f"E_un_{d[2:]}", "name": f"UN force escort, {d[2:].title()}", "provider": "un",
         "base": d, "count": 2, "effectiveness": 0.8, "cost_per_km": 5.0}
        for d in ("D_JUBA", "D_BOR", "D_MALAKAL", "D_BENTIU")
    ]
    s["policy"] = {"risk_threshold": 0.05, "max_risk": 0.2, "min_coverage": 0.0,
                   "parity_tolerance": 1.0, "party_escorts": "non_opposed"}


def _vehicle(org: str, kind: str, depot: str, count: int, cap_t: float, cap_m3: float,
             cost: float, military: bool) -> dict[str, Any]:
    return {"id": f"{org}_{kind}_{depot[2:]}", "organization": org, "depot": depot,
            "count": count, "capacity_t": cap_t, "capacity_m3": cap_m3, "cost_per_km": cost,
            "military": military}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(OUT))
    ap.add_argument("--data", default=str(DATA), help="directory holding the three CSV files")
    ap.add_argument("--days", type=float, default=DAYS, help="days of ration per cycle")
    ap.add_argument("--horizon-h", type=float, default=HORIZON_H, help="planning horizon")
    args = ap.parse_args()
    scenario = build(Path(args.data), args.days, args.horizon_h)
    Path(args.out).write_text(dumps(scenario), encoding="utf-8")


if __name__ == "__main__":
    main()
