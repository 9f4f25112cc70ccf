"""Whether plan() keeps its time limit (issue 5: "time limit honoured overall").

For each scenario and each limit, in a child process of its own (no cache shared between runs):
the wall seconds of ``allocate.planner.plan`` against the limit (the ratio is the figure: at most
1.0 is kept), the seconds of each stage, the checker's verdict and the weighted coverage. A
scenario is a file in models/ (by name) or ``gen:N``, ``allocate.generate.generate(N, seed=1)``.

    .venv/bin/python benchmarks/bench_time_limit.py --limits 10 30 [--scenarios tiny gen:2000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CRISES = ("tiny", "kosovo_like", "darfur_like", "south_sudan", "haiti_like", "cote_divoire_like", "darfur_like_large")


def run_one(name: str, limit: float, seed: int) -> dict[str, Any]:
    """plan() on one scenario under one limit, in this process."""
    from allocate.check import check
    from allocate.planner import plan
    from allocate.scenario import Scenario, load_scenario

    if name.startswith("gen:"):
        from allocate.generate import generate

        scenario = Scenario.from_dict(generate(int(name[4:]), seed=1))
    else:
        scenario = load_scenario(ROOT / "models" / f"{name}.json")
    started = time.monotonic()
    result = plan(scenario, time_limit=limit, seed=seed)
    wall = time.monotonic() - started
    report = check(scenario, result)
    return {"scenario": name, "limit": limit, "wall_s": round(wall, 2), "over_limit": round(wall / limit, 3),
            "stage_seconds": (result.solver.model_extra or {}).get("stage_seconds"), "check_ok": report.ok,
            "weighted_coverage": round(report.metrics["weighted_coverage"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--scenarios", nargs="+", default=list(CRISES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("SCENARIO", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], float(args.one[1]), args.seed)))
        return
    rows = []
    print("| scenario | limit s | wall s | wall / limit | distribute s | route s | escorts s | repair s | "
          "check | weighted coverage |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for limit in args.limits:
        for name in args.scenarios:
            out = subprocess.run([sys.executable, __file__, "--one", name, str(limit), "--seed", str(args.seed)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            stages = row["stage_seconds"] or {}
            print(f"| {name} | {limit:g} | {row['wall_s']:.2f} | {row['over_limit']:.3f} | "
                  + " | ".join(f"{stages.get(k, 0.0):.2f}" for k in ("distribute", "route", "escorts", "repair"))
                  + f" | {'ok' if row['check_ok'] else 'FAILS'} | {row['weighted_coverage']:.4f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
