"""How the planner spends its time limit after routing: the escort stage's shares and the tail it
keeps for the repair, the checks and the plan (planner.py)."""

from __future__ import annotations

import time
from pathlib import Path

import allocate.planner as planner
from allocate.access import AccessFacts
from allocate.check import check
from allocate.distribute import distribute
from allocate.generate import generate
from allocate.plan import CHECKED_REASONS, site_coverage
from allocate.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _recorded_escort_limits(monkeypatch) -> list[float]:
    limits: list[float] = []
    escort = planner._escort

    def recorded(scenario, network, convoys, time_limit, seed, trace):
        limits.append(time_limit)
        return escort(scenario, network, convoys, time_limit, seed, trace)

    monkeypatch.setattr(planner, "_escort", recorded)
    return limits


def test_the_router_convoys_escorts_take_a_fifth_of_the_escort_stage(monkeypatch) -> None:
    """CP-SAT uses all the time it is given: with half the stage (2,000 generated sites: 9.5 s,
    the same assignment as at 4 s) the waves after it ran 6 s past the stage's end."""
    scenario = load_scenario(ROOT / "models" / "tiny.json")
    limits = _recorded_escort_limits(monkeypatch)
    result = planner.plan(scenario, time_limit=10, seed=0)
    assert check(scenario, result).ok
    # the stage ends before the time limit, so a fifth of it is under a fifth of the limit
    assert planner._MIN_ESCORT_S <= limits[0] <= planner._FIRST_ESCORT_SHARE * 10


def test_without_waves_the_router_convoys_escorts_get_the_whole_stage(monkeypatch) -> None:
    scenario = load_scenario(ROOT / "models" / "tiny.json")
    limits = _recorded_escort_limits(monkeypatch)
    planner.plan(scenario, time_limit=10, seed=0, waves=False)
    assert len(limits) == 1 and limits[0] > planner._FIRST_ESCORT_SHARE * 10


def test_the_tail_kept_grows_with_what_a_check_takes(monkeypatch) -> None:
    """Where checking is slow for its time limit (darfur_like_large at 10 s), a share of the limit
    is too short a tail: the plan ran 0.4 to 0.9 s over."""
    scenario = load_scenario(ROOT / "models" / "tiny.json")
    any_plan = planner.plan(scenario, time_limit=5, seed=0)  # the check's cost is what counts, not whose plan
    assert planner._tail_seconds(scenario, any_plan, 100.0) == planner._TAIL * 100.0
    real_check = planner.check

    def slow_check(*args, **kwargs):
        time.sleep(0.2)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(planner, "check", slow_check)
    assert planner._tail_seconds(scenario, any_plan, 2.0) >= planner._TAIL_CHECKS * 0.2


def test_unmet_claims_ask_the_access_facts_only_where_the_distribution_found_a_site_inaccessible(
        monkeypatch) -> None:
    """Tight stock leaves many reachable sites without a delivery: their checked reasons cannot
    hold, and asking costs Dijkstras in the plan's tail. Every reason that holds is still listed."""
    scenario = Scenario.from_dict(generate(60, seed=3, stock_ratio=0.3))
    asked: list[str] = []
    holding, unmet_claims = AccessFacts.holding_reasons, planner._unmet_claims

    def recorded(self, site):
        asked.append(site)
        return holding(self, site)

    def listing(*args, **kwargs):  # routing asks the facts of every site too: only the listing counts
        monkeypatch.setattr(AccessFacts, "holding_reasons", recorded)
        try:
            return unmet_claims(*args, **kwargs)
        finally:
            monkeypatch.setattr(AccessFacts, "holding_reasons", holding)

    monkeypatch.setattr(planner, "_unmet_claims", listing)
    result = planner.plan(scenario, time_limit=8, seed=0)
    inaccessible = distribute(scenario, time_limit=8, seed=0).inaccessible
    assert check(scenario, result).ok
    coverage = site_coverage(scenario, result.convoys)
    unserved = [s.id for s in scenario.sites if coverage[s.id].delivered_t == 0 and coverage[s.id].need_t > 0]
    assert [s for s in unserved if s not in inaccessible], "the scenario must leave reachable sites unserved"
    assert set(asked) <= set(inaccessible)
    facts = AccessFacts(scenario)
    claimed = {(c.site, c.reason) for c in result.unmet if c.reason in CHECKED_REASONS}
    assert claimed == {(site, r) for site in unserved for r in facts.holding_reasons(site)}


def test_the_time_limit_counts_from_the_moment_the_caller_started() -> None:
    """A caller whose own work counts against the limit (the command line's start-up) passes when
    it began: the plan keeps to what is left and records the limit as given."""
    scenario = load_scenario(ROOT / "models" / "tiny.json")
    began = time.monotonic()
    result = planner.plan(scenario, time_limit=8, seed=0, started=began - 5.0)
    assert time.monotonic() - began <= 3.0 + 0.5
    assert result.solver.time_limit == 8 and result.solver.seconds >= 5.0
    assert check(scenario, result).ok


def test_past_the_stage_end_a_candidates_escorts_get_a_moment_not_half_a_second(monkeypatch) -> None:
    """A candidate's escort assignment starts from a heuristic that stands when CP-SAT has no
    time (escorts.py); at half a second each, four candidates' assignments made after the stage's
    end put south_sudan at 10 s 0.27 s past its limit. The router's convoys keep their half second."""
    from allocate.network import RoadNetwork
    from allocate.routing import route

    scenario = load_scenario(ROOT / "models" / "tiny.json")
    network = RoadNetwork(scenario)
    allocation = distribute(scenario, time_limit=10, seed=0)
    routed = route(scenario, allocation, time_limit=2, seed=0, network=network, escort_credit=True)
    limits = _recorded_escort_limits(monkeypatch)
    planner._escort_stage(scenario, network, AccessFacts(scenario, network), list(routed.convoys), lambda share: 0.5,
                          0, True, planner._Trace(), allocation, False, end=time.monotonic())
    assert limits[0] == planner._MIN_ESCORT_S  # the router's convoys
    candidates = [limit for limit in limits[1:] if limit != planner._MIN_ESCORT_S]
    assert len(limits) - len(candidates) <= 2  # the router's convoys and those pooled after them
    assert candidates and all(limit == planner._MIN_CANDIDATE_ESCORT_S for limit in candidates)


def test_the_wave_schedule_gets_a_share_of_the_stage_not_of_the_tail(monkeypatch) -> None:
    """CP-SAT's wave schedule takes all it is given: measured against the whole time limit, its
    share reached into the tail kept for the repair, the checks and the plan."""
    scenario = load_scenario(ROOT / "models" / "kosovo_like.json")  # its escorted loads reach CP-SAT
    tail = 2.0
    monkeypatch.setattr(planner, "_tail_seconds", lambda *args: tail)
    given: list[tuple[float, float]] = []  # (time limit, moment of the call)
    schedule = planner.schedule_waves

    def recorded(*args, time_limit, **kwargs):
        given.append((time_limit, time.monotonic()))
        return schedule(*args, time_limit=time_limit, **kwargs)

    monkeypatch.setattr(planner, "schedule_waves", recorded)
    started = time.monotonic()
    result = planner.plan(scenario, time_limit=20, seed=0, started=started)
    assert check(scenario, result).ok
    assert given
    limit, at = given[0]
    stage_left = started + 20 - tail - at
    assert limit <= planner._BUDGET["waves"] * stage_left + 1e-3
