"""Escort assignment: which escort unit protects which routed convoy (FORMAT.md §3.5, §3.6).

Convoy times are fixed by routing, so each admissible (convoy, unit) pair is an *optional fixed
interval* (the unit's busy time, positioning included) and each unit a cumulative resource of
capacity ``count``. CP-SAT solves it lexicographically: first escort as much of the needy
convoys' severity-weighted tonnage as possible, then least escort cost, then least positioning
time. Everything a checker will re-derive (consent, last resort, party rule, escorted risk,
positioning) is screened here with the same road rules, so an assignment never trades a missing
escort for a violation.

Times are scaled to integer milliseconds of an hour (×1000) and busy intervals are rounded
*outward*, so a schedule feasible in integers is feasible in floats; back-to-back intervals
(end == start) stay allowed because exact values are snapped before rounding.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

from ortools.sat.python import cp_model

from allocate.access import within
from allocate.arguments import require_seed
from allocate.network import ESCORT_ROADS, RoadNetwork, Usability, path_risk, risk_from_weight
from allocate.plan import Convoy, Status
from allocate.scenario import EscortUnit, Scenario, Site

__all__ = [
    "EscortAssignment",
    "Unescorted",
    "UnescortedReason",
    "assign_escorts",
    "annotate_military",
    "civilian_busy_at",
    "escort_busy_window",
    "escort_admissibility",
    "least_unescorted_risk_through_stops",
    "military_last_resort_ok",
    "needs_escort",
    "party_rule_ok",
    "positioning_hours",
    "safe_reroute",
]

SCALE = 1000  # integer time and cost units per hour / per cost unit
_SNAP = 1e-6  # scaled values this close to an integer are taken as that integer (1e-9 h)
_MARGIN_S = 0.05  # of the time limit, kept back for reading the solution out
# (base, depot) -> (p_out, p_back) or None, per network: screening asks it for every pair
_POSITIONING: "weakref.WeakKeyDictionary[RoadNetwork, dict[tuple[str, str], tuple[float, float] | None]]" = (
    weakref.WeakKeyDictionary()
)

UnescortedReason = Literal[
    "consent_never",  # the organization's escort_policy is never
    "last_resort_safe_path",  # last_resort, and a path through the same stops is safe enough
    "party_rule",  # a unit that would otherwise protect it is excluded by policy.party_escorts
    "no_admissible_unit",  # no unit brings it to max_risk, can reach the depot, or has count >= 1
    "units_busy",  # admissible units exist but all are taken at that time
]


@dataclass(frozen=True)
class Unescorted:
    """A convoy that needed an escort (route risk above ``risk_threshold``) and got none."""

    convoy: str
    reason: UnescortedReason
    route_risk: float
    detail: str
    admissible_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscortAssignment:
    """Result of :func:`assign_escorts`.

    ``convoys``: every input convoy, in input order, escorted ones with ``escort``,
    ``least_unescorted_risk`` and ``why_escorted`` set. ``unescorted``: the convoys that needed
    an escort and got none, with why. ``status`` in FORMAT.md's solver statuses.
    """

    convoys: tuple[Convoy, ...]
    unescorted: tuple[Unescorted, ...]
    status: Status
    seconds: float
    seed: int
    time_limit: float
    needed: tuple[str, ...] = ()
    rerouted: tuple[str, ...] = ()  # convoys moved to a safe route instead (``reroute=True``)
    objective: tuple[float, float, float] = (0.0, 0.0, 0.0)  # weight escorted, cost, positioning h
    stages: tuple[str, ...] = field(default=())

    @property
    def escorted(self) -> tuple[Convoy, ...]:
        return tuple(c for c in self.convoys if c.escort is not None)

    def by_id(self) -> dict[str, Convoy]:
        return {c.id: c for c in self.convoys}

    def summary(self) -> str:
        lines = [
            f"escorts: {len(self.escorted)} escorted of {len(self.needed)} needing one, "
            f"status {self.status}, {self.seconds:.2f} s",
        ]
        lines += [f"  {u.convoy}: no escort ({u.reason}) {u.detail}" for u in self.unescorted]
        lines += [f"  {cid}: re-routed to a path safe enough without escort" for cid in self.rerouted]
        return "\n".join(lines)


# ----- facts shared with the planner and explain ---------------------------------------------
def _vehicle_usability(scenario: Scenario, convoy: Convoy) -> Usability:
    """Roads usable by every vehicle type of the convoy: the heaviest capacity bounds weight limits."""
    fleet = scenario.fleet_by_id
    caps = [fleet[f].capacity_t for f in convoy.vehicles if f in fleet]
    return Usability(vehicle_weight_t=max(caps) if caps else None)


def least_unescorted_risk_through_stops(scenario: Scenario, network: RoadNetwork, convoy: Convoy) -> float:
    """Least unescorted risk of any path through the convoy's stops in order (FORMAT.md §3.6).

    Legs depot → stop 1 → … → depot, each its least-risk path on the roads every vehicle type of
    the convoy may use (weight limits included). 1.0 when some leg has no path. This is the
    figure the last-resort rule re-derives: an escort is allowed only when it exceeds
    ``risk_threshold``.
    """
    return least_unescorted_risk(network, convoy.depot, [stop.site for stop in convoy.stops],
                                 _vehicle_usability(scenario, convoy))


def least_unescorted_risk(network: RoadNetwork, depot: str, sites: Sequence[str], usability: Usability) -> float:
    """:func:`least_unescorted_risk_through_stops` for stops ``sites`` of a convoy not built yet
    (a wave planner asking whether a ``last_resort`` organization may take an escort there).
    The way out and the way home read the depot's cached rows (from it, to it), not a search
    from every site."""
    points = [depot, *sites, depot]
    total = 0.0
    for a, b in zip(points, points[1:]):
        if a == b:
            continue
        if b == depot:
            w = network.distances_to(depot, "risk", usability).get(a)
        else:
            w = network.distances_from(a, "risk", usability).get(b)
        if w is None:
            return 1.0
        total += w
    return risk_from_weight(total)


def _fleet_fits(scenario: Scenario, convoys: Sequence[Convoy], changed: Convoy) -> bool:
    """Whether the fleet types of ``changed`` stay within their counts while it runs, with it in
    place of its old version (busy ``[depart_h, return_h)``, ends pulled in by the tolerance as
    FORMAT.md §3 does)."""
    for fleet_id in changed.vehicles:
        fleet = scenario.fleet_by_id.get(fleet_id)
        if fleet is None:
            return False
        events: list[tuple[float, int]] = []
        for c in convoys:
            c = changed if c.id == changed.id else c
            n = c.vehicles.get(fleet_id, 0)
            end = c.return_h - 1e-6 * max(1.0, abs(c.return_h))
            if n and end > c.depart_h:
                events += [(c.depart_h, n), (end, -n)]
        if not any(c.id == changed.id for c in convoys):
            n = changed.vehicles[fleet_id]
            events += [(changed.depart_h, n), (changed.return_h, -n)]
        # only moments while ``changed`` runs matter: an overbooking elsewhere is not its doing
        last = changed.return_h - 1e-6 * max(1.0, abs(changed.return_h))
        busy = 0
        for when, delta in sorted(events):
            busy += delta
            if changed.depart_h <= when < last and busy > fleet.count:
                return False
    return True


def safe_reroute(
    scenario: Scenario, network: RoadNetwork, convoy: Convoy, others: Sequence[Convoy] = ()
) -> Convoy | None:
    """The convoy on its least-risk legs through the same stops, re-timed, or None.

    Why: a convoy that may not (``last_resort``, ``never``) or cannot (units busy) get an escort
    is still worth shipping when some path through its stops is safe enough unescorted. Each leg
    (depot → stop 1 → … → depot) is its least-risk path on roads all its vehicles may use; it
    departs at the same hour, waits for windows, and must be back by the horizon; its fleet
    types must stay within their counts beside ``others`` (the rest of the plan). None when the
    safe route breaks a window, the horizon or fleet counts, or is not within ``risk_threshold``.
    """
    usability = _vehicle_usability(scenario, convoy)
    points = [convoy.depot, *(stop.site for stop in convoy.stops), convoy.depot]
    path: list[str] = [convoy.depot]
    for a, b in zip(points, points[1:]):
        if a == b:
            continue
        leg = network.least_path(a, b, "risk", usability)
        if leg is None:
            return None
        path += list(leg.nodes[1:])
    if not within(path_risk(network, path), scenario.policy.risk_threshold):
        return None
    # match stops to path positions in order, as FORMAT.md §3.2 does, then walk the clock
    matched: dict[int, int] = {}  # path position -> stop index
    position = 0
    for index, stop in enumerate(convoy.stops):
        position = next((p for p in range(position + (1 if index else 0), len(path)) if path[p] == stop.site), -1)
        if position < 0:
            return None  # e.g. two stops in a row at one site: a single pass cannot serve both
        matched[position] = index
    t = convoy.depart_h
    stops = list(convoy.stops)
    for position, node_id in enumerate(path):
        if position > 0:
            road = network.road(path[position - 1], node_id)
            t += road.hours if road is not None else 0.0
        if position in matched:
            node = scenario.node_by_id.get(node_id)
            window = node.window if isinstance(node, Site) else None
            arrive = t if window is None else max(t, window[0])
            if window is not None and not within(arrive, window[1]):
                return None
            stops[matched[position]] = stops[matched[position]].model_copy(update={"arrive_h": arrive})
            t = arrive + (node.service_h if isinstance(node, Site) else 0.0)
    if not within(t, scenario.horizon_h):
        return None
    rerouted = convoy.model_copy(
        update={"path": tuple(path), "stops": tuple(stops), "return_h": t, "rerouted_from": list(convoy.path)}
    )
    if not _fleet_fits(scenario, others, rerouted):
        return None
    return rerouted


def positioning_hours(network: RoadNetwork, escort: EscortUnit, depot: str) -> tuple[float, float] | None:
    """``(p_out, p_back)``: least escort-road hours base → depot and depot → base, or None."""
    cache = _POSITIONING.setdefault(network, {})
    key = (escort.base, depot)
    if key not in cache:
        p_out = network.distances_from(escort.base, "hours", ESCORT_ROADS).get(depot)
        p_back = network.distances_to(escort.base, "hours", ESCORT_ROADS).get(depot)
        cache[key] = None if p_out is None or p_back is None else (p_out, p_back)
    return cache[key]


def escort_busy_window(
    scenario: Scenario, network: RoadNetwork, escort: EscortUnit | str, convoy: Convoy
) -> tuple[float, float] | None:
    """When the unit is busy for this convoy: ``[depart_h − p_out, return_h + p_back)``.

    None when the unit cannot reach the depot or get back to its base on escort roads.
    """
    unit = scenario.escort_by_id[escort] if isinstance(escort, str) else escort
    pos = positioning_hours(network, unit, convoy.depot)
    if pos is None:
        return None
    return convoy.depart_h - pos[0], convoy.return_h + pos[1]


def needs_escort(scenario: Scenario, network: RoadNetwork, convoy: Convoy) -> bool:
    """A convoy needs an escort when its unescorted route risk exceeds ``risk_threshold``."""
    return not within(path_risk(network, convoy.path), scenario.policy.risk_threshold)


def party_rule_ok(scenario: Scenario, escort: EscortUnit, path: Sequence[str]) -> bool:
    """FORMAT.md §3.6 party escorts: ``forbidden`` UN/neutral only; ``non_opposed`` no path node
    in a zone controlled by a party opposed to the provider; ``any`` no rule."""
    return _party_rule_ok(scenario, escort, {scenario.controller_of(n) for n in path})


def _party_rule_ok(scenario: Scenario, escort: EscortUnit, controllers: set[str | None]) -> bool:
    rule = scenario.policy.party_escorts
    if rule == "forbidden":
        return scenario.party_by_id[escort.provider].kind in ("un", "neutral")
    if rule == "non_opposed":
        return not any(scenario.opposed(c, escort.provider) for c in controllers)
    return True


@dataclass
class _ConvoyFacts:
    """What every unit's screening of one convoy reuses: computed once per convoy."""

    controllers: set[str | None]
    traversal_risks: list[float]
    km: float
    escorted: dict[float, float] = field(default_factory=dict)  # effectiveness -> route risk

    @classmethod
    def of(cls, scenario: Scenario, network: RoadNetwork, convoy: Convoy) -> "_ConvoyFacts":
        risks = []
        for a, b in zip(convoy.path, convoy.path[1:]):
            road = network.road(a, b)
            if road is not None:
                risks.append(road.risk)
        return cls({scenario.controller_of(n) for n in convoy.path}, risks, network.measure(convoy.path).km)

    def risk(self, effectiveness: float) -> float:
        """Route risk ``1 - Π(1 - r·m)`` under an escort of this effectiveness (FORMAT.md §3.6)."""
        if effectiveness not in self.escorted:
            m = 1.0 - effectiveness
            w = sum(-math.log1p(-r * m) for r in self.traversal_risks)
            self.escorted[effectiveness] = risk_from_weight(w)
        return self.escorted[effectiveness]


