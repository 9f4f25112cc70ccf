"""Bad command-line input: exit 2 with one line naming the option and the value, before any
solving and without writing anything; never a traceback (FORMAT.md §4). Also the two ways the
library's API is reached that a newcomer tries first."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

import allocate
from allocate import cli
from allocate.planner import plan

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "tiny.json"
HAND_PLAN = ROOT / "tests" / "data" / "tiny_hand_plan.json"  # a plan answering tiny


def _run(*args: str):
    return CliRunner().invoke(cli.app, list(args))


def _refused(result, *words: str) -> None:
    """Exit 2 (not 1, the code of a traceback), the message naming each of ``words``."""
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_solve_and_distribute_refuse_a_time_limit_that_is_not_a_positive_finite_number(tmp_path: Path, value: str) -> None:
    out = tmp_path / "plan.json"
    _refused(_run("solve", str(TINY), "-o", str(out), "--time-limit", value), "--time-limit", value)
    _refused(_run("distribute", str(TINY), "--time-limit", value), "--time-limit", value)
    assert not out.exists()


def test_solve_refuses_an_unknown_backend_before_solving(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    _refused(_run("solve", str(TINY), "-o", str(out), "--backend", "bogus"), "--backend", "bogus", "highs")
    assert not out.exists()


def test_an_output_in_a_missing_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "no such dir"
    _refused(_run("solve", str(TINY), "-o", str(missing / "p.json")), "-o", "does not exist")
    _refused(_run("distribute", str(TINY), "-o", str(missing / "rows.csv")), "-o", "does not exist")
    _refused(_run("generate", "--sites", "12", "-o", str(missing / "g.json")), "-o", "does not exist")
    _refused(_run("generate", "--sites", "12", "-o", str(tmp_path)), "-o", "is a directory")
    assert not missing.exists()


def test_solve_never_writes_its_plan_over_the_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "crisis.json"
    scenario.write_text(TINY.read_text(encoding="utf-8"), encoding="utf-8")
    before = scenario.read_bytes()
    _refused(_run("solve", str(scenario), "-o", str(tmp_path / "." / "crisis.json")), "-o", "is the input")
    assert scenario.read_bytes() == before


@pytest.mark.parametrize("option", ["--depots", "--commodities", "--parties", "--sites"])
def test_generate_names_the_count_that_is_below_one(tmp_path: Path, option: str) -> None:
    args = ["generate", "--sites", "12", "-o", str(tmp_path / "g.json")]
    args += [option, "0"] if option != "--sites" else []
    if option == "--sites":
        args[2] = "0"
    _refused(_run(*args), option, "0")
    assert not (tmp_path / "g.json").exists()


def test_vrp_says_a_file_is_not_a_vrplib_instance() -> None:
    _refused(_run("vrp", str(TINY)), str(TINY), "VRPLIB")


def test_explain_and_export_refuse_a_plan_for_another_scenario(tmp_path: Path) -> None:
    other = ROOT / "models" / "kosovo_like.json"
    _refused(_run("explain", str(other), str(HAND_PLAN)), "'tiny'", "'kosovo_like'")
    _refused(_run("export", str(other), str(HAND_PLAN), "--csv", str(tmp_path / "csv")), "'tiny'", "'kosovo_like'")
    assert not (tmp_path / "csv").exists()
    explained = _run("explain", str(TINY), str(HAND_PLAN), "--json")
    assert explained.exit_code == 0, explained.output
    assert isinstance(json.loads(explained.stdout), list)


def test_distribute_through_pulp_prints_json_alone() -> None:
    """highspy prints its banner from C as PuLP builds its HiGHS instance, ahead of the JSON."""
    result = _run("distribute", str(TINY), "--backend", "pulp", "--json", "--time-limit", "10")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "optimal"


def test_plan_refuses_a_time_limit_or_backend_it_cannot_keep() -> None:
    scenario = allocate.load_scenario(TINY)
    for value in (math.nan, math.inf, 0, -5, "10"):
        with pytest.raises(ValueError, match="time_limit must be a positive number"):
            plan(scenario, time_limit=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'bogus'"):
        plan(scenario, time_limit=5, backend="bogus")


def test_allocate_distribute_is_the_function_before_and_after_its_module_is_imported() -> None:
    """``allocate.distribute`` is the lazily loaded function and the module's name: once the
    module is imported (the planner does), the attribute is the module. Both forms work."""
    scenario = allocate.load_scenario(TINY)
    importlib.import_module("allocate.distribute")  # binds the module to the attribute

    first = allocate.distribute(scenario, time_limit=10, seed=0)
    second = allocate.distribute.distribute(scenario, time_limit=10, seed=0)
    assert first.status == second.status == "optimal"
    assert first.weighted_coverage == pytest.approx(second.weighted_coverage)
    assert "Any" not in dir(allocate) and "annotations" not in dir(allocate) and "distribute" in dir(allocate)


def test_the_api_names_what_it_takes_when_given_a_dict() -> None:
    data = json.loads(TINY.read_text(encoding="utf-8"))
    with pytest.raises(TypeError, match=r"Scenario\.from_dict"):
        allocate.load_scenario(data)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Plan\.from_dict"):
        allocate.load_plan(json.loads(HAND_PLAN.read_text(encoding="utf-8")))  # type: ignore[arg-type]
    scenario, hand = allocate.load_scenario(TINY), allocate.load_plan(HAND_PLAN)
    with pytest.raises(TypeError, match="takes a Scenario"):
        allocate.check(data, hand)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a Plan"):
        allocate.check(scenario, hand.to_dict())  # type: ignore[arg-type]
    assert allocate.check(scenario, hand).ok


@pytest.mark.parametrize("command", [["solve", "-o", "PLAN"], ["explain"], ["distribute"]])
def test_an_invalid_scenario_is_named_with_its_problems(tmp_path: Path, command: list[str]) -> None:
    broken = tmp_path / "crisis [v2].json"  # brackets: rich markup must not eat the name
    broken.write_text(json.dumps({"format": "allocate.scenario/1", "name": "x"}), encoding="utf-8")
    args = [command[0], str(broken), *[str(tmp_path / "p.json") if a == "PLAN" else a for a in command[1:]]]
    result = _run(*args)
    _refused(result, str(broken), "horizon_h", "required field is missing")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("path", "D1", "convoys[0].path: Input should be a list (value \"D1\")"),
    ("scenario", "tiny", "scenario: Input should be an object (value \"tiny\")"),
])
def test_a_plan_of_the_wrong_json_type_is_told_so_in_json_words(tmp_path: Path, field: str, value: str,
                                                                 words: str) -> None:
    """pydantic's own wording names Python types ("a valid tuple", "instance of ScenarioRef")."""
    data = json.loads(HAND_PLAN.read_text(encoding="utf-8"))
    if field == "path":
        data["convoys"][0]["path"] = value
    else:
        data[field] = value
    broken = tmp_path / "plan.json"
    broken.write_text(json.dumps(data), encoding="utf-8")
    _refused(_run("check", str(TINY), str(broken)), words)
