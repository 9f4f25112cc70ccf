"""PuLP back-end: the same array model, for users who bring CBC, Gurobi, CPLEX... or want an LP file.

Only methods PuLP 3.3 and 4.x share are used (``prob.add_variable``, ``addConstraint``,
``setObjective``, ``LpAffineExpression`` from a list of pairs, no ``PULP_CBC_CMD``); the solve
result is read in either version's shape (3.x: an int and ``prob.sol_status``; 4.x:
``LpSolveStats``). Building through PuLP is slow (a Python object per term): use it for solver
choice, not speed.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from typing import Any

import numpy as np
import pulp

from allocate.mip import MipModel, SolveOutcome

NAME = "pulp"


def _expr(pairs: list[tuple[Any, float]]) -> "pulp.LpAffineExpression":
    """A linear expression from (variable, coefficient) pairs, in 3.3 or 4.x."""
    from_list = getattr(pulp.LpAffineExpression, "from_list", None)
    return from_list(pairs) if from_list is not None else pulp.LpAffineExpression(pairs)


def cbc_path() -> str | None:
    """A CBC executable: ``cbc`` on PATH, else the one PuLP 3.x bundles (without PULP_CBC_CMD)."""
    found = shutil.which("cbc")
    if found:
        return found
    try:
        from pulp.apis import coin_api

        bundled = getattr(coin_api, "pulp_cbc_path", None)
        if bundled and os.path.exists(bundled):
            return bundled
    except ImportError:
        pass
    return None


class _QuietHiGHS(pulp.HiGHS):  # type: ignore[misc,name-defined]
    """PuLP's HiGHS without highspy's banner on stdout (``msg=False`` only sets options after the
    constructor has printed it), so ``--backend pulp --json`` prints JSON alone."""

    def createAndConfigureSolver(self, lp: Any) -> None:
        from allocate.backends.highs import banner_silenced

        with banner_silenced():
            super().createAndConfigureSolver(lp)


def make_solver(name: str, time_limit: float | None, gap: float, seed: int | None, msg: bool = False) -> Any:
    """A PuLP solver by short name: ``highs`` (highspy inside PuLP) or ``cbc`` (COIN_CMD)."""
    if name == "highs":
        params: dict[str, Any] = {}
        if seed is not None:
            params["random_seed"] = int(seed) % 2147483647
        return (pulp.HiGHS if msg else _QuietHiGHS)(msg=msg, timeLimit=time_limit, gapRel=gap, **params)
    if name == "cbc":
        path = cbc_path()
        if path is None:
            raise RuntimeError("no CBC executable found: install one (pip install pulp[cbc]) or pass solver=")
        options = [] if seed is None else [f"randomCbcSeed {int(seed) % 2147483647 or 1}"]
        return pulp.COIN_CMD(path=path, msg=msg, timeLimit=time_limit, gapRel=gap, options=options)
    raise ValueError(f"unknown PuLP solver short name {name!r} (use 'highs', 'cbc' or a PuLP solver object)")


class PulpSession:
    """The model as an ``LpProblem``; each tier sets the objective and may add a fixing row."""

    def __init__(self, model: MipModel, solver: Any = "highs", msg: bool = False, name: str = "allocate"):
        self.model = model
        self.solver_spec = solver
        self.msg = msg
        self.prob = pulp.LpProblem(name, pulp.LpMinimize)
        lo, up, integ = model.col_lower, model.col_upper, model.integrality
        self.vars = [
            self.prob.add_variable(
                model.col_name(j).replace("[", "_").replace("]", ""),
                lowBound=None if math.isinf(lo[j]) else float(lo[j]),
                upBound=None if math.isinf(up[j]) else float(up[j]),
                cat=pulp.LpInteger if integ[j] else pulp.LpContinuous,
            )
            for j in range(model.num_cols)
        ]
        A = model.A
        for i in range(model.num_rows):
            lo_i, up_i = float(model.row_lower[i]), float(model.row_upper[i])
            cols = A.indices[A.indptr[i]:A.indptr[i + 1]]
            vals = A.data[A.indptr[i]:A.indptr[i + 1]]
            self._add(cols, vals, lo_i, up_i, model.row_name(i).replace("[", "_").replace("]", ""))

    def _add(self, cols: np.ndarray, vals: np.ndarray, lower: float, upper: float, name: str) -> None:
        expr = _expr([(self.vars[j], float(v)) for j, v in zip(cols, vals)])
        if lower == upper:
            self.prob.addConstraint(expr == upper, name)
            return
        if not math.isinf(upper):
            self.prob.addConstraint(expr <= upper, name if math.isinf(lower) else name + "_up")
        if not math.isinf(lower):
            self.prob.addConstraint(expr >= lower, name if math.isinf(upper) else name + "_lo")

    def set_objective(self, c: np.ndarray) -> None:
        nz = np.flatnonzero(c)
        if nz.size == 0 and self.vars:  # CBC fails on an empty objective: keep one zero term
            nz = np.array([0])
        self.prob.setObjective(_expr([(self.vars[j], float(c[j])) for j in nz]))

    def add_row(self, cols: np.ndarray, vals: np.ndarray, lower: float, upper: float, name: str) -> None:
        self._add(cols, vals, lower, upper, name)

    def _solver(self, time_limit: float | None, gap: float, seed: int | None) -> Any:
        spec = self.solver_spec
        if isinstance(spec, str):
            return make_solver(spec, time_limit, gap, seed, self.msg)
        # a solver object brought by the user: honour the limit and gap it can take
        if time_limit is not None:
            spec.timeLimit = time_limit
        getattr(spec, "optionsDict", {})["gapRel"] = gap
        return spec

    def solve(self, time_limit: float | None, gap: float, seed: int | None) -> SolveOutcome:
        solver = self._solver(None if time_limit is None else max(1e-3, time_limit), gap, seed)
        started = time.perf_counter()
        result = self.prob.solve(solver)
        elapsed = time.perf_counter() - started
        if isinstance(result, int):  # PuLP 3.x
            status, sol = self.prob.status, self.prob.sol_status
            has_x = sol in (1, 2)  # LpSolutionOptimal, LpSolutionIntegerFeasible
            proven = status == 1 and sol == 1
            infeasible = status == -1 or sol == -1
            unbounded = status == -2 or sol == -2
            bound = None
        else:  # PuLP 4.x LpSolveStats
            code = int(result.status)
            has_x = bool(result.has_solution)
            proven = code == 1 or (code == -7 and has_x)  # Optimal, or stopped at the gap
            infeasible, unbounded = code == -1, code == -2
            bound = getattr(result, "best_bound", None)
        x = np.array([v.value() if v.value() is not None else 0.0 for v in self.vars], float) if has_x else None
        objective = None
        if x is not None and self.prob.objective is not None:
            objective = float(pulp.value(self.prob.objective) or 0.0)
        if proven and bound is None:
            bound = objective if not self.model.is_mip or gap <= 1e-9 else None
        if infeasible and not has_x:
            return SolveOutcome("infeasible", None, None, None, "PuLP: infeasible")
        if unbounded and not has_x:
            return SolveOutcome("unbounded", None, None, None, "PuLP: unbounded")
        if proven:
            return SolveOutcome("optimal", x, objective, bound)
        if has_x or (time_limit is not None and elapsed >= 0.95 * time_limit):
            return SolveOutcome("time_limit", x, objective, bound, "PuLP: stopped before proving optimality")
        return SolveOutcome("error", None, None, None, f"PuLP: status {result!r}")


def open_session(model: MipModel, solver: Any = "highs", msg: bool = False, **_: Any) -> PulpSession:
    """Build ``model`` in PuLP; ``solver``: 'highs', 'cbc' or any PuLP solver object."""
    return PulpSession(model, solver=solver, msg=msg)
