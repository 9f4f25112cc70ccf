"""Smoke test of the issue-6 benchmark scripts on tiny inputs, so they cannot rot (< 20 s)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_crises  # noqa: E402
import bench_scaling  # noqa: E402
import bench_sweep  # noqa: E402
import bench_time_limit  # noqa: E402
import bench_waves  # noqa: E402
import gap_breakdown  # noqa: E402
import numpy as np  # noqa: E402

import fixtures_rules  # noqa: E402
from allocate.access import AccessFacts  # noqa: E402
from allocate.distribute import _RoadArrays, distribute  # noqa: E402
from allocate.planner import plan  # noqa: E402
from allocate.scenario import Scenario  # noqa: E402


def test_bench_crises_core_on_tiny() -> None:
    """run_crisis on models/tiny.json: every field, a checked plan, the greedy baseline beside it."""
    row = bench_crises.run_crisis(BENCH.parent / "models" / "tiny.json", time_limit=1.5, seed=0)
    assert set(row) == set(bench_crises.ROW_FIELDS)
    assert row["crisis"] == "tiny" and row["sites"] == 12
    assert row["check_ok"], row["codes"]
    assert row["greedy_check_ok"]
    assert row["plan_s"] > 0 and row["peak_rss_mb"] > 0
    assert 0.0 <= row["weighted_coverage"] <= 1.0
    if row["bound"]:
        assert row["coverage_over_bound"] == pytest.approx(row["weighted_coverage"] / row["bound"])
    assert row["escorted"] <= row["convoys"]
    table = bench_crises.markdown_table([row])
    assert "| tiny | 12 |" in table
    assert bench_crises.verdicts([row])


def test_bench_time_limit_row_on_a_generated_crisis() -> None:
    """run_one on 40 generated sites: the wall time beside its limit, a checked plan."""
    row = bench_time_limit.run_one("gen:40", 3.0, seed=0)
    assert row["scenario"] == "gen:40" and row["limit"] == 3.0 and row["check_ok"]
    assert row["over_limit"] == pytest.approx(row["wall_s"] / 3.0, abs=0.01)
    assert set(row["stage_seconds"]) >= {"distribute", "route", "escorts", "repair"}
    assert 0.0 < row["weighted_coverage"] <= 1.0


def test_bench_scaling_core_on_30_generated_sites() -> None:
    """run_size on a 30-site generated crisis: every stage timed and measured, and the plan checks."""
    row = bench_scaling.run_size(30, seed=0, distribution_limit=1.5, routing_limit=1.5, escorts_limit=1.5)
    assert set(row) == set(bench_scaling.ROW_FIELDS)
    assert row["sites"] == 30
    assert row["check_ok"], row["codes"]
    for stage in bench_scaling.STAGES:
        assert row[f"{stage}_s"] >= 0 and row[f"{stage}_peak_mb"] > 0 and row[f"{stage}_delta_mb"] >= 0
    rows = [row, dict(row, sites=60, **{f"{s}_s": 2 * row[f"{s}_s"] + 1e-6 for s in bench_scaling.STAGES})]
    fits = bench_scaling.fit_exponents(rows)
    assert set(fits) == set(bench_scaling.STAGES)
    assert all(fit is not None for fit in fits.values())
    assert "exponent b" in bench_scaling.markdown_tables(rows, fits)


def test_bench_waves_on_tiny_schedules_at_least_what_the_greedy_does() -> None:
    """run on models/tiny.json: CP-SAT waves never below the greedy start, both within what the
    allocation moves under escort."""
    row = bench_waves.run("tiny", time_limit=2.0, seed=0, deterministic=True)
    assert 0 < row["greedy"] <= row["cpsat"] + 1e-9
    assert row["cpsat"] <= row["escorted_share"] + 1e-9
    assert row["ratio"] >= 1.0 - 1e-9


def test_gap_breakdown_on_tiny_adds_up_to_the_gap_and_no_convoy_beats_its_least_round_trip() -> None:
    """Per depot, allocation − plan shares add up to the allocation's coverage − the plan's (the
    bound on tiny); trucks and escorts are used at most fully; no convoy is quicker than its
    stops' least round trips (trip ≤ 1)."""
    s = Scenario.from_dict(json.loads((BENCH.parent / "models" / "tiny.json").read_text()))
    p = plan(s, time_limit=3.0, seed=0)
    result = gap_breakdown.breakdown(s, p, time_limit=3.0, seed=0)
    gap = sum(r["gap"] for r in result["depots"])
    assert gap == pytest.approx(result["allocation"] - p.metrics["weighted_coverage"], abs=1e-6)
    assert result["allocation"] == pytest.approx(result["bound"], abs=1e-6)
    for r in result["depots"]:
        assert 0.0 <= r["busy"] <= 1.0 + 1e-9 and 0.0 <= r["fill"] <= 1.0 + 1e-9
        for trip in (r["trip_safe"], r["trip_escorted"]):
            assert np.isnan(trip) or 0.0 < trip <= 1.0 + 1e-6
    escorted_pairs = {(r["depot"], r["site"]) for r in distribute(s, time_limit=3.0, seed=0).rows() if r["escorted"]}
    for r in result["escorts"]:
        assert r["plan_convoys"] == sum(1 for c in p.convoys if c.escort == r["unit"])
        assert r["plan_sites"] == len({(c.depot, st.site) for c in p.convoys if c.escort == r["unit"] for st in c.stops})
        assert r["bound_sites"] <= len(escorted_pairs) and (r["bound_single_busy"] > 0) == (r["bound_sites"] > 0)
    assert any(r["bound_sites"] for r in result["escorts"])  # tiny has escorted sites in its bound
    for r in result["risk_bound"]:
        assert r["quickest_h"] - 1e-9 <= r["either_h"] <= r["risk_bound_h"] + 1e-9
    # per (depot, site) too, in severity × tonnes, largest first
    site_gap = sum(r["gap"] for r in result["sites"]) / result["weighted_need"]
    assert site_gap == pytest.approx(gap, abs=1e-6)
    assert [r["gap"] for r in result["sites"]] == sorted((r["gap"] for r in result["sites"]), reverse=True)
    for r in result["sites"]:
        delivered = sum(s.weight_t(st.unload) for c in p.convoys if c.depot == r["depot"]
                        for st in c.stops if st.site == r["site"])
        assert r["plan_t"] == pytest.approx(delivered)
    assert f"#### {s.name}" in gap_breakdown.markdown(result)


