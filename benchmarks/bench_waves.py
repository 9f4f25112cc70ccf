"""Escorted waves alone: CP-SAT schedule (wave_schedule.py) against the greedy (waves.place_waves).

For each sample crisis: the distribution model's allocation; every load it moves under escort
becomes a wave load on an empty calendar (no other convoy); the greedy places its waves, then
CP-SAT schedules them from the greedy as a hint; both sets are escorted by ``assign_escorts``.
Reported per crisis: the share of Σ severity × need the allocation moves under escort (what
waves could at most deliver), what each set of escorted waves delivers on the same scale, the
ratio CP-SAT / greedy, wave counts and seconds, and how busy the escort units CP-SAT used are.

    .venv/bin/python benchmarks/bench_waves.py [--only NAME ...] [--time-limit 20] [--seed 0] [--deterministic]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from allocate import load_scenario
from allocate.access import AccessFacts
from allocate.distribute import distribute
from allocate.escorts import assign_escorts, escort_busy_window
from allocate.network import RoadNetwork
from allocate.plan import Convoy
from allocate.planner import _undelivered
from allocate.scenario import Scenario
from allocate.wave_schedule import schedule_waves
from allocate.waves import place_waves, pooled_loads

MODELS = Path(__file__).resolve().parent.parent / "models"


def _escorted_share(scenario: Scenario, network: RoadNetwork, waves: list[Convoy], scale: float) -> tuple[float, int]:
    """Severity-weighted tonnes of the waves ``assign_escorts`` finds a unit for, over ``scale``."""
    severity = {s.id: s.severity for s in scenario.sites}
    assignment = assign_escorts(scenario, waves, time_limit=10, seed=0, network=network, reroute=True)
    kept = [c for c in assignment.convoys if c.escort]
    return sum(severity[s.site] * scenario.weight_t(s.unload) for c in kept for s in c.stops) / scale, len(kept)


def run(name: str, time_limit: float, seed: int, deterministic: bool) -> dict:
    scenario = load_scenario(MODELS / f"{name}.json")
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    severity = {s.id: s.severity for s in scenario.sites}
    scale = sum(s.severity * scenario.weight_t(s.need) for s in scenario.sites)
    allocation = distribute(scenario, time_limit=30, seed=seed)
    loads = pooled_loads([], _undelivered(allocation, [], escorted=True))
    share = sum(severity[k[2]] * scenario.weight_t(v) for k, v in loads.items()) / scale
    t0 = time.perf_counter()
    greedy = place_waves(scenario, network, access, [], loads)
    greedy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scheduled = schedule_waves(scenario, network, access, [], loads, time_limit=time_limit, seed=seed, hint=greedy,
                               deterministic=deterministic)
    scheduled_s = time.perf_counter() - t0
    greedy_value, greedy_n = _escorted_share(scenario, network, [w for w, _ in greedy], scale)
    value, n = _escorted_share(scenario, network, [w for w, _ in scheduled], scale)
    busy: dict[str, float] = defaultdict(float)
    for wave, unit in scheduled:
        start, end = escort_busy_window(scenario, network, unit, wave)
        busy[unit] += end - start
    units = {u.id: u for u in scenario.escorts}
    return {
        "crisis": name, "escorted_share": share, "greedy": greedy_value, "greedy_waves": greedy_n,
        "greedy_s": greedy_s, "cpsat": value, "cpsat_waves": n, "cpsat_s": scheduled_s,
        "ratio": value / greedy_value if greedy_value else float("nan"),
        "unit_busy": {u: busy[u] / (units[u].count * scenario.horizon_h) for u in sorted(busy)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deterministic", action="store_true")
    args = parser.parse_args()
    names = args.only or sorted(p.stem for p in MODELS.glob("*.json"))
    print("| crisis | escorted share | greedy | CP-SAT | CP-SAT/greedy | waves greedy→CP-SAT | s greedy / CP-SAT | "
          "escort unit hours / (count × horizon), positioning before 0 and after the horizon included |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    for name in names:
        r = run(name, args.time_limit, args.seed, args.deterministic)
        busy = ", ".join(f"{u} {b:.2f}" for u, b in r["unit_busy"].items())
        print(f"| {name} | {r['escorted_share']:.3f} | {r['greedy']:.3f} | {r['cpsat']:.3f} | {r['ratio']:.3f} | "
              f"{r['greedy_waves']}→{r['cpsat_waves']} | {r['greedy_s']:.1f} / {r['cpsat_s']:.1f} | {busy} |", flush=True)


if __name__ == "__main__":
    main()
