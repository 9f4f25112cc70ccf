"""Monte-Carlo insecurity sweep of the sample crises (allocate.sweep, DESIGN.md "Many scenarios").

For each crisis in models/: the plan of the crisis as given and of ``--samples`` insecurity samples
(road risks drawn around the given ones, ``insecurity_samples``), all in one sweep on a process
pool, each plan checked by the independent checker. Per crisis: how many plans pass, the weighted
coverage and its ratio to the distribution bound as given and over the samples (mean, lowest,
highest), escorted convoys and the highest route risk. In the same run: the pool's speed-up, Σ
each case's own seconds over the sweep's wall time (each plan is bounded by its time limit, so
a case takes about as long in the pool as alone; the ratio says how well the cores are shared).

    .venv/bin/python benchmarks/bench_sweep.py [--samples 6] [--time-limit 20] [--seed 0]
        [--workers N] [--only NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from allocate.scenario import load_scenario
from allocate.sweep import SweepResult, insecurity_samples, sweep

MODELS = Path(__file__).resolve().parent.parent / "models"

ROW_FIELDS = (
    "crisis", "cases", "checked_ok", "given_coverage", "given_of_bound", "samples_coverage_mean",
    "samples_coverage_min", "samples_coverage_max", "samples_of_bound_mean", "samples_of_bound_min",
    "samples_escorted_mean", "samples_max_route_risk", "seconds_mean",
)


def run_sweep(names: Sequence[str], samples: int, time_limit: float, seed: int,
              workers: int | None) -> tuple[list[SweepResult], float]:
    """Every named crisis and its samples, planned in one sweep: ``(results, wall seconds)``."""
    cases: list[Any] = []
    for name in names:
        scenario = load_scenario(MODELS / f"{name}.json")
        cases += [scenario, *insecurity_samples(scenario, samples, seed=seed)]
    started = time.monotonic()
    results = sweep(cases, time_limit=time_limit, seed=seed, workers=workers,
                    on_result=lambda r: print(f"  {r.label}: {'ok' if r.ok else r.error or r.violations}"
                                              f" in {r.seconds:.1f} s", file=sys.stderr, flush=True))
    return results, time.monotonic() - started


def crisis_rows(results: Sequence[SweepResult]) -> list[dict[str, Any]]:
    """One row per crisis: the given scenario's plan beside its samples' spread."""
    by_crisis: dict[str, list[SweepResult]] = {}
    for result in results:
        by_crisis.setdefault(result.label.split("#", 1)[0], []).append(result)
    rows = []
    for crisis, group in by_crisis.items():
        given, drawn = group[0].row(), [r.row() for r in group[1:]]
        coverage = [row["weighted_coverage"] for row in drawn if row["weighted_coverage"] is not None]
        of_bound = [row["of_bound"] for row in drawn if row["of_bound"] is not None]
        rows.append({
            "crisis": crisis,
            "cases": len(group),
            "checked_ok": sum(r.ok for r in group),
            "given_coverage": given["weighted_coverage"],
            "given_of_bound": given["of_bound"],
            "samples_coverage_mean": statistics.fmean(coverage) if coverage else None,
            "samples_coverage_min": min(coverage, default=None),
            "samples_coverage_max": max(coverage, default=None),
            "samples_of_bound_mean": statistics.fmean(of_bound) if of_bound else None,
            "samples_of_bound_min": min(of_bound, default=None),
            "samples_escorted_mean": statistics.fmean(row["escorted_convoys"] or 0 for row in drawn) if drawn else None,
            "samples_max_route_risk": max((row["max_route_risk"] or 0 for row in drawn), default=None),
            "seconds_mean": statistics.fmean(r.seconds for r in group),
        })
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a RESULTS.md table (shares to three decimals)."""
    fmt = lambda v: "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(ROW_FIELDS) + " |", "|" + "---|" * len(ROW_FIELDS)]
    lines += ["| " + " | ".join(fmt(row[field]) for field in ROW_FIELDS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="crisis names (default: every file in models/)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    names = args.only or sorted(path.stem for path in MODELS.glob("*.json"))
    results, wall = run_sweep(names, args.samples, args.time_limit, args.seed, args.workers)
    rows = crisis_rows(results)
    speed_up = sum(r.seconds for r in results) / wall if wall > 0 else None
    print(markdown_table(rows))
    print(f"\n{len(results)} plans in {wall:.1f} s; Σ case seconds ÷ wall = {speed_up:.2f}; "
          f"{sum(r.ok for r in results)} of {len(results)} pass the checker")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "wall_s": wall, "speed_up": speed_up,
                                         "cases": [r.row() for r in results]}, indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
