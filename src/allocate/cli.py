"""The ``allocate`` command line (FORMAT.md §4): exit 0 on success, 1 when a check finds
violations, 2 on unreadable or invalid input. Each command is a thin wrapper over the library."""

from __future__ import annotations

import json
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from allocate.errors import AllocateError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan and check humanitarian convoys, escorts and aid distribution.")
err_console = Console(stderr=True)
EXIT_INVALID = 2


_IMPORTED = time.monotonic()


def process_started() -> float:
    """The :func:`time.monotonic` moment this process started (Linux: /proc; elsewhere, when this
    module was imported). Why: ``--time-limit`` is the command's overall wall clock, and starting
    Python and importing the solvers takes about a second of it."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_s = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in ticks after boot
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return time.monotonic() - max(0.0, uptime_s - start_s)
    except (OSError, ValueError, IndexError):
        return _IMPORTED


def fail_input(error: Exception) -> None:
    """Report bad input in one clear message and exit 2 (never a traceback)."""
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID)


def _bad_io_input(message: str) -> None:
    """Exit 2 with ``message`` (file names and other user text escaped from rich markup)."""
    from rich.markup import escape

    fail_input(ValueError(escape(message)))


def _other_scenario(plan_obj, plan_path: Path, scenario, scenario_path: Path) -> str | None:
    """Why a plan does not answer the scenario given beside it (FORMAT.md §2 ``scenario.name``), or None."""
    if plan_obj.scenario.name == scenario.name:
        return None
    return f"{plan_path} answers scenario {plan_obj.scenario.name!r}, not {scenario.name!r} ({scenario_path})"


def _positive_seconds(option: str, value: float) -> None:
    """A time limit is a positive, finite number of seconds: nan and inf are bad input too."""
    from allocate.clock import require_positive_seconds

    try:
        require_positive_seconds(value, option)
    except ValueError as exc:
        fail_input(exc)


def _seed(value: int) -> None:
    """``--seed`` is one the solvers can take (allocate.arguments): checked before any work."""
    from allocate.arguments import require_seed

    try:
        require_seed(value, "--seed")
    except ValueError as exc:
        fail_input(exc)


def _mip_backend(value: str) -> None:
    """The MIP back-end named on the command line exists (before any solving starts)."""
    from allocate.backends import MIP_BACKENDS

    if value not in MIP_BACKENDS:
        fail_input(ValueError(f"--backend must be one of {', '.join(sorted(MIP_BACKENDS))} (value {value!r})"))


def _output_path(option: str, path: Path, *inputs: Path) -> None:
    """Refuse, before any work, an output that cannot be written or that is one of the inputs:
    a long solve must not end in a failed write, and nothing the user gave is overwritten."""
    problem = None
    if path.is_dir():
        problem = "is a directory: give a file name"
    elif not path.parent.is_dir():
        problem = f"cannot be written: directory {path.parent} does not exist"
    elif not os.access(path.parent, os.W_OK):
        problem = f"cannot be written: directory {path.parent} is not writable"
    else:
        same = [given for given in inputs if path.resolve() == given.resolve()]
        if same:
            problem = f"is the input {same[0]}: write the output elsewhere"
    if problem:
        _bad_io_input(f"{option} {path} {problem}")


def _write_failed(path: Path, exc: OSError) -> None:
    """A write that failed after all (disk full, permissions changed): exit 2, no traceback."""
    _bad_io_input(f"cannot write {path}: {exc.strerror or exc}")


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
    """The scenario, or exit 2 naming the file, each problem on a line of its own."""
    from allocate.scenario import load_scenario

    try:
        return load_scenario(path)
    except AllocateError as exc:
        _bad_io_input(f"{path}: {exc}")


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
    deterministic: Annotated[bool, typer.Option("--deterministic", help="bound routing and the escort stage by counted work, not the wall clock: same seed, same plan (the plan's notes say if a clock cut in)")] = False,
    backend: Annotated[str, typer.Option("--backend", help="MIP back-end: highs, pulp or ortools")] = "highs",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary tables")] = False,
) -> None:
    """Plan distribution, convoys and escorts for a scenario and write the plan."""
    started = process_started()
    from allocate.planner import plan as make_plan
    from allocate.summary import summarize

    scenario = _load_scenario(scenario_path)
    _positive_seconds("--time-limit", time_limit)
    _seed(seed)
    _mip_backend(backend)
    _output_path("-o", output, scenario_path)
    if as_json or quiet:
        result = make_plan(scenario, time_limit=time_limit, seed=seed, deterministic=deterministic, backend=backend,
                           started=started)
    else:
        with err_console.status("planning...") as status:
            result = make_plan(
                scenario, time_limit=time_limit, seed=seed, deterministic=deterministic, backend=backend,
                progress=lambda stage: status.update(f"planning: {stage}..."), started=started,
            )
    try:
        result.save(output)
    except OSError as exc:
        _write_failed(output, exc)
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
        mismatch = _other_scenario(plan_obj, plan_path, scenario, scenario_path)
        if mismatch:
            _bad_io_input(mismatch)
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

    for option, value in (("--sites", sites), ("--depots", depots), ("--commodities", commodities),
                          ("--parties", parties)):
        if value is not None and value < 1:
            fail_input(ValueError(f"{option} must be at least 1 (value {value})"))
    _seed(seed)
    _output_path("-o", output)
    data = draw(sites, seed=seed, depots=depots, commodities=commodities, parties=parties)
    Scenario.from_dict(data)  # a generated scenario must validate; a failure here is a bug, loudly
    try:
        output.write_text(dumps(data), encoding="utf-8")
    except OSError as exc:
        _write_failed(output, exc)
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

    _positive_seconds("--time-limit", time_limit)
    _seed(seed)
    if output is not None:
        _output_path("-o", output, instance)
    try:
        sol = solve_instance(instance, time_limit=time_limit, seed=seed, backend=backend.value, deterministic=deterministic)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: vrplib's "does not conform"
        _bad_io_input(f"{instance}: {exc}")
    if output is not None:
        try:
            write_solution(sol, output)
        except OSError as exc:
            _write_failed(output, exc)
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


# ---- io: export, import-sites (analysts' inputs and outputs) ----------------------------------
def _parse_quantities(option: str, values: list[str] | None) -> dict[str, float]:
    """``["food=100", "shelter=2.5"]`` -> ``{"food": 100.0, "shelter": 2.5}``; anything else is bad input."""
    out: dict[str, float] = {}
    for text in values or []:
        key, sep, number = text.partition("=")
        try:
            value = float(number)
        except ValueError:
            value = float("nan")
        if not sep or not key.strip() or value != value or value in (float("inf"), float("-inf")) or value < 0:
            _bad_io_input(f"{option} takes COMMODITY=UNITS with a number ≥ 0 (value {text!r})")
        out[key.strip()] = value
    return out


def _read_zone_map(path: Path) -> dict[str, str | None]:
    """A zone mapping file: a JSON object ``{admin value: zone id}`` or a two-column CSV (key, zone)."""
    import csv as csv_module

    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(isinstance(v, (str, type(None))) for v in data.values()):
                raise ValueError("a zone map JSON is an object of admin value -> zone id (or null)")
            return {str(k): v for k, v in data.items()}
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = [r for r in csv_module.reader(handle) if any(c.strip() for c in r)]
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the zone map: {exc}") from None
    out: dict[str, str | None] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or row[0].startswith("#"):
            if row and row[0].startswith("#"):
                continue  # an HXL row
            raise ValueError(f"{path}, row {number}: a zone map row is KEY,ZONE (value {row!r})")
        out[row[0].strip()] = row[1].strip() or None
    return out


def _io_scenario(path: Path):
    """Load a scenario or exit 2 with one line naming the file (multi-problem errors joined)."""
    from allocate.scenario import load_scenario

    try:
        return load_scenario(path)
    except AllocateError as exc:
        fail_input(_one_line(str(path), exc))


@app.command("import-sites")
def import_sites(
    base_path: Annotated[Path, typer.Argument(metavar="BASE_SCENARIO", help="scenario JSON the sites are added to")],
    table_path: Annotated[Path, typer.Argument(metavar="TABLE", help="CSV or XLSX, plain headers or with an HXL row")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the new scenario JSON")],
    commodity: Annotated[Optional[list[str]], typer.Option("--commodity", help="commodity to read need for (repeat); default: those with a column")] = None,
    need: Annotated[Optional[list[str]], typer.Option("--need", help="COMMODITY=UNITS for every row (recorded as a default)")] = None,
    ration: Annotated[Optional[list[str]], typer.Option("--ration", help="COMMODITY=UNITS per person of #inneed/#affected/#population")] = None,
    severity: Annotated[Optional[int], typer.Option("--severity", help="severity (1-5) for every row when the table has none")] = None,
    zone_map: Annotated[Optional[Path], typer.Option("--zone-map", help="JSON object or KEY,ZONE CSV: admin value -> zone id")] = None,
    zone_column: Annotated[Optional[str], typer.Option("--zone-column", help="column (header or HXL tag) the zone map is keyed by")] = None,
    id_prefix: Annotated[str, typer.Option("--id-prefix", help="prefix for node ids (e.g. M for market codes)")] = "",
    attribution: Annotated[Optional[str], typer.Option("--attribution", help="source and licence, kept on every node")] = None,
    sheet: Annotated[Optional[str], typer.Option("--sheet", help="XLSX sheet name")] = None,
    depots: Annotated[bool, typer.Option("--depots", help="rows are depots (stock_<commodity> columns), not sites")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="update nodes the base already has (never moving their zone)")] = False,
    roads: Annotated[Optional[Path], typer.Option("--roads", help="GeoJSON LineStrings (properties a, b, hours, risk...) to add as roads")] = None,
    speed_kmh: Annotated[Optional[float], typer.Option("--speed-kmh", help="derive a road's missing hours from its km")] = None,
    default_risk: Annotated[Optional[float], typer.Option("--default-risk", help="risk of roads that carry none (recorded as a default)")] = None,
    snap_km: Annotated[float, typer.Option("--snap-km", help="a road without a/b ends at the nearest node within this distance")] = 1.0,
) -> None:
    """Add sites (or depots) from a CSV/XLSX table, HXL-tagged or not, and roads from GeoJSON, to a scenario; every row keeps its source."""
    from allocate.io.csv_hxl import commodities_in_table, depots_from_table, scenario_with_sites, sites_from_table
    from allocate.scenario import Scenario

    base = _io_scenario(base_path)
    _output_path("-o", output, table_path, *([roads] if roads is not None else []))
    defaults = _parse_quantities("--need", need)
    rations = _parse_quantities("--ration", ration)
    if severity is not None and not 1 <= severity <= 5:
        _bad_io_input(f"--severity must be a whole number from 1 to 5 (value {severity})")
    try:
        zones = _read_zone_map(zone_map) if zone_map is not None else None
        known = [c.id for c in base.commodities]
        for option, given in (("--need", defaults), ("--ration", rations)):
            stray = [c for c in given if c not in known]
            if stray:
                raise ValueError(f"{option} names {', '.join(stray)}, not a commodity of {base_path} ({', '.join(known)})")
        if commodity:
            unknown = [c for c in commodity if c not in known]
            if unknown:
                raise ValueError(f"--commodity {', '.join(unknown)} is not a commodity of {base_path} ({', '.join(known)})")
            chosen = list(commodity)
        else:
            in_table = commodities_in_table(table_path, known, kind="depot" if depots else "site", sheet=sheet)
            chosen = [c for c in known if c in in_table or c in defaults or c in rations]
            if not chosen and not depots:
                raise ValueError(
                    f"{table_path}: no need column for any commodity of {base_path} ({', '.join(known)}): "
                    "add need_<commodity> or #item+<commodity> columns, or pass --need / --ration"
                )
        if depots:
            nodes = depots_from_table(table_path, commodities=chosen, zone_of=zones, zone_column=zone_column,
                                      id_prefix=id_prefix, attribution=attribution, sheet=sheet)
        else:
            nodes = sites_from_table(table_path, commodities=chosen, zone_of=zones, zone_column=zone_column,
                                     ration=rations or None, default_need=defaults or None, default_severity=severity,
                                     id_prefix=id_prefix, attribution=attribution, sheet=sheet)
        scenario: Scenario = scenario_with_sites(base, nodes, replace=replace)
        if roads is not None:
            from allocate.io.geojson import roads_from_geojson

            if speed_kmh is not None and not speed_kmh > 0:
                raise ValueError(f"--speed-kmh must be positive (value {speed_kmh})")
            new_roads = roads_from_geojson(roads, speed_kmh=speed_kmh, default_risk=default_risk, nodes=scenario, snap_km=snap_km)
            data = scenario.to_dict()
            data["roads"] = [*data["roads"], *new_roads]
            scenario = Scenario.from_dict(data)
    except (AllocateError, ValueError) as exc:
        fail_input(_one_line("import-sites", exc))
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(scenario.to_json(), encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        _write_failed(output, exc)
    kind = "depots" if depots else "sites"
    err_console.print(
        f"{len(nodes)} {kind} from {table_path.name} added to {base.name!r} ({len(scenario.nodes)} nodes); written to {output}",
        highlight=False, soft_wrap=True,
    )
    if roads is not None:
        err_console.print(f"{len(new_roads)} roads from {roads.name} added", highlight=False, soft_wrap=True)
    elif not depots:
        err_console.print("note: new sites have no roads yet: add them before planning, or they are claimed no_path", highlight=False, soft_wrap=True)


@app.command("export")
def export_plan(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario JSON")],
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="plan JSON answering it")],
    geojson: Annotated[Optional[Path], typer.Option("--geojson", help="write the plan (nodes, convoys, roads) as GeoJSON")] = None,
    csv_dir: Annotated[Optional[Path], typer.Option("--csv", help="directory for deliveries.csv, convoys.csv, unmet.csv")] = None,
    hxl: Annotated[bool, typer.Option("--hxl", help="add an HXL hashtag row to the CSV files")] = False,
    png: Annotated[Optional[Path], typer.Option("--png", help="write a map of the plan as PNG")] = None,
    dpi: Annotated[int, typer.Option("--dpi", help="PNG resolution (dots per inch)")] = 150,
) -> None:
    """Export a plan for analysts: GeoJSON for QGIS, CSV tables (optionally HXL), a PNG map."""
    from allocate.plan import load_plan

    if geojson is None and csv_dir is None and png is None:
        _bad_io_input("nothing to export: give --geojson, --csv and/or --png")
    if not 20 <= dpi <= 1200:
        _bad_io_input(f"--dpi must lie between 20 and 1200 (value {dpi})")
    if hxl and csv_dir is None:
        _bad_io_input("--hxl tags the CSV files: give --csv DIR too")
    try:
        scenario = _io_scenario(scenario_path)
        plan_obj = load_plan(plan_path)
        mismatch = _other_scenario(plan_obj, plan_path, scenario, scenario_path)
        if mismatch:
            raise ValueError(mismatch)
        written: list[Path] = []
        if geojson is not None:
            from allocate.io.geojson import plan_to_geojson, write_geojson

            write_geojson(plan_to_geojson(scenario, plan_obj, roads=True), geojson)
            written.append(geojson)
        if csv_dir is not None:
            from allocate.io.csv_hxl import write_plan_csv

            written += write_plan_csv(plan_obj, csv_dir, scenario=scenario, hxl=hxl)
        if png is not None:
            from allocate.io.plots import plot_plan, save_png

            written.append(save_png(plot_plan(scenario, plan_obj), png, dpi=dpi))
    except (AllocateError, ValueError) as exc:
        fail_input(_one_line("export", exc))
    except OSError as exc:
        fail_input(_one_line("export", ValueError(f"cannot write {exc.filename}: {exc.strerror}")))
    err_console.print("written: " + ", ".join(str(p) for p in written), highlight=False, soft_wrap=True)
# ---- end io ----------------------------------------------------------------------------------


@app.command()
def distribute(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="CSV of depot, site, commodity, units")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit")] = 60.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    backend: Annotated[str, typer.Option("--backend", help="highs, pulp or ortools")] = "highs",
    as_json: Annotated[bool, typer.Option("--json", help="print the allocation summary as JSON")] = False,
) -> None:
    """Allocate stock to sites (the distribution MIP alone, before any route is drawn)."""
    from allocate.distribute import distribute as allocate_stock

    scenario = _load_scenario(scenario_path)
    _positive_seconds("--time-limit", time_limit)
    _seed(seed)
    _mip_backend(backend)
    if output is not None:
        _output_path("-o", output, scenario_path)
    try:
        allocation = allocate_stock(scenario, time_limit=time_limit, seed=seed, backend=backend)
    except ValueError as exc:
        fail_input(exc)
    if output is not None:
        try:
            allocation.frame().to_csv(output, index=False)
        except OSError as exc:
            _write_failed(output, exc)
    if as_json:
        typer.echo(json.dumps({"status": allocation.status, "tiers": allocation.tier_values(),
                               "bound": allocation.bound, "explanation": allocation.explanation,
                               "seconds": allocation.seconds, "seed": allocation.seed,
                               "time_limit": allocation.time_limit, "rows": allocation.rows()}, indent=1, default=str))
    else:
        typer.echo(allocation.summary())


@app.command()
def sweep(
    scenario_paths: Annotated[list[Path], typer.Argument(metavar="SCENARIO...", help="scenario JSON files (FORMAT.md §1)")],
    samples: Annotated[int, typer.Option("--samples", help="insecurity samples of each scenario, planned beside it")] = 0,
    road_spread: Annotated[float, typer.Option("--road-spread", help="each road's own log-odds spread of risk")] = 0.5,
    zone_spread: Annotated[float, typer.Option("--zone-spread", help="log-odds spread shared by the roads of a zone")] = 0.5,
    stock: Annotated[Optional[list[float]], typer.Option("--stock", help="also plan with every depot's stock × F (repeat)")] = None,
    fleet: Annotated[Optional[list[float]], typer.Option("--fleet", help="also plan with every fleet count × F, rounded (repeat)")] = None,
    escorts: Annotated[Optional[list[float]], typer.Option("--escorts", help="also plan with every escort count × F, rounded (repeat)")] = None,
    need: Annotated[Optional[list[float]], typer.Option("--need", help="also plan with every site's need × F (repeat)")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="wall-clock limit of each plan, seconds")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="seed of every plan and of the samples")] = 0,
    workers: Annotated[Optional[int], typer.Option("--workers", help="plans at once (default: one per core)")] = None,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="each plan bounded by counted work, as in solve")] = False,
    backend: Annotated[str, typer.Option("--backend", help="MIP back-end: highs, pulp or ortools")] = "highs",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="write the results table as CSV")] = None,
    plans_dir: Annotated[Optional[Path], typer.Option("--plans", help="directory to write each case's scenario and plan")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON rows")] = False,
) -> None:
    """Plan and check many scenarios at once, with Monte-Carlo insecurity samples and resources scaled one at a time: exit 0 if every plan passes the checker, 1 if not."""
    from rich.markup import escape

    from allocate.sweep import insecurity_samples, label_cases, resource_variants, results_frame
    from allocate.sweep import sweep as run_sweep

    scenarios = [_load_scenario(path) for path in scenario_paths]
    _positive_seconds("--time-limit", time_limit)
    _seed(seed)
    _mip_backend(backend)
    for option, value, low in (("--samples", samples, 0), ("--workers", workers, 1)):
        if value is not None and value < low:
            fail_input(ValueError(f"{option} must be at least {low} (value {value})"))
    from allocate.arguments import require_finite

    for option, value in (("--road-spread", road_spread), ("--zone-spread", zone_spread)):
        try:
            require_finite(value, option)
        except ValueError as exc:
            fail_input(exc)
    if output is not None:
        _output_path("-o", output, *scenario_paths)
    if plans_dir is not None and plans_dir.exists() and not plans_dir.is_dir():
        _bad_io_input(f"--plans {plans_dir} is a file: give a directory")
    factors = {name: values for name, values in (("stock", stock), ("fleet", fleet), ("escorts", escorts),
                                                 ("need", need)) if values}
    cases = []
    try:
        for scenario in scenarios:
            cases += [scenario] + insecurity_samples(scenario, samples, seed=seed, road_spread=road_spread,
                                                     zone_spread=zone_spread) + resource_variants(scenario, **factors)
    except ValueError as exc:  # a factor out of range: named with its value
        fail_input(ValueError(f"--{exc}"))
    cases = label_cases(cases)
    stems = _case_file_stems([case.label for case in cases])
    if plans_dir is not None and plans_dir.is_dir():  # a directory still to be made holds no input
        for stem in stems:
            for suffix in (".scenario.json", ".plan.json"):
                _output_path("--plans", plans_dir / f"{stem}{suffix}", *scenario_paths)
    with err_console.status(f"planning {len(cases)} cases...") as status:
        done: list[str] = []

        def progress(result) -> None:
            done.append(result.label)
            status.update(f"planned {len(done)} of {len(cases)} cases (last: {escape(result.label)})")

        results = run_sweep(cases, time_limit=time_limit, seed=seed, workers=workers, deterministic=deterministic,
                            backend=backend, on_result=progress)
    frame = results_frame(results)
    try:
        if output is not None:
            frame.to_csv(output, index=False)
        if plans_dir is not None:
            _write_cases(plans_dir, results, stems)
    except OSError as exc:
        _write_failed(Path(exc.filename or output or plans_dir), exc)
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=1))
    else:
        _render_sweep(frame)
    raise typer.Exit(0 if all(result.ok for result in results) else 1)


def _case_file_stems(labels: list[str]) -> list[str]:
    """A file name of its own for each case: its label with path and shell characters replaced
    (letters of any script kept), numbered where two would meet, on a case-blind disk too."""
    import re

    from allocate.sweep import unique_names

    return unique_names([re.sub(r"[^\w.#~-]+", "_", label).strip(".") or "case" for label in labels], key=str.casefold)


def _write_cases(directory: Path, results, stems: list[str]) -> None:
    """Each case's scenario and plan side by side, so that ``allocate check`` can rerun any of them."""
    directory.mkdir(parents=True, exist_ok=True)
    for result, stem in zip(results, stems):
        result.scenario.save(directory / f"{stem}.scenario.json")
        if result.plan is not None:
            result.plan.save(directory / f"{stem}.plan.json")


def _render_sweep(frame) -> None:
    """One line per case: its check verdict (or error) and headline figures."""
    import pandas as pd
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Sweep", title_justify="left")
    for column in ("case", "status", "check", "coverage", "of bound", "escorted", "max risk", "unmet", "s"):
        table.add_column(column, justify="left" if column in ("case", "status", "check") else "right",
                         overflow="fold" if column == "case" else "ellipsis")
    def cell(value, form: str = "{}") -> str:
        """Blank for a failed case's empty cell (None, NaN or pandas' NA)."""
        return "" if value is None or pd.isna(value) else form.format(value)

    for row in frame.to_dict(orient="records"):
        verdict = "OK" if row["ok"] else escape(cell(row["error"])) or row["violations"]
        table.add_row(escape(row["label"]), row["status"], verdict, cell(row["weighted_coverage"], "{:.1%}"),
                      cell(row["of_bound"], "{:.1%}"), cell(row["escorted_convoys"]),
                      cell(row["max_route_risk"], "{:.3f}"), cell(row["unmet_sites"]), cell(row["seconds"], "{:.1f}"))
    Console().print(table)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except AllocateError as exc:  # a library error that escaped a command: still exit 2, no traceback
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":
    main()
