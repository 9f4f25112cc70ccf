"""Solver back-ends. MIP back-ends (``highs``, ``pulp``, ``ortools``) share one protocol:
``open_session(model: MipModel, **options) -> Session`` (see :mod:`allocate.mip`), so one
formulation is solved anywhere and read through one adapter. Modules load lazily, so a missing
optional solver only matters when it is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MIP_BACKENDS = {
    "highs": "allocate.backends.highs",
    "pulp": "allocate.backends.pulp",
    "ortools": "allocate.backends.ortools_mip",
}


def get_backend(name: str) -> ModuleType:
    """The MIP back-end module called ``name`` (one of :data:`MIP_BACKENDS`)."""
    try:
        return importlib.import_module(MIP_BACKENDS[name])
    except KeyError:
        raise ValueError(f"unknown MIP back-end {name!r}; choose one of {sorted(MIP_BACKENDS)}") from None
