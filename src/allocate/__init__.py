"""allocate: plan the joint use of humanitarian and military resources in a conflict response.

The public API is re-exported here explicitly; everything else is internal. The model-free part
(scenario, plan, network, access, check, explain, generate, sweep) is imported at once; the solver
stages (distribute, route, assign_escorts, plan) load their solvers on first use, so that
``allocate check`` starts without importing OR-Tools or HiGHS. ``allocate.plan`` is the joint
planner, a function; the plan model is :class:`Plan`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"  # before the imports: modules below record it in their plans

from allocate.access import AccessFacts
from allocate.check import Report, Violation, check
from allocate.errors import AllocateError, PlanError, ScenarioError, TableError
from allocate.explain import explain
from allocate.generate import generate, generate_scenario
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim, compute_metrics, load_plan
from allocate.scenario import Scenario, load_scenario
from allocate.sweep import SweepCase, SweepResult, insecurity_samples

_LAZY = {
    "distribute": "allocate.distribute",
    "Allocation": "allocate.distribute",
    "route": "allocate.routing",
    "assign_escorts": "allocate.escorts",
    "EscortAssignment": "allocate.escorts",
}


def plan(scenario: Scenario, **options: Any) -> Plan:
    """Plan distribution, convoys and escorts: see :func:`allocate.planner.plan`."""
    from allocate.planner import plan as joint_plan

    return joint_plan(scenario, **options)


def sweep(cases: Any, **options: Any) -> list[SweepResult]:
    """Plan and check many scenarios at once: see :func:`allocate.sweep.sweep`."""
    from allocate.sweep import sweep as run_sweep

    return run_sweep(cases, **options)


def __getattr__(name: str) -> Any:
    """Load a solver stage on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'allocate' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (``__all__``), not the helpers this module imports."""
    return sorted(__all__)


__all__ = [
    "AccessFacts",
    "AllocateError",
    "Allocation",
    "Convoy",
    "EscortAssignment",
    "Plan",
    "PlanError",
    "Report",
    "RoadNetwork",
    "Scenario",
    "ScenarioError",
    "SolverInfo",
    "Stop",
    "SweepCase",
    "SweepResult",
    "TableError",
    "UnmetClaim",
    "Violation",
    "__version__",
    "assign_escorts",
    "check",
    "compute_metrics",
    "distribute",
    "explain",
    "generate",
    "generate_scenario",
    "insecurity_samples",
    "load_plan",
    "load_scenario",
    "plan",
    "route",
    "sweep",
]
