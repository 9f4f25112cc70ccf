"""Routing quality yardstick (issue 4): gap to BKS on CVRPLIB X and Solomon VRPTW instances.

Runs, in one process and one after the other (so they share the machine alike):

(a) ``allocate``: :func:`allocate.vrp.solve_problem` with ``backend="auto"`` (the default
    routing path: PyVRP where it can express the problem, else OR-Tools);
(b) ``ortools-gls``: plain OR-Tools, PATH_CHEAPEST_ARC + guided local search, every visit
    mandatory (the floor to beat);
(c) ``ortools-best``: our OR-Tools configuration (``SearchParams`` defaults: first solution
    chosen by problem kind, mandatory visits soft, GLS);
(d) ``pyvrp``: PyVRP called directly (``pyvrp.read`` for CVRP; a ``pyvrp.Model`` built from
    the Solomon file with the DIMACS convention), no allocate code in the loop.

Costs use each set's convention (CVRP: rounded arcs; Solomon: arcs truncated to 0.1), gaps
are ``100 (cost / bks - 1)``. Every run is appended to a JSON-lines log as it ends, so a
cut-short run still reports; ``--report-only`` rebuilds the table from the log. The table
goes into ``benchmarks/RESULTS.md`` under "## Routing quality (issue 4)" (only that section
is replaced).

Example::

    .venv/bin/python benchmarks/bench_vrp_quality.py --time-limit 20 --log /tmp/vrp.jsonl
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from allocate.backends.routing_problem import SearchParams  # noqa: E402
from allocate.vrp import VrpInstance, read_instance, solution_cost, solve_problem  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data")
ENGINES = ("allocate", "ortools-gls", "ortools-best", "pyvrp")
SECTION = "## Routing quality (issue 4)"
SOLOMON_ORDER = ("C1", "R1", "RC1", "C2", "R2", "RC2")


def load_bks(data: Path) -> dict[str, tuple[str, float]]:
    """``{instance: (kind, bks)}`` for the X CVRP and the Solomon instances."""
    out: dict[str, tuple[str, float]] = {}
    with open(data / "cvrp" / "bks.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["instance"].startswith("X-"):
                out[row["instance"]] = ("cvrp", float(row["bks"]))
    with open(data / "vrptw" / "bks.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["instance"]] = ("vrptw", float(row["bks"]))
    return out


def solomon_family(name: str) -> str:
    return name[:-2]


def instance_path(data: Path, name: str, kind: str) -> Path:
    return data / "cvrp" / f"{name}.vrp" if kind == "cvrp" else data / "vrptw" / f"{name}.txt"


# ---- the four engines -------------------------------------------------------------------


def run_allocate(inst: VrpInstance, t: float, seed: int) -> tuple[float, int, bool, str]:
    res = solve_problem(inst.problem, SearchParams(time_limit=t, seed=seed), "auto")
    routes = [r for r in res.routes if r]
    return solution_cost(inst, routes), len(routes), res.status == "feasible", res.backend


def run_ortools_gls(inst: VrpInstance, t: float, seed: int) -> tuple[float, int, bool, str]:
    params = SearchParams(time_limit=t, seed=seed, first_solution="PATH_CHEAPEST_ARC", soft_mandatory=False)
    res = solve_problem(inst.problem, params, "ortools")
    routes = [r for r in res.routes if r]
    return solution_cost(inst, routes), len(routes), res.status == "feasible", "ortools"


def run_ortools_best(inst: VrpInstance, t: float, seed: int) -> tuple[float, int, bool, str]:
    res = solve_problem(inst.problem, SearchParams(time_limit=t, seed=seed), "ortools")
    routes = [r for r in res.routes if r]
    return solution_cost(inst, routes), len(routes), res.status == "feasible", "ortools"


def _pyvrp_solomon_data(path: Path) -> object:
    """PyVRP data for a Solomon file, DIMACS convention (x10, truncated), as pyvrp.read would."""
    import pyvrp
    import vrplib

    raw = vrplib.read_instance(str(path), instance_format="solomon")
    dimacs = lambda a: (10 * np.asarray(a)).astype(np.int64)  # noqa: E731 - pyvrp's own "dimacs"
    m = pyvrp.Model()
    coords = raw["node_coord"]
    locs = [m.add_location(x=float(x), y=float(y)) for x, y in coords]
    tw, svc = dimacs(raw["time_window"]), dimacs(raw["service_time"])
    depot = m.add_depot(locs[0], tw_early=int(tw[0, 0]), tw_late=int(tw[0, 1]))
    for i in range(1, len(coords)):
        m.add_client(
            locs[i], delivery=[int(raw["demand"][i])], service_duration=int(svc[i]),
            tw_early=int(tw[i, 0]), tw_late=int(tw[i, 1]),
        )
    m.add_vehicle_type(int(raw["vehicles"]), capacity=[int(raw["capacity"])], start_depot=depot, end_depot=depot,
                       tw_early=int(tw[0, 0]), tw_late=int(tw[0, 1]))
    dist = dimacs(raw["edge_weight"])
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            m.add_edge(a, b, distance=int(dist[i, j]), duration=int(dist[i, j]))
    return m.data()


def run_pyvrp(inst: VrpInstance, t: float, seed: int) -> tuple[float, int, bool, str]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    t0 = time.perf_counter()
    if inst.kind == "cvrp":
        data = pyvrp.read(str(inst.path), round_func="round")
    else:
        data = _pyvrp_solomon_data(inst.path)
    res = pyvrp.solve(data, MaxRuntime(max(0.01, t - (time.perf_counter() - t0))), seed=seed, display=False)
    best = res.best
    return best.distance() / inst.scale, best.num_routes(), bool(best.is_feasible()), "pyvrp"


RUNNERS: dict[str, Callable[[VrpInstance, float, int], tuple[float, int, bool, str]]] = {
    "allocate": run_allocate,
    "ortools-gls": run_ortools_gls,
    "ortools-best": run_ortools_best,
    "pyvrp": run_pyvrp,
}


# ---- report --------------------------------------------------------------------------


def _mean(xs: list[float]) -> str:
    return f"{statistics.fmean(xs):.2f}" if xs else "-"


def render(records: list[dict], meta: dict) -> str:
    """The markdown section: command, machine, per-instance gaps, mean gaps per set."""
    by = {(r["instance"], r["engine"]): r for r in records}
    instances = list(dict.fromkeys(r["instance"] for r in records))
    engines = [e for e in ENGINES if any(r["engine"] == e for r in records)]
    lines = [
        SECTION,
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}  ",
        f"Machine: {meta['machine']} (shared: other engineers' processes may run at the same time)  ",
        f"Time limit: {meta['time_limit']:g} s per engine and instance, wall clock (model build included), seed {meta['seed']}.",
        "",
        "Engines: **allocate** = `allocate.vrp` default routing (`backend=auto`: PyVRP through our adapter "
        "for these plain instances); **ortools-gls** = plain OR-Tools, PATH_CHEAPEST_ARC + GLS, hard visits "
        "(the floor); **ortools-best** = our OR-Tools configuration (PATH_CHEAPEST_ARC for CVRP / "
        "PARALLEL_CHEAPEST_INSERTION with windows, soft mandatory visits, GLS); **pyvrp** = PyVRP 0.14 called "
        "directly. Gap = 100 (cost / BKS - 1) under each set's convention (CVRP: arcs rounded to integers; "
        "Solomon: arcs truncated to 0.1, the distance-optimal `bks` of data/vrptw/bks.csv). `inf` marks "
        "an infeasible or incomplete result.",
        "",
    ]
    groups = [("CVRPLIB X (gap %)", [i for i in instances if i.startswith("X-")]),
              ("Solomon VRPTW (gap %)", [i for i in instances if not i.startswith("X-")])]
    for title, names in groups:
        if not names:
            continue
        lines += [f"### {title}", "", "| instance | BKS | " + " | ".join(engines) + " |",
                  "|---|---:|" + "---:|" * len(engines)]
        for name in names:
            cells = []
            for e in engines:
                r = by.get((name, e))
                if r is None:
                    cells.append("")
                elif not r["feasible"]:
                    cells.append("inf")
                else:
                    cells.append(f"{r['gap']:.2f}")
            bks = next(r["bks"] for r in records if r["instance"] == name)
            lines.append(f"| {name} | {bks:g} | " + " | ".join(cells) + " |")
        means = []
        for e in engines:
            rs = [by[(n, e)] for n in names if (n, e) in by]
            ok = [r["gap"] for r in rs if r["feasible"]]
            bad = len(rs) - len(ok)
            means.append(_mean(ok) + (f" ({bad} infeasible)" if bad else ""))
        lines.append("| **mean** | | " + " | ".join(f"**{m}**" for m in means) + " |")
        lines.append("")
    lines.append(meta.get("note", "").strip())
    return "\n".join(lines).rstrip() + "\n"


def update_results(path: Path, section: str) -> None:
    """Replace (or append) our section of RESULTS.md, leaving every other section as it is."""
    text = path.read_text() if path.exists() else "# allocate benchmark results\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
    path.write_text(text)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sets", default="x,solomon", help="comma list of x, solomon")
    ap.add_argument("--solomon", default=",".join(SOLOMON_ORDER),
                    help="Solomon families in run order (C1,R1,RC1,C2,R2,RC2) or instance names")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--log", type=Path, default=ROOT / "benchmarks" / "vrp_quality.jsonl")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--report-only", action="store_true", help="rebuild the section from --log")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not touch RESULTS.md")
    ap.add_argument("--note", default="", help="a sentence appended under the tables")
    ap.add_argument("--command", default=None, help="command line to record (default: this one)")
    args = ap.parse_args(argv)

    bks = load_bks(args.data)
    engines = [e for e in args.engines.split(",") if e]
    names: list[str] = []
    if "x" in args.sets:
        names += sorted((n for n, (k, _) in bks.items() if k == "cvrp"), key=lambda s: int(s.split("-n")[1].split("-")[0]))
    if "solomon" in args.sets:
        for fam in args.solomon.split(","):
            names += sorted(n for n, (k, _) in bks.items() if k == "vrptw" and (solomon_family(n) == fam or n == fam))

    if not args.report_only:
        for name in names:
            kind, best = bks[name]
            inst = read_instance(instance_path(args.data, name, kind))
            for engine in engines:
                t0 = time.perf_counter()
                try:
                    cost, nroutes, feasible, used = RUNNERS[engine](inst, args.time_limit, args.seed)
                except Exception as exc:  # a crashed engine is a result too
                    cost, nroutes, feasible, used = float("nan"), 0, False, f"error: {exc}"
                wall = time.perf_counter() - t0
                rec = {
                    "instance": name, "kind": kind, "engine": engine, "backend": used, "bks": best,
                    "cost": cost, "gap": 100 * (cost / best - 1) if feasible else None, "routes": nroutes,
                    "feasible": feasible, "seconds": round(wall, 2), "time_limit": args.time_limit,
                    "seed": args.seed, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
                with open(args.log, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                gap = "inf" if not feasible else f"{rec['gap']:.2f}%"
                print(f"{name:12s} {engine:13s} cost={cost:<10g} gap={gap:>8s} routes={nroutes:<3d} {wall:6.1f}s", flush=True)

    records = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()] if args.log.exists() else []
    records = [r for r in records if r["instance"] in names and r["time_limit"] == args.time_limit]
    last: dict[tuple[str, str], dict] = {}
    for r in records:
        last[(r["instance"], r["engine"])] = r  # a rerun replaces an older record
    records = list(last.values())
    meta = {
        "command": args.command or "  ".join([".venv/bin/python", "benchmarks/bench_vrp_quality.py", *sys.argv[1:]]).replace("  ", " "),
        "date": min((r["date"] for r in records), default="")[:10] + " (UTC)",
        "machine": machine(),
        "time_limit": args.time_limit,
        "seed": args.seed,
        "note": args.note,
    }
    section = render(records, meta)
    if args.no_write:
        print(section)
    else:
        update_results(args.results, section)
        print(f"wrote {SECTION!r} to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
