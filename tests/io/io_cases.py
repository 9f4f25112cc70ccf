"""Shared cases for the io tests (imported by conftest.py and the tests; a unique module name so it
never clashes with another directory's conftest): the tiny sample crisis with a hand-made plan, the FORMAT.md
vectors' scenario and plan-00, the real WFP markets table, and an in-process CLI runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim, load_plan
from allocate.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
VECTORS = ROOT / ".." / "shared" / "vectors"
MARKETS = DATA / "ssd_wfp_markets.csv"
TINY = ROOT / "models" / "tiny.json"
VECTOR_SCENARIO = VECTORS / "scenario.json"
PLAN_00 = VECTORS / "plan-00-valid-two-convoy-plan.json"


@pytest.fixture(scope="session")
def tiny() -> Scenario:
    return load_scenario(TINY)


@pytest.fixture(scope="session")
def tiny_plan(tiny: Scenario) -> Plan:
    """Two unescorted WFP convoys from D1 and one UN-escorted army convoy from D2; S11 claimed no_path."""
    convoys = [
        Convoy(id="c1", organization="wfp", depot="D1", vehicles={"wfp_light_D1": 1}, path=("D1", "S01", "D1"),
               depart_h=0.0, stops=(Stop(site="S01", arrive_h=0.7, unload={"food": 100}),), return_h=2.4, escort=None),
        Convoy(id="c2", organization="wfp", depot="D1", vehicles={"wfp_heavy_D1": 1},
               path=("D1", "S03", "J1", "S04", "J1", "S03", "D1"), depart_h=0.0,
               stops=(Stop(site="S03", arrive_h=0.8, unload={"food": 90, "shelter": 300}),
                      Stop(site="S04", arrive_h=2.7, unload={"food": 150})), return_h=6.0, escort=None),
        Convoy(id="c3", organization="army", depot="D2", vehicles={"army_hired_D2": 1}, path=("D2", "J2", "S06", "J2", "D2"),
               depart_h=7.0, stops=(Stop(site="S06", arrive_h=8.4, unload={"food": 100}),), return_h=12.0, escort="E_un"),
    ]
    unmet = [UnmetClaim(site="S11", reason="no_path"), UnmetClaim(site="S09", reason="not_enough_trucks")]
    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=0.0, seed=None, version="hand")
    return Plan.build(tiny, convoys, unmet, solver)


@pytest.fixture(scope="session")
def vector_scenario() -> Scenario:
    return load_scenario(VECTOR_SCENARIO)


@pytest.fixture(scope="session")
def plan00() -> Plan:
    return load_plan(PLAN_00)


@dataclass
class CliResult:
    code: int
    out: str  # stdout and stderr together

    def one_line_error(self) -> bool:
        lines = [line for line in self.out.splitlines() if line.strip()]
        return len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in self.out


def run_cli(*args: object) -> CliResult:
    """``allocate ARGS`` in-process; an exception other than an exit is a test failure."""
    from typer.testing import CliRunner

    from allocate.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], terminal_width=400)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    out = result.output
    try:
        err = result.stderr
    except ValueError:
        err = ""
    if err and err not in out:
        out += err
    return CliResult(result.exit_code, out)