def escort_admissibility(
    scenario: Scenario,
    network: RoadNetwork,
    escort: EscortUnit,
    convoy: Convoy,
    _facts: _ConvoyFacts | None = None,
) -> str | None:
    """None when the unit may escort this convoy as routed (ignoring other convoys), else why not.

    Checks the unit-specific rules: party rule, escorted risk ≤ ``max_risk``, positioning both
    ways, ``count`` ≥ 1. Consent and last resort are convoy-level (see :func:`assign_escorts`).
    """
    facts = _facts or _ConvoyFacts.of(scenario, network, convoy)
    if escort.count < 1:
        return "count 0"
    if not _party_rule_ok(scenario, escort, facts.controllers):
        return "party_rule"
    risk = facts.risk(escort.effectiveness)
    if not within(risk, scenario.policy.max_risk):
        return f"escorted risk {risk:.4g} > max_risk {scenario.policy.max_risk:g}"
    if positioning_hours(network, escort, convoy.depot) is None:
        return f"no escort road between base {escort.base} and depot {convoy.depot}"
    return None


# ----- military assets as a last resort --------------------------------------------------------
def _is_military(scenario: Scenario, convoy: Convoy) -> bool:
    fleet = scenario.fleet_by_id
    return any(fleet[f].military for f in convoy.vehicles if f in fleet)


