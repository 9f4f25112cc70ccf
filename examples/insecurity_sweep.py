"""How robust is a plan to insecurity? Plan a crisis and Monte-Carlo samples of its road risks.

Run from the repository root:

    .venv/bin/python examples/insecurity_sweep.py models/haiti_like.json --samples 8 --time-limit 30 [--csv sites.csv]

Prints each case's headline figures (every plan checked), then the sites whose coverage falls
most across the samples: the places where the plan depends on roads staying as safe as recorded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import allocate
from allocate.plan import site_coverage
from allocate.sweep import insecurity_samples, results_frame, sweep


def site_table(results) -> pd.DataFrame:
    """Per site: coverage in the plan as given, and the mean and lowest over the samples."""
    given, samples = results[0], [r for r in results[1:] if r.plan is not None]
    given_coverage = site_coverage(given.scenario, given.plan.convoys) if given.plan else {}
    drawn_coverage = [site_coverage(r.scenario, r.plan.convoys) for r in samples]
    rows = []
    for site in given.scenario.sites:
        drawn = [coverage[site.id].ratio for coverage in drawn_coverage]
        rows.append({
            "site": site.id,
            "severity": site.severity,
            "given": given_coverage[site.id].ratio if given_coverage else None,
            "samples_mean": sum(drawn) / len(drawn) if drawn else None,
            "samples_min": min(drawn, default=None),
        })
    frame = pd.DataFrame(rows)
    frame["drop"] = frame["given"] - frame["samples_mean"]
    return frame.sort_values(["drop", "severity"], ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="Plan a crisis and insecurity samples of it.")
    parser.add_argument("scenario", nargs="?", default="models/tiny.json")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, default=None, help="write the per-site table here")
    args = parser.parse_args()

    scenario = allocate.load_scenario(args.scenario)
    cases = [scenario, *insecurity_samples(scenario, args.samples, seed=args.seed)]
    results = sweep(cases, time_limit=args.time_limit, seed=args.seed)
    columns = ["label", "ok", "weighted_coverage", "of_bound", "escorted_convoys", "max_route_risk", "unmet_sites"]
    print(results_frame(results)[columns].round(3).to_string(index=False))
    print(f"checker: {'ok' if all(r.ok for r in results) else 'VIOLATIONS'}")
    sites = site_table(results)
    print("\nsites whose coverage falls most under insecurity:")
    print(sites.head(10).round(3).to_string(index=False))
    if args.csv:
        sites.to_csv(args.csv, index=False)


if __name__ == "__main__":  # the sweep's process pool starts fresh interpreters, which import this file
    main()
