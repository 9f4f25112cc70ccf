"""GeoJSON (RFC 7946) for GIS users: scenarios and plans out to QGIS, road networks in.

Positions are ``[lon, lat]`` (RFC 7946 §3.1.1; the reverse of how people say them). Properties are
flat scalars (``need_food``, not ``{"need": {...}}``) because QGIS turns nested objects into
strings nobody can style by. Every feature carries ``feature_type`` (``node``, ``road``,
``convoy``) so one file can be split into layers with a filter.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from allocate.errors import TableError

if TYPE_CHECKING:
    from allocate.plan import Plan
    from allocate.scenario import Scenario

__all__ = ["plan_to_geojson", "scenario_to_geojson", "roads_from_geojson", "haversine_km", "write_geojson"]

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius: haversine on it is within ~0.5 % of the ellipsoid
_ROAD_FIELDS = ("a", "b", "km", "hours", "risk", "closed", "oneway", "max_weight_t", "name", "note")


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km between two ``(lon, lat)`` points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def line_km(coordinates: Sequence[Sequence[float]]) -> float:
    """Length in km of a LineString's positions, summed segment by segment."""
    return sum(haversine_km(a[0], a[1], b[0], b[1]) for a, b in zip(coordinates, coordinates[1:]))


def _point(node: Any) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [node.lon, node.lat]}


def _line(scenario: "Scenario", node_ids: Sequence[str]) -> dict[str, Any]:
    coords = [[scenario.node(n).lon, scenario.node(n).lat] for n in node_ids]
    if len(coords) == 1:  # RFC 7946 needs two positions; a one-node path is drawn as a point twice
        coords.append(list(coords[0]))
    return {"type": "LineString", "coordinates": coords}


def _user_keys(entity: Any) -> dict[str, Any]:
    """The entity's ``x_`` keys as properties, as they are (QGIS shows nested values as JSON maps)."""
    return dict(entity.user_keys())


def _node_properties(scenario: "Scenario") -> dict[str, dict[str, Any]]:
    """Flat properties of every node: kind, zone and its access and controller, need/stock per commodity."""
    out: dict[str, dict[str, Any]] = {}
    commodities = [c.id for c in scenario.commodities]
    for node in scenario.nodes:
        zone = scenario.zone_of(node.id)
        props: dict[str, Any] = {
            "feature_type": "node",
            "node": node.id,  # not "id": GDAL/QGIS may map the Feature id member to an "id" field
            "kind": node.kind,
            "name": node.name,
            "zone": node.zone,
            "zone_access": zone.access if zone else None,
            "controlled_by": zone.controlled_by if zone else None,
            "denied": bool(zone and zone.access == "denied"),
        }
        if node.kind == "site":
            props.update(population=node.population, severity=node.severity)
            for c in commodities:
                props[f"need_{c}"] = float(node.need.get(c, 0.0))
            props["need_t"] = scenario.weight_t(node.need)
            if node.window is not None:
                props["window_open_h"], props["window_close_h"] = node.window
        elif node.kind == "depot":
            for c in commodities:
                props[f"stock_{c}"] = float(node.stock.get(c, 0.0))
            props["stock_t"] = scenario.weight_t(node.stock)
        if node.note:
            props["note"] = node.note
        props.update(_user_keys(node))
        out[node.id] = props
    return out


def _road_feature(scenario: "Scenario", index: int, road: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "feature_type": "road",
        "a": road.a,
        "b": road.b,
        "km": road.km,
        "hours": road.hours,
        "risk": road.risk,
        "closed": road.closed,
        "oneway": road.oneway,
        "max_weight_t": road.max_weight_t,
        "denied": scenario.is_denied(road.a) or scenario.is_denied(road.b),
    }
    if road.name:
        props["name"] = road.name
    if road.note:
        props["note"] = road.note
    props.update(_user_keys(road))
    return {"type": "Feature", "id": f"road:{index}", "geometry": _line(scenario, [road.a, road.b]), "properties": props}


def _collection(name: str, features: list[dict[str, Any]], bbox_of: Iterable[Any]) -> dict[str, Any]:
    nodes = list(bbox_of)
    fc: dict[str, Any] = {"type": "FeatureCollection", "name": name}
    if nodes:
        fc["bbox"] = [min(n.lon for n in nodes), min(n.lat for n in nodes), max(n.lon for n in nodes), max(n.lat for n in nodes)]
    fc["features"] = features
    return fc


