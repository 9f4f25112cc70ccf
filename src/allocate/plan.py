"""The plan: convoys, unmet claims, metrics and solver facts, in FORMAT.md §2's shape.

Deliveries are the convoys' unloads; the metrics of §3.7 are computed from the convoys by
:func:`compute_metrics` when a plan is built (:meth:`Plan.build`), never kept anywhere else.
A plan may carry fields of the library's own (``why_escorted`` on a convoy, for instance); they
are kept on a round trip and ignored by the checker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any, Iterable, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from allocate._fields import (
    Id,
    Number,
    Quantities,
    Text,
    WholeCounts,
    dump_json,
    parse_json,
    read_json,
    refuse_non_finite,
    short,
    validation_problems,
)
from allocate.errors import PlanError
from allocate.network import RoadNetwork, path_risk
from allocate.scenario import Scenario

PLAN_FORMAT = "allocate.plan/1"
CHECKED_REASONS = ("no_path", "too_risky", "too_far")
Status = Literal["optimal", "feasible", "infeasible", "time_limit"]

METRIC_NAMES = (
    "delivered_t",
    "need_t",
    "weighted_coverage",
    "min_site_coverage",
    "max_route_risk",
    "escorted_convoys",
    "vehicle_km",
    "cost",
)


class _PlanPart(BaseModel):
    """Immutable; fields the library or a user adds are kept and otherwise ignored."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _finite_extras(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refuse_non_finite({k: v for k, v in data.items() if k not in cls.model_fields})
        return data


class Stop(_PlanPart):
    site: Id
    arrive_h: Number
    unload: Quantities


class Convoy(_PlanPart):
    id: Id
    organization: Id
    depot: Id
    vehicles: WholeCounts
    path: tuple[Id, ...]
    depart_h: Number
    stops: tuple[Stop, ...]
    return_h: Number
    escort: Id | None

    def unloaded(self) -> dict[str, float]:
        """Units unloaded by this convoy, summed over its stops, per commodity."""
        out: dict[str, float] = {}
        for stop in self.stops:
            for commodity, units in stop.unload.items():
                out[commodity] = out.get(commodity, 0.0) + units
        return out


class UnmetClaim(_PlanPart):
    site: Id
    reason: Text


class ScenarioRef(_PlanPart):
    name: Text


class SolverInfo(_PlanPart):
    status: Status
    objective: Number | None
    bound: Number | None
    seconds: Number | None
    seed: int | None = Field(strict=True)
    version: Text
    time_limit: Number | None = None


