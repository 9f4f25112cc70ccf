"""Smoke test of the issue-6 benchmark scripts on tiny inputs, so they cannot rot (< 20 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_crises  # noqa: E402
import bench_scaling  # noqa: E402
import bench_waves  # noqa: E402


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
