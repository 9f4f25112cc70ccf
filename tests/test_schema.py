"""The published JSON Schemas (src/allocate/schemas/*.schema.json): current, well formed, and
describing FORMAT.md: the conformance vectors and this suite's own fixture validate, the wrong
shapes do not.

Validation uses ``jsonschema`` when it is importable (those tests are skipped otherwise); a small
validator below, covering exactly the keywords these schemas use, runs in every environment so
that the schemas are exercised even where ``jsonschema`` is not installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import allocate
from allocate.schema import schema_text

import fixtures_rules as F

SCHEMA_DIR = Path(allocate.__file__).parent / "schemas"
VECTORS = Path("/work/shared/vectors")
KINDS = ("scenario", "plan")

try:
    import jsonschema  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema = None


def schema(kind: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


# ----- current and well formed ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_schema_file_is_current(kind):
    assert (SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8") == schema_text(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_cli_prints_the_same_schema(kind):
    from typer.testing import CliRunner

    from allocate.cli import app

    result = CliRunner().invoke(app, ["schema", kind])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(schema_text(kind))


# Keywords of JSON Schema 2020-12 (core, applicator, validation, meta-data, format, content) plus
# the OpenAPI-style ``discriminator`` annotation pydantic writes (ignored by validators, harmless).
KEYWORDS = {
    "$schema", "$id", "$ref", "$defs", "$comment", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items",
    "contains", "properties", "patternProperties", "additionalProperties", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties", "type", "enum", "const", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
    "minItems", "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
    "examples", "format", "contentEncoding", "contentMediaType", "contentSchema", "discriminator",
}
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
SCHEMA_ONE = {"items", "additionalProperties", "propertyNames", "not", "if", "then", "else", "contains",
              "unevaluatedItems", "unevaluatedProperties", "contentSchema"}


def _unknown_keywords(node, where="#"):
    """Keywords in schema position that JSON Schema 2020-12 does not define (silently ignored by
    every validator, so a bound written with one is no bound at all)."""
    if isinstance(node, bool):
        return []
    out = [f"{where}/{k}" for k in node if k not in KEYWORDS]
    for k, v in node.items():
        if k in SCHEMA_MAPS:
            for name, sub in v.items():
                out += _unknown_keywords(sub, f"{where}/{k}/{name}")
        elif k in SCHEMA_LISTS:
            for i, sub in enumerate(v):
                out += _unknown_keywords(sub, f"{where}/{k}/{i}")
        elif k in SCHEMA_ONE:
            out += _unknown_keywords(v, f"{where}/{k}")
    return out


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_a_2020_12_object_schema_whose_refs_resolve(kind):
    s = schema(kind)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["type"] == "object"
    refs = set(_refs(s))
    assert refs, "expected $defs references"
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.split("/")[-1] in s["$defs"], ref


@pytest.mark.parametrize("kind", KINDS)
def test_schema_uses_only_json_schema_keywords(kind):
    assert _unknown_keywords(schema(kind)) == []


@pytest.mark.skipif(jsonschema is None, reason="jsonschema is not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_schema_passes_the_metaschema(kind):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema(kind))


SCENARIO_REQUIRED = {"format", "name", "horizon_h", "commodities", "parties", "zones", "nodes", "roads",
                     "organizations", "fleet", "escorts"}
ENTITY_REQUIRED = {
    "Commodity": {"id", "weight_t", "volume_m3"},
    "Party": {"id", "kind"},
    "Zone": {"id"},
    "Depot": {"id", "kind", "lat", "lon"},
    "Site": {"id", "kind", "lat", "lon", "need", "severity"},
    "Junction": {"id", "kind", "lat", "lon"},
    "Road": {"a", "b", "km", "hours", "risk"},
    "Organization": {"id", "escort_policy", "military_assets"},
    "FleetType": {"id", "organization", "depot", "count", "capacity_t", "capacity_m3"},
    "EscortUnit": {"id", "provider", "base", "count", "effectiveness"},
}


def test_scenario_schema_requires_what_format_md_requires():
    s = schema("scenario")
    assert set(s["required"]) == SCENARIO_REQUIRED
    for name, required in ENTITY_REQUIRED.items():
        assert set(s["$defs"][name].get("required", [])) == required, name
    assert not s["$defs"]["Policy"].get("required")


def test_plan_schema_requires_what_format_md_requires():
    s = schema("plan")
    assert set(s["required"]) == {"format", "scenario", "convoys", "unmet", "metrics", "solver"}
    d = s["$defs"]
    assert set(d["Convoy"]["required"]) == {"id", "organization", "depot", "vehicles", "path", "depart_h",
                                            "stops", "return_h", "escort"}
    assert set(d["Stop"]["required"]) == {"site", "arrive_h", "unload"}
    assert set(d["SolverInfo"]["required"]) == {"status", "objective", "bound", "seconds", "seed", "version"}
    assert set(d["SolverInfo"]["properties"]["status"]["enum"]) == {"optimal", "feasible", "infeasible", "time_limit"}


# ----- a small validator for the keywords these schemas use ------------------------------------
def _is_type(x, t):
    if t == "object":
        return isinstance(x, dict)
    if t == "array":
        return isinstance(x, list)
    if t == "string":
        return isinstance(x, str)
    if t == "boolean":
        return isinstance(x, bool)
    if t == "null":
        return x is None
    if t == "integer":
        return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())
    if t == "number":
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    raise AssertionError(f"type {t!r} not handled")


def errors(x, sch, root, where="$"):
    """Every violation of ``sch`` by ``x`` (empty list: valid)."""
    if sch is True or sch == {}:
        return []
    if sch is False:
        return [f"{where}: nothing is allowed here"]
    out = []
    if "$ref" in sch:
        target = root
        for part in sch["$ref"].lstrip("#/").split("/"):
            target = target[part]
        out += errors(x, target, root, where)
    if "type" in sch:
        types = sch["type"] if isinstance(sch["type"], list) else [sch["type"]]
        if not any(_is_type(x, t) for t in types):
            return out + [f"{where}: {json.dumps(x)[:40]} is not {sch['type']}"]
    if "const" in sch and x != sch["const"]:
        out.append(f"{where}: not {sch['const']!r}")
    if "enum" in sch and x not in sch["enum"]:
        out.append(f"{where}: {x!r} not in {sch['enum']}")
    if _is_type(x, "number"):
        if isinstance(x, float) and not math.isfinite(x):
            out.append(f"{where}: not a finite number")
        if "minimum" in sch and x < sch["minimum"]:
            out.append(f"{where}: {x} < {sch['minimum']}")
        if "maximum" in sch and x > sch["maximum"]:
            out.append(f"{where}: {x} > {sch['maximum']}")
        if "exclusiveMinimum" in sch and x <= sch["exclusiveMinimum"]:
            out.append(f"{where}: {x} <= {sch['exclusiveMinimum']}")
        if "exclusiveMaximum" in sch and x >= sch["exclusiveMaximum"]:
            out.append(f"{where}: {x} >= {sch['exclusiveMaximum']}")
    if isinstance(x, str) and "minLength" in sch and len(x) < sch["minLength"]:
        out.append(f"{where}: shorter than {sch['minLength']}")
    if isinstance(x, list):
        prefix = sch.get("prefixItems", [])
        for i, item in enumerate(x):
            if i < len(prefix):
                out += errors(item, prefix[i], root, f"{where}[{i}]")
            elif "items" in sch:
                out += errors(item, sch["items"], root, f"{where}[{i}]")
        if "minItems" in sch and len(x) < sch["minItems"]:
            out.append(f"{where}: fewer than {sch['minItems']} items")
        if "maxItems" in sch and len(x) > sch["maxItems"]:
            out.append(f"{where}: more than {sch['maxItems']} items")
    if isinstance(x, dict):
        for key in sch.get("required", []):
            if key not in x:
                out.append(f"{where}.{key}: missing")
        props = sch.get("properties", {})
        patterns = sch.get("patternProperties", {})
        import re

        for key, value in x.items():
            if "propertyNames" in sch:
                out += errors(key, sch["propertyNames"], root, f"{where}.{key} (name)")
            matched = False
            if key in props:
                matched = True
                out += errors(value, props[key], root, f"{where}.{key}")
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    out += errors(value, sub, root, f"{where}.{key}")
            if not matched and "additionalProperties" in sch:
                out += errors(value, sch["additionalProperties"], root, f"{where}.{key}")
    for key in ("anyOf", "oneOf"):
        if key in sch:
            passing = sum(1 for sub in sch[key] if not errors(x, sub, root, where))
            if passing == 0 or (key == "oneOf" and passing > 1):
                out.append(f"{where}: {passing} of the {key} alternatives match")
    for sub in sch.get("allOf", []):
        out += errors(x, sub, root, where)
    return out


def validate(kind: str, data) -> list[str]:
    s = schema(kind)
    return errors(data, s, s)


def _jsonschema_errors(kind: str, data) -> list[str]:
    from jsonschema import Draft202012Validator

    return [e.message for e in Draft202012Validator(schema(kind)).iter_errors(data)]


VALIDATORS = [pytest.param(validate, id="mini")] + [
    pytest.param(_jsonschema_errors, id="jsonschema",
                 marks=pytest.mark.skipif(jsonschema is None, reason="jsonschema is not installed"))
]


def test_the_small_validator_can_say_no():
    s = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 0}},
         "additionalProperties": False}
    assert errors({"a": 1}, s, s) == []
    assert errors({"a": -1}, s, s) and errors({}, s, s) and errors({"a": 1, "b": 2}, s, s)
    assert errors({"a": True}, s, s) and errors({"a": "1"}, s, s) and errors({"a": 1.5}, s, s)


# ----- the vectors and the fixture validate ---------------------------------------------------
def _expected():
    path = VECTORS / "expected.json"
    if not path.exists():
        pytest.skip("conformance vectors not found")
    return json.loads(path.read_text())


def _vector_files():
    if not (VECTORS / "expected.json").exists():
        return []
    entries = json.loads((VECTORS / "expected.json").read_text())
    scenarios = sorted({e["scenario"] for e in entries if "codes" in e})
    plans = sorted({e["plan"] for e in entries if "codes" in e})
    return [("scenario", f) for f in scenarios] + [("plan", f) for f in plans]


@pytest.mark.parametrize("check", VALIDATORS)
@pytest.mark.parametrize("kind,name", _vector_files() or [pytest.param("", "", marks=pytest.mark.skip)])
def test_vector_files_validate(check, kind, name):
    data = json.loads((VECTORS / name).read_text())
    assert check(kind, data) == []


@pytest.mark.parametrize("check", VALIDATORS)
def test_fixture_scenario_and_plan_validate(check):
    assert check("scenario", F.scenario()) == []
    assert check("plan", F.plan()) == []


@pytest.mark.parametrize("check", VALIDATORS)
def test_wrong_shape_plan_vectors_do_not_validate(check):
    entries = [e for e in _expected() if e.get("exit") == 2 and e.get("plan")]
    assert entries
    for e in entries:
        data = json.loads((VECTORS / e["plan"]).read_text())
        assert check("plan", data), e["case"]


# ----- the schema says what FORMAT.md says ----------------------------------------------------
def _plan_with(path, value):
    p = F.plan()
    target = p
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return p


def _scenario_with(path, value):
    s = F.scenario()
    target = s
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return s


@pytest.mark.parametrize("check", VALIDATORS)
@pytest.mark.parametrize(
    "kind,path,value",
    [
        ("plan", ("solver", "seed"), "42"),
        ("plan", ("solver", "objective"), True),
        ("plan", ("solver", "status"), "done"),
        ("plan", ("format",), "allocate.plan/2"),
        ("plan", ("convoys", 0, "stops", 0, "unload", "rice"), -10),
        ("plan", ("convoys", 0, "vehicles", "light"), 1.5),
        ("plan", ("convoys", 0, "vehicles", "light"), -1),
        ("scenario", ("zones", 0, "name"), 5),
        ("scenario", ("roads", 0, "risk"), 1),
        ("scenario", ("nodes", 0, "lat"), 91),
        ("scenario", ("commodities", 0, "weight_t"), 0),
        ("scenario", ("policy", "party_escorts"), "sometimes"),
        ("scenario", ("nodes", 5, "severity"), 6),
        ("scenario", ("fleet", 0, "count"), 1.5),
        ("scenario", ("fleet", 0, "count"), -1),
        ("scenario", ("nodes", 5, "population"), -1),
        ("scenario", ("escorts", 0, "count"), -2),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else str(v),
)
def test_schema_refuses_wrong_values(check, kind, path, value):
    data = _plan_with(path, value) if kind == "plan" else _scenario_with(path, value)
    assert check(kind, data), f"the {kind} schema accepts {path} = {value!r}"


@pytest.mark.parametrize("check", VALIDATORS)
@pytest.mark.parametrize(
    "where,key",
    [((), "generator"), (("roads", 2), "max_weight"), (("nodes", 2), "unit"), (("policy",), "min_cover")],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else v,
)
def test_scenario_schema_refuses_unknown_keys(check, where, key):
    """FORMAT.md §1: "Any other key is an error that names it: a misspelt `max_weight` must never
    silently drop a bridge limit." A tool validating with the published schema must refuse it too."""
    s = F.scenario()
    target = s
    for part in where:
        target = target[part]
    target[key] = 10
    assert check("scenario", s), f"the scenario schema accepts an unknown key {key!r}"


@pytest.mark.parametrize("check", VALIDATORS)
def test_scenario_schema_accepts_user_keys_name_note_unit(check):
    s = F.scenario()
    s["x_source"] = {"a": 1}
    s["roads"][0]["x_surface"] = "gravel"
    s["roads"][0]["name"] = "north road"
    s["nodes"][0]["note"] = "main warehouse"
    s["commodities"][0]["unit"] = "bag"
    assert check("scenario", s) == []


@pytest.mark.parametrize("check", VALIDATORS)
def test_plan_schema_accepts_library_fields(check):
    p = F.plan()
    p["convoys"][1]["why_escorted"] = "no safe route"
    p["solver"]["time_limit"] = 30
    p["x_anything"] = [1]
    assert check("plan", p) == []
