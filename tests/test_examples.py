"""The examples an analyst copies keep working: they run and write what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_plan_and_export_writes_a_checked_plan_and_its_exports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plan_and_export.py"), str(ROOT / "models" / "tiny.json"), str(out),
         "--time-limit", "5"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "checker: ok" in run.stdout
    for name in ("plan.json", "deliveries.csv", "convoys.csv", "unmet.csv", "plan.geojson", "map.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "plan.json").read_text())["format"] == "allocate.plan/1"
    assert json.loads((out / "plan.geojson").read_text())["type"] == "FeatureCollection"
