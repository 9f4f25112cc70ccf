"""FORMAT.md §1: every invalid scenario is refused with a ScenarioError naming the field path and
the bad value; the valid edge cases are accepted; the JSON round trip is exact.

The base scenario is the rules fixture of ``fixtures_rules.py`` (indices below refer to it:
commodities[0] rice, parties[0] gov, zones[0] ZG, nodes[0] depot D, nodes[2] junction J,
nodes[5] site S1 (with a window), roads[2] the 10 t bridge D-S1, fleet[0] light, escorts[0] E_gov).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocate.errors import ScenarioError
from allocate.scenario import Scenario, load_scenario

import fixtures_rules as F

DEPOT, JUNCTION, SITE = 0, 2, 5  # indices in SCENARIO["nodes"]


def base() -> dict:
    return F.scenario()


def refused(data: dict) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(data)
    return info.value


def assert_names(err: ScenarioError, path: str, value: str) -> None:
    """The error's problems name exactly ``path``, and its text shows the path and the value."""
    paths = [p for p, _ in err.problems]
    assert path in paths, f"{path!r} not among {paths!r}"
    text = str(err)
    assert path in text
    assert value in text, f"value {value!r} not shown in {text!r}"


def test_base_fixture_is_valid():
    s = Scenario.from_dict(base())
    assert s.name == "rules-fixture"
    assert len(s.nodes) == 12 and len(s.roads) == 13