def scenario_to_geojson(scenario: "Scenario") -> dict[str, Any]:
    """The scenario's nodes (Points) and roads (LineStrings from ``a`` to ``b``) as a FeatureCollection.

    Road properties are FORMAT.md's (``a, b, km, hours, risk, closed, oneway, max_weight_t``), so
    :func:`roads_from_geojson` reads the roads back unchanged after a user edits them in QGIS.
    """
    props = _node_properties(scenario)
    features = [
        {"type": "Feature", "id": f"node:{n.id}", "geometry": _point(n), "properties": props[n.id]} for n in scenario.nodes
    ]
    features += [_road_feature(scenario, i, road) for i, road in enumerate(scenario.roads)]
    return _collection(scenario.name, features, scenario.nodes)


def plan_to_geojson(scenario: "Scenario", plan: "Plan", *, roads: bool = False) -> dict[str, Any]:
    """A plan on the map: nodes with need, delivered, coverage and unmet reasons; each convoy's path.

    Node Points carry ``delivered_<commodity>``, ``delivered_t``, ``coverage`` (sites) and
    ``unmet`` / ``unmet_reasons`` (every reason the plan gives, checked or informative, joined by
    commas). Convoy LineStrings follow ``path`` node by node with ``convoy``, ``organization``,
    ``depot``, ``escort``, ``escorted``, ``risk`` (route risk with its escort), ``km``, ``hours``,
    times and tonnes. With ``roads`` the scenario's roads are added too (``feature_type`` road),
    so one file holds the whole map.
    """
    from allocate.network import RoadNetwork
    from allocate.plan import site_coverage

    _check_plan_nodes(scenario, plan)
    props = _node_properties(scenario)
    delivered = plan.delivered()
    coverage = site_coverage(scenario, plan.convoys)
    reasons: dict[str, list[str]] = {}
    for claim in plan.unmet:
        reasons.setdefault(claim.site, []).append(claim.reason)
    commodities = [c.id for c in scenario.commodities]
    features = []
    for node in scenario.nodes:
        p = dict(props[node.id])
        got = delivered.get(node.id, {})
        if node.kind == "site" or got:
            for c in commodities:
                p[f"delivered_{c}"] = float(got.get(c, 0.0))
            p["delivered_t"] = float(scenario.weight_t(got))
        if node.kind == "site":
            p["coverage"] = coverage[node.id].ratio
            p["unmet"] = node.id in reasons
            p["unmet_reasons"] = ",".join(reasons.get(node.id, [])) or None
        features.append({"type": "Feature", "id": f"node:{node.id}", "geometry": _point(node), "properties": p})

    network = RoadNetwork(scenario)
    escorts = scenario.escort_by_id
    for convoy in plan.convoys:
        escort = escorts.get(convoy.escort) if convoy.escort else None
        measured = network.measure(convoy.path, escort.effectiveness if escort else 0.0)
        props_c = {
            "feature_type": "convoy",
            "convoy": convoy.id,
            "organization": convoy.organization,
            "depot": convoy.depot,
            "escort": convoy.escort,
            "escorted": convoy.escort is not None,
            "escort_provider": escort.provider if escort else None,
            "risk": measured.risk,
            "km": measured.km,
            "hours": measured.hours,
            "vehicles": sum(convoy.vehicles.values()),
            "vehicle_types": ",".join(f"{f}:{n}" for f, n in convoy.vehicles.items()),
            "depart_h": convoy.depart_h,
            "return_h": convoy.return_h,
            "stops": ",".join(s.site for s in convoy.stops),
            "delivered_t": float(scenario.weight_t(convoy.unloaded())),
            "path": ",".join(convoy.path),
        }
        features.append({"type": "Feature", "id": f"convoy:{convoy.id}", "geometry": _line(scenario, convoy.path), "properties": props_c})
    if roads:
        features += [_road_feature(scenario, i, road) for i, road in enumerate(scenario.roads)]
    return _collection(scenario.name, features, scenario.nodes)


