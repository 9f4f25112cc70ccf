"""Build the synthetic sample crises shaped like real responses (models/*_like*.json).

Run from the repository root: ``python models/scripts/build_synthetic.py [OUT_DIR]``. Each model is
one call to :func:`allocate.generate.generate` with parameters chosen to echo a real response,
plus a few edits (party names, extra fleets or escorts) listed in its ``note`` and in
models/README.md. Deterministic: same code, same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from allocate.generate import dumps, generate

OUT_DIR = Path(__file__).resolve().parents[1]


def rename_party(s: dict[str, Any], old: str, new: str, name: str) -> None:
    """Rename a party id everywhere it is referenced (zones, oppositions, escorts)."""
    for p in s["parties"]:
        if p["id"] == old:
            p["id"], p["name"] = new, name
        p["opposes"] = [new if q == old else q for q in p["opposes"]]
    for z in s["zones"]:
        if z["controlled_by"] == old:
            z["controlled_by"] = new
    for e in s["escorts"]:
        if e["provider"] == old:
            e["provider"] = new
            e["id"] = e["id"].replace(f"E_{old}", f"E_{new}")


def set_party_name(s: dict[str, Any], pid: str, name: str) -> None:
    for p in s["parties"]:
        if p["id"] == pid:
            p["name"] = name


def depots(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in s["nodes"] if n["kind"] == "depot"]


def name_depots(s: dict[str, Any], names: list[str]) -> None:
    for node, name in zip(depots(s), names):
        node["name"] = name


def finish(s: dict[str, Any], name: str, note: str) -> dict[str, Any]:
    """Put name and note first after the format, as in the other models."""
    s["name"], s["note"] = name, note
    order = ["format", "name", "note"]
    return {k: s[k] for k in order} | {k: v for k, v in s.items() if k not in order}


def darfur_like(sites: int = 300, seed: int = 11, n_depots: int = 5,
                population_median: float = 6000, days: float = 14) -> dict[str, Any]:
    """Huge area, few roads, many armed groups, scarce escorts."""
    s = generate(sites, seed=seed, depots=n_depots, parties=6, neighbours=2, extent_km=700,
                 center=(13.0, 24.5), contested_share=0.35, risk_scale=1.4, escort_factor=0.3,
                 denied_share=0.05, closed_share=0.04, bridge_share=0.03, horizon_h=120,
                 days_of_need=days, population_median=population_median, speed_kmh=(40.0, 25.0, 15.0),
                 circuity=1.4, commodities=4)
    set_party_name(s, "un", "hybrid AU-UN mission")
    for i, p in enumerate(s["parties"]):
        if p["kind"] == "non_state":
            p["name"] = ["Rebel movement A", "Rebel movement B (splinter)", "Rebel movement C",
                         "Tribal militia", "Border militia", "Armed group"][min(i - 1, 5)]
    name_depots(s, [f"Regional hub {i + 1}" for i in range(n_depots)])
    size = "large" if sites >= 1000 else ""
    return finish(s, "darfur_like" + (f"_{size}" if size else ""),
                  f"Synthetic, Darfur-like ({sites} sites): a 700 km square with few roads "
                  "(2-nearest-neighbour graph), five armed groups that partly oppose each other, "
                  "many contested zones and scarce escorts (about a third of the usual units). "
                  "Teaches: long risky routes, escorts as the binding resource, sites no escort "
                  "may reach under non_opposed.")


def kosovo_like() -> dict[str, Any]:
    """Refugee surge across a border: short distances, massive volumes, NATO-like trucks."""
    s = generate(150, seed=21, depots=4, parties=2, neighbours=4, extent_km=120,
                 center=(42.05, 20.4), risk_scale=0.3, contested_share=0.1, denied_share=0.02,
                 closed_share=0.02, window_share=0.2, horizon_h=48, days_of_need=7,
                 population_median=4000, speed_kmh=(50.0, 35.0, 20.0), circuity=1.4,
                 commodities=4, fleet_factor=0.7)
    rename_party(s, "gov", "host", "Host government")
    rename_party(s, "ag1", "irregulars", "Cross-border irregular forces")
    set_party_name(s, "un", "UN agencies")
    s["parties"].insert(2, {"id": "alliance", "name": "Military alliance (logistics offer)",
                            "kind": "state", "opposes": ["irregulars"]})
    for o in s["organizations"]:
        if o["id"] == "unhcr":
            o["note"] = "takes the alliance's trucks under MCDA rules: military assets last resort"
    for d in depots(s):
        civ = [f for f in s["fleet"] if f["depot"] == d["id"] and f["organization"] == "unhcr"]
        if not civ:
            s["fleet"].append({"id": f"unhcr_medium_{d['id']}", "organization": "unhcr",
                               "depot": d["id"], "count": 3, "capacity_t": 12.0,
                               "capacity_m3": 40.0, "cost_per_km": 1.5, "military": False})
        s["fleet"].append({"id": f"unhcr_alliance_mil_{d['id']}", "organization": "unhcr",
                           "depot": d["id"], "count": 10, "capacity_t": 10.0, "capacity_m3": 30.0,
                           "cost_per_km": 3.5, "military": True,
                           "note": "military trucks lent by the alliance"})
        s["escorts"].append({"id": f"E_alliance_{d['id']}", "provider": "alliance",
                             "base": d["id"], "count": 2, "effectiveness": 0.7,
                             "cost_per_km": 4.0})
    name_depots(s, ["Border crossing hub", "Airport warehouse", "Port warehouse",
                    "Rail-head warehouse"])
    return finish(s, "kosovo_like",
                  "Synthetic, Kosovo-1999-like refugee surge: 150 camps and host villages within "
                  "a 120 km square, a dense road network, low risk, large populations (median "
                  "4,000) and a military alliance lending trucks to the refugee agency, which "
                  "may use them only as a last resort (MCDA: military_assets last_resort). "
                  "Teaches: volume and vehicle time bind, not security; when military trucks "
                  "may roll.")


def haiti_like() -> dict[str, Any]:
    """Urban disaster in a city held in part by gangs: damaged roads, UN-only escorts."""
    s = generate(200, seed=31, depots=3, parties=4, neighbours=4, extent_km=40,
                 center=(18.54, -72.34), closed_share=0.15, bridge_share=0.2, oneway_share=0.05,
                 contested_share=0.3, escort_factor=2.0, party_escorts="forbidden",
                 horizon_h=24, days_of_need=3, population_median=5000, window_share=0.3,
                 speed_kmh=(20.0, 12.0, 6.0), circuity=1.5, commodities=5, clustered=0.6)
    set_party_name(s, "gov", "National police")
    set_party_name(s, "un", "UN stabilization force")
    for i, p in enumerate(s["parties"]):
        if p["kind"] == "non_state":
            p["name"] = f"Gang coalition {i}"
    have_un = {e["base"] for e in s["escorts"] if e["provider"] == "un"}
    for d in depots(s):
        if d["id"] not in have_un:
            s["escorts"].append({"id": f"E_un_{d['id']}", "provider": "un", "base": d["id"],
                                 "count": 3, "effectiveness": 0.85, "cost_per_km": 5.0})
    name_depots(s, ["Airport logistics base", "Port warehouse", "Northern warehouse"])
    return finish(s, "haiti_like",
                  "Synthetic, Port-au-Prince-like urban response: 200 sites in a 40 km square, "
                  "rubble-slow streets (6-20 km/h), 15 % of roads closed, 20 % with a weight limit "
                  "(damaged bridges and culverts), neighbourhoods held by three gang coalitions, "
                  "party escorts forbidden so only the UN force escorts, short windows (curfews, "
                  "distribution slots) on 30 % of sites. Teaches: weight limits and closures "
                  "shape the fleet mix; escorts only from the UN.")


def cote_divoire_like() -> dict[str, Any]:
    """A country cut in two: government south, rebel north, a contested middle."""
    s = generate(250, seed=41, depots=5, parties=2, zone_layout="bands", neighbours=3,
                 extent_km=600, center=(7.5, -5.5), risk_scale=1.2, denied_share=0.02,
                 horizon_h=96, days_of_need=14, population_median=3000, commodities=4,
                 party_escorts="non_opposed")
    set_party_name(s, "gov", "Government forces (south)")
    rename_party(s, "ag1", "rebels", "Rebel movement (north)")
    set_party_name(s, "un", "UN operation")
    names = {"gov": "Government-held south", None: "Contested middle (zone of confidence)",
             "rebels": "Rebel-held north"}
    for z in s["zones"]:
        if z["access"] == "open":
            z["name"] = names[z["controlled_by"]]
    name_depots(s, [f"Hub {i + 1}" for i in range(5)])
    return finish(s, "cote_divoire_like",
                  "Synthetic, Cote-d'Ivoire-2003-like: a 600 km square cut into a government-held "
                  "south, a contested middle band and a rebel-held north, party_escorts "
                  "non_opposed: a government escort may cross the middle but never enter the "
                  "north, where the rebels' own escort or the UN's must take over. Teaches: "
                  "neutrality of escorts across a front line.")


MODELS: dict[str, Callable[[], dict[str, Any]]] = {
    "darfur_like": darfur_like,
    "darfur_like_large": lambda: darfur_like(sites=1000, seed=12, n_depots=12,
                                             population_median=3000, days=7),
    "kosovo_like": kosovo_like,
    "haiti_like": haiti_like,
    "cote_divoire_like": cote_divoire_like,
}


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else OUT_DIR
    for name, build in MODELS.items():
        (out / f"{name}.json").write_text(dumps(build()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv)
