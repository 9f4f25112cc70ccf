"""Escort assignment (issue 5): capacity with positioning, consent, last resort, party rule,
determinism, time limit, and plans built from the assignment passing the checker."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from allocate.escorts import (
    EscortAssignment,
    annotate_military,
    assign_escorts,
    escort_busy_window,
    least_unescorted_risk_through_stops,
    military_last_resort_ok,
    needs_escort,
)
from allocate.access import within
from allocate.network import RoadNetwork, Usability, path_risk
from allocate.plan import Convoy, Plan, SolverInfo, Stop, UnmetClaim
from allocate.scenario import Scenario, load_scenario

VECTORS = Path("/work/shared/vectors")
SECURITY_CODES = ("RISK_", "ESCORT_", "PARTY_ESCORT")


# ----- tiny named scenarios ----------------------------------------------------------------------
def make_scenario(
    *,
    roads: list[dict[str, Any]] | None = None,
    escorts: list[dict[str, Any]] | None = None,
    organizations: list[dict[str, Any]] | None = None,
    fleet: list[dict[str, Any]] | None = None,
    party_escorts: str = "non_opposed",
    extra_nodes: list[dict[str, Any]] | None = None,
) -> Scenario:
    """Depot D (government zone), base B 1 h away, site S in the armed group's zone, site T
    contested; D-S and D-T risky (0.1), a safe detour D-J-S exists for light trucks only."""
    nodes = [
        {"id": "D", "kind": "depot", "lat": 0.0, "lon": 0.0, "zone": "Zg", "stock": {"food": 10000}},
        {"id": "B", "kind": "junction", "lat": 0.0, "lon": 0.1, "zone": "Zg"},
        {"id": "J", "kind": "junction", "lat": 0.0, "lon": 0.2, "zone": "Zc"},
        {"id": "S", "kind": "site", "lat": 0.1, "lon": 0.0, "zone": "Zn", "need": {"food": 1000}, "severity": 4},
        {"id": "T", "kind": "site", "lat": 0.2, "lon": 0.0, "zone": "Zc", "need": {"food": 1000}, "severity": 2},
        *(extra_nodes or []),
    ]
    return Scenario.model_validate(
        {
            "format": "allocate.scenario/1",
            "name": "escort-tiny",
            "horizon_h": 48,
            "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
            "parties": [
                {"id": "gov", "kind": "state", "opposes": ["ag"]},
                {"id": "ag", "kind": "non_state"},
                {"id": "un", "kind": "un"},
                {"id": "icrc", "kind": "neutral"},
            ],
            "zones": [
                {"id": "Zg", "controlled_by": "gov"},
                {"id": "Zn", "controlled_by": "ag"},
                {"id": "Zc", "controlled_by": None},
            ],
            "nodes": nodes,
            "roads": roads
            if roads is not None
            else [
                {"a": "D", "b": "S", "km": 20, "hours": 2, "risk": 0.1},
                {"a": "D", "b": "T", "km": 30, "hours": 3, "risk": 0.1},
                {"a": "B", "b": "D", "km": 10, "hours": 1, "risk": 0.0},
                {"a": "D", "b": "J", "km": 40, "hours": 4, "risk": 0.0, "max_weight_t": 10},
                {"a": "J", "b": "S", "km": 40, "hours": 4, "risk": 0.01},
            ],
            "organizations": organizations
            or [
                {"id": "ngo", "escort_policy": "last_resort", "military_assets": "never"},
                {"id": "wfp", "escort_policy": "accept", "military_assets": "last_resort"},
                {"id": "msf", "escort_policy": "never", "military_assets": "never"},
            ],
            "fleet": fleet
            or [
                {"id": "ngo_heavy", "organization": "ngo", "depot": "D", "count": 50, "capacity_t": 20, "capacity_m3": 60},
                {"id": "ngo_light", "organization": "ngo", "depot": "D", "count": 50, "capacity_t": 8, "capacity_m3": 24},
                {"id": "wfp_truck", "organization": "wfp", "depot": "D", "count": 50, "capacity_t": 20, "capacity_m3": 60},
                {"id": "wfp_mil", "organization": "wfp", "depot": "D", "count": 5, "capacity_t": 20, "capacity_m3": 60, "military": True},
                {"id": "msf_truck", "organization": "msf", "depot": "D", "count": 50, "capacity_t": 20, "capacity_m3": 60},
            ],
            "escorts": escorts if escorts is not None else [],
            "policy": {"risk_threshold": 0.05, "max_risk": 0.2, "party_escorts": party_escorts},
        }
    )


def out_and_back(
    scenario: Scenario,
    cid: str,
    org: str,
    fleet_id: str,
    site: str,
    depart_h: float,
    via: tuple[str, ...] = (),
    units: float = 100,
) -> Convoy:
    """A convoy D → (via) → site → (via reversed) → D, timed on road hours."""
    net = RoadNetwork(scenario)
    path = ("D", *via, site, *reversed(via), "D")
    half = len(path) // 2
    arrive = depart_h + net.measure(path[: half + 1]).hours
    back = depart_h + net.measure(path).hours
    return Convoy(
        id=cid,
        organization=org,
        depot="D",
        vehicles={fleet_id: 1},
        path=path,
        depart_h=depart_h,
        stops=(Stop(site=site, arrive_h=arrive, unload={"food": units}),),
        return_h=back,
        escort=None,
    )


GOV_AT_B = {"id": "G", "provider": "gov", "base": "B", "count": 1, "effectiveness": 0.6, "cost_per_km": 1.0}
UN_AT_B = {"id": "U", "provider": "un", "base": "B", "count": 1, "effectiveness": 0.6, "cost_per_km": 5.0}
ICRC_AT_B = {"id": "N", "provider": "icrc", "base": "B", "count": 1, "effectiveness": 0.6, "cost_per_km": 9.0}


# ----- independent re-derivations ----------------------------------------------------------------
def assert_capacity(scenario: Scenario, convoys: list[Convoy] | tuple[Convoy, ...]) -> None:
    """No unit is ever busy (positioning included, floats, half-open) more than its count.

    FORMAT.md: two intervals overlap only by more than the tolerance, so a window ending within
    the tolerance of ``t`` is over at ``t``.
    """
    net = RoadNetwork(scenario)
    for unit in scenario.escorts:
        windows = [escort_busy_window(scenario, net, unit, c) for c in convoys if c.escort == unit.id]
        assert all(w is not None for w in windows)
        for t, _ in windows:
            at_once = sum(1 for s, e in windows if s <= t and not within(e, t))
            assert at_once <= unit.count, (unit.id, t, windows)


def opposed_on_path(scenario: Scenario, provider: str, path: tuple[str, ...]) -> bool:
    return any(scenario.opposed(scenario.controller_of(n), provider) for n in path)


def check_codes(
    scenario: Scenario, convoys: tuple[Convoy, ...] | list[Convoy], prefixes: tuple[str, ...] = SECURITY_CODES
) -> list[str]:
    """Codes of the security/escort rules the checker reports on a plan of these convoys."""
    check_module = pytest.importorskip("allocate.check")
    plan = Plan.build(
        scenario,
        convoys,
        [],
        SolverInfo(status="feasible", objective=None, bound=None, seconds=0.0, seed=0, version="test"),
    )
    plan = Plan.from_dict(json.loads(plan.to_json()))  # what a reader of the file gets
    result = check_module.check(scenario, plan)
    violations = getattr(result, "violations", result)
    codes = [v.code if hasattr(v, "code") else v["code"] for v in violations]
    return [c for c in codes if c.startswith(prefixes)]


# ----- capacity ----------------------------------------------------------------------------------
def test_unit_never_double_booked_beyond_count() -> None:
    unit = dict(UN_AT_B, count=2)
    s = make_scenario(escorts=[unit])
    convoys = [out_and_back(s, f"C{i}", "wfp", "wfp_truck", "T", depart_h=5.0 + 0.5 * i) for i in range(5)]
    result = assign_escorts(s, convoys, seed=0)
    assert result.status == "optimal"
    assert len(result.escorted) == 2
    assert_capacity(s, result.convoys)
    busy = [u for u in result.unescorted if u.reason == "units_busy"]
    assert len(busy) == 3 and all(u.admissible_units == ("U",) for u in busy)
    assert set(result.needed) == {c.id for c in convoys}


def test_positioning_counts_and_back_to_back_is_allowed() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    net = RoadNetwork(s)
    first = out_and_back(s, "A", "wfp", "wfp_truck", "T", depart_h=2.0)  # busy [1, 9): base 1 h away
    window = escort_busy_window(s, net, "U", first)
    assert window == pytest.approx((1.0, 9.0))
    # the next convoy's busy window starts exactly when the first ends: both escorted
    second = out_and_back(s, "B", "wfp", "wfp_truck", "T", depart_h=10.0)
    assert escort_busy_window(s, net, "U", second)[0] == pytest.approx(9.0)
    both = assign_escorts(s, [first, second])
    assert [c.escort for c in both.convoys] == ["U", "U"]
    assert_capacity(s, both.convoys)
    # 0.1 h earlier the positioning overlaps (convoys themselves do not): only one escorted
    early = out_and_back(s, "B", "wfp", "wfp_truck", "T", depart_h=9.9)
    assert early.depart_h > first.return_h
    one = assign_escorts(s, [first, early])
    assert sum(c.escort is not None for c in one.convoys) == 1
    assert [u.reason for u in one.unescorted] == ["units_busy"]
    assert_capacity(s, one.convoys)


def test_back_to_back_with_float_noise_stays_allowed() -> None:
    """Times like 0.1 + 0.2 must not be rounded into an overlap (snap before outward rounding)."""
    s = make_scenario(escorts=[dict(UN_AT_B, base="D")])
    a = out_and_back(s, "A", "wfp", "wfp_truck", "T", depart_h=0.1 + 0.2)
    b = out_and_back(s, "B", "wfp", "wfp_truck", "T", depart_h=a.return_h)
    result = assign_escorts(s, [a, b])
    assert [c.escort for c in result.convoys] == ["U", "U"]


def test_prefers_heavier_severity_weighted_convoy_when_units_short() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    light = out_and_back(s, "light", "wfp", "wfp_truck", "T", depart_h=5.0, units=100)
    heavy = out_and_back(s, "heavy", "wfp", "wfp_truck", "T", depart_h=5.5, units=300)
    result = assign_escorts(s, [light, heavy])
    assert result.by_id()["heavy"].escort == "U"
    assert result.by_id()["light"].escort is None


def test_cheapest_admissible_unit_is_chosen() -> None:
    s = make_scenario(escorts=[ICRC_AT_B, UN_AT_B, GOV_AT_B])
    convoy = out_and_back(s, "C", "wfp", "wfp_truck", "T", depart_h=5.0)  # T contested: all admissible
    result = assign_escorts(s, [convoy])
    assert result.convoys[0].escort == "G"


# ----- party rule --------------------------------------------------------------------------------
def test_opposed_provider_never_assigned_under_non_opposed() -> None:
    s = make_scenario(escorts=[GOV_AT_B])
    into_ag = out_and_back(s, "C", "wfp", "wfp_truck", "S", depart_h=5.0)
    result = assign_escorts(s, [into_ag])
    assert result.convoys[0].escort is None
    assert [u.reason for u in result.unescorted] == ["party_rule"]

    s2 = make_scenario(escorts=[GOV_AT_B, UN_AT_B])  # gov is cheaper, but opposed to ag
    result2 = assign_escorts(s2, [into_ag, out_and_back(s2, "T1", "wfp", "wfp_truck", "T", depart_h=20.0)])
    by = result2.by_id()
    assert by["C"].escort == "U"
    assert by["T1"].escort == "G"  # contested zone: gov allowed
    for c in result2.escorted:
        provider = s2.escort_by_id[c.escort].provider
        assert not opposed_on_path(s2, provider, c.path)


def test_forbidden_allows_only_un_or_neutral() -> None:
    s = make_scenario(escorts=[GOV_AT_B, dict(UN_AT_B, count=1), ICRC_AT_B], party_escorts="forbidden")
    convoys = [out_and_back(s, f"C{i}", "wfp", "wfp_truck", "T", depart_h=5.0 + 0.1 * i) for i in range(3)]
    result = assign_escorts(s, convoys)
    providers = {s.escort_by_id[c.escort].provider for c in result.escorted}
    assert providers <= {"un", "icrc"} and len(result.escorted) == 2
    assert {s.party_by_id[p].kind for p in providers} <= {"un", "neutral"}
    assert [u.reason for u in result.unescorted] == ["units_busy"]

    only_gov = make_scenario(escorts=[GOV_AT_B], party_escorts="forbidden")
    alone = assign_escorts(only_gov, [out_and_back(only_gov, "C", "wfp", "wfp_truck", "T", depart_h=5.0)])
    assert alone.convoys[0].escort is None and alone.unescorted[0].reason == "party_rule"


def test_any_rule_admits_an_opposed_provider() -> None:
    s = make_scenario(escorts=[GOV_AT_B], party_escorts="any")
    result = assign_escorts(s, [out_and_back(s, "C", "wfp", "wfp_truck", "S", depart_h=5.0)])
    assert result.convoys[0].escort == "G"


# ----- consent and last resort -------------------------------------------------------------------
def test_never_organization_gets_no_escort_and_is_reported() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    convoy = out_and_back(s, "M", "msf", "msf_truck", "T", depart_h=5.0)
    result = assign_escorts(s, [convoy])
    assert result.convoys[0].escort is None
    assert [(u.convoy, u.reason) for u in result.unescorted] == [("M", "consent_never")]
    assert result.needed == ("M",)


def test_last_resort_with_safe_alternative_gets_no_escort() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    net = RoadNetwork(s)
    light = out_and_back(s, "L", "ngo", "ngo_light", "S", depart_h=5.0)  # D-S risky, D-J-S safe at 8 t
    assert needs_escort(s, net, light)
    assert least_unescorted_risk_through_stops(s, net, light) == pytest.approx(1 - 0.99**2)
    result = assign_escorts(s, [light])
    assert result.convoys[0].escort is None
    assert [u.reason for u in result.unescorted] == ["last_resort_safe_path"]


def test_last_resort_heavy_convoy_without_safe_path_is_escorted() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    net = RoadNetwork(s)
    heavy = out_and_back(s, "H", "ngo", "ngo_heavy", "S", depart_h=5.0)  # 20 t cannot take the 10 t road
    least = least_unescorted_risk_through_stops(s, net, heavy)
    assert least == pytest.approx(path_risk(net, heavy.path))
    # a mixed convoy is bound by its heaviest vehicle type too
    mixed = heavy.model_copy(update={"id": "X", "vehicles": {"ngo_heavy": 1, "ngo_light": 1}, "depart_h": 30.0})
    mixed = mixed.model_copy(update={"return_h": 34.0, "stops": (mixed.stops[0].model_copy(update={"arrive_h": 32.0}),)})
    result = assign_escorts(s, [heavy, mixed])
    for c in result.convoys:
        assert c.escort == "U"
        assert c.least_unescorted_risk == pytest.approx(least)
        assert "risk_threshold" in c.why_escorted
    assert_capacity(s, result.convoys)


def test_no_escort_for_convoys_that_do_not_need_one() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    safe = out_and_back(s, "Safe", "wfp", "wfp_truck", "S", depart_h=5.0, via=("J",))
    result = assign_escorts(s, [safe])
    assert result.convoys[0].escort is None and result.needed == () and result.unescorted == ()


def test_too_risky_even_escorted_and_unreachable_base_are_not_admissible() -> None:
    weak = dict(UN_AT_B, effectiveness=0.0)
    island = dict(UN_AT_B, id="I", base="X")
    s = make_scenario(
        escorts=[weak, island],
        extra_nodes=[{"id": "X", "kind": "junction", "lat": 1.0, "lon": 1.0}],
        roads=[
            {"a": "D", "b": "T", "km": 30, "hours": 3, "risk": 0.25},
            {"a": "B", "b": "D", "km": 10, "hours": 1, "risk": 0.0},
            {"a": "X", "b": "D", "km": 10, "hours": 1, "risk": 0.0, "oneway": True},
        ],
    )
    result = assign_escorts(s, [out_and_back(s, "C", "wfp", "wfp_truck", "T", depart_h=5.0)])
    assert result.convoys[0].escort is None
    assert result.unescorted[0].reason == "no_admissible_unit"
    assert "max_risk" in result.unescorted[0].detail and "I:" in result.unescorted[0].detail


def test_already_escorted_convoys_reserve_their_unit() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    fixed = out_and_back(s, "F", "wfp", "wfp_truck", "T", depart_h=5.0).model_copy(update={"escort": "U"})
    new = out_and_back(s, "N", "wfp", "wfp_truck", "T", depart_h=6.0)
    result = assign_escorts(s, [fixed, new])
    assert result.by_id()["F"].escort == "U" and result.by_id()["N"].escort is None
    assert result.unescorted[0].reason == "units_busy"


# ----- military assets as a last resort ----------------------------------------------------------
def test_military_last_resort_helper() -> None:
    s = make_scenario()
    mil = out_and_back(s, "M", "wfp", "wfp_mil", "T", depart_h=5.0)
    assert not military_last_resort_ok(s, [mil], mil)
    civ = [
        out_and_back(s, f"c{i}", "wfp", "wfp_truck", "T", depart_h=4.0).model_copy(update={"vehicles": {"wfp_truck": 25}})
        for i in range(2)
    ]
    assert military_last_resort_ok(s, [*civ, mil], mil)  # all 50 trucks out at 5.0
    annotated = annotate_military(s, civ, mil)
    assert annotated.civilian_busy == {"wfp_truck": {"busy": 50, "count": 50, "convoys": ["c0", "c1"]}}
    # a civilian convoy returning exactly at depart_h has freed its trucks (half-open)
    late = mil.model_copy(update={"depart_h": civ[0].return_h})
    assert not military_last_resort_ok(s, [*civ, late], late)
    # organizations that never use military assets fail, civilian convoys always pass
    assert military_last_resort_ok(s, civ, civ[0])


# ----- determinism and time limit ----------------------------------------------------------------
def many_convoys(n: int, units: int) -> tuple[Scenario, list[Convoy]]:
    """A busy day: ``n`` overlapping risky convoys competing for ``units`` escort units."""
    escorts = [
        {"id": f"E{k}", "provider": "un" if k % 2 else "icrc", "base": "B" if k % 3 else "D", "count": 1 + k % 3,
         "effectiveness": 0.6, "cost_per_km": float(1 + (7 * k) % 5)}
        for k in range(units)
    ]
    s = make_scenario(escorts=escorts)
    convoys = [
        out_and_back(s, f"C{i:04d}", "wfp", "wfp_truck", "T" if i % 2 else "S", depart_h=(i * 0.37) % 40, units=50 + (i * 13) % 200)
        for i in range(n)
    ]
    return s, convoys


def signature(result: EscortAssignment) -> list[tuple[str, str | None]]:
    return [(c.id, c.escort) for c in result.convoys]


def test_same_seed_same_result() -> None:
    s, convoys = many_convoys(30, 4)
    a = assign_escorts(s, convoys, seed=3, time_limit=10)
    b = assign_escorts(s, convoys, seed=3, time_limit=10)
    assert signature(a) == signature(b)
    assert [(u.convoy, u.reason) for u in a.unescorted] == [(u.convoy, u.reason) for u in b.unescorted]
    c = assign_escorts(s, convoys, seed=11, time_limit=10)
    if a.status == c.status == "optimal":
        assert a.objective == pytest.approx(c.objective)
    assert_capacity(s, a.convoys)


def test_time_limit_is_honoured() -> None:
    s, convoys = many_convoys(400, 12)
    start = time.perf_counter()
    result = assign_escorts(s, convoys, time_limit=1.0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0 + 1.0  # model build and reading out take little beyond the limit
    assert result.seconds <= elapsed
    assert result.status in ("optimal", "time_limit")
    assert_capacity(s, result.convoys)
    assert len(result.escorted) + len(result.unescorted) == len(result.needed)


# ----- the conformance scenario and the checker --------------------------------------------------
def vector_convoys(name_prefix: str) -> tuple[Scenario, list[Convoy]]:
    scenario = load_scenario(VECTORS / "scenario.json")
    plan_file = next(VECTORS.glob(f"{name_prefix}*.json"))
    plan = Plan.from_dict(json.loads(plan_file.read_text()))
    return scenario, [c.model_copy(update={"escort": None}) for c in plan.convoys]


def test_vector_scenario_assignment() -> None:
    s, convoys = vector_convoys("plan-07")
    result = assign_escorts(s, convoys)
    by = result.by_id()
    # B goes into the armed group's zone: the government unit E1 may not escort it
    assert by["B"].escort == "E2"
    assert all(c.escort is not None for c in result.convoys)
    assert_capacity(s, result.convoys)

    s, convoys = vector_convoys("plan-17")  # msf never takes escorts
    result = assign_escorts(s, convoys)
    assert result.escorted == () and result.unescorted[0].reason == "consent_never"


def test_least_unescorted_risk_matches_vectors() -> None:
    s = load_scenario(VECTORS / "scenario.json")
    net = RoadNetwork(s)
    _, convoys = vector_convoys("plan-00")
    light = convoys[0]  # civ_army 8 t: the 10 t bridge road D-S1 is open to it
    assert least_unescorted_risk_through_stops(s, net, light) == pytest.approx(1 - 0.999**2)
    heavy = light.model_copy(update={"organization": "ngo", "vehicles": {"big": 1}})
    assert least_unescorted_risk_through_stops(s, net, heavy) == pytest.approx(path_risk(net, light.path))


@pytest.mark.parametrize("prefix", ["plan-00", "plan-07", "plan-10", "plan-16", "plan-08", "plan-23"])
def test_plans_from_vector_assignments_pass_check(prefix: str) -> None:
    s, convoys = vector_convoys(prefix)
    result = assign_escorts(s, convoys)
    # a convoy left without an escort would break the risk rule: the planner re-routes or drops
    # it; what ships (escorted or safe convoys) must raise no security or escort violation
    dropped = {u.convoy for u in result.unescorted}
    shipped = tuple(c for c in result.convoys if c.id not in dropped)
    assert shipped, "the vector plans all carry some convoy an escort can protect"
    assert check_codes(s, shipped) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_plans_from_synthetic_assignments_pass_check(seed: int) -> None:
    s, convoys = many_convoys(24, 4)
    result = assign_escorts(s, convoys, seed=seed)
    # keep only what a planner would ship: convoys that are safe, escorted, or did not need one
    shipped = tuple(c for c in result.convoys if c.id not in {u.convoy for u in result.unescorted})
    assert check_codes(s, shipped) == []


def test_checker_helper_sees_escort_violations() -> None:
    """Negative control: the vector's government escort into the armed group's zone is caught."""
    s = load_scenario(VECTORS / "scenario.json")
    plan = Plan.from_dict(json.loads(next(VECTORS.glob("plan-16*.json")).read_text()))
    assert "PARTY_ESCORT" in check_codes(s, plan.convoys)


# ----- optimality against brute force ------------------------------------------------------------
def brute_force_best(scenario: Scenario, convoys: list[Convoy]) -> tuple[float, float]:
    """(escorted severity-weighted tonnes, least cost among those) over every feasible choice."""
    import itertools

    net = RoadNetwork(scenario)
    units = [u.id for u in scenario.escorts]
    best = (-1.0, 0.0)
    for choice in itertools.product([None, *units], repeat=len(convoys)):
        trial = [c.model_copy(update={"escort": e}) for c, e in zip(convoys, choice)]
        ok = True
        for c in trial:
            if c.escort is None:
                continue
            unit = scenario.escort_by_id[c.escort]
            if opposed_on_path(scenario, unit.provider, c.path) or not within(
                path_risk(net, c.path, unit.effectiveness), scenario.policy.max_risk
            ):
                ok = False
                break
        if not ok:
            continue
        try:
            assert_capacity(scenario, trial)
        except AssertionError:
            continue
        weight = sum(
            scenario.weight_t(c.stops[0].unload) * scenario.node(c.stops[0].site).severity for c in trial if c.escort
        )
        cost = sum(net.measure(c.path).km * scenario.escort_by_id[c.escort].cost_per_km for c in trial if c.escort)
        if weight > best[0] + 1e-9 or (abs(weight - best[0]) <= 1e-9 and cost < best[1]):
            best = (weight, cost)
    return best


def test_assignment_is_optimal_on_a_crowded_small_day() -> None:
    s = make_scenario(escorts=[dict(UN_AT_B, count=2, cost_per_km=3.0), GOV_AT_B])
    convoys = [
        out_and_back(s, f"C{i}", "wfp", "wfp_truck", "S" if i % 3 == 0 else "T", depart_h=1.0 + 1.7 * i, units=40 + 30 * (i % 4))
        for i in range(7)
    ]
    result = assign_escorts(s, convoys)
    assert result.status == "optimal"
    weight, cost = brute_force_best(s, convoys)
    assert result.objective[0] == pytest.approx(weight)
    assert result.objective[1] == pytest.approx(cost)
    assert_capacity(s, result.convoys)


def test_work_limit_gives_the_same_result_on_a_hard_day() -> None:
    s, convoys = many_convoys(80, 6)
    a = assign_escorts(s, convoys, seed=1, time_limit=30, work_limit=0.05)
    b = assign_escorts(s, convoys, seed=1, time_limit=30, work_limit=0.05)
    assert signature(a) == signature(b) and a.stages == b.stages
    assert_capacity(s, a.convoys)


def test_overbooked_pre_escorted_convoys_are_refused() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    a = out_and_back(s, "A", "wfp", "wfp_truck", "T", depart_h=5.0).model_copy(update={"escort": "U"})
    b = out_and_back(s, "B", "wfp", "wfp_truck", "T", depart_h=6.0).model_copy(update={"escort": "U"})
    with pytest.raises(ValueError, match="U"):
        assign_escorts(s, [a, b])


# ----- a generated crisis: many parties, zones, units ----------------------------------------------
def generated_convoys(scenario: Scenario, net: RoadNetwork) -> list[Convoy]:
    """One out-and-back convoy per site on its least-time roads, departures spread over the day."""
    fleets = [f for f in scenario.fleet if f.count >= 1 and not f.military]
    convoys = []
    for i, site in enumerate(scenario.sites):
        f = fleets[i % len(fleets)]
        roads = Usability(vehicle_weight_t=f.capacity_t)
        go = net.least_path(f.depot, site.id, "hours", roads)
        back = net.least_path(site.id, f.depot, "hours", roads)
        if go is None or back is None:
            continue
        depart = (i * 0.9) % max(1.0, scenario.horizon_h - go.hours - back.hours - 1)
        arrive = depart + go.hours
        if site.window:
            arrive = max(arrive, site.window[0])
            if arrive > site.window[1]:
                continue
        commodity = next(iter(site.need))
        convoys.append(
            Convoy(
                id=f"c{i}",
                organization=f.organization,
                depot=f.depot,
                vehicles={f.id: 1},
                path=go.nodes + back.nodes[1:],
                depart_h=depart,
                stops=(Stop(site=site.id, arrive_h=arrive, unload={commodity: min(site.need[commodity], 1.0)}),),
                return_h=arrive + site.service_h + back.hours,
                escort=None,
            )
        )
    return [c for c in convoys if c.return_h <= scenario.horizon_h]


@pytest.mark.parametrize("rule", ["non_opposed", "forbidden", "any"])
def test_generated_crisis_assignment_passes_check(rule: str) -> None:
    from allocate.generate import generate_scenario

    s = generate_scenario(60, seed=5, risk_scale=2.0, party_escorts=rule)
    net = RoadNetwork(s)
    convoys = generated_convoys(s, net)
    result = assign_escorts(s, convoys, network=net, time_limit=10)
    assert result.escorted, "the generated crisis has convoys an escort can protect"
    assert_capacity(s, result.convoys)
    for c in result.escorted:
        provider = s.party_by_id[s.escort_by_id[c.escort].provider]
        assert s.organization_by_id[c.organization].escort_policy != "never"
        if rule == "forbidden":
            assert provider.kind in ("un", "neutral")
        if rule == "non_opposed":
            assert not opposed_on_path(s, provider.id, c.path)
    dropped = {u.convoy for u in result.unescorted}
    assert check_codes(s, tuple(c for c in result.convoys if c.id not in dropped)) == []


# ----- re-routing instead of escorting -----------------------------------------------------------
ROUTE_CODES = ("PATH", "STOP_ORDER", "TIME_", "HORIZON", "FLEET_BUSY", "RISK_", "ESCORT_", "PARTY_ESCORT")


def test_reroute_moves_a_last_resort_convoy_to_its_safe_path() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    light = out_and_back(s, "L", "ngo", "ngo_light", "S", depart_h=5.0)
    result = assign_escorts(s, [light], reroute=True)
    assert result.rerouted == ("L",) and result.unescorted == () and result.escorted == ()
    moved = result.convoys[0]
    assert moved.path == ("D", "J", "S", "J", "D") and moved.rerouted_from == ["D", "S", "D"]
    assert moved.stops[0].arrive_h == pytest.approx(13.0) and moved.return_h == pytest.approx(21.0)
    assert check_codes(s, result.convoys, ROUTE_CODES) == []


def test_reroute_refused_when_the_longer_trip_double_books_the_truck() -> None:
    fleet = [
        {"id": "ngo_light", "organization": "ngo", "depot": "D", "count": 1, "capacity_t": 8, "capacity_m3": 24},
    ]
    s = make_scenario(escorts=[UN_AT_B], fleet=fleet)
    light = out_and_back(s, "L", "ngo", "ngo_light", "S", depart_h=5.0)  # back at 9
    after = out_and_back(s, "Next", "ngo", "ngo_light", "S", depart_h=9.0, via=("J",))  # safe, same truck
    result = assign_escorts(s, [light, after], reroute=True)
    assert result.rerouted == ()
    assert [(u.convoy, u.reason) for u in result.unescorted] == [("L", "last_resort_safe_path")]
    # the same trip a day later, with the truck free, is moved
    late = out_and_back(s, "Next", "ngo", "ngo_light", "S", depart_h=21.0, via=("J",))
    assert assign_escorts(s, [light, late], reroute=True).rerouted == ("L",)


def test_reroute_respects_windows_and_horizon() -> None:
    s = make_scenario(escorts=[UN_AT_B])
    late = out_and_back(s, "L", "ngo", "ngo_light", "S", depart_h=30.0)  # safe trip would end at 46 <= 48
    assert assign_escorts(s, [late], reroute=True).rerouted == ("L",)
    too_late = out_and_back(s, "L", "ngo", "ngo_light", "S", depart_h=33.0)  # 49 > 48
    result = assign_escorts(s, [too_late], reroute=True)
    assert result.rerouted == () and result.unescorted[0].reason == "last_resort_safe_path"

    windowed = make_scenario(
        escorts=[UN_AT_B],
        extra_nodes=[
            {"id": "W", "kind": "site", "lat": 0.3, "lon": 0.0, "zone": "Zc", "need": {"food": 100}, "severity": 3,
             "window": [0, 6], "service_h": 0.5},
        ],
        roads=[
            {"a": "D", "b": "W", "km": 20, "hours": 2, "risk": 0.1},
            {"a": "D", "b": "J", "km": 40, "hours": 4, "risk": 0.0},
            {"a": "J", "b": "W", "km": 10, "hours": 1, "risk": 0.0},
            {"a": "B", "b": "D", "km": 10, "hours": 1, "risk": 0.0},
        ],
    )
    fits = assign_escorts(windowed, [out_and_back(windowed, "F", "ngo", "ngo_light", "W", depart_h=1.0)], reroute=True)
    assert fits.rerouted == ("F",) and fits.convoys[0].stops[0].arrive_h == pytest.approx(6.0)
    assert fits.convoys[0].return_h == pytest.approx(11.5)
    assert check_codes(windowed, fits.convoys, ROUTE_CODES) == []
    misses = assign_escorts(windowed, [out_and_back(windowed, "F", "ngo", "ngo_light", "W", depart_h=2.0)], reroute=True)
    assert misses.rerouted == ()
