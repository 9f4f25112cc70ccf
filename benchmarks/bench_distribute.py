"""Distribution MIP: build speed against PuLP ``lpSum``, and solve time, in one run.

DESIGN.md targets: the library builds the model ≥ 10× faster than the same model written with PuLP
``lpSum``; 2,000 sites × 50 depots × 3 commodities builds in < 2 s and solves to 0.1 % gap in
< 30 s. The crisis comes from ``allocate.generate``. "Build" is the formulation from the access
facts (:func:`allocate.distribute.build_distribution_model`); the access facts themselves
(:func:`allocate.distribute.distribution_facts`, shared by both builders) are timed apart.
The PuLP model is written the way a modeller would (a variable per column, one ``lpSum`` per
constraint, keyed by depot, site, commodity) and checked to have the same rows, columns and
non-zeros as the library's.

    .venv/bin/python benchmarks/bench_distribute.py [--sites 2000] [--depots 50] [--commodities 3]
        [--seed 1] [--repeat 3] [--time-limit 120] [--skip-pulp] [--transport auto] [--json out.jsonl]
    .venv/bin/python benchmarks/bench_distribute.py --models   # distribute() on every models/*.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from allocate.distribute import (
    ESCORTED,
    LONG_TRIP_BANDS,
    DistributionFacts,
    DistributionModel,
    build_distribution_model,
    distribution_facts,
    solver_defaults,
)
from allocate.mip import solve_lexicographic


def build_with_pulp(f: DistributionFacts, dm: DistributionModel) -> Any:
    """The same pooled-transport model (tier 1 objective) written with PuLP ``lpSum``."""
    import pulp

    prob = pulp.LpProblem("distribution", pulp.LpMaximize)
    xg, xc = dm.x_group, dm.x_commodity
    upper = np.minimum(f.need[f.g_site[xg], xc], f.stock[f.g_depot[xg], xc])
    x = [prob.add_variable(f"units_{j}", lowBound=0, upBound=float(upper[j])) for j in range(xg.size)]
    whole = bool(dm.z_cols.size and dm.mip.integrality[dm.z_cols].any())
    z = [prob.add_variable(f"escort_trips_{j}", lowBound=0, cat=pulp.LpInteger if whole else pulp.LpContinuous)
         for j in range(f.eg_group.size)]
    by_stock, by_need = defaultdict(list), defaultdict(list)
    by_depot, by_group = defaultdict(list), defaultdict(list)
    for j in range(xg.size):
        g, c = int(xg[j]), int(xc[j])
        by_stock[(int(f.g_depot[g]), c)].append(j)
        by_need[(int(f.g_site[g]), c)].append(j)
        by_depot[int(f.g_depot[g])].append(j)
        if f.g_mode[g] == ESCORTED:
            by_group[g].append(j)
    for (d, c), js in sorted(by_stock.items()):
        prob += pulp.lpSum(x[j] for j in js) <= float(f.stock[d, c]), f"stock_{d}_{c}"
    for (s, c), js in sorted(by_need.items()):
        prob += pulp.lpSum(x[j] for j in js) <= float(f.need[s, c]), f"need_{s}_{c}"
    for label, per_unit, cap in (("t", f.weight, f.fleet_cap_t), ("m3", f.volume, f.fleet_cap_m3)):
        for d in range(len(f.depots)):
            mine = f.fleet_depot == d
            supply = float((f.fleet_count * cap * f.horizon_h)[mine].sum())
            esc_supply = float((f.fleet_count * cap * f.horizon_h * f.fleet_escortable)[mine].sum())
            js = by_depot.get(d, [])
            prob += pulp.lpSum(float(per_unit[xc[j]] * f.g_hours[xg[j]]) * x[j] for j in js) <= supply, f"pool_{label}_{d}"
            esc = [j for j in js if f.g_mode[xg[j]] == ESCORTED]
            prob += (pulp.lpSum(float(per_unit[xc[j]] * f.g_hours[xg[j]]) * x[j] for j in esc) <= esc_supply,
                     f"escorted_pool_{label}_{d}")
            # whole trips: at most k loads per vehicle on trips longer than horizon / (k + 1)
            slot = float((f.fleet_count * cap)[mine].sum())
            esc_slot = float((f.fleet_count * cap * f.fleet_escortable)[mine].sum())
            for tag, members, per in (("", js, slot), ("escorted_", esc, esc_slot)):
                _pulp_long_trips(prob, f"{tag}long_{label}_{d}",
                                 [(x[j], float(per_unit[xc[j]]), float(f.g_hours[xg[j]])) for j in members],
                                 f.horizon_h, per)
    escorts_of = defaultdict(list)
    for j in range(f.eg_group.size):
        escorts_of[int(f.eg_group[j])].append(j)
    for g in sorted(set(by_group) | set(escorts_of)):
        prob += (pulp.lpSum(float(f.weight[xc[j]]) * x[j] for j in by_group.get(g, []))
                 - pulp.lpSum(float(f.eg_cap_t[k]) * z[k] for k in escorts_of.get(g, [])) <= 0, f"escort_load_{g}")
    for e in range(len(f.escorts)):
        ks = np.flatnonzero(f.eg_escort == e)
        prob += pulp.lpSum(float(f.eg_hours[k]) * z[k] for k in ks) <= float(f.escort_budget_h[e]), f"escort_hours_{e}"
        _pulp_long_trips(prob, f"long_escort_{e}", [(z[k], 1.0, float(f.eg_hours[k])) for k in ks],
                         float(f.escort_budget_h[e] / f.escort_count[e]), float(f.escort_count[e]))
    prob += pulp.lpSum(float(f.severity[f.g_site[xg[j]]] * f.weight[xc[j]]) * x[j] for j in range(xg.size))
    return prob


def _pulp_long_trips(prob: Any, name: str, terms: list[tuple[Any, float, float]], period: float,
                     per_slot: float) -> None:
    """Whole-trip cuts as a modeller writes them: a variable per band of trip lengths holding its
    sum, then Σ bands ≤ k · per_slot for trips longer than period / (k + 1)."""
    import pulp

    bands: dict[int, list[tuple[Any, float]]] = defaultdict(list)
    for var, coef, hours in terms:
        k = int(np.floor(period / max(hours, 1e-12) + 1e-9)) if np.isfinite(hours) else 0
        if 1 <= k <= LONG_TRIP_BANDS:
            bands[k].append((var, coef))
    if not bands:
        return
    y = {k: pulp.LpVariable(f"{name}_band_{k}", lowBound=0) for k in sorted(bands)}
    for k, members in sorted(bands.items()):
        prob += pulp.lpSum(c * v for v, c in members) - y[k] <= 0, f"{name}_band_{k}"
    for k in range(min(bands), LONG_TRIP_BANDS + 1):
        prob += pulp.lpSum(y[j] for j in y if j <= k) <= k * per_slot, f"{name}_{k}"


def _pulp_size(prob: Any) -> tuple[int, int, int]:
    constraints = prob.constraints() if callable(prob.constraints) else list(prob.constraints.values())
    return len(prob.variables()), len(constraints), sum(len(c) for c in constraints)


def _timed(fn, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def sample_models(time_limit: float) -> None:
    """``distribute()`` on every sample crisis, one Markdown table row each."""
    import glob

    from allocate.distribute import distribute
    from allocate.scenario import load_scenario

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
    print("| model | sites | status | seconds | weighted coverage | bound | notes |")
    for path in sorted(glob.glob(os.path.join(root, "*.json"))):
        s = load_scenario(path)
        a = distribute(s, time_limit=time_limit, seed=0)
        bound = "n/a" if a.bound is None else f"{a.bound:.4f}"
        print(f"| {os.path.basename(path)[:-5]} | {len(s.sites)} | {a.status} | {a.seconds:.1f} | "
              f"{a.weighted_coverage:.4f} | {bound} | {'; '.join(a.notes) or 'none'} |", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=2000)
    ap.add_argument("--depots", type=int, default=50)
    ap.add_argument("--commodities", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--skip-pulp", action="store_true")
    ap.add_argument("--transport", default="auto", choices=("auto", "trips", "pooled"),
                    help="transport rows of the full model (the PuLP comparison always uses pooled)")
    ap.add_argument("--json", default=None, help="append the figures as one JSON line to this file")
    ap.add_argument("--models", action="store_true", help="run distribute() on every models/*.json instead")
    args = ap.parse_args(argv)
    if args.models:
        sample_models(args.time_limit)
        return {}

    from allocate.generate import generate_scenario

    t = time.perf_counter()
    scenario = generate_scenario(args.sites, depots=args.depots, commodities=args.commodities, seed=args.seed)
    gen_s = time.perf_counter() - t
    facts_s, facts = _timed(lambda: distribution_facts(scenario), 1)
    build_s, dm = _timed(lambda: build_distribution_model(facts, transport=args.transport), args.repeat)
    tier1_s, dm1 = _timed(lambda: build_distribution_model(facts, ("coverage",), transport="pooled"), args.repeat)
    mip = dm.mip
    out: dict[str, Any] = {
        "sites": args.sites, "depots": len(facts.depots), "commodities": len(facts.commodities), "seed": args.seed,
        "groups": int(facts.g_site.size), "escorted_groups": int((facts.g_mode == ESCORTED).sum()),
        "cols": mip.num_cols, "rows": mip.num_rows, "nnz": int(mip.A.nnz), "integers": int(mip.integrality.sum()),
        "generate_s": round(gen_s, 3), "facts_s": round(facts_s, 3), "build_s": round(build_s, 3),
        "build_tier1_s": round(tier1_s, 3), "load_avg": os.getloadavg()[0], "cpus": os.cpu_count(),
    }
    print(f"crisis: {args.sites} sites, {len(facts.depots)} depots, {len(facts.commodities)} commodities; "
          f"{out['groups']} depot-site-mode groups ({out['escorted_groups']} escorted)")
    print(f"model: {mip.num_cols} columns, {mip.num_rows} rows, {mip.A.nnz} non-zeros, {out['integers']} integer")
    print(f"access facts {facts_s:.2f} s; library build {build_s:.3f} s (tier-1 model {tier1_s:.3f} s)")
    if not args.skip_pulp:
        pulp_s, prob = _timed(lambda: build_with_pulp(facts, dm1), 1)
        size = _pulp_size(prob)
        assert size[:2] == (dm1.mip.num_cols, dm1.mip.num_rows), (size, dm1.mip.num_cols, dm1.mip.num_rows)
        out.update(pulp_build_s=round(pulp_s, 3), pulp_size=size, speedup=round(pulp_s / tier1_s, 1))
        print(f"PuLP lpSum build of the same tier-1 model: {pulp_s:.2f} s ({size[0]} vars, {size[1]} rows, "
              f"{size[2]} terms): library {pulp_s / tier1_s:.0f}x faster")
    solo = build_distribution_model(facts, ("coverage",), transport=args.transport)
    r1 = solve_lexicographic(solo.mip, "highs", time_limit=args.time_limit, seed=0, gap=1e-3,
                             **solver_defaults(solo, "highs"))
    out.update(tier1_status=r1.status, tier1_solve_s=round(r1.seconds, 2), coverage=r1.tiers[0], bound=r1.bound)
    print(f"tier 1 (coverage) to 0.1 % gap: {r1.status} in {r1.seconds:.1f} s, coverage {r1.tiers[0]}, bound {r1.bound}")
    r = solve_lexicographic(mip, "highs", time_limit=args.time_limit, seed=0, gap=1e-3,
                            **solver_defaults(dm, "highs"))
    out.update(all_status=r.status, all_solve_s=round(r.seconds, 2), tiers=list(r.tiers))
    print(f"all {len(r.tiers)} tiers: {r.status} in {r.seconds:.1f} s: "
          + ", ".join(f"{n}={v:.6g}" for n, v in zip(r.tier_names, r.tiers) if v is not None))
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(out) + "\n")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