# ----- a setter for a JSON path ---------------------------------------------------------------
def _set(data: dict, path: tuple, value) -> dict:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _jp(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# every number of the scenario that must be finite and non-negative (lat/lon apart)
NUMBERS = [
    ("horizon_h",),
    ("commodities", 0, "weight_t"),
    ("commodities", 0, "volume_m3"),
    ("nodes", DEPOT, "stock", "rice"),
    ("nodes", SITE, "need", "rice"),
    ("nodes", SITE, "population"),
    ("nodes", SITE, "service_h"),
    ("nodes", SITE, "window", 0),
    ("roads", 0, "km"),
    ("roads", 0, "hours"),
    ("roads", 0, "risk"),
    ("roads", 2, "max_weight_t"),
    ("fleet", 0, "count"),
    ("fleet", 0, "capacity_t"),
    ("fleet", 0, "capacity_m3"),
    ("fleet", 0, "cost_per_km"),
    ("escorts", 0, "count"),
    ("escorts", 0, "effectiveness"),
    ("escorts", 0, "cost_per_km"),
    ("policy", "risk_threshold"),
    ("policy", "max_risk"),
    ("policy", "min_coverage"),
    ("policy", "parity_tolerance"),
]


@pytest.mark.parametrize("path", NUMBERS, ids=_jp)
@pytest.mark.parametrize("bad,shown", [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
                         ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused(path, bad, shown):
    err = refused(_set(base(), path, bad))
    assert_names(err, _jp(path), shown)


@pytest.mark.parametrize("path", NUMBERS + [("nodes", SITE, "window", 1)], ids=_jp)
def test_negative_numbers_are_refused(path):
    data = base()
    value = -3 if path[-1] in {"count", "population"} else -3.25
    err = refused(_set(data, path, value))
    assert_names(err, _jp(path), str(value))


def test_nan_literal_in_a_json_file_is_refused(tmp_path):
    text = json.dumps(base()).replace('"km": 40', '"km": NaN')
    assert "NaN" in text
    f = tmp_path / "s.json"
    f.write_text(text)
    err = pytest.raises(ScenarioError, load_scenario, f).value
    assert_names(err, "roads[2].km", "NaN")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "[1, -Infinity]"])
def test_nan_in_a_user_key_is_refused_or_kept(literal):
    """§1: "a number is NaN or infinite" makes a scenario invalid, and x_ keys "are kept as they
    are": a NaN in a user key may be refused, but never silently turned into something else."""
    text = json.dumps(base())[:-1] + f', "x_score": {literal}}}'
    try:
        first = Scenario.from_json(text)
    except ScenarioError as err:
        assert "x_score" in str(err)
        return
    again = Scenario.from_json(first.to_json())
    assert json.dumps(again.user_keys()["x_score"]) == literal


def test_horizon_zero_is_refused():
    err = refused(_set(base(), ("horizon_h",), 0))
    assert_names(err, "horizon_h", "0")


def test_weight_zero_is_refused():
    err = refused(_set(base(), ("commodities", 1, "weight_t"), 0))
    assert_names(err, "commodities[1].weight_t", "0")


@pytest.mark.parametrize(
    "field,value,ok",
    [
        ("lat", 90.5, False), ("lat", -90.01, False), ("lon", 180.5, False), ("lon", -181, False),
        ("lat", 90, True), ("lat", -90, True), ("lon", 180, True), ("lon", -180, True),
        ("lat", -45.5, True), ("lon", -120.25, True),
    ],
)
def test_lat_lon_ranges(field, value, ok):
    data = _set(base(), ("nodes", JUNCTION, field), value)
    if ok:
        assert getattr(Scenario.from_dict(data).node("J"), field) == value
    else:
        assert_names(refused(data), f"nodes[{JUNCTION}].{field}", str(value))


@pytest.mark.parametrize(
    "path,value,ok",
    [
        (("roads", 0, "risk"), 1, False),
        (("roads", 0, "risk"), 1.5, False),
        (("roads", 0, "risk"), 0.999, True),
        (("roads", 0, "risk"), 0, True),
        (("escorts", 0, "effectiveness"), 1.2, False),
        (("escorts", 0, "effectiveness"), 1, True),
        (("policy", "max_risk"), 1.1, False),
        (("policy", "min_coverage"), 1.01, False),
        (("policy", "min_coverage"), 1, True),
    ],
    ids=lambda v: _jp(v) if isinstance(v, tuple) else str(v),
)
def test_probability_ranges(path, value, ok):
    data = _set(base(), path, value)
    if ok:
        Scenario.from_dict(data)
    else:
        assert_names(refused(data), _jp(path), str(value))


def test_risk_threshold_above_one_is_refused():
    data = base()
    data["policy"]["risk_threshold"] = 1.5
    data["policy"]["max_risk"] = 1.0
    assert_names(refused(data), "policy.risk_threshold", "1.5")


def test_risk_threshold_above_max_risk_is_refused():
    data = base()
    data["policy"]["risk_threshold"] = 0.3
    err = refused(data)
    assert "policy.risk_threshold" in str(err) or "policy.max_risk" in str(err)
    assert "0.3" in str(err) and "0.2" in str(err)


def test_risk_threshold_above_default_max_risk_is_refused():
    data = base()
    data["policy"] = {"risk_threshold": 0.25}  # max_risk defaults to 0.2
    err = refused(data)
    assert "0.25" in str(err)
    assert "policy.risk_threshold" in str(err) or "policy.max_risk" in str(err)


def test_risk_threshold_equal_to_max_risk_is_accepted():
    data = base()
    data["policy"]["risk_threshold"] = 0.2
    assert Scenario.from_dict(data).policy.risk_threshold == 0.2


# ----- duplicated ids -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["commodities", "parties", "zones", "nodes", "organizations", "fleet", "escorts"])
def test_duplicated_id_in_each_list(kind):
    data = base()
    dup = json.loads(json.dumps(data[kind][1]))
    dup["id"] = data[kind][0]["id"]
    data[kind].append(dup)
    err = refused(data)
    index = len(data[kind]) - 1
    paths = [p for p, _ in err.problems]
    assert any(p in (f"{kind}[{index}].id", f"{kind}[{index}]") for p in paths), paths
    assert data[kind][0]["id"] in str(err)


# ----- dangling references --------------------------------------------------------------------
REFERENCES = [
    (("parties", 0, "opposes", 0), "nobody"),
    (("zones", 0, "controlled_by"), "nobody"),
    (("nodes", JUNCTION, "zone"), "Z_none"),
    (("roads", 0, "a"), "NOWHERE"),
    (("roads", 0, "b"), "NOWHERE"),
    (("fleet", 0, "organization"), "no_org"),
    (("fleet", 0, "depot"), "NOWHERE"),
    (("escorts", 0, "provider"), "nobody"),
    (("escorts", 0, "base"), "NOWHERE"),
]


@pytest.mark.parametrize("path,value", REFERENCES, ids=lambda v: _jp(v) if isinstance(v, tuple) else v)
def test_dangling_reference_is_refused(path, value):
    err = refused(_set(base(), path, value))
    assert_names(err, _jp(path), value)


@pytest.mark.parametrize("index,field", [(DEPOT, "stock"), (SITE, "need")])
def test_unknown_commodity_in_stock_or_need_is_refused(index, field):
    data = base()
    data["nodes"][index][field]["caviar"] = 3
    err = refused(data)
    assert "caviar" in str(err)
    assert any(p.startswith(f"nodes[{index}].{field}") for p, _ in err.problems), err.problems


@pytest.mark.parametrize("value", [5, None, ["D"]])
def test_fleet_depot_of_the_wrong_type_is_named(value):
    err = refused(_set(base(), ("fleet", 0, "depot"), value))
    assert_names(err, "fleet[0].depot", json.dumps(value))


@pytest.mark.parametrize("where", ["S1", "J"])
def test_fleet_depot_that_is_not_a_depot_is_refused(where):
    err = refused(_set(base(), ("fleet", 0, "depot"), where))
    assert_names(err, "fleet[0].depot", where)


# ----- roads on the same pair -----------------------------------------------------------------
def _with_extra_road(first: dict, second: dict) -> dict:
    data = base()
    data["nodes"].append({"id": "P", "kind": "junction", "lat": 1, "lon": 1})
    data["nodes"].append({"id": "R", "kind": "junction", "lat": 1, "lon": 2})
    data["roads"] += [dict(first, km=1, hours=1, risk=0), dict(second, km=2, hours=2, risk=0)]
    return data


@pytest.mark.parametrize(
    "first,second,ok",
    [
        ({"a": "P", "b": "R"}, {"a": "P", "b": "R"}, False),
        ({"a": "P", "b": "R"}, {"a": "R", "b": "P"}, False),
        ({"a": "P", "b": "R", "oneway": True}, {"a": "P", "b": "R", "oneway": True}, False),
        ({"a": "P", "b": "R", "oneway": True}, {"a": "R", "b": "P"}, False),
        ({"a": "P", "b": "R"}, {"a": "R", "b": "P", "oneway": True}, False),
        ({"a": "P", "b": "R"}, {"a": "P", "b": "R", "oneway": True}, False),
        ({"a": "P", "b": "R", "oneway": True}, {"a": "R", "b": "P", "oneway": True}, True),
    ],
    ids=["two-way twice", "two-way reversed", "one-way twice", "one-way then two-way reversed",
         "two-way then one-way reversed", "two-way then one-way same", "one-way both directions ok"],
)
def test_roads_on_the_same_pair(first, second, ok):
    data = _with_extra_road(first, second)
    if ok:
        s = Scenario.from_dict(data)
        assert [(r.a, r.b, r.oneway) for r in s.roads[-2:]] == [("P", "R", True), ("R", "P", True)]
    else:
        err = refused(data)
        index = len(data["roads"]) - 1
        assert any(p.startswith(f"roads[{index}]") for p, _ in err.problems), err.problems
        assert "P" in str(err) and "R" in str(err)


def test_closed_road_still_counts_for_the_pair_rule():
    data = base()
    data["roads"].append({"a": "S2", "b": "D", "km": 3, "hours": 1, "risk": 0})  # D-S2 exists, closed
    err = refused(data)
    assert any(p.startswith("roads[13]") for p, _ in err.problems), err.problems


# ----- site and count rules -------------------------------------------------------------------
@pytest.mark.parametrize("need", [{"rice": 0}, {"rice": 0, "tent": 0}, {}])
def test_need_without_positive_quantity_is_refused(need):
    err = refused(_set(base(), ("nodes", SITE, "need"), need))
    assert any(p.startswith(f"nodes[{SITE}].need") for p, _ in err.problems), err.problems
    shown = str(err).split("value", 1)[-1]
    assert all(commodity in shown for commodity in need) and ("{}" in shown or need)


@pytest.mark.parametrize(
    "path,value",
    [
        (("fleet", 0, "count"), 1.5),
        (("escorts", 0, "count"), 0.5),
        (("fleet", 0, "count"), -1),
        (("nodes", SITE, "severity"), 2.5),
        (("nodes", SITE, "severity"), 0),
        (("nodes", SITE, "severity"), 6),
        (("nodes", SITE, "population"), 10.5),
        (("nodes", SITE, "population"), -1),
        (("fleet", 0, "count"), "2"),
        (("nodes", SITE, "severity"), True),
    ],
    ids=lambda v: _jp(v) if isinstance(v, tuple) else repr(v),
)
def test_non_whole_or_out_of_range_counts_are_refused(path, value):
    err = refused(_set(base(), path, value))
    assert_names(err, _jp(path), json.dumps(value))


@pytest.mark.parametrize("path,value", [(("fleet", 0, "count"), 3.0), (("nodes", SITE, "severity"), 5.0),
                                        (("nodes", SITE, "population"), 0), (("fleet", 0, "count"), 0)],
                         ids=lambda v: _jp(v) if isinstance(v, tuple) else repr(v))
def test_whole_numbers_written_as_floats_are_accepted(path, value):
    s = Scenario.from_dict(_set(base(), path, value))
    got = s.fleet[0].count if path[0] == "fleet" else getattr(s.node("S1"), path[-1])
    assert got == value


@pytest.mark.parametrize("window", [[8.5, 3.5], [12.5, 12.25]])
def test_window_closing_before_opening_is_refused(window):
    err = refused(_set(base(), ("nodes", SITE, "window"), window))
    assert_names(err, f"nodes[{SITE}].window", json.dumps(window))


def test_window_of_zero_length_is_accepted():
    s = Scenario.from_dict(_set(base(), ("nodes", SITE, "window"), [6, 6]))
    assert tuple(s.node("S1").window) == (6, 6)


# ----- unknown keys at every level ------------------------------------------------------------
UNKNOWN = [
    ((), "generator", "solver-x"),
    (("commodities", 0), "weight", 3),
    (("parties", 0), "oposes", ["reb"]),
    (("zones", 0), "acess", "denied"),
    (("nodes", DEPOT), "unit", "t"),
    (("nodes", JUNCTION), "unit", "t"),
    (("nodes", SITE), "unit", "t"),
    (("nodes", SITE), "need_t", 4),
    (("roads", 2), "max_weight", 10),
    (("organizations", 0), "escorts_policy", "never"),
    (("fleet", 0), "capacity", 9),
    (("escorts", 0), "eff", 0.5),
    (("policy",), "min_cover", 0.5),
]


@pytest.mark.parametrize("where,key,value", UNKNOWN, ids=lambda v: _jp(v) if isinstance(v, tuple) else str(v))
def test_unknown_key_is_refused_and_named(where, key, value):
    data = base()
    target = data
    for part in where:
        target = target[part]
    target[key] = value
    err = refused(data)
    path = f"{_jp(where)}.{key}" if where else key
    paths = [p for p, _ in err.problems]
    assert path in paths, paths
    assert path in str(err)


@pytest.mark.parametrize("index,key,value", [(JUNCTION, "stock", {"rice": 1}), (SITE, "stock", {"rice": 1}),
                                             (DEPOT, "need", {"rice": 1}), (JUNCTION, "severity", 3),
                                             (DEPOT, "window", [0, 1])])
def test_extras_of_another_node_kind_are_unknown_keys(index, key, value):
    data = base()
    data["nodes"][index][key] = value
    assert f"nodes[{index}].{key}" in [p for p, _ in refused(data).problems]


@pytest.mark.parametrize("window", [[1, 2, 3], [5], "5-9", [None, 4]])
def test_window_of_the_wrong_shape_is_refused(window):
    err = refused(_set(base(), ("nodes", SITE, "window"), window))
    assert any(p.startswith(f"nodes[{SITE}].window") for p, _ in err.problems), err.problems


def test_misspelt_max_weight_never_silently_drops_the_bridge_limit():
    data = base()
    del data["roads"][2]["max_weight_t"]
    data["roads"][2]["max_weight"] = 10
    err = refused(data)
    assert "roads[2].max_weight" in str(err)


@pytest.mark.parametrize(
    "where,key",
    [((), "name"), (("commodities", 0), "name"), (("zones", 0), "name"), (("nodes", SITE), "note"),
     (("roads", 0), "name"), (("commodities", 1), "unit"), (("escorts", 0), "note")],
    ids=lambda v: _jp(v) if isinstance(v, tuple) else str(v),
)
def test_name_note_unit_must_be_strings(where, key):
    data = base()
    target = data
    for part in where:
        target = target[part]
    target[key] = 5
    err = refused(data)
    path = f"{_jp(where)}.{key}" if where else key
    assert_names(err, path, "5")


@pytest.mark.parametrize("value", [[1, 2], {"x": 1}, True])
def test_scenario_name_of_other_types_is_refused(value):
    err = refused(_set(base(), ("name",), value))
    assert "name" in [p for p, _ in err.problems]


def test_other_format_is_refused():
    err = refused(_set(base(), ("format",), "allocate.scenario/2"))
    assert_names(err, "format", "allocate.scenario/2")


@pytest.mark.parametrize("field", ["horizon_h", "commodities", "nodes", "roads", "fleet", "escorts", "name"])
def test_missing_required_top_level_field_is_refused(field):
    data = base()
    del data[field]
    err = refused(data)
    assert field in [p for p, _ in err.problems]


@pytest.mark.parametrize("path", [("roads", 0, "risk"), ("nodes", SITE, "severity"), ("nodes", SITE, "need"),
                                  ("fleet", 0, "capacity_t"), ("escorts", 0, "effectiveness"),
                                  ("organizations", 0, "military_assets"), ("parties", 0, "kind"),
                                  ("fleet", 0, "depot"), ("escorts", 0, "base")],
                         ids=_jp)
def test_missing_required_entity_field_is_refused(path):
    data = base()
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    assert _jp(path) in [p for p, _ in refused(data).problems]


@pytest.mark.parametrize("path,value", [(("parties", 0, "kind"), "militia"), (("zones", 0, "access"), "closed"),
                                        (("nodes", JUNCTION, "kind"), "warehouse"),
                                        (("organizations", 0, "escort_policy"), "sometimes"),
                                        (("policy", "party_escorts"), "opposed")],
                         ids=lambda v: _jp(v) if isinstance(v, tuple) else v)
def test_unknown_enumeration_value_is_refused(path, value):
    err = refused(_set(base(), path, value))
    assert value in str(err)
    assert any(p.startswith(_jp(path[:2])) for p, _ in err.problems), err.problems


def test_every_problem_is_reported_at_once():
    data = base()
    data["roads"][0]["km"] = -1
    data["fleet"][0]["count"] = 1.5
    data["zones"][0]["acess"] = "open"
    paths = {p for p, _ in refused(data).problems}
    assert {"roads[0].km", "fleet[0].count", "zones[0].acess"} <= paths


# ----- valid edge cases -----------------------------------------------------------------------
def _decorate(data: dict) -> dict:
    data["note"] = "top note"
    data["x_source"] = {"who": "me", "rev": [1, 2]}
    for kind in ("commodities", "parties", "zones", "nodes", "roads", "organizations", "fleet", "escorts"):
        for i, item in enumerate(data[kind]):
            item["name"] = f"{kind} {i}"
            item["note"] = f"note {i}"
            item[f"x_{kind}"] = i
    data["commodities"][0]["unit"] = "bag"
    return data


def test_name_note_unit_and_user_keys_are_accepted_and_kept():
    data = _decorate(base())
    s = Scenario.from_dict(data)
    assert s.commodities[0].unit == "bag"
    out = s.to_dict()
    assert out["x_source"] == {"who": "me", "rev": [1, 2]}
    assert out["note"] == "top note"
    for kind in ("commodities", "parties", "zones", "nodes", "roads", "organizations", "fleet", "escorts"):
        for i, item in enumerate(out[kind]):
            assert item["name"] == f"{kind} {i}" and item["note"] == f"note {i}"
            assert item[f"x_{kind}"] == i


def test_two_one_way_roads_in_opposite_directions_are_accepted():
    data = base()
    data["roads"].append({"a": "D", "b": "NB", "km": 7, "hours": 0.7, "risk": 0, "oneway": True})
    s = Scenario.from_dict(data)
    assert {(r.a, r.b) for r in s.roads if r.oneway} == {("NB", "D"), ("D", "NB")}


def test_defaults_are_applied():
    data = {
        "format": "allocate.scenario/1", "name": "minimal", "horizon_h": 10,
        "commodities": [{"id": "w", "weight_t": 0.001, "volume_m3": 0}],
        "parties": [{"id": "p", "kind": "un"}],
        "zones": [{"id": "z"}],
        "nodes": [
            {"id": "D", "kind": "depot", "lat": 0, "lon": 0},
            {"id": "S", "kind": "site", "lat": 0, "lon": 1, "need": {"w": 1}, "severity": 1},
        ],
        "roads": [{"a": "D", "b": "S", "km": 1, "hours": 1, "risk": 0}],
        "organizations": [{"id": "o", "escort_policy": "accept", "military_assets": "never"}],
        "fleet": [{"id": "f", "organization": "o", "depot": "D", "count": 1, "capacity_t": 1, "capacity_m3": 1}],
        "escorts": [{"id": "e", "provider": "p", "base": "D", "count": 1, "effectiveness": 0.5}],
    }
    s = Scenario.from_dict(data)
    assert tuple(s.parties[0].opposes) == ()
    assert s.zones[0].controlled_by is None and s.zones[0].access == "open"
    assert s.node("D").zone is None and dict(s.node("D").stock) == {}
    site = s.node("S")
    assert site.population == 0 and site.window is None and site.service_h == 0
    road = s.roads[0]
    assert road.closed is False and road.oneway is False and road.max_weight_t is None
    assert s.fleet[0].military is False and s.fleet[0].cost_per_km == 0
    assert s.escorts[0].cost_per_km == 0
    p = s.policy
    assert (p.risk_threshold, p.max_risk, p.min_coverage, p.parity_tolerance, p.party_escorts) == (
        0.05, 0.2, 0, 1.0, "non_opposed")


def test_policy_with_some_fields_keeps_the_other_defaults():
    data = base()
    data["policy"] = {"min_coverage": 0.25}
    p = Scenario.from_dict(data).policy
    assert (p.risk_threshold, p.max_risk, p.min_coverage, p.parity_tolerance, p.party_escorts) == (
        0.05, 0.2, 0.25, 1.0, "non_opposed")


def test_fractional_quantities_are_accepted():
    data = base()
    data["nodes"][DEPOT]["stock"] = {"rice": 12.5, "tent": 0.25}
    data["nodes"][SITE]["need"] = {"rice": 0.75, "tent": 0}
    s = Scenario.from_dict(data)
    assert dict(s.node("D").stock) == {"rice": 12.5, "tent": 0.25}
    assert dict(s.node("S1").need) == {"rice": 0.75, "tent": 0}


# ----- files --------------------------------------------------------------------------------
def test_missing_file_gives_scenario_error(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


def test_directory_gives_scenario_error(tmp_path):
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path)


@pytest.mark.parametrize("text", ['{"format": "allocate.scenario/1",', "", "not json", "[1, 2]", "null", "42"])
def test_bad_json_gives_scenario_error(tmp_path, text):
    f = tmp_path / "bad.json"
    f.write_text(text)
    with pytest.raises(ScenarioError):
        load_scenario(f)


def test_non_utf8_file_gives_scenario_error(tmp_path):
    f = tmp_path / "bin.json"
    f.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ScenarioError):
        load_scenario(f)


