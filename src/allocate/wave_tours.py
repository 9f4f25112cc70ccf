"""Escorted waves built as tours: each copy of an escort unit leads its share of a depot's trucks
on back-to-back trips through several sites.

Why: the greedy and CP-SAT waves (waves.py, wave_schedule.py) send each load on a trip of its own,
and wave_stops.py adds a stop or two where a wave has room left. Once the large loads are out, a
unit's day goes on small waves of two or three trucks, a whole round trip of escort hours each,
while the distribution model moves those small loads together, several sites to an escorted trip
(haiti_like: 39 sites under escort from D01 in the model, 12 in the plan). Here a trip is a tour
from the start: whenever a copy of a unit is free, it takes idle trucks (no more than its share of
the depot's fleet, so the other copies have trucks too) and the run of sites, nearest next, that
moves the most severity-weighted tonnes per hour of the unit, positioning included.

Every tour keeps the rules a wave keeps: roads its escort and its heaviest truck may take, the
whole walk's escorted risk within ``max_risk``, arrivals inside the sites' windows, the return
inside the horizon, trucks and the unit idle for the whole trip (FORMAT.md §3.5), and under
``last_resort`` no path through its stops within ``risk_threshold`` unescorted (§3.6). The escort
itself is named afterwards by :func:`allocate.escorts.assign_escorts`, which checks every rule again.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from allocate import clock
from allocate.access import AccessFacts
from allocate.escorts import positioning_hours
from allocate.network import RoadNetwork, Usability, risk_weight_cap
from allocate.plan import Convoy, Stop
from allocate.scenario import EscortUnit, FleetType, Scenario
from allocate.wave_stops import onward
from allocate.waves import (ANY_ORGANIZATION, Calendar, _escort_floor_t, _escort_organizations, _fill, _wave_types,
                            trucks_for, unit_hours_in_horizon)

MAX_TOUR_STOPS = 8  # sites per tour; a longer one holds trucks and a unit for most of a day
FIRST_STOPS = 6  # first sites tried per tour, best single-trip rate first
NEXT_STOPS = 6  # next sites tried from each stop, nearest first
MAX_WAITS = 50  # moments something comes back a free copy tries before it gives up


@dataclass
class _Tour:
    """A tour under construction: the walk so far and what each stop unloads."""

    depot: str
    organization: str
    escort: EscortUnit
    positioning: tuple[float, float]
    depart: float
    roads: Usability
    path: list[str]
    stops: list[Stop] = field(default_factory=list)
    back_at: float = 0.0
    risk_w: float = 0.0  # escorted risk weight of the walk up to the last stop
    value: float = 0.0  # severity × tonnes
    home: list[str] = field(default_factory=list)  # last stop → depot
    idle: dict[str, int] = field(default_factory=dict)  # trucks idle for the whole tour, by type
    floor_t: float = 0.0  # it carries a truck at least this heavy, to take an escort (last_resort)
    horizon_h: float = math.inf

    @property
    def busy_h(self) -> float:
        """The unit's hours inside the horizon (:func:`allocate.waves.unit_hours_in_horizon`)."""
        return unit_hours_in_horizon(self.horizon_h, self.depart, self.back_at, self.positioning)

    @property
    def rate(self) -> float:
        return self.value / max(1e-9, self.busy_h)


