"""Escorted waves scheduled together on CP-SAT, not one at a time.

:func:`allocate.waves.pool_waves` places waves greedily: each takes the earliest free unit and the
idle trucks there, and a wave placed early can block two better ones later. Escort hours are what
runs short in a conflict response, so how they are packed decides how much reaches the sites
that need an escort. This module states the packing exactly and lets CP-SAT search it, starting
from the greedy waves:

- a *slot* is a possible wave: a load (depot, organization, site), a truck weight class, an escort
  unit the rules admit, and the quickest road that unit keeps within ``max_risk``
  (:func:`allocate.waves._legs`);
- a slot used has a departure time (arrival inside the site's window, return inside the horizon),
  a number of trucks of each type of that class, and the tonnes it carries;
- the escort unit is busy from departure minus its way from base to the depot to return plus its
  way back (FORMAT.md §3.5): one cumulative per unit, ``count`` copies;
- trucks are busy from departure to return: one cumulative per fleet type, around the convoys the
  plan already keeps;
- a load's waves carry no more than the load; the value is severity × tonnes.

Times are on the escort stage's grid (1/SCALE h, :func:`allocate.escorts.escort_ticks`), every
busy interval widened by a tick, so :func:`allocate.escorts.assign_escorts` sees the same schedule
as feasible. The escort is still named by ``assign_escorts``, which checks every rule again.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ortools.sat.python import cp_model

from allocate.access import AccessFacts
from allocate.escorts import SCALE, escort_ticks
from allocate.network import Path, RoadNetwork
from allocate.plan import Convoy, Stop
from allocate.scenario import EscortUnit, FleetType, Scenario
from allocate.waves import ANY_ORGANIZATION, Calendar, _escort_organizations, _trucks_for, _wave_types

KG_PER_T = 1000
SEARCH_WORKERS = 2
DETERMINISTIC_WORK = 10.0  # CP-SAT deterministic seconds under deterministic=True (haiti_like: 11.6 s wall)
MAX_SLOTS_PER_LOAD = 24  # possible waves per load across its options; more only slows the search


@dataclass
class _Option:
    """One way to send a load's waves: organization, truck types, escort unit and legs."""

    key: tuple[str, str, str]
    organization: str
    types: list[FleetType]
    escort: EscortUnit
    positioning: tuple[float, float]
    out: Path
    back: Path
    trip_h: float
    slots: list[int] = field(default_factory=list)


@dataclass
class _Slot:
    option: _Option
    present: cp_model.IntVar
    start: cp_model.IntVar
    trucks: dict[str, cp_model.IntVar]
    kg: cp_model.IntVar


def schedule_waves(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    kept: Sequence[Convoy],
    loads: Mapping[tuple[str, str, str], Mapping[str, float]],
    *,
    time_limit: float,
    seed: int = 0,
    hint: Sequence[tuple[Convoy, str | None]] = (),
    deterministic: bool = False,
) -> list[tuple[Convoy, str]]:
    """Waves for ``loads`` ``{(depot, organization or ANY_ORGANIZATION, site): units}`` fitted
    around ``kept``: ``[(wave, escort unit it was fitted around)]``, at most ``time_limit`` seconds.

    ``hint``: waves found another way (:func:`allocate.waves.pool_waves`), as a start; the result
    moves at least as many severity-weighted tonnes as the start CP-SAT accepts from them. Empty
    when nothing fits or CP-SAT finds no solution in time. ``deterministic``: bound the search by
    work (:data:`DETERMINISTIC_WORK`) as well, so a seed gives the same waves on every run, as
    long as ``time_limit`` does not cut the search first.
    """
    started = time.perf_counter()
    calendar = Calendar(scenario, network, kept)
    severity = {s.id: s.severity for s in scenario.sites}
    loads = {k: {c: u for c, u in v.items() if u > 1e-9} for k, v in loads.items() if k[2] in severity}
    loads = {k: v for k, v in loads.items() if v}
    model = cp_model.CpModel()
    options = _options(scenario, network, access, calendar, loads)
    if not options:
        return []
    slots = _slots(scenario, model, options, loads)
    _capacities(scenario, network, model, calendar, slots)
    model.maximize(sum(severity[s.option.key[2]] * s.kg for s in slots) * 100
                   - sum(sum(s.trucks.values()) for s in slots))
    _add_hints(scenario, model, slots, hint)
    left = time_limit - (time.perf_counter() - started)
    if left <= 0.05:
        return []
    solver = cp_model.CpSolver()
    # Two workers found the most on the sample crises (one sits on the hint); interleaved
    # search bounded by work, not wall clock, gives the same waves on every run for a seed.
    solver.parameters.num_workers = SEARCH_WORKERS
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = left
    if deterministic:
        solver.parameters.interleave_search = True
        solver.parameters.max_deterministic_time = DETERMINISTIC_WORK
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return []
    return _waves(scenario, solver, slots, loads)


