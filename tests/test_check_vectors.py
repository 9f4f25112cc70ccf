"""FORMAT.md conformance: every vector of ../shared/vectors, through check() and the CLI.

The vectors are the contract's own examples; the checker conforms when each plan yields exactly
the expected set of codes (and exit status), so these tests compare sets, never messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from allocate.check import RULE_CODES, check
from allocate.cli import app
from allocate.errors import PlanError, ScenarioError
from allocate.plan import load_plan
from allocate.scenario import load_scenario

VECTORS = Path(__file__).parents[1] / ".." / "shared" / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
ANY_PLAN = "plan-00-valid-two-convoy-plan.json"  # checked against an invalid scenario: exit 2

CODED = [e for e in EXPECTED if "codes" in e]
REFUSED = [e for e in EXPECTED if e.get("exit") == 2]


def _id(entry: dict) -> str:
    return (entry["plan"] or entry["scenario"]).split("-")[0] + "-" + (entry["plan"] or entry["scenario"]).split("-")[1]


def _args(entry: dict) -> list[str]:
    return [str(VECTORS / entry["scenario"]), str(VECTORS / (entry["plan"] or ANY_PLAN))]


def test_the_suite_is_whole() -> None:
    assert len(EXPECTED) == 66
    assert len(CODED) == 54 and len(REFUSED) == 12
    every_code = {code for codes in RULE_CODES.values() for code in codes}
    assert set().union(*(set(e["codes"]) for e in CODED)) == every_code


@pytest.mark.parametrize("entry", CODED, ids=_id)
def test_check_gives_the_expected_codes(entry: dict) -> None:
    report = check(load_scenario(VECTORS / entry["scenario"]), load_plan(VECTORS / entry["plan"]))
    assert report.codes == set(entry["codes"]), entry["case"]
    assert report.ok == (not entry["codes"])


@pytest.mark.parametrize("entry", REFUSED, ids=_id)
def test_invalid_input_is_refused_by_the_readers(entry: dict) -> None:
    with pytest.raises((ScenarioError, PlanError)):
        load_scenario(VECTORS / entry["scenario"])
        load_plan(VECTORS / (entry["plan"] or ANY_PLAN))


@pytest.mark.parametrize("entry", EXPECTED, ids=_id)
def test_cli_agrees_with_every_vector(entry: dict) -> None:
    result = CliRunner().invoke(app, ["check", *_args(entry), "--json"])
    if entry.get("exit") == 2:
        assert result.exit_code == 2, result.output
        return
    assert result.exit_code == (1 if entry["codes"] else 0), result.output
    out = json.loads(result.stdout)
    assert {v["code"] for v in out["violations"]} == set(entry["codes"])


SUBPROCESS = [
    next(e for e in CODED if not e["codes"]),
    next(e for e in CODED if "ESCORT_BUSY" in e["codes"]),
    next(e for e in REFUSED if e["plan"] is not None),
]  # a handful: every vector already runs in-process through the same typer app above


@pytest.mark.parametrize("entry", SUBPROCESS, ids=_id)
def test_installed_command_agrees(entry: dict) -> None:
    """The real process: exit status and JSON on stdout, no traceback on stderr."""
    run = subprocess.run(
        [sys.executable, "-m", "allocate.cli", "check", *_args(entry), "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert "Traceback" not in run.stderr
    if entry.get("exit") == 2:
        assert run.returncode == 2 and run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1
        return
    assert run.returncode == (1 if entry["codes"] else 0)
    assert {v["code"] for v in json.loads(run.stdout)["violations"]} == set(entry["codes"])
