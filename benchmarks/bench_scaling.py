"""Scaling of each pipeline stage on generated crises (issue 6).

For each size (sites), one generated scenario (``allocate.generate.generate(n, seed=)``) goes
through the stages in sequence, each output feeding the next, in a child process of its own:

- ``distribution``: ``distribute`` (build + solve; the build alone is reported too);
- ``routing``: ``route`` of that allocation;
- ``escorts``: ``assign_escorts`` of those convoys (``reroute=True``, as the planner does);
- ``repair``: the planner's own repair loop (``allocate.planner._repair``: drop what the
  checker flags, one offender at a time), after the convoys left unescorted are dropped;
- ``check``: ``check`` of the plan that makes (every site short of its need listed in unmet).

Each stage builds its own road network (none is shared), so the shortest-path work a stage
needs is charged to it. Per stage: wall seconds and peak RSS during the stage (the kernel's peak is reset before each
stage through ``/proc/self/clear_refs``, so native solver memory counts). Then a least-squares
fit of ``log t = log a + b log n`` per stage (``numpy.polyfit``).

The codes the checker finds before the repair are reported too (``pre_repair_codes``).

    .venv/bin/python benchmarks/bench_scaling.py [--sizes 100 250 500 1000 2000 5000] [--seed 0]
        [--distribution-limit 60] [--routing-limit 60] [--escorts-limit 30] [--timeout 900] [--max-rss-gb 12]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_crises import _load, peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402

STAGES = ("distribution", "routing", "escorts", "repair", "check")
DEFAULT_SIZES = (100, 250, 500, 1000, 2000, 5000)

# Fields of one result row (what run_stages returns).
ROW_FIELDS = (
    "sites", "seed", "generate_s", "convoys", "escorted", "unescorted", "unmet_sites",
    "distribution_limit", "routing_limit", "escorts_limit", "distribution_status", "allocation_rows", "routed_convoys", "routing_stopped_by", "escorts_status", "distribution_build_s", "weighted_coverage", "bound", "check_ok", "codes",
    "pre_repair_codes", "repair_dropped",
) + tuple(f"{s}_{m}" for s in STAGES for m in ("s", "peak_mb", "delta_mb"))


class _Stage:
    """Context manager timing one stage and its peak RSS (absolute, and above the RSS at its start)."""

    def __init__(self, row: dict[str, Any], name: str):
        self.row, self.name = row, name

    def __enter__(self) -> "_Stage":
        reset_peak_rss()
        self.start_rss = rss_mb()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.row[f"{self.name}_s"] = time.perf_counter() - self.t0
        peak = peak_rss_mb()
        self.row[f"{self.name}_peak_mb"] = peak
        self.row[f"{self.name}_delta_mb"] = max(0.0, peak - self.start_rss)


def run_stages(scenario: Any, *, distribution_limit: float, routing_limit: float, escorts_limit: float,
               seed: int = 0) -> dict[str, Any]:
    """Run the stages in sequence on ``scenario`` in this process; a dict with :data:`ROW_FIELDS` keys."""
    from allocate.check import check
    from allocate.distribute import distribute
    from allocate.escorts import assign_escorts
    from allocate.network import RoadNetwork
    from allocate.plan import Plan, SolverInfo, UnmetClaim, site_coverage
    from allocate.planner import _repair, _Trace
    from allocate.routing import route

    row: dict[str, Any] = {"sites": len(scenario.sites), "seed": seed, "distribution_limit": distribution_limit,
                           "routing_limit": routing_limit, "escorts_limit": escorts_limit}
    with _Stage(row, "distribution"):
        allocation = distribute(scenario, time_limit=distribution_limit, seed=seed)
    row["distribution_status"] = allocation.status
    row["allocation_rows"] = len(allocation.rows())
    row["distribution_build_s"] = allocation.build_seconds
    row["bound"] = allocation.bound
    with _Stage(row, "routing"):
        routed = route(scenario, allocation, time_limit=routing_limit, seed=seed)
    row["routing_stopped_by"] = (routed.solver.model_extra or {}).get("stopped_by")
    row["routed_convoys"] = len(routed.convoys)
    with _Stage(row, "escorts"):
        assignment = assign_escorts(scenario, list(routed.convoys), time_limit=escorts_limit, seed=seed,
                                    reroute=True)
    row["escorts_status"] = assignment.status
    dropped = {u.convoy for u in assignment.unescorted}
    convoys = [c for c in assignment.convoys if c.id not in dropped]
    solver = SolverInfo(status="feasible", objective=None, bound=allocation.bound, seconds=None, seed=seed,
                        version="bench_scaling")

    def as_plan(kept: list[Any]) -> Any:
        """The plan of these convoys: routing's unmet claims, plus every other site left short."""
        unmet = list(routed.unmet)
        listed = {u.site for u in unmet}
        coverage = site_coverage(scenario, kept)
        for site in scenario.sites:
            cov = coverage[site.id]
            if site.id not in listed and cov.delivered_t < cov.need_t * (1 - 1e-9):
                unmet.append(UnmetClaim(site=site.id, reason="escorts"))
        return Plan.build(scenario, kept, unmet, solver)

    row["pre_repair_codes"] = sorted(check(scenario, as_plan(convoys)).codes)
    with _Stage(row, "repair"):
        repaired = _repair(scenario, RoadNetwork(scenario), convoys, _Trace())
    row["repair_dropped"] = len(convoys) - len(repaired)
    convoys = repaired
    result = as_plan(convoys)
    unmet = result.unmet
    with _Stage(row, "check"):
        report = check(scenario, result)
    row.update(
        convoys=len(convoys),
        escorted=sum(1 for c in convoys if c.escort is not None),
        unescorted=len(dropped),
        unmet_sites=len({u.site for u in unmet}),
        weighted_coverage=float(result.metrics["weighted_coverage"]),
        check_ok=report.ok,
        codes=sorted(report.codes),
    )
    return row


