"""GeoJSON out (scenario, plan) and roads in: RFC 7946 shape, [lon, lat] order, round trips."""

from __future__ import annotations

import json

import pytest

from allocate.errors import PlanError, TableError
from allocate.io.geojson import haversine_km, plan_to_geojson, roads_from_geojson, scenario_to_geojson
from allocate.scenario import Scenario

from io_cases import PLAN_00, TINY, VECTOR_SCENARIO, run_cli

ROAD_FIELDS = ("a", "b", "km", "hours", "risk", "closed", "oneway", "max_weight_t")


def assert_rfc7946(fc: dict) -> None:
    """The parts of RFC 7946 a GIS reader relies on."""
    assert fc["type"] == "FeatureCollection" and isinstance(fc["features"], list)
    for feature in fc["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        if geometry["type"] == "Point":
            positions = [geometry["coordinates"]]
        else:
            assert geometry["type"] == "LineString" and len(geometry["coordinates"]) >= 2
            positions = geometry["coordinates"]
        for lon, lat in positions:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
    json.dumps(fc, allow_nan=False)  # no NaN anywhere (RFC 8259)


def by_id(fc: dict) -> dict[str, dict]:
    return {f["id"]: f for f in fc["features"]}


def test_plan_00_geojson_features_properties_and_round_trip(vector_scenario, plan00):
    fc = plan_to_geojson(vector_scenario, plan00)
    assert_rfc7946(fc)
    features = by_id(fc)
    assert sorted(features) == sorted([f"node:{n.id}" for n in vector_scenario.nodes] + ["convoy:A", "convoy:B"])
    # [lon, lat]: the vectors put every node at lat 5, lon 30
    assert features["node:D"]["geometry"]["coordinates"] == [30.0, 5.0]
    s1 = features["node:S1"]["properties"]
    assert s1["node"] == "S1" and s1["feature_type"] == "node"
    assert (s1["kind"], s1["need_food"], s1["delivered_food"], s1["coverage"], s1["unmet"]) == ("site", 100.0, 100.0, 1.0, False)
    s3 = features["node:S3"]["properties"]
    assert s3["unmet"] is True and s3["unmet_reasons"] == "no_path,too_far,too_risky"
    assert s3["denied"] is True and s3["zone_access"] == "denied" and s3["coverage"] == 0.0
    a = features["convoy:A"]
    assert a["geometry"]["type"] == "LineString" and len(a["geometry"]["coordinates"]) == len(plan00.convoys[0].path)
    props = a["properties"]
    assert (props["convoy"], props["organization"], props["escort"], props["escorted"]) == ("A", "army", "E1", True)
    assert props["risk"] == pytest.approx(plan00.metrics["max_route_risk"])
    assert props["km"] == 60.0 and props["path"] == "D,J,S1,J,D"
    assert json.loads(json.dumps(fc)) == fc


def test_coordinates_are_lon_lat_on_distinct_positions(tiny, tiny_plan):
    fc = plan_to_geojson(tiny, tiny_plan, roads=True)
    assert_rfc7946(fc)
    features = by_id(fc)
    d1 = tiny.node("D1")
    assert features["node:D1"]["geometry"]["coordinates"] == [d1.lon, d1.lat] == [20.0, 12.0]
    c2 = features["convoy:c2"]["geometry"]["coordinates"]
    assert c2 == [[tiny.node(n).lon, tiny.node(n).lat] for n in tiny_plan.convoys[1].path]
    assert features["convoy:c3"]["properties"]["escort_provider"] == "un"
    assert features["convoy:c1"]["properties"]["escorted"] is False
    assert features["node:S09"]["properties"]["unmet_reasons"] == "not_enough_trucks"
    assert features["node:S04"]["properties"]["coverage"] == pytest.approx(150 * 0.05 / (150 * 0.05 + 500 * 0.03 + 2.5 * 0.2))
    assert sum(1 for f in fc["features"] if f["properties"]["feature_type"] == "road") == len(tiny.roads)
    assert fc["bbox"] == [19.8, 12.0, 20.45, 13.25]


def test_a_plan_for_another_scenario_is_refused(tiny, plan00):
    with pytest.raises(PlanError, match=r"node 'D' is not in scenario 'tiny'"):
        plan_to_geojson(tiny, plan00)


def test_roads_from_geojson_reads_back_what_scenario_to_geojson_wrote(tiny, tmp_path):
    fc = scenario_to_geojson(tiny)
    assert_rfc7946(fc)
    path = tmp_path / "tiny.geojson"
    path.write_text(json.dumps(fc), encoding="utf-8")
    roads = roads_from_geojson(path)
    assert len(roads) == len(tiny.roads)
    for read, road in zip(roads, tiny.roads):
        for field in ROAD_FIELDS:
            assert read.get(field) == getattr(road, field), (field, read, road)
        assert read.get("note") == road.note
        assert read["x_source"]["file"] == "tiny.geojson"
    rebuilt = Scenario.from_dict(dict(tiny.to_dict(), roads=roads))
    assert [tuple(getattr(r, f) for f in ROAD_FIELDS) for r in rebuilt.roads] == [
        tuple(getattr(r, f) for f in ROAD_FIELDS) for r in tiny.roads]


def test_km_is_geodesic_when_absent_and_defaults_are_recorded():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": "P", "b": "Q"},
         "geometry": {"type": "LineString", "coordinates": [[30.0, 5.0], [30.0, 5.5], [30.0, 6.0]]}},
        {"type": "Feature", "properties": {"id": "P"}, "geometry": {"type": "Point", "coordinates": [30.0, 5.0]}},
    ]}
    (road,) = roads_from_geojson(fc, speed_kmh=40.0, default_risk=0.01)
    assert road["km"] == pytest.approx(111.195, abs=0.01)  # one degree of latitude on the mean sphere
    assert road["hours"] == pytest.approx(road["km"] / 40.0) and road["risk"] == 0.01
    assert road["x_source"]["defaults"] == ["km", "hours", "risk"]
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(111.195, abs=0.01)


