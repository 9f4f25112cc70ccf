"""The joint planner: distribution → routing → escorts, then repair until the plan is consistent.

Each stage is a solver of its own (see distribute.py, routing.py, escorts.py); this module only
composes them, shares one road network between them, splits the time budget, and repairs what a
later stage could not honour (a convoy that needs an escort nobody can give, a vehicle double
booked). The final plan is verified with the independent checker: what it would flag is removed
or, for policy floors (coverage, parity) that no longer hold, reported as ``infeasible`` with an
explanation. Every site left short is listed in ``unmet`` with a reason.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from allocate import __version__, clock
from allocate.access import AccessFacts, within
from allocate.arguments import require_seed, require_whole
from allocate.backends import get_backend
from allocate.check import check
from allocate.distribute import distribute
from allocate.escorts import assign_escorts, escort_busy_window, needs_escort
from allocate.network import RoadNetwork, weight_fits
from allocate.plan import CHECKED_REASONS, Convoy, Plan, SolverInfo, UnmetClaim, site_coverage
from allocate.routing import route
from allocate.scenario import FleetType, Scenario
from allocate.topup import add_idle_trucks, top_up
from allocate.wave_schedule import schedule_waves
from allocate.wave_stops import extend_waves, remaining_loads
from allocate.wave_tours import tour_waves
from allocate.waves import (Calendar, best_placement, civilians_all_busy, fill_idle_trucks, fill_spare_stock,
                            fit_around, pool_waves, pooled_loads, shift_range, shifted, trucks_capacity, trucks_for)

Progress = Callable[[str], None]

# Share of the overall time limit each stage may use; what a stage leaves is passed on.
_BUDGET = {"distribute": 0.25, "route": 0.55, "waves": 0.6}
# Seconds the fill-in stages take per second of greedy waves (2,000 generated sites: 7.5 s of
# greedy waves, 8.5 s of fill-ins), and the least time worth giving the CP-SAT wave schedule.
_FILL_IN_RESERVE = 2.0
_MIN_SCHEDULE_S = 1.0
# Share of the time limit kept after the fill-in stages for the repair loop, the top-up, the
# checks and building the plan (2,000 generated sites: about 1.5 s of 90).
_TAIL = 0.04
# ... or, where more, this many times what checking the routed plan takes: up to seven checks come
# after the escort stage's heuristics end (two in the final fill-ins' parity guard, one or two in
# the repair, two in the top-up's guard, the last), and the unmet claims (2,000 generated sites: a
# 0.34 s check, a 1.4 s tail; darfur_like_large 0.14 s, 0.6 s).
_TAIL_CHECKS = 7.0
# Under deterministic=True: the escort stage's work budget, as a share of the time limit, in
# seconds of counted work (clock.py), its heuristics' deadlines ending _TAIL before it as on the
# wall clock; the wall clock still ends it at the tail (cote_divoire_like and darfur_like_large:
# routing ends near 0.6 of the time limit, measured in RESULTS.md).
_ESCORT_WORK = 0.3
# Share of the time left before the fill-ins end that scoring the escort-stage candidates may use
# in all, and that each candidate's fill-ins may (for loads left, then for spare stock).
_SCORING_SHARE = 0.5
_CANDIDATE_SHARE = 0.2
# Share of it the greedy wave placements may take under further rules (waves.best_placement).
_TRIES_SHARE = 0.1
# Seconds left, per second of greedy waves, below which the tour candidates are skipped: two
# tour placements walk the calendars as the greedy's do, and the fill-ins need their reserve
# (2,000 generated sites: 8.3 s of greedy waves, 9.0 s left; haiti_like 1.2 s, 43 s).
_TOURS_RESERVE = _FILL_IN_RESERVE + 1
# Share of the time left each of the two tour placements may take (cote_divoire_like: 1.9 s for
# the first with 10 s left; a tenth of it cut its tours at half the day).
_TOURS_SHARE = 0.25

# Share of the escort stage's time the escort units for the router's convoys may take (CP-SAT uses
# all it is given; 2,000 generated sites: the same assignment at 4 s as at the 9.5 s half the stage
# gave it, which left the greedy waves 6 s over the stage's end), and the least the router's
# convoys' escort assignment gets. A candidate's assignment gets at least the second: it starts from
# a heuristic that stands when CP-SAT has no time (escorts.py), and south_sudan at 10 s ran 0.27 s
# past its limit on four candidates' half-second assignments made after the stage's end.
_FIRST_ESCORT_SHARE = 0.2
_MIN_ESCORT_S = 0.5
_MIN_CANDIDATE_ESCORT_S = 0.05

# Codes whose subject is a convoy the repair can simply drop.
_REMOVABLE_CODES = frozenset(
    {
        "PATH", "PATH_CLOSED", "PATH_DENIED", "PATH_WEIGHT", "PATH_ENDS", "STOP_ORDER", "REF",
        "VEHICLE_ORG", "VEHICLE_DEPOT", "MIXED_FLEET", "LOAD_WEIGHT", "LOAD_VOLUME",
        "TIME_DEPART", "TIME_ARRIVAL", "TIME_WINDOW", "TIME_RETURN", "HORIZON",
        "RISK_MAX", "RISK_UNESCORTED", "ESCORT_CONSENT", "ESCORT_LAST_RESORT", "ESCORT_POSITION",
        "MILITARY_CONSENT", "MILITARY_LAST_RESORT", "PARTY_ESCORT", "CLAIM_SERVED",
    }
)
_POLICY_CODES = frozenset({"MIN_COVERAGE", "PARITY"})


@dataclass
class _Trace:
    """What happened to each site on the way, so a shortfall is explained by its real cause."""

    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def blame(self, sites: Iterable[str], reason: str) -> None:
        for site in sites:
            self.reasons.setdefault(site, reason)


def plan(
    scenario: Scenario,
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    deterministic: bool = False,
    backend: str = "highs",
    waves: bool = True,
    top_up_loads: bool = True,
    progress: Progress | None = None,
    started: float | None = None,
    threads: int | None = None,
) -> Plan:
    """Plan distribution, convoys and escorts for ``scenario`` within ``time_limit`` seconds.

    The result passes :func:`allocate.check.check`, or its ``solver.status`` is ``infeasible``
    and ``solver.explanation`` says which policy rule could not be met and where. With ``waves``
    (the default), loads whose convoys found no free escort are pooled into multi-truck waves
    under one escort, fitted where trucks and units are idle one by one (waves.py) or packed
    together on CP-SAT (wave_schedule.py), whichever moves more. With ``top_up_loads``
    (the default), the spare room of every convoy on the road is filled with what its own sites
    still need from stock its depot still holds, and trucks idle during its trip join it for the
    rest (topup.py): same paths, times and escorts. Stock that no convoy carries in the end goes,
    on idle trucks, to short sites that need no escort (waves.fill_spare_stock).

    ``deterministic``: routing stops at a solution limit and the escort stage's heuristics at
    budgets of counted work (clock.py), so the same seed gives the same plan on a busy machine
    too; a note in ``solver.notes`` says so, or which stage a clock cut short.

    ``started``: the :func:`time.monotonic` moment the time limit counts from (default: now); a
    caller whose own work counts against the limit passes when it began (the command line: when
    its process started, so that ``allocate solve --time-limit`` holds start-up and reading the
    scenario too). The plan records ``time_limit`` as given.

    ``threads``: CP-SAT's search workers in the wave schedule (None: its default, 2), the one
    stage that searches on several threads. A sweep running one plan per core passes 1, so that
    plans side by side do not contend for the cores (sweep.py). HiGHS keeps its own default: it
    fixes its thread count once per thread at its first solve, and a later solve asking for
    another count fails in that thread.
    """
    clock.require_positive_seconds(time_limit, "time_limit")
    require_seed(seed)
    if threads is not None:
        require_whole(threads, "threads", minimum=1)
    get_backend(backend)  # an unknown name fails here, naming the choices, before any work
    started = time.monotonic() if started is None else started
    say = progress or (lambda stage: None)
    network = RoadNetwork(scenario)
    access = AccessFacts(scenario, network)
    trace = _Trace()

    def remaining(share: float) -> float:
        left = time_limit - (time.monotonic() - started)
        return max(0.5, left * share)

    say("distribution")
    t0 = time.monotonic()
    allocation = distribute(scenario, time_limit=remaining(_BUDGET["distribute"]), seed=seed, backend=backend)
    explanation = None
    if allocation.status == "infeasible":
        explanation = allocation.explanation
        trace.notes.append(f"distribution: {explanation}")
        allocation = distribute(
            _relaxed(scenario), time_limit=remaining(_BUDGET["distribute"]), seed=seed, backend=backend
        )
    trace.stage_seconds["distribute"] = time.monotonic() - t0

    say("routing")
    t0 = time.monotonic()
    routed = route(
        scenario,
        allocation,
        time_limit=remaining(_BUDGET["route"] / (1 - _BUDGET["distribute"])),
        seed=seed,
        deterministic=deterministic,
        network=network,
        escort_credit=True,
    )
    trace.stage_seconds["route"] = time.monotonic() - t0
    for claim in routed.unmet:
        trace.blame([claim.site], claim.reason)

    say("escorts")
    t0 = time.monotonic()
    # the fill-ins get what time is left, less a tail for repair, checks and the plan itself;
    # deterministic: work counted instead of seconds (clock.py), the wall clock only as a backstop
    wall_end = started + time_limit - _tail_seconds(scenario, routed, time_limit)
    if deterministic:
        work = _ESCORT_WORK * time_limit
        stage_clock: clock.WallClock | clock.WorkClock = clock.WorkClock(work - _TAIL * time_limit, wall_end)
        end = stage_clock.work_end
    else:
        stage_clock, end = clock.WallClock(), wall_end

    def stage_remaining(share: float) -> float:
        """A share of what the escort stage has left before its end, on its own clock: the tail
        after it is not the stage's to give (CP-SAT's wave schedule takes all it is given)."""
        return max(0.5, (end - stage_clock.now()) * share)
    with clock.using(stage_clock):
        convoys, short, fills = _escort_stage(scenario, network, access, list(routed.convoys), stage_remaining, seed,
                                              waves, trace, allocation, deterministic, end, threads)
        trace.blame((s.site for c in short for s in c.stops), "escorts")
        if waves:
            convoys = _final_fill_ins(scenario, network, access, allocation, convoys, fills, end, trace)
    if isinstance(stage_clock, clock.WorkClock):
        trace.notes.append(_work_note(stage_clock, allocation.status, routed.solver.model_extra or {}))
    trace.stage_seconds["escorts"] = time.monotonic() - t0

    say("repair")
    t0 = time.monotonic()
    convoys = _repair(scenario, network, convoys, trace)
    trace.stage_seconds["repair"] = time.monotonic() - t0
    if top_up_loads:
        convoys = top_up(scenario, convoys)
        grown = add_idle_trucks(scenario, network, convoys)
        if grown != convoys and not _breaks_more(scenario, network, convoys, grown):
            trace.notes.append(f"top-up: {sum(a != b for a, b in zip(grown, convoys))} convoys took trucks "
                               "idle during their trips for their sites' remaining need")
            convoys = grown

    unmet = _unmet_claims(scenario, access, convoys, trace, allocation)
    result = _build(scenario, network, convoys, unmet, allocation, seed, time_limit, started, deterministic, trace)
    policy_breaches = check(scenario, result).codes & _POLICY_CODES
    if policy_breaches or explanation:
        why = explanation or _policy_explanation(scenario, result)
        result = _build(
            scenario, network, convoys, unmet, allocation, seed, time_limit, started, deterministic, trace,
            status="infeasible", explanation=why,
        )
    return result


def _tail_seconds(scenario: Scenario, routed: Plan, time_limit: float) -> float:
    """Seconds to keep after the escort stage for the repair loop, the top-up, the checks and
    building the plan: a share of the time limit, or, where more, what checking the routed plan
    takes times the checks the tail may make (darfur_like_large at 10 s: a 0.6 s tail for a
    0.4 s share). Checking it also fills the checker's road trees for the final check's
    unmet claims."""
    started = time.monotonic()
    check(scenario, routed)
    return max(_TAIL * time_limit, _TAIL_CHECKS * (time.monotonic() - started))


def _final_fill_ins(scenario: Scenario, network: RoadNetwork, access: AccessFacts, allocation,
                    convoys: list[Convoy], fills: list[Convoy], end: float, trace: _Trace) -> list[Convoy]:
    """``convoys`` with the winning way's fill-ins and those the time to ``end`` (the clock in
    use) still allows: unescorted loads no convoy carries, then stock no convoy carried, on
    trucks left idle."""
    fills = fills + fill_idle_trucks(scenario, network, convoys + fills,
                                     _undelivered(allocation, convoys + fills, False),
                                     deadline=clock.now() + 0.6 * max(0.0, end - clock.now()),
                                     numbered_from=len(fills) + 1)
    if fills:
        trace.notes.append(f"fill-in: {len(fills)} convoys on trucks left idle, for loads the router could not fit")
        convoys = convoys + fills
    spare = fill_spare_stock(scenario, network, access, convoys, deadline=end)
    if spare and _breaks_more(scenario, network, convoys, convoys + spare):
        trace.notes.append(f"fill-in: {len(spare)} convoys for stock no convoy carried left out "
                           "(they would break a rule the plan kept, e.g. zone parity)")
        spare = []
    if spare:
        trace.notes.append(f"fill-in: {len(spare)} convoys on trucks left idle, for stock no convoy carried "
                           "to sites still short that need no escort")
        convoys = convoys + spare
    return convoys


def _work_note(stage_clock: clock.WorkClock, distribution_status: str, routing: dict) -> str:
    """What a deterministic plan's reader needs to know: whether the same seed gives this plan
    again, or a clock cut something short (a slower or busier machine)."""
    cut = []
    if distribution_status in ("time_limit", "feasible"):  # a tier cut short (mip.py)
        cut.append("the distribution MIP stopped at its time limit")
    if routing.get("stopped_by") == "time":
        cut.append("routing stopped at its time limit before its solution limit")
    if stage_clock.cut:
        cut.append("the escort stage reached the wall-clock end before its work budget")
    # work past the budget is counted too: the least share each assignment and fill-in always gets
    done = (f"{stage_clock.work:.1f} work seconds counted ({stage_clock.steps} steps) against a budget of "
            f"{stage_clock.work_end:.1f}")
    if not cut:
        return f"deterministic: the escort stage ran on counted work, {done}: the same seed gives this plan again"
    return (f"deterministic: {'; '.join(cut)} ({done}): this plan may differ on another run or machine; "
            "a longer --time-limit gives the work room")


def _escort_stage(
    scenario: Scenario,
    network: RoadNetwork,
    access: AccessFacts,
    routed: list[Convoy],
    remaining: Callable[[float], float],
    seed: int,
    waves: bool,
    trace: _Trace,
    allocation=None,
    deterministic: bool = False,
    end: float | None = None,
    threads: int | None = None,
) -> tuple[list[Convoy], list[Convoy], list[Convoy]]:
    """Escorts for the routed convoys: ``(kept, left without escort, fill-ins)``.

    Several ways are tried and the one delivering most severity-weighted tonnes is kept: (a)
    escort the router's convoys as they are, then pool what found no escort into waves; (b) keep
    the router's safe convoys and send every load that needs an escort in waves (several trucks
    under one unit) placed one by one, which wins when escort units, not trucks, are the
    bottleneck; (c) the waves scheduled together on CP-SAT (wave_schedule.py), which packs escort
    hours tighter, with the safe convoys free to move in time or stay home so that a wave gets
    the trucks a scarce unit can lead; (e) every escorted trip a tour through several nearby
    sites from the start, each copy of a unit leading its share of the trucks (wave_tours.py),
    which wins where many small loads under escort would each take a unit's whole trip, unless
    the time left is short; (f) each depot's convoys from whichever of (b), (c) and (e) moves most
    there. The greedy placements of (b) and (d) are each the best of several fitting rules
    (waves.WAVE_RULES) while those take a small share of the time left. CP-SAT starts from the
    waves placed first on idle trucks and the safe convoys fitted around them (waves.fit_around),
    and that start is (c) when CP-SAT has no time or finds nothing. What a safe convoy left home
    carried goes to the fill-in stage after this one. Fill-ins (unescorted loads no convoy
    carries, on idle trucks, then spare stock) are made for each way, and count in the
    comparison; each gets a share of the time to ``end`` (:func:`allocate.clock.now`) and the
    planner's fill-in goes on where the winner's stopped. ``remaining(share)`` and ``end`` are
    on the clock in use: wall seconds, or on a :class:`allocate.clock.WorkClock`
    (``deterministic``) seconds of counted work.
    """
    end = clock.now() + remaining(1.0) if end is None else end

    def to_end(share: float, least: float = _MIN_ESCORT_S) -> float:
        return max(least, share * (end - clock.now()))

    kept, short = _escort(scenario, network, routed, to_end(_FIRST_ESCORT_SHARE if waves else 1.0), seed, trace)
    if not waves:
        return kept, short, []
    greedy_started = clock.now()
    pooled = pool_waves(scenario, network, access, kept, short)
    if pooled:
        kept, _ = _escort(scenario, network, kept + pooled, to_end(0.5), seed, trace)
    needy = [c for c in routed if needs_escort(scenario, network, c)]
    if not needy:
        return kept, short, []
    safe = [c for c in routed if not needs_escort(scenario, network, c)]
    loads = pooled_loads(needy, _undelivered(allocation, routed, escorted=True))
    # each greedy placement under the rules of waves.WAVE_RULES while they take a small share of
    # the time left, the one moving most kept (the first rule's alone on large crises)
    tries_end = clock.now() + _TRIES_SHARE * max(0.0, end - clock.now())

    def moved(placed: list[tuple[Convoy, str | None]]) -> float:
        return _weighted_tonnes(scenario, [c for c, _ in placed])

    greedy = _more_stops(scenario, network, access,
                         best_placement(scenario, network, access, safe, loads, moved, tries_end), loads,
                         [(c, None) for c in safe])
    kept_b, _ = _escort(scenario, network, [c for c, _ in greedy], to_end(0.5, _MIN_CANDIDATE_ESCORT_S), seed, _Trace())

    # (d) waves first on idle trucks, the safe convoys moved around them or left to the fill-ins
    fitted: dict[int, list[Convoy]] = {}  # the safe convoys fitted around each placement scored

    def with_safe(placed: list[tuple[Convoy, str | None]]) -> float:
        fitted[id(placed)] = fit_around(scenario, network, placed, safe)
        return moved(placed) + _weighted_tonnes(scenario, fitted[id(placed)])

    first = best_placement(scenario, network, access, [], loads, with_safe, tries_end)
    waves_first = first + [(c, None) for c in fitted.get(id(first), [])]
    greedy_s = clock.now() - greedy_started
    # (e) every escorted trip a tour through several sites, each copy of a unit leading its share
    # of the trucks, the safe convoys fitted around them: copies taken by their tours' rate, a
    # large load whole, and copies taken in turn, each keeping to its share (neither wins
    # everywhere)
    # (only while the time left holds them beside the fill-ins: they walk the same calendars as
    # the greedy waves, and on 2,000 generated sites the fill-ins carry more). Before CP-SAT,
    # which uses all the time it is given: after it, on a 20 s escort stage, haiti_like's tours
    # stopped at their deadlines with 16 and 12 waves of 28 and 29, and cote_divoire_like's and
    # south_sudan's were skipped (RESULTS.md, "Tours before CP-SAT")
    with_tours = end - clock.now() > _TOURS_RESERVE * greedy_s
    toured = [tour_waves(scenario, network, access, [], loads, by_rate=by_rate, whole_loads=by_rate,
                         deadline=clock.now() + _TOURS_SHARE * max(0.0, end - clock.now()))
              for by_rate in (True, False) if with_tours]
    kept_e = [_escort(scenario, network, [c for c, _ in placed] + fit_around(scenario, network, placed, safe),
                      to_end(0.5, _MIN_CANDIDATE_ESCORT_S), seed, _Trace())[0] for placed in toured if placed]
    # The fill-in stages after this one walk the same calendar as the greedy waves did: keep
    # them their time out of the scheduler's share, or the plan overruns its time limit (the
    # greedy's time counts every rule tried: a margin on the safe side).
    reserve = _FILL_IN_RESERVE * greedy_s
    budget = min(remaining(_BUDGET["waves"]), remaining(1.0) - reserve)
    wall_budget = _wall_left(budget)  # deterministic: CP-SAT stops by work, the wall clock only as a backstop
    # (c) CP-SAT from (d): the safe convoys may move (or stay home) to free trucks for full waves
    scheduled = schedule_waves(scenario, network, access, [], loads, time_limit=budget, seed=seed, hint=waves_first,
                               deterministic=deterministic, movable=safe, wall_limit=wall_budget,
                               workers=threads) if budget >= _MIN_SCHEDULE_S else []
    kept_c = _escort(scenario, network, [c for c, _ in _more_stops(scenario, network, access,
                                                                   scheduled or waves_first, loads)],
                     to_end(0.5, _MIN_CANDIDATE_ESCORT_S), seed, _Trace())[0]
    # (f) each depot's convoys from whichever of (b), (c) and (e) moves most there: tours win at one
    # depot and CP-SAT's single-site waves at another (cote_divoire_like); a unit two of them
    # booked at once is named again by the escort stage
    merged = _best_by_depot(scenario, (kept_b, kept_c, *kept_e))
    kept_f = (_escort(scenario, network, merged, to_end(0.5, _MIN_CANDIDATE_ESCORT_S), seed, _Trace())[0]
              if merged else [])
    # judged with the fill-ins each makes room for: a safe convoy a wave sent home is often sent
    # again on trucks idle later, and that is where (c) gains; and, when every candidate's
    # fill-ins end before their deadline, with the spare stock's fill-ins too (haiti_like: the tours
    # moving fewer tonnes under escort leave more trucks for them, 0.8295 → 0.8375)
    candidates = [c for c in (kept, kept_b, kept_c, *kept_e, kept_f) if c]
    scoring_end = clock.now() + _SCORING_SHARE * max(0.0, end - clock.now())
    values: list[tuple[float, float | None]] = []
    all_fills: list[list[Convoy]] = []
    for candidate in candidates:
        deadline = min(scoring_end, clock.now() + _CANDIDATE_SHARE * max(0.0, end - clock.now()))
        fills = fill_idle_trucks(scenario, network, candidate, _undelivered(allocation, candidate, escorted=False),
                                 deadline=deadline)
        with_spare = None
        if not clock.due(deadline):
            spare = fill_spare_stock(scenario, network, access, candidate + fills, deadline=deadline)
            if not clock.due(deadline):
                with_spare = _weighted_tonnes(scenario, candidate + fills + spare)
        values.append((_weighted_tonnes(scenario, candidate + fills), with_spare))
        all_fills.append(fills)
    spare_counts = all(v[1] is not None for v in values)
    best, best_fills, best_value = kept, [], -1.0
    for candidate, fills, (value, with_spare) in zip(candidates, all_fills, values):
        value = with_spare if spare_counts and with_spare is not None else value
        if value > best_value * (1 + 1e-9):
            best, best_fills, best_value = candidate, fills, value
    if best is kept:
        trace.notes.append(f"escorts: router's convoys kept, {len(pooled)} waves for loads left without escort")
        return kept, short, best_fills
    how = "placed one by one"
    if any(best is k for k in kept_e):
        how = "each a tour through nearby sites"
    elif best is kept_f:
        how = "as tours or as single-site waves, whichever moves more at each depot"
    elif best is kept_c:
        how = "scheduled together on CP-SAT" if scheduled else "placed one by one before the safe convoys"
    waves_sent = sum(1 for c in best if (c.model_extra or {}).get("wave"))
    trace.notes.append(f"escorts: every escorted load sent in {waves_sent} waves, {how} "
                       "(more severity-weighted tonnes, with the fill-ins, than truck-by-truck convoys)")
    return best, needy, best_fills


def _best_by_depot(scenario: Scenario, candidates: Sequence[list[Convoy]]) -> list[Convoy]:
    """Each depot's convoys from the candidate whose convoys there deliver the most
    severity-weighted tonnes (the first on a tie); empty when one candidate wins everywhere, as
    it is then already compared whole. Trucks belong to a depot, and each candidate's loads are
    the allocation's per depot, so the parts never share a truck or a load; an escort unit that
    serves two depots may be booked by both parts: its convoys are left for the escort stage to
    name a unit again."""
    by_depot: list[dict[str, list[Convoy]]] = []
    for convoys in candidates:
        split: dict[str, list[Convoy]] = defaultdict(list)
        for convoy in convoys:
            split[convoy.depot].append(convoy)
        by_depot.append(split)
    winners: dict[str, int] = {}
    for depot in sorted({d for split in by_depot for d in split}):
        values = [_weighted_tonnes(scenario, split.get(depot, [])) for split in by_depot]
        winners[depot] = max(range(len(values)), key=lambda i: (values[i], -i))
    if len(set(winners.values())) < 2:
        return []
    chosen = [(i, convoy) for depot, i in sorted(winners.items()) for convoy in by_depot[i].get(depot, [])]
    # a unit the parts from two candidates both book is named again by the escort stage
    sources: dict[str, set[int]] = defaultdict(set)
    for i, convoy in chosen:
        if convoy.escort is not None:
            sources[convoy.escort].add(i)
    out: list[Convoy] = []
    seen: set[str] = set()
    for i, convoy in chosen:
        update: dict = {}
        if convoy.escort is not None and len(sources[convoy.escort]) > 1:
            update["escort"] = None
        # two candidates number their waves alike, and a plan's convoy ids are unique (REF)
        if convoy.id in seen:
            update["id"] = f"{convoy.id}.{i + 1}"
        convoy = convoy.model_copy(update=update) if update else convoy
        seen.add(convoy.id)
        out.append(convoy)
    return out


def _more_stops(scenario: Scenario, network: RoadNetwork, access: AccessFacts,
                placed: list[tuple[Convoy, str | None]], loads, others: list[tuple[Convoy, None]] = ()
                ) -> list[tuple[Convoy, str | None]]:
    """``placed`` and ``others`` with waves given further stops for the escorted loads they leave
    (wave_stops.py): room in a wave's trucks carries a nearby site's load under the same unit."""
    both = list(placed) + list(others)
    return extend_waves(scenario, network, access, both, remaining_loads(loads, both))


def _undelivered(allocation, convoys: Sequence[Convoy], escorted: bool) -> dict[tuple[str, str], dict[str, float]]:
    """Units the allocation moves under escort (``escorted``) or without that no convoy carries,
    per (depot, site).

    Why: the router drops loads it cannot fit truck by truck; sent as waves (several trucks under
    one escort), or on trucks the waves left idle, many of them still fit.
    """
    if allocation is None:
        return {}
    left: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in allocation.rows():
        if bool(row.get("escorted")) == escorted:
            into = left[(row["depot"], row["site"])]
            into[row["commodity"]] = into.get(row["commodity"], 0.0) + float(row["units"])
    for convoy in convoys:
        for stop in convoy.stops:
            into = left.get((convoy.depot, stop.site))
            if into is None:
                continue
            for c, u in stop.unload.items():
                if c in into:
                    into[c] -= u
    return {k: {c: u for c, u in v.items() if u > 1e-9} for k, v in left.items() if any(u > 1e-9 for u in v.values())}


def _weighted_tonnes(scenario: Scenario, convoys: Sequence[Convoy]) -> float:
    severity = {s.id: s.severity for s in scenario.sites}
    return sum(severity.get(stop.site, 0) * scenario.weight_t(stop.unload) for c in convoys for stop in c.stops)


def _escort(
    scenario: Scenario, network: RoadNetwork, convoys: list[Convoy], time_limit: float, seed: int, trace: _Trace
) -> tuple[list[Convoy], list[Convoy]]:
    """Escort the convoys that need it: ``(kept, left without escort)``; a wave left without one is
    simply not sent. Each miss is noted with the escort stage's reason. On a
    :class:`allocate.clock.WorkClock` (deterministic), ``time_limit`` is work: CP-SAT's three
    stages share it in deterministic seconds, the wall clock only a backstop that, reached, marks
    the clock cut."""
    work_limit = None
    deterministic = isinstance(clock.current(), clock.WorkClock)
    if deterministic:
        work_limit, time_limit = time_limit / 3, min(3 * time_limit, _wall_left(0.0))
        if time_limit <= 0.1:
            clock.mark_cut()
            time_limit = 0.1
    started = time.monotonic()
    assignment = assign_escorts(scenario, convoys, time_limit=time_limit, seed=seed, network=network, reroute=True,
                                work_limit=work_limit)
    if deterministic and time.monotonic() - started >= 0.95 * time_limit:
        clock.mark_cut()
    missed = {u.convoy: u for u in assignment.unescorted}
    for miss in assignment.unescorted:
        trace.notes.append(f"escorts: convoy {miss.convoy} left out ({miss.reason}: {miss.detail})")
    kept = [c for c in assignment.convoys if c.id not in missed]
    short = [c for c in assignment.convoys if c.id in missed and not (c.model_extra or {}).get("wave")]
    return kept, short


def _wall_left(default: float) -> float:
    """Wall seconds to the end of a :class:`allocate.clock.WorkClock` in use, else ``default``."""
    in_use = clock.current()
    return in_use.wall_end - time.monotonic() if isinstance(in_use, clock.WorkClock) else default


def _relaxed(scenario: Scenario) -> Scenario:
    """The scenario without its policy floors, for a best-effort plan when they cannot be met."""
    data = scenario.to_dict()
    data.setdefault("policy", {})
    data["policy"]["min_coverage"] = 0.0
    data["policy"]["parity_tolerance"] = 1.0
    return Scenario.from_dict(data)


def _repair(scenario: Scenario, network: RoadNetwork, convoys: list[Convoy], trace: _Trace) -> list[Convoy]:
    """Drop whatever the independent checker would flag, one offender at a time, until clean.

    A convoy-level breach drops that convoy; a busy-time breach on a fleet type or escort unit
    drops the last convoy to depart on it. Each drop is recorded against the sites it served. A
    military convoy flagged MILITARY_LAST_RESORT is first given one fix (:func:`_military_fixes`);
    flagged again, it is dropped, so every round fixes or drops a convoy and the loop ends clean.
    """
    fixed_once: set[str] = set()
    for _ in range(2 * len(convoys) + 1):
        candidate = Plan.build(scenario, convoys, [], _placeholder_solver(), network)
        report = check(scenario, candidate)
        by_id = {c.id: c for c in convoys}
        offenders: set[str] = set()
        for v in report.violations:
            if v.code in _REMOVABLE_CODES and v.subject in by_id:
                offenders.add(v.subject)
            elif v.code == "FLEET_BUSY":
                users = [c for c in convoys if v.subject in c.vehicles]
                if users:
                    offenders.add(max(users, key=lambda c: (c.depart_h, c.id)).id)
            elif v.code == "ESCORT_BUSY":
                users = [c for c in convoys if c.escort == v.subject]
                if users:
                    offenders.add(max(users, key=lambda c: (c.depart_h, c.id)).id)
        if not offenders:
            return convoys
        swapped = _military_fixes(scenario, network, convoys, offenders - fixed_once, report)
        fixed_once |= set(swapped)
        if swapped:
            trace.notes.append("repair: " + ", ".join(sorted(swapped)) + " moved onto civilian vehicles idle by "
                               "then, or to a departure when all are busy (MILITARY_LAST_RESORT)")
            convoys = [swapped.get(c.id, c) for c in convoys]
            offenders -= set(swapped)
        for convoy_id in sorted(offenders):
            convoy = by_id[convoy_id]
            reason = "escorts" if convoy.escort is not None else "fleet"
            trace.blame((s.site for s in convoy.stops), reason)
            trace.notes.append(f"repair: dropped convoy {convoy_id} ({', '.join(sorted({v.code for v in report.violations if v.subject == convoy_id}) or ['busy time'])})")
        convoys = [c for c in convoys if c.id not in offenders]
    return convoys


def _military_fixes(scenario: Scenario, network: RoadNetwork, convoys: list[Convoy], offenders: set[str],
                    report) -> dict[str, Convoy]:
    """Military convoys flagged MILITARY_LAST_RESORT, kept another way: on civilian vehicles of
    their organization where enough are idle for the whole trip, hold the load and may take its
    roads; else moved whole (within :func:`waves.shift_range`) to a departure at which every
    civilian vehicle there is busy and their own vehicles (and escort unit) are free.

    Why: the router sends military vehicles only while civilian ones are all busy; the escort
    stage moves and drops civilian trips afterwards, so some are idle again by departure. The
    checker runs again on the result, so a fix that breaks another rule is dropped then.
    """
    flagged = {v.subject for v in report.violations if v.code == "MILITARY_LAST_RESORT"} & offenders
    by_id = {c.id: c for c in convoys}
    fixes: dict[str, Convoy] = {}
    calendar = Calendar(scenario, network, convoys)
    for convoy_id in sorted(flagged):
        convoy = by_id[convoy_id]
        if {v.code for v in report.violations if v.subject == convoy_id} != {"MILITARY_LAST_RESORT"}:
            continue
        calendar.remove(scenario, network, convoy)
        fixed = (_on_civilian_trucks(scenario, network, calendar, convoy)
                 or _when_civilians_busy(scenario, network, calendar, convoy))
        calendar.add(scenario, network, fixed or convoy)
        if fixed is not None:
            fixes[convoy_id] = fixed
    return fixes


def _civilian_types(scenario: Scenario, convoy: Convoy) -> list[FleetType]:
    """The civilian fleet types of the convoy's organization at its depot."""
    return [f for f in scenario.fleet if f.depot == convoy.depot and f.organization == convoy.organization
            and not f.military]


