"""Analysts' tables in and out: sites and depots from CSV/XLSX (HXL-tagged or plain headers), plans
out as CSV (optionally HXL-tagged).

Humanitarian data mostly arrives as spreadsheets from HDX, a cluster or a field office, often with
an HXL hashtag row (``#loc+name``, ``#geo+lat``, ``#population``...) under human headers that vary
from file to file. The hashtags are what stays stable, so columns are found by hashtag first and by
a few plain header names second (``id,name,lat,lon,population,severity,need_<commodity>``).

Three promises, because a wrong map costs lives twice: every node keeps where it came from
(``x_source``: file, row, and which fields were defaulted); a place is never silently put in a
zone other than the one its table or the analyst's mapping gives; and a row is never silently
dropped: a missing or bad cell raises :class:`~allocate.errors.TableError` naming the file, the row
(as a spreadsheet shows it, header = row 1), the column and the value.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence, Union

from allocate.errors import TableError

if TYPE_CHECKING:
    from allocate.plan import Plan
    from allocate.scenario import Scenario

__all__ = [
    "Column",
    "Table",
    "Tag",
    "read_table",
    "sites_from_table",
    "depots_from_table",
    "commodities_in_table",
    "scenario_with_sites",
    "write_plan_csv",
    "DELIVERY_HXL",
    "CONVOY_HXL",
]

Row = Mapping[str, str]
ZoneOf = Union[Mapping[str, Union[str, None]], Callable[[Row], Union[str, None]]]

_HASHTAG = re.compile(r"^\s*#([A-Za-z][A-Za-z0-9_]*)((?:\s*\+\s*[A-Za-z][A-Za-z0-9_]*)*)\s*$")
_HXL_SCAN_ROWS = 25  # the HXL standard lets the hashtag row sit anywhere in the first 25 rows


# ----- HXL hashtags -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Tag:
    """An HXL hashtag with its attributes, compared case-insensitively (``#geo +lat``)."""

    hashtag: str
    attributes: frozenset[str]
    text: str = dc_field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> "Tag | None":
        """The tag in a cell, or None when the cell is not a hashtag spec."""
        match = _HASHTAG.match(text or "")
        if not match:
            return None
        attributes = [a.strip().lower() for a in match.group(2).split("+") if a.strip()]
        return cls(match.group(1).lower(), frozenset(attributes), "#" + match.group(1).lower() + "".join("+" + a for a in attributes))

    def matches(self, pattern: "Tag") -> bool:
        """HXL matching: same hashtag, and every attribute of the pattern present here."""
        return self.hashtag == pattern.hashtag and pattern.attributes <= self.attributes

    def __str__(self) -> str:
        return self.text or "#" + self.hashtag + "".join("+" + a for a in sorted(self.attributes))


def _tag(pattern: str) -> Tag:
    tag = Tag.parse(pattern)
    if tag is None:
        raise ValueError(f"not an HXL tag pattern: {pattern!r}")
    return tag


# ----- reading a table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column: its position, human header and HXL tag (None when untagged)."""

    index: int
    header: str
    tag: Tag | None

    @property
    def label(self) -> str:
        """How an error names the column: ``'latitude' (#geo+lat)``."""
        if self.tag is None:
            return repr(self.header)
        return f"{self.header!r} ({self.tag})" if self.header and not self.header.startswith("#") else str(self.tag)


@dataclass(frozen=True)
class Table:
    """A table as strings, with spreadsheet row numbers kept for error messages and attribution."""

    file: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    hxl: bool
    sheet: str | None = None

    def error(self, message: str, row: int | None = None, column: Column | None = None, value: Any = None) -> TableError:
        return TableError(message, file=self.file, row=row, column=column.label if column else None, value=value)

    def row_mapping(self, cells: Sequence[str]) -> dict[str, str]:
        """A row keyed by header and by HXL tag, for ``zone_of`` callables."""
        out: dict[str, str] = {}
        for col in self.columns:
            value = cells[col.index]
            if col.tag is not None:
                out.setdefault(str(col.tag), value)
            if col.header:
                out.setdefault(col.header, value)
        return out


def _normal_header(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _is_hashtag_row(cells: Sequence[str]) -> bool:
    filled = [c for c in cells if c.strip()]
    return bool(filled) and sum(Tag.parse(c) is not None for c in filled) * 2 >= len(filled) and any(
        c.strip().startswith("#") for c in filled
    )


def read_table(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    encoding: str = "utf-8-sig",
) -> Table:
    """Read a CSV or XLSX file as strings and find its header and HXL hashtag rows.

    XLSX needs openpyxl (an optional dependency): without it the error says so. Fully blank rows
    are not places and are skipped; every other row is kept with its spreadsheet row number.
    """
    import pandas as pd

    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm"}:
            try:
                import openpyxl  # noqa: F401
            except ImportError:
                raise TableError(
                    "reading .xlsx needs the optional package openpyxl (pip install openpyxl); "
                    "or save the sheet as CSV (UTF-8)",
                    file=name,
                ) from None
            frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, header=None, dtype=str)
            frame = frame.fillna("")
        elif suffix == ".xls":
            raise TableError("old .xls workbooks are not read: save the sheet as .xlsx or CSV (UTF-8)", file=name)
        else:
            frame = pd.read_csv(
                path, header=None, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding=encoding
            )
    except TableError:
        raise
    except FileNotFoundError:
        raise TableError("no such file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise TableError(f"not {encoding} text ({exc.reason} at byte {exc.start}); re-save it as UTF-8", file=name) from None
    except pd.errors.EmptyDataError:
        raise TableError("the file is empty", file=name) from None
    except pd.errors.ParserError as exc:
        raise TableError(f"malformed CSV: {str(exc).strip()}", file=name) from None
    except (OSError, ValueError) as exc:
        raise TableError(f"cannot read the table: {exc}", file=name) from None

    raw = [tuple(str(c).strip() for c in row) for row in frame.itertuples(index=False, name=None)]
    if not raw:
        raise TableError("the file is empty", file=name)
    hxl_at = next((i for i, cells in enumerate(raw[:_HXL_SCAN_ROWS]) if _is_hashtag_row(cells)), None)
    if hxl_at is None:
        header_at, data_from, tags = 0, 1, [None] * len(raw[0])
    else:
        header_at = hxl_at - 1 if hxl_at > 0 else hxl_at
        data_from = hxl_at + 1
        tags = [Tag.parse(c) for c in raw[hxl_at]]
    headers = raw[header_at] if hxl_at != 0 else tuple("" for _ in raw[0])
    columns = tuple(Column(i, headers[i], tags[i]) for i in range(len(headers)))
    rows = tuple((i + 1, cells) for i, cells in enumerate(raw) if i >= data_from and any(cells))
    return Table(name, columns, rows, hxl=hxl_at is not None, sheet=None if sheet is None else str(sheet))


# ----- finding columns ----------------------------------------------------------------------------
_PREFERRED_ATTRIBUTES = ("total", "all")


def _find_hxl(table: Table, pattern: str, exclude: Iterable[str] = ()) -> Column | None:
    """The column matching an HXL pattern; among several, ``+total`` then the fewest extra
    attributes wins, and a tie is an error (two different "population" columns must not be
    picked between silently)."""
    want = _tag(pattern)
    excluded = set(exclude)
    candidates = [c for c in table.columns if c.tag is not None and c.tag.matches(want) and not (c.tag.attributes & excluded)]
    if not candidates:
        return None

    def rank(col: Column) -> tuple[int, int]:
        extra = col.tag.attributes - want.attributes  # type: ignore[union-attr]
        return (0 if extra & set(_PREFERRED_ATTRIBUTES) else 1, len(extra))

    candidates.sort(key=rank)
    if len(candidates) > 1 and rank(candidates[0]) == rank(candidates[1]):
        raise table.error(
            f"several columns match {pattern}: "
            + ", ".join(c.label for c in candidates if rank(c) == rank(candidates[0]))
            + "; say which one with columns={...}"
        )
    return candidates[0]


def _find_plain(table: Table, names: Iterable[str]) -> Column | None:
    by_header = {}
    for col in table.columns:
        if col.header:
            by_header.setdefault(_normal_header(col.header), col)
    for name in names:
        if name in by_header:
            return by_header[name]
    return None


def _column(
    table: Table,
    field: str,
    hxl: Sequence[str],
    plain: Sequence[str],
    overrides: Mapping[str, str],
    exclude: Iterable[str] = (),
) -> Column | None:
    """The column for ``field``: the caller's override, else the first HXL pattern, else a plain name."""
    if field in overrides:
        wanted = overrides[field]
        col = _find_hxl(table, wanted) if wanted.strip().startswith("#") else _find_plain(table, [_normal_header(wanted)])
        if col is None:
            raise table.error(f"no column {wanted!r} for {field} (columns={{{field!r}: ...}})")
        return col
    for pattern in hxl:
        col = _find_hxl(table, pattern, exclude)
        if col is not None:
            return col
    return _find_plain(table, plain)


_SEX_AGE = ("f", "m", "female", "male", "children", "adults", "elderly", "infants", "age0_4", "age5_17", "age18_59", "age60")
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lat": (("#geo+lat",), ("lat", "latitude", "y")),
    "lon": (("#geo+lon",), ("lon", "lng", "long", "longitude", "x")),
    "population": (("#population",), ("population", "pop", "total_population")),
    "affected": (("#affected",), ("affected", "people_affected")),
    "inneed": (("#inneed",), ("inneed", "in_need", "people_in_need", "pin")),
    "severity": (("#severity",), ("severity",)),
    "zone": ((), ("zone",)),
    "window_open_h": ((), ("window_open_h", "open_h")),
    "window_close_h": ((), ("window_close_h", "close_h")),
    "service_h": ((), ("service_h",)),
}
# id and name come from the most local level that has either (a market, then a county...)
_LEVELS = ("loc", "adm5", "adm4", "adm3", "adm2", "adm1")
_ZONE_KEYS = ("#adm5+code", "#adm4+code", "#adm3+code", "#adm2+code", "#adm1+code",
              "#adm5+name", "#adm4+name", "#adm3+name", "#adm2+name", "#adm1+name")


def _id_name_columns(table: Table, overrides: Mapping[str, str]) -> tuple[Column | None, Column | None]:
    id_col = _column(table, "id", (), ("id", "site_id", "depot_id", "code", "pcode"), overrides)
    name_col = _column(table, "name", (), ("name", "site_name", "depot_name", "site"), overrides)
    if id_col is None and name_col is None:
        for level in _LEVELS:
            id_col = _find_hxl(table, f"#{level}+code")
            name_col = _find_hxl(table, f"#{level}+name")
            if id_col is not None or name_col is not None:
                break
    elif id_col is None and "id" not in overrides:
        id_col = _find_hxl(table, "#loc+code")
    elif name_col is None and "name" not in overrides:
        name_col = _find_hxl(table, "#loc+name")
    return id_col, name_col


# ----- parsing cells ----------------------------------------------------------------------------
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _number(table: Table, row: int, col: Column, text: str, what: str) -> float:
    cleaned = text.replace("\u00a0", "").replace(" ", "")
    if _THOUSANDS.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if not cleaned:
        raise table.error(f"{what} is missing", row, col, text)
    try:
        value = float(cleaned)
    except ValueError:
        raise table.error(f"{what} is not a number", row, col, text) from None
    if not math.isfinite(value):
        raise table.error(f"{what} is not a finite number", row, col, text)
    return value


def _non_negative(table: Table, row: int, col: Column, text: str, what: str) -> float:
    value = _number(table, row, col, text, what)
    if value < 0:
        raise table.error(f"{what} is negative", row, col, text)
    return value


def _whole(table: Table, row: int, col: Column, text: str, what: str, low: int, high: int | None = None) -> int:
    value = _number(table, row, col, text, what)
    if not value.is_integer() or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"≥ {low}"
        raise table.error(f"{what} is not a whole number {span}", row, col, text)
    return int(value)


def _coordinates(table: Table, row: int, col: Column, text: str) -> tuple[float, float]:
    """``lat,lon`` in one cell (HXL ``#geo+coord``: latitude first, as HXL specifies)."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if len(parts) != 2:
        raise table.error("coordinates must be 'lat,lon'", row, col, text)
    return (_number(table, row, col, parts[0], "latitude"), _number(table, row, col, parts[1], "longitude"))


# ----- rows to nodes ----------------------------------------------------------------------------
def _quantity_columns(table: Table, commodities: Sequence[str], plain_prefix: str, hxl_marks: Sequence[str]) -> dict[str, Column]:
    """``{commodity: column}`` for ``<plain_prefix><commodity>`` headers or ``#item+<commodity>``
    tags (``hxl_marks`` are attributes that must also be present, e.g. ``stock``; for need columns
    a ``+stock`` attribute disqualifies)."""
    out: dict[str, Column] = {}
    for commodity in commodities:
        attr = commodity.lower()
        col = None
        if re.fullmatch(r"[a-z][a-z0-9_]*", attr):
            pattern = "#item+" + "+".join([*hxl_marks, attr])
            col = _find_hxl(table, pattern, exclude=() if hxl_marks else ("stock",))
        if col is None:
            col = _find_plain(table, [_normal_header(plain_prefix + commodity)])
        if col is not None:
            out[commodity] = col
    return out


def _zone_resolver(
    table: Table, zone_of: ZoneOf | None, zone_column: str | None
) -> Callable[[int, Sequence[str]], tuple[str | None, bool]] | None:
    """A function ``(row, cells) -> (zone, from_zone_of)``; never guesses: an unmapped value is an error."""
    if zone_of is None:
        return None
    if callable(zone_of) and not isinstance(zone_of, Mapping):
        func = zone_of

        def by_callable(row: int, cells: Sequence[str]) -> tuple[str | None, bool]:
            zone = func(table.row_mapping(cells))
            if zone is not None and not isinstance(zone, str):
                raise table.error(f"zone_of returned {type(zone).__name__}, not a zone id", row, None, zone)
            return zone, True

        return by_callable

    mapping = dict(zone_of)
    if zone_column is not None:
        key_col = _column(table, "zone key", (), (), {"zone key": zone_column})
    else:
        keyed = [c for c in (_find_hxl(table, p) for p in _ZONE_KEYS) if c is not None]
        key_col = next((c for c in keyed if any(cells[c.index] in mapping for _, cells in table.rows)), None)
        if key_col is None:
            raise table.error(
                "zone_of is a mapping but no admin column (#adm1..5 +code/+name) holds any of its keys; "
                "name the column with zone_column="
            )

    def by_mapping(row: int, cells: Sequence[str]) -> tuple[str | None, bool]:
        key = cells[key_col.index]  # type: ignore[union-attr]
        if key not in mapping:
            raise table.error("no zone is mapped for this value (zone_of, --zone-map): a place is never put in a zone by guess", row, key_col, key)
        return mapping[key], True

    return by_mapping


def _nodes_from_table(
    path: str | Path,
    kind: Literal["site", "depot"],
    *,
    commodities: Sequence[str],
    zone_of: ZoneOf | None,
    zone_column: str | None,
    columns: Mapping[str, str] | None,
    ration: Mapping[str, float] | None,
    people: Literal["inneed", "affected", "population"] | None,
    default_need: Mapping[str, float] | None,
    default_severity: int | None,
    id_prefix: str,
    attribution: str | None,
    sheet: str | int | None,
) -> list[dict[str, Any]]:
    table = read_table(path, sheet=sheet)
    overrides = dict(columns or {})
    id_col, name_col = _id_name_columns(table, overrides)
    found = {
        field: _column(table, field, hxl, plain, overrides, exclude=_SEX_AGE if field in {"population", "affected", "inneed"} else ())
        for field, (hxl, plain) in _FIELDS.items()
    }
    coord_col = None
    if found["lat"] is None and found["lon"] is None:
        coord_col = _column(table, "coord", ("#geo+coord",), ("coordinates", "coord", "latlon", "lat_lon"), overrides)
    if coord_col is None:
        for field in ("lat", "lon"):
            if found[field] is None:
                raise table.error(f"no {field} column (#geo+{field}, #geo+coord, or a header {', '.join(_FIELDS[field][1][:2])})")
    if id_col is None and name_col is None:
        raise table.error("no id or name column (#loc+code, #loc+name, #adm2+code..., or a header id/name)")
    zone_for = _zone_resolver(table, zone_of, zone_column)

    ration = dict(ration or {})
    default_need = dict(default_need or {})
    stray = sorted((set(ration) | set(default_need)) - set(commodities))
    if stray:
        raise table.error(f"ration/default_need name {', '.join(map(repr, stray))}, not among commodities {list(commodities)}")
    if kind == "site":
        quantity_cols = _quantity_columns(table, commodities, "need_", ())
        basis = people or next((p for p in ("inneed", "affected", "population") if found[p] is not None), None)
        if ration and (basis is None or found[basis] is None):
            raise table.error(f"a ration needs a people column ({basis or '#inneed, #affected or #population'})")
        for commodity in commodities:
            sources = [s for s, present in (("column", commodity in quantity_cols), ("ration", commodity in ration), ("default_need", commodity in default_need)) if present]
            if not sources:
                raise table.error(
                    f"no need for commodity {commodity!r}: no column need_{commodity} or #item+{commodity.lower()}, "
                    "and no ration or default_need for it"
                )
            if len(sources) > 1:
                raise table.error(f"need of {commodity!r} given twice ({' and '.join(sources)}): keep one")
        if found["severity"] is None and default_severity is None:
            raise table.error("no severity column (#severity or a header severity): pass default_severity= (command line: --severity) to use one value for every row")
    else:
        quantity_cols = _quantity_columns(table, commodities, "stock_", ("stock",))
        basis = None

    nodes: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row, cells in table.rows:
        cell = lambda col: cells[col.index]  # noqa: E731
        defaults: list[str] = []
        if id_col is not None:
            node_id = cell(id_col)
            if not node_id:
                raise table.error("id is missing", row, id_col, node_id)
            node_id = id_prefix + node_id
        else:
            node_id = f"{id_prefix}r{row}"
            defaults.append("id")
        if node_id in seen:
            raise table.error(f"duplicated id {node_id!r} (already on row {seen[node_id]})", row, id_col, cell(id_col) if id_col else None)
        seen[node_id] = row

        if coord_col is not None:
            lat, lon = _coordinates(table, row, coord_col, cell(coord_col))
            lat_col = lon_col = coord_col
        else:
            lat_col, lon_col = found["lat"], found["lon"]
            lat = _number(table, row, lat_col, cell(lat_col), "latitude")  # type: ignore[arg-type]
            lon = _number(table, row, lon_col, cell(lon_col), "longitude")  # type: ignore[arg-type]
        if not -90 <= lat <= 90:
            raise table.error("latitude outside [-90, 90] (are lat and lon swapped?)", row, lat_col, cell(lat_col))  # type: ignore[arg-type]
        if not -180 <= lon <= 180:
            raise table.error("longitude outside [-180, 180]", row, lon_col, cell(lon_col))  # type: ignore[arg-type]

        node: dict[str, Any] = {"id": node_id, "kind": kind}
        if name_col is not None and cell(name_col):
            node["name"] = cell(name_col)
        node.update(lat=lat, lon=lon)

        zone = None
        zone_col = found["zone"]
        if zone_col is not None:
            zone = cell(zone_col) or None
        if zone_for is not None:
            mapped, _ = zone_for(row, cells)
            if zone_col is not None and zone is not None and mapped != zone:
                raise table.error(
                    f"the table puts this place in zone {zone!r} but zone_of gives {mapped!r}: a place is never moved silently",
                    row, zone_col, zone,
                )
            zone = mapped if zone is None else zone
        node["zone"] = zone

        if kind == "site":
            need: dict[str, float] = {}
            people_count = None
            if basis is not None and found[basis] is not None and ration:
                people_count = _non_negative(table, row, found[basis], cell(found[basis]), f"{basis}")  # type: ignore[arg-type]
            for commodity in commodities:
                if commodity in quantity_cols:
                    col = quantity_cols[commodity]
                    need[commodity] = _non_negative(table, row, col, cell(col), f"need of {commodity}")
                elif commodity in ration:
                    need[commodity] = float(people_count) * float(ration[commodity])  # type: ignore[arg-type]
                else:
                    need[commodity] = float(default_need[commodity])
                    defaults.append(f"need.{commodity}")
            if not any(units > 0 for units in need.values()):
                cols = [quantity_cols[c] for c in commodities if c in quantity_cols]
                raise table.error(
                    f"need has no positive quantity ({', '.join(f'{c}={u:g}' for c, u in need.items())})",
                    row, cols[0] if len(cols) == 1 else None,
                )
            node["need"] = need
            pop_col = found["population"]
            if pop_col is not None:
                node["population"] = _whole(table, row, pop_col, cell(pop_col), "population", 0)
            if found["severity"] is not None:
                node["severity"] = _whole(table, row, found["severity"], cell(found["severity"]), "severity", 1, 5)  # type: ignore[arg-type]
            else:
                node["severity"] = int(default_severity)  # type: ignore[arg-type]
                defaults.append("severity")
            wo, wc = found["window_open_h"], found["window_close_h"]
            if (wo is None) != (wc is None):
                raise table.error("a window needs both window_open_h and window_close_h columns")
            if wo is not None and wc is not None and (cell(wo) or cell(wc)):
                opens = _non_negative(table, row, wo, cell(wo), "window opening")
                closes = _non_negative(table, row, wc, cell(wc), "window closing")
                if closes < opens:
                    raise table.error(f"window closes before it opens ({opens:g} > {closes:g})", row, wc, cell(wc))
                node["window"] = [opens, closes]
            if found["service_h"] is not None and cell(found["service_h"]):
                node["service_h"] = _non_negative(table, row, found["service_h"], cell(found["service_h"]), "service time")
            for extra in ("affected", "inneed"):
                col = found[extra]
                if col is not None and cell(col):
                    node[f"x_{extra}"] = _whole(table, row, col, cell(col), extra, 0)
        else:
            stock = {c: _non_negative(table, row, col, cell(col), f"stock of {c}") for c, col in quantity_cols.items()}
            node["stock"] = stock

        admin = {}
        for level in ("adm1", "adm2", "adm3"):
            for part in ("code", "name"):
                col = _find_hxl(table, f"#{level}+{part}")
                if col is not None and col is not id_col and col is not name_col and cell(col):
                    admin[f"{level}_{part}"] = cell(col)
        if admin:
            node["x_admin"] = admin
        source: dict[str, Any] = {"file": table.file, "row": row}
        if table.sheet is not None:
            source["sheet"] = table.sheet
        if attribution:
            source["attribution"] = attribution
        if defaults:
            source["defaults"] = defaults
        node["x_source"] = source
        nodes.append(node)
    if not nodes:
        raise table.error("the table has a header but no data row")
    return nodes


def commodities_in_table(
    path: str | Path, candidates: Sequence[str], *, kind: Literal["site", "depot"] = "site", sheet: str | int | None = None
) -> list[str]:
    """Which of ``candidates`` have a need (site) or stock (depot) column in the table, in order."""
    table = read_table(path, sheet=sheet)
    if kind == "site":
        found = _quantity_columns(table, candidates, "need_", ())
    else:
        found = _quantity_columns(table, candidates, "stock_", ("stock",))
    return [c for c in candidates if c in found]


def sites_from_table(
    path: str | Path,
    *,
    commodities: Sequence[str],
    zone_of: ZoneOf | None = None,
    zone_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    ration: Mapping[str, float] | None = None,
    people: Literal["inneed", "affected", "population"] | None = None,
    default_need: Mapping[str, float] | None = None,
    default_severity: int | None = None,
    id_prefix: str = "",
    attribution: str | None = None,
    sheet: str | int | None = None,
) -> list[dict[str, Any]]:
    """Site node dicts (FORMAT.md §1) from a CSV/XLSX table, one per data row, in file order.

    Columns are found by HXL tag (``#loc+code``/``#loc+name`` or the most local ``#admN`` level,
    ``#geo+lat``, ``#geo+lon`` (or ``#geo+coord`` holding ``lat,lon``), ``#population`` preferring ``+total``, ``#severity``,
    ``#item+<commodity>``) or by plain header (``id, name, lat, lon, population, severity,
    need_<commodity>, zone, window_open_h, window_close_h, service_h``); ``columns`` overrides
    either (``{"lat": "#geo+lat+precise"}`` or ``{"population": "T_TL"}``).

    The need of each commodity comes from exactly one source: its column, ``ration`` (units per
    person × the ``people`` column: ``#inneed``, else ``#affected``, else ``#population``), or
    ``default_need`` (the same for every row, recorded in ``x_source.defaults``).
    ``zone_of`` is a mapping from an admin value (``zone_column``, else the first ``#admN`` column
    holding one of its keys) to a zone id, or a callable taking the row (keyed by header and by
    tag); a value it does not know is an error, and a plain ``zone`` column that disagrees with it
    is an error. Without either, nodes have no zone.
    """
    return _nodes_from_table(
        path, "site", commodities=commodities, zone_of=zone_of, zone_column=zone_column, columns=columns,
        ration=ration, people=people, default_need=default_need, default_severity=default_severity,
        id_prefix=id_prefix, attribution=attribution, sheet=sheet,
    )


def depots_from_table(
    path: str | Path,
    *,
    commodities: Sequence[str],
    zone_of: ZoneOf | None = None,
    zone_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    id_prefix: str = "",
    attribution: str | None = None,
    sheet: str | int | None = None,
) -> list[dict[str, Any]]:
    """Depot node dicts from a table: as :func:`sites_from_table`, with stock from
    ``stock_<commodity>`` or ``#item+stock+<commodity>`` columns (a commodity without a column
    has no stock there)."""
    return _nodes_from_table(
        path, "depot", commodities=commodities, zone_of=zone_of, zone_column=zone_column, columns=columns,
        ration=None, people=None, default_need=None, default_severity=None,
        id_prefix=id_prefix, attribution=attribution, sheet=sheet,
    )


def scenario_with_sites(
    base: "Scenario | Mapping[str, Any]", nodes: Sequence[Mapping[str, Any]], *, replace: bool = False
) -> "Scenario":
    """``base`` (a Scenario or scenario dict) with ``nodes`` added, validated as a new Scenario.

    A node whose id is already in ``base`` is an error unless ``replace``; even then it may not
    change kind or zone (a place is never moved to another zone silently). Unknown zones and
    commodities are reported against the node's source row rather than as a JSON path.
    """
    from allocate.scenario import Scenario

    data = base.to_dict() if isinstance(base, Scenario) else dict(base)
    existing = {n["id"]: i for i, n in enumerate(data.get("nodes", [])) if isinstance(n, Mapping) and "id" in n}
    zones = {z.get("id") for z in data.get("zones", []) if isinstance(z, Mapping)}
    commodities = {c.get("id") for c in data.get("commodities", []) if isinstance(c, Mapping)}
    nodes_out = [dict(n) for n in data.get("nodes", [])]

    def fault(node: Mapping[str, Any], message: str) -> TableError:
        source = node.get("x_source") if isinstance(node.get("x_source"), Mapping) else {}
        return TableError(f"node {node.get('id')!r}: {message}", file=source.get("file"), row=source.get("row"))

    added: set[str] = set()
    for node in nodes:
        node_id = node.get("id")
        if node_id in added:
            raise fault(node, "added twice")
        added.add(node_id)
        zone = node.get("zone")
        if zone is not None and zone not in zones:
            raise fault(node, f"zone {zone!r} is not a zone of the base scenario ({', '.join(sorted(map(str, zones)))})")
        for field in ("need", "stock"):
            for commodity in node.get(field) or {}:
                if commodity not in commodities:
                    raise fault(node, f"{field} names commodity {commodity!r}, unknown to the base scenario")
        if node_id in existing:
            old = nodes_out[existing[node_id]]
            if not replace:
                raise fault(node, "the base scenario already has a node with this id (replace=True, or --replace on the command line, to update it)")
            if old.get("kind") != node.get("kind"):
                raise fault(node, f"would turn a {old.get('kind')} into a {node.get('kind')}")
            if old.get("zone") != zone:
                raise fault(node, f"would move it from zone {old.get('zone')!r} to {zone!r}: a place is never moved silently")
            nodes_out[existing[node_id]] = dict(node)
        else:
            nodes_out.append(dict(node))
    data["nodes"] = nodes_out
    return Scenario.from_dict(data)


# ----- plan out as CSV ----------------------------------------------------------------------------
# HXL has no core hashtag for convoys, hours or tonnes; #meta carries those, as HXL advises.
DELIVERY_HXL = {
    "convoy": "#activity+convoy+code",
    "organization": "#org+code",
    "depot": "#loc+depot+code",
    "site": "#loc+code",
    "site_name": "#loc+name",
    "zone": "#meta+zone",
    "commodity": "#item+code",
    "units": "#output+units",
    "weight_t": "#output+weight_t",
    "arrive_h": "#meta+arrive_h",
    "escort": "#org+escort+code",
}
CONVOY_HXL = {
    "convoy": "#activity+convoy+code",
    "organization": "#org+code",
    "depot": "#loc+depot+code",
    "vehicles": "#meta+vehicles+num",
    "stops": "#meta+stops+num",
    "depart_h": "#meta+depart_h",
    "return_h": "#meta+return_h",
    "escort": "#org+escort+code",
    "path": "#meta+path",
    "km": "#meta+km",
    "route_risk": "#meta+risk",
    "delivered_t": "#output+weight_t",
}
UNMET_HXL = {"site": "#loc+code", "site_name": "#loc+name", "reason": "#status+reason", "coverage": "#meta+coverage"}


def _write_csv(path: Path, frame: Any, tags: Mapping[str, str], hxl: bool) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        columns = list(frame.columns)
        writer.writerow(columns)
        if hxl:
            writer.writerow([tags.get(c, "#meta+" + re.sub(r"[^a-z0-9_]", "_", c.lower())) for c in columns])
        for record in frame.itertuples(index=False, name=None):
            writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in record])


def write_plan_csv(plan: "Plan", directory: str | Path, *, scenario: "Scenario | None" = None, hxl: bool = False) -> list[Path]:
    """Write ``deliveries.csv`` (one row per unload), ``convoys.csv`` and ``unmet.csv`` into
    ``directory``; with ``hxl`` a hashtag row follows the header so HXL tools read them.

    With the ``scenario`` the files also carry site names, zones, tonnes, route km and risk.
    """
    import pandas as pd

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    deliveries = plan.deliveries()
    convoys = plan.convoy_frame()
    if convoys.empty:
        convoys = pd.DataFrame(columns=["convoy", "organization", "depot", "vehicles", "stops", "depart_h", "return_h", "escort", "path"])
    unmet = pd.DataFrame([{"site": u.site, "reason": u.reason} for u in plan.unmet], columns=["site", "reason"])
    if scenario is not None:
        from allocate.network import RoadNetwork, path_risk
        from allocate.plan import site_coverage

        nodes = scenario.node_by_id
        name = lambda n: getattr(nodes.get(n), "name", None) or ""  # noqa: E731
        weight = {c.id: c.weight_t for c in scenario.commodities}
        deliveries.insert(deliveries.columns.get_loc("site") + 1, "site_name", [name(s) for s in deliveries["site"]])
        deliveries.insert(deliveries.columns.get_loc("site_name") + 1, "zone", [getattr(nodes.get(s), "zone", None) or "" for s in deliveries["site"]])
        deliveries.insert(deliveries.columns.get_loc("units") + 1, "weight_t", [u * weight.get(c, math.nan) for c, u in zip(deliveries["commodity"], deliveries["units"])])
        network = RoadNetwork(scenario)
        escorts = scenario.escort_by_id
        km, risk, tonnes = [], [], []
        for convoy in plan.convoys:
            km.append(network.measure(convoy.path).km)
            eff = escorts[convoy.escort].effectiveness if convoy.escort in escorts else 0.0
            risk.append(path_risk(network, convoy.path, eff))
            tonnes.append(scenario.weight_t(convoy.unloaded()))
        convoys["km"], convoys["route_risk"], convoys["delivered_t"] = km, risk, tonnes
        coverage = site_coverage(scenario, plan.convoys)
        unmet.insert(1, "site_name", [name(s) for s in unmet["site"]])
        unmet["coverage"] = [coverage[s].ratio if s in coverage else math.nan for s in unmet["site"]]
    paths = [out / "deliveries.csv", out / "convoys.csv", out / "unmet.csv"]
    for path, frame, tags in zip(paths, (deliveries, convoys, unmet), (DELIVERY_HXL, CONVOY_HXL, UNMET_HXL)):
        _write_csv(path, frame, tags, hxl)
    return paths