@pytest.mark.parametrize(
    "properties, geometry, message",
    [
        ({"b": "Q", "hours": 1, "risk": 0}, None, "property 'a' must name the node"),
        ({"a": "P", "b": "Q", "risk": 0}, None, "property 'hours' is missing"),
        ({"a": "P", "b": "Q", "hours": 1}, None, "property 'risk' is missing"),
        ({"a": "P", "b": "Q", "hours": 1, "risk": 1.5}, None, "risk must lie in"),
        ({"a": "P", "b": "Q", "hours": "2", "risk": 0}, None, "property 'hours' must be a number"),
        ({"a": "P", "b": "Q", "hours": 1, "risk": 0, "closed": "yes"}, None, "must be true or false"),
        ({"a": "P", "b": "Q", "hours": 1, "risk": 0}, {"type": "LineString", "coordinates": [[5.0, 200.0], [5.0, 6.0]]}, "coordinates"),
        ({"a": "P", "b": "Q", "hours": 1, "risk": 0}, {"type": "Polygon", "coordinates": []}, "must be a LineString"),
    ],
)
def test_bad_road_features_are_refused_naming_the_feature(properties, geometry, message):
    geometry = geometry or {"type": "LineString", "coordinates": [[30.0, 5.0], [30.1, 5.0]]}
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": properties, "geometry": geometry}]}
    with pytest.raises(TableError, match=message) as info:
        roads_from_geojson(fc)
    assert "features[0]" in str(info.value)


def test_other_properties_are_kept_and_plan_files_are_not_roads(vector_scenario, plan00):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": "P", "b": "Q", "hours": 1, "risk": 0, "highway": "trunk", "x_owner": "MoT"},
         "geometry": {"type": "LineString", "coordinates": [[30.0, 5.0], [30.1, 5.0]]}},
        *plan_to_geojson(vector_scenario, plan00)["features"],
    ]}
    (road,) = roads_from_geojson(fc)
    assert road["x_properties"] == {"highway": "trunk"} and road["x_owner"] == "MoT"


