"""Aid distribution as a MIP: how many units of each commodity go from each depot to each site.

This is the first stage of the pipeline (DESIGN.md): an allocation before any route is drawn, with
its proven bound. Three steps, each usable alone:

1. :func:`distribution_facts` turns the scenario and its access facts (:mod:`allocate.access`)
   into arrays: which fleet type may serve which site from its depot, unescorted or only under an
   escort, with which escort units, at what round-trip time, risk and km.
2. :func:`build_distribution_model` formulates the MIP from those arrays with numpy only
   (a back-end-neutral :class:`~allocate.mip.MipModel`).
3. :func:`distribute` solves it lexicographically on any back-end and returns an :class:`Allocation`.

Formulation (one *group* g = (depot, site, mode), mode unescorted or escorted):

- ``x[g,c]`` units of commodity c (continuous; FORMAT.md quantities may be fractional);
  ``k[f,g]`` vehicle round trips of fleet type f (continuous: a truck's trip may serve several
  sites once routed); ``z[e,g,o]`` escort trips of escort unit e accompanying a convoy of class o
  (one organization, military or not: a convoy never mixes them, FORMAT.md §3) (continuous: one
  escorted convoy may serve several sites, so a trip is shared among their groups), for every
  admissible unit (or the ``escort_choices`` nearest, a restriction).
- Large crises: beyond :data:`TRIPS_LIMIT` (fleet type, pair) columns the fleet of a depot is one
  pool (tonne-hours and m3-hours rows per depot, all and escorted-only, and per set of its fleet
  types that is exactly the set that may serve some site from it) with no ``k``, said in
  :attr:`Allocation.notes`. It relaxes the model (its bound stays a bound of the finer model);
  ``escort_choices`` restricts it (None, the default: every admissible unit; a number keeps the
  bound valid only where the units left out are not needed, as on the sample crises, and halves
  the time at 2,000 sites).
- stock, need; at a site with a ``window``, what each depot sends within what its trucks can
  unload there arriving inside it (:func:`_window_caps`; beyond :data:`WINDOW_ROWS_LIMIT` such
  pairs, left out); weight and volume of each unescorted group within the capacity of its trips, of
  each escorted group and its site's unescorted group within both groups' trips (a convoy under
  escort may take along a type with a safe road); each fleet
  type's trips within ``count × horizon_h`` hours (a trip lasts the road round trip plus the site's
  ``service_h``), and at most ``k · count`` trips longer than ``horizon_h / (k+1)`` (whole trips
  fit a day, :func:`_add_long_trip_rows`); escorted tonnes within what the escort trips
  accompany (one convoy: its class's trucks at the depot that the trip's unit brings within
  ``max_risk`` there or that have a safe road, :func:`_escort_fleet_t`, at most the need of the
  escorted sites one tour under that unit's effectiveness could serve with it,
  :func:`_tour_need_t`); a site's escorted
  tonnes within its escorted visits × its need, each visit paying the site's ``service_h`` and
  each trip its travel and positioning (a tour pays every stop's service, :func:`_visit_rows`);
  for the bound only, a second solve of the coverage tier where a unit's trips from a depot it
  is based away from add up to whole convoys (integers; up to :data:`WHOLE_CONVOY_PAIRS_LIMIT`
  escort-pair columns, :func:`_add_whole_convoy_rows`, :func:`_whole_convoy_bound`);
  each escort unit's trips and visits, positioning
  from its base included, within ``count × horizon_h`` plus the way out of its copies' first
  convoys and the way back of their last (pre-positioning before t = 0 and the way home after
  the horizon are allowed, FORMAT.md §3.5; :func:`_add_spill_rows`; a copy whose one convoy
  spills both ways does no other, and the other copies' convoys fit their own horizons,
  :func:`_add_single_convoy_rows`; beyond
  :data:`SPILL_ROWS_LIMIT` escort-pair columns, ``count × (horizon_h + longest way out + longest
  way back)``), its trips from
  one depot within ``count × (horizon_h + that depot's positioning)``, and its convoys' round
  trips (positioning apart) within ``count × horizon_h``;
  ``min_coverage`` at every accessible site; zone parity within ``parity_tolerance`` (FORMAT.md
  §3.7: zones of accessible sites; sites without a zone take no part).
- tiers, lexicographic by default: ``coverage`` (max Σ severity × delivered t / Σ severity ×
  needed t over all sites), ``escorted_t`` (min tonnes that can only move under escort),
  ``exposure`` (min Σ tonnes × least round-trip risk of their group), ``cost`` (min Σ vehicle
  trips × round-trip km × cost_per_km + escort trips × km incl. positioning × cost_per_km),
  ``busy_h`` (min vehicle and escort hours: the trips reported are the ones needed, not any
  that fit).

Impartiality: parties enter only through access (which roads and escort units are usable);
column order follows depots, sites and commodities, never party ids.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from allocate.access import TOL, AccessFacts
from allocate.arguments import require_seed
from allocate.mip import INF, MipModel, ModelBuilder, MipResult, Objective, solve_lexicographic
from allocate.network import RoadNetwork
from allocate.scenario import Scenario

TIERS = ("coverage", "escorted_t", "exposure", "cost", "busy_h")
KNOWN_TIERS = TIERS
UNESCORTED, ESCORTED = 0, 1
ZERO = 1e-6  # units below this are solver tolerance, reported as nothing

ROW_FIELDS = {
    "depot": "depot id the units leave from",
    "site": "site id they go to",
    "commodity": "commodity id",
    "units": "units of the commodity (FORMAT.md quantities, may be fractional)",
    "weight_t": "units × weight_t of the commodity",
    "volume_m3": "units × volume_m3 of the commodity",
    "escorted": "True when these units can only move under escort (no fleet type of the depot "
                "reaches the site unescorted within risk_threshold); False for unescorted movement",
    "round_trip_h": "least round-trip road hours depot → site → depot among the fleet types carrying them",
    "risk": "least round-trip risk of the pair for this mode (escorted: with the best usable escort)",
    "fleet": "fleet type ids that may carry them in this mode, comma-separated, those with trips first",
    "escorts": "escort unit ids with escort trips on this pair, comma-separated ('' if unescorted)",
    "zone": "zone id of the site, or None",
    "severity": "severity of the site",
}


# ----- 1. facts as arrays ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributionFacts:
    """Everything the MIP needs, as arrays; groups are (depot, site, mode) triples."""

    scenario: Scenario
    depots: tuple[str, ...]
    sites: tuple[str, ...]
    commodities: tuple[str, ...]
    fleets: tuple[str, ...]
    escorts: tuple[str, ...]
    weight: np.ndarray  # (C,) t per unit
    volume: np.ndarray  # (C,) m3 per unit
    stock: np.ndarray  # (D, C)
    need: np.ndarray  # (S, C)
    severity: np.ndarray  # (S,)
    site_zone: tuple[str | None, ...]
    accessible: np.ndarray  # (S,) bool: no checked unmet claim holds
    inaccessible: Mapping[str, str]  # site -> reason
    fleet_depot: np.ndarray  # (F,) depot index
    fleet_count: np.ndarray
    fleet_cap_t: np.ndarray
    fleet_cap_m3: np.ndarray
    fleet_cost: np.ndarray
    fleet_escortable: np.ndarray  # (F,) bool: its organization may take an escort
    fleet_class: np.ndarray  # (F,) convoy class: organization × military (a convoy is one class, §3)
    classes: tuple[str, ...]  # "org" or "org (military)" per class index
    escort_count: np.ndarray  # (E,)
    escort_cost: np.ndarray
    escort_budget_h: np.ndarray  # (E,) count × (horizon + longest positioning)
    escort_pos_out: np.ndarray  # (E, D) base → depot, hours
    escort_pos_back: np.ndarray  # (E, D) depot → base, hours
    g_depot: np.ndarray  # (G,)
    g_site: np.ndarray
    g_mode: np.ndarray
    g_risk: np.ndarray
    g_hours: np.ndarray  # least round-trip hours over its fleet types
    fg_fleet: np.ndarray  # (FG,) fleet type serving group
    fg_group: np.ndarray
    fg_hours: np.ndarray
    fg_km: np.ndarray
    eg_escort: np.ndarray  # (EG,) escort unit usable on group
    eg_group: np.ndarray
    eg_hours: np.ndarray  # round trip + positioning
    eg_km: np.ndarray
    eg_class: np.ndarray  # (EG,) convoy class the escort trip accompanies
    eg_cap_t: np.ndarray  # tonnes one escorted convoy through the site can carry (class fleet, ≤ one tour's need)
    window_cap_t: np.ndarray  # (D, S) most tonnes a depot's trucks can unload inside a site's window (inf: no cut)
    window_cap_m3: np.ndarray  # (D, S) the same in m3
    horizon_h: float
    service_h: np.ndarray  # (S,) each site's service time, paid per escorted visit

    @property
    def escort_pos_h(self) -> np.ndarray:
        """(E, D) positioning round trip base → depot → base, hours."""
        return self.escort_pos_out + self.escort_pos_back

    @property
    def need_t(self) -> np.ndarray:
        return self.need @ self.weight


def _within(x: np.ndarray, bound: float) -> np.ndarray:
    """:func:`allocate.access.within`, element-wise (``inf`` is never within)."""
    return x <= bound + TOL * max(1.0, abs(bound))


class _RoadArrays:
    """The usable-road rules of :class:`~allocate.network.RoadNetwork` as edge masks, and
    least-path matrices from many sources at once (scipy's C Dijkstra).

    Why: access facts pair by pair cost one networkx Dijkstra per (depot, escort, weight class)
    and a Python call per pair; 2,000 sites × 50 depots took minutes. The rules are the same as
    ``RoadNetwork.road_usable`` (closed, denied ends, ``max_weight_t`` below the vehicle, ends
    controlled by a party opposed to the escort's provider) and a test checks that every mode
    and claim agrees with :class:`~allocate.access.AccessFacts`.
    """

    def __init__(self, scenario: Scenario, network: RoadNetwork):
        s = scenario
        self.scenario = s
        self.ids = [n.id for n in s.nodes]
        self.index = {n: i for i, n in enumerate(self.ids)}
        items = list(network.directed_roads.items())
        self.ea = np.array([self.index[a] for (a, _), _ in items], np.int64)
        self.eb = np.array([self.index[b] for (_, b), _ in items], np.int64)
        self.hours = np.array([r.hours for _, r in items], float)
        self.km = np.array([r.km for _, r in items], float)
        self.risk = np.array([r.risk for _, r in items], float)
        self.max_w = np.array([INF if r.max_weight_t is None else r.max_weight_t for _, r in items], float)
        denied = np.array([s.is_denied(n) for n in self.ids], bool)
        closed = np.array([r.closed for _, r in items], bool)
        self.ok = ~closed & ~denied[self.ea] & ~denied[self.eb] if items else np.zeros(0, bool)
        self._controllers = [s.controller_of(n) for n in self.ids]
        self._opposed: dict[str, np.ndarray] = {}

    def mask(self, weight_t: float | None, avoid_opposed_to: str | None = None) -> np.ndarray:
        m = self.ok.copy()
        if weight_t is not None:
            m &= ~(self.max_w < weight_t)
        if avoid_opposed_to is not None:
            if avoid_opposed_to not in self._opposed:
                self._opposed[avoid_opposed_to] = np.array(
                    [self.scenario.opposed(c, avoid_opposed_to) for c in self._controllers], bool)
            opp = self._opposed[avoid_opposed_to]
            m &= ~(opp[self.ea] | opp[self.eb])
        return m

    def round_trips(self, sources: Sequence[int], values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``len(sources) × nodes`` least source → node → source totals (``inf`` if either way fails)."""
        out, back = self.both_ways(sources, values, mask)
        return out + back

    def both_ways(self, sources: Sequence[int], values: np.ndarray,
                  mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``len(sources) × nodes`` least source → node and node → source totals."""
        n = len(self.ids)
        A = sp.csr_matrix((values[mask], (self.ea[mask], self.eb[mask])), shape=(n, n))
        out = dijkstra(A, directed=True, indices=list(sources))
        back = dijkstra(A.T.tocsr(), directed=True, indices=list(sources))
        return np.atleast_2d(out), np.atleast_2d(back)


def _escort_fleet_t(ent: np.ndarray, inv: np.ndarray, n_keys: int, fg_fleet: np.ndarray, fg_site: np.ndarray,
                    fg_mode: np.ndarray, fleet_class: np.ndarray, fleet_depot: np.ndarray, fleet_t: np.ndarray,
                    eg_class: np.ndarray, eg_depot: np.ndarray, eg_site: np.ndarray) -> np.ndarray:
    """Tonnes one convoy under an escort entry can carry: per entry key (unit, group, class), the
    trucks of the fleet types that unit brings within ``max_risk`` to the site (``ent``: their
    escorted fleet entries, ``inv``: the key of each), plus the class's types at the depot with a
    safe road there, which may ride along.

    Why per unit: a type whose roads stay above ``max_risk`` under this unit's effectiveness
    (heavy trucks kept off a safer bridge) cannot be in its convoy, though a stronger unit may
    take it; counting it let a weak unit carry the whole class fleet (cote_divoire_like)."""
    out = np.zeros(n_keys)
    np.add.at(out, inv, fleet_t[fg_fleet[ent]])
    safe: dict[tuple[int, int, int], float] = {}
    for f, si in zip(fg_fleet[fg_mode == UNESCORTED].tolist(), fg_site[fg_mode == UNESCORTED].tolist()):
        key = (int(fleet_class[f]), int(fleet_depot[f]), si)
        safe[key] = safe.get(key, 0.0) + float(fleet_t[f])
    return out + np.array([safe.get((c, d, si), 0.0) for c, d, si in
                           zip(eg_class.tolist(), eg_depot.tolist(), eg_site.tolist())])


TOUR_LEVELS = 3  # tour searches per crisis at most: one per effectiveness level (:func:`_effectiveness_levels`)


def _effectiveness_levels(effectiveness: np.ndarray) -> np.ndarray:
    """Each unit's effectiveness raised to one of at most :data:`TOUR_LEVELS` levels (the highest
    among them, and quantiles of the rest).

    Why: a tour search per distinct effectiveness costs a second or more at 2,000 sites and
    generated crises have a dozen; a unit judged as more effective than it is has more tours
    within ``max_risk``, so the caps stay bounds."""
    distinct = np.unique(effectiveness)
    if distinct.size <= TOUR_LEVELS:
        return effectiveness
    levels = np.unique(np.quantile(distinct, np.linspace(0, 1, TOUR_LEVELS + 1)[1:], method="higher"))
    return levels[np.searchsorted(levels, effectiveness - 1e-12)]


def _tour_need_t(roads: "_RoadArrays", mask: np.ndarray, risk_factor: float, depot_nodes: Sequence[int],
                 site_nodes: np.ndarray, service_h: np.ndarray, need_t: np.ndarray, pairs: np.ndarray,
                 n_sites: int, horizon: float, max_risk: float) -> dict[tuple[int, int], float]:
    """Per (depot, site) in ``pairs`` (depot × n_sites + site): the need in tonnes of the sites
    among ``pairs`` from that depot that one escorted tour could serve together with it (itself
    included), on the roads of ``mask`` under an escort that multiplies road risk by ``risk_factor``.

    Why: an escorted convoy may serve several sites (FORMAT.md §3, wave_stops.py), so one escort
    trip is worth up to this much, not one site's need. A tour through sites a and b holds, whatever
    else it visits, the legs depot → a → b → depot (or b first), each at least its least-hours and
    its least-risk path (triangle inequality): b counts when that fits the horizon, with both
    service times, and ``max_risk``. Weight limits are ignored, which can only let more sites
    count: the figure stays a bound.
    """
    out: dict[tuple[int, int], float] = {}
    if pairs.size == 0:
        return out
    depot_of, site_of = pairs // n_sites, pairs % n_sites
    sites = np.unique(site_of)
    col = {int(si): i for i, si in enumerate(sites)}
    n = len(roads.ids)
    depots = np.unique(depot_of)
    sources = [depot_nodes[d] for d in depots]
    graphs = []
    risk_limit = -math.log1p(-min(max_risk + TOL * max(1.0, max_risk), 1.0 - 1e-15))
    for values, limit in ((roads.hours, horizon + TOL * max(1.0, horizon)),
                          (-np.log1p(-np.minimum(roads.risk * risk_factor, 1.0 - 1e-15)), risk_limit)):
        A = sp.csr_matrix((values[mask], (roads.ea[mask], roads.eb[mask])), shape=(n, n))
        # legs beyond the limit rule a pair out anyway: stop the search there
        between = dijkstra(A, directed=True, indices=site_nodes[sites].tolist(), limit=limit)[:, site_nodes[sites]]
        out_d = dijkstra(A, directed=True, indices=sources, limit=limit)[:, site_nodes[sites]]
        back_d = dijkstra(A.T.tocsr(), directed=True, indices=sources, limit=limit)[:, site_nodes[sites]]
        graphs.append((between, out_d, back_d))
    for di, d in enumerate(depots):
        mine = np.array([col[int(si)] for si in site_of[depot_of == d]])
        legs = []
        for between, out_d, back_d in graphs:
            one_way = out_d[di, mine][:, None] + between[np.ix_(mine, mine)] + back_d[di, mine][None, :]
            legs.append((one_way, one_way.T))
        (h_ab, h_ba), (r_ab, r_ba) = legs
        service = service_h[sites[mine]][:, None] + service_h[sites[mine]][None, :]
        # the tour may gain the checker's tolerance at its departure, each stop and its return
        h_ab = h_ab - (TRIP_TOL_SLACK + 1) * TOL * max(1.0, horizon)
        h_ba = h_ba - (TRIP_TOL_SLACK + 1) * TOL * max(1.0, horizon)
        fits = ((_within(h_ab + service, horizon) & _within(_risk(r_ab), max_risk))
                | (_within(h_ba + service, horizon) & _within(_risk(r_ba), max_risk)))
        np.fill_diagonal(fits, True)
        reach = fits.astype(float) @ need_t[sites[mine]]
        for si, t in zip(sites[mine].tolist(), reach.tolist()):
            out[(int(d), si)] = t
    return out


def _window_caps(sites: Sequence[Any], fleets: Sequence[Any], didx: Mapping[str, int],
                 row: Mapping[tuple[float, str], int], out_h: Mapping[float, np.ndarray],
                 back_h: Mapping[float, np.ndarray], horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """(D, S) the most tonnes (and m3) each depot's trucks can unload at each site with a window,
    ``inf`` where there is no window or no cut: Σ over its fleet types of count × capacity × the
    most convoys one truck of the type can bring there, arriving inside the window.

    Why: the hours rows let a depot's trucks spend their day on a site open for a few hours;
    darfur_like_large's S0402, open 18-34 h and 12.5 h from D09, was allotted 326 t from a depot
    whose trucks that fit its roads carry 118 t, and each can arrive there once.
    Valid for every plan the checker accepts: a convoy arriving at s at ``t`` (inside the window,
    after the least way out from 0, and back by the horizon after the service and the least way
    back) holds its trucks over [t - out, t + service + back]; at no moment more than ``count``
    of a type are busy, so (interval graphs are perfect) its trucks' convoys there split into
    ``count`` chains of disjoint intervals, whose arrivals lie ``out + service + back`` apart.
    A convoy unloads at s at most its trucks' capacity (FORMAT.md §3 rules 3 and 5). Slack of
    a few checker tolerances on both the window and the spacing keeps the cut off plans the
    checker passes only by its tolerance.
    """
    D, S = len(didx), len(sites)
    cap_t = np.full((D, S), INF)
    cap_m3 = np.full((D, S), INF)
    windowed = np.array([i for i, x in enumerate(sites) if x.window is not None], np.int64)
    if not windowed.size:
        return cap_t, cap_m3
    opens = np.array([sites[i].window[0] for i in windowed], float)
    closes = np.array([sites[i].window[1] for i in windowed], float)
    service = np.array([sites[i].service_h for i in windowed], float)
    slack = 4 * TOL * max(1.0, horizon)
    sum_t, sum_m3 = np.zeros((D, windowed.size)), np.zeros((D, windowed.size))
    spaced = np.ones((D, windowed.size), bool)  # False where some type could arrive without spacing
    for f in fleets:
        r, d = row[(f.capacity_t, f.depot)], didx[f.depot]
        way_out, way_back = out_h[f.capacity_t][r, windowed], back_h[f.capacity_t][r, windowed]
        first = np.maximum(opens, way_out)
        last = np.minimum(closes, horizon - service - way_back)
        gap = way_out + service + way_back - slack
        reach = np.isfinite(way_out) & np.isfinite(way_back) & (last >= first - slack)
        with np.errstate(divide="ignore", invalid="ignore"):
            arrivals = np.where(reach, np.floor((last - first + slack) / np.where(gap > 0, gap, 1.0)) + 1, 0.0)
        spaced[d] &= ~(reach & (gap <= 0))
        sum_t[d] += f.count * f.capacity_t * arrivals
        sum_m3[d] += f.count * f.capacity_m3 * arrivals
    cap_t[:, windowed] = np.where(spaced, sum_t, INF)
    cap_m3[:, windowed] = np.where(spaced, sum_m3, INF)
    return cap_t, cap_m3


def _risk(w: np.ndarray) -> np.ndarray:
    """Route risk from additive weight; 1.0 where there is no path (as :mod:`allocate.access`)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(w), -np.expm1(-np.where(np.isfinite(w), w, 0.0)), 1.0)


def distribution_facts(scenario: Scenario, access: AccessFacts | None = None,
                       escort_choices: int | None = None) -> DistributionFacts:
    """Arrays of who may carry what where, from the access rules (no solver involved).

    Modes and claims follow :meth:`AccessFacts.mode` and :meth:`AccessFacts.claim_holds`
    exactly, computed for all pairs at once; ``access`` (optional) lends its road network.
    ``escort_choices``: each fleet type's escorted pair may draw on its nearest ``escort_choices``
    admissible units (least positioning time); None (the default): every admissible unit, which
    keeps the bound a bound of every plan (four depots each escorted by its own unit need four
    units, not three). A number is a restriction for speed: with dozens of units, one column per
    (unit, pair) makes millions of columns for little gain.
    """
    s = scenario
    acc = access or AccessFacts(s)
    roads = _RoadArrays(s, acc.network)
    policy, horizon = s.policy, float(s.horizon_h)
    commodities = tuple(c.id for c in s.commodities)
    cidx = {c: i for i, c in enumerate(commodities)}
    sites = s.sites
    site_ids = tuple(x.id for x in sites)
    site_nodes = np.array([roads.index[x] for x in site_ids], np.int64)
    depots = tuple(acc.serving_depots)
    didx = {d: i for i, d in enumerate(depots)}
    weight = np.array([c.weight_t for c in s.commodities], float)
    volume = np.array([c.volume_m3 for c in s.commodities], float)
    stock = np.zeros((len(depots), len(commodities)))
    for d in depots:
        for c, u in s.node_by_id[d].stock.items():
            stock[didx[d], cidx[c]] = max(0.0, u)
    need = np.zeros((len(sites), len(commodities)))
    for i, site in enumerate(sites):
        for c, u in site.need.items():
            need[i, cidx[c]] = max(0.0, u)
    severity = np.array([x.severity for x in sites], float)
    service_h = np.array([x.service_h for x in sites], float)
    orgs = s.organization_by_id

    # weight classes: each fleet type's capacity, and each depot's lightest (claims) --------------
    lightest = {d: acc.lightest_capacity_t(d) for d in depots}
    # a type that carries no weight still carries volume: in a convoy its m3 count with the
    # others' (FORMAT.md §3 rule 3), so it stays in the model
    fleets = [
        f for f in s.fleet
        if f.depot in didx and f.count >= 1 and (f.capacity_t > 0 or f.capacity_m3 > 0)
        and not (f.military and orgs[f.organization].military_assets == "never")
    ]
    sources: dict[float, list[str]] = {}
    for d in depots:
        sources.setdefault(lightest[d], []).append(d)
    for f in fleets:
        if f.depot not in sources.setdefault(f.capacity_t, []):
            sources[f.capacity_t].append(f.depot)
    admissible = [e for e in s.escorts if acc.party_admits(e)]
    avoid = {e.id: (e.provider if policy.party_escorts == "non_opposed" else None) for e in admissible}
    combos = sorted({(avoid[e.id] or "", e.effectiveness) for e in admissible})

    hours: dict[float, np.ndarray] = {}
    out_h: dict[float, np.ndarray] = {}
    back_h: dict[float, np.ndarray] = {}
    risk: dict[float, np.ndarray] = {}
    km: dict[float, np.ndarray] = {}
    esc_risk: dict[tuple[float, str, float], np.ndarray] = {}
    row: dict[tuple[float, str], int] = {}
    for w, ds in sources.items():
        src = [roads.index[d] for d in ds]
        for i, d in enumerate(ds):
            row[(w, d)] = i
        m = roads.mask(w)
        way_out, way_back = roads.both_ways(src, roads.hours, m)
        out_h[w], back_h[w] = way_out[:, site_nodes], way_back[:, site_nodes]
        hours[w] = out_h[w] + back_h[w]
        risk[w] = _risk(roads.round_trips(src, -np.log1p(-roads.risk), m)[:, site_nodes])
        km[w] = roads.round_trips(src, roads.km, m)[:, site_nodes]
        for prov, eff in combos:
            me = roads.mask(w, prov or None)
            esc_risk[(w, prov, eff)] = _risk(
                roads.round_trips(src, -np.log1p(-roads.risk * (1.0 - eff)), me)[:, site_nodes])

    def escort_ok(e, w: float, d: str) -> np.ndarray:
        """Sites where escort ``e`` brings the least-risk round trip within max_risk."""
        r = esc_risk[(w, avoid[e.id] or "", e.effectiveness)][row[(w, d)]]
        return _within(r, policy.max_risk) & (r < 1.0)

    # claims (FORMAT.md §3.6), judged from every serving depot on its lightest vehicle's roads -----
    S = len(sites)
    reach_any = np.zeros(S, bool)
    near_any = np.zeros(S, bool)
    safe_any = np.zeros(S, bool)
    for d in depots:
        w = lightest[d]
        h = hours[w][row[(w, d)]]
        reach_any |= np.isfinite(h)
        near_any |= _within(h, horizon)
        ok = _within(risk[w][row[(w, d)]], policy.risk_threshold)
        if acc.escort_organizations(d):
            for e in admissible:
                ok |= escort_ok(e, w, d)
        safe_any |= ok
    reasons = np.where(~reach_any, "no_path", np.where(~near_any, "too_far", np.where(~safe_any, "too_risky", "")))
    inaccessible = {sid: str(r) for sid, r in zip(site_ids, reasons) if r}
    accessible = reasons == ""

    window_cap_t, window_cap_m3 = _window_caps(sites, fleets, didx, row, out_h, back_h, horizon)

    # positioning of escort units: base -> depot -> base on escort roads (FORMAT.md §3.5) ----------
    escorts = [e for e in admissible if e.count >= 1]
    eidx = {e.id: i for i, e in enumerate(escorts)}
    depot_nodes = [roads.index[d] for d in depots]
    pos_out = np.full((len(escorts), len(depots)), INF)  # base -> depot
    pos_back = np.full((len(escorts), len(depots)), INF)  # depot -> base
    pos_km = np.full((len(escorts), len(depots)), INF)
    if escorts and depots:
        bases = sorted({e.base for e in escorts})
        m = roads.mask(None)
        po, pb = roads.both_ways([roads.index[b] for b in bases], roads.hours, m)
        pk = roads.round_trips([roads.index[b] for b in bases], roads.km, m)[:, depot_nodes]
        for i, e in enumerate(escorts):
            pos_out[i] = po[bases.index(e.base), depot_nodes]
            pos_back[i] = pb[bases.index(e.base), depot_nodes]
            pos_km[i] = pk[bases.index(e.base)]
    pos_h = pos_out + pos_back

    # fleet type × site modes, then groups (depot, site, mode) ---------------------------------------
    fg_f, fg_s, fg_m, fg_h, fg_km, fg_r = [], [], [], [], [], []
    eg_parts: list[tuple[np.ndarray, ...]] = []  # (fleet entry index, escort, risk)
    n_entries = 0
    for fi, f in enumerate(fleets):
        w, d = f.capacity_t, f.depot
        r = row[(w, d)]
        # a trip spends the site's service time there too (the claims above use road hours only)
        h, rk, k = hours[w][r] + service_h, risk[w][r], km[w][r]
        usable = np.isfinite(h) & _within(h, horizon)
        safe = usable & _within(rk, policy.risk_threshold)
        sites_u = np.flatnonzero(safe)
        risky = usable & ~safe
        best = np.full(S, INF)
        chosen: list[tuple[int, np.ndarray, np.ndarray]] = []
        if orgs[f.organization].escort_policy != "never" and risky.any():
            for e in admissible:
                ok = escort_ok(e, w, d) & risky
                if e.id in eidx and np.isfinite(pos_h[eidx[e.id], didx[d]]) and ok.any():
                    er = esc_risk[(w, avoid[e.id] or "", e.effectiveness)][r]
                    best = np.where(ok, np.minimum(best, er), best)
                    chosen.append((eidx[e.id], ok, er))
        sites_e = np.flatnonzero(np.isfinite(best))
        for mode, idx, rr in ((UNESCORTED, sites_u, rk[sites_u]), (ESCORTED, sites_e, best[sites_e])):
            fg_f.append(np.full(idx.size, fi))
            fg_s.append(idx)
            fg_m.append(np.full(idx.size, mode))
            fg_h.append(h[idx])
            fg_km.append(k[idx])
            fg_r.append(rr)
        entry_of_site = np.full(S, -1)
        entry_of_site[sites_e] = n_entries + sites_u.size + np.arange(sites_e.size)
        # the escort_choices nearest units per site (least positioning, then least risk)
        chosen.sort(key=lambda item: (pos_h[item[0], didx[d]], float(np.min(item[2]))))
        taken = np.zeros(S, np.int64)
        for e, ok, _ in chosen:
            if escort_choices is not None:
                ok = ok & (taken < escort_choices)
                taken += ok
            sel = np.flatnonzero(ok)
            eg_parts.append((entry_of_site[sel], np.full(sel.size, e)))
        n_entries += sites_u.size + sites_e.size

    cat = (lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))
    fg_f, fg_s, fg_m = cat(fg_f, np.int64), cat(fg_s, np.int64), cat(fg_m, np.int64)
    fg_h, fg_km, fg_r = cat(fg_h, float), cat(fg_km, float), cat(fg_r, float)
    fleet_depot = np.array([didx[f.depot] for f in fleets], np.int64)
    fg_d = fleet_depot[fg_f] if fg_f.size else np.zeros(0, np.int64)
    key = (fg_d * S + fg_s) * 2 + fg_m
    gkeys, fg_g = np.unique(key, return_inverse=True)
    fg_g = fg_g.reshape(-1)
    G = gkeys.size
    g_risk = np.full(G, INF)
    np.minimum.at(g_risk, fg_g, fg_r)
    g_hours = np.full(G, INF)
    np.minimum.at(g_hours, fg_g, fg_h)

    # escort entries per (escort, group): least busy time and km, convoy tonnes summed over fleets
    fleet_cap = np.array([f.count * f.capacity_t for f in fleets], float)
    class_names = sorted({(f.organization, bool(f.military)) for f in fleets})
    fleet_class = np.array([class_names.index((f.organization, bool(f.military))) for f in fleets], np.int64)
    NC = max(len(class_names), 1)
    if eg_parts:
        ent = cat([p[0] for p in eg_parts], np.int64)
        esc = cat([p[1] for p in eg_parts], np.int64)
        g_of = fg_g[ent]
        busy = fg_h[ent] + pos_h[esc, fg_d[ent]]
        dist = fg_km[ent] + pos_km[esc, fg_d[ent]]
        ekey = (esc * max(G, 1) + g_of) * NC + fleet_class[fg_f[ent]]
        ekeys, inv = np.unique(ekey, return_inverse=True)
        inv = inv.reshape(-1)
        eg_h = np.full(ekeys.size, INF)
        np.minimum.at(eg_h, inv, busy)
        eg_km = np.full(ekeys.size, INF)
        np.minimum.at(eg_km, inv, dist)
        eg_c = ekeys % NC
        eg_e, eg_g = (ekeys // NC) // max(G, 1), (ekeys // NC) % max(G, 1)
        eg_d, eg_s = (gkeys[eg_g] // 2) // S, (gkeys[eg_g] // 2) % S
        # one escorted convoy: its class's trucks at the depot that this unit brings within
        # max_risk there, and those with a safe road (they may ride along); no more than the
        # sites one tour under this unit can serve
        class_t = _escort_fleet_t(ent, inv, ekeys.size, fg_f, fg_s, fg_m, fleet_class, fleet_depot, fleet_cap,
                                  eg_c, eg_d, eg_s)
        # the tours each unit's effectiveness keeps within max_risk, on every open road: one
        # search per effectiveness level
        eff = _effectiveness_levels(np.array([e.effectiveness for e in escorts]))[eg_e]
        tour_t = np.zeros(eg_e.size)
        for level in np.unique(eff):
            mine = eff == level
            reach = _tour_need_t(roads, roads.mask(None), 1.0 - float(level), depot_nodes, site_nodes, service_h,
                                 need @ weight, np.unique(eg_d[mine] * S + eg_s[mine]), S, horizon, policy.max_risk)
            tour_t[mine] = [reach[(d, si)] for d, si in zip(eg_d[mine].tolist(), eg_s[mine].tolist())]
        eg_cap = np.minimum(class_t, tour_t)
    else:
        eg_e = eg_g = eg_c = np.zeros(0, np.int64)
        eg_h = eg_km = eg_cap = np.zeros(0)
    # a copy is busy inside [-(longest way out), horizon + longest way back] over the depots it
    # may serve: the two longest ways may belong to different depots (one-way roads)
    max_out, max_back = np.zeros(len(escorts)), np.zeros(len(escorts))
    if eg_e.size:
        eg_depot = (gkeys[eg_g] // 2) // S
        np.maximum.at(max_out, eg_e, pos_out[eg_e, eg_depot])
        np.maximum.at(max_back, eg_e, pos_back[eg_e, eg_depot])
    max_pos = max_out + max_back

    return DistributionFacts(
        scenario=s,
        depots=depots,
        sites=site_ids,
        commodities=commodities,
        fleets=tuple(f.id for f in fleets),
        escorts=tuple(e.id for e in escorts),
        weight=weight,
        volume=volume,
        stock=stock,
        need=need,
        severity=severity,
        site_zone=tuple(x.zone for x in sites),
        accessible=accessible,
        inaccessible=MappingProxyType(inaccessible),
        fleet_depot=fleet_depot,
        fleet_count=np.array([f.count for f in fleets], float),
        fleet_cap_t=np.array([f.capacity_t for f in fleets], float),
        fleet_cap_m3=np.array([f.capacity_m3 for f in fleets], float),
        fleet_cost=np.array([f.cost_per_km for f in fleets], float),
        fleet_escortable=np.array([orgs[f.organization].escort_policy != "never" for f in fleets], bool),
        fleet_class=fleet_class,
        classes=tuple(f"{o} (military)" if m else o for o, m in class_names),
        escort_count=np.array([e.count for e in escorts], float),
        escort_cost=np.array([e.cost_per_km for e in escorts], float),
        escort_budget_h=np.array([e.count for e in escorts], float) * (horizon + max_pos),
        escort_pos_out=pos_out,
        escort_pos_back=pos_back,
        g_depot=(gkeys // 2) // S if S else np.zeros(0, np.int64),
        g_site=(gkeys // 2) % S if S else np.zeros(0, np.int64),
        g_mode=gkeys % 2,
        g_risk=g_risk,
        g_hours=g_hours,
        fg_fleet=fg_f,
        fg_group=fg_g,
        fg_hours=fg_h,
        fg_km=fg_km,
        eg_escort=eg_e,
        eg_group=eg_g,
        eg_hours=eg_h,
        eg_km=eg_km,
        eg_class=eg_c,
        eg_cap_t=eg_cap,
        window_cap_t=window_cap_t,
        window_cap_m3=window_cap_m3,
        horizon_h=horizon,
        service_h=service_h,
    )


# ----- 2. the model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributionModel:
    """The MIP and the keys that map its columns and rows back to the scenario."""

    facts: DistributionFacts
    mip: MipModel
    x_group: np.ndarray  # (X,) group of each x column
    x_commodity: np.ndarray
    x_cols: np.ndarray  # column indices of x
    k_cols: np.ndarray  # one per facts.fg_*
    z_cols: np.ndarray  # one per facts.eg_*
    mincov_rows: np.ndarray  # row of each accessible site's min_coverage row (-1: none)
    parity_zones: tuple[str, ...]
    parity_cols: np.ndarray  # [cmin, cmax] or empty
    slack_cols: Mapping[str, np.ndarray] = field(default_factory=dict)
    row_keys: Mapping[str, tuple] = field(default_factory=dict)  # block -> keys of its rows

    def describe_row(self, i: int) -> str:
        block = self.mip.block_of_row(i)
        if block is None:
            return f"row {i}"
        keys = self.row_keys.get(block.name)
        key = keys[i - block.start] if keys is not None and i - block.start < len(keys) else i - block.start
        return f"{block.name}[{key}]"


def _per_tonne(f: DistributionFacts, per_trip: np.ndarray) -> np.ndarray:
    """(G,) least ``per_trip / capacity_t`` over the fleet types serving each group that carry
    weight (0 where none does: what such a group moves weighs nothing)."""
    out = np.full(len(f.g_site), INF)
    carries = f.fleet_cap_t[f.fg_fleet] > 0
    np.minimum.at(out, f.fg_group[carries], per_trip[carries] / f.fleet_cap_t[f.fg_fleet[carries]])
    return np.where(np.isfinite(out), out, 0.0)


def _tier_objective(name: str, b: ModelBuilder, f: DistributionFacts, xg: np.ndarray, xc: np.ndarray,
                    xcols: np.ndarray, kcols: np.ndarray, zcols: np.ndarray) -> Objective:
    """One named tier as an :class:`Objective` (its natural sense and scale).

    Pooled transport (no trip columns): cost and hours count each tonne at its group's cheapest
    (fastest) fleet type per tonne, as full truckloads.
    """
    wx = f.weight[xc]
    pooled = kcols.size == 0 and f.fg_group.size > 0
    if name == "coverage":
        total = float(f.severity @ f.need_t)
        return b.objective(name, xcols, f.severity[f.g_site[xg]] * wx, "max", 1.0 / total if total > 0 else 0.0,
                           1.0 if total <= 0 else 0.0)
    if name == "escorted_t":
        return b.objective(name, xcols, np.where(f.g_mode[xg] == ESCORTED, wx, 0.0), "min")
    if name == "exposure":
        return b.objective(name, xcols, wx * f.g_risk[xg], "min")
    if name == "cost" and pooled:
        cols = np.concatenate([xcols, zcols])
        per_t = _per_tonne(f, f.fg_km * f.fleet_cost[f.fg_fleet])[xg] * wx
        return b.objective(name, cols, np.concatenate([per_t, f.eg_km * f.escort_cost[f.eg_escort]]), "min")
    if name == "busy_h" and pooled:
        per_t = _per_tonne(f, f.fg_hours)[xg] * wx
        return b.objective(name, np.concatenate([xcols, zcols]), np.concatenate([per_t, f.eg_hours]), "min")
    if name == "cost":
        cols = np.concatenate([kcols, zcols])
        vals = np.concatenate([f.fg_km * f.fleet_cost[f.fg_fleet], f.eg_km * f.escort_cost[f.eg_escort]])
        return b.objective(name, cols, vals, "min")
    if name == "busy_h":
        return b.objective(name, np.concatenate([kcols, zcols]), np.concatenate([f.fg_hours, f.eg_hours]), "min")
    raise ValueError(f"unknown objective tier {name!r}; choose from {KNOWN_TIERS} or a mapping of them to weights")


def _visit_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts, local_of: np.ndarray,
                xcols: np.ndarray, x_t: np.ndarray, x_rows: np.ndarray, visited: np.ndarray, ycols: np.ndarray,
                gkeys: np.ndarray) -> None:
    """Escorted tonnes to a site within its visits × its need: one convoy unloads at most the
    site's need there (FORMAT.md §3 rule 4), so ``y`` visits by escort pair j carry at most
    ``y × need_t``.

    Why: an escort trip's tonnes are capped by one tour's need (:func:`_tour_need_t`) and its
    hours by one site's round trip, so a tour through many sites would cost the unit one site's
    trip. A real tour costs its longest round trip and every stop's service time; charging the
    trips their travel (Σ l_s / L × travel_s ≤ the longest) and each visit its site's
    ``service_h`` keeps every plan the checker accepts inside the model."""
    if not visited.size:
        return
    rows = local_of[f.eg_group[visited]]
    used = np.unique(rows)
    mine = np.isin(x_rows, used)
    renum = np.full(local_of.max() + 1, -1)
    renum[used] = np.arange(used.size)
    b.add_rows("escort_visit_load", used.size, np.concatenate([renum[x_rows[mine]], renum[rows]]),
               np.concatenate([xcols[mine], ycols]),
               np.concatenate([x_t[mine], -f.need_t[f.g_site[f.eg_group[visited]]]]), -INF, 0.0)
    groups = np.flatnonzero(local_of >= 0)
    row_keys["escort_visit_load"] = tuple(gkeys[groups[u]] for u in used)


def _add_spill_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts, eg_rows: np.ndarray,
                    hcols: np.ndarray, hours: np.ndarray, zcols: np.ndarray, used: np.ndarray,
                    local: np.ndarray) -> None:
    """Each unit's busy hours within ``count × horizon`` plus the way out of its copies' first
    convoys and the way back of their last (FORMAT.md §3.5: only those fall outside [0, horizon]).

    ``first[e, d]`` and ``last[e, d]`` count the copies of unit e whose first (last) convoy leaves
    depot d: at most ``count`` firsts and lasts per unit, and no more at d than its trips there.
    Why: the unit's budget (``escort_budget_h``) grants every copy its longest way out and back;
    a unit based a day from one depot could spend that spill on a fraction of a trip there and
    the rest of its day at a near depot (cote_divoire_like: E_rebels 0.6 of a trip from D01, 42 h out, with 2.8 from
    D03, 11 h out). A real copy's trips are each inside [0, horizon] but for the first's way out
    and the last's way back; a tour's trips in the model add up to one (trip shares t/L), so it
    counts as one first or last at most.
    """
    D = len(f.depots)
    ue, ud = used // D, used % D
    n = used.size
    out_h, back_h = f.escort_pos_out[ue, ud], f.escort_pos_back[ue, ud]
    firsts = b.add_cols("escort_first", n, 0.0, INF)
    lasts = b.add_cols("escort_last", n, 0.0, INF)
    E = len(f.escorts)
    b.add_rows("escort_spill_hours", E, np.concatenate([eg_rows, ue, ue]), np.concatenate([hcols, firsts, lasts]),
               np.concatenate([hours, -out_h, -back_h]), -INF, f.escort_count * f.horizon_h)
    row_keys["escort_spill_hours"] = f.escorts
    keys = tuple(f"{f.escorts[u // D]},{f.depots[u % D]}" for u in used)
    for name, cols in (("first", firsts), ("last", lasts)):
        b.add_rows(f"escort_{name}s", E, ue, cols, np.ones(n), -INF, f.escort_count)
        row_keys[f"escort_{name}s"] = f.escorts
        b.add_rows(f"escort_{name}_trips", n, np.concatenate([np.arange(n), local]),
                   np.concatenate([cols, zcols]), np.concatenate([np.ones(n), -np.ones(zcols.size)]), -INF, 0.0)
        row_keys[f"escort_{name}_trips"] = keys
    _add_single_convoy_rows(b, row_keys, f, firsts, lasts, zcols, used, local, keys, hours[:zcols.size])


def _add_single_convoy_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts, firsts: np.ndarray,
                            lasts: np.ndarray, zcols: np.ndarray, used: np.ndarray, local: np.ndarray,
                            keys: tuple[str, ...], busy_h: np.ndarray) -> None:
    """A copy whose first and last convoys are one and the same does no other convoy.

    ``single[e, d]`` counts the copies of unit e whose only convoy (of those the model counts:
    the ones carrying a load that needs the escort) leaves depot d. Firsts and
    lasts at d that are not such copies are distinct convoys there (first + last − single ≤ trips
    at d), and every other convoy of the unit belongs to a copy with a first and a last apart:
    their busy hours, less those copies' way out of their first convoys and way back from their
    last, fit those copies' horizons (visits' service hours left out: they cannot be told apart).
    Valid for every plan: its copies give first, last, single and alone their counts.
    Why: without them a unit with one copy based a day from a depot pays neither way of its one
    trip there (first and last both) and still spends its whole day at a near depot
    (cote_divoire_like: E_rebels one trip from D01, 103 h with positioning, and two from D03;
    bound 0.5915 → 0.5842).
    """
    D = len(f.depots)
    n = used.size
    ue = used // D
    single = b.add_cols("escort_single", n, 0.0, INF)
    ones = np.ones(n)
    b.add_rows("escort_single_trips", n, np.concatenate([np.arange(n)] * 3 + [local]),
               np.concatenate([firsts, lasts, single, zcols]),
               np.concatenate([ones, ones, -ones, -np.ones(zcols.size)]), -INF, 0.0)
    row_keys["escort_single_trips"] = keys
    for name, cols in (("first", firsts), ("last", lasts)):
        b.add_rows(f"escort_single_{name}", n, np.concatenate([np.arange(n)] * 2), np.concatenate([single, cols]),
                   np.concatenate([ones, -ones]), -INF, 0.0)
        row_keys[f"escort_single_{name}"] = keys
    # a single copy's trip: its own columns, one convoy per copy at its depot
    nz = zcols.size
    alone = b.add_cols("escort_single_trip", nz, 0.0, INF)
    b.add_rows("escort_single_trip_cap", nz, np.concatenate([np.arange(nz)] * 2), np.concatenate([alone, zcols]),
               np.concatenate([np.ones(nz), -np.ones(nz)]), -INF, 0.0)
    b.add_rows("escort_single_trip_count", n, np.concatenate([local, np.arange(n)]), np.concatenate([alone, single]),
               np.concatenate([np.ones(nz), -ones]), 0.0, 0.0)
    row_keys["escort_single_trip_count"] = keys
    # the other convoys, positioning included but for the first's way out and the last's way
    # back, fit the horizon of the copies with two or more
    E = len(f.escorts)
    units = np.unique(ue)
    row_of = np.full(E, -1)
    row_of[units] = np.arange(units.size)
    zr, pr = row_of[f.eg_escort], row_of[ue]
    out_h, back_h = f.escort_pos_out[ue, used % D], f.escort_pos_back[ue, used % D]
    b.add_rows("escort_multi_hours", units.size, np.concatenate([zr, zr, pr, pr, pr]),
               np.concatenate([zcols, alone, firsts, lasts, single]),
               np.concatenate([busy_h, -busy_h, -out_h - f.horizon_h, -back_h, out_h + back_h + f.horizon_h]),
               -INF, 0.0)
    row_keys["escort_multi_hours"] = tuple(f.escorts[e] for e in units)


def _add_whole_convoy_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts,
                           zcols: np.ndarray) -> None:
    """A unit's trip shares from a depot it is based away from add up to a whole number of convoys.

    Why: a tour's shares add up to one (t/L), so a real plan's convoys of unit e from depot d
    are Σ z over d's groups, a whole number. Fractional, a unit based a day from d could take a
    fifth of a trip there and pay a fifth of its positioning (cote_divoire_like: E_un_D05 0.82 of
    a trip from D01, 40 h there and back; bound 0.5842 → 0.5776). Units based at the depot pay
    no positioning, and whole trips there change little for a MIP's time: they stay fractional.
    The counts are integers: 13 on cote_divoire_like, whose coverage tier solves in 1.3 s."""
    D = len(f.depots)
    ed = f.eg_escort * D + f.g_depot[f.eg_group]
    used, local = np.unique(ed, return_inverse=True)
    local = local.reshape(-1)
    far = np.flatnonzero(f.escort_pos_h[used // D, used % D] > 0)
    if not far.size:
        return
    counts = b.add_cols("escort_convoys", far.size, 0.0, INF, integer=True)
    renum = np.full(used.size, -1)
    renum[far] = np.arange(far.size)
    mine = renum[local] >= 0
    b.add_rows("escort_whole_convoys", far.size, np.concatenate([renum[local][mine], np.arange(far.size)]),
               np.concatenate([zcols[mine], counts]),
               np.concatenate([np.ones(int(mine.sum())), -np.ones(far.size)]), 0.0, 0.0)
    row_keys["escort_whole_convoys"] = tuple(f"{f.escorts[u // D]},{f.depots[u % D]}" for u in used[far])


def _short_window_pairs(f: DistributionFacts, xg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x columns (mask) of the (depot, site with a window) pairs whose trucks cannot bring the
    site's whole need inside it, those pairs (depot × sites + site) and each column's pair index."""
    S = len(f.sites)
    pair = f.g_depot[xg] * S + f.g_site[xg]
    site = f.g_site[xg]
    short = ((f.window_cap_t.ravel()[pair] < f.need_t[site] - ZERO)
             | (f.window_cap_m3.ravel()[pair] < (f.need @ f.volume)[site] - ZERO))
    used, local = np.unique(pair[short], return_inverse=True)
    return short, used, local.reshape(-1)


def _add_window_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts, xg: np.ndarray,
                     xcols: np.ndarray, wx: np.ndarray, vx: np.ndarray) -> None:
    """Per (depot, site with a window) where the depot's trucks cannot bring the site's whole need
    inside it: the tonnes and m3 sent there, both modes, within :func:`_window_caps`; left out
    beyond :data:`WINDOW_ROWS_LIMIT` such pairs (a looser bound, said in :attr:`Allocation.notes`)."""
    short, used, local = _short_window_pairs(f, xg)
    if not used.size or used.size > WINDOW_ROWS_LIMIT:
        return
    S = len(f.sites)
    keys = tuple(f"{f.depots[u // S]},{f.sites[u % S]}" for u in used)
    for name, per_x, cap in (("window_t", wx, f.window_cap_t), ("window_m3", vx, f.window_cap_m3)):
        b.add_rows(name, used.size, local, xcols[short], per_x[short], -INF, cap.ravel()[used])
        row_keys[name] = keys


TRIPS_LIMIT = 2_000
# Beyond this many escort-pair columns the spill rows are left out (the unit budget row stays):
# 2,000 generated sites have 202,008 and their LP took 18 s with them, 12 s without.
SPILL_ROWS_LIMIT = 50_000
# Beyond this many (depot, windowed site) pairs short of the need the window rows are left out:
# 2,000 generated sites have 411 and their LP took 16 s with them, 12 s without (bound 0.7050
# against 0.7054); darfur_like_large has 40.
WINDOW_ROWS_LIMIT = 200
INTEGER_TRIPS = False  # experiment
# Whole convoys per (unit, depot) for units based away from the depot (:func:`_add_whole_convoy_rows`)
# while there are at most this many escort-pair columns: south_sudan's 9,428 solve in 1.5 s (0.4 s
# as an LP); the 202,008 of 2,000 generated sites did not finish in 120 s (the LP alone: 16 s).
WHOLE_CONVOY_PAIRS_LIMIT = 10_000


TRIP_TOL_SLACK = 4  # checker tolerances one trip may gain: departure or hand-over, stop, return, and one spare
LONG_TRIP_BANDS = 12  # k = 1..12: at most k trips longer than period/(k+1) per vehicle or unit


def _add_long_trip_rows(b: ModelBuilder, row_keys: dict[str, tuple], name: str, owner_ids: Sequence[str],
                        owner: np.ndarray, cols: np.ndarray, vals: np.ndarray, hours: np.ndarray,
                        period: np.ndarray | float, per_slot: np.ndarray) -> None:
    """Valid cuts for whole trips: a vehicle (or escort copy) fits at most ``k`` trips longer than
    ``period / (k+1)`` into ``period``; so Σ vals over such trips ≤ k · ``per_slot`` of their owner.

    Why: the pooled-hours rows let a truck run 2.4 trips of 10 h in a day; these bands cap it at
    2, which is what routing can do. They are valid for every plan (never cut a real one off), so
    the bound stays a bound and only gets closer to what convoys can carry.
    Each term sits in one band (``k = floor(period / hours)``): a column ``y[owner, k]`` holds the
    band's sum and the cuts add up bands, so the non-zeros grow with the terms, not with bands × terms.
    """
    period = np.broadcast_to(np.asarray(period, float), per_slot.shape)
    # FORMAT.md's tolerance at both ends (departure ≥ 0, return ≤ the period): two 5.000004 h
    # trips fit a 10 h horizon, so they must not count as longer than half of it; and each trip
    # may come in shorter than its road hours by the tolerance at its stop, its return and its
    # hand-over to the next (four 2.5000177 h escorted trips pass the checker in 10 h)
    tol = TOL * np.maximum(1.0, period)
    reach = period + 2 * tol
    with np.errstate(divide="ignore"):
        shortest = np.maximum(hours - TRIP_TOL_SLACK * tol[owner], 1e-12)
        band = np.floor(reach[owner] / shortest + 1e-9).astype(np.int64)
    keep = (band >= 1) & (band <= LONG_TRIP_BANDS) & np.isfinite(hours)
    if not keep.any():
        return
    K = LONG_TRIP_BANDS
    cell = owner[keep] * K + (band[keep] - 1)
    used, local = np.unique(cell, return_inverse=True)
    local = local.reshape(-1)
    y = b.add_cols(f"{name}_band", used.size, 0.0, INF)
    # y[cell] ≥ Σ vals · x over the cell's terms
    b.add_rows(f"{name}_band", used.size, np.concatenate([local, np.arange(used.size)]),
               np.concatenate([cols[keep], y]), np.concatenate([vals[keep], -np.ones(used.size)]), -INF, 0.0)
    # Σ_{bands j ≤ k} y[o, j] ≤ k · per_slot[o], for every owner o and every k with a used band ≤ k
    u_owner, u_band = used // K, used % K + 1
    rows, cs, upper, keys = [], [], [], []
    for o in np.unique(u_owner).tolist():
        mine = np.flatnonzero(u_owner == o)
        for k in range(int(u_band[mine].min()), K + 1):
            inside = mine[u_band[mine] <= k]
            rows.append(np.full(inside.size, len(upper)))
            cs.append(y[inside])
            upper.append(k * per_slot[o])
            keys.append(f"{owner_ids[o]},trips>{period[o] / (k + 1):g}h")
    b.add_rows(name, len(upper), np.concatenate(rows), np.concatenate(cs), np.ones(sum(r.size for r in rows)), -INF,
               np.asarray(upper, float))
    row_keys[name] = tuple(keys)


def _pair_of_group(f: DistributionFacts) -> np.ndarray:
    """(G,) one index per (depot, site) pair: the groups of both modes to a site share it."""
    return f.g_depot * len(f.sites) + f.g_site


def _load_rows(f: DistributionFacts, gkeys: tuple[str, ...]):
    """Trips model: the weight/volume rows each group's columns enter, as ``(row_of, keys)``.

    An unescorted group has its own row (only its trips carry it); an escorted group's row is
    its (depot, site) pair's, holding both modes' loads and trips. Why: an escorted convoy may mix
    a type that has a safe road to the site with one that has not; per mode, a plan carrying
    10 t and 10 m3 on a 10 t / 1 m3 and a 1 t / 10 m3 truck together would be cut off.
    ``row_of(groups)`` gives ``(rows, positions)``: a position may appear twice (an unescorted
    group of a pair that also has an escorted group enters both rows).
    """
    G = len(f.g_site)
    pair = _pair_of_group(f)
    escorted = f.g_mode == ESCORTED
    own = np.full(G, -1)
    unesc = np.flatnonzero(~escorted)
    own[unesc] = np.arange(unesc.size)
    esc = np.flatnonzero(escorted)
    pair_row = dict(zip(pair[esc].tolist(), range(unesc.size, unesc.size + esc.size)))
    shared = np.array([pair_row.get(p, -1) for p in pair.tolist()], np.int64)
    keys = tuple(gkeys[g] for g in unesc) + tuple(gkeys[g].replace(",escorted", ",both modes") for g in esc)

    def row_of(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.arange(groups.size)
        first, second = own[groups], shared[groups]
        a, b2 = first >= 0, second >= 0
        return np.concatenate([first[a], second[b2]]), np.concatenate([pos[a], pos[b2]])

    return row_of, keys


def _site_fleet_sets(f: DistributionFacts) -> list[frozenset[int]]:
    """(G,) the fleet types that may serve each group's site from its depot, in either mode.

    Why both modes: an escorted convoy may mix a type with a safe road to the site and one
    without; split per mode, neither set would hold the whole convoy, and the t and m3 rows
    together could cut off a real plan (a 10 t / 1 m3 and a 1 t / 10 m3 truck carrying 10 t,
    10 m3 in one convoy).
    """
    pair = _pair_of_group(f)
    by_pair: dict[int, set[int]] = {}
    for fleet, group in zip(f.fg_fleet.tolist(), f.fg_group.tolist()):
        by_pair.setdefault(int(pair[group]), set()).add(fleet)
    return [frozenset(by_pair.get(int(p), ())) for p in pair.tolist()]


def _add_fleet_subset_rows(b: ModelBuilder, row_keys: dict[str, tuple], f: DistributionFacts, xg: np.ndarray,
                           xcols: np.ndarray, wx: np.ndarray, vx: np.ndarray) -> None:
    """Pooled transport, per depot and per set S of its fleet types that is exactly the set that
    may serve some site from it: the tonne-hours (and m3-hours) of the sites only S may serve fit
    S's own pool.

    Why: one pool per depot lets a heavy truck's hours carry a load only a light truck can take
    (a bridge, a weight limit); on a 1,000-site crisis the allocation sent a depot's light trucks
    2.8 times the loads they could carry and routing left the rest. Valid for every plan: a trip
    of h hours carrying w tonnes to a site counts w × (that site's least round trip) ≤ w × h, and
    a truck of S carries at most its capacity for at most count × horizon hours.
    """
    sets = _site_fleet_sets(f)
    full = [frozenset(np.flatnonzero(f.fleet_depot == d).tolist()) for d in range(len(f.depots))]
    owners: dict[tuple[int, frozenset[int]], int] = {}
    for g in np.unique(xg).tolist():
        d = int(f.g_depot[g])
        if sets[g] and sets[g] != full[d]:
            owners.setdefault((d, sets[g]), len(owners))
    if not owners:
        return
    member_x, member_owner = [], []
    by_depot: dict[int, list[tuple[frozenset[int], int]]] = {}
    for (d, subset), o in owners.items():
        by_depot.setdefault(d, []).append((subset, o))
    for j, g in enumerate(xg.tolist()):
        for subset, o in by_depot.get(int(f.g_depot[g]), ()):
            if sets[g] <= subset:
                member_x.append(j)
                member_owner.append(o)
    mx, mo = np.asarray(member_x, np.int64), np.asarray(member_owner, np.int64)
    keys = tuple(f"{f.depots[d]},{'+'.join(f.fleets[i] for i in sorted(subset))}" for d, subset in owners)
    hours = f.g_hours[xg[mx]]
    for name, per_x, cap in (("fleet_subset_t_h", wx, f.fleet_cap_t), ("fleet_subset_m3_h", vx, f.fleet_cap_m3)):
        slot = np.array([sum(f.fleet_count[i] * cap[i] for i in subset) for _, subset in owners], float)
        b.add_rows(name, len(owners), mo, xcols[mx], per_x[mx] * hours, -INF, slot * f.horizon_h)
        row_keys[name] = keys
        _add_long_trip_rows(b, row_keys, f"long_{name}", keys, mo, xcols[mx], per_x[mx], hours, f.horizon_h, slot)


def build_distribution_model(
    facts: DistributionFacts,
    objectives: Sequence[str | Mapping[str, float]] = TIERS,
    elastic: bool = False,
    integer_escort_trips: bool | None = None,
    transport: str = "auto",
    whole_convoys: bool = False,
) -> DistributionModel:
    """Formulate the distribution MIP from ``facts`` with numpy only.

    ``objectives``: tiers in lexicographic order; a tier is a name of :data:`KNOWN_TIERS` or a
    mapping ``{name: weight}`` blended into one minimised sum (a maximised tier counts negatively).
    ``elastic``: add a slack to every min_coverage row and to the parity spread, and minimise their
    sum first (the re-solve that explains an infeasible policy).
    ``integer_escort_trips``: whole escort trips per group (True) or fractional (False, None: the
    default). Why fractional: one escorted convoy may serve several sites (FORMAT.md §3), so a
    whole trip per group would count one real trip several times and the bound would cut off
    plans the checker accepts. True is the model of one site per escorted convoy (a restriction,
    not a bound); on thousands of escorted pairs it turns a seconds-long LP into a MIP that finds
    no solution in minutes.
    ``transport``: ``trips`` (a trip column per fleet type and pair, weight and volume rows per
    pair, a time row per fleet type), ``pooled`` (the fleet of a depot as one pool: Σ tonnes ×
    round-trip h ≤ Σ count × capacity_t × horizon per depot, the same in m3, and again for what
    moves escorted against the fleet types that may take an escort), or ``auto``: trips while there
    are at most :data:`TRIPS_LIMIT` (fleet type, pair) columns. Why: per-pair rows double the model
    and HiGHS' dual simplex struggles with them (a 300-site crisis: 55 s with trips, 1.5 s pooled);
    pooled rows are the classic relaxation, exact for one vehicle type.
    ``whole_convoys``: a unit's trips from a depot it is based away from add up to a whole number
    (:func:`_add_whole_convoy_rows`; a MIP, solved for the bound by :func:`distribute`).
    """
    if transport not in ("auto", "trips", "pooled"):
        raise ValueError(f"transport must be 'auto', 'trips' or 'pooled', not {transport!r}")
    f = facts
    s = f.scenario
    G, C, S, D = len(f.g_site), len(f.commodities), len(f.sites), len(f.depots)
    b = ModelBuilder()
    row_keys: dict[str, tuple] = {}

    # columns -----------------------------------------------------------------------------------
    ok = (f.need[f.g_site] > 0) & (f.stock[f.g_depot] > 0)  # (G, C)
    xg, xc = np.nonzero(ok)
    upper = np.minimum(f.need[f.g_site[xg], xc], f.stock[f.g_depot[xg], xc])
    xcols = b.add_cols("units", xg.size, 0.0, upper)
    pooled = transport == "pooled" or (transport == "auto" and f.fg_group.size > TRIPS_LIMIT)
    kcols = b.add_cols("trips", 0 if pooled else f.fg_group.size, 0.0, INF, integer=INTEGER_TRIPS)
    whole = bool(integer_escort_trips)
    zcols = b.add_cols("escort_trips", f.eg_group.size, 0.0, INF, integer=whole)
    # an escort trip's hours are its travel and positioning; each stop's service time is paid per
    # visit (a tour through several sites pays every stop's, :func:`_visit_rows`)
    visit_h = f.service_h[f.g_site[f.eg_group]] if f.eg_group.size else np.zeros(0)
    visited = np.flatnonzero(visit_h > 0)
    ycols = b.add_cols("escort_visits", visited.size, 0.0, INF)
    wx, vx = f.weight[xc], f.volume[xc]

    # stock (depot, commodity) and need (site, commodity) ---------------------------------------
    srow = f.g_depot[xg] * C + xc
    used, local = np.unique(srow, return_inverse=True)
    b.add_rows("stock", used.size, local, xcols, np.ones(xg.size), -INF, f.stock.ravel()[used])
    row_keys["stock"] = tuple(f"{f.depots[u // C]},{f.commodities[u % C]}" for u in used)
    nrow = f.g_site[xg] * C + xc
    used, local = np.unique(nrow, return_inverse=True)
    b.add_rows("need", used.size, local, xcols, np.ones(xg.size), -INF, f.need.ravel()[used])
    row_keys["need"] = tuple(f"{f.sites[u // C]},{f.commodities[u % C]}" for u in used)
    _add_window_rows(b, row_keys, f, xg, xcols, f.weight[xc], f.volume[xc])

    # weight and volume of each group within its trips ------------------------------------------
    gkeys = tuple(f"{f.depots[d]},{f.sites[si]},{'escorted' if m else 'unescorted'}"
                  for d, si, m in zip(f.g_depot, f.g_site, f.g_mode))
    F = len(f.fleets)
    if pooled:
        # per depot: tonne-hours and m3-hours within the pool's, all and escorted-only
        escorted_x = f.g_mode[xg] == ESCORTED
        for name, per_x, cap in (("pool_t_h", wx, f.fleet_cap_t), ("pool_m3_h", vx, f.fleet_cap_m3)):
            supply = np.zeros(D)
            np.add.at(supply, f.fleet_depot, f.fleet_count * cap * f.horizon_h)
            b.add_rows(name, D, f.g_depot[xg], xcols, per_x * f.g_hours[xg], -INF, supply)
            row_keys[name] = f.depots
            esc_supply = np.zeros(D)
            np.add.at(esc_supply, f.fleet_depot, f.fleet_count * cap * f.horizon_h * f.fleet_escortable)
            b.add_rows(f"escorted_{name}", D, f.g_depot[xg[escorted_x]], xcols[escorted_x],
                       (per_x * f.g_hours[xg])[escorted_x], -INF, esc_supply)
            row_keys[f"escorted_{name}"] = f.depots
            slot = np.zeros(D)
            np.add.at(slot, f.fleet_depot, f.fleet_count * cap)
            esc_slot = np.zeros(D)
            np.add.at(esc_slot, f.fleet_depot, f.fleet_count * cap * f.fleet_escortable)
            gx = f.g_hours[xg]
            _add_long_trip_rows(b, row_keys, f"long_{name}", f.depots, f.g_depot[xg], xcols, per_x, gx,
                                f.horizon_h, slot)
            _add_long_trip_rows(b, row_keys, f"escorted_long_{name}", f.depots, f.g_depot[xg[escorted_x]],
                                xcols[escorted_x], per_x[escorted_x], gx[escorted_x], f.horizon_h, esc_slot)
        _add_fleet_subset_rows(b, row_keys, f, xg, xcols, wx, vx)
    else:
        # an unescorted group's load rides on its own trips; an escorted group's on the trips of
        # either mode to its site (an escorted convoy may take along a type with a safe road there)
        row_of, keys = _load_rows(f, gkeys)
        for name, per_x, per_k in (("weight", wx, f.fleet_cap_t[f.fg_fleet]), ("volume", vx, f.fleet_cap_m3[f.fg_fleet])):
            rx, jx = row_of(xg)
            rk, jk = row_of(f.fg_group)
            b.add_rows(name, len(keys), np.concatenate([rx, rk]), np.concatenate([xcols[jx], kcols[jk]]),
                       np.concatenate([per_x[jx], -per_k[jk]]), -INF, 0.0)
            row_keys[name] = keys
        b.add_rows("fleet_hours", F, f.fg_fleet, kcols, f.fg_hours, -INF, f.fleet_count * f.horizon_h)
        row_keys["fleet_hours"] = f.fleets
        _add_long_trip_rows(b, row_keys, "long_trips", f.fleets, f.fg_fleet, kcols, np.ones(kcols.size),
                            f.fg_hours, f.horizon_h, f.fleet_count)

    # escorts: escorted tonnes within accompanied convoys; escort time within budget ------------
    esc_groups = np.flatnonzero(f.g_mode == ESCORTED)
    if esc_groups.size:
        local_of = np.full(G, -1)
        local_of[esc_groups] = np.arange(esc_groups.size)
        xe = f.g_mode[xg] == ESCORTED
        b.add_rows("escort_load", esc_groups.size, np.concatenate([local_of[xg[xe]], local_of[f.eg_group]]),
                   np.concatenate([xcols[xe], zcols]), np.concatenate([wx[xe], -f.eg_cap_t]), -INF, 0.0)
        row_keys["escort_load"] = tuple(gkeys[g] for g in esc_groups)
        _visit_rows(b, row_keys, f, local_of, xcols[xe], wx[xe], local_of[xg[xe]], visited, ycols, gkeys)
    E = len(f.escorts)
    # the escort rows' columns: trips at their travel and positioning hours, visits at service hours
    hcols = np.concatenate([zcols, ycols])
    travel_h = f.eg_hours - visit_h
    visit_cost = visit_h[visited]
    if whole_convoys:
        # each convoy may gain the checker's tolerance at its departure, its stops and its return
        # (FORMAT.md §3): fractional, that is a millionth of a trip; whole, it can round a last
        # convoy away (two 60 h convoys of a copy in a 99.99995 h horizon plus 20 h of positioning)
        slack = TOL * np.maximum(1.0, f.escort_budget_h / np.maximum(f.escort_count, 1.0))
        travel_h = travel_h - TRIP_TOL_SLACK * slack[f.eg_escort]
        visit_cost = visit_cost - slack[f.eg_escort[visited]]

    def hours(per_trip: np.ndarray) -> np.ndarray:
        return np.concatenate([per_trip, visit_cost])

    eg_rows = np.concatenate([f.eg_escort, f.eg_escort[visited]])
    # each unit's hours within count × (horizon + longest way out + longest way back); implied by
    # the spill rows where they are in the model (:func:`_add_spill_rows`)
    spill = bool(E and 0 < f.eg_group.size <= SPILL_ROWS_LIMIT)
    if not spill:
        b.add_rows("escort_hours", E, eg_rows, hcols, hours(travel_h), -INF, f.escort_budget_h)
        row_keys["escort_hours"] = f.escorts
    if E and f.eg_group.size:
        # per unit and depot: a copy's trips from one depot fit the horizon plus that depot's
        # positioning only (the spill before 0 and after the horizon is positioning to and from
        # its first and last convoys; any other depot's spill is paid inside that depot's trip)
        ed = f.eg_escort * D + f.g_depot[f.eg_group]
        used, local = np.unique(ed, return_inverse=True)
        local = local.reshape(-1)
        b.add_rows("escort_depot_hours", used.size, np.concatenate([local, local[visited]]), hcols,
                   hours(travel_h), -INF,
                   f.escort_count[used // D] * (f.horizon_h + f.escort_pos_h[used // D, used % D]))
        row_keys["escort_depot_hours"] = tuple(f"{f.escorts[u // D]},{f.depots[u % D]}" for u in used)
        # a copy accompanies one convoy at a time, and convoys run inside [0, horizon]: their
        # round trips (positioning apart) fit count × horizon
        convoy_h = travel_h - f.escort_pos_h[f.eg_escort, f.g_depot[f.eg_group]]
        b.add_rows("escort_convoy_hours", E, eg_rows, hcols, hours(convoy_h), -INF, f.escort_count * f.horizon_h)
        row_keys["escort_convoy_hours"] = f.escorts
        if spill:
            _add_spill_rows(b, row_keys, f, eg_rows, hcols, hours(travel_h), zcols, used, local)
    if E and whole_convoys:
        _add_whole_convoy_rows(b, row_keys, f, zcols)
    if E:
        _add_long_trip_rows(b, row_keys, "long_escort_trips", f.escorts, f.eg_escort, zcols,
                            np.ones(zcols.size), f.eg_hours, f.escort_budget_h / f.escort_count, f.escort_count)

    # min coverage at accessible sites ------------------------------------------------------------
    mincov_rows = np.full(S, -1)
    need_t = f.need_t
    mc = float(s.policy.min_coverage)
    slack_cols: dict[str, np.ndarray] = {}
    if mc > 0:
        acc_sites = np.flatnonzero(f.accessible)
        local_of = np.full(S, -1)
        local_of[acc_sites] = np.arange(acc_sites.size)
        xm = local_of[f.g_site[xg]] >= 0
        rows_l, cols_l, vals_l = [local_of[f.g_site[xg[xm]]]], [xcols[xm]], [wx[xm]]
        if elastic:  # slack in coverage units: delivered + σ·need ≥ min_coverage·need
            sc = b.add_cols("slack_min_coverage", acc_sites.size, 0.0, mc)
            slack_cols["min_coverage"] = sc
            rows_l.append(np.arange(acc_sites.size))
            cols_l.append(sc)
            vals_l.append(need_t[acc_sites])
        idx = b.add_rows("min_coverage", acc_sites.size, np.concatenate(rows_l), np.concatenate(cols_l),
                         np.concatenate(vals_l), mc * need_t[acc_sites], INF)
        row_keys["min_coverage"] = tuple(f.sites[i] for i in acc_sites)
        mincov_rows[acc_sites] = idx

    # zone parity over zones with accessible sites --------------------------------------------------
    zones = sorted({z for z, a in zip(f.site_zone, f.accessible) if z is not None and a})
    parity_cols = np.zeros(0, np.int64)
    tol = float(s.policy.parity_tolerance)
    if len(zones) >= 2 and tol < 1.0:
        zidx = {z: i for i, z in enumerate(zones)}
        site_z = np.array([zidx.get(z, -1) if a else -1 for z, a in zip(f.site_zone, f.accessible)])
        zneed = np.zeros(len(zones))
        np.add.at(zneed, site_z[site_z >= 0], need_t[site_z >= 0])
        parity_cols = b.add_cols("zone_coverage_bounds", 2, 0.0, 1.0)  # cmin, cmax
        xz = site_z[f.g_site[xg]]
        m = xz >= 0
        Z = len(zones)
        # delivered_z - cmax·need_z ≤ 0  and  delivered_z - cmin·need_z ≥ 0
        b.add_rows("parity_max", Z, np.concatenate([xz[m], np.arange(Z)]), np.concatenate([xcols[m], np.full(Z, parity_cols[1])]),
                   np.concatenate([wx[m], -zneed]), -INF, 0.0)
        b.add_rows("parity_min", Z, np.concatenate([xz[m], np.arange(Z)]), np.concatenate([xcols[m], np.full(Z, parity_cols[0])]),
                   np.concatenate([wx[m], -zneed]), 0.0, INF)
        row_keys["parity_max"] = row_keys["parity_min"] = tuple(zones)
        rows_l, cols_l, vals_l = [np.zeros(2, np.int64)], [parity_cols], [np.array([-1.0, 1.0])]
        if elastic:
            sp = b.add_cols("slack_parity", 1, 0.0, INF)
            slack_cols["parity"] = sp
            rows_l.append(np.zeros(1, np.int64))
            cols_l.append(sp)
            vals_l.append(np.array([-1.0]))
        b.add_rows("parity_spread", 1, np.concatenate(rows_l), np.concatenate(cols_l), np.concatenate(vals_l), -INF, tol)
        row_keys["parity_spread"] = ("all zones",)
    else:
        zones = []

    # objectives --------------------------------------------------------------------------------
    tiers: list[Objective] = []
    if elastic:
        cols = np.concatenate(list(slack_cols.values())) if slack_cols else np.zeros(0, np.int64)
        tiers.append(b.objective("policy_slack", cols, np.ones(cols.size), "min"))
    for tier in objectives:
        if isinstance(tier, str):
            tiers.append(_tier_objective(tier, b, f, xg, xc, xcols, kcols, zcols))
            continue
        c = np.zeros(b.num_cols)
        for name, w in tier.items():
            o = _tier_objective(name, b, f, xg, xc, xcols, kcols, zcols)
            c[: o.c.size] += w * o.sign * o.c * o.scale
        tiers.append(Objective("+".join(f"{w:g}*{n}" for n, w in tier.items()), c, "min"))
    mip = b.build(tiers)
    return DistributionModel(f, mip, xg, xc, xcols, kcols, zcols, mincov_rows, tuple(zones), parity_cols,
                             MappingProxyType(slack_cols), MappingProxyType(row_keys))


# ----- 3. the allocation --------------------------------------------------------------------------
@dataclass(frozen=True)
class Shortfall:
    """A policy rule that cannot be met: which rule, which sites or zones, by how much."""

    rule: str  # "min_coverage" or "parity"
    subjects: tuple[str, ...]
    required: float
    achievable: float
    message: str


def _snap_to_need(f: "DistributionFacts", dm: "DistributionModel", units: np.ndarray) -> np.ndarray:
    """Close the hair's-breadth shortfalls that lexicographic tier tolerances leave.

    Holding tier 1 within a relative 1e-7 while later tiers are optimised lets a site end at
    99.9999 % of its need, which a checker rightly calls short. Where the gap is below 1e-5 of the
    need and a depot that serves the site has the stock to spare, its largest row takes it.
    """
    units = units.copy()
    sites, depots, comm = f.g_site[dm.x_group], f.g_depot[dm.x_group], dm.x_commodity
    given = np.zeros_like(f.need)
    np.add.at(given, (sites, comm), units)
    used = np.zeros_like(f.stock)
    np.add.at(used, (depots, comm), units)
    gap = f.need - given
    for si, c in zip(*np.nonzero((gap > 0) & (gap <= 1e-5 * np.maximum(1.0, f.need)) & (given > 0))):
        rows = np.flatnonzero((sites == si) & (comm == c))
        rows = rows[f.stock[depots[rows], c] - used[depots[rows], c] >= gap[si, c]]
        if rows.size:
            j = rows[np.argmax(units[rows])]
            units[j] += gap[si, c]
            used[depots[j], c] += gap[si, c]
    return units


@dataclass(frozen=True)
class Allocation:
    """Units per (depot, site, commodity, mode), each tier's value and tier 1's proven bound.

    ``status``: ``optimal`` | ``feasible`` | ``infeasible`` | ``time_limit`` (see
    :class:`~allocate.mip.MipResult`). ``tiers`` holds the tier values in ``tier_names`` order (by
    default ``coverage``, ``escorted_t``, ``exposure``, ``cost``, ``busy_h``); ``bound`` is the first tier's
    proven bound (an upper bound on coverage). ``explanation`` says why when infeasible.
    """

    scenario: str
    status: str
    tier_names: tuple[str, ...]
    tiers: tuple[float | None, ...]
    bound: float | None
    seconds: float
    seed: int | None
    time_limit: float | None
    backend: str
    gap: float
    explanation: str | None
    shortfalls: tuple[Shortfall, ...]
    site_coverage: Mapping[str, float]
    zone_coverage: Mapping[str, float]
    inaccessible: Mapping[str, str]
    _rows: tuple[Mapping[str, Any], ...]
    _trips: tuple[Mapping[str, Any], ...]
    _escort_trips: tuple[Mapping[str, Any], ...]
    weighted_coverage: float
    build_seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One dict per (depot, site, commodity, mode) with units > 0; fields in :data:`ROW_FIELDS`."""
        return [dict(r) for r in self._rows]

    def frame(self) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame (columns in :data:`ROW_FIELDS` order, even when empty)."""
        return pd.DataFrame(self.rows(), columns=list(ROW_FIELDS))

    def trips(self) -> list[dict[str, Any]]:
        """Vehicle round trips per fleet type and (depot, site, mode): ``fleet, depot, site, escorted, trips, round_trip_h``."""
        return [dict(r) for r in self._trips]

    def escort_trips(self) -> list[dict[str, Any]]:
        """Escort trips per escort unit, pair and convoy class: ``escort, depot, site, convoy, trips, busy_h``
        (``convoy``: the organization whose vehicles it accompanies, "(military)" for military
        ones; ``busy_h`` includes positioning)."""
        return [dict(r) for r in self._escort_trips]

    def tier_values(self) -> dict[str, float | None]:
        return dict(zip(self.tier_names, self.tiers))

    def summary(self) -> str:
        parts = [f"{n}={v:.6g}" if v is not None else f"{n}=n/a" for n, v in zip(self.tier_names, self.tiers)]
        bound = "n/a" if self.bound is None else f"{self.bound:.6g}"
        text = f"{self.status}: " + ", ".join(parts) + f"; bound {bound}; {self.seconds:.2f} s ({self.backend})"
        return text + (f"\n{self.explanation}" if self.explanation else "")


def distribute(
    scenario: Scenario,
    *,
    time_limit: float | None = 60.0,
    seed: int | None = 0,
    backend: str = "highs",
    gap: float = 1e-3,
    objectives: Sequence[str | Mapping[str, float]] = TIERS,
    tier_tolerance: float = 1e-7,
    access: AccessFacts | None = None,
    escort_choices: int | None = None,
    integer_escort_trips: bool | None = None,
    transport: str = "auto",
    **backend_options: Any,
) -> Allocation:
    """Allocate stock to sites as a lexicographic MIP, before any route is drawn.

    Parameters
    ----------
    scenario
        A validated :class:`~allocate.scenario.Scenario`.
    time_limit
        Seconds for the whole solve (every tier and, if infeasible, the explaining re-solve); None: no limit.
    seed
        The solver's random seed (recorded on the allocation).
    backend
        ``highs`` (default), ``pulp`` (``solver=`` any PuLP solver) or ``ortools`` (``solver=`` "SCIP", "CBC"...).
    gap
        Relative MIP gap of each tier (0.1 % by default).
    objectives
        Lexicographic tiers; names in :data:`KNOWN_TIERS` or ``{name: weight}`` blends.
    tier_tolerance
        Relative slack a tier's optimum keeps while later tiers are optimised.
    escort_choices, integer_escort_trips, transport
        See :func:`distribution_facts` and :func:`build_distribution_model`.
    backend_options
        Passed to the back-end (``solver=`` for PuLP and OR-Tools, ``threads=`` for HiGHS...).
    """
    require_seed(seed)
    import time

    start = time.perf_counter()
    facts = distribution_facts(scenario, access, escort_choices)
    dm = build_distribution_model(facts, objectives, integer_escort_trips=integer_escort_trips, transport=transport)
    built = time.perf_counter() - start
    options = {**solver_defaults(dm, backend), **backend_options}
    # the facts and the build count against the time limit too (2,000 generated sites: 3.6 s of a
    # 22.5 s limit, which the solve then took whole); at least a second, or the whole limit if less
    solve_limit = None if time_limit is None else max(min(time_limit, 1.0), time_limit - built)
    result = solve_lexicographic(dm.mip, backend, solve_limit, seed, gap, tier_tolerance, **options)
    result = dataclasses.replace(result, time_limit=time_limit)  # the caller's, as given
    whole_bound = None
    if _whole_convoys_apply(facts, objectives, result):
        left = None if time_limit is None else time_limit - (time.perf_counter() - start)
        whole_bound = _whole_convoy_bound(facts, objectives[0], transport, backend, left, seed, gap, backend_options)
        if whole_bound is not None and whole_bound < result.bound:
            result = dataclasses.replace(result, bound=whole_bound)
    shortfalls: tuple[Shortfall, ...] = ()
    explanation = None
    if result.status == "infeasible":
        left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - start))
        shortfalls, explanation = explain_infeasible(facts, dm, left, seed)
    elif result.status == "time_limit" and result.x is None:
        explanation = f"no allocation found within the time limit of {time_limit} s ({result.message})"
    allocation = _allocation(facts, dm, result, shortfalls, explanation, time.perf_counter() - start, built)
    if whole_bound is not None and whole_bound < allocation.weighted_coverage - 1e-9:
        note = (f"bound {whole_bound:.6g} from the first tier again with whole convoys of units based away from a "
                f"depot; the allocation's own escort trips stay fractional ({allocation.weighted_coverage:.6g})")
        allocation = dataclasses.replace(allocation, notes=allocation.notes + (note,))
    return allocation


def _whole_convoys_apply(f: DistributionFacts, objectives: Sequence[str | Mapping[str, float]],
                         result: MipResult) -> bool:
    """Whether a second solve of the coverage tier with whole convoys can tighten the bound:
    coverage first, a bound to tighten, escort pairs within :data:`WHOLE_CONVOY_PAIRS_LIMIT`,
    and some unit based away from a depot it may serve."""
    if not objectives or objectives[0] != "coverage" or result.bound is None or result.x is None:
        return False
    if not 0 < f.eg_group.size <= WHOLE_CONVOY_PAIRS_LIMIT:
        return False
    return bool((f.escort_pos_h[f.eg_escort, f.g_depot[f.eg_group]] > 0).any())


def _whole_convoy_bound(f: DistributionFacts, first: str, transport: str, backend: str, time_limit: float | None,
                        seed: int | None, gap: float, options: Mapping[str, Any]) -> float | None:
    """The coverage tier's proven bound with whole convoys (:func:`_add_whole_convoy_rows`).

    Why a second solve, not the allocation's own model: with the counts held, the later tiers
    pick another allocation among the equally good ones, and the planner builds on it (tiny:
    0.8785 → 0.8377 of the same bound); the allocation stays the fractional model's, its bound
    this one's."""
    if time_limit is not None and time_limit <= 0:
        return None
    wm = build_distribution_model(f, (first,), transport=transport, whole_convoys=True)
    # its own defaults: a MIP keeps HiGHS' presolve (off, darfur_like_large took 5 s, not 0.6)
    r = solve_lexicographic(wm.mip, backend, time_limit, seed, gap, **{**solver_defaults(wm, backend), **options})
    return r.bound if r.bound is not None and np.isfinite(r.bound) else None


LARGE_LP_ROWS = 10_000


def solver_defaults(dm: DistributionModel, backend: str) -> dict[str, Any]:
    """Back-end options that suit this model (the caller's own options win).

    HiGHS: presolve off for a large LP. Why: its presolve substitutes each escort pair's doubleton
    row into the dense escort-hour rows one at a time; at 2,000 sites it ran 80 s and more before
    the simplex started, which then needed 20 s on the unreduced model.
    """
    if backend == "highs" and not dm.mip.is_mip and dm.mip.num_rows > LARGE_LP_ROWS:
        return {"presolve": "off"}
    return {}


def _allocation(f: DistributionFacts, dm: DistributionModel, r: MipResult, shortfalls: tuple[Shortfall, ...],
                explanation: str | None, seconds: float, built: float) -> Allocation:
    s = f.scenario
    delivered_t = np.zeros(len(f.sites))
    rows: list[dict[str, Any]] = []
    trips: list[dict[str, Any]] = []
    escort_trips: list[dict[str, Any]] = []
    if r.x is not None:
        x = r.x
        units = np.clip(x[dm.x_cols], 0.0, None)
        units[units < ZERO] = 0.0
        units = _snap_to_need(f, dm, units)
        k = np.clip(x[dm.k_cols], 0.0, None) if dm.k_cols.size else np.zeros(f.fg_group.size)
        whole = bool(dm.z_cols.size and dm.mip.integrality[dm.z_cols].any())
        z = np.clip(x[dm.z_cols], 0.0, None)
        z = np.round(z) if whole else np.where(z < ZERO, 0.0, z)
        fleets_of: dict[int, list[tuple[float, str]]] = {}
        for j in range(f.fg_group.size):
            fleets_of.setdefault(int(f.fg_group[j]), []).append((-k[j], f.fleets[f.fg_fleet[j]]))
            if k[j] > ZERO:
                g = f.fg_group[j]
                trips.append({"fleet": f.fleets[f.fg_fleet[j]], "depot": f.depots[f.g_depot[g]],
                              "site": f.sites[f.g_site[g]], "escorted": bool(f.g_mode[g] == ESCORTED),
                              "trips": float(k[j]), "round_trip_h": float(f.fg_hours[j])})
        escorts_of: dict[int, list[str]] = {}
        for j in range(f.eg_group.size):
            if z[j] > 0:
                g = f.eg_group[j]
                escorts_of.setdefault(int(g), []).append(f.escorts[f.eg_escort[j]])
                escort_trips.append({"escort": f.escorts[f.eg_escort[j]], "depot": f.depots[f.g_depot[g]],
                                     "site": f.sites[f.g_site[g]], "convoy": f.classes[f.eg_class[j]], "trips": int(z[j]) if whole else float(z[j]), "busy_h": float(f.eg_hours[j])})
        for j in np.flatnonzero(units):
            g, c = int(dm.x_group[j]), int(dm.x_commodity[j])
            si = int(f.g_site[g])
            u = float(units[j])
            delivered_t[si] += u * f.weight[c]
            rows.append({
                "depot": f.depots[f.g_depot[g]],
                "site": f.sites[si],
                "commodity": f.commodities[c],
                "units": u,
                "weight_t": u * float(f.weight[c]),
                "volume_m3": u * float(f.volume[c]),
                "escorted": bool(f.g_mode[g] == ESCORTED),
                "round_trip_h": float(f.g_hours[g]),
                "risk": float(f.g_risk[g]),
                "fleet": ",".join(name for _, name in sorted(fleets_of.get(g, []))),
                "escorts": ",".join(escorts_of.get(g, [])),
                "zone": f.site_zone[si],
                "severity": int(f.severity[si]),
            })
    need_t = f.need_t
    site_cov = {sid: float(delivered_t[i] / need_t[i]) if need_t[i] > 0 else 1.0 for i, sid in enumerate(f.sites)}
    zone_cov: dict[str, float] = {}
    for z_id in sorted({z for z in f.site_zone if z is not None}):
        m = np.array([zz == z_id and a for zz, a in zip(f.site_zone, f.accessible)], bool)
        if m.any() and need_t[m].sum() > 0:
            zone_cov[z_id] = float(delivered_t[m].sum() / need_t[m].sum())
    total = float(f.severity @ need_t)
    weighted = float(f.severity @ delivered_t / total) if total > 0 else 1.0
    return Allocation(
        scenario=s.name, status=r.status, tier_names=r.tier_names, tiers=r.tiers, bound=r.bound,
        seconds=seconds, seed=r.seed, time_limit=r.time_limit, backend=r.backend, gap=r.gap,
        explanation=explanation, shortfalls=shortfalls, site_coverage=MappingProxyType(site_cov),
        zone_coverage=MappingProxyType(zone_cov), inaccessible=f.inaccessible, _rows=tuple(rows),
        _trips=tuple(trips), _escort_trips=tuple(escort_trips), weighted_coverage=weighted, build_seconds=built,
        notes=_notes(dm),
    )


def _notes(dm: DistributionModel) -> tuple[str, ...]:
    """What the model simplified, so a reader knows what the bound is a bound of."""
    notes = []
    z = dm.z_cols
    if z.size and not dm.mip.integrality[z].any():
        notes.append(f"escort trips fractional ({z.size} escort-pair columns): one escorted convoy may serve "
                     "several sites")
    if dm.k_cols.size == 0 and dm.facts.fg_group.size:
        notes.append(f"transport pooled per depot ({dm.facts.fg_group.size} fleet-pair columns > {TRIPS_LIMIT}): "
                     "no vehicle trips reported")
    if z.size > WHOLE_CONVOY_PAIRS_LIMIT:
        notes.append(f"convoys of units based away from a depot fractional there ({z.size} escort-pair columns > "
                     f"{WHOLE_CONVOY_PAIRS_LIMIT}): a unit may pay a share of its positioning")
    if z.size > SPILL_ROWS_LIMIT:
        notes.append(f"escort time outside the horizon within each unit's longest way out and back ({z.size} "
                     f"escort-pair columns > {SPILL_ROWS_LIMIT}), not per first and last convoy")
    windowed = _short_window_pairs(dm.facts, dm.x_group)[1].size
    if windowed > WINDOW_ROWS_LIMIT:
        notes.append(f"site windows not applied to what each depot sends ({windowed} depot-site pairs > "
                     f"{WINDOW_ROWS_LIMIT})")
    return tuple(notes)


# ----- explanations ---------------------------------------------------------------------------------
def explain_infeasible(f: DistributionFacts, dm: DistributionModel, time_limit: float | None,
                       seed: int | None) -> tuple[tuple[Shortfall, ...], str]:
    """Why the policy cannot be met: an elastic re-solve (slack per rule), then HiGHS' IIS.

    The elastic model relaxes every ``min_coverage`` row and the parity spread with a slack and
    minimises their sum; each rule left with slack is named with its sites or zones and the best
    achievable value. The IIS of the LP relaxation names the rows that conflict.
    """
    s = f.scenario
    pooled = dm.k_cols.size == 0 and f.fg_group.size > 0
    whole = bool(dm.z_cols.size and dm.mip.integrality[dm.z_cols].any())
    elastic = build_distribution_model(f, ("coverage",), elastic=True, integer_escort_trips=whole,
                                       transport="pooled" if pooled else "trips")
    r = solve_lexicographic(elastic.mip, "highs", time_limit, seed, 1e-6, 1e-6)
    shortfalls: list[Shortfall] = []
    lines: list[str] = []
    if r.x is not None:
        x = r.x
        mc = float(s.policy.min_coverage)
        sc = elastic.slack_cols.get("min_coverage")
        if sc is not None:
            acc_sites = np.flatnonzero(f.accessible)
            slack = x[sc]
            short = [(f.sites[acc_sites[i]], mc - slack[i]) for i in np.flatnonzero(slack > 1e-6)]
            if short:
                subjects = tuple(sid for sid, _ in short)
                served = set(f.g_site[elastic.x_group].tolist())
                idx = {sid: i for i, sid in enumerate(f.sites)}
                cut_off = [sid for sid in subjects if idx[sid] not in served]
                detail = ", ".join(f"{sid} at most {cov:.3f}" for sid, cov in short[:20])
                more = f" and {len(short) - 20} more" if len(short) > 20 else ""
                why = "stock, transport or escort capacity is too short to lift them all together"
                if cut_off:
                    why += (f"; {', '.join(cut_off[:20])} cannot be served at all: accessible by the claim rules, "
                            "but no fleet with stock may go there (escort units without a team or a road to the "
                            "depot, or an organization that takes no escort)")
                msg = f"min_coverage {mc:g} cannot be met at {len(short)} accessible site(s): {detail}{more} ({why})"
                shortfalls.append(Shortfall("min_coverage", subjects, mc, min(c for _, c in short), msg))
                lines.append(msg)
        sp = elastic.slack_cols.get("parity")
        if sp is not None and x[sp[0]] > 1e-6:
            tol = float(s.policy.parity_tolerance)
            spread = tol + float(x[sp[0]])
            delivered = _delivered_by_zone(f, elastic, x)
            lo = min(delivered, key=delivered.get)
            hi = max(delivered, key=delivered.get)
            msg = (f"parity_tolerance {tol:g} cannot be met: zone coverage spread at least {spread:.3f} "
                   f"(lowest zone {lo} at {delivered[lo]:.3f}, highest {hi} at {delivered[hi]:.3f}; "
                   f"zones {', '.join(elastic.parity_zones)})")
            shortfalls.append(Shortfall("parity", tuple(elastic.parity_zones), tol, spread, msg))
            lines.append(msg)
    try:
        from allocate.backends.highs import iis

        found = iis(dm.mip, time_limit=min(10.0, time_limit or 10.0))
    except Exception:  # an IIS is a help, never a reason to fail
        found = None
    if found is not None and found[0]:
        names = [dm.describe_row(i) for i in found[0][:12]]
        more = f" and {len(found[0]) - 12} more" if len(found[0]) > 12 else ""
        lines.append("conflicting rows (HiGHS IIS of the LP relaxation): " + ", ".join(names) + more)
    if not shortfalls:
        lines.insert(0, "the policy cannot be met (no single rule isolated by the elastic re-solve)")
    return tuple(shortfalls), "infeasible: " + "; ".join(lines)


def _delivered_by_zone(f: DistributionFacts, dm: DistributionModel, x: np.ndarray) -> dict[str, float]:
    delivered = np.zeros(len(f.sites))
    np.add.at(delivered, f.g_site[dm.x_group], x[dm.x_cols] * f.weight[dm.x_commodity])
    need_t = f.need_t
    out = {}
    for z in dm.parity_zones:
        m = np.array([zz == z and a for zz, a in zip(f.site_zone, f.accessible)], bool)
        out[z] = float(delivered[m].sum() / need_t[m].sum()) if need_t[m].sum() > 0 else 1.0
    return out


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`distribute`. Why: ``allocate.distribute`` is both the
    public function (``allocate.__init__`` loads it lazily) and this module's name, and Python
    binds the module to that attribute the moment anything imports it (the planner does). Either
    way ``allocate.distribute(...)`` and ``allocate.distribute.distribute(...)`` then both work."""

    def __call__(self, *args: Any, **kwargs: Any) -> Allocation:
        return distribute(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
