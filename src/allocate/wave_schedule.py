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
- a load's waves carry no more than the load; the value is severity × tonnes;
- convoys that need no escort and share trucks with the waves (``movable``) may move in time,
  whole, within their sites' windows and the horizon, or stay home: a full wave under a scarce
  unit is often worth more than the trucks' earlier safe trip, which the fill-in stages can send
  again later (planner.py).

Times are on the escort stage's grid (1/SCALE h, :func:`allocate.escorts.escort_ticks`), every
busy interval widened by a tick, so :func:`allocate.escorts.assign_escorts` sees the same schedule
as feasible. The escort is still named by ``assign_escorts``, which checks every rule again.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ortools.sat.python import cp_model

from allocate import clock
from allocate.access import AccessFacts
from allocate.escorts import SCALE, escort_ticks
from allocate.network import Path, RoadNetwork
from allocate.plan import Convoy, Stop
from allocate.scenario import EscortUnit, FleetType, Scenario
from allocate.waves import (ANY_ORGANIZATION, Calendar, _escort_floor_t, _escort_organizations, _wave_types,
                            shift_range, shifted, trucks_capacity, trucks_for)

KG_PER_T = 1000
SEARCH_WORKERS = 2
# Counted work seconds (clock.py) per CP-SAT deterministic second: the wall seconds one takes on
# the sample crises, 2 workers, quiet reference machine (schedule_waves with its model built:
# haiti_like 1.6, cote_divoire_like 2.1); under deterministic=True a ``time_limit`` of counted
# work buys this many times fewer deterministic seconds.
WORK_PER_DETERMINISTIC_S = 1.6
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
    floor_t: float  # a wave carries a truck at least this heavy (last_resort: _escort_floor_t)
    slots: list[int] = field(default_factory=list)