def _on_civilian_trucks(scenario: Scenario, network: RoadNetwork, calendar: Calendar, convoy: Convoy) -> Convoy | None:
    roads = [network.road(a, b) for a, b in zip(convoy.path, convoy.path[1:])]
    limit = min((r.max_weight_t for r in roads if r is not None and r.max_weight_t is not None), default=None)
    types = [f for f in _civilian_types(scenario, convoy) if limit is None or weight_fits(f.capacity_t, limit)]
    idle = {f.id: calendar.idle_trucks(f, convoy.depart_h, convoy.return_h) for f in types}
    load = convoy.unloaded()
    trucks = trucks_for(scenario, idle, load)
    held_t = trucks_capacity(scenario, trucks, "capacity_t")
    held_m3 = trucks_capacity(scenario, trucks, "capacity_m3")
    if not trucks or held_t < scenario.weight_t(load) - 1e-9 or held_m3 < scenario.volume_m3(load) - 1e-9:
        return None
    return convoy.model_copy(update={"vehicles": trucks})


def _when_civilians_busy(scenario: Scenario, network: RoadNetwork, calendar: Calendar, convoy: Convoy) -> Convoy | None:
    civilian = _civilian_types(scenario, convoy)
    early, late = shift_range(scenario, convoy)
    starts = sorted({a for f in civilian for a, _, _ in calendar.fleet[f.id]
                     if early - 1e-9 <= a - convoy.depart_h <= late + 1e-9})
    for start in starts:
        move = start - convoy.depart_h
        if not civilians_all_busy(calendar, civilian, start):
            continue
        end = convoy.return_h + move
        if any(calendar.idle_trucks(scenario.fleet_by_id[f], start, end) < n for f, n in convoy.vehicles.items()):
            continue
        moved = shifted(convoy, move)
        if convoy.escort is not None:
            window = escort_busy_window(scenario, network, convoy.escort, moved)
            if window is None or not calendar.escort_free(scenario.escort_by_id[convoy.escort], *window):
                continue
        return moved
    return None


