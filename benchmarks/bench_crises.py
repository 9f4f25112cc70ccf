"""plan() on every sample crisis in models/ (issue 5/6; DESIGN.md "Performance targets").

For each crisis, in a child process of its own (so peak memory is per crisis): wall seconds of
``allocate.planner.plan``, the process's peak RSS, the checker's verdict, weighted coverage
against the distribution bound (``plan.solver.bound``), the greedy baseline's weighted coverage
in the same run, convoys, escorted convoys and unmet sites.

Targets checked: the largest crisis (>= 1,000 sites) plans in < 120 s and passes the checker;
weighted coverage >= 95 % of the distribution bound.

    .venv/bin/python benchmarks/bench_crises.py [--time-limit 60] [--seed 0] [--only NAME] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ROOT / "models"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

LARGE_SITES = 1000
TARGET_SECONDS = 120.0
TARGET_RATIO = 0.95

# Fields of one result row (what run_crisis returns), in table order.
ROW_FIELDS = (
    "crisis", "sites", "status", "plan_s", "peak_rss_mb", "check_ok", "codes",
    "weighted_coverage", "bound", "coverage_over_bound", "greedy_coverage", "plan_over_greedy",
    "greedy_s", "greedy_check_ok", "convoys", "escorted", "unmet_sites", "stage_seconds",
)


# ----- memory -------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's current resident set size in MB."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return float("nan")


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0 ``clear_refs``); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ----- one crisis ---------------------------------------------------------------------------
def crisis_paths() -> list[Path]:
    """Every sample crisis file in models/ (``*.json``), by name."""
    return sorted(MODELS.glob("*.json"))


def run_crisis(path: str | Path, time_limit: float, seed: int, greedy: bool = True) -> dict[str, Any]:
    """Plan one crisis in this process and measure it; a dict with the keys of :data:`ROW_FIELDS`."""
    from allocate.check import check
    from allocate.planner import plan
    from allocate.scenario import load_scenario

    path = Path(path)
    scenario = load_scenario(path)
    reset_peak_rss()
    t0 = time.perf_counter()
    result = plan(scenario, time_limit=time_limit, seed=seed)
    plan_s = time.perf_counter() - t0
    peak = peak_rss_mb()  # before the greedy baseline and the checker touch memory
    report = check(scenario, result)
    wc = float(result.metrics["weighted_coverage"])
    bound = result.solver.bound
    extra = result.solver.model_extra or {}
    row: dict[str, Any] = {
        "crisis": path.stem,
        "sites": len(scenario.sites),
        "status": result.solver.status,
        "plan_s": plan_s,
        "peak_rss_mb": peak,
        "check_ok": report.ok,
        "codes": sorted(report.codes),
        "weighted_coverage": wc,
        "bound": None if bound is None else float(bound),
        "coverage_over_bound": (wc / float(bound)) if bound else None,
        "greedy_coverage": None,
        "plan_over_greedy": None,
        "greedy_s": None,
        "greedy_check_ok": None,
        "convoys": len(result.convoys),
        "escorted": sum(1 for c in result.convoys if c.escort is not None),
        "unmet_sites": len({u.site for u in result.unmet}),
        "stage_seconds": extra.get("stage_seconds"),
    }
    if greedy:
        from greedy_baseline import greedy_plan

        t0 = time.perf_counter()
        baseline = greedy_plan(scenario)
        row["greedy_s"] = time.perf_counter() - t0
        g = float(baseline.metrics["weighted_coverage"])
        row["greedy_coverage"] = g
        row["plan_over_greedy"] = wc / g if g > 0 else None
        row["greedy_check_ok"] = check(scenario, baseline).ok
    return row


def run_crisis_subprocess(path: str | Path, time_limit: float, seed: int, greedy: bool = True,
                          timeout: float | None = None) -> dict[str, Any]:
    """:func:`run_crisis` in a fresh Python process (memory per crisis); an ``error`` row on failure."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as out:
        out_path = out.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--child-out", out_path,
           "--time-limit", str(time_limit), "--seed", str(seed)]
    if not greedy:
        cmd.append("--no-greedy")
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        text = Path(out_path).read_text()
        if proc.returncode != 0 or not text.strip():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"crisis": Path(path).stem, "error": f"exit {proc.returncode}: {' | '.join(tail)}",
                    "wall_s": time.perf_counter() - t0}
        row = json.loads(text)
        row["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before, after
        return row
    except subprocess.TimeoutExpired:
        return {"crisis": Path(path).stem, "error": f"timeout after {timeout} s", "wall_s": time.perf_counter() - t0}
    finally:
        os.unlink(out_path)


# ----- table --------------------------------------------------------------------------------
def _f(x: Any, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _load(row: dict[str, Any]) -> str:
    load = row.get("load_1min")
    return "–" if not load else f"{load[0]:.1f}→{load[1]:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    head = ("| crisis | sites | plan s | peak RSS MB | check | status | weighted cov. | bound | cov./bound "
            "| greedy cov. | plan/greedy | greedy check | convoys | escorted | unmet sites | load 1-min before→after |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['crisis']} | ERROR: {r['error']} |" + " |" * 14)
            continue
        check_txt = "ok" if r["check_ok"] else "FAIL " + ",".join(r["codes"])
        greedy_check = "–" if r["greedy_check_ok"] is None else ("ok" if r["greedy_check_ok"] else "FAIL")
        lines.append(
            f"| {r['crisis']} | {r['sites']} | {r['plan_s']:.1f} | {r['peak_rss_mb']:.0f} | {check_txt} | {r['status']} "
            f"| {r['weighted_coverage']:.4f} | {_f(r['bound'], '.4f')} | {_f(r['coverage_over_bound'], '.3f')} "
            f"| {_f(r['greedy_coverage'], '.4f')} | {_f(r['plan_over_greedy'], '.2f')} | {greedy_check} "
            f"| {r['convoys']} | {r['escorted']} | {r['unmet_sites']} | {_load(r)} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """The DESIGN.md targets, met or missed, one line each, from the rows."""
    out = []
    ok_rows = [r for r in rows if "error" not in r]
    large = [r for r in ok_rows if r["sites"] >= LARGE_SITES]
    for r in large:
        t_ok = r["plan_s"] < TARGET_SECONDS
        out.append(f"- {r['crisis']} ({r['sites']} sites): plan {r['plan_s']:.1f} s "
                   f"({'met' if t_ok else 'MISSED'} < {TARGET_SECONDS:.0f} s), check "
                   f"{'passed' if r['check_ok'] else 'FAILED ' + ','.join(r['codes'])}")
    if not large:
        out.append(f"- no crisis with >= {LARGE_SITES} sites ran")
    for r in rows:
        if "error" in r:
            out.append(f"- {r['crisis']}: ERROR {r['error']}")
    below = [r for r in ok_rows if r["coverage_over_bound"] is not None and r["coverage_over_bound"] < TARGET_RATIO]
    if below:
        names = ", ".join(f"{r['crisis']} {r['coverage_over_bound']:.3f}" for r in below)
        out.append(f"- coverage/bound below {TARGET_RATIO:.2f} (MISSED): {names}")
    else:
        out.append(f"- coverage/bound >= {TARGET_RATIO:.2f} on every crisis that ran (met)")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: run every crisis (or ``--only``), print a Markdown table and the verdicts."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0, help="plan() time_limit per crisis, s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", action="append", help="crisis name (file stem); repeatable")
    ap.add_argument("--no-greedy", action="store_true", help="skip the greedy baseline")
    ap.add_argument("--timeout", type=float, default=None, help="kill a crisis's child after this many s")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:  # worker: one crisis, result to --child-out
        row = run_crisis(args.child, args.time_limit, args.seed, greedy=not args.no_greedy)
        Path(args.child_out).write_text(json.dumps(row))
        return 0

    paths = crisis_paths()
    if args.only:
        paths = [p for p in paths if p.stem in set(args.only)]
        missing = set(args.only) - {p.stem for p in paths}
        if missing:
            ap.error(f"no such crisis in {MODELS}: {', '.join(sorted(missing))}")
    rows = []
    for p in paths:
        print(f"[{time.strftime('%H:%M:%S')}] {p.stem} ...", file=sys.stderr, flush=True)
        row = run_crisis_subprocess(p, args.time_limit, args.seed, greedy=not args.no_greedy, timeout=args.timeout)
        print(f"    {json.dumps(row)}", file=sys.stderr, flush=True)
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(markdown_table(rows))
    print()
    print("\n".join(verdicts(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
