"""Analysts' inputs and outputs: CSV/XLSX with HXL tags, GeoJSON for QGIS, PNG maps.

The names below are importable from ``allocate.io`` directly; each submodule is loaded on first
use, so ``import allocate`` never pays for pandas or matplotlib.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "read_table": "csv_hxl",
    "sites_from_table": "csv_hxl",
    "depots_from_table": "csv_hxl",
    "commodities_in_table": "csv_hxl",
    "scenario_with_sites": "csv_hxl",
    "write_plan_csv": "csv_hxl",
    "plan_to_geojson": "geojson",
    "scenario_to_geojson": "geojson",
    "roads_from_geojson": "geojson",
    "write_geojson": "geojson",
    "plot_plan": "plots",
    "plot_scenario": "plots",
    "save_png": "plots",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"allocate.io.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'allocate.io' has no attribute {name!r}")