class Plan(_PlanPart):
    """A plan answering one scenario (FORMAT.md §2)."""

    format: Literal["allocate.plan/1"]
    scenario: ScenarioRef
    convoys: tuple[Convoy, ...]
    unmet: tuple[UnmetClaim, ...]
    metrics: dict[Text, Annotated[int, Strict()] | Number | None]  # counts stay whole numbers
    solver: SolverInfo

    # ----- building ----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        scenario: Scenario,
        convoys: Sequence[Convoy],
        unmet: Sequence[UnmetClaim],
        solver: SolverInfo,
        network: RoadNetwork | None = None,
    ) -> "Plan":
        """A plan whose metrics are computed from its convoys; claims are taken as holding."""
        claimed = {c.site for c in unmet if c.reason in CHECKED_REASONS}
        accessible = {s.id for s in scenario.sites if s.id not in claimed}
        metrics = compute_metrics(scenario, convoys, accessible, network)
        return cls(
            format=PLAN_FORMAT,
            scenario=ScenarioRef(name=scenario.name),
            convoys=tuple(convoys),
            unmet=tuple(unmet),
            metrics=metrics,
            solver=solver,
        )

    # ----- reading -----------------------------------------------------------------------
    def delivered(self) -> dict[str, dict[str, float]]:
        """``{node: {commodity: units}}`` summed over every unload of every convoy."""
        out: dict[str, dict[str, float]] = {}
        for convoy in self.convoys:
            for stop in convoy.stops:
                into = out.setdefault(stop.site, {})
                for commodity, units in stop.unload.items():
                    into[commodity] = into.get(commodity, 0.0) + units
        return out

    def deliveries(self):
        """A pandas frame, one row per unload: convoy, depot, site, commodity, units, arrive_h."""
        import pandas as pd

        rows = [
            {
                "convoy": c.id,
                "organization": c.organization,
                "depot": c.depot,
                "site": stop.site,
                "commodity": commodity,
                "units": units,
                "arrive_h": stop.arrive_h,
                "escort": c.escort,
            }
            for c in self.convoys
            for stop in c.stops
            for commodity, units in stop.unload.items()
        ]
        columns = ["convoy", "organization", "depot", "site", "commodity", "units", "arrive_h", "escort"]
        return pd.DataFrame(rows, columns=columns)

    def convoy_frame(self):
        """A pandas frame, one row per convoy."""
        import pandas as pd

        rows = [
            {
                "convoy": c.id,
                "organization": c.organization,
                "depot": c.depot,
                "vehicles": sum(c.vehicles.values()),
                "stops": len(c.stops),
                "depart_h": c.depart_h,
                "return_h": c.return_h,
                "escort": c.escort,
                "path": " ".join(c.path),
            }
            for c in self.convoys
        ]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)

    # ----- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return dump_json(self.to_dict())

    def save(self, path: str | FilePath) -> None:
        """Write the plan whole or not at all (a temporary file renamed into place)."""
        target = FilePath(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def from_dict(cls, data: Any) -> "Plan":
        if not isinstance(data, dict):
            raise PlanError(f"a plan is a JSON object, not {type(data).__name__} (value {short(data)})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PlanError(validation_problems(exc, data)) from None

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        return cls.from_dict(parse_json(text, PlanError))


def load_plan(path: str | FilePath) -> Plan:
    """Read a plan file; a plan of the wrong shape raises :class:`PlanError`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_plan() takes a file path, not {type(path).__name__}; "
                        "a plan already in memory goes through Plan.from_dict(data)")
    return Plan.from_dict(read_json(path, PlanError))


@dataclass(frozen=True)
class Coverage:
    """Delivered and needed tonnes of one site."""

    delivered_t: float
    need_t: float

    @property
    def ratio(self) -> float:
        return self.delivered_t / self.need_t if self.need_t > 0 else 1.0


def site_coverage(scenario: Scenario, convoys: Iterable[Convoy]) -> dict[str, Coverage]:
    """Coverage of every site (FORMAT.md §3.7): delivered weight over needed weight."""
    delivered: dict[str, float] = {}
    for convoy in convoys:
        for stop in convoy.stops:
            delivered[stop.site] = delivered.get(stop.site, 0.0) + _weight(scenario, stop.unload)
    return {s.id: Coverage(delivered.get(s.id, 0.0), scenario.weight_t(s.need)) for s in scenario.sites}


def _weight(scenario: Scenario, quantities: Mapping[str, float]) -> float:
    by_id = scenario.commodity_by_id
    return sum(units * by_id[c].weight_t for c, units in quantities.items() if c in by_id)


def compute_metrics(
    scenario: Scenario,
    convoys: Sequence[Convoy],
    accessible_sites: set[str],
    network: RoadNetwork | None = None,
) -> dict[str, float]:
    """The figures of FORMAT.md §3.7 for these convoys, given which sites are accessible."""
    network = network or RoadNetwork(scenario)
    coverage = site_coverage(scenario, convoys)
    delivered_t = sum(_weight(scenario, stop.unload) for c in convoys for stop in c.stops)
    need_t = sum(cov.need_t for cov in coverage.values())
    severity = {s.id: s.severity for s in scenario.sites}
    weighted_need = sum(severity[s] * cov.need_t for s, cov in coverage.items())
    weighted_delivered = sum(severity[s] * cov.delivered_t for s, cov in coverage.items())
    accessible = [coverage[s].ratio for s in coverage if s in accessible_sites]

    vehicle_km = cost = 0.0
    max_risk = 0.0
    fleet = scenario.fleet_by_id
    escorts = scenario.escort_by_id
    for convoy in convoys:
        km = network.measure(convoy.path).km
        count = sum(convoy.vehicles.values())
        vehicle_km += km * count
        cost += km * sum(n * fleet[f].cost_per_km for f, n in convoy.vehicles.items() if f in fleet)
        escort = escorts.get(convoy.escort) if convoy.escort else None
        if escort is not None:
            cost += km * escort.cost_per_km
        max_risk = max(max_risk, path_risk(network, convoy.path, escort.effectiveness if escort else 0.0))

    return {
        "delivered_t": delivered_t,
        "need_t": need_t,
        "weighted_coverage": weighted_delivered / weighted_need if weighted_need > 0 else 1.0,
        "min_site_coverage": min(accessible) if accessible else 1.0,
        "max_route_risk": max_risk,
        "escorted_convoys": sum(1 for c in convoys if c.escort is not None),
        "vehicle_km": vehicle_km,
        "cost": cost,
    }