def run_size(sites: int, *, seed: int, distribution_limit: float, routing_limit: float,
             escorts_limit: float) -> dict[str, Any]:
    """Generate a ``sites``-site crisis and run :func:`run_stages` on it (in this process)."""
    from allocate.generate import generate
    from allocate.scenario import Scenario

    t0 = time.perf_counter()
    scenario = Scenario.from_dict(generate(sites, seed=seed))
    generate_s = time.perf_counter() - t0
    row = run_stages(scenario, distribution_limit=distribution_limit, routing_limit=routing_limit,
                     escorts_limit=escorts_limit, seed=seed)
    row["generate_s"] = generate_s
    return row


def _child_rss_mb(pid: int) -> float:
    """Current RSS of process ``pid`` in MB (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_size_subprocess(sites: int, *, seed: int, distribution_limit: float, routing_limit: float,
                        escorts_limit: float, timeout: float | None = None,
                        max_rss_gb: float | None = None) -> dict[str, Any]:
    """:func:`run_size` in a fresh Python process; an ``error`` row on failure, timeout or too much memory.

    ``max_rss_gb``: kill the child when its RSS passes this many GB (the machine is shared).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as out:
        out_path = out.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(sites), "--child-out", out_path,
           "--seed", str(seed), "--distribution-limit", str(distribution_limit),
           "--routing-limit", str(routing_limit), "--escorts-limit", str(escorts_limit)]
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    killed = ""
    try:
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True)
            while proc.poll() is None:
                elapsed = time.perf_counter() - t0
                rss = _child_rss_mb(proc.pid)
                if timeout is not None and elapsed > timeout:
                    killed = f"timeout after {elapsed:.0f} s"
                elif max_rss_gb is not None and rss > max_rss_gb * 1024:
                    killed = f"killed at {rss / 1024:.1f} GB RSS (limit {max_rss_gb:g} GB) after {elapsed:.0f} s"
                if killed:
                    proc.kill()
                    proc.wait()
                    break
                time.sleep(0.5)
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
        text = Path(out_path).read_text()
        if killed or proc.returncode != 0 or not text.strip():
            why = killed or f"exit {proc.returncode}: {' | '.join(tail)}"
            return {"sites": sites, "error": why, "wall_s": time.perf_counter() - t0}
        row = json.loads(text)
        row["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before, after
        return row
    finally:
        os.unlink(out_path)


def _fitted(row: dict[str, Any], stage: str) -> bool:
    """Whether ``row`` counts in ``stage``'s fit: it ran, and had input (an allocation to route, convoys after)."""
    if "error" in row or not row.get(f"{stage}_s", 0) > 0:
        return False
    if stage == "distribution":
        return True
    allocated = row.get("allocation_rows")
    if not (row.get("bound") is not None if allocated is None else allocated > 0):
        return False
    if stage == "routing":
        return True
    routed = row.get("routed_convoys")
    if routed is None:  # rows of runs before the field existed
        routed = row.get("convoys", 0) + row.get("unescorted", 0) + row.get("repair_dropped", 0)
    return routed > 0


def fit_exponents(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float] | None]:
    """Per stage, ``(a, b)`` of ``t ≈ a·n^b`` by least squares on log-log; None with < 2 sizes.

    Sizes whose distribution found no allocation are left out of the later stages' fits, and
    sizes where routing made no convoy out of escorts', repair's and check's (no work to time).
    """
    out: dict[str, tuple[float, float] | None] = {}
    for stage in STAGES:
        pts = [(r["sites"], r[f"{stage}_s"]) for r in rows if _fitted(r, stage)]
        if len({n for n, _ in pts}) < 2:
            out[stage] = None
            continue
        b, log_a = np.polyfit(np.log([n for n, _ in pts]), np.log([t for _, t in pts]), 1)
        out[stage] = (float(math.exp(log_a)), float(b))
    return out


