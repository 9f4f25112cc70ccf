"""Independent tests of allocate.sweep and `allocate sweep`, written from the docstrings, README.md
and DESIGN.md ("Many scenarios at once"), not from the implementation.

One real sweep on the default (spawn) process pool is run once per module; the other library tests
use a ThreadPoolExecutor or a hand-made Executor and a stand-in ``planner.plan`` that hands back
those real plans (so they are fast, yet every plan still goes through the real checker).
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from allocate import cli, planner
from allocate.check import check
from allocate.plan import Plan, load_plan
from allocate.scenario import Scenario, load_scenario
from allocate.sweep import MAX_SAMPLED_RISK, SweepCase, SweepResult, insecurity_samples, results_frame, sweep

TINY = Path(__file__).resolve().parents[1] / "models" / "tiny.json"
SEED = 5  # the plans' seed in the module's real sweep
SAMPLE_SEED = 1  # the samples' seed
sweep_module = importlib.import_module("allocate.sweep")  # `allocate.sweep` itself is the re-exported function


def _logit(risk: float) -> float:
    return math.log(risk / (1.0 - risk))


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


@pytest.fixture(scope="module")
def samples(tiny: Scenario) -> list[SweepCase]:
    return insecurity_samples(tiny, 2, seed=SAMPLE_SEED)


@pytest.fixture(scope="module")
def real(tiny: Scenario, samples: list[SweepCase]) -> list[SweepResult]:
    """One real sweep on the default process pool ("spawn": cases and plans cross processes)."""
    return sweep([tiny, *samples], time_limit=2, seed=SEED, workers=2)


@pytest.fixture(scope="module")
def plans_by_name(real: list[SweepResult]) -> dict[str, Plan]:
    assert all(r.plan is not None for r in real), [r.error for r in real]
    return {r.plan.scenario.name: r.plan for r in real}


def _renamed(plan: Plan, name: str) -> Plan:
    data = plan.to_dict()
    data["scenario"]["name"] = name
    return Plan.from_dict(data)


def _broken(plan: Plan) -> Plan:
    """The plan with its first convoy's unloads multiplied by 1000: far past any truck and stock."""
    data = plan.to_dict()
    for stop in data["convoys"][0]["stops"]:
        stop["unload"] = {k: v * 1000 for k, v in stop["unload"].items()}
    return Plan.from_dict(data)


def _stand_in(monkeypatch, fake) -> None:
    """``planner.plan`` replaced by ``fake``, keeping plan()'s signature (the sweep checks options against it)."""
    monkeypatch.setattr(planner, "plan", functools.wraps(planner.plan)(fake))


class _SyncExecutor(Executor):
    """An Executor of its own (not a stdlib pool): runs each job at submit; ``fail_at`` submissions
    come back as a worker that died."""

    def __init__(self, fail_at: set[int] = frozenset()):
        self.fail_at, self.submitted = set(fail_at), 0

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        if self.submitted in self.fail_at:
            future.set_exception(RuntimeError("worker process died"))
        else:
            future.set_result(fn(*args, **kwargs))
        self.submitted += 1
        return future


# ----- insecurity samples -------------------------------------------------------------------------

def _rich_tiny() -> Scenario:
    """tiny with the user's own ``x_`` keys everywhere, names, notes, and a junction without a zone."""
    data = json.loads(TINY.read_text())
    data["x_source"] = {"who": "OCHA field team", "date": "2024-05-01"}
    data["nodes"][0]["x_pcode"] = "SD0101"
    data["roads"][3]["x_incidents"] = [{"date": "2024-04-30", "kind": "checkpoint"}]
    data["roads"][8]["x_confidence"] = "low"
    data["roads"][8]["name"] = "front-line road"
    data["commodities"][0]["x_cluster"] = "food security"
    data["nodes"][2]["zone"] = None  # J1: roads S03-J1, J1-S04 (one end zoned) and J1-J2
    return Scenario.from_dict(data)


