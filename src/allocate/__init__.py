"""allocate: plan the joint use of humanitarian and military resources in a conflict response.

The public API is re-exported here explicitly; everything else is internal.
"""

from allocate.access import AccessFacts
from allocate.errors import AllocateError, PlanError, ScenarioError
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim, compute_metrics, load_plan
from allocate.scenario import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "AccessFacts",
    "AllocateError",
    "Convoy",
    "Plan",
    "PlanError",
    "RoadNetwork",
    "Scenario",
    "ScenarioError",
    "SolverInfo",
    "Stop",
    "UnmetClaim",
    "__version__",
    "compute_metrics",
    "load_plan",
    "load_scenario",
]