def civilian_busy_at(
    scenario: Scenario, convoys: Sequence[Convoy], organization: str, depot: str, at_h: float, exclude: str | None = None
) -> dict[str, dict]:
    """For each civilian fleet type of ``organization`` at ``depot``: vehicles busy at ``at_h``.

    Busy means a convoy using it has ``depart_h ≤ at_h < return_h`` (half-open; the end is
    required to lie beyond ``at_h`` by more than the tolerance, so "all busy" is never claimed on
    an edge a checker could read the other way). ``{fleet_id: {busy, count, convoys}}``.
    """
    out: dict[str, dict] = {}
    for f in scenario.fleet:
        if f.organization != organization or f.depot != depot or f.military:
            continue
        users = [
            c
            for c in convoys
            if c.id != exclude
            and c.vehicles.get(f.id, 0) > 0
            and c.depart_h <= at_h
            and not within(c.return_h, at_h)
        ]
        out[f.id] = {
            "busy": sum(c.vehicles[f.id] for c in users),
            "count": f.count,
            "convoys": [c.id for c in users],
        }
    return out


def military_last_resort_ok(scenario: Scenario, convoys: Sequence[Convoy], convoy: Convoy) -> bool:
    """Whether the convoy respects FORMAT.md's military-assets rule given the other convoys.

    Civilian convoys and organizations that ``accept`` always pass; ``never`` fails for a
    military convoy; ``last_resort`` passes only while every civilian vehicle of the same
    organization at the same depot is busy at ``depart_h``.
    """
    if not _is_military(scenario, convoy):
        return True
    policy = scenario.organization_by_id[convoy.organization].military_assets
    if policy == "accept":
        return True
    if policy == "never":
        return False
    busy = civilian_busy_at(scenario, convoys, convoy.organization, convoy.depot, convoy.depart_h, exclude=convoy.id)
    return all(v["busy"] >= v["count"] for v in busy.values())


