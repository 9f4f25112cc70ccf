"""The rules for a caller's numeric arguments that are not scenario data: seeds, counts, factors.

Why one place: a seed travels to numpy (which refuses negatives), CP-SAT (a 32-bit
``random_seed``) and HiGHS, and a count such as ``threads`` or ``workers`` to a solver or a pool.
A value one of them cannot take must fail at once, naming the argument and its value, not deep
inside a solver after minutes of work (DESIGN.md: a ``seed`` handled the same way everywhere).
Time limits have theirs beside the clocks (:func:`allocate.clock.require_positive_seconds`).
"""

from __future__ import annotations

import math

MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is a signed 32-bit integer


def require_seed(value: object, name: str = "seed") -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is a whole number in [0, MAX_SEED]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_SEED} (value {value!r})")


def require_whole(value: object, name: str, minimum: int) -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is a whole number ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum} (value {value!r})")


def require_finite(value: object, name: str, *, positive: bool = False) -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is a finite number ≥ 0 (> 0 if
    ``positive``): spreads and scale factors, where nan or inf would only fail later in a draw."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '≥ 0'} (value {value!r})")
