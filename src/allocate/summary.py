"""Summary tables of a plan: coverage by zone and by severity, convoys and escorts, unmet sites.

Plain rows (lists of dicts) so the command line can render them with rich, a notebook with
pandas, and ``--json`` as they are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from allocate.plan import Plan, site_coverage
from allocate.scenario import Scenario


def coverage_by(scenario: Scenario, plan: Plan, key: str) -> list[dict[str, Any]]:
    """Delivered over needed tonnes grouped by ``zone`` or ``severity``."""
    coverage = site_coverage(scenario, plan.convoys)
    groups: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for site in scenario.sites:
        group = getattr(site, key)
        cov = coverage[site.id]
        groups[group][0] += cov.delivered_t
        groups[group][1] += cov.need_t
        groups[group][2] += 1
    rows = []
    for group in sorted(groups, key=lambda g: (g is None, str(g))):
        delivered, need, count = groups[group]
        rows.append(
            {
                key: "(none)" if group is None else group,
                "sites": count,
                "delivered_t": round(delivered, 3),
                "need_t": round(need, 3),
                "coverage": round(delivered / need, 4) if need else 1.0,
            }
        )
    return rows


def convoy_rows(plan: Plan) -> list[dict[str, Any]]:
    """Convoys and escorts per depot and organization."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for convoy in plan.convoys:
        g = groups[(convoy.depot, convoy.organization)]
        g[0] += 1
        g[1] += sum(convoy.vehicles.values())
        g[2] += convoy.escort is not None
    return [
        {"depot": d, "organization": o, "convoys": n, "vehicles": v, "escorted": e}
        for (d, o), (n, v, e) in sorted(groups.items())
    ]


def unmet_rows(scenario: Scenario, plan: Plan) -> list[dict[str, Any]]:
    """Every site listed in ``unmet`` with its reasons and coverage."""
    coverage = site_coverage(scenario, plan.convoys)
    reasons: dict[str, list[str]] = defaultdict(list)
    for claim in plan.unmet:
        reasons[claim.site].append(claim.reason)
    return [
        {"site": site, "coverage": round(coverage[site].ratio, 4) if site in coverage else None, "reasons": ", ".join(r)}
        for site, r in reasons.items()
    ]


def summarize(scenario: Scenario, plan: Plan) -> dict[str, Any]:
    """Every table at once, plus the headline figures."""
    return {
        "scenario": scenario.name,
        "status": plan.solver.status,
        "metrics": dict(plan.metrics),
        "bound": plan.solver.bound,
        "by_zone": coverage_by(scenario, plan, "zone"),
        "by_severity": coverage_by(scenario, plan, "severity"),
        "convoys": convoy_rows(plan),
        "unmet": unmet_rows(scenario, plan),
    }