def tour_waves(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    kept: Sequence[Convoy],
    loads: Mapping[tuple[str, str, str], Mapping[str, float]],
    deadline: float | None = None,
    share_scale: float = 1.0,
    by_rate: bool = True,
    whole_loads: bool = False,
) -> list[tuple[Convoy, str | None]]:
    """Waves for pooled ``loads`` ``{(depot, organization, site): units}`` (waves.pooled_loads),
    each a tour under one copy of a unit, fitted around ``kept``: ``(wave, unit fitted around)``.

    A copy, when free, takes from every depot it can reach the tour moving the most
    severity-weighted tonnes per hour of its busy time, or waits for the next truck to come back;
    the copies go by that rate (``by_rate``) or in the order they are free. ``share_scale``: a tour
    takes no more than this many copies' shares of the depot's trucks (:func:`_fleet_shares`;
    ``inf``: all that are idle); ``whole_loads``: its first site's whole load may still go on it.
    Neither way wins everywhere (cote_divoire_like: by rate with whole loads; haiti_like: in turn,
    shared). ``deadline`` (:func:`allocate.clock.now`): the copies stop taking tours then, so the
    planner keeps its time limit.
    """
    calendar = Calendar(scenario, network, kept)
    left = {k: {c: u for c, u in v.items() if u > 1e-9} for k, v in loads.items()}
    severity = {s.id: s.severity for s in scenario.sites}
    depots = sorted({d for d, _, _ in left})
    units = [e for e in scenario.escorts if e.count >= 1 and access.party_admits(e)]
    reach = {(e.id, d): positioning_hours(network, e, d) for e in units for d in depots}
    share = {d: min(1.0, share_scale * part) for d, part in _fleet_shares(units, depots, reach).items()}
    waves: list[tuple[Convoy, str | None]] = []

    def next_tour(escort: EscortUnit, free: float) -> _Tour | None:
        """The copy's best tour from the moment it is free, or from the first moment after it
        that a truck or unit comes back and a tour can leave."""
        tried = 0
        while tried < MAX_WAITS and not clock.due(deadline):
            starts = {d: max(0.0, free + reach[(escort.id, d)][0]) for d in depots
                      if reach[(escort.id, d)] is not None}
            if not _any_left(left, starts):
                return None
            best: _Tour | None = None
            for depot, start in starts.items():
                for org in _escort_organizations(scenario, depot):
                    tour = _best_tour(scenario, network, access, calendar, left, severity, escort, depot, org,
                                      start, share[depot], whole_loads)
                    if tour is not None and (best is None or tour.rate > best.rate * (1 + 1e-9)):
                        best = tour
            if best is not None:
                return best
            later = [r - reach[(escort.id, d)][0] for d, t in starts.items() for r in calendar.release_times()
                     if r > t + 1e-6]
            if not later:
                return None
            free = min(later)
            tried += 1
        return None

    # by_rate: lazy greedy over the copies, the tour moving the most per hour of its copy first; a
    # copy's tour is looked at again before it is taken (the trucks or loads may be gone) and
    # goes back with its new rate if another copy's now beats it. Else the copy free first goes.
    def key(tour: _Tour, free: float) -> float:
        return -tour.rate if by_rate else free

    heap = []
    for e in units:
        for k in range(e.count):
            tour = next_tour(e, -math.inf)
            if tour is not None:
                heap.append((key(tour, -math.inf), e.id, k, -math.inf))
    heapq.heapify(heap)
    while heap:
        if clock.due(deadline):
            break
        _, unit_id, copy, free = heapq.heappop(heap)
        escort = scenario.escort_by_id[unit_id]
        tour = next_tour(escort, free)
        if tour is None:
            continue
        if by_rate and heap and tour.rate < -heap[0][0] * (1 - 1e-9):
            heapq.heappush(heap, (key(tour, free), unit_id, copy, free))
            continue
        wave = _convoy(scenario, tour, len(waves))
        waves.append((wave, unit_id))
        calendar.add(scenario, network, wave, escort=unit_id)
        _take(left, tour)
        free = wave.return_h + tour.positioning[1]
        after = next_tour(escort, free)
        if after is not None:
            heapq.heappush(heap, (key(after, free), unit_id, copy, free))
    return waves


def _fleet_shares(units: Sequence[EscortUnit], depots: Sequence[str],
                  reach: Mapping[tuple[str, str], tuple[float, float] | None]) -> dict[str, float]:
    """Share of a depot's trucks one tour may take: one over the copies based nearest to it (at
    least one), so that each copy of a unit there leads its own group of trucks (haiti_like, with
    the fill-ins: 0.637 of the weighted need where tours that take every idle truck reach 0.561)."""
    copies: dict[str, int] = defaultdict(int)
    for e in units:
        near = [(sum(p), d) for d in depots for p in [reach[(e.id, d)]] if p is not None]
        if near:
            copies[min(near)[1]] += e.count
    return {d: 1.0 / max(1, copies[d]) for d in depots}


