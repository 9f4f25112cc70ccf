"""Why a site is unserved, in words an analyst can act on.

The facts come from the road network and the access rules (access.py), never from a solver's
internals: for each serving depot, whether a road leads there and back, how long and how risky
the best round trip is, which zones it crosses and who controls them, and for each escort unit
whether consent, the party rule or its effectiveness rules it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from allocate.access import AccessFacts, within
from allocate.network import RoadNetwork, Usability, risk_from_weight
from allocate.plan import Plan, site_coverage
from allocate.scenario import EscortUnit, Scenario


@dataclass(frozen=True)
class SiteExplanation:
    """One site's shortfall and the sentences that explain it."""

    site: str
    coverage: float | None
    reasons: tuple[str, ...]
    sentences: tuple[str, ...]

    def text(self) -> str:
        head = f"site {self.site}"
        if self.coverage is not None:
            head += f" (coverage {self.coverage:.0%}"
            head += f"; plan says: {', '.join(self.reasons)})" if self.reasons else ")"
        return head + ": " + " ".join(self.sentences)


def explain(scenario: Scenario, plan: Plan | None = None, network: RoadNetwork | None = None) -> list[SiteExplanation]:
    """Explain every site short in ``plan`` (or, without a plan, every site not servable unescorted)."""
    network = network or RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    out = []
    if plan is not None:
        coverage = site_coverage(scenario, plan.convoys)
        listed: dict[str, list[str]] = {}
        for claim in plan.unmet:
            listed.setdefault(claim.site, []).append(claim.reason)
        for site in scenario.sites:
            cov = coverage[site.id]
            if within(cov.need_t, cov.delivered_t):
                continue
            reasons = tuple(listed.get(site.id, ()))
            sentences = _access_sentences(scenario, access, site.id) + _resource_sentences(reasons)
            out.append(SiteExplanation(site.id, cov.ratio, reasons, tuple(sentences)))
        return out
    for site in scenario.sites:
        modes = {d: access.mode(d, site.id) for d in access.serving_depots}
        if "unescorted" in modes.values():
            continue
        out.append(SiteExplanation(site.id, None, access.holding_reasons(site.id), tuple(_access_sentences(scenario, access, site.id))))
    return out


def _resource_sentences(reasons: tuple[str, ...]) -> list[str]:
    words = {
        "stock": "The depots that reach it hold too little stock for every site's need.",
        "fleet": "No vehicle was free to carry the rest within the horizon.",
        "escorts": "The convoys it needed had to be escorted and no admissible escort unit was free.",
        "horizon": "The remaining deliveries do not fit in the planning horizon.",
        "routing": "The routing search did not fit the remaining deliveries in its time limit.",
    }
    return [words[r] for r in reasons if r in words]


def _zones_on(scenario: Scenario, nodes: tuple[str, ...]) -> str:
    seen: list[str] = []
    for node in nodes:
        zone = scenario.zone_of(node)
        if zone is None:
            continue
        label = zone.id + (f" (controlled by {zone.controlled_by})" if zone.controlled_by else " (contested)")
        if label not in seen:
            seen.append(label)
    return ", ".join(seen) if seen else "no zone"


def _access_sentences(scenario: Scenario, access: AccessFacts, site: str) -> list[str]:
    policy = scenario.policy
    if not access.serving_depots:
        return ["No depot has both a vehicle and stock."]
    if scenario.is_denied(site):
        zone = scenario.zone_of(site)
        return [f"It lies in zone {zone.id}, where access is denied."]
    sentences = []
    for depot in access.serving_depots:
        roads = Usability(vehicle_weight_t=access.lightest_capacity_t(depot))
        pair = access.pair(depot, site)
        if not pair.reachable:
            sentences.append(f"From {depot}, no usable road leads there and back (closed roads, denied zones and weight limits excluded).")
            continue
        if not within(pair.hours, scenario.horizon_h):
            sentences.append(f"From {depot}, the fastest round trip takes {pair.hours:.1f} h, beyond the {scenario.horizon_h:g} h horizon.")
            continue
        if within(pair.risk, policy.risk_threshold):
            sentences.append(f"From {depot}, a round trip with risk {pair.risk:.3f} needs no escort.")
            continue
        safest = access.network.least_path(depot, site, "risk", roads)
        where = _zones_on(scenario, safest.nodes) if safest else "no zone"
        sentences.append(
            f"From {depot}, the safest round trip has risk {pair.risk:.3f}, above the {policy.risk_threshold:g} threshold"
            f" (its way out crosses {where})."
        )
        takers = access.escort_organizations(depot)
        if not takers:
            sentences.append(f"No organization with vehicles at {depot} accepts an armed escort.")
            continue
        if pair.escorts:
            names = ", ".join(f"{e} (risk {r:.3f})" for e, r in pair.escorts)
            sentences.append(f"Escorts that make it possible: {names}.")
            continue
        sentences.extend(_why_no_escort(scenario, access, depot, site, e) for e in scenario.escorts)
        if not scenario.escorts:
            sentences.append("The scenario has no escort unit.")
    return sentences


def _why_no_escort(scenario: Scenario, access: AccessFacts, depot: str, site: str, escort: EscortUnit) -> str:
    provider = scenario.party_by_id[escort.provider]
    if not access.party_admits(escort):
        return f"Escort {escort.id} is provided by {provider.id} ({provider.kind}), and party escorts are forbidden."
    usability = access.escort_usability(escort, access.lightest_capacity_t(depot))
    w = access.network.round_trip(depot, site, "risk", usability, escort.effectiveness)
    if not math.isfinite(w):
        opposed = sorted({z.controlled_by for z in scenario.zones if scenario.opposed(z.controlled_by, provider.id)})
        return (
            f"Escort {escort.id} is provided by {provider.id}, which opposes {', '.join(opposed)}: every road there"
            " crosses a zone they control."
        )
    return (
        f"Escort {escort.id} would bring the round trip to risk {risk_from_weight(w):.3f}, still above the"
        f" {scenario.policy.max_risk:g} maximum."
    )
