"""The scenario: an immutable, validated crisis description (FORMAT.md §1).

Field names are FORMAT.md's, so ``scenario.roads[0].max_weight_t`` reads like the JSON. Every rule
of §1 is enforced on construction; a fault raises :class:`~allocate.errors.ScenarioError` naming
the JSON path and the value. Lookups by id (``scenario.node("D")``) are built once and cached.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from allocate._fields import (
    Entity,
    Flag,
    Id,
    NonNegative,
    Number,
    Positive,
    Probability,
    Quantities,
    Text,
    WholeNonNegative,
    dump_json,
    parse_json,
    read_json,
    short,
    validation_problems,
)
from allocate.errors import ScenarioError

SCENARIO_FORMAT = "allocate.scenario/1"

PartyKind = Literal["state", "non_state", "un", "neutral"]
Access = Literal["open", "denied"]
ConsentPolicy = Literal["never", "last_resort", "accept"]
PartyEscortRule = Literal["forbidden", "non_opposed", "any"]


class Commodity(Entity):
    """One kind of aid; quantities elsewhere are in its units."""

    id: Id
    weight_t: Positive
    volume_m3: NonNegative
    unit: Text | None = None


class Party(Entity):
    """A party to the conflict, the UN, or a neutral body."""

    id: Id
    kind: PartyKind
    opposes: tuple[Id, ...] = ()


class Zone(Entity):
    """An area under a party's control (or none), open or denied to humanitarian access."""

    id: Id
    controlled_by: Id | None = None
    access: Access = "open"


class _NodeBase(Entity):
    id: Id
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]
    zone: Id | None = None


class Depot(_NodeBase):
    """A warehouse holding stock, where fleets are based."""

    kind: Literal["depot"]
    stock: Quantities = Field(default_factory=dict)


class Site(_NodeBase):
    """An affected site with a need, a population and a severity."""

    kind: Literal["site"]
    need: Quantities
    population: WholeNonNegative = 0
    severity: Annotated[int, Field(ge=1, le=5, strict=True)]
    window: tuple[NonNegative, NonNegative] | None = None
    service_h: NonNegative = 0.0

    @field_validator("severity", mode="before")
    @classmethod
    def _whole_severity(cls, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("need")
    @classmethod
    def _some_need(cls, need: Mapping[str, float]) -> Mapping[str, float]:
        if not any(units > 0 for units in need.values()):
            raise ValueError(f"need has no positive quantity (value {short(dict(need))})")
        return need

    @field_validator("window")
    @classmethod
    def _window_order(cls, window: tuple[float, float] | None) -> tuple[float, float] | None:
        if window is not None and window[1] < window[0]:
            raise ValueError(f"window closes before it opens (value {short(list(window))})")
        return window


class Junction(_NodeBase):
    """A road junction: no stock, no need."""

    kind: Literal["junction"]


Node = Annotated[Union[Depot, Site, Junction], Field(discriminator="kind")]


class Road(Entity):
    """A road between two nodes; two-way unless ``oneway``."""

    a: Id
    b: Id
    km: NonNegative
    hours: NonNegative
    risk: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False, strict=True)]
    closed: Flag = False
    oneway: Flag = False
    max_weight_t: NonNegative | None = None


class Organization(Entity):
    """A humanitarian or military organization and its consent policies."""

    id: Id
    escort_policy: ConsentPolicy
    military_assets: ConsentPolicy


class FleetType(Entity):
    """``count`` identical vehicles of one organization based at one depot."""

    id: Id
    organization: Id
    depot: Id
    count: WholeNonNegative
    capacity_t: NonNegative
    capacity_m3: NonNegative
    cost_per_km: NonNegative = 0.0
    military: Flag = False


class EscortUnit(Entity):
    """``count`` identical escort teams of one provider party, based at one node."""

    id: Id
    provider: Id
    base: Id
    count: WholeNonNegative
    effectiveness: Probability
    cost_per_km: NonNegative = 0.0


