"""Fill the spare room of convoys that are already on the road.

The distribution model plans tonnes as if every truck left full; convoys built from those tonnes
do not: a site's last load rarely fills its truck, and a convoy's trucks are sized to whole
vehicles. That spare room costs nothing more to use: the convoy drives the same path at the same
times. This pass tops each convoy up, stop by stop, with what its own sites still need, from stock
its depot still holds, so every rule a plan is checked against (FORMAT.md §3: loads within the
vehicles' weight and volume, units within stock and need) holds by construction. Paths, times,
vehicles and escorts are untouched; no site is added to a convoy.

Convoys serving the most severe sites are topped up first, so scarce stock goes where the
allocation would have sent it.
"""

from __future__ import annotations

from typing import Sequence

from allocate.network import RoadNetwork
from allocate.plan import Convoy, Stop
from allocate.scenario import Scenario
from allocate.waves import Calendar, stock_and_need_left

__all__ = ["top_up", "add_idle_trucks"]

_MARGIN = 1e-6  # tonnes and m3 kept free of each convoy's capacity, clear of the checker's tolerance
_WORTH_A_TRUCK = 0.01  # t or m3 still to carry below which no truck is added


def top_up(scenario: Scenario, convoys: Sequence[Convoy]) -> list[Convoy]:
    """``convoys`` with their spare weight and volume filled from their sites' unmet need.

    Returns new convoys in the same order; a convoy with no spare room, or whose sites need
    nothing more that its depot still stocks, is returned as it was.
    """
    s = scenario
    stock_left, need_left = stock_and_need_left(s, convoys)
    severity = {x.id: x.severity for x in s.sites}
    order = _most_severe_first(convoys, severity)
    out = list(convoys)
    for i in order:
        out[i] = _fill(s, convoys[i], stock_left, need_left, severity)
    return out


def _fill(s: Scenario, convoy: Convoy, stock_left: dict[str, dict[str, float]],
          need_left: dict[str, dict[str, float]], severity: dict[str, int]) -> Convoy:
    fleet = s.fleet_by_id
    cap_t = sum(n * fleet[f].capacity_t for f, n in convoy.vehicles.items())
    cap_m3 = sum(n * fleet[f].capacity_m3 for f, n in convoy.vehicles.items())
    room_t = cap_t - sum(s.weight_t(st.unload) for st in convoy.stops) - _MARGIN
    room_m3 = cap_m3 - sum(s.volume_m3(st.unload) for st in convoy.stops) - _MARGIN
    if room_t <= 0 or room_m3 <= 0:
        return convoy
    stock = stock_left.get(convoy.depot, {})
    commodities = s.commodity_by_id
    new_stops = list(convoy.stops)
    # the convoy's most severe stops first; a stop keeps its place on the path
    for k in sorted(range(len(new_stops)), key=lambda k: -severity.get(new_stops[k].site, 0)):
        stop = new_stops[k]
        need = need_left.get(stop.site, {})
        unload = dict(stop.unload)
        for c in sorted(need):
            if room_t <= 0 or room_m3 <= 0:
                break
            w, v = commodities[c].weight_t, commodities[c].volume_m3
            units = min(need[c], stock.get(c, 0.0))
            if w > 0:
                units = min(units, room_t / w)
            if v > 0:
                units = min(units, room_m3 / v)
            if units <= 1e-9:
                continue
            unload[c] = unload.get(c, 0.0) + units
            need[c] -= units
            stock[c] = stock.get(c, 0.0) - units
            room_t -= units * w
            room_m3 -= units * v
        if unload != stop.unload:
            new_stops[k] = Stop(site=stop.site, arrive_h=stop.arrive_h, unload=unload)
    if new_stops == list(convoy.stops):
        return convoy
    return convoy.model_copy(update={"stops": tuple(new_stops)})


def add_idle_trucks(scenario: Scenario, network: RoadNetwork, convoys: Sequence[Convoy]) -> list[Convoy]:
    """``convoys`` with trucks that stand idle during their trips added, where their sites still
    need what their depot still holds beyond their spare room; :func:`top_up` then loads them.

    Why: an escorted convoy is limited by its escort, not its trucks; more trucks on the same path
    at the same times cost no escort hour. Only trucks of the convoy's organization and depot, of
    its kind (military or civilian) and no heavier than its heaviest are added, so its roads,
    risk and consent checks (FORMAT.md §3.2, §3.6) are those it already passed; the calendar of
    every fleet type keeps §3.5's vehicle counts.
    """
    s = scenario
    calendar = Calendar(s, network, convoys)
    stock_left, need_left = stock_and_need_left(s, convoys)
    severity = {x.id: x.severity for x in s.sites}
    order = _most_severe_first(convoys, severity)
    out = list(convoys)
    for i in order:
        convoy = convoys[i]
        types = {f: s.fleet_by_id[f] for f in convoy.vehicles}
        heaviest = max(f.capacity_t for f in types.values())
        military = any(f.military for f in types.values())
        stock = stock_left.get(convoy.depot, {})
        want: dict[str, float] = {}
        for site in dict.fromkeys(stop.site for stop in convoy.stops):  # plan order, not hash order
            for c, u in need_left.get(site, {}).items():
                want[c] = want.get(c, 0.0) + u
        want = {c: min(u, stock.get(c, 0.0)) for c, u in want.items() if u > 1e-9}
        room_t = sum(n * types[f].capacity_t for f, n in convoy.vehicles.items()) - sum(s.weight_t(st.unload) for st in convoy.stops)
        room_m3 = sum(n * types[f].capacity_m3 for f, n in convoy.vehicles.items()) - sum(s.volume_m3(st.unload) for st in convoy.stops)
        short_t, short_m3 = s.weight_t(want) - room_t, s.volume_m3(want) - room_m3
        if short_t <= _WORTH_A_TRUCK and short_m3 <= _WORTH_A_TRUCK:
            continue
        vehicles = dict(convoy.vehicles)
        candidates = [f for f in s.fleet if f.organization == convoy.organization and f.depot == convoy.depot
                      and f.military == military and f.count >= 1 and 0 < f.capacity_t <= heaviest]
        for f in sorted(candidates, key=lambda f: (-f.capacity_t, f.id)):
            idle = calendar.idle_trucks(f, convoy.depart_h, convoy.return_h)
            n = 0
            while n < idle and (short_t > _WORTH_A_TRUCK or short_m3 > _WORTH_A_TRUCK):
                n += 1
                short_t -= f.capacity_t
                short_m3 -= f.capacity_m3
            if n:
                vehicles[f.id] = vehicles.get(f.id, 0) + n
                calendar.fleet[f.id].append((convoy.depart_h, convoy.return_h, n))
        if vehicles != dict(convoy.vehicles):
            grown = convoy.model_copy(update={"vehicles": vehicles})
            out[i] = _fill(s, grown, stock_left, need_left, severity)
    return out


def _most_severe_first(convoys: Sequence[Convoy], severity: dict[str, int]) -> list[int]:
    """Indices of ``convoys``, those serving the most severe sites first (then earliest, by id):
    scarce stock goes where the allocation would have sent it."""
    return sorted(range(len(convoys)), key=lambda i: (-max((severity.get(st.site, 0) for st in convoys[i].stops),
                                                           default=0), convoys[i].depart_h, convoys[i].id))