def test_the_risk_bound_round_trip_is_longer_only_where_the_quickest_road_is_too_risky() -> None:
    """fixtures_rules: D → J → S1 takes 6 h there and back at route risk 0.17 (above 0.05); the
    bridge takes 8 h at no risk. A convoy without escort needs more than 6 h and at most 8; to S6
    (0.5 h each way, no risk) the bound is the quickest round trip, 1 h."""
    s = Scenario.from_dict(fixtures_rules.scenario())
    roads = _RoadArrays(s, AccessFacts(s).network)
    sites = np.array([roads.index["S1"], roads.index["S6"]])
    limit = -np.log1p(-s.policy.risk_threshold)
    bound = gap_breakdown._risk_bound(roads, [roads.index["D"]], sites, -np.log1p(-roads.risk), limit,
                                      roads.mask(None))
    assert 6.0 + 1.0 < bound[0, 0] <= 8.0
    assert bound[0, 1] == pytest.approx(1.0)


def test_bench_sweep_on_tiny_and_one_insecurity_sample() -> None:
    """run_sweep and crisis_rows: both plans checked, the sample's figures beside the given one's."""
    results, wall = bench_sweep.run_sweep(["tiny"], samples=1, time_limit=2.0, seed=0, workers=1)
    assert [r.label for r in results] == ["tiny", "tiny#1"] and wall > 0
    (row,) = bench_sweep.crisis_rows(results)
    assert set(row) == set(bench_sweep.ROW_FIELDS)
    assert row["cases"] == 2 and row["checked_ok"] == 2
    assert row["given_coverage"] == results[0].plan.metrics["weighted_coverage"]
    assert row["samples_coverage_min"] == row["samples_coverage_max"] == results[1].plan.metrics["weighted_coverage"]
    assert "| tiny | 2 | 2 |" in bench_sweep.markdown_table([row])