class Policy(Entity):
    """Risk limits, coverage floor, zone parity and the party-escort rule."""

    risk_threshold: Probability = 0.05
    max_risk: Probability = 0.2
    min_coverage: Probability = 0.0
    parity_tolerance: NonNegative = 1.0
    party_escorts: PartyEscortRule = "non_opposed"


_OPTIONAL_NONE = {"name", "note", "unit", "window", "max_weight_t"}


class Scenario(Entity):
    """A validated, immutable crisis scenario (FORMAT.md §1)."""

    format: Literal["allocate.scenario/1"]
    name: Text
    horizon_h: Positive
    commodities: tuple[Commodity, ...]
    parties: tuple[Party, ...]
    zones: tuple[Zone, ...]
    nodes: tuple[Node, ...]
    roads: tuple[Road, ...]
    organizations: tuple[Organization, ...]
    fleet: tuple[FleetType, ...]
    escorts: tuple[EscortUnit, ...]
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _check_references(self) -> "Scenario":
        problems = _reference_problems(self)
        if problems:
            raise ScenarioError(problems)
        return self

    # ----- lookups (built once) -----------------------------------------------------------
    @cached_property
    def commodity_by_id(self) -> dict[str, Commodity]:
        return {c.id: c for c in self.commodities}

    @cached_property
    def party_by_id(self) -> dict[str, Party]:
        return {p.id: p for p in self.parties}

    @cached_property
    def zone_by_id(self) -> dict[str, Zone]:
        return {z.id: z for z in self.zones}

    @cached_property
    def node_by_id(self) -> dict[str, Depot | Site | Junction]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def organization_by_id(self) -> dict[str, Organization]:
        return {o.id: o for o in self.organizations}

    @cached_property
    def fleet_by_id(self) -> dict[str, FleetType]:
        return {f.id: f for f in self.fleet}

    @cached_property
    def escort_by_id(self) -> dict[str, EscortUnit]:
        return {e.id: e for e in self.escorts}

    @cached_property
    def depots(self) -> tuple[Depot, ...]:
        return tuple(n for n in self.nodes if isinstance(n, Depot))

    @cached_property
    def sites(self) -> tuple[Site, ...]:
        return tuple(n for n in self.nodes if isinstance(n, Site))

    def node(self, node_id: str) -> Depot | Site | Junction:
        return self.node_by_id[node_id]

    @cached_property
    def opposed_pairs(self) -> frozenset[frozenset[str]]:
        """Symmetric opposition: A opposes B if either lists the other."""
        return frozenset(frozenset((p.id, q)) for p in self.parties for q in p.opposes if q != p.id)

    def opposed(self, party_a: str | None, party_b: str | None) -> bool:
        if party_a is None or party_b is None:
            return False
        return frozenset((party_a, party_b)) in self.opposed_pairs

    def zone_of(self, node_id: str) -> Zone | None:
        zone_id = self.node_by_id[node_id].zone
        return None if zone_id is None else self.zone_by_id[zone_id]

    def is_denied(self, node_id: str) -> bool:
        zone = self.zone_of(node_id)
        return zone is not None and zone.access == "denied"

    def controller_of(self, node_id: str) -> str | None:
        zone = self.zone_of(node_id)
        return None if zone is None else zone.controlled_by

    def weight_t(self, quantities: Mapping[str, float]) -> float:
        """Tonnes of ``{commodity: units}``."""
        return sum(units * self.commodity_by_id[c].weight_t for c, units in quantities.items())

    def volume_m3(self, quantities: Mapping[str, float]) -> float:
        return sum(units * self.commodity_by_id[c].volume_m3 for c, units in quantities.items())

    # ----- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The scenario as FORMAT.md JSON data: every field written, user ``x_`` keys kept."""
        return _drop_optional_none(self.model_dump(mode="json"))

    def to_json(self) -> str:
        return dump_json(self.to_dict())

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any) -> "Scenario":
        """Validate scenario data; every fault becomes one :class:`ScenarioError`."""
        if not isinstance(data, dict):
            raise ScenarioError(f"a scenario is a JSON object, not {type(data).__name__} (value {short(data)})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(validation_problems(exc, data)) from None

    @classmethod
    def from_json(cls, text: str) -> "Scenario":
        return cls.from_dict(parse_json(text, ScenarioError))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (FORMAT.md §1)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_scenario() takes a file path, not {type(path).__name__}; "
                        "a scenario already in memory goes through Scenario.from_dict(data)")
    return Scenario.from_dict(read_json(path, ScenarioError))


