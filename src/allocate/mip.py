"""Back-end-neutral MIP models: formulate once as arrays, solve with any back-end.

Why arrays: models are rebuilt in sweeps and repair loops, and building them through a modelling
layer (PuLP ``lpSum``) costs seconds where numpy index arithmetic costs milliseconds (DESIGN.md,
"MIP formulation: formulate once, solve anywhere"). A :class:`MipModel` is a frozen bundle of a
scipy CSR matrix, column and row bounds, integrality and a sequence of objective tiers; it knows
nothing of any solver. :class:`ModelBuilder` assembles one from blocks of COO triplets.

:func:`solve_lexicographic` is the one driver every back-end goes through: it optimises the tiers
in order, fixing each optimum (within a small relative tolerance) before the next, and reads every
back-end's answer through one adapter, :class:`SolveOutcome`, into one :class:`MipResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence

import numpy as np
import scipy.sparse as sp

INF = float("inf")
Sense = Literal["min", "max"]
Status = Literal["optimal", "feasible", "infeasible", "time_limit"]
StageStatus = Literal["optimal", "time_limit", "infeasible", "unbounded", "error"]


@dataclass(frozen=True)
class Objective:
    """One objective tier: ``value = scale · (c · x) + offset``, to be minimised or maximised.

    ``scale`` keeps coefficients well-sized for the solver (coverage is optimised as Σ severity ×
    tonnes, not as a fraction with 1e-7 coefficients) while the reported value stays natural.
    """

    name: str
    c: np.ndarray
    sense: Sense = "min"
    scale: float = 1.0
    offset: float = 0.0

    @property
    def sign(self) -> float:
        """+1 to minimise, -1 to maximise: every back-end minimises ``sign · c · x``."""
        return 1.0 if self.sense == "min" else -1.0

    def value(self, x: np.ndarray) -> float:
        return float(self.scale * (self.c @ x) + self.offset)


@dataclass(frozen=True)
class Block:
    """A named range of columns or rows, for names in LP files, IIS and explanations."""

    name: str
    start: int
    stop: int


@dataclass(frozen=True)
class MipModel:
    """A mixed-integer linear model as arrays: ``row_lower ≤ A x ≤ row_upper``, bounds on ``x``.

    Infinite bounds are ``±inf``. ``integrality[j]`` is True for integer columns.
    """

    A: sp.csr_matrix
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    integrality: np.ndarray
    objectives: tuple[Objective, ...]
    col_blocks: tuple[Block, ...] = ()
    row_blocks: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        m, n = self.A.shape
        for name, arr, size in (
            ("col_lower", self.col_lower, n),
            ("col_upper", self.col_upper, n),
            ("integrality", self.integrality, n),
            ("row_lower", self.row_lower, m),
            ("row_upper", self.row_upper, m),
        ):
            if arr.shape != (size,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({size},)")
        for obj in self.objectives:
            if obj.c.shape != (n,):
                raise ValueError(f"objective {obj.name!r} has shape {obj.c.shape}, expected ({n},)")

    @property
    def num_cols(self) -> int:
        return self.A.shape[1]

    @property
    def num_rows(self) -> int:
        return self.A.shape[0]

    @property
    def is_mip(self) -> bool:
        return bool(self.integrality.any())

    def col_name(self, j: int) -> str:
        return _name(self.col_blocks, j, "x")

    def row_name(self, i: int) -> str:
        return _name(self.row_blocks, i, "r")

    def block_of_row(self, i: int) -> Block | None:
        return next((b for b in self.row_blocks if b.start <= i < b.stop), None)

    def with_objectives(self, objectives: Sequence[Objective]) -> "MipModel":
        return MipModel(
            self.A, self.col_lower, self.col_upper, self.row_lower, self.row_upper,
            self.integrality, tuple(objectives), self.col_blocks, self.row_blocks,
        )


def _name(blocks: Sequence[Block], k: int, default: str) -> str:
    for b in blocks:
        if b.start <= k < b.stop:
            return f"{b.name}[{k - b.start}]"
    return f"{default}{k}"


class ModelBuilder:
    """Collects column and row blocks as numpy arrays and freezes them into a :class:`MipModel`."""

    def __init__(self) -> None:
        self._n = 0
        self._m = 0
        self._lo: list[np.ndarray] = []
        self._up: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rup: list[np.ndarray] = []
        self._col_blocks: list[Block] = []
        self._row_blocks: list[Block] = []

    @property
    def num_cols(self) -> int:
        return self._n

    @property
    def num_rows(self) -> int:
        return self._m

    def add_cols(self, name: str, n: int, lower: float | np.ndarray = 0.0, upper: float | np.ndarray = INF,
                 integer: bool = False) -> np.ndarray:
        """Add ``n`` columns; returns their indices."""
        idx = np.arange(self._n, self._n + n)
        self._lo.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self._up.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self._int.append(np.full(n, integer, bool))
        self._col_blocks.append(Block(name, self._n, self._n + n))
        self._n += n
        return idx

    def add_rows(self, name: str, n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                 lower: float | np.ndarray = -INF, upper: float | np.ndarray = INF) -> np.ndarray:
        """Add ``n`` rows from COO triplets (``rows`` local to the block, 0..n-1); returns their indices.

        Duplicate (row, col) entries are summed, as scipy does.
        """
        rows = np.asarray(rows, np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"row block {name!r}: local row index out of range")
        self._rows.append(rows + self._m)
        self._cols.append(np.asarray(cols, np.int64))
        self._vals.append(np.asarray(vals, float))
        self._rlo.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self._rup.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self._row_blocks.append(Block(name, self._m, self._m + n))
        idx = np.arange(self._m, self._m + n)
        self._m += n
        return idx

    def objective(self, name: str, cols: np.ndarray, vals: np.ndarray, sense: Sense = "min",
                  scale: float = 1.0, offset: float = 0.0) -> Objective:
        """An objective over the columns added so far (duplicates summed)."""
        c = np.zeros(self._n)
        np.add.at(c, np.asarray(cols, np.int64), np.asarray(vals, float))
        return Objective(name, c, sense, scale, offset)

    def build(self, objectives: Sequence[Objective]) -> MipModel:
        n, m = self._n, self._m
        cat = (lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))
        A = sp.csr_matrix(
            (cat(self._vals, float), (cat(self._rows, np.int64), cat(self._cols, np.int64))), shape=(m, n)
        )
        A.sum_duplicates()
        A.eliminate_zeros()
        objs = tuple(o if o.c.shape == (n,) else Objective(o.name, np.pad(o.c, (0, n - o.c.size)), o.sense,
                                                           o.scale, o.offset) for o in objectives)
        return MipModel(A, cat(self._lo, float), cat(self._up, float), cat(self._rlo, float),
                        cat(self._rup, float), cat(self._int, bool), objs, tuple(self._col_blocks),
                        tuple(self._row_blocks))


# ----- back-end protocol ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SolveOutcome:
    """What one back-end solve returns, whatever the solver: the single result adapter.

    ``objective`` and ``bound`` are of the minimised objective ``c · x`` as passed to the session.
    """

    status: StageStatus
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    message: str = ""


class Session(Protocol):
    """A model loaded in a solver, re-optimised tier by tier."""

    def set_objective(self, c: np.ndarray) -> None: ...

    def add_row(self, cols: np.ndarray, vals: np.ndarray, lower: float, upper: float, name: str) -> None: ...

    def solve(self, time_limit: float | None, gap: float, seed: int | None) -> SolveOutcome: ...


# ----- the driver ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MipResult:
    """A lexicographic solve: the final ``x``, each tier's value, tier 1's proven bound.

    ``status``: ``optimal`` every tier solved to its gap; ``feasible`` tier 1 solved to its gap but a
    later tier was cut short (``x`` is optimal for tier 1 within the gap, feasible for the rest);
    ``time_limit`` tier 1 itself was cut by the time limit (``x`` may be None if nothing was found);
    ``infeasible`` no solution exists.
    """

    status: Status
    x: np.ndarray | None
    tier_names: tuple[str, ...]
    tiers: tuple[float | None, ...]
    bound: float | None
    seconds: float
    seed: int | None
    time_limit: float | None
    backend: str
    gap: float
    stage_status: tuple[str, ...] = ()
    message: str = ""
    extra: dict = field(default_factory=dict)


def solve_lexicographic(
    model: MipModel,
    backend: str | object = "highs",
    time_limit: float | None = None,
    seed: int | None = 0,
    gap: float = 1e-3,
    tier_tolerance: float = 1e-7,
    **options: object,
) -> MipResult:
    """Optimise ``model.objectives`` in order; after each, fix it within ``tier_tolerance``.

    Tier ``k`` is held at ``sign·c·x ≤ v_k + tier_tolerance · max(|v_k|, 0.01)`` (``v_k`` the value
    found) while tier ``k+1`` is optimised. ``time_limit`` (seconds) bounds the whole sequence: each
    stage gets what is left. ``seed`` goes to the solver's random seed. ``gap`` is the relative MIP
    gap of every stage. ``backend`` is a name (``highs``, ``pulp``, ``ortools``) or a module with
    ``open_session(model, **options)``; ``options`` go to it (e.g. ``solver=`` for PuLP).
    """
    from allocate.backends import get_backend

    module = get_backend(backend) if isinstance(backend, str) else backend
    name = backend if isinstance(backend, str) else getattr(module, "NAME", type(module).__name__)
    start = time.perf_counter()
    if model.num_cols == 0:  # nothing to decide: solvers disagree on empty models, so answer here
        return _empty_result(model, time.perf_counter() - start, seed, time_limit, str(name), gap)
    session: Session = module.open_session(model, **options)
    names = tuple(o.name for o in model.objectives)
    values: list[float | None] = [None] * len(names)
    stages: list[str] = []
    x: np.ndarray | None = None
    bound: float | None = None
    status: Status = "optimal"
    message = ""
    for k, obj in enumerate(model.objectives):
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - start)
        if remaining is not None and remaining <= 0:
            status = "time_limit" if k == 0 else "feasible"
            message = f"time limit reached before tier {obj.name!r}"
            break
        c = obj.sign * obj.c
        if k > 0 and x is not None and not c.any():  # a constant tier: nothing to optimise
            stages.append("optimal")
            continue
        session.set_objective(c)
        out = session.solve(remaining, gap, seed)
        stages.append(out.status)
        if out.status in ("infeasible", "unbounded", "error") and k == 0:
            status = "infeasible" if out.status == "infeasible" else "infeasible"
            message = out.message or out.status
            x = None
            break
        if out.x is None:  # later tier without a solution: keep the previous one
            status = "time_limit" if k == 0 else "feasible"
            message = out.message or f"tier {obj.name!r}: {out.status}"
            break
        x = out.x
        if k == 0 and out.bound is not None and np.isfinite(out.bound):
            bound = obj.sign * obj.scale * out.bound + obj.offset
        if out.status != "optimal":
            status = "time_limit" if k == 0 else "feasible"
            message = out.message or f"tier {obj.name!r}: {out.status}"
            break
        v = float(c @ x)
        nz = np.flatnonzero(c)
        if k + 1 < len(model.objectives) and nz.size:
            session.add_row(nz, c[nz], -INF, v + tier_tolerance * max(abs(v), 1e-2), f"fix_{obj.name}")
    if x is not None:
        values = [o.value(x) for o in model.objectives]
        if bound is None and status == "optimal":
            bound = values[0]
    return MipResult(
        status=status, x=x, tier_names=names, tiers=tuple(values), bound=bound,
        seconds=time.perf_counter() - start, seed=seed, time_limit=time_limit, backend=str(name), gap=gap,
        stage_status=tuple(stages), message=message,
    )


def _empty_result(model: MipModel, seconds: float, seed: int | None, time_limit: float | None, backend: str,
                  gap: float) -> MipResult:
    """A model without columns: optimal when every row admits 0, infeasible otherwise."""
    x = np.zeros(0)
    feasible = bool(np.all(model.row_lower <= 1e-9) and np.all(model.row_upper >= -1e-9))
    names = tuple(o.name for o in model.objectives)
    if not feasible:
        return MipResult("infeasible", None, names, (None,) * len(names), None, seconds, seed, time_limit,
                         backend, gap, (), "a row cannot hold with no columns")
    values = tuple(o.value(x) for o in model.objectives)
    return MipResult("optimal", x, names, values, values[0] if values else None, seconds, seed, time_limit,
                     backend, gap, ("optimal",) * len(names))
