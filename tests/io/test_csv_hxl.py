"""Sites and depots from CSV tables (HXL-tagged and plain), their merge into a scenario, and plan CSVs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from allocate.errors import AllocateError, TableError
from allocate.io.csv_hxl import (
    Tag,
    commodities_in_table,
    depots_from_table,
    read_table,
    scenario_with_sites,
    sites_from_table,
    write_plan_csv,
)
from allocate.scenario import load_scenario

from io_cases import MARKETS, TINY, run_cli


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----- HXL tags ---------------------------------------------------------------------------------
def test_tag_matching_is_by_hashtag_and_attribute_subset():
    assert Tag.parse("#geo +lat +precise").matches(Tag.parse("#geo+lat"))
    assert not Tag.parse("#geo+lat").matches(Tag.parse("#geo+lat+precise"))
    assert not Tag.parse("#geo+lon").matches(Tag.parse("#geo+lat"))
    assert Tag.parse("#LOC+Market+Code").matches(Tag.parse("#loc+code"))
    assert Tag.parse("latitude") is None and Tag.parse("") is None


# ----- the real WFP markets table ---------------------------------------------------------------
def test_real_wfp_markets_read_to_115_sites_with_names_coordinates_and_sources():
    sites = sites_from_table(MARKETS, commodities=["food"], default_need={"food": 100}, default_severity=3,
                             attribution="WFP VAM, CC BY-IGO")
    assert len(sites) == 115
    expected = pd.read_csv(MARKETS, skiprows=[1], dtype={"market_id": str})
    assert [s["id"] for s in sites] == list(expected["market_id"])
    assert [s["name"] for s in sites] == list(expected["market"])
    assert [s["lat"] for s in sites] == list(expected["latitude"])
    assert [s["lon"] for s in sites] == list(expected["longitude"])
    first = sites[0]
    assert first["id"] == "1384" and first["name"] == "Aweil Town"
    assert (first["lat"], first["lon"]) == (8.7428, 27.41)
    assert first["x_admin"] == {"adm1_name": "Northern Bahr el Ghazal", "adm2_name": "Aweil Centre"}
    # spreadsheet rows: header row 1, HXL row 2, data from row 3
    assert first["x_source"] == {"file": "ssd_wfp_markets.csv", "row": 3, "attribution": "WFP VAM, CC BY-IGO",
                                 "defaults": ["need.food", "severity"]}
    assert sites[-1]["x_source"]["row"] == 117
    assert all(s["zone"] is None and s["need"] == {"food": 100.0} for s in sites)


def test_real_markets_merge_into_a_valid_scenario(tiny):
    sites = sites_from_table(MARKETS, commodities=["food"], default_need={"food": 50}, default_severity=2, id_prefix="M")
    merged = scenario_with_sites(tiny, sites)
    assert len(merged.sites) == len(tiny.sites) + 115
    node = merged.node("M1384")
    assert node.name == "Aweil Town" and node.user_keys()["x_source"]["row"] == 3
    # the JSON keeps the attribution on a round trip
    again = load_scenario_from_text(merged.to_json())
    assert again.node("M1385").user_keys()["x_source"]["file"] == "ssd_wfp_markets.csv"


def load_scenario_from_text(text: str):
    from allocate.scenario import Scenario

    return Scenario.from_json(text)


def test_a_bad_row_of_the_real_table_is_refused_naming_file_row_column_value(tmp_path):
    lines = MARKETS.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[4].startswith("1386,Bor,")
    lines[4] = lines[4].replace("6.21", "6.21N")
    bad = write(tmp_path, "markets_bad.csv", "".join(lines))
    with pytest.raises(TableError) as info:
        sites_from_table(bad, commodities=["food"], default_need={"food": 1}, default_severity=3)
    err = info.value
    assert (err.file, err.row, err.value) == ("markets_bad.csv", 5, "6.21N")
    assert "latitude" in err.column and "#geo+lat" in err.column
    message = str(err)
    for part in ("markets_bad.csv", "row 5", "latitude", "6.21N"):
        assert part in message
    assert isinstance(err, AllocateError)


def test_missing_coordinate_is_refused_not_dropped(tmp_path):
    path = write(tmp_path, "s.csv", "id,name,lat,lon,severity,need_food\nA,a,1,2,3,10\nB,b,,2,3,10\n")
    with pytest.raises(TableError, match=r"s\.csv, row 3, column 'lat': latitude is missing"):
        sites_from_table(path, commodities=["food"])


# ----- plain headers ----------------------------------------------------------------------------
PLAIN = """id,name,lat,lon,population,severity,need_food,need_shelter,zone,window_open_h,window_close_h,service_h
X1,North camp,12.9,20.1,"4,000",4,240,800,Zc,6,18,1
X2,South camp,12.1,20.0,1500,2,90,0,Zg,,,
"""


def test_plain_headers_read_need_population_zone_window(tmp_path):
    sites = sites_from_table(write(tmp_path, "plain.csv", PLAIN), commodities=["food", "shelter"])
    x1, x2 = sites
    assert x1 == {
        "id": "X1", "kind": "site", "name": "North camp", "lat": 12.9, "lon": 20.1, "zone": "Zc",
        "need": {"food": 240.0, "shelter": 800.0}, "population": 4000, "severity": 4,
        "window": [6.0, 18.0], "service_h": 1.0, "x_source": {"file": "plain.csv", "row": 2},
    }
    assert x2["need"] == {"food": 90.0, "shelter": 0.0} and "window" not in x2 and x2["zone"] == "Zg"


@pytest.mark.parametrize(
    "cell, message",
    [
        ("", "need of food is missing"),
        ("lots", "need of food is not a number"),
        ("-5", "need of food is negative"),
        ("nan", "need of food is not a finite number"),
    ],
)
def test_a_bad_need_cell_names_row_column_and_value(tmp_path, cell, message):
    text = f"id,lat,lon,severity,need_food\nA,1,2,3,10\nB,1,2,3,{cell}\n"
    with pytest.raises(TableError) as info:
        sites_from_table(write(tmp_path, "n.csv", text), commodities=["food"])
    assert info.value.row == 3 and info.value.column == "'need_food'"
    assert message in str(info.value) and f"(value {cell!r})" in str(info.value)


def test_all_zero_need_severity_out_of_range_and_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(TableError, match="row 2.*need has no positive quantity"):
        sites_from_table(write(tmp_path, "z.csv", "id,lat,lon,severity,need_food\nA,1,2,3,0\n"), commodities=["food"])
    with pytest.raises(TableError, match=r"row 2, column 'severity': severity is not a whole number from 1 to 5 \(value '7'\)"):
        sites_from_table(write(tmp_path, "v.csv", "id,lat,lon,severity,need_food\nA,1,2,7,5\n"), commodities=["food"])
    with pytest.raises(TableError, match=r"row 3.*duplicated id 'A' \(already on row 2\)"):
        sites_from_table(write(tmp_path, "d.csv", "id,lat,lon,severity,need_food\nA,1,2,3,5\nA,1,2,3,5\n"), commodities=["food"])
    with pytest.raises(TableError, match="latitude outside"):
        sites_from_table(write(tmp_path, "l.csv", "id,lat,lon,severity,need_food\nA,120,2,3,5\n"), commodities=["food"])


def test_no_need_source_and_two_need_sources_are_refused(tmp_path):
    path = write(tmp_path, "p.csv", "id,lat,lon,severity,need_food\nA,1,2,3,5\n")
    with pytest.raises(TableError, match="no need for commodity 'medical'"):
        sites_from_table(path, commodities=["food", "medical"])
    with pytest.raises(TableError, match="given twice"):
        sites_from_table(path, commodities=["food"], default_need={"food": 3})
    with pytest.raises(TableError, match="ration/default_need name 'water'"):
        sites_from_table(path, commodities=["food"], default_need={"water": 3})
    with pytest.raises(TableError, match="no severity column"):
        sites_from_table(write(tmp_path, "q.csv", "id,lat,lon,need_food\nA,1,2,5\n"), commodities=["food"])


def test_blank_rows_are_skipped_but_row_numbers_stay_those_of_the_file(tmp_path):
    text = "id,lat,lon,severity,need_food\nA,1,2,3,5\n\n,,,,\nB,1,x,3,5\n"
    with pytest.raises(TableError) as info:
        sites_from_table(write(tmp_path, "b.csv", text), commodities=["food"])
    assert info.value.row == 5


# ----- HXL variants -----------------------------------------------------------------------------
HXL = """Site,P-code,County code,Lat,Lon,Total pop,Women,Men,People in need,Severity,Food (bags)
#loc+name,#loc+code,#adm2+code,#geo +lat +precise,#geo +lon +precise,#population +total,#population +f,#population +m,#inneed,#severity,#item +food
Camp A,SS01-A,SS0101,4.85,31.6,1200,600,600,1000,5,300
Camp B,SS01-B,SS0102,3.9,31.7,800,400,400,500,3,120
"""


def test_hxl_variants_total_population_precise_coordinates_item_columns(tmp_path):
    path = write(tmp_path, "hxl.csv", HXL)
    sites = sites_from_table(path, commodities=["food", "shelter"], ration={"shelter": 0.2})
    a = sites[0]
    assert (a["id"], a["name"], a["lat"], a["lon"]) == ("SS01-A", "Camp A", 4.85, 31.6)
    assert a["population"] == 1200  # +total, not +f or +m
    assert a["need"] == {"food": 300.0, "shelter": 200.0}  # 1000 people in need x 0.2
    assert a["severity"] == 5 and a["x_inneed"] == 1000
    assert a["x_admin"] == {"adm2_code": "SS0101"}
    assert a["x_source"]["row"] == 3


def test_hxl_zone_mapping_by_admin_code_never_guesses(tmp_path):
    path = write(tmp_path, "hxl.csv", HXL)
    sites = sites_from_table(path, commodities=["food"], zone_of={"SS0101": "Zg", "SS0102": "Zc"})
    assert [s["zone"] for s in sites] == ["Zg", "Zc"]
    with pytest.raises(TableError) as info:
        sites_from_table(path, commodities=["food"], zone_of={"SS0101": "Zg"})
    assert info.value.row == 4 and info.value.value == "SS0102" and "#adm2+code" in info.value.column
    by_name = sites_from_table(path, commodities=["food"], zone_of=lambda row: "Zf" if row["#adm2+code"] == "SS0102" else "Zg")
    assert [s["zone"] for s in by_name] == ["Zg", "Zf"]


def test_a_zone_column_that_disagrees_with_zone_of_is_an_error(tmp_path):
    path = write(tmp_path, "p.csv", PLAIN)
    with pytest.raises(TableError, match="never moved silently"):
        sites_from_table(path, commodities=["food"], zone_of=lambda row: "Zg")


def test_ambiguous_columns_are_an_error_and_overrides_resolve_them(tmp_path):
    text = "a,b,c,d,e\n#geo+lat+gps,#geo+lat+survey,#geo+lon,#loc+code,#item+food\n1,2,3,A,5\n"
    path = write(tmp_path, "amb.csv", text)
    with pytest.raises(TableError, match="several columns match #geo\\+lat"):
        sites_from_table(path, commodities=["food"], default_severity=1)
    sites = sites_from_table(path, commodities=["food"], default_severity=1, columns={"lat": "#geo+lat+survey"})
    assert sites[0]["lat"] == 2.0


def test_depots_read_stock_columns(tmp_path):
    text = "id,name,lat,lon,stock_food,stock_shelter\nDX,Hub,4.8,31.6,1000,250\n"
    (depot,) = depots_from_table(write(tmp_path, "d.csv", text), commodities=["food", "shelter", "medical"])
    assert depot["kind"] == "depot" and depot["stock"] == {"food": 1000.0, "shelter": 250.0}
    assert commodities_in_table(tmp_path / "d.csv", ["food", "medical"], kind="depot") == ["food"]


def test_xlsx_needs_openpyxl_and_says_so(tmp_path):
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        path = tmp_path / "sites.xlsx"
        path.write_bytes(b"PK\x03\x04")
        with pytest.raises(TableError, match="openpyxl"):
            read_table(path)
    else:
        path = tmp_path / "sites.xlsx"
        pd.DataFrame({"id": ["A"], "lat": [1.5], "lon": [2.5], "severity": [3], "need_food": [7]}).to_excel(path, index=False)
        (site,) = sites_from_table(path, commodities=["food"])
        assert (site["lat"], site["need"]["food"], site["x_source"]["row"]) == (1.5, 7.0, 2)


# ----- merging into a scenario ------------------------------------------------------------------
def test_scenario_with_sites_refuses_duplicates_zone_moves_and_unknown_zones(tiny, tmp_path):
    base = tiny.to_dict()
    new = {"id": "S01", "kind": "site", "lat": 12.1, "lon": 19.85, "zone": "Zc", "need": {"food": 1}, "severity": 2,
           "x_source": {"file": "t.csv", "row": 4}}
    with pytest.raises(TableError, match=r"t\.csv, row 4: node 'S01': the base scenario already has"):
        scenario_with_sites(base, [new])
    with pytest.raises(TableError, match="would move it from zone 'Zg' to 'Zc'"):
        scenario_with_sites(base, [new], replace=True)
    same_zone = dict(new, zone="Zg", need={"food": 5})
    assert scenario_with_sites(base, [same_zone], replace=True).node("S01").need == {"food": 5}
    with pytest.raises(TableError, match="zone 'Nowhere' is not a zone of the base scenario"):
        scenario_with_sites(base, [dict(new, id="S99", zone="Nowhere")])
    with pytest.raises(TableError, match="unknown to the base scenario"):
        scenario_with_sites(base, [dict(new, id="S99", zone="Zg", need={"water": 3})])


# ----- plan CSVs ---------------------------------------------------------------------------------
def test_write_plan_csv_deliveries_and_convoys_with_and_without_hxl(vector_scenario, plan00, tmp_path):
    paths = write_plan_csv(plan00, tmp_path / "plain")
    assert [p.name for p in paths] == ["deliveries.csv", "convoys.csv", "unmet.csv"]
    deliveries = pd.read_csv(paths[0])
    assert list(deliveries["site"]) == ["S1", "S2"] and list(deliveries["units"]) == [100.0, 40.0]

    paths = write_plan_csv(plan00, tmp_path / "hxl", scenario=vector_scenario, hxl=True)
    with paths[0].open(encoding="utf-8") as handle:
        header, tags, *rows = list(csv.reader(handle))
    assert all(Tag.parse(t) is not None for t in tags) and len(tags) == len(header)
    assert tags[header.index("site")] == "#loc+code" and tags[header.index("commodity")] == "#item+code"
    frame = pd.read_csv(paths[0], skiprows=[1])
    assert list(frame["weight_t"]) == [5.0, 2.0] and list(frame["zone"]) == ["Zc", "Zn"]
    convoys = pd.read_csv(paths[1], skiprows=[1])
    assert list(convoys["convoy"]) == ["A", "B"] and list(convoys["km"]) == [60.0, 80.0]
    assert convoys["route_risk"].max() == pytest.approx(plan00.metrics["max_route_risk"])
    unmet = pd.read_csv(paths[2], skiprows=[1])
    assert set(unmet["reason"]) == {"no_path", "too_far", "too_risky"}
    # the written HXL table reads back through our own reader
    table = read_table(paths[1])
    assert table.hxl and table.rows[0][0] == 3


# ----- command line -----------------------------------------------------------------------------
def test_cli_import_sites_writes_a_valid_scenario(tmp_path):
    out = tmp_path / "with_markets.json"
    result = run_cli("import-sites", TINY, MARKETS, "-o", out, "--need", "food=100", "--severity", "3",
                     "--id-prefix", "M", "--attribution", "WFP VAM")
    assert result.code == 0, result.out
    scenario = load_scenario(out)
    assert sum(1 for n in scenario.nodes if n.id.startswith("M")) == 115
    assert scenario.node("M9805").user_keys()["x_source"] == {
        "file": "ssd_wfp_markets.csv", "row": 117, "attribution": "WFP VAM", "defaults": ["need.food", "severity"]}


def test_cli_import_sites_bad_input_exits_2_in_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(MARKETS.read_text(encoding="utf-8").replace("1384,Aweil Town,SSD,Northern Bahr el Ghazal,Aweil Centre,8.7428",
                                                               "1384,Aweil Town,SSD,Northern Bahr el Ghazal,Aweil Centre,"), encoding="utf-8")
    out = tmp_path / "o.json"
    result = run_cli("import-sites", TINY, bad, "-o", out, "--need", "food=1", "--severity", "3")
    assert result.code == 2 and result.one_line_error(), result.out
    assert "bad.csv, row 3" in result.out and "latitude" in result.out and not out.exists()
    for args in (["--need", "food=x"], ["--need", "food=1", "--severity", "9"], ["--need", "food=1", "--severity", "2", "--zone-map", tmp_path / "none.csv"],
                 ["--commodity", "water", "--need", "water=1", "--severity", "2"], ["--need", "[red]water=1", "--severity", "2"]):
        result = run_cli("import-sites", TINY, MARKETS, "-o", out, *args)
        assert result.code == 2 and result.one_line_error(), (args, result.out)
    result = run_cli("import-sites", tmp_path / "missing.json", MARKETS, "-o", out)
    assert result.code == 2 and "Traceback" not in result.out
    result = run_cli("import-sites", TINY, tmp_path / "missing.csv", "-o", out, "--need", "food=1", "--severity", "2")
    assert result.code == 2 and result.one_line_error() and "no such file" in result.out


def test_a_row_with_an_extra_cell_is_refused_as_malformed(tmp_path):
    lines = MARKETS.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].replace("6.21", "6,21")  # a decimal comma splits the cell in two
    with pytest.raises(TableError, match=r"markets_bad\.csv: malformed CSV: .*line 5"):
        sites_from_table(write(tmp_path, "markets_bad.csv", "".join(lines)), commodities=["food"],
                         default_need={"food": 1}, default_severity=3)


def test_geo_coord_holds_lat_then_lon_in_one_cell(tmp_path):
    text = "Site,Where,Sev,Food\n#loc+name,#geo+coord,#severity,#item+food\nA,\"4.85, 31.6\",3,10\nB,4.9 31.7,2,5\nC,4.9,2,5\n"
    path = write(tmp_path, "coord.csv", text)
    with pytest.raises(TableError) as info:
        sites_from_table(path, commodities=["food"])
    assert info.value.row == 5 and info.value.value == "4.9" and "lat,lon" in str(info.value)
    path = write(tmp_path, "coord.csv", text.replace("C,4.9,2,5\n", ""))
    a, b = sites_from_table(path, commodities=["food"])
    assert (a["lat"], a["lon"], b["lat"], b["lon"]) == (4.85, 31.6, 4.9, 31.7)
    assert a["id"] == "r3" and a["x_source"]["defaults"] == ["id"]  # no code column: ids from the row, said so