def test_cli_export_writes_geojson_csv_png_and_refuses_bad_input(tmp_path):
    out = tmp_path / "plan.geojson"
    result = run_cli("export", VECTOR_SCENARIO, PLAN_00, "--geojson", out, "--csv", tmp_path / "csv", "--hxl", "--png", tmp_path / "map.png", "--dpi", "40")
    assert result.code == 0, result.out
    assert_rfc7946(json.loads(out.read_text(encoding="utf-8")))
    assert (tmp_path / "csv" / "deliveries.csv").read_text(encoding="utf-8").splitlines()[1].startswith("#")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for args in (
        [TINY, PLAN_00, "--geojson", out],  # a plan answering another scenario
        [VECTOR_SCENARIO, tmp_path / "nowhere.json", "--geojson", out],
        [VECTOR_SCENARIO, PLAN_00],  # nothing to export
        [VECTOR_SCENARIO, PLAN_00, "--hxl"],
        [VECTOR_SCENARIO, PLAN_00, "--png", tmp_path / "x.png", "--dpi", "5"],
        [tmp_path / "plan.geojson", PLAN_00, "--png", tmp_path / "x.png"],  # not a scenario
    ):
        result = run_cli("export", *args)
        assert result.code == 2, (args, result.out)
        assert result.one_line_error(), result.out


def test_cli_import_sites_with_geojson_roads_connects_the_new_sites(tmp_path):
    from allocate.access import AccessFacts
    from allocate.scenario import load_scenario

    table = tmp_path / "camps.csv"
    table.write_text("id,name,lat,lon,population,severity,need_food\nX1,New camp,11.9,19.9,500,4,20\n", encoding="utf-8")
    roads = tmp_path / "roads.geojson"
    roads.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": "D1", "b": "X1", "risk": 0.0},
         "geometry": {"type": "LineString", "coordinates": [[20.0, 12.0], [19.95, 11.95], [19.9, 11.9]]}}]}), encoding="utf-8")
    out = tmp_path / "s.json"
    result = run_cli("import-sites", TINY, table, "-o", out, "--roads", roads, "--speed-kmh", "30")
    assert result.code == 0, result.out
    scenario = load_scenario(out)
    road = scenario.roads[-1]
    assert (road.a, road.b) == ("D1", "X1") and road.km == pytest.approx(15.6, abs=0.2)
    assert road.hours == pytest.approx(road.km / 30) and road.user_keys()["x_source"]["defaults"] == ["km", "hours"]
    assert AccessFacts(scenario).unreachable_reason("X1") is None
    result = run_cli("import-sites", TINY, table, "-o", out, "--roads", roads)  # hours missing, no speed
    assert result.code == 2 and result.one_line_error() and "features[0]" in result.out, result.out


def test_missing_road_ends_snap_to_the_nearest_node_within_snap_km(tiny):
    line = {"type": "LineString", "coordinates": [[20.001, 12.001], [20.2, 12.1], [20.349, 12.2]]}  # D1 ... S12
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"hours": 2, "risk": 0.0}, "geometry": line}]}
    (road,) = roads_from_geojson(fc, nodes=tiny)
    assert (road["a"], road["b"]) == ("D1", "S12")
    assert set(road["x_source"]["snapped"]) == {"a_km", "b_km"} and road["x_source"]["snapped"]["a_km"] < 0.2
    with pytest.raises(TableError, match=r"nearest node \(D1\) is .* km from the line's end"):
        roads_from_geojson(fc, nodes=tiny, snap_km=0.01)
    with pytest.raises(TableError, match="property 'a' must name the node"):
        roads_from_geojson(fc)  # without nodes nothing is guessed


def test_the_public_names_are_importable_from_allocate_io():
    import allocate.io as io
    from allocate.io import geojson

    assert io.plan_to_geojson is geojson.plan_to_geojson
    assert set(io.__all__) >= {"sites_from_table", "scenario_with_sites", "write_plan_csv", "roads_from_geojson", "plot_plan"}
    with pytest.raises(AttributeError):
        io.no_such_name  # noqa: B018
