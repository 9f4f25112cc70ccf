"""The ``allocate`` command line (FORMAT.md §4): exit 0 on success, 1 when a check finds
violations, 2 on unreadable or invalid input. Each command is a thin wrapper over the library."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from allocate.errors import AllocateError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan and check humanitarian convoys, escorts and aid distribution.")
err_console = Console(stderr=True)
EXIT_INVALID = 2


def fail_input(error: Exception) -> None:
    """Report bad input in one clear message and exit 2 (never a traceback)."""
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID)


@app.callback()
def _root() -> None:
    """allocate: plan the joint use of humanitarian and military resources, and check plans."""


class SchemaKind(str, Enum):
    scenario = "scenario"
    plan = "plan"


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="scenario or plan")]) -> None:
    """Print the published JSON Schema of the scenario or plan format."""
    from allocate.schema import json_schema

    typer.echo(json.dumps(json_schema(kind.value), indent=1))


def _load_scenario(path: Path):
    from allocate.scenario import load_scenario

    try:
        return load_scenario(path)
    except AllocateError as exc:
        fail_input(exc)


def _render_tables(summary: dict) -> None:
    from rich.table import Table

    console = Console()
    m = summary["metrics"]
    bound = summary["bound"]
    head = (
        f"[bold]{summary['scenario']}[/]: status {summary['status']}, weighted coverage "
        f"{m['weighted_coverage']:.1%}" + (f" (distribution bound {bound:.1%})" if bound else "")
        + f", delivered {m['delivered_t']:.1f} of {m['need_t']:.1f} t, max route risk {m['max_route_risk']:.3f},"
        f" {m['escorted_convoys']} escorted convoys, cost {m['cost']:.0f}"
    )
    console.print(head, highlight=False)
    for title, key in (("Coverage by zone", "by_zone"), ("Coverage by severity", "by_severity"),
                       ("Convoys", "convoys"), ("Unmet", "unmet")):
        rows = summary[key]
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for column in rows[0]:
            table.add_column(column, justify="right" if isinstance(rows[0][column], (int, float)) else "left")
        for row in rows:
            table.add_row(*(f"{v:.1%}" if k == "coverage" and isinstance(v, float) else str(v) for k, v in row.items()))
        console.print(table)


@app.command()
def solve(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario JSON (FORMAT.md §1)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the plan JSON")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="overall wall-clock limit, seconds")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="seed of every randomised stage")] = 0,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="bound routing by work, not wall clock: same seed, same plan")] = False,
    backend: Annotated[str, typer.Option("--backend", help="MIP back-end: highs, pulp or ortools")] = "highs",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary tables")] = False,
) -> None:
    """Plan distribution, convoys and escorts for a scenario and write the plan."""
    from allocate.planner import plan as make_plan
    from allocate.summary import summarize

    scenario = _load_scenario(scenario_path)
    if time_limit <= 0:
        fail_input(ValueError(f"--time-limit must be positive (value {time_limit})"))
    if as_json or quiet:
        result = make_plan(scenario, time_limit=time_limit, seed=seed, deterministic=deterministic, backend=backend)
    else:
        with err_console.status("planning...") as status:
            result = make_plan(
                scenario, time_limit=time_limit, seed=seed, deterministic=deterministic, backend=backend,
                progress=lambda stage: status.update(f"planning: {stage}..."),
            )
    result.save(output)
    summary = summarize(scenario, result)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    elif not quiet:
        _render_tables(summary)
        err_console.print(f"plan written to {output}", highlight=False)


@app.command()
def explain(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO")],
    plan_path: Annotated[Optional[Path], typer.Argument(metavar="[PLAN]", help="a plan: explain its short sites")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Say why each site is left short (with a plan) or cannot be served unescorted (without)."""
    from allocate.explain import explain as explain_sites
    from allocate.plan import load_plan

    scenario = _load_scenario(scenario_path)
    plan_obj = None
    if plan_path is not None:
        try:
            plan_obj = load_plan(plan_path)
        except AllocateError as exc:
            fail_input(exc)
    items = explain_sites(scenario, plan_obj)
    if as_json:
        typer.echo(json.dumps([{"site": e.site, "coverage": e.coverage, "reasons": list(e.reasons),
                                "explanation": list(e.sentences)} for e in items], indent=1))
        return
    if not items:
        typer.echo("every site is fully served" if plan_obj else "every site can be served without escort")
    for item in items:
        typer.echo(item.text())


