"""Analysts' inputs and outputs: CSV/XLSX with HXL tags, GeoJSON for QGIS, PNG maps.

Submodules are imported on use (``from allocate.io.geojson import plan_to_geojson``) so that
``import allocate`` never pays for pandas or matplotlib.
"""