def _breaks_more(scenario: Scenario, network: RoadNetwork, before: list[Convoy], after: list[Convoy]) -> bool:
    """Whether ``after`` breaks a rule that ``before`` keeps. Why: the passes that send more than
    the allocation (spare stock, idle trucks) do not look at zones, and more aid to the zone that is
    easy to reach can break the parity the allocation held."""
    def codes(convoys: list[Convoy]) -> frozenset[str]:
        return check(scenario, Plan.build(scenario, convoys, [], _placeholder_solver(), network)).codes

    return bool(codes(after) - codes(before))


def _unmet_claims(
    scenario: Scenario, access: AccessFacts, convoys: Sequence[Convoy], trace: _Trace, allocation
) -> list[UnmetClaim]:
    """Every site short of its need, with the checked reasons that hold, else the resource that ran out."""
    coverage = site_coverage(scenario, convoys)
    allocated = _allocated_weight(scenario, allocation)
    claims: list[UnmetClaim] = []
    for site in scenario.sites:
        cov = coverage[site.id]
        if within(cov.need_t, cov.delivered_t):
            continue
        # a checked reason can hold only where the distribution found the site inaccessible: it
        # judges the same claims with escorts on fewer roads (their vehicles' weight limits), so
        # a site it can serve is one the claims' side can serve too; the facts are asked only
        # there (darfur_like_large: 0.4 s of a 10 s plan's tail otherwise)
        holding = access.holding_reasons(site.id) if site.id in allocation.inaccessible else ()
        if holding and cov.delivered_t == 0:
            claims.extend(UnmetClaim(site=site.id, reason=r) for r in holding)
            continue
        reason = trace.reasons.get(site.id)
        if reason is None or reason in CHECKED_REASONS:
            reason = "stock" if allocated.get(site.id, 0.0) + 1e-9 < cov.need_t else "fleet"
        claims.append(UnmetClaim(site=site.id, reason=reason))
    return claims