def _check_plan_nodes(scenario: "Scenario", plan: "Plan") -> None:
    """Refuse a plan naming nodes the scenario lacks: it answers another scenario."""
    from allocate.errors import PlanError

    known = scenario.node_by_id
    for i, convoy in enumerate(plan.convoys):
        for j, node in enumerate(convoy.path):
            if node not in known:
                raise PlanError([(f"convoys[{i}].path[{j}]", f"node {node!r} is not in scenario {scenario.name!r}")])
        for j, stop in enumerate(convoy.stops):
            if stop.site not in known:
                raise PlanError([(f"convoys[{i}].stops[{j}].site", f"node {stop.site!r} is not in scenario {scenario.name!r}")])
    for i, claim in enumerate(plan.unmet):
        if claim.site not in known:
            raise PlanError([(f"unmet[{i}].site", f"node {claim.site!r} is not in scenario {scenario.name!r}")])


def write_geojson(data: Mapping[str, Any], path: str | Path) -> None:
    """Write GeoJSON as UTF-8 JSON (no NaN: RFC 8259 forbids it and QGIS rejects it)."""
    Path(path).write_text(json.dumps(data, ensure_ascii=False, allow_nan=False, indent=1) + "\n", encoding="utf-8")


# ----- roads in ----------------------------------------------------------------------------------
def _feature_error(file: str, index: int, message: str, field: str | None = None, value: Any = None) -> TableError:
    return TableError(message, file=f"{file} features[{index}]", column=field, value=value)


def roads_from_geojson(
    source: str | Path | Mapping[str, Any],
    *,
    speed_kmh: float | None = None,
    default_risk: float | None = None,
    attribution: str | None = None,
    nodes: Any = None,
    snap_km: float = 1.0,
) -> list[dict[str, Any]]:
    """Road dicts (FORMAT.md §1) from the LineString features of a GeoJSON FeatureCollection.

    Each road feature names its ends in properties ``a`` and ``b`` (node ids) and may carry
    ``km, hours, risk, closed, oneway, max_weight_t, name, note`` and ``x_`` keys. ``km`` is the
    line's great-circle length when absent; ``hours`` is ``km / speed_kmh`` when absent and a
    speed is given; ``risk`` falls back to ``default_risk``. Whatever falls back is listed in the
    road's ``x_source.defaults`` so a guessed number is never mistaken for a measured one. Points
    and features whose ``feature_type`` is not ``road`` (nodes, convoys of a plan file) are not
    roads and are passed over; other properties (OSM tags...) are kept under ``x_properties``.

    Roads drawn in QGIS often lack ``a``/``b``: given ``nodes`` (a Scenario or node dicts), a
    missing end is the node nearest the line's first/last position if it lies within ``snap_km``
    (recorded in ``x_source.snapped``); farther than that, or with two nodes equally near, it is
    an error rather than a guess.
    """
    places = _places(nodes)
    if isinstance(source, Mapping):
        data, file = source, "geojson"
    else:
        path = Path(source)
        file = path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TableError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TableError(f"not GeoJSON text: {exc}", file=file) from None
    if not isinstance(data, Mapping) or data.get("type") not in {"FeatureCollection", "Feature"}:
        raise TableError("not a GeoJSON FeatureCollection", file=file, value=data.get("type") if isinstance(data, Mapping) else None)
    features = data["features"] if data.get("type") == "FeatureCollection" else [data]
    if not isinstance(features, list):
        raise TableError("features is not a list", file=file)

    roads: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise _feature_error(file, index, "not a GeoJSON Feature", value=feature)
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        gtype = geometry.get("type") if isinstance(geometry, Mapping) else None
        if props.get("feature_type", "road") != "road" or gtype == "Point" or gtype == "MultiPoint":
            continue
        coords = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
        if gtype == "MultiLineString" and isinstance(coords, list) and len(coords) == 1:
            gtype, coords = "LineString", coords[0]
        if gtype != "LineString":
            raise _feature_error(file, index, "a road must be a LineString (or a one-part MultiLineString)", "geometry.type", gtype)
        if not isinstance(coords, list) or len(coords) < 2 or not all(_position(p) for p in coords):
            raise _feature_error(file, index, "LineString coordinates must be two or more [lon, lat] positions in range", "geometry.coordinates", _clip(coords))

        road: dict[str, Any] = {}
        defaults: list[str] = []
        snapped: dict[str, float] = {}
        for end, position in (("a", coords[0]), ("b", coords[-1])):
            value = props.get(end)
            if value is None and places:
                value, gap = _snap(file, index, end, position, places, snap_km)
                snapped[end] = round(gap, 3)
            if not isinstance(value, str) or not value:
                raise _feature_error(file, index, f"property {end!r} must name the node at that end of the road", end, value)
            road[end] = value
        road["km"] = _non_negative(file, index, props, "km")
        if road["km"] is None:
            road["km"] = line_km(coords)
            defaults.append("km")
        road["hours"] = _non_negative(file, index, props, "hours")
        if road["hours"] is None:
            if speed_kmh is None:
                raise _feature_error(file, index, "property 'hours' is missing (or pass speed_kmh=, --speed-kmh on the command line, to derive it from km)", "hours")
            road["hours"] = road["km"] / speed_kmh
            defaults.append("hours")
        risk = _non_negative(file, index, props, "risk")
        if risk is None:
            if default_risk is None:
                raise _feature_error(file, index, "property 'risk' is missing (or pass default_risk=)", "risk")
            risk = float(default_risk)
            defaults.append("risk")
        if not risk < 1:
            raise _feature_error(file, index, "risk must lie in [0, 1)", "risk", risk)
        road["risk"] = risk
        for flag in ("closed", "oneway"):
            value = props.get(flag)
            if value is not None:
                if not isinstance(value, bool):
                    raise _feature_error(file, index, f"property {flag!r} must be true or false", flag, value)
                road[flag] = value
        weight = _non_negative(file, index, props, "max_weight_t")
        if weight is not None:
            road["max_weight_t"] = weight
        for text in ("name", "note"):
            if isinstance(props.get(text), str):
                road[text] = props[text]
        others = {}
        for key, value in props.items():
            if key.startswith("x_") and key != "x_source":
                road[key] = value
            elif key not in _ROAD_FIELDS and key not in {"feature_type", "denied", "x_source"} and value is not None:
                others[key] = value
        if others:
            road["x_properties"] = others
        src: dict[str, Any] = {"file": file, "feature": index}
        if isinstance(props.get("x_source"), Mapping):
            src["origin"] = dict(props["x_source"])
        if feature.get("id") is not None:
            src["id"] = feature["id"]
        if attribution:
            src["attribution"] = attribution
        if defaults:
            src["defaults"] = defaults
        if snapped:
            src["snapped"] = {f"{end}_km": gap for end, gap in snapped.items()}
        road["x_source"] = src
        roads.append(road)
    return roads


