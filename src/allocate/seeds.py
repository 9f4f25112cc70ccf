"""The one rule for a ``seed`` argument, shared by every randomised entry point.

Why: a seed travels to numpy (which refuses negatives), CP-SAT (a 32-bit ``random_seed``) and
HiGHS; a seed one of them cannot take must fail at once, naming the argument and its value, not
deep inside a solver after minutes of work (DESIGN.md: a ``seed`` handled the same way everywhere).
"""

from __future__ import annotations

MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is a signed 32-bit integer


def require_seed(value: object, name: str = "seed") -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is a whole number in [0, MAX_SEED]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_SEED} (value {value!r})")