def annotate_military(scenario: Scenario, convoys: Sequence[Convoy], convoy: Convoy) -> Convoy:
    """The military convoy with ``civilian_busy`` set: which civilian vehicles of its
    organization at its depot were busy at its departure (the evidence for last resort)."""
    if not _is_military(scenario, convoy):
        return convoy
    busy = civilian_busy_at(scenario, convoys, convoy.organization, convoy.depot, convoy.depart_h, exclude=convoy.id)
    return convoy.model_copy(update={"civilian_busy": busy})


# ----- the assignment ---------------------------------------------------------------------------
def _floor_scaled(x: float) -> int:
    v = x * SCALE
    r = round(v)
    return int(r) if abs(v - r) <= _SNAP else math.floor(v)


def _ceil_scaled(x: float) -> int:
    v = x * SCALE
    r = round(v)
    return int(r) if abs(v - r) <= _SNAP else math.ceil(v)


def escort_ticks(window: tuple[float, float]) -> tuple[int, int]:
    """A busy window on the grid :func:`assign_escorts` judges it on (1/SCALE h, start rounded
    down, end up). Why public: a planner that fits convoys around a unit's busy time must use the
    same grid, or a convoy placed right after another overlaps it by a tick and loses its escort."""
    return _floor_scaled(window[0]), _ceil_scaled(window[1])


@dataclass
class _Pair:
    convoy: int
    unit: int
    start: int
    end: int
    cost: int  # escort cost ×SCALE
    positioning: int  # p_out + p_back, ×SCALE
    risk: float


