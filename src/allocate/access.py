"""Access facts: who can reach which site, unescorted, only under escort, or not at all, and why.

These are the facts behind FORMAT.md §3.6's verifiable unmet claims (``no_path``, ``too_far``,
``too_risky``). The planner uses them to decide what may be allocated and routed, and the checker
uses the very same functions to judge a plan's claims, so the rule is written once.
They are pure road-network facts: no solver is involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from allocate.network import RoadNetwork, Usability, risk_from_weight
from allocate.scenario import EscortUnit, Scenario

TOL = 1e-6


def within(x: float, bound: float) -> bool:
    """FORMAT.md's tolerance: ``x`` respects ``bound`` when ``x <= bound + 1e-6·max(1, |bound|)``."""
    return x <= bound + TOL * max(1.0, abs(bound))


Reason = Literal["no_path", "too_far", "too_risky"]
Mode = Literal["unescorted", "escorted", "no_path", "too_far", "too_risky"]


@dataclass(frozen=True)
class PairAccess:
    """How one depot reaches one site on the roads of vehicles of a given weight class.

    ``hours``: least-time round trip (road hours only, ``inf`` if none); ``risk``: least-risk
    round trip risk unescorted (1.0 if no path); ``escorts``: admissible escort units that bring
    the least-risk round trip to ``max_risk`` or below, with that escorted risk, best first.
    """

    depot: str
    site: str
    hours: float
    risk: float
    escorts: tuple[tuple[str, float], ...]

    @property
    def reachable(self) -> bool:
        return math.isfinite(self.hours)


