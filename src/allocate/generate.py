"""Synthetic crisis scenarios (FORMAT.md §1) for tests, benchmarks and teaching.

placeholder: the generator lands in the next commit; the helpers below are shared with the
model build scripts in ``models/scripts``.
"""

from __future__ import annotations

import json
import math
from typing import Any

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km: the straight line a road's length is scaled from."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def dumps(scenario: dict[str, Any]) -> str:
    """Serialise a scenario dict, one list entry per line.

    Why: sample crises live in git; one entity per line keeps diffs readable and files small,
    and a fixed layout makes byte-for-byte reproducibility checks meaningful.
    """
    lines = ["{"]
    items = list(scenario.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {json.dumps(key)}: [")
            for j, entry in enumerate(value):
                sep = "," if j < len(value) - 1 else ""
                lines.append("    " + json.dumps(entry, ensure_ascii=False) + sep)
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