def _places(nodes: Any) -> list[tuple[str, float, float]]:
    """``(id, lon, lat)`` of a Scenario's nodes or of node dicts; empty without nodes."""
    if nodes is None:
        return []
    items = nodes.nodes if hasattr(nodes, "nodes") else nodes
    out = []
    for n in items:
        get = n.get if isinstance(n, Mapping) else lambda k, n=n: getattr(n, k)
        out.append((get("id"), float(get("lon")), float(get("lat"))))
    return out


def _snap(file: str, index: int, end: str, position: Sequence[float], places: list[tuple[str, float, float]], snap_km: float) -> tuple[str, float]:
    """The node nearest a road end, within ``snap_km`` and unambiguous, or an error."""
    ranked = sorted((haversine_km(position[0], position[1], lon, lat), node_id) for node_id, lon, lat in places)
    gap, node_id = ranked[0]
    if gap > snap_km:
        raise _feature_error(file, index, f"no property {end!r} and the nearest node ({node_id}) is {gap:.2f} km from the line's end "
                             f"(snap_km={snap_km:g}): name the node", end)
    if len(ranked) > 1 and ranked[1][0] - gap < 1e-9:
        raise _feature_error(file, index, f"no property {end!r} and nodes {node_id} and {ranked[1][1]} are equally near the line's end", end)
    return node_id, gap


def _position(p: Any) -> bool:
    return (
        isinstance(p, list)
        and len(p) >= 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p[:2])
        and -180 <= p[0] <= 180
        and -90 <= p[1] <= 90
    )


def _clip(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."


def _non_negative(file: str, index: int, props: Mapping[str, Any], key: str) -> float | None:
    value = props.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _feature_error(file, index, f"property {key!r} must be a number ≥ 0", key, value)
    return float(value)