class AccessFacts:
    """Access facts of one scenario, computed lazily and cached."""

    def __init__(self, scenario: Scenario, network: RoadNetwork | None = None):
        self.scenario = scenario
        self.network = network or RoadNetwork(scenario)
        self._pairs: dict[tuple, PairAccess] = {}
        self._claim_escorts: dict[tuple[str, str], tuple[str, ...]] = {}

    # ----- depots ------------------------------------------------------------------------
    @cached_property
    def serving_depots(self) -> tuple[str, ...]:
        """Depots with a fleet type of ``count`` ≥ 1 and positive stock (FORMAT.md §3.6)."""
        s = self.scenario
        with_fleet = {f.depot for f in s.fleet if f.count >= 1}
        return tuple(d.id for d in s.depots if d.id in with_fleet and any(u > 0 for u in d.stock.values()))

    def lightest_capacity_t(self, depot: str) -> float:
        """Smallest ``capacity_t`` among the depot's fleet types with ``count`` ≥ 1."""
        return min(f.capacity_t for f in self.scenario.fleet if f.depot == depot and f.count >= 1)

    def escort_organizations(self, depot: str) -> set[str]:
        """Organizations with a fleet at ``depot`` whose policy lets them take an escort."""
        s = self.scenario
        orgs = {f.organization for f in s.fleet if f.depot == depot and f.count >= 1}
        return {o for o in orgs if s.organization_by_id[o].escort_policy != "never"}

    # ----- escorts -----------------------------------------------------------------------
    def party_admits(self, escort: EscortUnit) -> bool:
        """Whether the party rule allows this provider at all (``forbidden``: UN or neutral only)."""
        if self.scenario.policy.party_escorts == "forbidden":
            return self.scenario.party_by_id[escort.provider].kind in ("un", "neutral")
        return True

    def escort_usability(self, escort: EscortUnit, vehicle_weight_t: float | None) -> Usability:
        """Roads a convoy under this escort may take: the vehicles' roads, and under
        ``non_opposed`` none touching a zone controlled by a party opposed to the provider."""
        avoid = escort.provider if self.scenario.policy.party_escorts == "non_opposed" else None
        return Usability(vehicle_weight_t=vehicle_weight_t, avoid_opposed_to=avoid)

    # ----- pairs -------------------------------------------------------------------------
    def pair(self, depot: str, site: str, vehicle_weight_t: float | None = None, escorts_allowed: bool = True) -> PairAccess:
        """Round-trip facts from ``depot`` to ``site`` for vehicles up to ``vehicle_weight_t`` tonnes.

        ``vehicle_weight_t`` None means the depot's lightest vehicle type, as claims are judged.
        ``escorts_allowed`` False skips the escort side (an organization whose policy is ``never``).
        """
        if vehicle_weight_t is None:
            vehicle_weight_t = self.lightest_capacity_t(depot)
        key = (depot, site, vehicle_weight_t, escorts_allowed)
        if key not in self._pairs:
            self._pairs[key] = self._compute_pair(depot, site, vehicle_weight_t, escorts_allowed)
        return self._pairs[key]

    def _compute_pair(self, depot: str, site: str, weight_t: float, escorts_allowed: bool) -> PairAccess:
        net, policy = self.network, self.scenario.policy
        roads = Usability(vehicle_weight_t=weight_t)
        hours = net.round_trip(depot, site, "hours", roads)
        risk_w = net.round_trip(depot, site, "risk", roads)
        risk = risk_from_weight(risk_w) if math.isfinite(risk_w) else 1.0
        options: list[tuple[str, float]] = []
        if escorts_allowed:
            for escort in self.scenario.escorts:
                if not self.party_admits(escort):
                    continue
                w = net.round_trip(depot, site, "risk", self.escort_usability(escort, weight_t), escort.effectiveness)
                if math.isfinite(w) and within(risk_from_weight(w), policy.max_risk):
                    options.append((escort.id, risk_from_weight(w)))
        options.sort(key=lambda item: (item[1], item[0]))
        return PairAccess(depot, site, hours, risk, tuple(options))

    def mode(self, depot: str, site: str, vehicle_weight_t: float | None = None, escorts_allowed: bool = True) -> Mode:
        """How the depot may serve the site: ``unescorted``, ``escorted``, or why not."""
        pair = self.pair(depot, site, vehicle_weight_t, escorts_allowed)
        if not pair.reachable:
            return "no_path"
        if not within(pair.hours, self.scenario.horizon_h):
            return "too_far"
        if within(pair.risk, self.scenario.policy.risk_threshold):
            return "unescorted"
        return "escorted" if pair.escorts else "too_risky"

    # ----- claims (FORMAT.md §3.6) -------------------------------------------------------
    def claim_holds(self, site: str, reason: str) -> bool:
        """Whether a checked unmet claim holds for ``site``, judged from every serving depot."""
        depots = self.serving_depots
        if reason == "no_path":
            return not any(self.pair(d, site).reachable for d in depots)
        if reason == "too_far":
            return all(not within(self.pair(d, site).hours, self.scenario.horizon_h) for d in depots)
        if reason == "too_risky":
            threshold = self.scenario.policy.risk_threshold
            for d in depots:
                if within(self.pair(d, site, escorts_allowed=False).risk, threshold):
                    return False
                if self.escort_organizations(d) and self.claim_escorts(d, site):
                    return False
            return True
        raise ValueError(f"not a checked reason: {reason!r}")

    def claim_escorts(self, depot: str, site: str) -> tuple[str, ...]:
        """Escort units that, as the escort side of a ``too_risky`` claim, bring the least-risk
        round trip ``depot`` → ``site`` → ``depot`` to ``max_risk`` or below.

        FORMAT.md §3.6 judges this side on the roads the escort may use: open, outside denied
        zones, *without* weight limits (and, under ``non_opposed``, avoiding zones of parties
        opposed to its provider); :meth:`pair` keeps the vehicles' weight limits for planning.
        """
        key = (depot, site)
        if key not in self._claim_escorts:
            net, max_risk = self.network, self.scenario.policy.max_risk
            found = []
            for escort in self.scenario.escorts:
                if not self.party_admits(escort):
                    continue
                w = net.round_trip(depot, site, "risk", self.escort_usability(escort, None), escort.effectiveness)
                if math.isfinite(w) and within(risk_from_weight(w), max_risk):
                    found.append(escort.id)
            self._claim_escorts[key] = tuple(found)
        return self._claim_escorts[key]

    def holding_reasons(self, site: str) -> tuple[Reason, ...]:
        """Every checked reason that holds for ``site`` (empty when some depot can serve it)."""
        return tuple(r for r in ("no_path", "too_far", "too_risky") if self.claim_holds(site, r))

    def unreachable_reason(self, site: str) -> Reason | None:
        """The most telling checked reason that holds, or None when the site is accessible."""
        reasons = self.holding_reasons(site)
        return reasons[0] if reasons else None