def _any_left(left: Mapping[tuple[str, str, str], Mapping[str, float]], depots: Mapping[str, float]) -> bool:
    return any(d in depots and v for (d, _, _), v in left.items())


def _load_keys(depot: str, org: str, site: str) -> tuple[tuple[str, str, str], ...]:
    """The loads an organization's tour may carry to ``site``: its own, then those any may carry
    (once, should an organization's id be the wildcard itself)."""
    return tuple(dict.fromkeys(((depot, org, site), (depot, ANY_ORGANIZATION, site))))


def _site_load(left: Mapping[tuple[str, str, str], Mapping[str, float]], depot: str, org: str, site: str
               ) -> dict[str, float]:
    """What an organization's tour may carry to ``site``: its own loads and those any may carry."""
    out: dict[str, float] = {}
    for key in _load_keys(depot, org, site):
        for c, u in left.get(key, {}).items():
            out[c] = out.get(c, 0.0) + u
    return {c: u for c, u in out.items() if u > 1e-9}


def _take(left: dict[tuple[str, str, str], dict[str, float]], tour: _Tour) -> None:
    """Subtract a tour's unloads from ``left``: the organization's own loads first."""
    for stop in tour.stops:
        for c, u in stop.unload.items():
            for key in _load_keys(tour.depot, tour.organization, stop.site):
                into = left.get(key)
                if into is None or c not in into or u <= 0:
                    continue
                took = min(u, into[c])
                into[c] -= took
                u -= took
                if into[c] <= 1e-9:
                    del into[c]


def _best_tour(scenario: Scenario, network: RoadNetwork, access: AccessFacts, calendar: Calendar,
               left: Mapping[tuple[str, str, str], Mapping[str, float]], severity: Mapping[str, int],
               escort: EscortUnit, depot: str, org: str, start: float, share: float, whole_loads: bool
               ) -> _Tour | None:
    """The best tour of ``org``'s trucks at ``depot`` under ``escort`` leaving at ``start``, over
    its truck weight classes and first sites."""
    pos = positioning_hours(network, escort, depot)
    types = _wave_types(scenario, depot, org)
    sites = sorted({s for d, o, s in left if d == depot and o in (org, ANY_ORGANIZATION) and s in severity
                    and _site_load(left, depot, org, s)})
    if pos is None or not types or not sites:
        return None
    best: _Tour | None = None
    for weight_t in sorted({f.capacity_t for f in types}, reverse=True):
        usable = [f for f in types if f.capacity_t <= weight_t]
        cap_t = share * sum(f.count * f.capacity_t for f in usable)
        roads = access.escort_usability(escort, weight_t)
        firsts = []
        for site in sites:
            floor_t = _escort_floor_t(scenario, network, depot, org, site, types)
            if weight_t < floor_t:
                continue
            # whole_loads: a site's whole load goes on one trip if the idle trucks hold it, the
            # share only keeping further stops from taking every truck
            whole = max(cap_t, scenario.weight_t(_site_load(left, depot, org, site))) if whole_loads else cap_t
            empty = _Tour(depot, org, escort, pos, start, roads, [depot], horizon_h=scenario.horizon_h)
            tour = _extended(scenario, network, calendar, left, severity, empty, site, usable, whole, floor_t)
            if tour is not None:
                firsts.append((-tour.rate, site, tour))
        firsts.sort(key=lambda x: (x[0], x[1]))
        for _, _, tour in firsts[:FIRST_STOPS]:
            tour = _grown(scenario, network, calendar, left, severity, tour, usable,
                          max(cap_t, scenario.weight_t(tour.stops[0].unload)) if whole_loads else cap_t)
            if best is None or tour.rate > best.rate * (1 + 1e-9):
                best = tour
    return best