def test_samples_keep_every_field_but_road_risks_and_the_users_x_keys() -> None:
    scenario = _rich_tiny()
    base = scenario.to_dict()
    cases = insecurity_samples(scenario, 3, seed=11)
    assert len(cases) == 3
    for k, case in enumerate(cases, start=1):
        data = case.scenario.to_dict()
        assert data["name"] == f"{scenario.name} [insecurity {k}/3]"
        assert data["x_source"] == base["x_source"]
        assert data["nodes"] == base["nodes"] and data["commodities"] == base["commodities"]
        assert len(data["roads"]) == len(base["roads"])
        for road, given in zip(data["roads"], base["roads"]):
            assert {key: v for key, v in road.items() if key != "risk"} == {key: v for key, v in given.items() if key != "risk"}
        assert data["roads"][3]["x_incidents"] == [{"date": "2024-04-30", "kind": "checkpoint"}]
        assert {key: v for key, v in data.items() if key not in ("name", "roads")} == \
            {key: v for key, v in base.items() if key not in ("name", "roads")}
        # valid: it survives the format's own round trip, every risk in [0, 1) and 0 kept at 0
        assert Scenario.from_json(case.scenario.to_json()) == case.scenario
        for road, given in zip(case.scenario.roads, scenario.roads):
            assert 0.0 <= road.risk <= MAX_SAMPLED_RISK < 1.0
            assert (road.risk == 0.0) == (given.risk == 0.0)


def test_no_samples_is_an_empty_list(tiny: Scenario) -> None:
    assert insecurity_samples(tiny, 0, seed=3) == []


def test_samples_are_reproducible_by_seed_whatever_the_global_random_state(tiny: Scenario) -> None:
    np.random.seed(1)
    first = insecurity_samples(tiny, 3, seed=42)
    np.random.seed(999)
    np.random.random(10)
    again = insecurity_samples(tiny, 3, seed=42)
    assert [c.label for c in first] == [c.label for c in again]
    assert [c.scenario.to_json() for c in first] == [c.scenario.to_json() for c in again]
    other = insecurity_samples(tiny, 3, seed=43)
    assert [c.scenario.roads for c in other] != [c.scenario.roads for c in first]
    assert len({tuple(r.risk for r in c.scenario.roads) for c in first}) == 3, "each sample draws anew"


def test_a_road_with_one_zoneless_end_moves_by_half_its_zones_draw() -> None:
    """Docstring: z is the mean of the draws of the zones at the two ends; an end without a zone adds 0."""
    scenario = _rich_tiny()
    index = {(r.a, r.b): i for i, r in enumerate(scenario.roads)}
    (case,) = insecurity_samples(scenario, 1, seed=4, road_spread=0.0, zone_spread=1.0)

    def shift(a: str, b: str) -> float:
        i = index[(a, b)]
        return _logit(case.scenario.roads[i].risk) - _logit(scenario.roads[i].risk)

    both_in_zg = shift("D1", "S03")  # Zg - Zg
    assert abs(both_in_zg) > 1e-6
    assert shift("S03", "J1") == pytest.approx(both_in_zg / 2, abs=1e-9)  # Zg - (none)
    assert shift("J1", "S04") == pytest.approx(both_in_zg / 2, abs=1e-9)
    both_in_zc = shift("J2", "S05")  # Zc - Zc
    assert shift("J1", "J2") == pytest.approx(both_in_zc / 2, abs=1e-9)  # (none) - Zc
    assert shift("D2", "J2") == pytest.approx((both_in_zg + both_in_zc) / 2, abs=1e-9)  # Zg - Zc


