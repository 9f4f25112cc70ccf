"""Escorted convoy waves: many trucks moving together under one escort.

Escort units are the scarcest resource of a conflict response, and an escort protects a whole
convoy, not a truck. The router plans trucks one by one, so deliveries that need an escort arrive
at the escort stage as many small convoys, more than the units can protect. This repair takes the
loads of the convoys that got no escort and sends them the way the field does: a *wave* is a
group of trucks of one organization that leaves a depot together, drives the quickest road the
escort keeps within ``max_risk`` to one site, unloads and returns. Loads moving the most
severity-weighted tonnes per escort hour go first. Each wave is placed in time where the trucks
are idle in the plan so far and an admissible escort unit is free, positioning included, and
books that unit (on the escort stage's time grid), so it never double-books a vehicle or a unit;
the escort itself is then chosen by :func:`allocate.escorts.assign_escorts`, which checks every
rule again. The same calendar sends loads that need no escort on trucks left idle
(:func:`fill_idle_trucks`, :func:`spare_stock_loads`).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Mapping, Sequence

from allocate import clock
from allocate.access import AccessFacts, within
from allocate.escorts import SCALE, escort_busy_window, escort_ticks, least_unescorted_risk, positioning_hours
from allocate.network import Path, RoadNetwork, Usability, risk_weight_cap
from allocate.plan import Convoy, Stop
from allocate.scenario import EscortUnit, FleetType, Scenario

Interval = tuple[float, float, int]  # start, end, how many busy
MAX_CANDIDATE_STARTS = 400
# A wave waits for a unit that is busy at most this many times the least any admissible unit
# would be (positioning included) rather than take a far one free now: a unit based a day away
# spends two days on each short trip, and the loads only it can reach wait for nothing
# (cote_divoire_like: +1 % severity-weighted tonnes after the fill-ins; haiti_like: +1.3 %).
MAX_BUSY_RATIO = 1.5


@dataclass(frozen=True)
class WaveRule:
    """How the greedy fits one wave (:func:`place_waves`).

    ``departures``: how many departures a wave tries from its earliest on, for trucks coming back
    in the meantime; it takes the one moving the most tonnes per hour of its trip, the wait
    counted as busy time (1: the earliest). ``busy_ratio``: how much busier than the least busy
    admissible unit a unit may be kept and still lead the wave (see :data:`MAX_BUSY_RATIO`).
    No one rule wins everywhere (captured escort-stage inputs: waiting for trucks gains 2 % on
    cote_divoire_like and loses 6 % on haiti_like; far units gain 7 % on darfur_like_large), so
    the planner tries several (:data:`WAVE_RULES`, :func:`best_placement`).
    """

    departures: int = 1
    busy_ratio: float = MAX_BUSY_RATIO


WAVE_RULES = (WaveRule(), WaveRule(busy_ratio=3.0), WaveRule(departures=12, busy_ratio=1.0),
              WaveRule(departures=4, busy_ratio=1.0))


def _peak(intervals: Sequence[Interval], start: float, end: float) -> int:
    """Most copies busy at once inside ``[start, end)`` (half-open, FORMAT.md §3.5)."""
    clock.tick(len(intervals) + 1)  # the work the heuristics' deadlines count (clock.py)
    events = []
    for a, b, n in intervals:
        if a < end - 1e-9 and b > start + 1e-9:
            events.append((max(a, start), n))
            events.append((min(b, end), -n))
    events.sort()
    busy = peak = 0
    last = len(events) - 1
    for i, (moment, delta) in enumerate(events):
        busy += delta
        # a return and a departure at one moment up to float noise (0.9430000000000001 and
        # 0.943) are back to back, not overlapping: count the peak once all of a moment is in
        if i == last or events[i + 1][0] > moment + 1e-9:
            peak = max(peak, busy)
    return peak


def unit_hours_in_horizon(horizon_h: float, depart: float, back_at: float, pos: tuple[float, float]) -> float:
    """Hours of an escort unit's busy window (positioning included) that fall inside
    ``[0, horizon_h]``: a first convoy's way out before 0 and a last convoy's way back after the
    horizon take no hour the plan could use (FORMAT.md §3.5), so a unit based far away costs
    one way, not two, on such a convoy."""
    return max(1e-9, min(horizon_h, back_at + pos[1]) - max(0.0, depart - pos[0]))


def least_unit_hours(horizon_h: float, trip_h: float, pos: tuple[float, float]) -> float:
    """The least :func:`unit_hours_in_horizon` of a trip of ``trip_h`` hours, whenever it
    departs: the trip itself and the shorter way (or, where both ways spill, the rest of the
    horizon)."""
    return trip_h + min(pos[0], pos[1], max(0.0, horizon_h - trip_h))


class Calendar:
    """Busy intervals of every fleet type and escort unit in the plan so far."""

    def __init__(self, scenario: Scenario, network: RoadNetwork, convoys: Iterable[Convoy]):
        self.fleet: dict[str, list[Interval]] = defaultdict(list)
        self.escort: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # on escort_ticks' grid
        self._legs: dict[tuple[str, str, float], list] = {}
        for convoy in convoys:
            self.add(scenario, network, convoy)

    def add(self, scenario: Scenario, network: RoadNetwork, convoy: Convoy, escort: str | None = None) -> None:
        """Book ``convoy``'s trucks, and its escort unit (or ``escort``, the unit a wave was fitted
        around before :func:`allocate.escorts.assign_escorts` names one)."""
        for booked, interval in self._bookings(scenario, network, convoy, escort):
            booked.append(interval)

    def remove(self, scenario: Scenario, network: RoadNetwork, convoy: Convoy, escort: str | None = None) -> None:
        """Undo :meth:`add` of the same convoy (and unit), so it can be booked again changed."""
        for booked, interval in self._bookings(scenario, network, convoy, escort):
            booked.remove(interval)

    def _bookings(self, scenario: Scenario, network: RoadNetwork, convoy: Convoy, escort: str | None) -> list:
        """``(where, interval)`` for each booking ``convoy`` makes: trucks per fleet type, the unit."""
        out: list = [(self.fleet[f], (convoy.depart_h, convoy.return_h, n)) for f, n in convoy.vehicles.items()]
        unit = convoy.escort or escort
        if unit is not None:
            window = escort_busy_window(scenario, network, unit, convoy)
            if window is not None:
                out.append((self.escort[unit], (*escort_ticks(window), 1)))
        return out

    def idle_trucks(self, fleet: FleetType, start: float, end: float) -> int:
        return max(0, fleet.count - _peak(self.fleet[fleet.id], start, end))

    def escort_free(self, escort: EscortUnit, start: float, end: float) -> bool:
        """Whether a copy of the unit is free over ``[start, end)``, judged on the grid the escort
        stage uses (:func:`allocate.escorts.escort_ticks`)."""
        a, b = escort_ticks((start, end))
        return _peak(self.escort[escort.id], a, b) < escort.count

    def escort_release(self, escort: EscortUnit) -> list[float]:
        """When copies of the unit come back (hours, on the escort stage's grid)."""
        return [b / SCALE for _, b, _ in self.escort[escort.id]]

    def legs(self, scenario: Scenario, network: RoadNetwork, access: AccessFacts, depot: str, site: str,
             weight_t: float) -> list:
        """:func:`_legs`, remembered: each wave of a load asks again."""
        key = (depot, site, weight_t)
        if key not in self._legs:
            self._legs[key] = _legs(scenario, network, access, depot, site, weight_t)
        return self._legs[key]

    def departures(self) -> list[float]:
        """Moments trucks leave: the only instants a rule like "every civilian truck is busy" can
        begin to hold."""
        clock.tick(sum(len(intervals) for intervals in self.fleet.values()) + 1)
        return sorted({a for intervals in self.fleet.values() for a, _, _ in intervals})

    def busy_at(self, fleet: FleetType, t: float) -> int:
        """Trucks of ``fleet`` on the road at the instant ``t``: left by ``t``, back after it with
        a margin (FORMAT.md §3: a truck back at ``t`` is free at ``t``)."""
        clock.tick(len(self.fleet[fleet.id]) + 1)
        return sum(n for a, b, n in self.fleet[fleet.id] if a <= t and b > t + 1e-6 * max(1.0, t))

    def trucks_idle_for(self, scenario: Scenario, convoy: Convoy, shift: float = 0.0) -> bool:
        """Whether every truck ``convoy`` takes is idle for its trip moved by ``shift`` hours."""
        return all(self.idle_trucks(scenario.fleet_by_id[f], convoy.depart_h + shift, convoy.return_h + shift) >= n
                   for f, n in convoy.vehicles.items())

    def refit(self, scenario: Scenario, convoy: Convoy) -> Convoy | None:
        """``convoy`` where it is if its trucks are idle then, else moved whole (within
        :func:`shift_range`) to the earliest moment something comes back at which they are; None
        if there is no such moment."""
        early, late = shift_range(scenario, convoy)
        moves = [0.0] + sorted(t - convoy.depart_h for t in self.release_times()
                               if early - 1e-9 <= t - convoy.depart_h <= late + 1e-9)
        shift = next((m for m in moves if self.trucks_idle_for(scenario, convoy, m)), None)
        return None if shift is None else shifted(convoy, shift)

    def release_times(self) -> list[float]:
        """Moments something becomes free: candidate departure times for a wave."""
        times = {0.0}
        clock.tick(sum(len(i) for i in self.fleet.values()) + sum(len(i) for i in self.escort.values()) + 1)
        for intervals in self.fleet.values():
            times.update(b for _, b, _ in intervals)
        for intervals in self.escort.values():
            times.update(b / SCALE for _, b, _ in intervals)
        return sorted(times)


ANY_ORGANIZATION = "*"  # a load the router did not carry: any organization that may take an escort


def pooled_loads(
    unescorted: Sequence[Convoy],
    unrouted: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
) -> dict[tuple[str, str, str], dict[str, float]]:
    """What waves are to carry, ``{(depot, organization, site): units}``: the loads of the
    ``unescorted`` convoys pooled per organization, and ``unrouted`` loads ``{(depot, site): units}``
    under :data:`ANY_ORGANIZATION`."""
    loads: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for convoy in unescorted:
        for stop in convoy.stops:
            into = loads[(convoy.depot, convoy.organization, stop.site)]
            for commodity, units in stop.unload.items():
                into[commodity] = into.get(commodity, 0.0) + units
    for (depot, site), units in (unrouted or {}).items():
        into = loads[(depot, ANY_ORGANIZATION, site)]
        for commodity, u in units.items():
            if u > 1e-9:
                into[commodity] = into.get(commodity, 0.0) + u
    return dict(loads)


def pool_waves(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    kept: Sequence[Convoy],
    unescorted: Sequence[Convoy],
    unrouted: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
) -> list[Convoy]:
    """Waves carrying what the ``unescorted`` convoys were to deliver, fitted around ``kept``.

    Loads are pooled per (depot, organization, site) (:func:`pooled_loads`) and sent most
    severity-weighted tonnes per escort hour first; a wave takes every idle truck of the
    organization's civilian types there, up to what is left. ``unrouted``: further loads
    ``{(depot, site): units}`` that need an escort and that no convoy carries (the router could not
    fit them); each goes with whichever organization at the depot that may take an escort has
    trucks idle, largest fleet first.
    """
    return [wave for wave, _ in place_waves(scenario, network, access, kept, pooled_loads(unescorted, unrouted))]


def place_waves(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    kept: Sequence[Convoy],
    loads: Mapping[tuple[str, str, str], Mapping[str, float]],
    rule: WaveRule = WaveRule(),
) -> list[tuple[Convoy, str | None]]:
    """:func:`pool_waves` on pooled ``loads``: each wave with the escort unit it was fitted
    around, each fitted by ``rule``."""
    calendar = Calendar(scenario, network, kept)
    loads = {k: dict(v) for k, v in loads.items()}
    severity = {s.id: s.severity for s in scenario.sites}
    any_org = ANY_ORGANIZATION

    def worth(key: tuple[str, str, str]) -> float:
        """Severity-weighted tonnes one wave carries per hour of its escort unit, at best."""
        depot, org, site = key
        types = [f for o in (_escort_organizations(scenario, depot) if org == any_org else [org])
                 for f in _wave_types(scenario, depot, o)]
        hours = [least_unit_hours(scenario.horizon_h, out.hours + back.hours + scenario.node_by_id[site].service_h, pos)
                 for w in {f.capacity_t for f in types}
                 for _, pos, out, back in calendar.legs(scenario, network, access, depot, site, w)]
        carried = min(scenario.weight_t(loads[key]), sum(f.count * f.capacity_t for f in types))
        return severity[site] * carried / max(min(hours), 1e-9) if hours else 0.0

    # escort hours are what runs short: the wave that moves the most severity-weighted tonnes per
    # hour of its unit goes next. ``worth`` is at least what a load's next wave achieves, so a
    # load is taken when its actual next wave beats every other load's bound, else it goes back
    # with its actual rate (lazy greedy): the rest of a load no longer takes a far unit's whole
    # day for a few tonnes while another load would fill that unit's trucks.
    waves: list[tuple[Convoy, str | None]] = []
    keys = [k for k in loads if k[2] in severity]
    heap = [(-worth(k), -severity[k[2]], k[1] == any_org, k) for k in keys]
    heapq.heapify(heap)
    while heap:
        _, sev_key, anyone, key = heapq.heappop(heap)
        depot, org, site = key
        left = loads[key]
        if not any(u > 1e-9 for u in left.values()):
            continue
        found = None
        for org_id in (_escort_organizations(scenario, depot) if org == any_org else [org]):
            types = _wave_types(scenario, depot, org_id)
            if types:
                found = _earliest_wave(scenario, network, access, calendar, depot, org_id, site, types, left, len(waves),
                                       rule=rule)
            if found is not None:
                break
        if found is None:
            continue
        rate = _wave_rate(scenario, network, found, severity[site])
        if heap and rate < -heap[0][0] * (1 - 1e-9):
            heapq.heappush(heap, (-rate, sev_key, anyone, key))
            continue
        wave, unit = found
        waves.append(found)
        calendar.add(scenario, network, wave, escort=unit)
        for commodity, units in wave.stops[0].unload.items():
            left[commodity] -= units
        heapq.heappush(heap, (-rate, sev_key, anyone, key))
    return waves


def best_placement(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    kept: Sequence[Convoy],
    loads: Mapping[tuple[str, str, str], Mapping[str, float]],
    score: Callable[[list[tuple[Convoy, str | None]]], float],
    deadline: float | None = None,
    rules: Sequence[WaveRule] = WAVE_RULES,
) -> list[tuple[Convoy, str | None]]:
    """:func:`place_waves` under each of ``rules`` in turn, the first always, the others while a
    try as long as the first still ends before ``deadline`` (:func:`allocate.clock.now`): the placement
    ``score`` rates highest, the earlier rule on a tie."""
    best: list[tuple[Convoy, str | None]] = []
    best_score = -math.inf
    took = 0.0
    for n, rule in enumerate(rules):
        if n and (clock.due(deadline) or (deadline is not None and clock.now() + took > deadline)):
            break
        started = clock.now()
        placed = place_waves(scenario, network, access, kept, loads, rule)
        took = max(took, clock.now() - started)
        value = score(placed)
        if value > best_score * (1 + 1e-9) + 1e-9:
            best, best_score = placed, value
    return best


def _wave_rate(scenario: Scenario, network: RoadNetwork, found: tuple[Convoy, str | None], severity: int) -> float:
    """Severity-weighted tonnes per hour of the unit a wave was fitted around, positioning included
    where it falls inside the horizon (:func:`unit_hours_in_horizon`)."""
    wave, unit = found
    pos = positioning_hours(network, scenario.escort_by_id[unit], wave.depot) if unit else None
    busy = unit_hours_in_horizon(scenario.horizon_h, wave.depart_h, wave.return_h, pos or (0.0, 0.0))
    return severity * scenario.weight_t(wave.stops[0].unload) / busy


def _escort_organizations(scenario: Scenario, depot: str) -> list[str]:
    """Organizations with civilian trucks at ``depot`` that may take an escort, largest fleet first."""
    tonnes: dict[str, float] = defaultdict(float)
    for f in scenario.fleet:
        if f.depot == depot and not f.military and scenario.organization_by_id[f.organization].escort_policy != "never":
            tonnes[f.organization] += f.count * f.capacity_t
    return sorted(tonnes, key=lambda o: (-tonnes[o], o))


def _wave_types(scenario: Scenario, depot: str, org: str) -> list[FleetType]:
    """The organization's civilian fleet types at ``depot`` (a wave never mixes in military ones)."""
    if scenario.organization_by_id[org].escort_policy == "never":
        return []
    return [f for f in scenario.fleet if f.depot == depot and f.organization == org and not f.military and f.count >= 1 and f.capacity_t > 0]


def _escort_floor_t(scenario: Scenario, network: RoadNetwork, depot: str, org: str, site: str,
                    types: Sequence[FleetType]) -> float:
    """The lightest truck a wave to ``site`` must carry to take an escort (inf: none may).

    Under ``last_resort`` (FORMAT.md §3.6) a convoy takes an escort only where no path out and
    back is within ``risk_threshold`` on the roads all its trucks may use; the heaviest truck
    decides those roads, and a heavier truck never has more of them. So a wave may be escorted
    when it carries a truck at least this heavy, lighter ones riding along."""
    if scenario.organization_by_id[org].escort_policy != "last_resort":
        return 0.0
    threshold = scenario.policy.risk_threshold
    unsafe = [w for w in {f.capacity_t for f in types}
              if not within(least_unescorted_risk(network, depot, [site], Usability(vehicle_weight_t=w)), threshold)]
    return min(unsafe, default=math.inf)


def _legs(scenario: Scenario, network: RoadNetwork, access: AccessFacts, depot: str, site: str, weight_t: float):
    """For each escort unit the rules admit: the fastest way out and back on the roads it may take
    that keeps the escorted risk within ``max_risk``."""
    options = []
    for escort in scenario.escorts:
        if escort.count < 1 or not access.party_admits(escort):
            continue
        pos = positioning_hours(network, escort, depot)
        if pos is None:
            continue
        roads = access.escort_usability(escort, weight_t)
        legs = _fastest_within(network, depot, site, roads, escort.effectiveness, scenario.policy.max_risk)
        if legs is not None:
            options.append((escort, pos, *legs))
    return options


def _fastest_within(network: RoadNetwork, depot: str, site: str, roads: Usability, effectiveness: float,
                    cap: float) -> tuple[Path, Path] | None:
    """The quickest way out and back found whose round-trip risk is within ``cap``: the least-time
    paths if they qualify, else a blend of hours and risk weight tightened until it does (at worst
    the least-risk paths). Why not always the safest: in a city it can take a day where the
    quickest takes hours, and the truck and escort time it costs is what runs short."""
    limit = risk_weight_cap(cap)

    def legs(weight) -> tuple[Path, Path] | None:
        if weight in ("hours", "risk"):
            out = network.least_path(depot, site, weight, roads, effectiveness)
            back = network.least_path(site, depot, weight, roads, effectiveness)
        else:
            out = network.least_blend_path(depot, site, weight, roads, effectiveness)
            back = network.least_blend_path(site, depot, weight, roads, effectiveness)
        return None if out is None or back is None else (out, back)

    def ok(pair: tuple[Path, Path]) -> bool:
        return within(pair[0].risk_weight + pair[1].risk_weight, limit)

    quick = legs("hours")
    if quick is None or ok(quick):
        return quick
    best = legs("risk")
    if best is None or not ok(best):
        return None
    lo, hi = 0.0, 1.0
    while hi < 1e6:  # the first multiplier that meets the cap, then halve the bracket a few times
        pair = legs(hi)
        if pair is not None and ok(pair):
            best = min(best, pair, key=lambda p: p[0].hours + p[1].hours)
            break
        lo, hi = hi, hi * 8
    else:
        return best  # only (nearly) the safest paths meet the cap
    for _ in range(6):
        mid = (lo + hi) / 2
        pair = legs(mid)
        if pair is not None and ok(pair):
            best = min(best, pair, key=lambda p: p[0].hours + p[1].hours)
            hi = mid
        else:
            lo = mid
    return best


def _earliest_wave(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    calendar: Calendar,
    depot: str,
    org: str,
    site_id: str,
    types: list[FleetType],
    left: Mapping[str, float],
    index: int,
    escorted: bool = True,
    may_depart: Callable[[float], bool] | None = None,
    rule: WaveRule = WaveRule(),
) -> tuple[Convoy, str | None] | None:
    """The first departure (under ``rule``, the best of the first few) at which idle trucks and a
    free escort unit (``escorted``; else none is needed: the trip stays within ``risk_threshold``)
    can make the trip: the convoy (escort not yet named) and the unit it was fitted around (None
    without escort). ``may_depart``: a rule on the departure instant (military trucks under
    ``last_resort``, :func:`civilians_all_busy`), whose moments are tried too."""
    site = scenario.node_by_id[site_id]
    starts = calendar.release_times()
    if may_depart is not None:
        starts = sorted(set(starts).union(calendar.departures()))
    if len(starts) > MAX_CANDIDATE_STARTS:
        step = len(starts) / MAX_CANDIDATE_STARTS
        starts = [starts[int(i * step)] for i in range(MAX_CANDIDATE_STARTS)]
    # each weight class's earliest wave; of those, the one moving the most tonnes per hour of its
    # scarce resource (the escort unit's busy time, positioning included; else the trucks' trip):
    # heavy trucks barred from a bridge may take a detour three times as long as light ones
    chosen = None
    floor_t = _escort_floor_t(scenario, network, depot, org, site_id, types) if escorted else 0.0
    for weight_t in sorted({f.capacity_t for f in types if f.capacity_t >= floor_t}, reverse=True):
        usable = [f for f in types if f.capacity_t <= weight_t]
        if escorted:
            options = calendar.legs(scenario, network, access, depot, site_id, weight_t)
        else:
            options = _safe_legs(scenario, network, depot, site_id, weight_t)
        if escorted and options:
            busy = [least_unit_hours(scenario.horizon_h, out.hours + back.hours, pos) for _, pos, out, back in options]
            options = [o for o, b in zip(options, busy) if b <= rule.busy_ratio * min(busy) + 1e-9]
        best = None
        for escort, pos, out, back in options:
            times = starts
            if escort is not None and pos[0] > 0:
                # a unit based away from the depot is free to leave it p_out after its last return
                times = sorted(set(starts).union(b + pos[0] for b in calendar.escort_release(escort)))
            first, tried, pick = None, 0, None
            for t in times:
                depart, arrive = _timing(t, out, site)
                if arrive is None:
                    break
                if may_depart is not None and not may_depart(depart):
                    continue
                back_at = arrive + site.service_h + back.hours
                if not within(back_at, scenario.horizon_h):
                    break
                if first is not None and depart > first + back_at - depart + sum(pos):
                    break  # waiting longer than a whole trip never pays
                if escort is not None and not calendar.escort_free(escort, depart - pos[0], back_at + pos[1]):
                    continue
                idle = {f.id: calendar.idle_trucks(f, depart, back_at) for f in usable}
                if not any(idle[f.id] for f in usable if f.capacity_t >= floor_t):
                    continue  # the largest truck idle goes first (trucks_for): it must be heavy enough
                load = _fill(scenario, left, sum(f.capacity_t * idle[f.id] for f in usable), sum(f.capacity_m3 * idle[f.id] for f in usable))
                if not load:
                    break
                first = depart if first is None else first
                # tonnes per hour of the trip, the wait for more trucks counted as busy time
                score = scenario.weight_t(load) / unit_hours_in_horizon(scenario.horizon_h, first, back_at, pos)
                if pick is None or score > pick[0] * (1 + 1e-9):
                    pick = (score, back_at, depart, arrive, idle, load)
                tried += 1
                if tried >= rule.departures:
                    break
            if pick is None:
                continue
            _, back_at, depart, arrive, idle, load = pick
            # the unit free again soonest (its way home included), then the shortest busy
            # time: a unit based far away pays its positioning on every convoy (FORMAT.md §3.5)
            rank = (back_at + pos[1], back_at - depart + sum(pos))
            if best is None or rank < best[-1]:
                best = (back_at, depart, arrive, out, back, idle, load, escort, rank)
        if best is not None:
            back_at, depart, arrive, out, back, idle, load, escort, _ = best
            pos = (0.0, 0.0) if escort is None else positioning_hours(network, escort, depot) or (0.0, 0.0)
            rate = scenario.weight_t(load) / unit_hours_in_horizon(scenario.horizon_h, depart, back_at, pos)
            if chosen is None or rate > chosen[0] + 1e-9:
                chosen = (rate, best)
    if chosen is not None:
        back_at, depart, arrive, out, back, idle, load, escort, _ = chosen[1]
        convoy = Convoy(
            id=f"W{index + 1:04d}",
            organization=org,
            depot=depot,
            vehicles=trucks_for(scenario, idle, load),
            path=out.nodes + back.nodes[1:],
            depart_h=depart,
            stops=(Stop(site=site_id, arrive_h=arrive, unload=load),),
            return_h=back_at,
            escort=None,
            **({"wave": True} if escorted else {"fill_in": True}),
        )
        return convoy, (escort.id if escort is not None else None)
    return None


def _safe_legs(scenario: Scenario, network: RoadNetwork, depot: str, site: str, weight_t: float):
    """The fastest way out and back for vehicles of ``weight_t`` that needs no escort."""
    legs = _fastest_within(network, depot, site, Usability(vehicle_weight_t=weight_t), 0.0,
                           scenario.policy.risk_threshold)
    return [] if legs is None else [(None, (0.0, 0.0), *legs)]


def fill_idle_trucks(
    scenario: Scenario,
    network: RoadNetwork,
    kept: Sequence[Convoy],
    loads: Mapping[tuple[str, str], Mapping[str, float]],
    prefix: str = "F",
    deadline: float | None = None,
    numbered_from: int = 1,
) -> list[Convoy]:
    """Convoys without escort (ids ``prefix`` + number) for ``loads`` ``{(depot, site): units}`` that no convoy carries,
    on trucks idle around ``kept``: the site's least-risk road there and back, within
    ``risk_threshold``; most severe sites first, any organization at the depot (its civilian trucks,
    then its military ones as FORMAT.md §3.6 allows, :func:`_fill_in_types`).
    ``deadline`` (:func:`allocate.clock.now`): the loads not reached by then stay where they are, so
    a planner keeps its time limit (2,000 sites: 23 s of fill-in); a later call with the convoys
    made so far goes on from there (``numbered_from`` keeps its ids apart).

    Why: the router drops loads it cannot fit truck by truck, and the escort stage frees trucks
    when it sends escorted loads together in waves; this puts the freed time to use.
    """
    calendar = Calendar(scenario, network, kept)
    severity = {s.id: s.severity for s in scenario.sites}
    out: list[Convoy] = []
    for depot, site in sorted(loads, key=lambda k: (-severity.get(k[1], 0), k)):
        if clock.due(deadline):
            break
        if site not in severity:
            continue
        left = {c: u for c, u in loads[(depot, site)].items() if u > 1e-9}
        for org in sorted({f.organization for f in scenario.fleet if f.depot == depot}):
            for types, rule in _fill_in_types(scenario, calendar, depot, org):
                while types and any(u > 1e-9 for u in left.values()):
                    found = _earliest_wave(scenario, network, None, calendar, depot, org, site, types, left,
                                           len(out), escorted=False, may_depart=rule)
                    if found is None:
                        break
                    convoy = found[0].model_copy(update={"id": f"{prefix}{len(out) + numbered_from:04d}"})
                    out.append(convoy)
                    calendar.add(scenario, network, convoy)
                    for commodity, units in convoy.stops[0].unload.items():
                        left[commodity] -= units
    return out


def _fill_in_types(scenario: Scenario, calendar: Calendar, depot: str, org: str
                   ) -> list[tuple[list[FleetType], Callable[[float], bool] | None]]:
    """The organization's trucks at ``depot`` a fill-in may take, in the order it takes them: its
    civilian types, then its military types where ``military_assets`` allows them (FORMAT.md
    §3.6), under ``last_resort`` only at instants when every civilian truck there is busy."""
    mine = [f for f in scenario.fleet if f.depot == depot and f.organization == org and f.count >= 1
            and f.capacity_t > 0]
    civilian = [f for f in mine if not f.military]
    military = [f for f in mine if f.military]
    out: list[tuple[list[FleetType], Callable[[float], bool] | None]] = [(civilian, None)]
    policy = scenario.organization_by_id[org].military_assets
    if military and policy != "never":
        every = [f for f in scenario.fleet if f.depot == depot and f.organization == org and not f.military]
        rule = None if policy == "accept" else (lambda t: civilians_all_busy(calendar, every, t))
        out.append((military, rule))
    return out


def civilians_all_busy(calendar: Calendar, civilian: Sequence[FleetType], t: float) -> bool:
    """Whether every truck of ``civilian`` is on the road at the instant ``t`` (FORMAT.md §3.6: a
    military convoy under ``last_resort`` departs only then), by :meth:`Calendar.busy_at`."""
    return all(calendar.busy_at(f, t) >= f.count for f in civilian)


def shift_range(scenario: Scenario, convoy: Convoy) -> tuple[float, float]:
    """How far ``convoy`` may move whole, in hours (earliest ≤ 0 ≤ latest): its departure stays at
    or after 0, its return inside the horizon, every arrival inside its site's window."""
    early, late = -convoy.depart_h, scenario.horizon_h - convoy.return_h
    for stop in convoy.stops:
        window = scenario.node_by_id[stop.site].window
        if window is not None:
            early = max(early, window[0] - stop.arrive_h)
            late = min(late, window[1] - stop.arrive_h)
    return min(0.0, early), max(0.0, late)


def shifted(convoy: Convoy, hours: float) -> Convoy:
    """``convoy`` moved whole by ``hours``: same path, stops, loads and vehicles."""
    if not hours:
        return convoy
    return convoy.model_copy(update={
        "depart_h": convoy.depart_h + hours, "return_h": convoy.return_h + hours,
        "stops": tuple(s.model_copy(update={"arrive_h": s.arrive_h + hours}) for s in convoy.stops)})


def fit_around(
    scenario: Scenario,
    network: RoadNetwork,
    placed: Sequence[tuple[Convoy, str | None]],
    convoys: Sequence[Convoy],
) -> list[Convoy]:
    """``convoys`` that need no escort, fitted around the ``placed`` waves: each where it is if its
    trucks are idle then, else moved whole to the earliest departure at which they are (within
    :func:`shift_range`); the most severity-weighted tonnes per truck hour first, and the ones
    that fit nowhere left out (the fill-in stages send their loads on whatever trucks stay idle).

    Why: waves placed first take the trucks a scarce escort unit can lead; the safe convoys,
    which need no unit, are the ones that can wait.
    """
    calendar = Calendar(scenario, network, [])
    for wave, unit in placed:
        calendar.add(scenario, network, wave, escort=unit)
    severity = {s.id: s.severity for s in scenario.sites}

    def density(c: Convoy) -> float:
        value = sum(severity.get(s.site, 0) * scenario.weight_t(s.unload) for s in c.stops)
        return value / max(1e-9, sum(c.vehicles.values()) * (c.return_h - c.depart_h))

    fitted: list[Convoy] = []
    for convoy in sorted(convoys, key=lambda c: (-density(c), c.id)):
        moved = calendar.refit(scenario, convoy)
        if moved is not None:
            fitted.append(moved)
            calendar.add(scenario, network, moved)
    return fitted


def _timing(depart: float, out: Path, site) -> tuple[float, float | None]:
    """Departure and arrival for a wave leaving no earlier than ``depart``; waits for a window."""
    arrive = depart + out.hours
    if site.window is not None:
        if arrive > site.window[1] + 1e-9:
            return depart, None
        if arrive < site.window[0]:
            depart += site.window[0] - arrive
            arrive = site.window[0]
    return depart, arrive


def _fill(scenario: Scenario, left: Mapping[str, float], capacity_t: float, capacity_m3: float) -> dict[str, float]:
    """As much of what is left as fits, the same share of every commodity."""
    want_t = sum(u * scenario.commodity_by_id[c].weight_t for c, u in left.items() if u > 1e-9)
    want_m3 = sum(u * scenario.commodity_by_id[c].volume_m3 for c, u in left.items() if u > 1e-9)
    if want_t <= 0 or capacity_t <= 0 or (want_m3 > 0 and capacity_m3 <= 0):
        return {}
    share = min(1.0, capacity_t / want_t, capacity_m3 / want_m3 if want_m3 > 0 else 1.0)
    return {c: (u * share if share < 1 else u) for c, u in left.items() if u > 1e-9}


def trucks_capacity(scenario: Scenario, trucks: Mapping[str, int], attribute: str) -> float:
    """What ``trucks`` ``{fleet type: count}`` hold together: ``attribute`` is ``capacity_t`` or ``capacity_m3``."""
    return sum(n * getattr(scenario.fleet_by_id[f], attribute) for f, n in trucks.items())


def trucks_for(scenario: Scenario, idle: Mapping[str, int], load: Mapping[str, float]) -> dict[str, int]:
    """The fewest idle trucks, largest first, that carry ``load`` by weight and by volume."""
    need_t, need_m3 = scenario.weight_t(load), scenario.volume_m3(load)
    chosen: dict[str, int] = {}
    got_t = got_m3 = 0.0
    for fleet_id in sorted(idle, key=lambda f: (-scenario.fleet_by_id[f].capacity_t, f)):
        f = scenario.fleet_by_id[fleet_id]
        for _ in range(idle[fleet_id]):
            if got_t >= need_t * (1 - 1e-9) and got_m3 >= need_m3 * (1 - 1e-9):
                break
            chosen[fleet_id] = chosen.get(fleet_id, 0) + 1
            got_t += f.capacity_t
            got_m3 += f.capacity_m3
    return chosen


def spare_stock_loads(scenario: Scenario, access: AccessFacts, convoys: Sequence[Convoy],
                      skip: Collection[tuple[str, str]] = ()) -> dict[tuple[str, str], dict[str, float]]:
    """Stock no convoy carries, shared out to the sites still short that a depot reaches without
    escort: ``{(depot, site): units}``, most severe sites first, never more than a depot holds or
    a site still needs, no (depot, site) pair in ``skip``. Feed it to :func:`fill_idle_trucks`,
    or use :func:`fill_spare_stock`, which does both.

    Why: the allocation sends some stock under escort; what the escorts could not move stays in
    the depot while trucks stand idle and sites that need no escort are still short.
    """
    s = scenario
    stock, need = stock_and_need_left(s, convoys)
    loads: dict[tuple[str, str], dict[str, float]] = {}
    for site in sorted(s.sites, key=lambda x: (-x.severity, x.id)):
        depots = [d for d in access.serving_depots if (d, site.id) not in skip
                  and access.mode(d, site.id, escorts_allowed=False) == "unescorted"]
        # nearest depot first: its trucks come back soonest for the next load
        for depot in sorted(depots, key=lambda d: (access.pair(d, site.id, escorts_allowed=False).hours, d)):
            take = {c: min(u, stock[depot].get(c, 0.0)) for c, u in need[site.id].items()}
            take = {c: u for c, u in take.items() if u > 1e-9}
            if not take:
                continue
            loads[(depot, site.id)] = take
            for c, u in take.items():
                stock[depot][c] -= u
                need[site.id][c] -= u
    return loads


def fill_spare_stock(scenario: Scenario, network: RoadNetwork, access: AccessFacts, kept: Sequence[Convoy],
                     deadline: float | None = None, rounds: int = 3) -> list[Convoy]:
    """Convoys (ids ``G`` + number) carrying stock no convoy carries to short sites that need no
    escort (:func:`spare_stock_loads`) on trucks idle around ``kept``; a site its nearest depot's
    trucks could not serve goes to the next depot that reaches it, for up to ``rounds`` rounds.

    Why: each site's need is handed to its nearest depot first, whose trucks may be busy all day
    while another depot's stand idle with the same stock (haiti_like: D03's heavy trucks idle the
    last 9 h beside 200 t of food its unescorted sites still lacked, handed to D01)."""
    out: list[Convoy] = []
    skip: set[tuple[str, str]] = set()
    for _ in range(rounds):
        loads = spare_stock_loads(scenario, access, list(kept) + out, skip)
        if not loads or clock.due(deadline):
            break
        made = fill_idle_trucks(scenario, network, list(kept) + out, loads, prefix="G", deadline=deadline,
                                numbered_from=len(out) + 1)
        out += made
        _, need = stock_and_need_left(scenario, list(kept) + out)
        failed = {(d, site) for (d, site), units in loads.items()
                  if any(need[site].get(c, 0.0) > 1e-9 for c in units)}
        if failed <= skip:
            break
        skip |= failed
    return out


def stock_and_need_left(s: Scenario, convoys: Sequence[Convoy]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Stock each depot still holds and need each site still has after ``convoys``."""
    stock_left = {n.id: dict(n.stock) for n in s.depots}
    need_left = {x.id: dict(x.need) for x in s.sites}
    for convoy in convoys:
        for stop in convoy.stops:
            for c, u in stop.unload.items():
                stock_left.setdefault(convoy.depot, {})[c] = stock_left.get(convoy.depot, {}).get(c, 0.0) - u
                need_left.setdefault(stop.site, {})[c] = need_left.get(stop.site, {}).get(c, 0.0) - u
    return stock_left, need_left
