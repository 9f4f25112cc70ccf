"""Shared by the wave tests: waves escorted by ``assign_escorts`` as a plan the checker can judge."""

from __future__ import annotations

from allocate.escorts import assign_escorts
from allocate.network import RoadNetwork
from allocate.plan import Convoy, Plan, SolverInfo, UnmetClaim, site_coverage
from allocate.scenario import Scenario


def escorted_plan(scenario: Scenario, network: RoadNetwork, waves: list[Convoy]) -> Plan:
    """The waves escorted by :func:`assign_escorts` (every one must find its unit) as a plan,
    every short site listed with the reason ``escorts``."""
    assignment = assign_escorts(scenario, waves, network=network)
    assert not assignment.unescorted, [u.reason for u in assignment.unescorted]
    convoys = list(assignment.convoys)
    short = [UnmetClaim(site=s, reason="escorts") for s, c in site_coverage(scenario, convoys).items()
             if c.delivered_t < c.need_t - 1e-9]
    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version="test")
    return Plan.build(scenario, convoys, short, solver)
