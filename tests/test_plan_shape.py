"""FORMAT.md §2: a plan of the wrong shape (a missing field, a wrong type, a NaN, a negative
quantity, an unknown status, another format) is invalid input (PlanError, exit 2), not a plan with
violations; fields a library adds of its own are kept on a round trip and ignored by the checker."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from allocate.errors import PlanError
from allocate.plan import Plan, load_plan
from allocate.scenario import Scenario

import fixtures_rules as F


def base() -> dict:
    return F.plan()


def _at(data, path):
    for part in path:
        data = data[part]
    return data


def _jp(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def refused(data) -> PlanError:
    with pytest.raises(PlanError) as info:
        Plan.from_dict(data)
    return info.value


def test_base_plan_is_well_formed():
    p = Plan.from_dict(base())
    assert [c.id for c in p.convoys] == ["C1", "C2", "C3", "C4"]
    assert p.solver.status == "feasible"


# ----- missing fields ---------------------------------------------------------------------
MISSING = [
    ("format",), ("scenario",), ("convoys",), ("unmet",), ("metrics",), ("solver",),
    ("scenario", "name"),
    *[("convoys", 1, key) for key in
      ("id", "organization", "depot", "vehicles", "path", "depart_h", "stops", "return_h", "escort")],
    *[("convoys", 0, "stops", 1, key) for key in ("site", "arrive_h", "unload")],
    ("unmet", 0, "site"), ("unmet", 0, "reason"),
    *[("solver", key) for key in ("status", "objective", "bound", "seconds", "seed", "version")],
]


@pytest.mark.parametrize("path", MISSING, ids=_jp)
def test_missing_field_is_wrong_shape(path):
    data = base()
    del _at(data, path[:-1])[path[-1]]
    err = refused(data)
    assert _jp(path) in [p for p, _ in err.problems]
    assert _jp(path) in str(err)


def test_solver_time_limit_is_optional_and_may_be_a_number_or_null():
    for value in (None, 30, 2.5):
        data = base()
        data["solver"]["time_limit"] = value
        assert Plan.from_dict(data).solver.time_limit == value


# ----- wrong types, NaN, negative quantities ---------------------------------------------------
WRONG = [
    (("format",), "allocate.plan/2"),
    (("format",), "allocate.scenario/1"),
    (("scenario",), "rules-fixture"),
    (("scenario", "name"), 7),
    (("convoys",), {"C1": {}}),
    (("convoys", 0, "id"), 1),
    (("convoys", 0, "vehicles"), ["light"]),
    (("convoys", 0, "vehicles", "light"), "1"),
    (("convoys", 0, "vehicles", "light"), 1.5),
    (("convoys", 0, "vehicles", "light"), -1),
    (("convoys", 0, "path"), "D S6 D S1 D"),
    (("convoys", 0, "path", 1), 6),
    (("convoys", 0, "depart_h"), "0"),
    (("convoys", 0, "depart_h"), math.nan),
    (("convoys", 0, "depart_h"), math.inf),
    (("convoys", 0, "return_h"), None),
    (("convoys", 0, "stops"), {"site": "S6"}),
    (("convoys", 0, "stops", 0, "arrive_h"), math.nan),
    (("convoys", 0, "stops", 0, "arrive_h"), True),
    (("convoys", 0, "stops", 0, "unload"), [10]),
    (("convoys", 0, "stops", 0, "unload", "rice"), -10),
    (("convoys", 0, "stops", 0, "unload", "rice"), math.nan),
    (("convoys", 0, "stops", 0, "unload", "rice"), "10"),
    (("convoys", 1, "escort"), 5),
    (("unmet",), {"S3": "no_path"}),
    (("unmet", 0, "reason"), 3),
    (("metrics",), [1, 2]),
    (("metrics", "cost"), "1144"),
    (("metrics", "cost"), math.nan),
    (("metrics", "delivered_t"), math.inf),
    (("solver",), "feasible"),
    (("solver", "status"), "done"),
    (("solver", "status"), "OPTIMAL"),
    (("solver", "status"), None),
    (("solver", "objective"), True),
    (("solver", "objective"), "12"),
    (("solver", "bound"), False),
    (("solver", "bound"), math.nan),
    (("solver", "seconds"), "0.5"),
    (("solver", "seed"), "42"),
    (("solver", "seed"), 4.5),
    (("solver", "seed"), True),
    (("solver", "version"), 1),
    (("solver", "time_limit"), "30"),
]


@pytest.mark.parametrize("path,value", WRONG, ids=lambda v: _jp(v) if isinstance(v, tuple) else repr(v))
def test_wrong_shape_is_plan_error(path, value):
    data = base()
    _at(data, path[:-1])[path[-1]] = value
    err = refused(data)
    paths = [p for p, _ in err.problems]
    assert any(p == _jp(path) or p.startswith(_jp(path) + ".") or p.startswith(_jp(path) + "[")
               for p in paths), paths


@pytest.mark.parametrize("value", [[], "plan", 3, None])
def test_plan_that_is_not_an_object_is_plan_error(value):
    refused(value)


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_nan_in_an_extra_field_is_refused_or_kept(literal):
    """§2: a NaN makes a plan of the wrong shape; extra fields are kept on a round trip. Either
    reading forbids silently turning the NaN into null."""
    text = json.dumps(base())[:-1] + f', "x_score": {literal}}}'
    try:
        first = Plan.from_json(text)
    except PlanError:
        return
    again = Plan.from_json(first.to_json())
    assert json.dumps(again.to_dict()["x_score"]) == literal


def test_seed_integer_and_null_are_accepted():
    for seed in (0, 12345, None):
        data = base()
        data["solver"]["seed"] = seed
        assert Plan.from_dict(data).solver.seed == seed


@pytest.mark.parametrize("status", ["optimal", "feasible", "infeasible", "time_limit"])
def test_every_status_is_accepted(status):
    data = base()
    data["solver"]["status"] = status
    assert Plan.from_dict(data).solver.status == status


def test_negative_depart_is_a_violation_not_a_wrong_shape():
    data = base()
    F.conv(data, "C1")["depart_h"] = -0.5
    Plan.from_dict(data)  # well formed: TIME_DEPART is the checker's business


def test_other_unmet_reasons_are_information_not_wrong_shape():
    data = base()
    data["unmet"].append({"site": "S6", "reason": "road_washed_out"})
    assert Plan.from_dict(data).unmet[-1].reason == "road_washed_out"


# ----- files --------------------------------------------------------------------------------
def test_unreadable_plan_file_is_plan_error(tmp_path):
    with pytest.raises(PlanError):
        load_plan(tmp_path / "missing.json")


@pytest.mark.parametrize("text", ["{", "", "[]", '{"format": "allocate.plan/1"}', '{"a": NaN}'])
def test_bad_plan_json_is_plan_error(tmp_path, text):
    f = tmp_path / "p.json"
    f.write_text(text)
    with pytest.raises(PlanError):
        load_plan(f)


def test_nan_literal_in_plan_file_is_plan_error(tmp_path):
    text = json.dumps(base()).replace('"depart_h": 3.0', '"depart_h": NaN')
    assert "NaN" in text
    f = tmp_path / "p.json"
    f.write_text(text)
    with pytest.raises(PlanError):
        load_plan(f)


# ----- extra fields of the library's own --------------------------------------------------
def _with_extras(data: dict) -> dict:
    data["x_generated_by"] = "someone else's tool"
    data["library_notes"] = ["kept", {"nested": 1}]
    F.conv(data, "C2")["why_escorted"] = "no unescorted route at or below 0.05 (0.0587)"
    F.conv(data, "C1")["colour"] = "blue"
    F.conv(data, "C1")["stops"][0]["eta_text"] = "00:30"
    data["unmet"][0]["detail"] = {"blocked_by": "ZD"}
    data["solver"]["time_limit"] = 30
    data["solver"]["threads"] = 4
    data["scenario"]["hash"] = "abc"
    data["metrics"]["gini"] = 0.42  # a figure this page does not define: not judged
    return data


def test_extra_fields_are_kept_on_round_trip(tmp_path):
    data = _with_extras(base())
    first = Plan.from_dict(data)
    f = tmp_path / "plan.json"
    f.write_text(first.to_json())
    second = load_plan(f)
    assert second == first
    assert second.to_json() == f.read_text()
    out = json.loads(f.read_text())
    assert out["x_generated_by"] == "someone else's tool"
    assert out["library_notes"] == ["kept", {"nested": 1}]
    assert F.conv(out, "C2")["why_escorted"].startswith("no unescorted")
    assert F.conv(out, "C1")["colour"] == "blue"
    assert F.conv(out, "C1")["stops"][0]["eta_text"] == "00:30"
    assert out["unmet"][0]["detail"] == {"blocked_by": "ZD"}
    assert out["solver"]["threads"] == 4 and out["solver"]["time_limit"] == 30
    assert out["scenario"]["hash"] == "abc"


def test_round_trip_without_extras_is_exact():
    data = base()
    text = Plan.from_dict(data).to_json()
    again = Plan.from_json(text)
    assert again.to_json() == text
    out = json.loads(text)
    for key in ("format", "scenario", "convoys", "unmet"):
        assert out[key] == data[key]
    assert {k: v for k, v in out["solver"].items() if k != "time_limit"} == data["solver"]
    assert out["solver"].get("time_limit") is None
    assert out["metrics"] == pytest.approx(data["metrics"])


def test_extra_fields_are_ignored_by_check():
    from allocate.check import check

    s = Scenario.from_dict(F.scenario())
    plain = check(s, Plan.from_dict(base()))
    extra = check(s, Plan.from_dict(_with_extras(base())))
    assert plain.ok and extra.ok, extra.codes
    assert extra.codes == set()
    assert extra.metrics == plain.metrics


# ----- the command line: wrong shape is exit 2 ---------------------------------------------
class _Result:
    def __init__(self, result):
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = getattr(result, "stderr", "") if _has_stderr(result) else ""
        self.exception = result.exception


def _has_stderr(result) -> bool:
    try:
        result.stderr
    except ValueError:
        return False
    return True


def _run(*args) -> _Result:
    """The ``allocate`` command in-process (a subprocess costs seconds of imports each)."""
    from typer.testing import CliRunner

    from allocate.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _Result(result)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("shape")
    (d / "s.json").write_text(json.dumps(F.scenario()))
    (d / "ok.json").write_text(json.dumps(base()))
    bad = base()
    bad["solver"]["seed"] = "42"
    (d / "seed.json").write_text(json.dumps(bad))
    extras = _with_extras(base())
    (d / "extras.json").write_text(json.dumps(extras))
    return d


def test_cli_exit_codes_for_plan_shape(files: Path):
    ok = _run("check", files / "s.json", files / "ok.json", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    extras = _run("check", files / "s.json", files / "extras.json", "--json")
    assert extras.returncode == 0, extras.stdout + extras.stderr
    bad = _run("check", files / "s.json", files / "seed.json")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "seed" in bad.stderr + bad.stdout
    missing = _run("check", files / "s.json", files / "nowhere.json")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