@pytest.mark.parametrize("road_spread, zone_spread", [(0.5, 0.0), (0.0, 0.8)])
def test_the_spreads_are_the_standard_deviations_of_the_log_odds_shift(tiny: Scenario, road_spread: float,
                                                                       zone_spread: float) -> None:
    """logit(r') = logit(r) + z + e: e ~ N(0, road_spread); for a road with both ends in one zone z is
    that zone's draw ~ N(0, zone_spread). 300 samples: the sample sd is within ±15 % (≈ 4 standard errors)."""
    i = next(i for i, r in enumerate(tiny.roads) if (r.a, r.b) == ("D1", "S03"))  # Zg - Zg, risk 0.005
    shifts = [_logit(c.scenario.roads[i].risk) - _logit(tiny.roads[i].risk)
              for c in insecurity_samples(tiny, 300, seed=21, road_spread=road_spread, zone_spread=zone_spread)]
    assert float(np.std(shifts)) == pytest.approx(road_spread + zone_spread, rel=0.15)
    assert abs(float(np.mean(shifts))) < 0.25 * (road_spread + zone_spread), "centred on the recorded risk"


def test_a_negative_sampling_seed_is_refused_naming_seed(tiny: Scenario) -> None:
    with pytest.raises(ValueError, match=r"seed .*\(value -1\)"):
        insecurity_samples(tiny, 1, seed=-1)


# ----- the sweep: real plans on the default process pool -------------------------------------------

def test_a_process_pool_sweep_answers_each_case_in_order_and_every_plan_passes_the_checker(
        tiny: Scenario, samples: list[SweepCase], real: list[SweepResult]) -> None:
    cases = [SweepCase(tiny.name, tiny), *samples]
    assert [r.label for r in real] == [c.label for c in cases] == ["tiny", "tiny#1", "tiny#2"]
    for result, case in zip(real, cases):
        assert result.error is None and result.plan is not None, result.error
        assert result.scenario == case.scenario
        assert result.plan.scenario.name == case.scenario.name, "the plan answers its own case"
        report = check(case.scenario, result.plan)
        assert report.ok, report.violations
        assert result.ok and result.violations == ()
        assert result.plan.solver.seed == SEED and result.plan.solver.time_limit == 2
        assert 0 < result.seconds <= 2 + 1.5, "a case's own time, within its time limit"
    assert len({r.plan.to_json() for r in real}) == 3


def test_results_frame_has_one_row_per_case_with_the_plans_own_figures(real: list[SweepResult]) -> None:
    frame = results_frame(real)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    assert frame["label"].tolist() == [r.label for r in real]
    assert frame["scenario"].tolist() == [r.scenario.name for r in real]
    assert frame["ok"].tolist() == [True, True, True]
    for (_, row), result in zip(frame.iterrows(), real):
        assert row["weighted_coverage"] == pytest.approx(result.plan.metrics["weighted_coverage"])
        assert row["bound"] == pytest.approx(result.plan.solver.bound)
        assert row["of_bound"] == pytest.approx(row["weighted_coverage"] / row["bound"])
        assert row["convoys"] == len(result.plan.convoys)
        assert row["unmet_sites"] == len(result.plan.unmet)
        assert row["seed"] == SEED and row["time_limit"] == 2 and row["status"] == result.plan.solver.status
    assert results_frame([]).empty


# ----- the sweep on other executors (stand-in planner returning the real plans) -------------------

def test_results_come_back_in_case_order_whatever_order_they_finish_in(
        tiny: Scenario, samples: list[SweepCase], plans_by_name: dict[str, Plan], monkeypatch) -> None:
    delay = {tiny.name: 0.8, samples[0].scenario.name: 0.4, samples[1].scenario.name: 0.0}

    def slow_plan(scenario, **options):
        time.sleep(delay[scenario.name])
        return plans_by_name[scenario.name]

    _stand_in(monkeypatch, slow_plan)
    finished: list[str] = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = sweep([tiny, *samples], time_limit=2, executor=pool, on_result=lambda r: finished.append(r.label))
    assert finished == ["tiny#2", "tiny#1", "tiny"], "on_result: in the order cases finish"
    assert [r.label for r in results] == ["tiny", "tiny#1", "tiny#2"]
    assert [r.plan.scenario.name for r in results] == [tiny.name, *(c.scenario.name for c in samples)]
    assert [r.scenario.name for r in results] == [r.plan.scenario.name for r in results]
    assert all(r.ok for r in results)


