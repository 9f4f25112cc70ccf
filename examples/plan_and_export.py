"""Plan a sample crisis, check the plan independently, and export what an analyst shares.

Run from the repository root:

    .venv/bin/python examples/plan_and_export.py models/tiny.json out/ --time-limit 30

Writes plan.json, deliveries/convoys/unmet CSVs, a GeoJSON for QGIS and a PNG map into out/,
and prints why each short site is short.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import allocate
from allocate.io.csv_hxl import write_plan_csv
from allocate.io.geojson import plan_to_geojson, write_geojson
from allocate.io.plots import plot_plan, save_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    scenario = allocate.load_scenario(args.scenario)
    plan = allocate.plan(scenario, time_limit=args.time_limit, seed=args.seed)
    report = allocate.check(scenario, plan)
    print(f"{scenario.name}: weighted coverage {plan.metrics['weighted_coverage']:.1%} "
          f"(distribution bound {plan.solver.bound:.1%}); checker: {'ok' if report.ok else sorted(report.codes)}")

    args.outdir.mkdir(parents=True, exist_ok=True)
    plan.save(args.outdir / "plan.json")
    write_plan_csv(plan, args.outdir, scenario=scenario, hxl=True)
    write_geojson(plan_to_geojson(scenario, plan), args.outdir / "plan.geojson")
    save_png(plot_plan(scenario, plan), args.outdir / "map.png")
    for item in allocate.explain(scenario, plan):
        print(" -", item.text())


if __name__ == "__main__":
    main()