@app.command()
def generate(
    sites: Annotated[int, typer.Option("--sites", help="number of affected sites")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the scenario JSON")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    depots: Annotated[Optional[int], typer.Option("--depots")] = None,
    commodities: Annotated[int, typer.Option("--commodities")] = 3,
    parties: Annotated[int, typer.Option("--parties")] = 3,
) -> None:
    """Write a synthetic crisis scenario (for scaling studies and teaching)."""
    from allocate.generate import generate as draw, dumps
    from allocate.scenario import Scenario

    if sites < 1:
        fail_input(ValueError(f"--sites must be at least 1 (value {sites})"))
    data = draw(sites, seed=seed, depots=depots, commodities=commodities, parties=parties)
    Scenario.from_dict(data)  # a generated scenario must validate; a failure here is a bug, loudly
    output.write_text(dumps(data), encoding="utf-8")
    err_console.print(f"scenario with {sites} sites written to {output}", highlight=False)


def _one_line(what: str, exc: Exception) -> ValueError:
    """Bad input as one line naming the file: multi-problem errors joined with '; '."""
    from rich.markup import escape

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] + " " + "; ".join(lines[1:]) if len(lines) > 1 else "".join(lines)
    return ValueError(escape(f"{what}: {text}"))


@app.command()
def check(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario JSON (FORMAT.md §1)")],
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="plan JSON (FORMAT.md §2)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object (FORMAT.md §4)")] = False,
) -> None:
    """Check a plan against every rule of FORMAT.md §3: exit 0 if none is broken, 1 if some are, 2 on bad input."""
    from allocate.check import check as check_plan
    from allocate.plan import load_plan
    from allocate.scenario import load_scenario

    try:
        scenario = load_scenario(scenario_path)
    except AllocateError as exc:
        fail_input(_one_line(str(scenario_path), exc))
    try:
        plan_obj = load_plan(plan_path)
    except AllocateError as exc:
        fail_input(_one_line(str(plan_path), exc))
    report = check_plan(scenario, plan_obj)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=1))
    else:
        _render_check(report)
    raise typer.Exit(0 if report.ok else 1)


def _render_check(report) -> None:
    """The check report for a human: a verdict, a table of violations, the recomputed metrics."""
    from rich.table import Table

    console = Console()
    number = lambda x: "" if x is None else f"{x:.6g}"  # noqa: E731
    if report.ok:
        console.print("[bold green]OK[/]: no rule of FORMAT.md §3 is broken", highlight=False)
    else:
        console.print(f"[bold red]{len(report.violations)} violation(s)[/]: {', '.join(sorted(report.codes))}", highlight=False)
        table = Table(title="Violations", title_justify="left")
        for column in ("code", "subject", "measured", "allowed", "message"):
            table.add_column(column, justify="right" if column in ("measured", "allowed") else "left")
        for v in report.violations:
            table.add_row(v.code, v.subject, number(v.measured), number(v.allowed), v.message)
        console.print(table)
    metrics = Table(title="Metrics (recomputed)", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in report.metrics.items():
        metrics.add_row(name, number(value))
    console.print(metrics)



# ---- vrp: public VRP benchmarks (issue 4, routing engine yardstick) -------------------------
class VrpBackend(str, Enum):
    auto = "auto"
    ortools = "ortools"
    pyvrp = "pyvrp"


@app.command()
def vrp(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help="VRPLIB CVRP .vrp or Solomon VRPTW .txt file")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="seconds, model build included")] = 20.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="write a VRPLIB .sol file")] = None,
    backend: Annotated[VrpBackend, typer.Option("--backend", help="auto = PyVRP where it fits, else OR-Tools")] = VrpBackend.auto,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="add a work limit: same seed, same routes")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Solve a public CVRP/VRPTW benchmark instance and report its cost under the instance's convention."""
    from allocate.vrp import solve_instance, write_solution

    if time_limit <= 0:
        fail_input(ValueError(f"--time-limit must be positive (value {time_limit})"))
    try:
        sol = solve_instance(instance, time_limit=time_limit, seed=seed, backend=backend.value, deterministic=deterministic)
    except (OSError, ValueError, KeyError) as exc:
        fail_input(ValueError(f"{instance}: {exc}"))
    if output is not None:
        write_solution(sol, output)
    res = sol.result
    info = {
        "instance": sol.instance, "cost": sol.cost, "routes": len(sol.routes), "backend": sol.backend,
        "status": res.status, "dropped": list(res.dropped), "stopped_by": res.stopped_by,
        "seconds": round(res.seconds, 3), "time_limit": time_limit, "seed": seed,
    }
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(" ".join(f"{k}={v}" for k, v in info.items()))
    if res.status == "no_solution":
        raise typer.Exit(1)
# ---- end vrp ---------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AllocateError as exc:  # a library error that escaped a command: still exit 2, no traceback
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":
    main()
