"""OR-Tools back-end: the same array model through ``ortools.linear_solver.pywraplp``.

SCIP by default (open, MIP, reports a best bound); any pywraplp id works (``CBC``, ``CP-SAT``
via ``"CP_SAT"``, ``GLOP`` for LPs...). The seed goes to SCIP as ``randomization/randomseedshift``
and to CP-SAT as ``random_seed``; other solvers record it only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ortools.linear_solver import pywraplp

from allocate.mip import MipModel, SolveOutcome

NAME = "ortools"


class OrtoolsSession:
    """The model in one ``pywraplp.Solver``, re-optimised tier by tier."""

    def __init__(self, model: MipModel, solver: str = "SCIP"):
        self.model = model
        self.solver_id = solver.upper()
        s = pywraplp.Solver.CreateSolver(self.solver_id)
        if s is None:
            raise RuntimeError(f"OR-Tools has no solver {solver!r} in this build")
        self.s = s
        inf = s.infinity()

        def bound(v: float) -> float:
            return inf if v == math.inf else -inf if v == -math.inf else float(v)

        lo, up, integ = model.col_lower, model.col_upper, model.integrality
        self.vars = [
            (s.IntVar if integ[j] else s.NumVar)(bound(lo[j]), bound(up[j]), model.col_name(j))
            for j in range(model.num_cols)
        ]
        A = model.A
        for i in range(model.num_rows):
            ct = s.Constraint(bound(model.row_lower[i]), bound(model.row_upper[i]), model.row_name(i))
            for j, v in zip(A.indices[A.indptr[i]:A.indptr[i + 1]], A.data[A.indptr[i]:A.indptr[i + 1]]):
                ct.SetCoefficient(self.vars[j], float(v))
        self._inf = inf

    def set_objective(self, c: np.ndarray) -> None:
        obj = self.s.Objective()
        obj.Clear()
        for j in np.flatnonzero(c):
            obj.SetCoefficient(self.vars[j], float(c[j]))
        obj.SetMinimization()

    def add_row(self, cols: np.ndarray, vals: np.ndarray, lower: float, upper: float, name: str) -> None:
        lo = -self._inf if lower == -math.inf else float(lower)
        up = self._inf if upper == math.inf else float(upper)
        ct = self.s.Constraint(lo, up, name)
        for j, v in zip(cols, vals):
            ct.SetCoefficient(self.vars[int(j)], float(v))

    def solve(self, time_limit: float | None, gap: float, seed: int | None) -> SolveOutcome:
        s = self.s
        if time_limit is not None:
            s.SetTimeLimit(max(1, int(time_limit * 1000)))
        if seed is not None:
            if self.solver_id == "SCIP":
                s.SetSolverSpecificParametersAsString(f"randomization/randomseedshift = {int(seed) % 2147483647}\n")
            elif self.solver_id in ("CP_SAT", "SAT"):
                s.SetSolverSpecificParametersAsString(f"random_seed: {int(seed) % 2147483647}")
        params = pywraplp.MPSolverParameters()
        if self.model.is_mip:
            params.SetDoubleParam(params.RELATIVE_MIP_GAP, float(gap))
        code = s.Solve(params)
        has_x = code in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)
        x = np.array([v.solution_value() for v in self.vars], float) if has_x else None
        objective = float(s.Objective().Value()) if has_x else None
        if has_x and self.model.is_mip:
            bound: float | None = float(s.Objective().BestBound())
        else:
            bound = objective if code == pywraplp.Solver.OPTIMAL else None
        if code == pywraplp.Solver.OPTIMAL:
            return SolveOutcome("optimal", x, objective, bound)
        if code == pywraplp.Solver.FEASIBLE:
            return SolveOutcome("time_limit", x, objective, bound, "OR-Tools: stopped with a feasible solution")
        if code == pywraplp.Solver.INFEASIBLE:
            return SolveOutcome("infeasible", None, None, None, "OR-Tools: infeasible")
        if code == pywraplp.Solver.UNBOUNDED:
            return SolveOutcome("unbounded", None, None, None, "OR-Tools: unbounded")
        return SolveOutcome("error", None, None, None, f"OR-Tools: status {code}")


def open_session(model: MipModel, solver: str = "SCIP", **_: Any) -> OrtoolsSession:
    """Build ``model`` in pywraplp; ``solver`` a pywraplp id (SCIP default)."""
    return OrtoolsSession(model, solver=solver)
