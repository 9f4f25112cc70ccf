"""``allocate check``: exit codes, JSON shape and bad input (FORMAT.md §4), plus the Report API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from allocate.check import Report, Violation, check
from allocate.cli import app
from allocate.plan import METRIC_NAMES, load_plan
from allocate.scenario import load_scenario

VECTORS = Path(__file__).parents[1] / ".." / "shared" / "vectors"
SCENARIO = VECTORS / "scenario.json"
VALID = VECTORS / "plan-00-valid-two-convoy-plan.json"
BROKEN = VECTORS / "plan-16-gov-escort-into-the-armed-group-s-zone.json"  # ESCORT_BUSY, PARTY_ESCORT


def run(*args: str):
    return CliRunner().invoke(app, ["check", *map(str, args)])


def test_valid_plan_exits_0_with_a_human_report() -> None:
    result = run(SCENARIO, VALID)
    assert result.exit_code == 0
    assert "OK" in result.stdout and "weighted_coverage" in result.stdout


def test_broken_plan_exits_1_and_names_each_code_and_subject() -> None:
    result = run(SCENARIO, BROKEN)
    assert result.exit_code == 1
    for text in ("ESCORT_BUSY", "PARTY_ESCORT", "E1"):
        assert text in result.stdout


def test_json_is_one_object_of_the_documented_shape() -> None:
    result = run(SCENARIO, BROKEN, "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert set(out) == {"ok", "violations", "metrics"} and out["ok"] is False
    for v in out["violations"]:
        assert set(v) == {"code", "subject", "message", "measured", "allowed"}
        assert isinstance(v["message"], str) and v["message"]
    busy = next(v for v in out["violations"] if v["code"] == "ESCORT_BUSY")
    assert busy["subject"] == "E1" and busy["measured"] == 2 and busy["allowed"] == 1
    assert set(out["metrics"]) == set(METRIC_NAMES)


def test_json_of_a_valid_plan() -> None:
    result = run(SCENARIO, VALID, "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["violations"] == []
    assert out["metrics"]["cost"] == pytest.approx(1060.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: (tmp / "missing.json", VALID),  # unreadable scenario
        lambda tmp: (SCENARIO, tmp / "missing.json"),  # unreadable plan
        lambda tmp: (SCENARIO, _write(tmp / "bad.json", "{not json")),  # bad JSON
        lambda tmp: (_write(tmp / "bad.json", "[1, 2"), VALID),
        lambda tmp: (SCENARIO, _write(tmp / "list.json", "[]")),  # JSON, but not an object
        lambda tmp: (SCENARIO, _write(tmp / "other.json", json.dumps({**_plan(), "format": "other/1"}))),
        lambda tmp: (SCENARIO, _write(tmp / "nan.json", json.dumps({**_plan(), "convoys": "x"}))),
        lambda tmp: (VECTORS / "invalid-01-a-misspelt-max-weight-unknown-key-on-the-bridge-ro.json", VALID),
        lambda tmp: (SCENARIO, SCENARIO),  # a scenario where a plan belongs
    ],
    ids=["no-scenario", "no-plan", "bad-json-plan", "bad-json-scenario", "not-object", "format", "shape", "invalid-scenario", "swapped"],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path: Path, make) -> None:
    scenario, plan = make(tmp_path)
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["check", str(scenario), str(plan), *extra])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "error" in result.stderr


def test_nan_in_a_plan_is_invalid_input(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace('"depart_h": 3.0', '"depart_h": NaN', 1)
    assert run(SCENARIO, _write(tmp_path / "nan.json", text)).exit_code == 2


def test_report_api() -> None:
    report = check(load_scenario(SCENARIO), load_plan(BROKEN))
    assert isinstance(report, Report) and not report.ok
    assert report.codes == {"ESCORT_BUSY", "PARTY_ESCORT"}
    assert all(isinstance(v, Violation) for v in report.violations)
    assert report.violations[0].code in report.codes
    assert "ESCORT_BUSY" in report.summary()
    assert report.to_dict()["ok"] is False
    with pytest.raises(AttributeError):
        report.violations = ()  # type: ignore[misc]
    clean = check(load_scenario(SCENARIO), load_plan(VALID))
    assert clean.ok and clean.codes == set() and "OK" in clean.summary()


def _plan() -> dict:
    return json.loads(VALID.read_text(encoding="utf-8"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