def test_a_cases_seconds_is_its_own_time_not_its_wait(tiny: Scenario, plans_by_name: dict[str, Plan],
                                                      monkeypatch) -> None:
    def plan_in_half_a_second(scenario, **options):
        time.sleep(0.5)
        return _renamed(plans_by_name[tiny.name], scenario.name)

    _stand_in(monkeypatch, plan_in_half_a_second)
    cases = [SweepCase(f"c{i}", tiny) for i in range(4)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = sweep(cases, time_limit=2, executor=pool)
    assert all(0.45 <= r.seconds < 1.2 for r in results), [r.seconds for r in results]


def test_the_sweep_hands_each_plan_its_limit_seed_threads_and_options(tiny: Scenario, plans_by_name: dict[str, Plan],
                                                                      monkeypatch) -> None:
    seen: list[dict] = []
    lock = threading.Lock()

    def recording_plan(scenario, **options):
        with lock:
            seen.append(options)
        return plans_by_name[tiny.name]

    _stand_in(monkeypatch, recording_plan)
    with ThreadPoolExecutor(max_workers=2) as pool:
        sweep([tiny, tiny], time_limit=3.5, seed=9, executor=pool, deterministic=True, backend="highs")
        sweep([tiny], time_limit=1, executor=pool, threads=None)
        sweep([tiny], time_limit=1, executor=pool, threads=2)
    expected = {"time_limit": 3.5, "seed": 9, "threads": 1, "deterministic": True, "backend": "highs"}
    assert seen[:2] == [expected, expected], "one solver thread per plan by default"
    assert seen[2]["threads"] is None and seen[3]["threads"] == 2


def test_a_plan_that_fails_the_checker_is_not_ok_and_names_the_checkers_codes(
        tiny: Scenario, samples: list[SweepCase], plans_by_name: dict[str, Plan], monkeypatch) -> None:
    bad_name = samples[0].scenario.name
    broken = _broken(plans_by_name[bad_name])
    expected_codes = {v.code for v in check(samples[0].scenario, broken).violations}
    assert expected_codes, "the broken plan really breaks a rule"
    _stand_in(monkeypatch, lambda scenario, **o: broken if scenario.name == bad_name
                        else plans_by_name[scenario.name])
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sweep([tiny, *samples], time_limit=2, executor=pool)
    assert [r.ok for r in results] == [True, False, True]
    failed = results[1]
    assert failed.plan is not None and failed.error is None
    assert set(failed.violations) == expected_codes
    assert len(failed.violations) == len(set(failed.violations)), "each code once"
    row = results_frame(results).iloc[1]
    assert not row["ok"] and set(row["violations"].split()) == expected_codes


def test_a_dead_worker_costs_only_its_own_case_on_any_executor(tiny: Scenario, samples: list[SweepCase],
                                                               plans_by_name: dict[str, Plan], monkeypatch) -> None:
    _stand_in(monkeypatch, lambda scenario, **o: plans_by_name[scenario.name])
    results = sweep([tiny, *samples], time_limit=2, executor=_SyncExecutor(fail_at={1}))
    assert [r.label for r in results] == ["tiny", "tiny#1", "tiny#2"]
    assert results[0].ok and results[2].ok
    dead = results[1]
    assert dead.plan is None and not dead.ok and "worker process died" in dead.error
    row = results_frame(results).iloc[1]
    assert row["status"] == "error" and not row["ok"] and "worker process died" in row["error"]


def test_every_case_keeps_a_label_of_its_own(tiny: Scenario, plans_by_name: dict[str, Plan], monkeypatch) -> None:
    _stand_in(monkeypatch, lambda scenario, **o: plans_by_name[tiny.name])
    cases = [SweepCase("a", tiny), SweepCase("a", tiny), SweepCase("a~2", tiny)]
    results = sweep(cases, time_limit=2, executor=_SyncExecutor())
    labels = [r.label for r in results]
    assert len(set(labels)) == 3, labels


def test_plans_with_different_threads_in_one_thread_both_solve(tiny: Scenario) -> None:
    """plan(threads=2), then a sweep on an executor that runs jobs in the caller's thread (threads=1):
    one of the two thread counts differs from this thread's HiGHS scheduler, whatever ran before here."""
    first = planner.plan(tiny, time_limit=2, threads=2)
    (result,) = sweep([tiny], time_limit=2, executor=_SyncExecutor())
    for plan in (first, result.plan):
        assert plan.solver.status != "infeasible" and plan.solver.bound is not None, plan.solver


@pytest.mark.parametrize("seed", [-1, 2**31])
def test_a_seed_the_planner_cannot_take_fails_at_once_naming_seed(tiny: Scenario, seed: int) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(ValueError, match=rf"seed .*\(value {seed}\)"):
            sweep([tiny], time_limit=2, seed=seed, executor=pool)


# ----- the command line ---------------------------------------------------------------------------

def _scenario_file(tmp_path: Path, name: str) -> Path:
    data = json.loads(TINY.read_text())
    data["name"] = name
    path = tmp_path / f"{abs(hash(name))}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_cli_sweep_writes_results_and_case_files_that_allocate_check_passes(tmp_path: Path) -> None:
    east = _scenario_file(tmp_path, "tiny-east")
    out, plans = tmp_path / "results.csv", tmp_path / "cases"
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), str(east), "--samples", "1", "--time-limit", "2",
                                          "--workers", "2", "--seed", "3", "-o", str(out), "--plans", str(plans),
                                          "--json"])
    assert result.exit_code == 0, result.output
    labels = ["tiny", "tiny#1", "tiny-east", "tiny-east#1"]
    rows = json.loads(result.stdout)
    assert [row["label"] for row in rows] == labels, "cases in the order given: each scenario, then its samples"
    assert [row["scenario"] for row in rows] == ["tiny", "tiny [insecurity 1/1]", "tiny-east",
                                                 "tiny-east [insecurity 1/1]"]
    assert all(row["ok"] for row in rows) and all(row["seed"] == 3 for row in rows)
    frame = pd.read_csv(out)
    assert frame["label"].tolist() == labels and frame["ok"].tolist() == [True] * 4
    runner = CliRunner()
    for row in rows:
        scenario_file, plan_file = plans / f"{row['label']}.scenario.json", plans / f"{row['label']}.plan.json"
        assert load_scenario(scenario_file).name == row["scenario"]
        plan = load_plan(plan_file)
        assert plan.scenario.name == row["scenario"]
        assert plan.metrics["weighted_coverage"] == pytest.approx(row["weighted_coverage"])
        checked = runner.invoke(cli.app, ["check", str(scenario_file), str(plan_file)])
        assert checked.exit_code == 0, checked.output
    # the sample written is the sample planned: its risks are those insecurity_samples draws for --seed
    (drawn,) = insecurity_samples(load_scenario(east), 1, seed=3)
    assert load_scenario(plans / "tiny-east#1.scenario.json") == drawn.scenario