def _options(scenario: Scenario, network: RoadNetwork, access: AccessFacts, calendar: Calendar,
             loads: Mapping[tuple[str, str, str], Mapping[str, float]]) -> list[_Option]:
    """Every (organization, weight class, escort unit) that can carry a load's waves in time."""
    found: list[_Option] = []
    for key in sorted(loads):
        depot, org, site = key
        node = scenario.node_by_id[site]
        orgs = _escort_organizations(scenario, depot) if org == ANY_ORGANIZATION else [org]
        for org_id in orgs:
            types = _wave_types(scenario, depot, org_id)
            for weight_t in sorted({f.capacity_t for f in types}):
                usable = [f for f in types if f.capacity_t <= weight_t]
                for escort, pos, out, back in calendar.legs(scenario, network, access, depot, site, weight_t):
                    trip = out.hours + node.service_h + back.hours
                    if trip > scenario.horizon_h + 1e-9:
                        continue
                    found.append(_Option(key, org_id, usable, escort, pos, out, back, trip))
    return found


def _ticks_up(hours: float) -> int:
    return math.ceil(hours * SCALE - 1e-6)


def _ticks_down(hours: float) -> int:
    return math.floor(hours * SCALE + 1e-6)


def _slots(scenario: Scenario, model: cp_model.CpModel, options: list[_Option],
           loads: Mapping[tuple[str, str, str], Mapping[str, float]]) -> list[_Slot]:
    """Possible waves per option (as many as the load could fill, within the unit's hours), their
    timing limits, what each carries, and no more than each load in all."""
    slots: list[_Slot] = []
    by_key: dict[tuple[str, str, str], list[_Option]] = defaultdict(list)
    for option in options:
        by_key[option.key].append(option)
    for key, key_options in by_key.items():
        load = loads[key]
        load_t = scenario.weight_t(load)
        load_m3 = scenario.volume_m3(load)
        density = load_t / load_m3 if load_m3 > 0 else math.inf
        node = scenario.node_by_id[key[2]]
        wanted = {}
        for option in key_options:
            per_truck = {f.id: min(f.capacity_t, f.capacity_m3 * density) for f in option.types}
            fleet_t = sum(f.count * per_truck[f.id] for f in option.types)
            busy = option.trip_h + sum(option.positioning)
            by_load = math.ceil(load_t / max(fleet_t, 1e-9) - 1e-9)
            by_unit = option.escort.count * max(1, math.floor(scenario.horizon_h / max(busy, 1e-9)))
            wanted[id(option)] = (min(by_load, by_unit), busy, per_truck)
        # the options that keep the unit busy least per tonne get their slots first
        ranked = sorted(key_options, key=lambda o: wanted[id(o)][1] / max(1e-9, sum(
            f.count * wanted[id(o)][2][f.id] for f in o.types)))
        budget = MAX_SLOTS_PER_LOAD
        key_kg = []
        for option in ranked:
            n, _, per_truck = wanted[id(option)]
            n = min(n, budget)
            budget -= n
            lo = 0
            hi = _ticks_down(scenario.horizon_h - option.trip_h)
            if node.window is not None:
                lo = max(lo, _ticks_up(node.window[0] - option.out.hours))
                hi = min(hi, _ticks_down(node.window[1] - option.out.hours))
            if hi < lo:
                continue
            previous: _Slot | None = None
            for i in range(n):
                name = f"{option.key}_{option.organization}_{option.escort.id}_{len(option.types)}_{i}"
                present = model.new_bool_var(f"x{name}")
                start = model.new_int_var(lo, hi, f"s{name}")
                trucks = {f.id: model.new_int_var(0, f.count, f"n{name}_{f.id}") for f in option.types}
                cap_kg = sum(f.count * per_truck[f.id] for f in option.types) * KG_PER_T
                kg = model.new_int_var(0, math.floor(min(cap_kg, load_t * KG_PER_T)), f"kg{name}")
                # the convoy's load within its trucks' total weight and volume (FORMAT.md LOAD_*)
                model.add(kg <= sum(math.floor(f.capacity_t * KG_PER_T) * trucks[f.id] for f in option.types))
                if density < math.inf:
                    model.add(kg <= sum(math.ceil(f.capacity_m3 * density * KG_PER_T) * trucks[f.id]
                                        for f in option.types))
                model.add(kg == 0).only_enforce_if(present.Not())
                for v in trucks.values():
                    model.add(v == 0).only_enforce_if(present.Not())
                model.add(sum(trucks.values()) >= 1).only_enforce_if(present)
                if previous is not None:  # interchangeable slots: used ones first, in time order
                    model.add_implication(present, previous.present)
                    model.add(previous.start <= start)
                slot = _Slot(option, present, start, trucks, kg)
                option.slots.append(len(slots))
                slots.append(slot)
                key_kg.append(kg)
                previous = slot
        if key_kg:
            model.add(sum(key_kg) <= math.floor(load_t * KG_PER_T))
    return slots


