"""The clock the escort stage's heuristics stop by: wall seconds, or work counted.

Why: the greedy wave placements, the tours and the fill-ins stop at deadlines, and the planner
shares its time between them by how long the earlier ones took. On the wall clock that makes a
plan depend on how busy the machine was (cote_divoire_like under load: another plan). With
``plan(..., deterministic=True)`` they read a :class:`WorkClock` instead, whose seconds are the
work done, counted where it is done (the busy intervals :class:`allocate.waves.Calendar` scans,
the paths :class:`allocate.network.RoadNetwork` walks, the wave schedule's CP-SAT deterministic
time), so the same seed gives the same plan on any machine, as long as the machine keeps up:
past the wall-clock end every deadline falls due, and the clock says so (:attr:`WorkClock.cut`),
so the time limit still holds. Deadlines are checked with :func:`due`.

The clock in use is a context variable: :func:`using` sets it for a block, :func:`now` and
:func:`tick` read it, so the heuristics need no extra parameter, and outside :func:`using` they
see the wall clock as before.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
from contextvars import ContextVar
from typing import Iterator

__all__ = ["SECONDS_PER_STEP", "WallClock", "WorkClock", "advance", "current", "due", "mark_cut", "now",
           "require_positive_seconds", "tick", "using"]

# Wall seconds one counted step takes on the reference machine (2-core AMD EPYC, quiet;
# benchmarks/RESULTS.md "Deterministic escort stage"): a step is a busy interval scanned, a node
# of a path walked, or a share of a Dijkstra's run (network.py).
SECONDS_PER_STEP = 1.2e-6


class WallClock:
    """Seconds of ``time.monotonic()``; counted work is ignored."""

    cut = False  # the wall clock is the measure itself: nothing to tell

    def now(self) -> float:
        return time.monotonic()

    def tick(self, steps: int) -> None:
        """Nothing to count: the wall clock measures the work itself."""

    def advance(self, seconds: float) -> None:
        """Nothing to add: the wall clock saw those seconds go by."""


class WorkClock:
    """Seconds of work counted since ``origin``: ``steps × seconds_per_step`` plus what
    :meth:`advance` added (a solver's deterministic time).

    ``wall_end`` (``time.monotonic()``): past it, :meth:`now` is at least ``work_end`` and
    :attr:`cut` is set, so every deadline :func:`due` checks falls due (those set after the cut
    too) and the caller keeps its time limit; :attr:`cut` then tells that the wall clock, not the
    work, ended something (the plan may differ on another run). A solver stopped by its wall-clock
    limit says so with :func:`mark_cut`.
    """

    def __init__(self, work_end: float, wall_end: float, seconds_per_step: float = SECONDS_PER_STEP,
                 origin: float = 0.0):
        self.origin = origin
        self.work_end = work_end
        self.wall_end = wall_end
        self.seconds_per_step = seconds_per_step
        self.steps = 0
        self.added = 0.0
        self.cut = False

    @property
    def work(self) -> float:
        """Seconds of work counted so far, wherever the wall clock is."""
        return self.origin + self.steps * self.seconds_per_step + self.added

    def now(self) -> float:
        work = self.work
        if work < self.work_end and time.monotonic() >= self.wall_end:
            self.cut = True
            return self.work_end
        return work

    def tick(self, steps: int) -> None:
        self.steps += steps

    def advance(self, seconds: float) -> None:
        self.added += max(0.0, seconds)

    def mark_cut(self) -> None:
        self.cut = True


_CLOCK: ContextVar[WallClock | WorkClock] = ContextVar("allocate_clock", default=WallClock())


def current() -> WallClock | WorkClock:
    """The clock in use."""
    return _CLOCK.get()


def now() -> float:
    """The time deadlines are set and checked in, on the clock in use."""
    return _CLOCK.get().now()


def due(deadline: float | None) -> bool:
    """Whether ``deadline`` (on the clock in use; None: none) has come, or the clock was cut."""
    if deadline is None:
        return False
    in_use = _CLOCK.get()
    return in_use.now() >= deadline or in_use.cut


def mark_cut() -> None:
    """Tell the clock in use that the wall clock ended something (a solver's time limit)."""
    in_use = _CLOCK.get()
    if isinstance(in_use, WorkClock):
        in_use.mark_cut()


def tick(steps: int) -> None:
    """Count ``steps`` units of work on the clock in use (busy intervals scanned)."""
    _CLOCK.get().tick(steps)


def advance(seconds: float) -> None:
    """Add a solver's deterministic seconds to the clock in use."""
    _CLOCK.get().advance(seconds)


@contextlib.contextmanager
def using(clock: WallClock | WorkClock) -> Iterator[WallClock | WorkClock]:
    """Run a block on ``clock``; the clock before it comes back after."""
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)


def require_positive_seconds(value: object, name: str) -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is a positive, finite number of
    seconds (nan, inf, a bool or a string are not): one rule for the planner's ``time_limit`` and
    the command line's ``--time-limit``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds (value {value!r})")