def _sweep_on_threads(monkeypatch) -> None:
    """The command's sweep on a ThreadPoolExecutor, so that a stand-in planner reaches its workers."""
    real_sweep = sweep_module.sweep

    def on_threads(cases, **kwargs):
        kwargs.pop("workers", None)
        with ThreadPoolExecutor(max_workers=2) as pool:
            return real_sweep(cases, executor=pool, **kwargs)

    monkeypatch.setattr(sweep_module, "sweep", on_threads)


def test_cli_sweep_exits_1_when_a_plan_fails_the_checker(tmp_path: Path, samples: list[SweepCase],
                                                         plans_by_name: dict[str, Plan], monkeypatch) -> None:
    """The planner's plans pass the checker, so the command cannot be brought to exit 1 from its
    own input: a stand-in planner hands back one broken plan."""
    bad_name = samples[1].scenario.name
    _sweep_on_threads(monkeypatch)
    _stand_in(monkeypatch, lambda scenario, **o: _broken(plans_by_name[scenario.name])
                        if scenario.name == bad_name else plans_by_name[scenario.name])
    plans = tmp_path / "cases"
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--samples", "2", "--seed", str(SAMPLE_SEED),
                                          "--time-limit", "2", "--plans", str(plans), "--json"])
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [(row["label"], row["ok"]) for row in rows] == [("tiny", True), ("tiny#1", True), ("tiny#2", False)]
    assert rows[2]["violations"]
    checked = CliRunner().invoke(cli.app, ["check", str(plans / "tiny#2.scenario.json"), str(plans / "tiny#2.plan.json")])
    assert checked.exit_code == 1, "the files written reproduce the failure for allocate check"