def _convoy_weight(scenario: Scenario, convoy: Convoy) -> float:
    """Delivered tonnes × site severity: what an escort protects."""
    total = 0.0
    for stop in convoy.stops:
        node = scenario.node_by_id.get(stop.site)
        severity = node.severity if isinstance(node, Site) else 1
        total += scenario.weight_t(stop.unload) * severity
    return total


def _peak(intervals: Sequence[tuple[int, int]]) -> int:
    """Most half-open intervals busy at once (ends before starts at ties)."""
    events = sorted([(s, 1) for s, e in intervals if e > s] + [(e, -1) for s, e in intervals if e > s])
    busy = best = 0
    for _, delta in events:
        busy += delta
        best = max(best, busy)
    return best


def _fits(intervals: list[tuple[int, int]], start: int, end: int, capacity: int) -> bool:
    """Whether one more half-open interval keeps every moment at or below ``capacity``."""
    points = [start] + [s for s, e in intervals if start < s < end]
    return all(sum(1 for s, e in intervals if s <= t < e) + 1 <= capacity for t in points)


def assign_escorts(
    scenario: Scenario,
    convoys: Sequence[Convoy],
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    network: RoadNetwork | None = None,
    work_limit: float | None = None,
    reroute: bool = False,
) -> EscortAssignment:
    """Assign escort units to the routed convoys that need one (CP-SAT, lexicographic).

    Convoys that already carry an escort are kept and reserve their unit's capacity. Among the
    others, a convoy needs an escort when its unescorted route risk exceeds ``risk_threshold``;
    it may get unit u when its organization consents (``never`` excluded; ``last_resort`` only
    when no path through its stops is safe enough), the party rule admits u, the escorted risk
    is ≤ ``max_risk`` and u can position both ways. Units never serve more convoys at once than
    their ``count``, positioning included. Same seed ⇒ same result (one worker, fixed order)
    whenever the search ends before ``time_limit`` (wall clock); ``work_limit`` (CP-SAT
    deterministic time per stage) bounds it reproducibly on any machine.

    With ``reroute``, a convoy left without an escort (whatever the reason) is moved to its
    least-risk legs through the same stops when that route is within ``risk_threshold`` and its
    windows, the horizon and its fleet counts allow (:func:`safe_reroute`); it is then listed in
    ``rerouted``, not in ``unescorted``.

    Raises ValueError when convoys that already carry an escort overbook its unit.
    """
    require_seed(seed)
    t0 = time.perf_counter()
    network = network or RoadNetwork(scenario)
    policy = scenario.policy
    units = list(scenario.escorts)
    unit_index = {u.id: k for k, u in enumerate(units)}

    needy: list[int] = []
    least_risk: dict[int, float] = {}
    unescorted: dict[int, Unescorted] = {}
    pairs: list[_Pair] = []
    reserved: dict[int, list[tuple[int, int]]] = {k: [] for k in range(len(units))}

    for i, convoy in enumerate(convoys):
        if convoy.escort is not None:
            k = unit_index.get(convoy.escort)
            window = escort_busy_window(scenario, network, convoy.escort, convoy) if k is not None else None
            if window is not None:
                reserved[k].append((_floor_scaled(window[0]), _ceil_scaled(window[1])))
            continue
        if not needs_escort(scenario, network, convoy):
            continue
        needy.append(i)
        risk = path_risk(network, convoy.path)
        consent = scenario.organization_by_id[convoy.organization].escort_policy
        if consent == "never":
            unescorted[i] = Unescorted(
                convoy.id, "consent_never", risk, f"organization {convoy.organization} takes no escort"
            )
            continue
        least = least_unescorted_risk_through_stops(scenario, network, convoy)
        least_risk[i] = least
        if consent == "last_resort" and within(least, policy.risk_threshold):
            unescorted[i] = Unescorted(
                convoy.id,
                "last_resort_safe_path",
                risk,
                f"a path through the same stops has risk {least:.4g} <= risk_threshold "
                f"{policy.risk_threshold:g}: re-route it instead",
            )
            continue
        why_not: dict[str, str] = {}
        facts = _ConvoyFacts.of(scenario, network, convoy)
        km = facts.km
        first_pair = len(pairs)
        for k, unit in enumerate(units):
            reason = escort_admissibility(scenario, network, unit, convoy, facts)
            if reason is not None:
                why_not[unit.id] = reason
                continue
            p_out, p_back = positioning_hours(network, unit, convoy.depot)  # type: ignore[misc]
            pairs.append(
                _Pair(
                    convoy=i,
                    unit=k,
                    start=_floor_scaled(convoy.depart_h - p_out),
                    end=_ceil_scaled(convoy.return_h + p_back),
                    cost=round(km * unit.cost_per_km * SCALE),
                    positioning=round((p_out + p_back) * SCALE),
                    risk=facts.risk(unit.effectiveness),
                )
            )
        if not any(p.convoy == i for p in pairs[first_pair:]):
            party = [u for u, r in why_not.items() if r == "party_rule"]
            # the party rule is the reason when it excluded a unit that would otherwise have served
            party_blocked = _party_only_obstacle(scenario, network, convoy, party)
            reason_code: UnescortedReason = "party_rule" if party_blocked else "no_admissible_unit"
            detail = "; ".join(f"{u}: {r}" for u, r in sorted(why_not.items())) or "no escort unit in the scenario"
            unescorted[i] = Unescorted(convoy.id, reason_code, risk, detail)

    for k, fixed in reserved.items():
        peak = _peak(fixed)
        if peak > units[k].count:
            raise ValueError(
                f"convoys already escorted by {units[k].id} need {peak} of its teams at once, {units[k].count} exist"
            )
    weights = {i: round(_convoy_weight(scenario, convoys[i]) * SCALE) + 1 for i in needy}
    # the time limit covers screening too: the solver gets what is left, less a margin for reading out
    deadline = t0 + time_limit - _MARGIN_S
    chosen, status, stages = _solve(pairs, units, reserved, weights, deadline, seed, work_limit)
    admissible_by_convoy: dict[int, set[str]] = {}
    for p in pairs:
        admissible_by_convoy.setdefault(p.convoy, set()).add(units[p.unit].id)

    out = list(convoys)
    got = set()
    for p in chosen:
        convoy = convoys[p.convoy]
        unit = units[p.unit]
        got.add(p.convoy)
        least = least_risk[p.convoy]
        why = (
            f"route risk {path_risk(network, convoy.path):.4g} > risk_threshold {policy.risk_threshold:g}; "
            f"least unescorted risk through its stops {least:.4g}; with {unit.id} "
            f"(effectiveness {unit.effectiveness:g}) {p.risk:.4g} <= max_risk {policy.max_risk:g}"
        )
        out[p.convoy] = convoy.model_copy(
            update={"escort": unit.id, "least_unescorted_risk": least, "why_escorted": why}
        )
    rerouted: list[str] = []
    if reroute:
        for i in needy:
            if i in got:
                continue
            least = least_risk.get(i)
            if least is None:
                least = least_unescorted_risk_through_stops(scenario, network, convoys[i])
            if not within(least, policy.risk_threshold):
                continue
            safe = safe_reroute(scenario, network, convoys[i], out)
            if safe is not None:
                out[i] = safe
                got.add(i)
                unescorted.pop(i, None)
                rerouted.append(convoys[i].id)
    for i in needy:
        if i in got or i in unescorted:
            continue
        admissible = tuple(sorted(admissible_by_convoy.get(i, ())))
        unescorted[i] = Unescorted(
            convoys[i].id,
            "units_busy",
            path_risk(network, convoys[i].path),
            f"admissible units {', '.join(admissible)} are all taken at that time (positioning included)",
            admissible,
        )

    objective = (
        sum(weights[p.convoy] - 1 for p in chosen) / SCALE,
        sum(p.cost for p in chosen) / SCALE,
        sum(p.positioning for p in chosen) / SCALE,
    )
    return EscortAssignment(
        convoys=tuple(out),
        unescorted=tuple(unescorted[i] for i in sorted(unescorted)),
        status=status,
        seconds=time.perf_counter() - t0,
        seed=seed,
        time_limit=time_limit,
        needed=tuple(convoys[i].id for i in needy),
        rerouted=tuple(rerouted),
        objective=objective,
        stages=stages,
    )