def _drop_optional_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_optional_none(v) for k, v in data.items() if not (k in _OPTIONAL_NONE and v is None)}
    if isinstance(data, list):
        return [_drop_optional_none(v) for v in data]
    return data


def _duplicates(kind: str, ids: list[str]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    problems = []
    for index, item_id in enumerate(ids):
        if item_id in seen:
            problems.append((f"{kind}[{index}].id", f"duplicated id (value {short(item_id)})"))
        seen.add(item_id)
    return problems


def _reference_problems(s: Scenario) -> list[tuple[str, str]]:
    """Every §1 rule that spans objects: duplicated ids, dangling references, road pairs..."""
    problems: list[tuple[str, str]] = []
    for kind in ("commodities", "parties", "zones", "nodes", "organizations", "fleet", "escorts"):
        problems += _duplicates(kind, [item.id for item in getattr(s, kind)])

    commodities = {c.id for c in s.commodities}
    parties = {p.id for p in s.parties}
    zones = {z.id for z in s.zones}
    nodes = {n.id: n for n in s.nodes}
    organizations = {o.id for o in s.organizations}

    def ref(path: str, value: str | None, known: set[str] | dict[str, Any], what: str) -> None:
        if value is not None and value not in known:
            problems.append((path, f"unknown {what} (value {short(value)})"))

    for i, party in enumerate(s.parties):
        for j, other in enumerate(party.opposes):
            ref(f"parties[{i}].opposes[{j}]", other, parties, "party")
    for i, zone in enumerate(s.zones):
        ref(f"zones[{i}].controlled_by", zone.controlled_by, parties, "party")
    for i, node in enumerate(s.nodes):
        ref(f"nodes[{i}].zone", node.zone, zones, "zone")
        quantities = node.stock if isinstance(node, Depot) else node.need if isinstance(node, Site) else {}
        field = "stock" if isinstance(node, Depot) else "need"
        for commodity in quantities:
            ref(f"nodes[{i}].{field}.{commodity}", commodity, commodities, "commodity")

    pairs: dict[tuple[str, str], int] = {}
    for i, road in enumerate(s.roads):
        ref(f"roads[{i}].a", road.a, nodes, "node")
        ref(f"roads[{i}].b", road.b, nodes, "node")
        directions = [(road.a, road.b)] if road.oneway else [(road.a, road.b), (road.b, road.a)]
        for pair in directions:
            if pair in pairs:
                problems.append(
                    (f"roads[{i}]", f"a second road joins {pair[0]} and {pair[1]} (roads[{pairs[pair]}] already does)")
                )
                break
        for pair in directions:
            pairs.setdefault(pair, i)

    for i, fleet in enumerate(s.fleet):
        ref(f"fleet[{i}].organization", fleet.organization, organizations, "organization")
        ref(f"fleet[{i}].depot", fleet.depot, nodes, "node")
        if fleet.depot in nodes and not isinstance(nodes[fleet.depot], Depot):
            problems.append((f"fleet[{i}].depot", f"not a depot (value {short(fleet.depot)})"))
    for i, escort in enumerate(s.escorts):
        ref(f"escorts[{i}].provider", escort.provider, parties, "party")
        ref(f"escorts[{i}].base", escort.base, nodes, "node")

    if s.policy.risk_threshold > s.policy.max_risk:
        problems.append(
            (
                "policy.risk_threshold",
                f"exceeds policy.max_risk (value {short(s.policy.risk_threshold)} > {short(s.policy.max_risk)})",
            )
        )
    return problems