def _allocated_weight(scenario: Scenario, allocation) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in allocation.rows():
        w = row["units"] * scenario.commodity_by_id[row["commodity"]].weight_t
        out[row["site"]] = out.get(row["site"], 0.0) + w
    return out


def _policy_explanation(scenario: Scenario, result: Plan) -> str:
    report = check(scenario, result)
    parts = [f"{v.code} at {v.subject}: {v.message}" for v in report.violations if v.code in _POLICY_CODES]
    return "policy floors not met after routing and escorts: " + "; ".join(parts)


def _placeholder_solver() -> SolverInfo:
    return SolverInfo(status="feasible", objective=None, bound=None, seconds=None, seed=None, version=__version__)


def _build(
    scenario: Scenario,
    network: RoadNetwork,
    convoys: Sequence[Convoy],
    unmet: Sequence[UnmetClaim],
    allocation,
    seed: int,
    time_limit: float,
    started: float,
    deterministic: bool,
    trace: _Trace,
    status: str | None = None,
    explanation: str | None = None,
) -> Plan:
    draft = Plan.build(scenario, convoys, unmet, _placeholder_solver(), network)
    if status is None:
        status = "time_limit" if time.monotonic() - started > time_limit else "feasible"
    extra = {
        "distribution_status": allocation.status,
        "distribution_tiers": list(allocation.tiers),
        "stage_seconds": {k: round(v, 3) for k, v in trace.stage_seconds.items()},
        "deterministic": deterministic,
        "notes": trace.notes,
    }
    if explanation:
        extra["explanation"] = explanation
    solver = SolverInfo(
        status=status,
        objective=draft.metrics["weighted_coverage"],
        bound=allocation.bound,
        seconds=round(time.monotonic() - started, 3),
        seed=seed,
        version=__version__,
        time_limit=time_limit,
        **extra,
    )
    return draft.model_copy(update={"solver": solver})
