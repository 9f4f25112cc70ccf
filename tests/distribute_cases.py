"""Small hand-checkable scenarios for the distribution MIP (shared by its tests).

Every builder returns a FORMAT.md §1 dict so a test can change one field and validate it.
Coordinates are irrelevant to the model (roads carry km, hours and risk).
"""

from __future__ import annotations

import copy
from typing import Any

from allocate.scenario import Scenario


def base(horizon: float = 100.0) -> dict[str, Any]:
    """One depot D (stock 10 t of food, 1 t per unit), one 10 t truck, sites added by the caller."""
    return {
        "format": "allocate.scenario/1",
        "name": "hand",
        "horizon_h": horizon,
        "commodities": [{"id": "food", "weight_t": 1.0, "volume_m3": 1.0}],
        "parties": [
            {"id": "gov", "kind": "state", "opposes": ["front"]},
            {"id": "front", "kind": "non_state"},
            {"id": "un", "kind": "un"},
        ],
        "zones": [
            {"id": "Z1", "controlled_by": "gov"},
            {"id": "Z2", "controlled_by": "front"},
        ],
        "nodes": [
            {"id": "D", "kind": "depot", "lat": 0.0, "lon": 0.0, "zone": "Z1", "stock": {"food": 10.0}},
        ],
        "roads": [],
        "organizations": [{"id": "ngo", "escort_policy": "last_resort", "military_assets": "never"}],
        "fleet": [{"id": "truck", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 10.0,
                   "capacity_m3": 100.0, "cost_per_km": 1.0}],
        "escorts": [],
        "policy": {"risk_threshold": 0.05, "max_risk": 0.2},
    }


def add_site(data: dict[str, Any], site: str, need: float, severity: int, zone: str | None = "Z1",
             depot: str = "D", hours: float = 1.0, km: float = 10.0, risk: float = 0.0) -> dict[str, Any]:
    """A site joined to ``depot`` by one two-way road (round trip = 2 × hours, risk twice)."""
    data["nodes"].append({"id": site, "kind": "site", "lat": 0.1, "lon": 0.1, "zone": zone,
                          "need": {"food": need}, "severity": severity})
    data["roads"].append({"a": depot, "b": site, "km": km, "hours": hours, "risk": risk})
    return data


def two_sites() -> dict[str, Any]:
    """Stock 10 t; S1 (severity 5) and S2 (severity 1) each need 8 t, both one safe hour away."""
    data = base()
    add_site(data, "S1", 8.0, 5)
    add_site(data, "S2", 8.0, 1)
    return data


def transport_bound() -> dict[str, Any]:
    """Stock 100 t, one 10 t truck, horizon 10 h, 2 h round trips: 5 trips = 50 t in all.

    S1 (severity 5) and S2 (severity 1) each need 30 t.
    """
    data = base(horizon=10.0)
    data["nodes"][0]["stock"] = {"food": 100.0}
    add_site(data, "S1", 30.0, 5)
    add_site(data, "S2", 30.0, 1)
    return data


def escorted_and_safe() -> dict[str, Any]:
    """S3 (zone Z2) is reached from D only over a road of risk 0.1 each way (round trip 0.19:
    above risk_threshold 0.05, below max_risk 0.2), and from depot D2 over a safe road.
    A UN escort (effectiveness 0.5, based at D) brings D's round trip to 1 - 0.95² = 0.0975.
    """
    data = base()
    data["nodes"].append({"id": "D2", "kind": "depot", "lat": 0.0, "lon": 0.2, "zone": "Z1",
                          "stock": {"food": 10.0}})
    data["fleet"].append({"id": "truck2", "organization": "ngo", "depot": "D2", "count": 1,
                          "capacity_t": 10.0, "capacity_m3": 100.0, "cost_per_km": 1.0})
    data["escorts"].append({"id": "E_un", "provider": "un", "base": "D", "count": 1, "effectiveness": 0.5})
    add_site(data, "S3", 8.0, 3, zone="Z2", risk=0.1)
    data["roads"].append({"a": "D2", "b": "S3", "km": 10.0, "hours": 1.0, "risk": 0.0})
    return data


def validated(data: dict[str, Any]) -> Scenario:
    return Scenario.from_dict(copy.deepcopy(data))