# ----- round trip ---------------------------------------------------------------------------
def test_round_trip_of_the_fixture_is_exact(tmp_path):
    data = _decorate(base())
    first = Scenario.from_dict(data)
    path = tmp_path / "a.json"
    path.write_text(first.to_json())
    second = load_scenario(path)
    assert second == first
    assert second.to_dict() == first.to_dict()
    assert second.to_json() == path.read_text()
    # the written data still says everything the input said
    out = json.loads(path.read_text())
    assert out["roads"][2]["max_weight_t"] == 10
    assert out["nodes"][SITE]["window"] == [4, 12]
    assert out["x_source"] == data["x_source"]


NODE_IDS = ["N0", "N1", "N2", "N3", "N4"]
finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
prob = st.floats(min_value=0, max_value=1, allow_nan=False, allow_infinity=False)
text = st.text(alphabet="abcxyz éλ-_ ", max_size=8)


@st.composite
def scenarios(draw):
    n_nodes = draw(st.integers(2, 5))
    ids = NODE_IDS[:n_nodes]
    kinds = ["depot"] + [draw(st.sampled_from(["site", "junction", "depot"])) for _ in ids[1:]]
    nodes = []
    for node_id, kind in zip(ids, kinds):
        n = {"id": node_id, "kind": kind,
             "lat": draw(st.floats(-90, 90, allow_nan=False)), "lon": draw(st.floats(-180, 180, allow_nan=False)),
             "zone": draw(st.sampled_from([None, "z0", "z1"]))}
        if kind == "depot" and draw(st.booleans()):
            n["stock"] = {"c0": draw(finite)}
        if kind == "site":
            n["need"] = {"c0": draw(st.floats(0.001, 1e5, allow_nan=False)), "c1": draw(finite)}
            n["severity"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                n["population"] = draw(st.integers(0, 10**7))
            if draw(st.booleans()):
                lo = draw(finite)
                n["window"] = [lo, lo + draw(finite)]
            if draw(st.booleans()):
                n["service_h"] = draw(finite)
        if draw(st.booleans()):
            n["x_tag"] = draw(text)
        nodes.append(n)
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    roads = []
    for a, b in chosen:
        r = {"a": a, "b": b, "km": draw(finite), "hours": draw(finite),
             "risk": draw(st.floats(0, 0.999, allow_nan=False))}
        for key, strat in (("closed", st.booleans()), ("oneway", st.booleans()), ("max_weight_t", finite),
                           ("name", text)):
            if draw(st.booleans()):
                r[key] = draw(strat)
        roads.append(r)
    threshold = draw(prob)
    data = {
        "format": "allocate.scenario/1",
        "name": draw(text),
        "horizon_h": draw(st.floats(0.01, 1e4, allow_nan=False)),
        "commodities": [{"id": "c0", "weight_t": draw(st.floats(1e-6, 100, allow_nan=False)), "volume_m3": draw(finite)},
                        {"id": "c1", "weight_t": 1, "volume_m3": 0, "unit": draw(text)}],
        "parties": [{"id": "p0", "kind": draw(st.sampled_from(["state", "non_state", "un", "neutral"])),
                     "opposes": draw(st.lists(st.sampled_from(["p1"]), max_size=1))},
                    {"id": "p1", "kind": "neutral"}],
        "zones": [{"id": "z0", "controlled_by": draw(st.sampled_from([None, "p0", "p1"])),
                   "access": draw(st.sampled_from(["open", "denied"]))},
                  {"id": "z1"}],
        "nodes": nodes,
        "roads": roads,
        "organizations": [{"id": "o", "escort_policy": draw(st.sampled_from(["never", "last_resort", "accept"])),
                           "military_assets": draw(st.sampled_from(["never", "last_resort", "accept"]))}],
        "fleet": [{"id": "f", "organization": "o", "depot": "N0", "count": draw(st.integers(0, 50)),
                   "capacity_t": draw(finite), "capacity_m3": draw(finite), "military": draw(st.booleans())}],
        "escorts": [{"id": "e", "provider": "p1", "base": draw(st.sampled_from(ids)), "count": draw(st.integers(0, 5)),
                     "effectiveness": draw(prob), "cost_per_km": draw(finite)}],
    }
    if draw(st.booleans()):
        data["policy"] = {"risk_threshold": threshold, "max_risk": draw(st.floats(threshold, 1)),
                          "min_coverage": draw(prob), "parity_tolerance": draw(finite),
                          "party_escorts": draw(st.sampled_from(["forbidden", "non_opposed", "any"]))}
    if draw(st.booleans()):
        data["x_meta"] = {"k": [draw(text)]}
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_round_trip_of_random_valid_scenarios(data):
    first = Scenario.from_dict(data)
    text1 = first.to_json()
    second = Scenario.from_json(text1)
    assert second == first
    assert second.to_json() == text1
    # nothing the user wrote is lost or changed
    out = json.loads(text1)
    for key in ("name", "horizon_h"):
        assert out[key] == data[key]
    assert [r.get("max_weight_t") for r in out["roads"]] == [r.get("max_weight_t") for r in data["roads"]]
    assert [n.get("x_tag") for n in out["nodes"]] == [n.get("x_tag") for n in data["nodes"]]
    assert out.get("x_meta") == data.get("x_meta")
