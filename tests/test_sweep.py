"""Many plans at once (sweep.py): insecurity samples, the sweep on any executor, the command line."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import allocate
from allocate import cli
from allocate.check import check
from allocate.plan import load_plan
from allocate.scenario import Scenario, load_scenario
from allocate.arguments import MAX_SEED
from allocate.sweep import MAX_SAMPLED_RISK, SweepCase, insecurity_samples, results_frame, sweep

TINY = Path(__file__).resolve().parents[1] / "models" / "tiny.json"


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


def _logit(risk: float) -> float:
    return math.log(risk / (1 - risk))


# ----- insecurity samples -------------------------------------------------------------------

def test_samples_move_only_road_risks_and_name_the_copy(tiny: Scenario) -> None:
    samples = insecurity_samples(tiny, 3, seed=7)
    assert [case.label for case in samples] == ["tiny#1", "tiny#2", "tiny#3"]
    base = tiny.to_dict()
    for k, case in enumerate(samples, start=1):
        data = case.scenario.to_dict()
        assert data["name"] == f"tiny [insecurity {k}/3]"
        for road, given in zip(data["roads"], base["roads"]):
            assert {**road, "risk": given["risk"]} == given
        rest = {key: value for key, value in data.items() if key not in ("name", "roads")}
        assert rest == {key: value for key, value in base.items() if key not in ("name", "roads")}
    moved = [r.risk != g.risk for case in samples for r, g in zip(case.scenario.roads, tiny.roads) if g.risk > 0]
    assert all(moved), "every road with a recorded risk gets a draw of its own"


def test_the_same_seed_gives_the_same_samples_and_another_seed_others(tiny: Scenario) -> None:
    risks = lambda seed: [[r.risk for r in case.scenario.roads] for case in insecurity_samples(tiny, 2, seed=seed)]  # noqa: E731
    assert risks(3) == risks(3)
    assert risks(3) != risks(4)


def test_a_road_without_risk_stays_safe_and_none_reaches_one(tiny: Scenario) -> None:
    data = tiny.to_dict()
    data["roads"][0]["risk"] = 0.0
    data["roads"][1]["risk"] = 0.97
    scenario = Scenario.from_dict(data)
    for case in insecurity_samples(scenario, 20, seed=1, road_spread=4.0, zone_spread=4.0):
        assert case.scenario.roads[0].risk == 0.0
        assert all(0.0 <= road.risk <= MAX_SAMPLED_RISK for road in case.scenario.roads)


def test_without_spread_a_sample_is_the_scenario_itself(tiny: Scenario) -> None:
    case = insecurity_samples(tiny, 1, road_spread=0.0, zone_spread=0.0)[0]
    assert [r.risk for r in case.scenario.roads] == [r.risk for r in tiny.roads]


def test_roads_of_one_zone_move_together_under_the_zone_spread(tiny: Scenario) -> None:
    """With the roads' own spread at 0, two roads whose ends lie in the same zones move by the same
    log-odds, whatever their risk."""
    zone_of = {node.id: node.zone for node in tiny.nodes}
    groups: dict[tuple, list[int]] = {}
    for i, road in enumerate(tiny.roads):
        if road.risk > 0:
            groups.setdefault(tuple(sorted((str(zone_of[road.a]), str(zone_of[road.b])))), []).append(i)
    pair = next(indices for indices in groups.values() if len(indices) >= 2)
    case = insecurity_samples(tiny, 1, seed=5, road_spread=0.0, zone_spread=1.0)[0]
    shifts = {round(_logit(case.scenario.roads[i].risk) - _logit(tiny.roads[i].risk), 9) for i in pair}
    assert len(shifts) == 1 and shifts != {0.0}


@pytest.mark.parametrize(
    "kwargs, named",
    [({"samples": -1}, "samples"), ({"samples": 1.5}, "samples"), ({"samples": 1, "road_spread": -0.1}, "road_spread"),
     ({"samples": 1, "zone_spread": float("nan")}, "zone_spread"), ({"samples": 1, "seed": "x"}, "seed")],
)
def test_bad_sampling_arguments_name_the_argument_and_value(tiny: Scenario, kwargs: dict, named: str) -> None:
    samples = kwargs.pop("samples")
    with pytest.raises(ValueError, match=rf"^{named} .*\(value "):
        insecurity_samples(tiny, samples, **kwargs)


# ----- the sweep ----------------------------------------------------------------------------

def test_a_sweep_on_a_process_pool_plans_every_case_and_each_plan_passes_the_checker(tiny: Scenario) -> None:
    cases = [tiny, *insecurity_samples(tiny, 2, seed=1)]
    seen: list[str] = []
    results = sweep(cases, time_limit=4, seed=3, workers=2, on_result=lambda result: seen.append(result.label))
    assert [r.label for r in results] == ["tiny", "tiny#1", "tiny#2"]
    assert sorted(seen) == sorted(r.label for r in results)
    for result, case in zip(results, [SweepCase("tiny", tiny), *cases[1:]]):
        assert result.error is None and result.plan is not None
        assert result.plan.scenario.name == case.scenario.name
        assert check(case.scenario, result.plan).ok, "the independent checker, rerun here, passes the plan"
        assert result.ok and result.violations == ()
        assert result.plan.solver.seed == 3 and result.plan.solver.time_limit == 4
        assert 0 < result.seconds < 4 + 2


def test_any_executor_runs_a_sweep_and_is_left_running(tiny: Scenario) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sweep([tiny, tiny], time_limit=3, executor=pool, deterministic=True)
        assert pool.submit(lambda: 1).result() == 1
    assert [r.label for r in results] == ["tiny", "tiny~2"], "a repeated label is numbered, not lost"
    assert all(r.ok for r in results)
    assert results[0].plan.convoys == results[1].plan.convoys, "deterministic: one seed, one plan"


def test_a_case_that_fails_reports_its_error_and_the_others_still_plan(tiny: Scenario, monkeypatch) -> None:
    from allocate import planner

    real_plan = planner.plan

    def failing_for_samples(scenario, **options):
        if "insecurity" in scenario.name:
            raise RuntimeError("solver crashed")
        return real_plan(scenario, **options)

    monkeypatch.setattr(planner, "plan", failing_for_samples)
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = sweep([tiny, *insecurity_samples(tiny, 1)], time_limit=3, executor=pool)
    assert results[0].ok
    failed = results[1]
    assert failed.plan is None and not failed.ok
    assert "RuntimeError: solver crashed" in failed.error
    rows = results_frame(results)
    assert rows["status"][1] == "error" and rows["error"][1] == failed.error
    assert rows["ok"].tolist() == [True, False]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"time_limit": 0}, r"time_limit .*\(value 0\)"), ({"seed": 1.5}, r"seed .*\(value 1.5\)"),
     ({"threads": 0}, r"threads .*\(value 0\)"), ({"workers": 0}, r"workers .*\(value 0\)"),
     ({"backend": "nope"}, "nope"), ({"wave": False}, "cannot pass on: wave "), ({"started": 0.0}, "started")],
)
def test_bad_sweep_options_fail_at_once_naming_the_value(tiny: Scenario, kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError, allocate.AllocateError), match=message):
        sweep([tiny], **kwargs)


def test_the_package_exports_the_sweep_as_a_function(tiny: Scenario) -> None:
    assert callable(allocate.sweep) and allocate.insecurity_samples is insecurity_samples
    assert allocate.sweep([]) == []


def test_threads_must_be_a_whole_number_of_at_least_one(tiny: Scenario) -> None:
    with pytest.raises(ValueError, match=r"threads .*\(value -2\)"):
        allocate.plan(tiny, time_limit=1, threads=-2)


# ----- the command line ---------------------------------------------------------------------

def test_sweep_command_writes_results_and_checkable_cases(tmp_path: Path) -> None:
    out, plans = tmp_path / "results.csv", tmp_path / "plans"
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--samples", "1", "--time-limit", "3", "--workers", "2",
                                          "-o", str(out), "--plans", str(plans), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["label"] for row in rows] == ["tiny", "tiny#1"] and all(row["ok"] for row in rows)
    assert out.read_text().splitlines()[0].startswith("label,scenario,status,ok,violations,weighted_coverage")
    for label in ("tiny", "tiny#1"):
        scenario = load_scenario(plans / f"{label}.scenario.json")
        assert check(scenario, load_plan(plans / f"{label}.plan.json")).ok


@pytest.mark.parametrize(
    "args, message",
    [(["--samples", "-1"], "--samples must be at least 0 (value -1)"),
     (["--workers", "0"], "--workers must be at least 1 (value 0)"),
     (["--road-spread", "nan"], "--road-spread must be a finite number ≥ 0 (value nan)"),
     (["--time-limit", "0"], "--time-limit"),
     (["--backend", "cplex"], "--backend must be one of"),
     (["-o", str(TINY)], "is the input")],
)
def test_sweep_command_bad_input_exits_2_naming_the_option(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, MAX_SEED), road=st.floats(0, 6), zone=st.floats(0, 6))
def test_every_sample_is_a_valid_scenario_whatever_the_seed_and_spread(tiny: Scenario, seed: int, road: float,
                                                                      zone: float) -> None:
    (case,) = insecurity_samples(tiny, 1, seed=seed, road_spread=road, zone_spread=zone)
    for sampled, given in zip(case.scenario.roads, tiny.roads):
        assert (sampled.risk == 0.0) == (given.risk == 0.0)
        assert 0.0 <= sampled.risk <= MAX_SAMPLED_RISK
    assert Scenario.from_json(case.scenario.to_json()) == case.scenario



def test_unique_names_keep_each_name_and_number_repeats_past_other_names() -> None:
    from allocate.sweep import unique_names

    assert unique_names(["a", "a", "a~2", "b"]) == ["a", "a~3", "a~2", "b"]
    assert unique_names(["a_b", "A_B"], key=str.casefold) == ["a_b", "A_B~2"], "a case-blind disk sees one file"


def test_case_files_get_names_of_their_own_whatever_the_labels() -> None:
    assert cli._case_file_stems(["a b", "a_b", "x/../y", "السودان", ".."]) == ["a_b", "a_b~2", "x_.._y", "السودان", "case"]


# ----- resources scaled one at a time -------------------------------------------------------

def test_resource_variants_scale_one_resource_each_and_round_counts_halves_up(tiny: Scenario) -> None:
    from allocate.sweep import resource_variants

    cases = resource_variants(tiny, need=(2,), escorts=(0.5, 3), stock=(0.25,), fleet=(0.5,))
    assert [c.label for c in cases] == ["tiny@stock×0.25", "tiny@fleet×0.5", "tiny@escorts×0.5", "tiny@escorts×3",
                                        "tiny@need×2"]
    stock, fleet, half_escorts, triple_escorts, need = (c.scenario for c in cases)
    assert stock.name == "tiny [stock × 0.25]"
    for scaled, given in zip(stock.depots, tiny.depots):
        assert dict(scaled.stock) == {c: u * 0.25 for c, u in given.stock.items()}
    assert [f.count for f in fleet.fleet] == [math.floor(f.count * 0.5 + 0.5) for f in tiny.fleet]
    assert [e.count for e in half_escorts.escorts] == [1, 1] and [e.count for e in tiny.escorts] == [2, 1]
    assert [e.count for e in triple_escorts.escorts] == [6, 3]
    for scaled, given in zip(need.sites, tiny.sites):
        assert dict(scaled.need) == {c: u * 2 for c, u in given.need.items()}
    untouched = {key: value for key, value in tiny.to_dict().items() if key not in ("name", "escorts")}
    assert {key: value for key, value in triple_escorts.to_dict().items() if key not in ("name", "escorts")} == untouched


@pytest.mark.parametrize("factors, message", [({"need": (0,)}, r"need factors .* > 0 \(value 0\)"),
                                              ({"escorts": (-1,)}, r"escorts factors .* ≥ 0 \(value -1\)"),
                                              ({"stock": (float("inf"),)}, r"stock factors .*\(value inf\)"),
                                              ({"roads": (2,)}, "not roads")])
def test_resource_variants_refuse_a_factor_out_of_range_naming_it(tiny: Scenario, factors: dict, message: str) -> None:
    from allocate.sweep import resource_variants

    with pytest.raises(ValueError, match=message):
        resource_variants(tiny, **factors)


def test_sweep_command_plans_scaled_resources_beside_the_scenario() -> None:
    result = CliRunner().invoke(cli.app, ["sweep", str(TINY), "--escorts", "0", "--stock", "2", "--time-limit", "3",
                                          "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["label"]: row for row in json.loads(result.stdout)}
    assert list(rows) == ["tiny", "tiny@stock×2", "tiny@escorts×0"]
    assert rows["tiny@escorts×0"]["escorted_convoys"] == 0 and rows["tiny"]["escorted_convoys"] > 0
    assert all(row["ok"] for row in rows.values())