def markdown_tables(rows: list[dict[str, Any]], fits: dict[str, tuple[float, float] | None]) -> str:
    """Time/memory per stage and size, the outcome per size, and the fitted exponents."""
    head = "| sites | " + " | ".join(f"{s} s | {s} peak MB (+Δ)" for s in STAGES) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['sites']} | ERROR: {r['error']} |")
            continue
        cells = [f"{r[f'{s}_s']:.2f} | {r[f'{s}_peak_mb']:.0f} (+{r[f'{s}_delta_mb']:.0f})" for s in STAGES]
        lines.append(f"| {r['sites']} | " + " | ".join(cells) + " |")
    lines += ["", "| sites | distribution build s | distribution status | allocation rows | routing stopped by "
              "| routed convoys | escorts status | convoys | escorted | unescorted (dropped) | dropped by repair | codes before repair | unmet sites "
              "| weighted cov. | bound | check | load 1-min before→after |",
              "|" + "---|" * 17]
    for r in rows:
        if "error" in r:
            continue
        check_txt = "ok" if r["check_ok"] else "FAIL " + ",".join(r["codes"])
        bound = "–" if r["bound"] is None else f"{r['bound']:.4f}"
        lines.append(f"| {r['sites']} | {r['distribution_build_s']:.2f} | {r['distribution_status']} "
                     f"| {r.get('allocation_rows', '–')} "
                     f"| {r['routing_stopped_by']} | {r.get('routed_convoys', '–')} | {r['escorts_status']} | {r['convoys']} "
                     f"| {r['escorted']} | {r['unescorted']} | {r['repair_dropped']} "
                     f"| {','.join(r['pre_repair_codes']) or 'none'} | {r['unmet_sites']} | {r['weighted_coverage']:.4f} "
                     f"| {bound} | {check_txt} | {_load(r)} |")
    lines += ["", "| stage | a (s) | exponent b in t ≈ a·n^b | sizes fitted | sizes where it used ≥ 90 % of its time limit "
              "| sizes where it ran past 110 % of it |", "|---|---|---|---|---|---|"]
    good = [r for r in rows if "error" not in r]
    for stage in STAGES:
        fit = fits.get(stage)
        capped = [str(r["sites"]) for r in good
                  if r.get(f"{stage}_limit") and r[f"{stage}_s"] >= 0.9 * r[f"{stage}_limit"]]
        a_b = "– | –" if fit is None else f"{fit[0]:.3g} | {fit[1]:.2f}"
        fitted = ", ".join(str(r["sites"]) for r in rows if _fitted(r, stage)) or "none"
        over = [str(r["sites"]) for r in good
                if r.get(f"{stage}_limit") and r[f"{stage}_s"] > 1.1 * r[f"{stage}_limit"]]
        lines.append(f"| {stage} | {a_b} | {fitted} | {', '.join(capped) or 'none'} | {', '.join(over) or 'none'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: every size in its own child process, then the tables and the fits."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distribution-limit", type=float, default=60.0, help="distribute() time_limit, s")
    ap.add_argument("--routing-limit", type=float, default=60.0, help="route() time_limit, s")
    ap.add_argument("--escorts-limit", type=float, default=30.0, help="assign_escorts() time_limit, s")
    ap.add_argument("--timeout", type=float, default=None, help="kill one size's child after this many s")
    ap.add_argument("--max-rss-gb", type=float, default=12.0, help="kill one size's child above this RSS, GB")
    ap.add_argument("--json", help="also write the rows and fits to this JSON file")
    ap.add_argument("--report", help="only print the tables of a JSON file written by --json (rows re-fitted)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    limits = dict(distribution_limit=args.distribution_limit, routing_limit=args.routing_limit,
                  escorts_limit=args.escorts_limit)

    if args.report:
        rows = json.loads(Path(args.report).read_text())["rows"]
        print(markdown_tables(rows, fit_exponents(rows)))
        return 0
    if args.child:
        row = run_size(args.child, seed=args.seed, **limits)
        Path(args.child_out).write_text(json.dumps(row))
        return 0

    rows = []
    for n in args.sizes:
        print(f"[{time.strftime('%H:%M:%S')}] {n} sites ...", file=sys.stderr, flush=True)
        row = run_size_subprocess(n, seed=args.seed, timeout=args.timeout, max_rss_gb=args.max_rss_gb, **limits)
        print(f"    {json.dumps(row)}", file=sys.stderr, flush=True)
        rows.append(row)
    fits = fit_exponents(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "fits": fits}, indent=1))
    print(markdown_tables(rows, fits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
