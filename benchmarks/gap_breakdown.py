"""Where a plan's coverage falls short of the distribution bound (issue 5's ≥ 95 % target).

The bound (``plan.solver.bound``) is the distribution model's; the plan is what the routing and
escort stages made of its allocation. The allocation's own coverage may be above the bound (its
escort trips stay fractional where the bound's second solve makes a far unit's convoys whole,
``allocate.distribute._whole_convoy_bound``); the per-depot figures are the allocation's. This
script puts the two side by side, per depot and per escort unit, so the next change goes where
the gap is:

- **coverage**: each depot's share of severity-weighted coverage, unescorted and escorted, in
  the bound's allocation and in the plan (the gap column adds up to allocation − plan);
- **trucks**: the share of the depot's capacity-hours (Σ count × capacity_t × horizon) the plan's
  convoys hold, and how well they use them: ``fill`` (load over capacity, by weight or volume,
  whichever is fuller) and ``trip``, unescorted and escorted (Σ tonnes × the stop's least round
  trip over tonnes × the convoy's hours: tours, longer paths and waits lower it); the bound
  charges each tonne its site's least round trip, so ``trip`` is 1 in the bound;
- **escorts**: each unit's busy hours (positioning included, FORMAT.md §3.5) and convoys in the
  plan against ``count × horizon``, beside the bound's escort trips and hours, the sites those
  trips reach, and the hours the unit would be busy with one convoy of its own to each of them;
- **sites**: every (depot, site) pair, largest gap first (severity × tonnes of the allocation −
  the plan), with the escort units the allocation's trips and the plan's convoys take there;
- **risk-bound round trips**: the bound charges a trip its quickest round trip, but a convoy
  without escort must keep its route risk within ``risk_threshold`` (FORMAT.md §3.6), so its
  round trip lasts at least max over λ ≥ 0 of (least hours + λ·risk round trip) − λ·threshold
  (a Lagrangian bound, risk as Σ −ln(1 − r)); the same under the weakest-risk escort and
  ``max_risk`` bounds a convoy that takes one. Per depot, over the sites with a safe road: Σ
  quickest round trips, Σ risk-bound ones, and Σ of the lower of the two bounds (what a model
  could charge where the organization may take an escort and ride along).

    .venv/bin/python benchmarks/gap_breakdown.py [--time-limit 90] [--seed 0] [--only NAME] [--plan PLAN.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from allocate.access import AccessFacts
from allocate.distribute import Allocation, _RoadArrays, distribute, distribution_facts
from allocate.escorts import escort_busy_window
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan
from allocate.planner import plan as make_plan
from allocate.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SITE_ROWS = 15  # (depot, site) pairs in the markdown's site table
GAP_CRISES = ("cote_divoire_like", "haiti_like", "darfur_like_large")  # below 0.95 of the bound


@dataclass(frozen=True)
class DepotRow:
    depot: str
    bound_safe: float  # severity-weighted coverage the bound's allocation moves unescorted
    plan_safe: float
    bound_escorted: float
    plan_escorted: float
    busy: float  # plan capacity-hours over count × capacity_t × horizon
    fill: float  # loaded share of those capacity-hours (weight or volume, the fuller)
    trip_safe: float  # unescorted convoys: least round trips over the convoys' hours, per tonne
    trip_escorted: float  # the same for convoys under escort

    @property
    def gap(self) -> float:
        return self.bound_safe + self.bound_escorted - self.plan_safe - self.plan_escorted


@dataclass(frozen=True)
class EscortRow:
    unit: str
    count: int
    plan_busy: float  # busy hours over count × horizon (may exceed 1 by positioning before 0 and after)
    plan_convoys: int
    plan_t_per_h: float  # tonnes per busy hour
    bound_trips: float
    bound_busy: float  # Σ trips × busy hours over count × horizon
    bound_sites: int  # (depot, site) pairs the bound's trips of this unit carry ≥ ESCORTED_SITE_T to
    bound_single_busy: float  # one convoy of its own to each of them: Σ busy hours over count × horizon
    plan_sites: int  # (depot, site) pairs the plan's convoys under this unit stop at


def _weight(s: Scenario, quantities: dict[str, float]) -> float:
    return sum(u * s.commodity_by_id[c].weight_t for c, u in quantities.items())


def _volume(s: Scenario, quantities: dict[str, float]) -> float:
    return sum(u * s.commodity_by_id[c].volume_m3 for c, u in quantities.items())


def _weights(s: Scenario) -> tuple[dict[str, float], float]:
    """Severity per site and Σ severity × need_t, the denominator of weighted coverage."""
    severity = {x.id: float(x.severity) for x in s.sites}
    return severity, sum(severity[x.id] * s.weight_t(x.need) for x in s.sites) or 1.0


def least_round_trips(s: Scenario) -> dict[tuple[str, str], float]:
    """(fleet type, site) → least round-trip hours with service, as the bound charges them."""
    f = distribution_facts(s)
    return {(f.fleets[fi], f.sites[f.g_site[g]]): float(h)
            for fi, g, h in zip(f.fg_fleet.tolist(), f.fg_group.tolist(), f.fg_hours.tolist())}


def depot_rows(s: Scenario, allocation: Allocation, convoys: Sequence[Convoy]) -> list[DepotRow]:
    severity, total = _weights(s)
    bound: dict[tuple[str, bool], float] = defaultdict(float)
    for r in allocation.rows():
        bound[(r["depot"], bool(r["escorted"]))] += severity[r["site"]] * r["weight_t"] / total
    planned: dict[tuple[str, bool], float] = defaultdict(float)
    cap_h: dict[str, float] = defaultdict(float)
    loaded_h: dict[str, float] = defaultdict(float)
    tonne_h: dict[tuple[str, bool], float] = defaultdict(float)
    least_h: dict[tuple[str, bool], float] = defaultdict(float)
    rt = least_round_trips(s)
    for c in convoys:
        hours = c.return_h - c.depart_h
        cap_t = sum(n * s.fleet_by_id[v].capacity_t for v, n in c.vehicles.items())
        cap_m3 = sum(n * s.fleet_by_id[v].capacity_m3 for v, n in c.vehicles.items())
        tonnes = sum(_weight(s, st.unload) for st in c.stops)
        m3 = sum(_volume(s, st.unload) for st in c.stops)
        fill = max(tonnes / cap_t if cap_t else 0.0, m3 / cap_m3 if cap_m3 else 0.0)
        cap_h[c.depot] += cap_t * hours
        loaded_h[c.depot] += cap_t * hours * min(fill, 1.0)
        key = (c.depot, c.escort is not None)
        tonne_h[key] += tonnes * hours
        for st in c.stops:
            t = _weight(s, st.unload)
            planned[key] += severity[st.site] * t / total
            least_h[key] += t * max((rt.get((v, st.site), hours) for v in c.vehicles), default=hours)
    capacity: dict[str, float] = defaultdict(float)
    for fleet in s.fleet:
        capacity[fleet.depot] += fleet.count * fleet.capacity_t * s.horizon_h
    depots = sorted({d for d, _ in bound} | {d for d, _ in planned})
    return [DepotRow(d, bound[(d, False)], planned[(d, False)], bound[(d, True)], planned[(d, True)],
                     cap_h[d] / capacity[d] if capacity[d] else 0.0,
                     loaded_h[d] / cap_h[d] if cap_h[d] else 0.0,
                     *(least_h[(d, m)] / tonne_h[(d, m)] if tonne_h[(d, m)] else float("nan") for m in (False, True)))
            for d in depots]


@dataclass(frozen=True)
class SiteRow:
    depot: str
    site: str
    severity: float
    escorted: bool | None  # the allocation's mode; None where only the plan sends anything
    bound_t: float  # tonnes the bound's allocation sends from the depot to the site
    plan_t: float
    bound_units: str  # escort units the allocation's trips there take, comma-separated
    plan_units: str  # escort units of the plan's convoys there

    @property
    def gap(self) -> float:
        """Severity-weighted tonnes the plan is short of the allocation here (negative: more)."""
        return self.severity * (self.bound_t - self.plan_t)


def site_rows(s: Scenario, allocation: Allocation, convoys: Sequence[Convoy]) -> list[SiteRow]:
    """Every (depot, site) pair either sends anything to, largest gap first: which sites the gap is
    made of and which escort units the bound and the plan take there (cote_divoire_like: the two
    single-copy units based at D05 are the only ones reaching D02's S042 and S056 within
    ``max_risk``, and D01's S111 has E_un_D05 and E_rebels only)."""
    severity, _ = _weights(s)
    bound_t: dict[tuple[str, str], float] = defaultdict(float)
    mode: dict[tuple[str, str], bool] = {}
    bound_units: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in allocation.rows():
        key = (r["depot"], r["site"])
        bound_t[key] += r["weight_t"]
        mode[key] = mode.get(key, False) or bool(r["escorted"])
        bound_units[key] |= {u for u in str(r["escorts"]).split(",") if u}
    plan_t: dict[tuple[str, str], float] = defaultdict(float)
    plan_units: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in convoys:
        for st in c.stops:
            plan_t[(c.depot, st.site)] += _weight(s, st.unload)
            if c.escort is not None:
                plan_units[(c.depot, st.site)].add(c.escort)
    rows = [SiteRow(d, site, severity[site], mode.get((d, site)), bound_t[(d, site)], plan_t[(d, site)],
                    ",".join(sorted(bound_units[(d, site)])), ",".join(sorted(plan_units[(d, site)])))
            for d, site in set(bound_t) | set(plan_t)]
    return sorted(rows, key=lambda r: (-r.gap, r.depot, r.site))


ESCORTED_SITE_T = 1.0  # tonnes under escort from which a (depot, site) pair counts in bound_sites


def escort_rows(s: Scenario, allocation: Allocation, convoys: Sequence[Convoy]) -> list[EscortRow]:
    """Per escort unit, the plan's busy hours beside the bound's, and the sites each serves.

    Why the sites: the bound's escort trips are fractional and shared among the sites of a tour
    (t / L each), so a few trips can reach dozens of sites. ``bound_single_busy`` is what the unit
    would be busy if each of those sites had a convoy of its own; a plan lies between the two.
    """
    network = RoadNetwork(s)
    busy: dict[str, float] = defaultdict(float)
    tonnes: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    plan_pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for c in convoys:
        if c.escort is None:
            continue
        unit = c.escort
        window = escort_busy_window(s, network, unit, c)
        if window is not None:
            busy[unit] += window[1] - window[0]
        tonnes[unit] += sum(_weight(s, st.unload) for st in c.stops)
        count[unit] += 1
        plan_pairs[unit].update((c.depot, st.site) for st in c.stops)
    escorted_t: dict[tuple[str, str], float] = defaultdict(float)
    for r in allocation.rows():
        if r["escorted"]:
            escorted_t[(r["depot"], r["site"])] += r["weight_t"]
    trips: dict[str, float] = defaultdict(float)
    hours: dict[str, float] = defaultdict(float)
    single_h: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for r in allocation.escort_trips():
        trips[r["escort"]] += r["trips"]
        hours[r["escort"]] += r["trips"] * r["busy_h"]
        pair = (r["depot"], r["site"])
        if escorted_t[pair] >= ESCORTED_SITE_T:
            single_h[r["escort"]][pair] = max(single_h[r["escort"]].get(pair, 0.0), r["busy_h"])
    rows = []
    for e in s.escorts:
        if not (count[e.id] or trips[e.id]):
            continue
        span = e.count * s.horizon_h
        rows.append(EscortRow(e.id, e.count, busy[e.id] / span, count[e.id],
                              tonnes[e.id] / busy[e.id] if busy[e.id] else 0.0, trips[e.id], hours[e.id] / span,
                              len(single_h[e.id]), sum(single_h[e.id].values()) / span, len(plan_pairs[e.id])))
    return rows


LAGRANGE_MULTIPLIERS = (0.0, *np.geomspace(1.0, 1e5, 16).tolist())  # hours per unit of −ln(1 − r)


def _risk_bound(roads: _RoadArrays, sources: list[int], sites: np.ndarray, risk_weight: np.ndarray,
                limit: float, mask: np.ndarray) -> np.ndarray:
    """(sources × sites) Lagrangian lower bound on a round trip's hours with Σ risk_weight ≤ limit."""
    best = np.full((len(sources), sites.size), -np.inf)
    for lam in LAGRANGE_MULTIPLIERS:
        trip = roads.round_trips(sources, roads.hours + lam * risk_weight, mask)[:, sites]
        best = np.maximum(best, trip - lam * limit)
    return best


def risk_bound_rows(s: Scenario) -> list[dict[str, Any]]:
    """Per depot, over sites whose risk-bound round trip fits the horizon without escort: how
    much longer than the quickest the trip must be (on roads every vehicle may use, no weight
    limit: a lower bound for every fleet type). ``_RoadArrays`` is the distribution model's own
    road arrays, so the figures compare with what it charges."""
    roads = _RoadArrays(s, AccessFacts(s).network)
    mask = roads.mask(None)
    depots = sorted({f.depot for f in s.fleet if f.count >= 1})
    sources = [roads.index[d] for d in depots]
    sites = np.array([roads.index[x.id] for x in s.sites], np.int64)
    quickest = roads.round_trips(sources, roads.hours, mask)[:, sites]
    risk = -np.log1p(-roads.risk)
    unescorted = _risk_bound(roads, sources, sites, risk, -np.log1p(-s.policy.risk_threshold), mask)
    escorted = np.full_like(unescorted, np.inf)
    for eff in sorted({e.effectiveness for e in s.escorts}):
        escorted = np.minimum(escorted, _risk_bound(roads, sources, sites, -np.log1p(-roads.risk * (1 - eff)),
                                                    -np.log1p(-s.policy.max_risk), mask))
    rows = []
    for i, d in enumerate(depots):
        safe = unescorted[i] <= s.horizon_h
        rows.append({"depot": d, "safe_sites": int(safe.sum()), "quickest_h": float(quickest[i][safe].sum()),
                     "risk_bound_h": float(unescorted[i][safe].sum()),
                     "either_h": float(np.minimum(unescorted[i], escorted[i])[safe].sum())})
    return rows


def breakdown(s: Scenario, plan: Plan, time_limit: float, seed: int) -> dict[str, Any]:
    """The bound's allocation (solved again, as the planner does) beside the plan."""
    allocation = distribute(s, time_limit=time_limit, seed=seed)
    depots = depot_rows(s, allocation, plan.convoys)
    return {
        "crisis": s.name,
        "bound": allocation.bound,
        "allocation": allocation.weighted_coverage,
        "plan": plan.metrics["weighted_coverage"],
        "plan_bound": plan.solver.bound,
        "depots": [dict(asdict(r), gap=r.gap) for r in depots],
        "escorts": [asdict(r) for r in escort_rows(s, allocation, plan.convoys)],
        "sites": [dict(asdict(r), gap=r.gap) for r in site_rows(s, allocation, plan.convoys)],
        "weighted_need": _weights(s)[1],
        "risk_bound": risk_bound_rows(s),
    }


def _share(x: float) -> str:
    """A ratio for the tables; a dash where there is nothing to measure (no convoy of that mode)."""
    return "–" if np.isnan(x) else f"{x:.2f}"


def markdown(result: dict[str, Any]) -> str:
    head = (f"#### {result['crisis']}: plan {result['plan']:.4f} of bound {result['bound']:.4f} "
            f"({result['plan'] / result['bound']:.3f})")
    if result["allocation"] > result["bound"] + 1e-9:
        head += f"; the allocation's fractional convoys {result['allocation']:.4f}"
    lines = [head, "",
             "| depot | bound unescorted | plan unescorted | bound escorted | plan escorted | gap | trucks busy | fill | trip unescorted | trip escorted |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(result["depots"], key=lambda r: -r["gap"]):
        lines.append(f"| {r['depot']} | {r['bound_safe']:.4f} | {r['plan_safe']:.4f} | {r['bound_escorted']:.4f} | "
                     f"{r['plan_escorted']:.4f} | {r['gap']:+.4f} | {r['busy']:.2f} | {r['fill']:.2f} | "
                     f"{_share(r['trip_safe'])} | {_share(r['trip_escorted'])} |")
    lines += ["", "| escort unit | count | plan busy | plan convoys | plan sites | plan t per busy h | bound trips | "
              "bound busy | bound sites | one convoy per bound site: busy |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["escorts"]:
        lines.append(f"| {r['unit']} | {r['count']} | {r['plan_busy']:.2f} | {r['plan_convoys']} | {r['plan_sites']} | "
                     f"{r['plan_t_per_h']:.1f} | {r['bound_trips']:.2f} | {r['bound_busy']:.2f} | "
                     f"{r['bound_sites']} | {r['bound_single_busy']:.2f} |")
    shown = min(SITE_ROWS, len(result["sites"]))
    lines += ["", f"Largest gaps by site (severity × tonnes; {shown} of {len(result['sites'])} pairs):", "",
              "| depot | site | severity | escorted | bound t | plan t | gap | bound's units | plan's units |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in result["sites"][:SITE_ROWS]:
        mode = "–" if r["escorted"] is None else ("yes" if r["escorted"] else "no")
        lines.append(f"| {r['depot']} | {r['site']} | {r['severity']:g} | {mode} | {r['bound_t']:.0f} | "
                     f"{r['plan_t']:.0f} | {r['gap']:.0f} | {r['bound_units'] or '–'} | {r['plan_units'] or '–'} |")
    lines += ["", "| depot | sites with a safe road | Σ quickest round trips h | Σ risk-bound h | Σ lower of risk-bound and escorted h |",
              "|---|---|---|---|---|"]
    for r in result["risk_bound"]:
        if r["safe_sites"]:
            lines.append(f"| {r['depot']} | {r['safe_sites']} | {r['quickest_h']:.0f} | {r['risk_bound_h']:.0f} | "
                         f"{r['either_h']:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="one crisis of models/ (default: those below 0.95 of the bound)")
    ap.add_argument("--plan", help="a plan JSON of --only's crisis instead of planning again")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.plan and not args.only:
        ap.error("--plan needs --only")
    results = []
    for name in ([args.only] if args.only else GAP_CRISES):
        s = Scenario.from_dict(json.loads((ROOT / "models" / f"{name}.json").read_text()))
        p = (Plan.from_json(Path(args.plan).read_text()) if args.plan
             else make_plan(s, time_limit=args.time_limit, seed=args.seed))
        result = breakdown(s, p, args.time_limit, args.seed)
        results.append(result)
        print(markdown(result), "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