def _capacities(scenario: Scenario, network: RoadNetwork, model: cp_model.CpModel, calendar: Calendar,
                slots: list[_Slot]) -> None:
    """One cumulative per escort unit and per fleet type, around what the calendar already holds."""
    escort_use: dict[str, list] = defaultdict(list)
    fleet_use: dict[str, list] = defaultdict(list)
    for n, slot in enumerate(slots):
        option = slot.option
        trip = _ticks_up(option.trip_h)
        # the escort stage's grid: [depart - p_out, return + p_back) rounded outwards
        before, after = escort_ticks((-option.positioning[0], option.trip_h + option.positioning[1]))
        escort_interval = model.new_optional_fixed_size_interval_var(
            slot.start + before, after - before, slot.present, f"e{n}")
        escort_use[option.escort.id].append((escort_interval, 1))
        truck_interval = model.new_optional_fixed_size_interval_var(slot.start, trip, slot.present, f"t{n}")
        for fleet_id, count in slot.trucks.items():
            fleet_use[fleet_id].append((truck_interval, count))
    for unit_id, used in escort_use.items():
        fixed = [(model.new_fixed_size_interval_var(a, b - a, f"eu_{unit_id}_{i}"), n)
                 for i, (a, b, n) in enumerate(calendar.escort[unit_id])]
        both = used + fixed
        model.add_cumulative([i for i, _ in both], [d for _, d in both], scenario.escort_by_id[unit_id].count)
    for fleet_id, used in fleet_use.items():
        fixed = []
        for i, (a, b, n) in enumerate(calendar.fleet[fleet_id]):
            lo, hi = _ticks_down(a), _ticks_up(b)
            fixed.append((model.new_fixed_size_interval_var(lo, max(hi - lo, 0), f"fu_{fleet_id}_{i}"), n))
        both = used + fixed
        model.add_cumulative([i for i, _ in both], [d for _, d in both], scenario.fleet_by_id[fleet_id].count)


