"""A second, independent, hand-checkable scenario and plan for the rules of FORMAT.md §3.

Written from FORMAT.md only (not from the conformance vectors, not from the library). Every number
in the base plan below is worked out by hand in the comments; :func:`metrics` is a small
independent recomputation of §3.7 used to keep the metrics of a mutated plan exact, and it is
itself pinned to the hand-computed figures of the base plan by a test.

The network (two-way roads unless marked; km, hours, risk):

    EB --(25 km, 2.5 h, 0)-- D --(10, 1, 0.01)-- J --(20, 2, 0.08)-- S1
    NB --(5, 0.5, 0, ONE-WAY NB->D)--> D         J --(30, 3, 0.02)-- S2
    D --(40, 4, 0, bridge max 10 t)-- S1         J --(5, 0.5, 0)---- S3 (denied zone)
    D --(25, 2, 0, CLOSED)-- S2                  J --(10, 1, 0.9)--- S5
    D --(500, 20, 0)-- S4                        D --(6, 0.5, 0)---- S6 --(8, 1, 0)-- D2
    D --(15, 1.5, 0, bridge max 5 t)-- S7

Zones: ZG (gov, open) holds D, D2, J, EB, NB, S1, S6, S7; ZR (reb, open) holds S2; ZC (nobody,
open) holds S4, S5; ZD (reb, DENIED) holds S3. gov opposes reb (reb lists nobody: opposition is
symmetric all the same).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterable

RICE_T = 0.1  # t per unit
TENT_T = 0.05

SCENARIO: dict[str, Any] = {
    "format": "allocate.scenario/1",
    "name": "rules-fixture",
    "horizon_h": 24,
    "commodities": [
        {"id": "rice", "weight_t": 0.1, "volume_m3": 0.1},
        {"id": "tent", "weight_t": 0.05, "volume_m3": 0.5, "unit": "tent"},
    ],
    "parties": [
        {"id": "gov", "kind": "state", "opposes": ["reb"]},
        {"id": "reb", "kind": "non_state", "opposes": []},
        {"id": "un", "kind": "un"},
        {"id": "neu", "kind": "neutral"},
    ],
    "zones": [
        {"id": "ZG", "controlled_by": "gov", "access": "open"},
        {"id": "ZR", "controlled_by": "reb", "access": "open"},
        {"id": "ZC", "controlled_by": None},
        {"id": "ZD", "controlled_by": "reb", "access": "denied"},
    ],
    "nodes": [
        {"id": "D", "kind": "depot", "lat": 10.0, "lon": 20.0, "zone": "ZG", "stock": {"rice": 300, "tent": 40}},
        {"id": "D2", "kind": "depot", "lat": 10.1, "lon": 20.1, "zone": "ZG", "stock": {"rice": 20}},
        {"id": "J", "kind": "junction", "lat": 10.2, "lon": 20.0, "zone": "ZG"},
        {"id": "EB", "kind": "junction", "lat": 9.9, "lon": 20.0, "zone": "ZG"},
        {"id": "NB", "kind": "junction", "lat": 9.95, "lon": 20.0, "zone": "ZG"},
        {"id": "S1", "kind": "site", "lat": 10.3, "lon": 20.2, "zone": "ZG", "need": {"rice": 100},
         "population": 2000, "severity": 4, "window": [4, 12], "service_h": 1},
        {"id": "S2", "kind": "site", "lat": 10.5, "lon": 20.0, "zone": "ZR", "need": {"rice": 50, "tent": 30},
         "population": 800, "severity": 2},
        {"id": "S3", "kind": "site", "lat": 10.2, "lon": 20.1, "zone": "ZD", "need": {"rice": 10},
         "population": 100, "severity": 5},
        {"id": "S4", "kind": "site", "lat": 14.0, "lon": 20.0, "zone": "ZC", "need": {"rice": 10},
         "population": 100, "severity": 1},
        {"id": "S5", "kind": "site", "lat": 10.3, "lon": 19.9, "zone": "ZC", "need": {"rice": 10},
         "population": 300, "severity": 3},
        {"id": "S6", "kind": "site", "lat": 10.05, "lon": 20.05, "zone": "ZG", "need": {"rice": 20},
         "population": 500, "severity": 3},
        {"id": "S7", "kind": "site", "lat": 10.0, "lon": 20.1, "zone": "ZG", "need": {"rice": 5},
         "population": 50, "severity": 1},
    ],
    "roads": [
        {"a": "D", "b": "J", "km": 10, "hours": 1, "risk": 0.01},
        {"a": "J", "b": "S1", "km": 20, "hours": 2, "risk": 0.08},
        {"a": "D", "b": "S1", "km": 40, "hours": 4, "risk": 0.0, "max_weight_t": 10},
        {"a": "J", "b": "S2", "km": 30, "hours": 3, "risk": 0.02},
        {"a": "D", "b": "S2", "km": 25, "hours": 2, "risk": 0.0, "closed": True},
        {"a": "J", "b": "S3", "km": 5, "hours": 0.5, "risk": 0.0},
        {"a": "D", "b": "S4", "km": 500, "hours": 20, "risk": 0.0},
        {"a": "J", "b": "S5", "km": 10, "hours": 1, "risk": 0.9},
        {"a": "D", "b": "S6", "km": 6, "hours": 0.5, "risk": 0.0},
        {"a": "D2", "b": "S6", "km": 8, "hours": 1, "risk": 0.0},
        {"a": "D", "b": "S7", "km": 15, "hours": 1.5, "risk": 0.0, "max_weight_t": 5},
        {"a": "EB", "b": "D", "km": 25, "hours": 2.5, "risk": 0.0},
        {"a": "NB", "b": "D", "km": 5, "hours": 0.5, "risk": 0.0, "oneway": True},
    ],
    "organizations": [
        {"id": "ngo", "escort_policy": "last_resort", "military_assets": "never"},
        {"id": "army", "escort_policy": "accept", "military_assets": "last_resort"},
        {"id": "wfp", "escort_policy": "never", "military_assets": "never"},
    ],
    "fleet": [
        {"id": "light", "organization": "ngo", "depot": "D", "count": 2, "capacity_t": 8, "capacity_m3": 20, "cost_per_km": 1},
        {"id": "van", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 8, "capacity_m3": 10, "cost_per_km": 1},
        {"id": "heavy", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 20, "capacity_m3": 50, "cost_per_km": 2},
        {"id": "ngo_mil", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 10, "capacity_m3": 30,
         "cost_per_km": 4, "military": True},
        {"id": "army_civ", "organization": "army", "depot": "D", "count": 1, "capacity_t": 10, "capacity_m3": 30, "cost_per_km": 3},
        {"id": "army_mil", "organization": "army", "depot": "D", "count": 1, "capacity_t": 10, "capacity_m3": 30,
         "cost_per_km": 4, "military": True},
        {"id": "wfp_truck", "organization": "wfp", "depot": "D", "count": 1, "capacity_t": 8, "capacity_m3": 20, "cost_per_km": 1},
        {"id": "d2_truck", "organization": "ngo", "depot": "D2", "count": 1, "capacity_t": 8, "capacity_m3": 20, "cost_per_km": 1},
    ],
    "escorts": [
        {"id": "E_gov", "provider": "gov", "base": "EB", "count": 1, "effectiveness": 0.5, "cost_per_km": 5},
        {"id": "E_gov2", "provider": "gov", "base": "D", "count": 1, "effectiveness": 0.5, "cost_per_km": 5},
        {"id": "E_un", "provider": "un", "base": "D", "count": 1, "effectiveness": 0.8, "cost_per_km": 6},
        {"id": "E_neu", "provider": "neu", "base": "D", "count": 1, "effectiveness": 0.6, "cost_per_km": 4},
        {"id": "E_reb", "provider": "reb", "base": "D", "count": 1, "effectiveness": 0.5, "cost_per_km": 5},
        {"id": "E_far", "provider": "neu", "base": "NB", "count": 1, "effectiveness": 0.5, "cost_per_km": 5},
    ],
    "policy": {
        "risk_threshold": 0.05,
        "max_risk": 0.2,
        "min_coverage": 0.5,
        "parity_tolerance": 0.3,
        "party_escorts": "non_opposed",
    },
}

# Claims (all hold; serving depots are D and D2, lightest vehicle type 8 t at both):
# - S3 no_path: its only road ends in the denied zone ZD.
# - S7 no_path: its only road is a 5 t bridge, below the lightest 8 t truck (an escort could cross it,
#   but a claim for vehicles applies weight limits).
# - S4 too_far: D->S4->D is 20 + 20 = 40 h > 24 h; from D2 (D2-S6-D-S4) 2 x 21.5 = 43 h.
# - S5 too_risky: unescorted D-J-S5-J-D is 1 - 0.99^2 * 0.1^2 = 0.990199 > 0.05. Best admissible
#   escort E_un (m = 0.2): 1 - (1 - 0.002)^2 (1 - 0.18)^2 = 1 - 0.996004 * 0.6724 = 0.330288 > 0.2;
#   E_gov/E_gov2/E_far/E_neu are weaker; E_reb is not admitted under non_opposed (D and J lie in ZG,
#   controlled by gov, which opposes reb). From D2 the same roads plus risk-free ones.
#
# Convoys (h = hour; walk = depart + road hours, + service_h after each stop):
# C1 ngo, 1 light, D-S6-D-S1-D (bridge, risk 0, unescorted): depart 0; S6 at 0.5 (10 rice = 1 t);
#    back at D 1.0; S1 at 5.0 (window [4, 12]) 70 rice = 7 t; service 1 -> 6.0; D at 10.0.
#    load 8 t = capacity 8 t (equal is fine), 8 m3 <= 20. km 6+6+40+40 = 92; cost 92 x 1 = 92.
# C2 ngo, 1 light, D-J-S2-J-D, escort E_un: depart 0; S2 at 4.0, 50 rice + 30 tents = 5 + 1.5
#    = 6.5 t <= 8, 5 + 15 = 20 m3 = capacity 20; D at 8.0. km 80; cost 80 x 1 + 80 x 6 = 560.
#    Last resort allowed: the only usable way is via J (D-S2 is closed), unescorted
#    1 - 0.99^2 * 0.98^2 = 0.058712 > 0.05. Risk with E_un: 1 - 0.998^2 * 0.996^2 = 0.011916.
#    E_un (base D) busy [0, 8).
# C3 army, 1 army_civ, D-J-S1-J-D, escort E_gov: depart 3; S1 at 6.0, 30 rice = 3 t; D at 10.0.
#    km 60; cost 60 x 3 + 60 x 5 = 480. Risk 1 - 0.995^2 * 0.96^2 = 1 - 0.990025 * 0.9216 =
#    0.087593 (unescorted it would be 1 - 0.99^2 * 0.92^2 = 0.170443). E_gov busy [0.5, 12.5)
#    (2.5 h from its base EB each way).
# C4 ngo, 1 light, D-S6-D: depart 8 (the moment C2's light truck is back: half-open busy times,
#    light trucks busy [0,10) C1, [0,8) C2, [8,9) C4: never more than 2); S6 at 8.5, 10 rice; D at 9.0.
#    km 12; cost 12.
#
# Metrics of the base plan:
#   delivered_t = 8 + 6.5 + 3 + 1 = 18.5
#   need_t = S1 10 + S2 6.5 + S3 1 + S4 1 + S5 1 + S6 2 + S7 0.5 = 22.0
#   weighted_coverage = (4x10 + 2x6.5 + 3x2) / (4x10 + 2x6.5 + 5x1 + 1x1 + 3x1 + 3x2 + 1x0.5)
#                     = 59 / 68.5 = 0.8613138686...
#   min_site_coverage = 1 (accessible: S1, S2, S6)
#   max_route_risk = C3's 0.0875929600 (= 1 - 0.990025 x 0.9216 = 1 - 0.91240704)
#   escorted_convoys = 2, vehicle_km = 92 + 80 + 60 + 12 = 244, cost = 92 + 560 + 480 + 12 = 1144
BASE_METRICS = {
    "delivered_t": 18.5,
    "need_t": 22.0,
    "weighted_coverage": 59 / 68.5,
    "min_site_coverage": 1.0,
    "max_route_risk": 1 - 0.990025 * 0.9216,
    "escorted_convoys": 2,
    "vehicle_km": 244.0,
    "cost": 1144.0,
}


def convoy(cid, org, vehicles, path, depart, stops, ret, escort=None, depot="D"):
    return {
        "id": cid,
        "organization": org,
        "depot": depot,
        "vehicles": dict(vehicles),
        "path": list(path),
        "depart_h": depart,
        "stops": [{"site": s, "arrive_h": t, "unload": dict(u)} for s, t, u in stops],
        "return_h": ret,
        "escort": escort,
    }


PLAN: dict[str, Any] = {
    "format": "allocate.plan/1",
    "scenario": {"name": "rules-fixture"},
    "convoys": [
        convoy("C1", "ngo", {"light": 1}, ["D", "S6", "D", "S1", "D"], 0.0,
               [("S6", 0.5, {"rice": 10}), ("S1", 5.0, {"rice": 70})], 10.0),
        convoy("C2", "ngo", {"light": 1}, ["D", "J", "S2", "J", "D"], 0.0,
               [("S2", 4.0, {"rice": 50, "tent": 30})], 8.0, escort="E_un"),
        convoy("C3", "army", {"army_civ": 1}, ["D", "J", "S1", "J", "D"], 3.0,
               [("S1", 6.0, {"rice": 30})], 10.0, escort="E_gov"),
        convoy("C4", "ngo", {"light": 1}, ["D", "S6", "D"], 8.0,
               [("S6", 8.5, {"rice": 10})], 9.0),
    ],
    "unmet": [
        {"site": "S3", "reason": "no_path"},
        {"site": "S4", "reason": "too_far"},
        {"site": "S5", "reason": "too_risky"},
        {"site": "S7", "reason": "no_path"},
    ],
    "metrics": dict(BASE_METRICS),
    "solver": {"status": "feasible", "objective": None, "bound": None, "seconds": 0.0, "seed": None,
               "version": "hand-made"},
}

CHECKED = ("no_path", "too_risky", "too_far")


def scenario() -> dict[str, Any]:
    return copy.deepcopy(SCENARIO)


def plan() -> dict[str, Any]:
    return copy.deepcopy(PLAN)


def find(items: Iterable[dict], key: str, value: Any) -> dict:
    for item in items:
        if item.get(key) == value:
            return item
    raise KeyError(value)


def node(s: dict, node_id: str) -> dict:
    return find(s["nodes"], "id", node_id)


def conv(p: dict, cid: str) -> dict:
    return find(p["convoys"], "id", cid)


# ----- an independent recomputation of FORMAT.md §3.7 ----------------------------------------
def _road_km_risk(s: dict, a: str, b: str) -> tuple[float, float]:
    for r in s["roads"]:
        if (r["a"], r["b"]) == (a, b) or (not r.get("oneway", False) and (r["b"], r["a"]) == (a, b)):
            return float(r["km"]), float(r["risk"])
    for r in s["roads"]:  # driven against a one-way road: km still measured for the metrics
        if {r["a"], r["b"]} == {a, b}:
            return float(r["km"]), float(r["risk"])
    raise KeyError((a, b))


def metrics(s: dict, p: dict, accessible: set[str] | None = None) -> dict[str, float]:
    """§3.7 for plan ``p`` on scenario ``s``; ``accessible`` defaults to the sites not in a checked
    claim of ``p`` (right whenever every checked claim of the plan holds)."""
    weight = {c["id"]: c["weight_t"] for c in s["commodities"]}
    fleet = {f["id"]: f for f in s["fleet"]}
    escorts = {e["id"]: e for e in s["escorts"]}
    sites = [n for n in s["nodes"] if n["kind"] == "site"]
    if accessible is None:
        claimed = {u["site"] for u in p["unmet"] if u["reason"] in CHECKED}
        accessible = {n["id"] for n in sites} - claimed

    def w(q: dict) -> float:
        return sum(units * weight[c] for c, units in q.items())

    delivered: dict[str, float] = {}
    delivered_t = vehicle_km = cost = max_risk = 0.0
    for c in p["convoys"]:
        for stop in c["stops"]:
            delivered[stop["site"]] = delivered.get(stop["site"], 0.0) + w(stop["unload"])
            delivered_t += w(stop["unload"])
        km = 0.0
        survive = 1.0
        m = 1 - escorts[c["escort"]]["effectiveness"] if c["escort"] else 1.0
        for a, b in zip(c["path"], c["path"][1:]):
            road_km, risk = _road_km_risk(s, a, b)
            km += road_km
            survive *= 1 - risk * m
        vehicle_km += km * sum(c["vehicles"].values())
        cost += km * sum(n * fleet[f].get("cost_per_km", 0) for f, n in c["vehicles"].items())
        if c["escort"]:
            cost += km * escorts[c["escort"]].get("cost_per_km", 0)
        max_risk = max(max_risk, 1 - survive)
    need = {n["id"]: w(n["need"]) for n in sites}
    sev = {n["id"]: n["severity"] for n in sites}
    wn = sum(sev[i] * need[i] for i in need)
    wd = sum(sev[i] * delivered.get(i, 0.0) for i in need)
    cover = [delivered.get(i, 0.0) / need[i] for i in need if i in accessible]
    return {
        "delivered_t": delivered_t,
        "need_t": sum(need.values()),
        "weighted_coverage": wd / wn if wn > 0 else 1.0,
        "min_site_coverage": min(cover) if cover else 1.0,
        "max_route_risk": max_risk,
        "escorted_convoys": sum(1 for c in p["convoys"] if c["escort"]),
        "vehicle_km": vehicle_km,
        "cost": cost,
    }


def refresh(s: dict, p: dict, accessible: set[str] | None = None) -> dict:
    """Set ``p``'s metrics to the exact §3.7 figures (in place) and return ``p``."""
    p["metrics"] = metrics(s, p, accessible)
    return p


def route_risk(risks: Iterable[float], effectiveness: float = 0.0) -> float:
    survive = 1.0
    for r in risks:
        survive *= 1 - r * (1 - effectiveness)
    return 1 - survive


assert math.isclose(route_risk([0.01, 0.08, 0.08, 0.01], 0.5), BASE_METRICS["max_route_risk"])
