"""HiGHS back-end (default): the model goes to highspy straight from its CSR arrays.

Why: one ``passModel`` of numpy arrays is ~40× faster to build than a modelling layer, and HiGHS
is open, fast and computes an IIS. HiGHS compares ``time_limit`` with the run time accumulated
over every ``run()`` of one instance (HiGHS #1331, #1477), so each stage's limit is set to the
clock so far plus what is left.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import numpy as np
import highspy

from allocate.mip import INF, MipModel, SolveOutcome

NAME = "highs"

_OPTIMAL = {highspy.HighsModelStatus.kOptimal}
_INFEASIBLE = {highspy.HighsModelStatus.kInfeasible}
_UNBOUNDED = {highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible}
_LIMITS = {
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit,
    highspy.HighsModelStatus.kInterrupt,
    highspy.HighsModelStatus.kObjectiveBound,
    highspy.HighsModelStatus.kObjectiveTarget,
}


def to_highs_lp(model: MipModel, c: np.ndarray | None = None, relax: bool = False) -> "highspy.HighsLp":
    """The model as a ``HighsLp`` (row-wise matrix), objective ``c`` (default: zeros)."""
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = np.zeros(model.num_cols) if c is None else np.asarray(c, float)
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    A = model.A
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    if model.is_mip and not relax:
        lp.integrality_ = np.where(model.integrality, highspy.HighsVarType.kInteger,
                                   highspy.HighsVarType.kContinuous).tolist()
    return lp


@contextlib.contextmanager
def banner_silenced() -> Iterator[None]:
    """File descriptor 1 at /dev/null while a ``Highs`` instance is built. highspy 1.16 prints its
    banner from C in the constructor, before any option can be set, which would corrupt
    ``--json`` output on stdout (PuLP's HiGHS builds its own instance: backends/pulp.py)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def quiet_highs() -> "highspy.Highs":
    """A ``Highs`` instance with logging off and no banner on stdout."""
    with banner_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


class HighsSession:
    """A model loaded once in one ``highspy.Highs``; objectives and fixing rows change in place."""

    def __init__(self, model: MipModel, threads: int | None = None, relax: bool = False, **options: object):
        self.model = model
        self.h = quiet_highs()
        if threads is not None:
            self.h.setOptionValue("threads", int(threads))
        for key, value in options.items():
            self.h.setOptionValue(key, value)
        self.h.passModel(to_highs_lp(model, relax=relax))
        self._is_mip = model.is_mip and not relax
        self._all = np.arange(model.num_cols, dtype=np.int32)

    def set_objective(self, c: np.ndarray) -> None:
        self.h.changeColsCost(len(self._all), self._all, np.asarray(c, float))

    def add_row(self, cols: np.ndarray, vals: np.ndarray, lower: float, upper: float, name: str) -> None:
        self.h.addRow(float(lower), float(upper), len(cols), np.asarray(cols, np.int32), np.asarray(vals, float))

    def solve(self, time_limit: float | None, gap: float, seed: int | None) -> SolveOutcome:
        h = self.h
        h.setOptionValue("mip_rel_gap", float(gap))
        if seed is not None:
            h.setOptionValue("random_seed", int(seed) % 2147483647)
        h.setOptionValue("time_limit", INF if time_limit is None else h.getRunTime() + max(0.0, time_limit))
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        has_x = info.primal_solution_status >= 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value, float) if has_x else None
        objective = float(info.objective_function_value) if has_x else None
        if self._is_mip:
            bound = float(info.mip_dual_bound)
        else:
            bound = objective if status in _OPTIMAL else None
        if status in _OPTIMAL:
            return SolveOutcome("optimal", x, objective, bound)
        if status in _INFEASIBLE:
            return SolveOutcome("infeasible", None, None, None, "HiGHS: infeasible")
        if status in _UNBOUNDED:
            return SolveOutcome("unbounded" if status == highspy.HighsModelStatus.kUnbounded else "infeasible",
                                None, None, None, f"HiGHS: {h.modelStatusToString(status)}")
        if status in _LIMITS:
            return SolveOutcome("time_limit", x, objective, bound, f"HiGHS: {h.modelStatusToString(status)}")
        return SolveOutcome("error", x, objective, bound, f"HiGHS: {h.modelStatusToString(status)}")


def open_session(model: MipModel, **options: object) -> HighsSession:
    """Load ``model`` into HiGHS (``threads=``, ``relax=``, or any HiGHS option by name)."""
    return HighsSession(model, **options)


def iis(model: MipModel, time_limit: float = 10.0) -> tuple[list[int], list[int]] | None:
    """Rows and columns of an irreducible infeasible subsystem of ``model``'s LP relaxation.

    None when the relaxation is feasible (the MIP's infeasibility is then integral) or HiGHS
    finds none. Why the relaxation: HiGHS' IIS works on LPs; on a MIP it would solve many MIPs.
    """
    session = HighsSession(model, relax=True)
    h = session.h
    h.setOptionValue("time_limit", float(time_limit))
    h.run()
    if h.getModelStatus() not in _INFEASIBLE:
        return None
    try:
        h.setOptionValue("iis_strategy", 2 | 4)  # from the whole LP, then reduce to an IIS
    except Exception:  # older HiGHS: keep its default strategy
        pass
    status, found = h.getIis()
    if status == highspy.HighsStatus.kError or not found.valid_:
        return None
    return list(found.row_index_), list(found.col_index_)
