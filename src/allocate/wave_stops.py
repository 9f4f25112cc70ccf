"""More stops for escorted waves: one escort unit, several nearby sites.

A wave (waves.py) leads trucks to one site, as the distribution model's escorted trips do. When
the site needs less than the trucks hold, the rest of the room rides home empty while a site
an hour further on waits for an escort of its own. Escort hours are what runs short, so this
pass gives a wave further stops: from its last site to the next short site that needs an
escort, then home, on roads its escort unit may take, with the whole round trip's escorted
risk within ``max_risk``, inside the sites' windows and the horizon, and only while its trucks
and the unit it was fitted around stay free for the longer trip: the unit's later waves may
move later, and for a unit based away from the depot, convoys without escort holding the trucks
may move later too, or give way when the stop moves more severity-weighted tonnes than they do.
The escort itself is named afterwards by :func:`allocate.escorts.assign_escorts`, which checks
every rule again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

from allocate.access import AccessFacts, within
from allocate.escorts import positioning_hours
from allocate.network import Path, RoadNetwork, Usability, risk_weight_cap
from allocate.plan import Convoy, Stop
from allocate.scenario import EscortUnit, Scenario
from allocate.waves import Calendar, _fill, _wave_types, shift_range, shifted, trucks_capacity, trucks_for

MAX_STOPS = 3  # stops per wave; more makes long trips that hold trucks and a unit all day
NEAREST_SITES = 8  # candidate next stops tried per wave, nearest first


def remaining_loads(
    loads: Mapping[tuple[str, str, str], Mapping[str, float]],
    placed: Sequence[tuple[Convoy, str | None]],
) -> dict[tuple[str, str], dict[str, float]]:
    """What waves were to carry, ``{(depot, organization, site): units}``, less what the
    ``placed`` waves carry, per (depot, site)."""
    left: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for (depot, _, site), units in loads.items():
        into = left[(depot, site)]
        for c, u in units.items():
            into[c] = into.get(c, 0.0) + u
    for convoy, unit in placed:
        if unit is None:
            continue
        for stop in convoy.stops:
            into = left.get((convoy.depot, stop.site))
            for c, u in stop.unload.items():
                if into is not None and c in into:
                    into[c] -= u
    return {k: {c: u for c, u in v.items() if u > 1e-9} for k, v in left.items() if any(u > 1e-9 for u in v.values())}


def extend_waves(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    placed: Sequence[tuple[Convoy, str | None]],
    loads: Mapping[tuple[str, str], Mapping[str, float]],
) -> list[tuple[Convoy, str | None]]:
    """``placed`` (waves with the unit each was fitted around; convoys without escort with
    ``None``) with waves given further stops for ``loads`` ``{(depot, site): units}`` that need
    an escort and no convoy carries: each wave in turn takes the stop that adds the most
    severity-weighted tonnes per extra hour of its unit, up to :data:`MAX_STOPS`."""
    out = list(placed)
    calendar = Calendar(scenario, network, [])
    for convoy, unit in out:
        calendar.add(scenario, network, convoy, escort=unit)
    left = {k: dict(v) for k, v in loads.items()}
    severity = {s.id: s.severity for s in scenario.sites}
    dropped: set[int] = set()  # convoys without escort that gave their trucks to a longer wave
    order = sorted(range(len(out)), key=lambda i: (out[i][0].depart_h, out[i][0].id))
    for i in order:
        wave, unit = out[i]
        if unit is None or not (wave.model_extra or {}).get("wave"):
            continue
        escort = scenario.escort_by_id[unit]
        while len(wave.stops) < MAX_STOPS:
            calendar.remove(scenario, network, wave, escort=unit)
            longer = _next_stop(scenario, network, access, calendar, wave, escort, left, severity)
            if longer is None:
                pushed = _pushing_later(scenario, network, access, calendar, out, i, wave, escort, left, severity)
                if pushed is not None:
                    longer, moved = pushed
                    for j, convoy in moved.items():
                        out[j] = (convoy, unit)
            if longer is None:
                displacing = _displacing_safe(scenario, network, access, calendar, out, i, wave, escort, left, severity,
                                              dropped)
                if displacing is not None:
                    longer, gone, moved_safe = displacing
                    dropped |= gone
                    for j, convoy in moved_safe.items():
                        out[j] = (convoy, None)
            calendar.add(scenario, network, longer or wave, escort=unit)
            if longer is None:
                break
            for c, u in longer.stops[-1].unload.items():
                left[(wave.depot, longer.stops[-1].site)][c] -= u
            wave = longer
        out[i] = (wave, unit)
    return [x for k, x in enumerate(out) if k not in dropped]


def _pushing_later(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    calendar: Calendar,
    out: Sequence[tuple[Convoy, str | None]],
    i: int,
    wave: Convoy,
    escort: EscortUnit,
    left: Mapping[tuple[str, str], Mapping[str, float]],
    severity: Mapping[str, int],
) -> tuple[Convoy, dict[int, Convoy]] | None:
    """The wave ``out[i]`` (not in ``calendar``) with one more stop, its unit's later waves moved
    later by the extra hours it takes: ``(longer wave, {index in out: moved wave})``, with the
    moved waves booked in ``calendar``; None, and ``calendar`` as it was, when no stop fits so
    or a later wave cannot move (its windows, the horizon, its trucks or the unit).

    Why: the CP-SAT schedule packs a unit's waves back to back, so a wave with room and a short
    site half an hour on can rarely grow; a unit based far from the depot pays its positioning
    on every wave (FORMAT.md §3.5), and a second stop is its cheapest tonnes (cote_divoire_like)."""
    later = [j for j, (c, u) in enumerate(out)
             if j != i and u == escort.id and (c.model_extra or {}).get("wave") and c.depart_h >= wave.depart_h]
    if not later:
        return None
    for j in later:
        calendar.remove(scenario, network, out[j][0], escort=escort.id)
    longer = _next_stop(scenario, network, access, calendar, wave, escort, left, severity)
    extra = 0.0 if longer is None else longer.return_h - wave.return_h
    moved: dict[int, Convoy] = {}
    fits = longer is not None
    if fits:
        calendar.add(scenario, network, longer, escort=escort.id)
        for j in sorted(later, key=lambda j: out[j][0].depart_h):
            convoy = shifted(out[j][0], extra)
            p_out, p_back = positioning_hours(network, escort, convoy.depot) or (0.0, 0.0)
            if (shift_range(scenario, out[j][0])[1] < extra - 1e-9
                    or not calendar.trucks_idle_for(scenario, convoy)
                    or not calendar.escort_free(escort, convoy.depart_h - p_out, convoy.return_h + p_back)):
                fits = False
                break
            calendar.add(scenario, network, convoy, escort=escort.id)
            moved[j] = convoy
        calendar.remove(scenario, network, longer, escort=escort.id)
    if fits:
        return longer, moved
    for j, convoy in moved.items():
        calendar.remove(scenario, network, convoy, escort=escort.id)
    for j in later:
        calendar.add(scenario, network, out[j][0], escort=escort.id)
    return None


def _next_stop(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    calendar: Calendar,
    wave: Convoy,
    escort: EscortUnit,
    left: Mapping[tuple[str, str], Mapping[str, float]],
    severity: Mapping[str, int],
) -> Convoy | None:
    """The wave with one more stop, the best of the nearest short sites, or None if none fits."""
    depot, last = wave.depot, wave.stops[-1]
    pos = positioning_hours(network, escort, depot)
    if pos is None:
        return None
    heaviest = max(scenario.fleet_by_id[f].capacity_t for f in wave.vehicles)
    roads = access.escort_usability(escort, heaviest)
    eff = escort.effectiveness
    limit = risk_weight_cap(scenario.policy.max_risk)
    # the walk up to the last stop stays; the way home from it is replaced
    cut = len(wave.path) - 1 - wave.path[::-1].index(last.site)
    before = network.measure(wave.path[: cut + 1], eff)
    load_t = sum(scenario.weight_t(s.unload) for s in wave.stops)
    load_m3 = sum(scenario.volume_m3(s.unload) for s in wave.stops)
    # trucks that may join: the organization's civilian types no heavier than the wave's heaviest
    # (its roads stay theirs), taken only while idle for the whole longer trip
    joiners = [f for f in _wave_types(scenario, depot, wave.organization) if f.capacity_t <= heaviest]
    reach = network.distances_from(last.site, "hours", roads, eff)
    visited = {s.site for s in wave.stops}
    nearby = sorted((reach[site], site) for (d, site), units in left.items()
                    if d == depot and site not in visited and site in reach and site in severity
                    and any(u > 1e-9 for u in units.values()))[:NEAREST_SITES]
    leave = last.arrive_h + scenario.node_by_id[last.site].service_h
    best: tuple[float, Convoy] | None = None
    for _, site in nearby:
        step = onward(scenario, network, last.site, leave, site, depot, roads, eff, limit - before.risk_weight)
        if step is None:
            continue
        leg, home, arrive, back_at = step
        idle = {f.id: calendar.idle_trucks(f, wave.depart_h, back_at) for f in joiners}
        if any(idle.get(f, 0) < n for f, n in wave.vehicles.items()):
            continue
        if not calendar.escort_free(escort, wave.depart_h - pos[0], back_at + pos[1]):
            continue
        cap_t = sum(n * f.capacity_t for f in joiners for n in [idle[f.id]])
        cap_m3 = sum(n * f.capacity_m3 for f in joiners for n in [idle[f.id]])
        room_t, room_m3 = cap_t - load_t, cap_m3 - load_m3
        if room_t <= 1e-9 or room_m3 <= 1e-9:
            continue  # full by weight or by volume, up to float noise
        unload = _fill(scenario, left[(depot, site)], room_t, room_m3)
        if not unload:
            continue
        # the wave's own trucks first, then the fewest idle ones, largest first, for the rest
        extra = trucks_for(scenario, {f: idle[f] - wave.vehicles.get(f, 0) for f in idle},
                            _over(scenario, wave, unload))
        rate = severity[site] * scenario.weight_t(unload) / max(1e-9, back_at - wave.return_h)
        if best is None or rate > best[0]:
            vehicles = dict(wave.vehicles)
            for f, n in extra.items():
                vehicles[f] = vehicles.get(f, 0) + n
            longer = wave.model_copy(update={
                "vehicles": vehicles,
                "path": tuple(wave.path[: cut + 1]) + leg.nodes[1:] + home.nodes[1:],
                "stops": wave.stops + (Stop(site=site, arrive_h=arrive, unload=unload),),
                "return_h": back_at,
            })
            best = (rate, longer)
    return None if best is None else best[1]


def _displacing_safe(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    calendar: Calendar,
    out: Sequence[tuple[Convoy, str | None]],
    i: int,
    wave: Convoy,
    escort: EscortUnit,
    left: Mapping[tuple[str, str], Mapping[str, float]],
    severity: Mapping[str, int],
    dropped: set[int],
) -> tuple[Convoy, set[int], dict[int, Convoy]] | None:
    """The wave ``out[i]`` (not in ``calendar``) with one more stop on trucks that convoys without
    escort hold during or after it: ``(longer wave, indices in out of the convoys it displaces,
    {index: convoy moved later to make room})``, when the stop moves more severity-weighted tonnes
    than the displaced do; those are out of ``calendar``, the others back in it where they are or
    moved. None, and ``calendar`` as it was, otherwise.

    Why: the convoys without escort are fitted first and take a wave's trucks the moment it is
    back, so a unit based two days away makes one trip with room for two stops while the sites
    after them, an hour on, wait (darfur_like_large: E_gov_D02's one wave from D07, 117 t to two
    sites, eight escorted sites with 231 t left nearby). What they carried goes back to the
    fill-in stage, which often sends it again on trucks idle later.
    """
    pos = positioning_hours(network, escort, wave.depot)
    if pos is None or sum(pos) <= 0.0:
        return None  # a unit based at the depot leads its next wave as soon as it is back
    types = {f.id for f in _wave_types(scenario, wave.depot, wave.organization)}
    blocking = [j for j, (c, u) in enumerate(out)
                if j != i and j not in dropped and u is None and c.escort is None
                and not (c.model_extra or {}).get("wave") and c.depot == wave.depot
                and set(c.vehicles) & types and c.return_h > wave.depart_h + 1e-9]
    if not blocking:
        return None
    for j in blocking:
        calendar.remove(scenario, network, out[j][0])
    longer = _next_stop(scenario, network, access, calendar, wave, escort, left, severity)
    if longer is None:
        for j in blocking:
            calendar.add(scenario, network, out[j][0])
        return None
    calendar.add(scenario, network, longer, escort=escort.id)

    def value(c: Convoy) -> float:
        return sum(severity.get(s.site, 0) * scenario.weight_t(s.unload) for s in c.stops)

    back: dict[int, Convoy] = {}
    gone: set[int] = set()
    for j in sorted(blocking, key=lambda j: (-value(out[j][0]), out[j][0].id)):
        c = calendar.refit(scenario, out[j][0])
        if c is None:
            gone.add(j)
        else:
            calendar.add(scenario, network, c)
            back[j] = c
    stop = longer.stops[-1]
    gain = severity.get(stop.site, 0) * scenario.weight_t(stop.unload)
    calendar.remove(scenario, network, longer, escort=escort.id)
    if gain > sum(value(out[j][0]) for j in gone) * (1 + 1e-9):
        return longer, gone, {j: c for j, c in back.items() if c != out[j][0]}
    for c in back.values():
        calendar.remove(scenario, network, c)
    for j in blocking:
        calendar.add(scenario, network, out[j][0])
    return None


def _over(scenario: Scenario, wave: Convoy, unload: Mapping[str, float]) -> dict[str, float]:
    """What of the wave's load with ``unload`` added its own trucks cannot hold, as a load of the
    same mix: zero when they hold it all."""
    have_t = trucks_capacity(scenario, wave.vehicles, "capacity_t")
    have_m3 = trucks_capacity(scenario, wave.vehicles, "capacity_m3")
    total = dict(unload)
    for stop in wave.stops:
        for c, u in stop.unload.items():
            total[c] = total.get(c, 0.0) + u
    need_t, need_m3 = scenario.weight_t(total), scenario.volume_m3(total)
    over = max(0.0, 1 - have_t / need_t if need_t > 0 else 0.0, 1 - have_m3 / need_m3 if need_m3 > 0 else 0.0)
    return {c: u * over for c, u in total.items()} if over > 1e-9 else {}


def onward(scenario: Scenario, network: RoadNetwork, here: str, leave: float, site: str, depot: str,
           roads: Usability, eff: float, risk_left: float) -> tuple[Path, Path, float, float] | None:
    """A walk's next step, from ``here`` (left at ``leave``) on to ``site`` and home to ``depot``:
    ``(leg, way home, arrival inside the site's window, return)``, the return inside the horizon;
    None where a way, the window or the horizon is missing. Shared by the stops added to waves
    and by the tours (wave_tours.py), so that both judge a further stop alike."""
    legs = _legs_within(network, here, site, depot, roads, eff, risk_left)
    if legs is None:
        return None
    leg, home = legs
    node = scenario.node_by_id[site]
    arrive = leave + leg.hours
    if node.window is not None:
        if arrive > node.window[1] + 1e-9:
            return None
        arrive = max(arrive, node.window[0])
    back_at = arrive + node.service_h + home.hours
    if not within(back_at, scenario.horizon_h):
        return None
    return leg, home, arrive, back_at


def _legs_within(network: RoadNetwork, site: str, nxt: str, depot: str, roads: Usability, eff: float,
                 risk_left: float) -> tuple[Path, Path] | None:
    """On to ``nxt`` and home to ``depot``: the quickest pair if its escorted risk weight fits
    ``risk_left``, else the safest pair if that does."""
    for weight in ("hours", "risk"):
        leg = network.least_path(site, nxt, weight, roads, eff)
        home = network.least_path(nxt, depot, weight, roads, eff)
        if leg is None or home is None:
            return None
        if within(leg.risk_weight + home.risk_weight, risk_left):
            return leg, home
    return None