def _party_only_obstacle(scenario: Scenario, network: RoadNetwork, convoy: Convoy, party_excluded: list[str]) -> bool:
    """Whether some unit excluded by the party rule would pass every other unit-level test."""
    by_id = scenario.escort_by_id
    for uid in party_excluded:
        unit = by_id[uid]
        if unit.count < 1:
            continue
        if not within(path_risk(network, convoy.path, unit.effectiveness), scenario.policy.max_risk):
            continue
        if positioning_hours(network, unit, convoy.depot) is None:
            continue
        return True
    return False


def _maximal_cliques(
    intervals: Sequence[tuple[int, int]], fixed: Sequence[tuple[int, int]]
) -> list[tuple[list[int], int]]:
    """Maximal sets of half-open ``intervals`` that share a moment, each with how many ``fixed``
    intervals are busy then: ``[(indices into intervals, fixed count)]``.

    Sweep over events, ends before starts at equal times (back-to-back does not overlap); a set
    is maximal when a start is followed by an end.
    """
    events: list[tuple[int, int, int, int]] = []  # (time, 0 end / 1 start, 0 optional / 1 fixed, index)
    for n, (s, e) in enumerate(intervals):
        if e > s:
            events += [(s, 1, 0, n), (e, 0, 0, n)]
    for n, (s, e) in enumerate(fixed):
        if e > s:
            events += [(s, 1, 1, n), (e, 0, 1, n)]
    events.sort()
    active: set[int] = set()
    taken = 0
    out: list[tuple[list[int], int]] = []
    for pos, (_, is_start, is_fixed, n) in enumerate(events):
        if is_start:
            if is_fixed:
                taken += 1
            else:
                active.add(n)
            following = events[pos + 1] if pos + 1 < len(events) else None
            if (following is None or not following[1]) and active:
                out.append((sorted(active), taken))
        elif is_fixed:
            taken -= 1
        else:
            active.discard(n)
    return out