def _add_hints(scenario: Scenario, model: cp_model.CpModel, slots: list[_Slot],
               hint: Sequence[tuple[Convoy, str | None]]) -> dict[int, Convoy]:
    """Start from waves found another way: ``{slot: wave}``. Each wave goes to the option with its
    load, organization and unit and the lightest class that holds its trucks; an option's waves
    take its slots in time order (slots are ordered so)."""
    options: dict[tuple, list[_Option]] = defaultdict(list)
    for slot in slots:
        o = slot.option
        if not options[(o.key[0], o.organization, o.key[2], o.escort.id)] or \
                options[(o.key[0], o.organization, o.key[2], o.escort.id)][-1] is not o:
            options[(o.key[0], o.organization, o.key[2], o.escort.id)].append(o)
    waves_of: dict[int, list[Convoy]] = defaultdict(list)
    chosen: dict[int, _Option] = {}
    for wave, unit in hint:
        if unit is None or len(wave.stops) != 1:
            continue
        heaviest = max(scenario.fleet_by_id[f].capacity_t for f in wave.vehicles)
        fits = [o for o in options.get((wave.depot, wave.organization, wave.stops[0].site, unit), ())
                if set(wave.vehicles) <= {f.id for f in o.types} and max(f.capacity_t for f in o.types) >= heaviest - 1e-9]
        if fits:
            option = min(fits, key=lambda o: (len(o.types), o.trip_h))
            chosen[id(option)] = option
            waves_of[id(option)].append(wave)
    placed: dict[int, Convoy] = {}
    for key, option in chosen.items():
        for n, wave in zip(option.slots, sorted(waves_of[key], key=lambda w: (w.depart_h, w.id))):
            placed[n] = wave
    for n, slot in enumerate(slots):
        wave = placed.get(n)
        model.add_hint(slot.present, wave is not None)
        if wave is None:
            continue
        model.add_hint(slot.start, round(wave.depart_h * SCALE))
        for fleet_id, var in slot.trucks.items():
            model.add_hint(var, wave.vehicles.get(fleet_id, 0))
        model.add_hint(slot.kg, math.floor(scenario.weight_t(wave.stops[0].unload) * KG_PER_T))
    return placed


def _waves(scenario: Scenario, solver: cp_model.CpSolver, slots: list[_Slot],
           loads: Mapping[tuple[str, str, str], Mapping[str, float]]) -> list[tuple[Convoy, str]]:
    """The slots used, as convoys: each carries its tonnes as the same share of every commodity
    of its load, on the fewest of its trucks that hold it."""
    out: list[tuple[Convoy, str]] = []
    used = [s for s in slots if solver.boolean_value(s.present) and solver.value(s.kg) > 0]
    for slot in sorted(used, key=lambda s: (solver.value(s.start), s.option.key, s.option.escort.id)):
        option = slot.option
        load = loads[option.key]
        trucks = {f: solver.value(v) for f, v in slot.trucks.items() if solver.value(v) > 0}
        # the model rounds a truck's volume up by under a kilogram's worth: the trucks' real
        # capacity has the last word
        share = min(1.0, solver.value(slot.kg) / KG_PER_T / scenario.weight_t(load),
                    _capacity(scenario, trucks, "capacity_t") / scenario.weight_t(load),
                    _capacity(scenario, trucks, "capacity_m3") / max(scenario.volume_m3(load), 1e-12))
        unload = {c: u * share for c, u in load.items()}
        site = scenario.node_by_id[option.key[2]]
        depart = solver.value(slot.start) / SCALE
        arrive = depart + option.out.hours
        trucks = _trucks_for(scenario, trucks, unload)
        convoy = Convoy(
            id=f"W{len(out) + 1:04d}",
            organization=option.organization,
            depot=option.key[0],
            vehicles=trucks,
            path=option.out.nodes + option.back.nodes[1:],
            depart_h=depart,
            stops=(Stop(site=site.id, arrive_h=arrive, unload=unload),),
            return_h=arrive + site.service_h + option.back.hours,
            escort=None,
            wave=True,
        )
        out.append((convoy, option.escort.id))
    return out


def _capacity(scenario: Scenario, trucks: Mapping[str, int], attribute: str) -> float:
    return sum(n * getattr(scenario.fleet_by_id[f], attribute) for f, n in trucks.items())
