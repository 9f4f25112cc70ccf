"""Checker speed (DESIGN.md target: check() of a 10,000-convoy plan in < 2 s).

Builds a plan of the right shape on a generated crisis (``allocate.generate``): 10,000 convoys
on least-time paths of their own vehicles' roads, one to three stops, escorts on some convoys
(so the last-resort search runs), military convoys, checked and informative unmet claims, and
the §3.7 metrics. The plan is realistic, not violation-free: the checker must walk every rule.
Then it times ``check()`` from a cold road network (every Dijkstra tree included).

    .venv/bin/python benchmarks/bench_check.py [--convoys 10000] [--sites 1000] [--repeat 3]

Also runs under pytest-benchmark: ``.venv/bin/pytest benchmarks/bench_check.py --benchmark-enable``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from typing import Any

import numpy as np

from allocate.access import AccessFacts
from allocate.check import _FastNetwork, check
from allocate.network import RoadNetwork, Usability
from allocate.plan import CHECKED_REASONS, Plan, compute_metrics
from allocate.scenario import Scenario, Site


def _scenario(sites: int, seed: int) -> Scenario:
    """A generated crisis; the generator belongs to another module, so import it lazily."""
    from allocate.generate import generate_scenario

    return generate_scenario(sites, seed=seed)


def build_plan(scenario: Scenario, convoys: int, seed: int = 0) -> Plan:
    """A ``convoys``-convoy plan answering ``scenario`` (FORMAT.md §2 shape, metrics included)."""
    rng = np.random.default_rng(seed)
    net = RoadNetwork(scenario)
    s = scenario
    fleets = [f for f in s.fleet if f.count >= 1]
    orgs = s.organization_by_id
    reach: dict[str, list[str]] = {}
    for f in fleets:  # sites each fleet type can reach and leave on its own roads
        roads = Usability(vehicle_weight_t=f.capacity_t)
        out, back = net.distances_from(f.depot, "hours", roads), net.distances_to(f.depot, "hours", roads)
        reach[f.id] = [x.id for x in s.sites if x.id in out and x.id in back]
    fleets = [f for f in fleets if reach[f.id]]

    rows: list[dict[str, Any]] = []
    for i in range(convoys):
        f = fleets[i % len(fleets)]
        roads = Usability(vehicle_weight_t=f.capacity_t)
        target = reach[f.id][int(rng.integers(len(reach[f.id])))]
        out = net.least_path(f.depot, target, "hours", roads)
        back = net.least_path(target, f.depot, "hours", roads)
        path = list(out.nodes) + list(back.nodes[1:])
        on_way = [n for n in out.nodes[1:-1] if isinstance(s.node_by_id[n], Site)][:2]
        stop_sites = on_way + [target]
        t = float(rng.uniform(0, s.horizon_h / 3))
        depart, stops, k = t, [], 0
        for a, b in zip(path, path[1:]):
            t += net.road(a, b).hours
            if k < len(stop_sites) and b == stop_sites[k]:
                site = s.node_by_id[b]
                arrive = max(t, site.window[0]) if site.window else t
                commodity = next(iter(site.need))
                stops.append({"site": b, "arrive_h": arrive, "unload": {commodity: round(float(rng.uniform(1, 20)), 2)}})
                t, k = arrive + site.service_h, k + 1
        escort = None
        if orgs[f.organization].escort_policy != "never" and rng.random() < 0.3:
            escort = s.escorts[int(rng.integers(len(s.escorts)))].id
        rows.append({
            "id": f"C{i:05d}", "organization": f.organization, "depot": f.depot,
            "vehicles": {f.id: int(rng.integers(1, min(f.count, 3) + 1))}, "path": path,
            "depart_h": depart, "stops": stops, "return_h": t, "escort": escort,
        })

    served = {stop["site"] for row in rows for stop in row["stops"]}
    access = AccessFacts(s, _FastNetwork(s))  # the compiled trees: networkx takes minutes here
    unmet = []
    for x in s.sites:
        if x.id in served:
            continue
        reasons = access.holding_reasons(x.id)
        unmet.append({"site": x.id, "reason": reasons[0] if reasons else "fleet"})
    plan = Plan.model_validate({
        "format": "allocate.plan/1", "scenario": {"name": s.name}, "convoys": rows, "unmet": unmet,
        "metrics": {}, "solver": {"status": "feasible", "objective": None, "bound": None, "seconds": 0.0,
                                  "seed": seed, "version": "bench"},
    })
    claimed = {u["site"] for u in unmet if u["reason"] in CHECKED_REASONS}
    metrics = compute_metrics(s, plan.convoys, {x.id for x in s.sites} - claimed, net)
    return plan.model_copy(update={"metrics": metrics})


def time_check(scenario: Scenario, plan: Plan, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per ``check()``, each from a cold road network (no cached tree).

    CPU time is reported beside wall time because benchmarks often share the machine: the
    process's own CPU seconds say what check() costs, wall seconds what a user waited.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        fresh = Scenario.from_dict(scenario.to_dict())  # no cached lookups either
        wall, cpu = time.perf_counter(), time.process_time()
        check(fresh, plan)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convoys", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    scenario = _scenario(args.sites, args.seed)
    plan = build_plan(scenario, args.convoys, args.seed)
    report = check(scenario, plan)
    walls, cpus = time_check(scenario, plan, args.repeat)
    escorted = sum(c.escort is not None for c in plan.convoys)
    print(f"scenario: {len(scenario.sites)} sites, {len(scenario.roads)} roads, {len(scenario.depots)} depots")
    print(f"plan: {len(plan.convoys)} convoys ({escorted} escorted), {len(plan.unmet)} unmet entries")
    print(f"violations found: {len(report.violations)} ({', '.join(sorted(report.codes)) or 'none'})")
    legs = sum(len(c.path) - 1 for c in plan.convoys)
    print(f"plan: {legs} road traversals in all ({legs / len(plan.convoys):.0f} per convoy)")
    print(f"check(): wall median {statistics.median(walls):.3f} s (best {min(walls):.3f} s), "
          f"CPU median {statistics.median(cpus):.3f} s (best {min(cpus):.3f} s) over {len(walls)} cold runs")
    print(f"machine load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    calib = min(timeit.repeat("sum(range(10**6))", number=1, repeat=5))
    print(f"calibration in the same run: sum(range(10**6)) {calib * 1e3:.1f} ms; "
          f"check() CPU median = {statistics.median(cpus) / calib:.0f}x that")
    return 0


def test_check_10k_convoys(benchmark) -> None:  # pragma: no cover - pytest-benchmark entry
    scenario = _scenario(1_000, 1)
    plan = build_plan(scenario, 10_000, 1)
    benchmark.pedantic(lambda: check(Scenario.from_dict(scenario.to_dict()), plan), rounds=3, iterations=1)


if __name__ == "__main__":
    sys.exit(main())
