"""Build models/tiny.json: a hand-designed crisis small enough to reason about on paper.

Run from the repository root: ``python models/scripts/build_tiny.py [OUT]``. Road lengths are
computed from the coordinates (great circle x 1.3, rounded to whole km) so that the map and
the numbers agree; everything else (risks, closures, limits, windows) is chosen by hand.
See models/README.md, section "tiny", for what each site is meant to teach.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from allocate.generate import dumps, haversine_km

CIRCUITY = 1.3
OUT = Path(__file__).resolve().parents[1] / "tiny.json"

# id, kind, lat, lon, zone, name
NODES: list[tuple[str, str, float, float, str, str]] = [
    ("D1", "depot", 12.00, 20.00, "Zg", "Capital warehouse"),
    ("D2", "depot", 12.45, 20.30, "Zg", "River town forward depot"),
    ("J1", "junction", 12.30, 20.00, "Zg", "Southern crossroads"),
    ("J2", "junction", 12.60, 20.10, "Zc", "Front-line crossroads"),
    ("S01", "site", 12.10, 19.85, "Zg", "West camp"),
    ("S02", "site", 12.05, 20.20, "Zg", "East camp (distribution day, window)"),
    ("S03", "site", 12.20, 20.05, "Zg", "Ring-road village"),
    ("S04", "site", 12.35, 19.80, "Zg", "Hill village"),
    ("S12", "site", 12.20, 20.35, "Zg", "Across the river (10 t bridge)"),
    ("S05", "site", 12.65, 19.90, "Zc", "Contested market town"),
    ("S06", "site", 12.70, 20.25, "Zc", "Contested IDP camp (window)"),
    ("S07", "site", 12.80, 20.05, "Zc", "Last village before the line"),
    ("S08", "site", 12.95, 20.45, "Zf", "Front-held river village"),
    ("S09", "site", 13.05, 20.15, "Zf", "Front-held town"),
    ("S10", "site", 13.10, 19.95, "Zf", "Front-held hamlet"),
    ("S11", "site", 13.25, 20.30, "Zd", "Besieged enclave"),
]

# population, severity, optional window, service_h
SITES: dict[str, tuple[int, int, list[float] | None, float]] = {
    "S01": (4000, 2, None, 1.0),
    "S02": (6000, 3, [6.0, 18.0], 1.0),
    "S03": (1500, 2, None, 0.5),
    "S04": (2500, 3, None, 0.5),
    "S12": (2000, 3, None, 0.5),
    "S05": (5000, 4, None, 1.0),
    "S06": (8000, 5, [8.0, 20.0], 1.5),
    "S07": (1200, 4, None, 0.5),
    "S08": (3000, 4, None, 0.5),
    "S09": (7000, 5, None, 1.0),
    "S10": (900, 4, None, 0.5),
    "S11": (3500, 5, None, 0.5),
}

# a, b, risk, speed km/h, extras
ROADS: list[tuple[str, str, float, float, dict[str, Any]]] = [
    ("D1", "S01", 0.0, 40, {}),
    ("D1", "S02", 0.0, 40, {}),
    ("D1", "S03", 0.005, 40, {}),
    ("S03", "J1", 0.005, 40, {}),
    ("D1", "J1", 0.0, 40, {"closed": True, "note": "trunk road flooded: detour via S03"}),
    ("J1", "S04", 0.01, 30, {}),
    ("J1", "D2", 0.0, 40, {}),
    ("S02", "S12", 0.0, 30, {"max_weight_t": 10, "note": "10 t bridge: 20 t trucks cannot cross"}),
    ("J1", "J2", 0.08, 25, {"note": "ambushes reported on the front line"}),
    ("D2", "J2", 0.06, 25, {}),
    ("J2", "S05", 0.02, 25, {}),
    ("J2", "S06", 0.02, 25, {}),
    ("J2", "S07", 0.03, 25, {}),
    ("D2", "S08", 0.01, 30, {"note": "long eastern river road, quiet"}),
    ("S08", "S09", 0.04, 20, {}),
    ("S07", "S09", 0.01, 20, {}),
    ("S09", "S10", 0.01, 20, {}),
    ("S09", "S11", 0.05, 20, {"note": "into the denied enclave"}),
]

# units per person for the 48 h horizon: 3 kg of cereal = 0.06 bags of 50 kg; one shelter
# kit per 5 people (households); one medical kit per 1,000 people.
PER_PERSON = {"food": 0.06, "shelter": 0.2, "medical": 0.001}


def _node(row: tuple[str, str, float, float, str, str]) -> dict[str, Any]:
    nid, kind, lat, lon, zone, name = row
    node: dict[str, Any] = {"id": nid, "kind": kind, "name": name, "lat": lat, "lon": lon,
                            "zone": zone}
    if kind == "site":
        pop, severity, window, service = SITES[nid]
        node["need"] = {c: round(pop * q, 2) for c, q in PER_PERSON.items()}
        node["population"] = pop
        node["severity"] = severity
        if window:
            node["window"] = window
        node["service_h"] = service
    return node


def _stock(nodes: list[dict[str, Any]]) -> None:
    """Give D1 80% and D2 25% of the total need: enough overall, not enough at either alone."""
    total = {c: sum(n["need"][c] for n in nodes if n["kind"] == "site") for c in PER_PERSON}
    share = {"D1": 0.8, "D2": 0.25}
    for n in nodes:
        if n["kind"] == "depot":
            n["stock"] = {c: float(math.floor(total[c] * share[n["id"]])) for c in total}


def _road(a: str, b: str, risk: float, speed: float, extra: dict[str, Any],
          where: dict[str, tuple[float, float]]) -> dict[str, Any]:
    km = round(haversine_km(*where[a], *where[b]) * CIRCUITY)
    road: dict[str, Any] = {"a": a, "b": b, "km": km, "hours": round(km / speed, 1),
                            "risk": risk}
    road.update(extra)
    return road


def build() -> dict[str, Any]:
    """The tiny scenario as a FORMAT.md §1 dict."""
    nodes = [_node(r) for r in NODES]
    _stock(nodes)
    where = {n["id"]: (n["lat"], n["lon"]) for n in nodes}
    return {
        "format": "allocate.scenario/1",
        "name": "tiny",
        "note": ("Hand-made teaching crisis: a government, an armed front and a UN mission. "
                 "S01-S04, S08 and S12 are served without escort (S12 only by light trucks, "
                 "S08 only by the long river road), S05-S07 need an escort (government or UN), "
                 "S09-S10 lie in the front's zone so only the UN escort is admissible, S11 is "
                 "in a denied enclave (no_path)."),
        "horizon_h": 48,
        "commodities": [
            {"id": "food", "name": "cereal, 50 kg bag", "unit": "bag", "weight_t": 0.05,
             "volume_m3": 0.07},
            {"id": "shelter", "name": "shelter kit", "unit": "kit", "weight_t": 0.03,
             "volume_m3": 0.12},
            {"id": "medical", "name": "emergency health kit", "unit": "kit", "weight_t": 0.2,
             "volume_m3": 0.6},
        ],
        "parties": [
            {"id": "gov", "name": "Government forces", "kind": "state", "opposes": ["front"]},
            {"id": "front", "name": "Liberation Front (armed group)", "kind": "non_state",
             "opposes": []},
            {"id": "un", "name": "UN mission", "kind": "un", "opposes": []},
        ],
        "zones": [
            {"id": "Zg", "name": "Government-held south", "controlled_by": "gov",
             "access": "open"},
            {"id": "Zc", "name": "Contested middle", "controlled_by": None, "access": "open"},
            {"id": "Zf", "name": "Front-held north", "controlled_by": "front", "access": "open"},
            {"id": "Zd", "name": "Besieged enclave", "controlled_by": "front",
             "access": "denied"},
        ],
        "nodes": nodes,
        "roads": [_road(*r, where=where) for r in ROADS],
        "organizations": [
            {"id": "wfp", "name": "food agency", "escort_policy": "last_resort",
             "military_assets": "never"},
            {"id": "ngo", "name": "medical NGO", "escort_policy": "never",
             "military_assets": "never"},
            {"id": "army", "name": "national army logistics", "escort_policy": "accept",
             "military_assets": "last_resort"},
        ],
        "fleet": [
            {"id": "wfp_heavy_D1", "organization": "wfp", "depot": "D1", "count": 3,
             "capacity_t": 20, "capacity_m3": 70, "cost_per_km": 2.0, "military": False},
            {"id": "wfp_light_D1", "organization": "wfp", "depot": "D1", "count": 2,
             "capacity_t": 8, "capacity_m3": 30, "cost_per_km": 1.2, "military": False},
            {"id": "wfp_light_D2", "organization": "wfp", "depot": "D2", "count": 2,
             "capacity_t": 8, "capacity_m3": 30, "cost_per_km": 1.2, "military": False},
            {"id": "ngo_light_D1", "organization": "ngo", "depot": "D1", "count": 2,
             "capacity_t": 8, "capacity_m3": 30, "cost_per_km": 1.0, "military": False},
            {"id": "army_hired_D2", "organization": "army", "depot": "D2", "count": 1,
             "capacity_t": 10, "capacity_m3": 35, "cost_per_km": 1.5, "military": False},
            {"id": "army_mil_D2", "organization": "army", "depot": "D2", "count": 2,
             "capacity_t": 10, "capacity_m3": 30, "cost_per_km": 3.0, "military": True},
        ],
        "escorts": [
            {"id": "E_gov", "name": "government escort platoon", "provider": "gov",
             "base": "D1", "count": 2, "effectiveness": 0.6, "cost_per_km": 3.0},
            {"id": "E_un", "name": "UN force escort", "provider": "un", "base": "D2",
             "count": 1, "effectiveness": 0.85, "cost_per_km": 5.0},
        ],
        "policy": {"risk_threshold": 0.05, "max_risk": 0.2, "min_coverage": 0.0,
                   "parity_tolerance": 1.0, "party_escorts": "non_opposed"},
    }


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    out.write_text(dumps(build()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv)