def _greedy(
    pairs: Sequence[_Pair], units: Sequence[EscortUnit], reserved: Mapping[int, list[tuple[int, int]]], weights: Mapping[int, int]
) -> list[_Pair]:
    """A feasible assignment: heaviest convoys first, cheapest unit that still fits."""
    used = {k: list(v) for k, v in reserved.items()}
    order = sorted(pairs, key=lambda p: (-weights[p.convoy], p.convoy, p.cost, p.positioning, p.unit))
    done: set[int] = set()
    chosen = []
    for p in order:
        if p.convoy in done:
            continue
        if _fits(used[p.unit], p.start, p.end, units[p.unit].count):
            used[p.unit].append((p.start, p.end))
            done.add(p.convoy)
            chosen.append(p)
    return chosen


def _unit_flow(
    unit: EscortUnit, options: Sequence[_Pair], fixed: Sequence[tuple[int, int]], weights: Mapping[int, int]
) -> list[_Pair]:
    """The heaviest set of ``options`` one unit can take besides its ``fixed`` intervals.

    A min-cost flow of ``count`` along the unit's timeline where each convoy's busy interval is
    a bypass arc worth its weight; reserved intervals are bypasses it must take. Exact for one
    unit (interval graphs), in milliseconds.
    """
    from ortools.graph.python import min_cost_flow

    if not options:
        return []
    times = sorted({t for p in options for t in (p.start, p.end)} | {t for iv in fixed for t in iv})
    node = {t: n for n, t in enumerate(times)}
    must = 1 + sum(weights[p.convoy] for p in options)  # a reserved interval outweighs them all
    flow = min_cost_flow.SimpleMinCostFlow()
    for n in range(len(times) - 1):
        flow.add_arc_with_capacity_and_unit_cost(n, n + 1, unit.count, 0)
    arcs = [flow.add_arc_with_capacity_and_unit_cost(node[p.start], node[p.end], 1, -weights[p.convoy]) for p in options]
    for start, end in fixed:
        if end > start:
            flow.add_arc_with_capacity_and_unit_cost(node[start], node[end], 1, -must)
    flow.set_node_supply(0, unit.count)
    flow.set_node_supply(len(times) - 1, -unit.count)
    if flow.solve() != flow.OPTIMAL:
        return []
    return [p for p, arc in zip(options, arcs) if flow.flow(arc) > 0]


def _unit_by_unit(
    pairs: Sequence[_Pair],
    units: Sequence[EscortUnit],
    reserved: Mapping[int, list[tuple[int, int]]],
    weights: Mapping[int, int],
) -> list[_Pair]:
    """A feasible assignment, unit by unit (cheapest first), each unit's choice exact
    (:func:`_unit_flow`) over the convoys earlier units left. Within a few per cent of the LP
    bound on crowded days where the greedy is 15 % off; CP-SAT starts from it."""
    by_unit: dict[int, list[_Pair]] = {}
    for p in pairs:
        by_unit.setdefault(p.unit, []).append(p)
    taken: set[int] = set()
    chosen: list[_Pair] = []
    for k in sorted(by_unit, key=lambda k: (units[k].cost_per_km, -units[k].count, k)):
        options = [p for p in by_unit[k] if p.convoy not in taken]
        for p in _unit_flow(units[k], options, reserved.get(k, []), weights):
            taken.add(p.convoy)
            chosen.append(p)
    return chosen


