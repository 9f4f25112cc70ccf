"""The array MIP layer: building, the lexicographic driver and its statuses (HiGHS back-end)."""

from __future__ import annotations

import numpy as np
import pytest

from allocate.mip import INF, MipModel, ModelBuilder, Objective, solve_lexicographic


def knapsack_like() -> ModelBuilder:
    """x0, x1 in [0, 10], integer y in [0, 5]; x0 + x1 + y ≤ 7.5; x0 - x1 = 0 is not imposed."""
    b = ModelBuilder()
    b.add_cols("x", 2, 0.0, 10.0)
    b.add_cols("y", 1, 0.0, 5.0, integer=True)
    b.add_rows("cap", 1, [0, 0, 0], [0, 1, 2], [1.0, 1.0, 1.0], -INF, 7.5)
    return b


def test_builder_sums_duplicates_and_names_blocks():
    b = ModelBuilder()
    b.add_cols("units", 2)
    rows = b.add_rows("stock", 1, [0, 0, 0], [0, 0, 1], [1.0, 2.0, 1.0], -INF, 4.0)
    m = b.build([b.objective("t", [0, 1], [1.0, 1.0], "max")])
    assert m.A.toarray().tolist() == [[3.0, 1.0]]
    assert list(rows) == [0]
    assert (m.col_name(1), m.row_name(0)) == ("units[1]", "stock[0]")
    assert not m.is_mip and m.num_cols == 2 and m.num_rows == 1


def test_model_rejects_mismatched_arrays():
    b = knapsack_like()
    m = b.build([b.objective("z", [0], [1.0])])
    with pytest.raises(ValueError, match="col_lower"):
        MipModel(m.A, m.col_lower[:1], m.col_upper, m.row_lower, m.row_upper, m.integrality, m.objectives)
    with pytest.raises(ValueError, match="objective"):
        m.with_objectives([Objective("bad", np.zeros(1))])


def test_builder_rejects_row_index_outside_its_block():
    b = ModelBuilder()
    b.add_cols("x", 1)
    with pytest.raises(ValueError, match="out of range"):
        b.add_rows("r", 1, [1], [0], [1.0])


def test_lexicographic_keeps_tier_one_while_optimising_tier_two():
    # Tier 1 max x0 + x1 + y = 7.5. Tier 2 min y: y = 0 keeps 7.5 (x0 + x1 = 7.5).
    # Tier 3 max x1 - x0 within those: x1 = 7.5, x0 = 0.
    b = knapsack_like()
    tiers = [
        b.objective("total", [0, 1, 2], [1, 1, 1], "max"),
        b.objective("y", [2], [1], "min"),
        b.objective("lean", [0, 1], [-1, 1], "max"),
    ]
    r = solve_lexicographic(b.build(tiers), "highs", gap=0)
    assert r.status == "optimal" and r.stage_status == ("optimal",) * 3
    assert r.tier_names == ("total", "y", "lean")
    assert r.tiers == pytest.approx((7.5, 0.0, 7.5), rel=1e-6, abs=1e-6)
    assert r.bound == pytest.approx(7.5)
    assert r.x == pytest.approx([0.0, 7.5, 0.0], abs=1e-5)


def test_scale_and_offset_report_natural_values():
    b = knapsack_like()
    obj = b.objective("share", [0, 1, 2], [1, 1, 1], "max", scale=1 / 15, offset=0.0)
    r = solve_lexicographic(b.build([obj]), "highs", gap=0)
    assert r.tiers[0] == pytest.approx(0.5) and r.bound == pytest.approx(0.5)


def test_integer_column_is_integral():
    # max y with y integer and y ≤ 7.5 - x0 - x1: y = 5 (its upper bound), then 2.5 to x.
    b = knapsack_like()
    r = solve_lexicographic(b.build([b.objective("y", [2], [1.0], "max")]), "highs", gap=0)
    assert r.x[2] == pytest.approx(5.0)


def test_infeasible_model_has_status_not_exception():
    b = ModelBuilder()
    b.add_cols("x", 1, 0.0, 1.0)
    b.add_rows("need", 1, [0], [0], [1.0], 2.0, INF)
    r = solve_lexicographic(b.build([b.objective("x", [0], [1.0])]), "highs")
    assert r.status == "infeasible" and r.x is None and r.tiers == (None,)


def test_seed_time_limit_recorded_and_zero_limit():
    b = knapsack_like()
    m = b.build([b.objective("total", [0, 1, 2], [1, 1, 1], "max")])
    r = solve_lexicographic(m, "highs", time_limit=5.0, seed=42)
    assert (r.seed, r.time_limit, r.backend) == (42, 5.0, "highs")
    z = solve_lexicographic(m, "highs", time_limit=0.0, seed=1)
    assert z.status == "time_limit" and z.x is None


def test_empty_model():
    b = ModelBuilder()
    r = solve_lexicographic(b.build([Objective("nothing", np.zeros(0))]), "highs")
    assert r.status == "optimal" and r.tiers == (0.0,)


def test_unknown_backend():
    b = knapsack_like()
    with pytest.raises(ValueError, match="unknown MIP back-end"):
        solve_lexicographic(b.build([b.objective("z", [0], [1.0])]), "gurobi-direct")


def test_highs_iis_names_conflicting_rows():
    from allocate.backends.highs import iis

    b = ModelBuilder()
    b.add_cols("x", 2, 0.0, INF)
    b.add_rows("stock", 1, [0, 0], [0, 1], [1.0, 1.0], -INF, 10.0)
    b.add_rows("floor", 2, [0, 1], [0, 1], [1.0, 1.0], 6.0, INF)
    b.add_rows("free", 1, [0], [0], [1.0], -INF, 100.0)
    m = b.build([b.objective("z", [0], [1.0])])
    rows, _ = iis(m)
    assert sorted(m.row_name(i) for i in rows) == ["floor[0]", "floor[1]", "stock[0]"]