def test_cli_sweep_table_names_each_case_and_its_verdict(tmp_path: Path, samples: list[SweepCase],
                                                         plans_by_name: dict[str, Plan], monkeypatch) -> None:
    _sweep_on_threads(monkeypatch)
    _stand_in(monkeypatch, lambda scenario, **o: plans_by_name[scenario.name])
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--samples", "2", "--seed", str(SAMPLE_SEED),
                                          "--time-limit", "2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "tiny" in line]
    assert [line.split()[1] for line in lines] == ["tiny", "tiny#1", "tiny#2"]
    assert all("OK" in line for line in lines)


def test_cli_plans_dir_keeps_a_file_pair_per_case_whatever_the_names(tmp_path: Path, plans_by_name: dict[str, Plan],
                                                                    monkeypatch) -> None:
    names = ["السودان", "اليمن"]  # Sudan, Yemen
    files = [_scenario_file(tmp_path, name) for name in names]
    _sweep_on_threads(monkeypatch)
    _stand_in(monkeypatch, lambda scenario, **o: _renamed(plans_by_name["tiny"], scenario.name))
    plans = tmp_path / "cases"
    result = CliRunner().invoke(cli.app, ["sweep", *map(str, files), "--time-limit", "2", "--plans", str(plans),
                                          "--json"])
    assert result.exit_code == 0, result.output
    written = sorted(load_scenario(p).name for p in plans.glob("*.scenario.json"))
    assert written == sorted(names)
    assert len(list(plans.glob("*.plan.json"))) == 2


@pytest.mark.parametrize(
    "args, option, value",
    [(["--zone-spread", "inf"], "--zone-spread", "inf"),
     (["--zone-spread", "-0.5"], "--zone-spread", "-0.5"),
     (["--road-spread", "-1"], "--road-spread", "-1"),
     (["--time-limit", "-3"], "--time-limit", "-3"),
     (["--workers", "-2"], "--workers", "-2"),
     (["--backend", "gurobi"], "--backend", "gurobi")],
)
def test_cli_bad_input_exits_2_naming_option_and_value(args: list[str], option: str, value: str) -> None:
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert option in text and value in text


def test_cli_plans_that_is_a_file_or_a_missing_scenario_exits_2(tmp_path: Path) -> None:
    a_file = tmp_path / "notadir"
    a_file.write_text("x")
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--plans", str(a_file)])
    assert result.exit_code == 2 and "--plans" in result.output and str(a_file) in " ".join(result.output.split())
    missing = tmp_path / "nowhere.json"
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), str(missing)])
    assert result.exit_code == 2 and "nowhere.json" in result.output


def test_cli_negative_seed_exits_2_naming_seed() -> None:
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--samples", "1", "--seed", "-1"])
    assert result.exit_code == 2, (result.exit_code, repr(result.exception))
    assert "--seed" in result.output and "-1" in result.output