@dataclass
class _Movable:
    """A convoy without escort the schedule may shift by ``shift`` ticks or leave out."""

    convoy: Convoy
    present: cp_model.IntVar
    shift: cp_model.IntVar
    first_tick: int  # the convoy's busy time unshifted, on the grid, rounded outwards
    ticks: int
    value: int  # severity × kilograms it delivers


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
    movable: Sequence[Convoy] = (),
    wall_limit: float | None = None,
    workers: int | None = None,
) -> list[tuple[Convoy, str | None]]:
    """Waves for ``loads`` ``{(depot, organization or ANY_ORGANIZATION, site): units}`` fitted
    around ``kept``: ``[(wave, escort unit it was fitted around)]``, at most ``time_limit``
    seconds (deterministic: of counted work).

    ``movable``: convoys without escort the waves may move in time or leave out; those kept come
    back in the result with the unit ``None``, shifted where the schedule moved them. The hint
    keeps a movable convoy where it has it (same id, unit ``None``) and leaves the others out. A
    movable convoy using none of the waves' truck types stays as it is.

    ``hint``: waves found another way (:func:`allocate.waves.pool_waves`), as a start; the result
    moves at least as many severity-weighted tonnes as the start CP-SAT accepts from them. Empty
    when nothing fits or CP-SAT finds no solution in time. ``deterministic``: ``time_limit`` is
    counted work (clock.py): the search is bounded by CP-SAT's deterministic seconds,
    ``time_limit / WORK_PER_DETERMINISTIC_S`` and at most :data:`DETERMINISTIC_WORK`, so a seed
    gives the same waves on every run, as long as ``wall_limit`` (wall seconds, default
    ``time_limit``) does not cut the search first (the clock in use is then marked cut); the work
    done is counted on it (:func:`allocate.clock.advance`). ``workers``: CP-SAT's search workers
    (default :data:`SEARCH_WORKERS`).
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
    wave_types = {f.id for o in options for f in o.types}
    still = [c for c in movable if not set(c.vehicles) & wave_types]
    for convoy in still:
        calendar.add(scenario, network, convoy)
    moving = _movables(scenario, model, [c for c in movable if set(c.vehicles) & wave_types], severity)
    hinted = _hinted_waves(scenario, options, hint)
    slots = _slots(scenario, model, calendar, options, loads, hinted)
    _capacities(scenario, network, model, calendar, slots, moving)
    model.maximize(sum(severity[s.option.key[2]] * s.kg for s in slots) * 100
                   + sum(m.value * m.present for m in moving) * 100
                   - sum(sum(s.trucks.values()) for s in slots))
    _add_hints(scenario, model, slots, hinted)
    _hint_movables(model, moving, hint)
    left = (time_limit if wall_limit is None else wall_limit) - (time.perf_counter() - started)
    if left <= 0.05 or (deterministic and time_limit <= 0.05):
        if deterministic and left <= 0.05:
            clock.mark_cut()  # the wall clock, not the work, left no time
        return []
    solver = cp_model.CpSolver()
    # Two workers found the most on the sample crises (one sits on the hint); interleaved
    # search bounded by work, not wall clock, gives the same waves on every run for a seed.
    solver.parameters.num_workers = SEARCH_WORKERS if workers is None else workers
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = left
    if deterministic:
        solver.parameters.interleave_search = True
        solver.parameters.max_deterministic_time = min(DETERMINISTIC_WORK, time_limit / WORK_PER_DETERMINISTIC_S)
    code = solver.solve(model)
    clock.advance(solver.deterministic_time * WORK_PER_DETERMINISTIC_S)
    if deterministic and solver.wall_time >= 0.95 * left:
        clock.mark_cut()  # stopped by the wall clock (or as good as): another run may stop elsewhere
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return []
    return _waves(scenario, solver, slots, loads) + [(c, None) for c in still] + _moved(solver, moving)


def _movables(scenario: Scenario, model: cp_model.CpModel, convoys: Sequence[Convoy],
              severity: Mapping[str, int]) -> list[_Movable]:
    """A presence and a shift per convoy: whole ticks, so every arrival stays inside its site's
    window, the departure at or after 0 and the return inside the horizon (FORMAT.md §3 time)."""
    out: list[_Movable] = []
    for n, convoy in enumerate(convoys):
        early, late = shift_range(scenario, convoy)
        lo, hi = min(0, _ticks_up(early)), max(0, _ticks_down(late))
        first = math.floor(convoy.depart_h * SCALE + 1e-6)
        ticks = max(1, math.ceil(convoy.return_h * SCALE - 1e-6) - first)
        value = sum(severity.get(s.site, 0) * _kg_down(scenario.weight_t(s.unload) * KG_PER_T) for s in convoy.stops)
        out.append(_Movable(convoy, model.new_bool_var(f"m{n}"), model.new_int_var(lo, hi, f"d{n}"), first, ticks,
                            value))
    return out


def _hint_movables(model: cp_model.CpModel, moving: Sequence[_Movable],
                   hint: Sequence[tuple[Convoy, str | None]]) -> None:
    at = {c.id: c.depart_h for c, unit in hint if unit is None}
    for m in moving:
        depart = at.get(m.convoy.id)
        model.add_hint(m.present, depart is not None)
        model.add_hint(m.shift, 0 if depart is None else round((depart - m.convoy.depart_h) * SCALE))


def _moved(solver: cp_model.CpSolver, moving: Sequence[_Movable]) -> list[tuple[Convoy, None]]:
    """The movable convoys the schedule kept, at their new times."""
    out: list[tuple[Convoy, None]] = []
    for m in moving:
        if not solver.boolean_value(m.present):
            continue
        out.append((shifted(m.convoy, solver.value(m.shift) / SCALE), None))
    return out


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
            floor_t = _escort_floor_t(scenario, network, depot, org_id, site, types)
            for weight_t in sorted({f.capacity_t for f in types if f.capacity_t >= floor_t}):
                usable = [f for f in types if f.capacity_t <= weight_t]
                for escort, pos, out, back in calendar.legs(scenario, network, access, depot, site, weight_t):
                    trip = out.hours + node.service_h + back.hours
                    if trip > scenario.horizon_h + 1e-9:
                        continue
                    found.append(_Option(key, org_id, usable, escort, pos, out, back, trip, floor_t))
    return found


def _ticks_up(hours: float) -> int:
    return math.ceil(hours * SCALE - 1e-6)


def _ticks_down(hours: float) -> int:
    return math.floor(hours * SCALE + 1e-6)


def _slots(scenario: Scenario, model: cp_model.CpModel, calendar: Calendar, options: list[_Option],
           loads: Mapping[tuple[str, str, str], Mapping[str, float]],
           hinted: Mapping[int, list[Convoy]]) -> list[_Slot]:
    """Possible waves per option (as many as the load could fill with the trucks ever idle at
    once, within the unit's hours, and never fewer than the start gave it), their timing limits,
    what each carries, and no more than each load in all."""
    slots: list[_Slot] = []
    by_key: dict[tuple[str, str, str], list[_Option]] = defaultdict(list)
    for option in options:
        by_key[option.key].append(option)
    most_idle = {f.id: _most_idle(calendar, f, scenario.horizon_h) for f in scenario.fleet}
    for key, key_options in by_key.items():
        load = loads[key]
        load_t = scenario.weight_t(load)
        load_m3 = scenario.volume_m3(load)
        density = load_t / load_m3 if load_m3 > 0 else math.inf
        node = scenario.node_by_id[key[2]]
        wanted = {}
        for option in key_options:
            fleet_t = _carries_t(option.types, {f.id: f.count for f in option.types}, density)
            idle_t = _carries_t(option.types, most_idle, density)
            busy = option.trip_h + sum(option.positioning)
            by_load = math.ceil(load_t / idle_t - 1e-9) if idle_t > 1e-9 else 0
            # departures every `busy` hours from 0 while the trip still ends inside the horizon:
            # the unit's positioning may fall before 0 and after the horizon (FORMAT.md §3.5)
            by_unit = option.escort.count * (math.floor((scenario.horizon_h - option.trip_h) / max(busy, 1e-9) + 1e-9) + 1)
            wanted[id(option)] = (min(by_load, by_unit), busy, fleet_t)
        # the options that keep the unit busy least per tonne get their slots first
        ranked = sorted(key_options, key=lambda o: wanted[id(o)][1] / max(1e-9, wanted[id(o)][2]))
        budget = MAX_SLOTS_PER_LOAD
        key_kg = []
        for option in ranked:
            n, _, fleet_t = wanted[id(option)]
            lo = 0
            hi = _ticks_down(scenario.horizon_h - option.trip_h)
            if node.window is not None:
                lo = max(lo, _ticks_up(node.window[0] - option.out.hours))
                hi = min(hi, _ticks_down(node.window[1] - option.out.hours))
            if hi < lo:
                continue
            n = max(min(n, budget), len(hinted.get(id(option), ())))
            budget = max(0, budget - n)
            previous: _Slot | None = None
            for i in range(n):
                name = f"{option.key}_{option.organization}_{option.escort.id}_{len(option.types)}_{i}"
                present = model.new_bool_var(f"x{name}")
                start = model.new_int_var(lo, hi, f"s{name}")
                trucks = {f.id: model.new_int_var(0, f.count, f"n{name}_{f.id}") for f in option.types}
                cap_kg = fleet_t * KG_PER_T
                kg = model.new_int_var(0, _kg_down(min(cap_kg, load_t * KG_PER_T)), f"kg{name}")
                # the convoy's load within its trucks' total weight and volume (FORMAT.md LOAD_*)
                model.add(kg <= sum(math.floor(f.capacity_t * KG_PER_T) * trucks[f.id] for f in option.types))
                if density < math.inf:
                    model.add(kg <= sum(math.ceil(f.capacity_m3 * density * KG_PER_T) * trucks[f.id]
                                        for f in option.types))
                model.add(kg == 0).only_enforce_if(present.Not())
                for v in trucks.values():
                    model.add(v == 0).only_enforce_if(present.Not())
                model.add(sum(trucks.values()) >= 1).only_enforce_if(present)
                if option.floor_t > 0:
                    model.add(sum(trucks[f.id] for f in option.types if f.capacity_t >= option.floor_t) >= 1
                              ).only_enforce_if(present)
                if previous is not None:  # interchangeable slots: used ones first, in time order
                    model.add_implication(present, previous.present)
                    model.add(previous.start <= start)
                slot = _Slot(option, present, start, trucks, kg)
                option.slots.append(len(slots))
                slots.append(slot)
                key_kg.append(kg)
                previous = slot
        if key_kg:
            model.add(sum(key_kg) <= _kg_down(load_t * KG_PER_T))
    return slots


def _capacities(scenario: Scenario, network: RoadNetwork, model: cp_model.CpModel, calendar: Calendar,
                slots: list[_Slot], moving: Sequence[_Movable] = ()) -> None:
    """One cumulative per escort unit and per fleet type, around what the calendar already holds."""
    escort_use: dict[str, list] = defaultdict(list)
    fleet_use: dict[str, list] = defaultdict(list)
    for n, m in enumerate(moving):
        interval = model.new_optional_fixed_size_interval_var(m.shift + m.first_tick, m.ticks, m.present, f"mt{n}")
        for fleet_id, count in m.convoy.vehicles.items():
            fleet_use[fleet_id].append((interval, count))
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
        count = scenario.fleet_by_id[fleet_id].count
        fixed = [(model.new_fixed_size_interval_var(lo, hi - lo, f"fu_{fleet_id}_{i}"), min(n, count))
                 for i, (lo, hi, n) in enumerate(_busy_per_tick(calendar.fleet[fleet_id]))]
        both = used + fixed
        model.add_cumulative([i for i, _ in both], [d for _, d in both], count)


def _busy_per_tick(intervals: Sequence[tuple[float, float, int]]) -> list[tuple[int, int, int]]:
    """Trucks the kept convoys hold, per tick: the most busy at any moment inside it, as runs
    ``(first tick, end tick, trucks)``. Why not each convoy rounded outwards on its own: two
    convoys back to back at an off-grid moment (return 1.0005 h = next departure) would both
    hold tick 1000, and with one truck the model would have no solution at all. A wave starts
    on a tick and holds every tick its trip touches, so it meets a kept convoy in real time
    only if it meets it here."""
    change: dict[float, int] = defaultdict(int)
    for a, b, n in intervals:
        change[round(a * SCALE, 6)] += n
        change[round(b * SCALE, 6)] -= n
    moments = sorted(change)
    spans: list[tuple[int, int, int]] = []  # each real stretch of constant use, on the ticks it touches
    busy = 0
    for x, next_x in zip(moments, moments[1:]):
        busy += change[x]
        if busy > 0:
            spans.append((math.floor(x + 1e-6), math.ceil(next_x - 1e-6), busy))
    runs: list[tuple[int, int, int]] = []
    bounds = sorted({t for lo, hi, _ in spans for t in (lo, hi)})
    active: list[tuple[int, int]] = []  # (-trucks, end tick): the most trucks on top
    i = 0
    for t, next_t in zip(bounds, bounds[1:]):
        while i < len(spans) and spans[i][0] <= t:
            heapq.heappush(active, (-spans[i][2], spans[i][1]))
            i += 1
        while active and active[0][1] <= t:
            heapq.heappop(active)
        if not active:
            continue
        trucks = -active[0][0]
        if runs and runs[-1][1] == t and runs[-1][2] == trucks:
            runs[-1] = (runs[-1][0], next_t, trucks)
        else:
            runs.append((t, next_t, trucks))
    return runs


def _most_idle(calendar: Calendar, fleet: FleetType, horizon_h: float) -> int:
    """Most trucks of a type idle at once at any moment of the horizon."""
    change: dict[float, int] = defaultdict(int)
    for a, b, n in calendar.fleet[fleet.id]:
        change[round(max(a, 0.0), 9)] += n
        change[round(b, 9)] -= n
    busy = 0
    least = 0 if 0.0 not in change else None
    for moment in sorted(change):
        busy += change[moment]
        if moment < horizon_h and (least is None or busy < least):
            least = busy
    return max(0, fleet.count - (least or 0))


def _carries_t(types: Sequence[FleetType], trucks: Mapping[str, int], density: float) -> float:
    """Tonnes ``trucks`` of ``types`` carry of a load ``density`` t/m³: a convoy's weight and
    volume limits are its trucks' totals (FORMAT.md LOAD_*), not each truck's own."""
    weight = sum(trucks.get(f.id, 0) * f.capacity_t for f in types)
    volume = sum(trucks.get(f.id, 0) * f.capacity_m3 for f in types)
    return min(weight, volume * density)


def _kg_down(kg: float) -> int:
    """Whole kilograms, down, but 9999.9999999 is 10 000: float noise must not cost a kilogram."""
    return math.floor(kg + 1e-6)


def _hinted_waves(scenario: Scenario, options: list[_Option],
                  hint: Sequence[tuple[Convoy, str | None]]) -> dict[int, list[Convoy]]:
    """Waves found another way, per option (``{id(option): waves}`` in time order): each goes to
    the option with its load, organization and unit and the lightest class that holds its trucks."""
    by_route: dict[tuple, list[_Option]] = defaultdict(list)
    for o in options:
        by_route[(o.key[0], o.organization, o.key[2], o.escort.id)].append(o)
    hinted: dict[int, list[Convoy]] = defaultdict(list)
    for wave, unit in hint:
        if unit is None or len(wave.stops) != 1:
            continue
        heaviest = max(scenario.fleet_by_id[f].capacity_t for f in wave.vehicles)
        fits = [o for o in by_route.get((wave.depot, wave.organization, wave.stops[0].site, unit), ())
                if set(wave.vehicles) <= {f.id for f in o.types} and max(f.capacity_t for f in o.types) >= heaviest - 1e-9]
        if fits:
            hinted[id(min(fits, key=lambda o: (len(o.types), o.trip_h)))].append(wave)
    return {k: sorted(v, key=lambda w: (w.depart_h, w.id)) for k, v in hinted.items()}


def _add_hints(scenario: Scenario, model: cp_model.CpModel, slots: list[_Slot],
               hinted: Mapping[int, list[Convoy]]) -> None:
    """Start from the hinted waves: an option's waves take its slots in time order (slots are
    ordered so); every other slot starts unused."""
    placed: dict[int, Convoy] = {}
    for option in {id(slot.option): slot.option for slot in slots}.values():
        for n, wave in zip(option.slots, hinted.get(id(option), ())):
            placed[n] = wave
    for n, slot in enumerate(slots):
        wave = placed.get(n)
        model.add_hint(slot.present, wave is not None)
        if wave is None:
            continue
        model.add_hint(slot.start, round(wave.depart_h * SCALE))
        for fleet_id, var in slot.trucks.items():
            model.add_hint(var, wave.vehicles.get(fleet_id, 0))
        model.add_hint(slot.kg, _kg_down(scenario.weight_t(wave.stops[0].unload) * KG_PER_T))


def _waves(scenario: Scenario, solver: cp_model.CpSolver, slots: list[_Slot],
           loads: Mapping[tuple[str, str, str], Mapping[str, float]]) -> list[tuple[Convoy, str]]:
    """The slots used, as convoys: each carries its tonnes as the same share of every commodity
    of its load, on the fewest of its trucks that hold it."""
    out: list[tuple[Convoy, str]] = []
    used = [s for s in slots if solver.boolean_value(s.present) and solver.value(s.kg) > 0]
    used.sort(key=lambda s: (solver.value(s.start), s.option.key, s.option.escort.id))
    shares = _shares(scenario, solver, used, loads)
    for slot, share in zip(used, shares):
        option = slot.option
        load = loads[option.key]
        trucks = {f: solver.value(v) for f, v in slot.trucks.items() if solver.value(v) > 0}
        unload = {c: u * share for c, u in load.items()}
        site = scenario.node_by_id[option.key[2]]
        depart = solver.value(slot.start) / SCALE
        arrive = depart + option.out.hours
        trucks = trucks_for(scenario, trucks, unload)
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


def _shares(scenario: Scenario, solver: cp_model.CpSolver, used: list[_Slot],
            loads: Mapping[tuple[str, str, str], Mapping[str, float]]) -> list[float]:
    """What share of its load each used slot carries: its whole kilograms, within its trucks'
    real capacity (the model rounds a truck's volume up by under a kilogram's worth), then the
    fractions of a kilogram the model could not see, up to each wave's trucks."""
    shares: list[float] = []
    room: list[float] = []
    left: dict[tuple[str, str, str], float] = defaultdict(lambda: 1.0)
    for slot in used:
        load = loads[slot.option.key]
        trucks = {f: solver.value(v) for f, v in slot.trucks.items()}
        full = min(1.0, trucks_capacity(scenario, trucks, "capacity_t") / scenario.weight_t(load),
                   trucks_capacity(scenario, trucks, "capacity_m3") / max(scenario.volume_m3(load), 1e-12))
        share = min(full, solver.value(slot.kg) / KG_PER_T / scenario.weight_t(load))
        shares.append(share)
        room.append(full - share)
        left[slot.option.key] -= share
    for n, slot in enumerate(used):
        more = max(0.0, min(room[n], left[slot.option.key]))
        shares[n] += more
        left[slot.option.key] -= more
    return shares
