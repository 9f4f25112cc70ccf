"""A naive planner to measure ``allocate.plan`` against: one convoy per site, greedy, no escorts.

Sites are taken by severity (most severe first); each gets one trip of one vehicle from the
nearest depot that reaches it unescorted within the risk threshold and the horizon, loaded with
as much of its need as the vehicle, the stock and the site's window allow. No allocation model,
no routing search, no escorts: what an analyst would do by hand with a spreadsheet. Its plans
pass the checker, so the comparison is between two valid plans.
"""

from __future__ import annotations

from allocate.access import AccessFacts, within
from allocate.network import RoadNetwork, Usability
from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim, site_coverage
from allocate.scenario import Scenario


def greedy_plan(scenario: Scenario) -> Plan:
    """One unescorted convoy per site, most severe sites first."""
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    policy = scenario.policy
    stock = {d.id: dict(d.stock) for d in scenario.depots}
    free_at: dict[str, list[float]] = {f.id: [0.0] * f.count for f in scenario.fleet}
    convoys: list[Convoy] = []
    for site in sorted(scenario.sites, key=lambda s: (-s.severity, s.id)):
        options = []
        for fleet in scenario.fleet:
            if fleet.count < 1 or fleet.military or fleet.capacity_t <= 0:
                continue
            roads = Usability(vehicle_weight_t=fleet.capacity_t)
            out = network.least_path(fleet.depot, site.id, "risk", roads)
            back = network.least_path(site.id, fleet.depot, "risk", roads)
            if out is None or back is None:
                continue
            risk = 1 - (1 - out.risk) * (1 - back.risk)
            if not within(risk, policy.risk_threshold):
                continue
            options.append((out.hours + back.hours, fleet.id, out, back))
        for _, fleet_id, out, back in sorted(options, key=lambda o: (o[0], o[1])):
            fleet = scenario.fleet_by_id[fleet_id]
            vehicle = min(range(fleet.count), key=lambda k: free_at[fleet_id][k])
            depart = free_at[fleet_id][vehicle]
            arrive = depart + out.hours
            if site.window is not None:
                if arrive > site.window[1]:
                    continue
                if arrive < site.window[0]:
                    depart += site.window[0] - arrive
                    arrive = site.window[0]
            back_at = arrive + site.service_h + back.hours
            if not within(back_at, scenario.horizon_h):
                continue
            load = _load(scenario, site.need, stock[fleet.depot], fleet.capacity_t, fleet.capacity_m3)
            if not load:
                continue
            for commodity, units in load.items():
                stock[fleet.depot][commodity] -= units
            free_at[fleet_id][vehicle] = back_at
            convoys.append(
                Convoy(
                    id=f"G{len(convoys) + 1:04d}",
                    organization=fleet.organization,
                    depot=fleet.depot,
                    vehicles={fleet_id: 1},
                    path=out.nodes + back.nodes[1:],
                    depart_h=depart,
                    stops=(Stop(site=site.id, arrive_h=arrive, unload=load),),
                    return_h=back_at,
                    escort=None,
                )
            )
            break
    coverage = site_coverage(scenario, convoys)
    unmet = []
    for site in scenario.sites:
        if within(coverage[site.id].need_t, coverage[site.id].delivered_t):
            continue
        reasons = access.holding_reasons(site.id) if coverage[site.id].delivered_t == 0 else ()
        unmet += [UnmetClaim(site=site.id, reason=r) for r in reasons] or [UnmetClaim(site=site.id, reason="greedy")]
    solver = SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version="greedy-baseline")
    return Plan.build(scenario, convoys, unmet, solver, network)


def _load(scenario: Scenario, need, stock, capacity_t: float, capacity_m3: float) -> dict[str, float]:
    """Fill one vehicle with the site's need, commodity by commodity, within weight, volume, stock."""
    load: dict[str, float] = {}
    weight_left, volume_left = capacity_t, capacity_m3
    for commodity, units in need.items():
        c = scenario.commodity_by_id[commodity]
        fit = min(units, stock.get(commodity, 0.0), weight_left / c.weight_t)
        if c.volume_m3 > 0:
            fit = min(fit, volume_left / c.volume_m3)
        fit = float(int(fit)) if fit >= 1 else 0.0  # whole units, as a loader would
        if fit > 0:
            load[commodity] = fit
            weight_left -= fit * c.weight_t
            volume_left -= fit * c.volume_m3
    return load