def _solve(
    pairs: Sequence[_Pair],
    units: Sequence[EscortUnit],
    reserved: Mapping[int, list[tuple[int, int]]],
    weights: Mapping[int, int],
    deadline: float,
    seed: int,
    work_limit: float | None = None,
) -> tuple[list[_Pair], Status, tuple[str, ...]]:
    """CP-SAT: optional fixed intervals, one cumulative per unit, three lexicographic stages."""
    if not pairs:
        return [], "optimal", ()
    start = max(  # the better heuristic: CP-SAT starts from it, and it stands if CP-SAT cannot finish
        (_greedy(pairs, units, reserved, weights), _unit_by_unit(pairs, units, reserved, weights)),
        key=lambda sel: (sum(weights[p.convoy] for p in sel), -sum(p.cost for p in sel)),
    )
    if time.perf_counter() >= deadline:
        return start, "time_limit", ("heuristic only: time limit reached before the model was built",)

    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x_{p.convoy}_{p.unit}") for p in pairs]
    per_convoy: dict[int, list[int]] = {}
    per_unit: dict[int, list[int]] = {}
    for j, p in enumerate(pairs):
        per_convoy.setdefault(p.convoy, []).append(j)
        per_unit.setdefault(p.unit, []).append(j)
    for js in per_convoy.values():
        if len(js) > 1:
            model.add_at_most_one(x[j] for j in js)
    for k, js in per_unit.items():
        if time.perf_counter() >= deadline:
            return start, "time_limit", ("heuristic only: time limit reached while building the model",)
        intervals = [
            model.new_optional_fixed_size_interval_var(pairs[j].start, pairs[j].end - pairs[j].start, x[j], f"i_{j}")
            for j in js
        ]
        fixed = [model.new_fixed_size_interval_var(s, e - s, f"r_{k}_{n}") for n, (s, e) in enumerate(reserved[k])]
        model.add_cumulative(intervals + fixed, [1] * (len(intervals) + len(fixed)), units[k].count)
        # The same capacity as linear clique cuts: with fixed intervals they describe it exactly
        # and give the LP a tight bound, which the cumulative propagator alone does not (60
        # convoys x 6 units were not proved optimal in 30 s without them).
        for members, taken in _maximal_cliques([(pairs[j].start, pairs[j].end) for j in js], reserved[k]):
            if len(members) > units[k].count - taken:
                model.add(cp_model.LinearExpr.sum([x[js[m]] for m in members]) <= units[k].count - taken)

    chosen_set = {id(p) for p in start}
    for j, p in enumerate(pairs):
        model.add_hint(x[j], id(p) in chosen_set)

    tiers = [
        ("weight", [weights[p.convoy] for p in pairs], True),
        ("cost", [p.cost for p in pairs], False),
        ("positioning", [p.positioning for p in pairs], False),
    ]
    best = start
    all_optimal = True
    stages: list[str] = []
    for name, coefs, maximize in tiers:
        remaining = deadline - time.perf_counter()
        if remaining <= 0.01:
            all_optimal = False
            stages.append(f"{name}: skipped (time limit)")
            break
        expr = cp_model.LinearExpr.weighted_sum(x, coefs)
        if maximize:
            model.maximize(expr)
        else:
            model.minimize(expr)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = seed
        solver.parameters.max_time_in_seconds = remaining
        if work_limit is not None:
            solver.parameters.max_deterministic_time = work_limit
        code = solver.solve(model)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            all_optimal = False
            stages.append(f"{name}: {solver.status_name(code)}")
            break
        values = [solver.boolean_value(v) for v in x]
        found = [p for p, v in zip(pairs, values) if v]
        if maximize and sum(weights[p.convoy] for p in found) < sum(weights[p.convoy] for p in best):
            stages.append(f"{name}: {solver.status_name(code)} below the heuristic start, kept the start")
            all_optimal = False
            break
        best = found
        value = round(solver.objective_value)
        stages.append(f"{name}: {solver.status_name(code)} {value}")
        if code != cp_model.OPTIMAL:
            all_optimal = False
        # keep this tier's value for the next tiers, and start them from this solution
        if maximize:
            model.add(expr >= value)
        else:
            model.add(expr <= value)
        model.clear_hints()
        for v, val in zip(x, values):
            model.add_hint(v, val)
        if code != cp_model.OPTIMAL:
            break
    return best, ("optimal" if all_optimal else "time_limit"), tuple(stages)