def _grown(scenario: Scenario, network: RoadNetwork, calendar: Calendar,
           left: Mapping[tuple[str, str, str], Mapping[str, float]], severity: Mapping[str, int], tour: _Tour,
           usable: Sequence[FleetType], cap_t: float) -> _Tour:
    """``tour`` with further stops, nearest next, while each raises its rate."""
    while len(tour.stops) < MAX_TOUR_STOPS:
        last = tour.stops[-1].site
        reach = network.distances_from(last, "hours", tour.roads, tour.escort.effectiveness)
        visited = {s.site for s in tour.stops}
        nearby = sorted((reach[s], s) for d, o, s in left
                        if d == tour.depot and o in (tour.organization, ANY_ORGANIZATION) and s not in visited
                        and s in severity and s in reach and _site_load(left, tour.depot, tour.organization, s))
        best = None
        for _, site in dict.fromkeys(nearby[: 2 * NEXT_STOPS]):
            longer = _extended(scenario, network, calendar, left, severity, tour, site, usable, cap_t, tour.floor_t)
            if longer is not None and longer.rate > tour.rate * (1 + 1e-9) and (best is None or longer.rate > best.rate):
                best = longer
        if best is None:
            return tour
        tour = best
    return tour


def _extended(scenario: Scenario, network: RoadNetwork, calendar: Calendar,
              left: Mapping[tuple[str, str, str], Mapping[str, float]], severity: Mapping[str, int], tour: _Tour,
              site: str, usable: Sequence[FleetType], cap_t: float, floor_t: float) -> _Tour | None:
    """``tour`` on to ``site`` and home, or None where a rule or an idle truck is missing."""
    escort, depot = tour.escort, tour.depot
    here = tour.stops[-1].site if tour.stops else depot
    leave = tour.depart if not tour.stops else tour.stops[-1].arrive_h + scenario.node_by_id[here].service_h
    step = onward(scenario, network, here, leave, site, depot, tour.roads, escort.effectiveness,
                  risk_weight_cap(scenario.policy.max_risk) - tour.risk_w)
    if step is None:
        return None
    leg, home, arrive, back_at = step
    if not calendar.escort_free(escort, tour.depart - tour.positioning[0], back_at + tour.positioning[1]):
        return None
    idle = {f.id: calendar.idle_trucks(f, tour.depart, back_at) for f in usable}
    if floor_t > 0 and not any(idle[f.id] for f in usable if f.capacity_t >= floor_t):
        return None
    room_t = min(cap_t, sum(f.capacity_t * idle[f.id] for f in usable))
    room_m3 = sum(f.capacity_m3 * idle[f.id] for f in usable) * min(1.0, room_t / max(1e-9, sum(
        f.capacity_t * idle[f.id] for f in usable)))
    room_t -= sum(scenario.weight_t(s.unload) for s in tour.stops)
    room_m3 -= sum(scenario.volume_m3(s.unload) for s in tour.stops)
    if room_t <= 1e-6 or room_m3 <= 1e-6:
        return None
    unload = _fill(scenario, _site_load(left, depot, tour.organization, site), room_t, room_m3)
    if not unload:
        return None
    return _Tour(depot, tour.organization, escort, tour.positioning, tour.depart, tour.roads,
                 tour.path + list(leg.nodes[1:]), tour.stops + [Stop(site=site, arrive_h=arrive, unload=unload)],
                 back_at, tour.risk_w + leg.risk_weight, tour.value + severity[site] * scenario.weight_t(unload),
                 list(home.nodes), idle, floor_t, tour.horizon_h)


def _convoy(scenario: Scenario, tour: _Tour, index: int) -> Convoy:
    """The wave a finished tour is: the fewest idle trucks, largest first, that hold its load."""
    total: dict[str, float] = defaultdict(float)
    for stop in tour.stops:
        for c, u in stop.unload.items():
            total[c] += u
    return Convoy(
        id=f"T{index + 1:04d}",
        organization=tour.organization,
        depot=tour.depot,
        vehicles=trucks_for(scenario, tour.idle, total),
        path=tuple(tour.path + tour.home[1:]),
        depart_h=tour.depart,
        stops=tuple(tour.stops),
        return_h=tour.back_at,
        escort=None,
        wave=True,
    )
