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


def test_insecurity_sweep_plans_the_samples_checks_them_and_ranks_the_sites(tmp_path: Path) -> None:
    table = tmp_path / "sites.csv"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "insecurity_sweep.py"), str(ROOT / "models" / "tiny.json"),
         "--samples", "2", "--time-limit", "3", "--csv", str(table)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "checker: ok" in run.stdout and "tiny#2" in run.stdout
    rows = table.read_text().splitlines()
    assert rows[0] == "site,severity,given,samples_mean,samples_min,drop"
    assert len(rows) == 1 + 12, "one row per site of tiny"
