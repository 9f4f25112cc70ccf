"""Sample crises in models/: every file validates, and the build scripts reproduce them."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from allocate.generate import dumps
from allocate.network import RoadNetwork, Usability
from allocate.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
MODELS = sorted((REPO / "models").glob("*.json"))
SCRIPTS = REPO / "models" / "scripts"
DATA = REPO.parent / "shared" / "data" / "real"


def test_models_exist() -> None:
    names = {p.stem for p in MODELS}
    assert {"tiny", "south_sudan", "darfur_like", "kosovo_like", "haiti_like",
            "cote_divoire_like"} <= names


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_model_loads_and_is_documented(path: Path) -> None:
    s = load_scenario(path)
    assert s.note, "every sample crisis says what it teaches"
    assert path.stat().st_size < 3_000_000
    readme = (REPO / "models" / "README.md").read_text(encoding="utf-8")
    assert f"`{path.name}`" in readme


def test_one_model_is_large() -> None:
    sizes = [sum(1 for n in load_scenario(p).nodes if n.kind == "site") for p in MODELS]
    assert max(sizes) >= 1000


def _run(script: str, *args: str) -> None:
    subprocess.run([sys.executable, str(SCRIPTS / script), *args], check=True, cwd=REPO)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/real not present")
def test_south_sudan_reproduces_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "ss.json"
    _run("build_south_sudan.py", str(out))
    assert out.read_bytes() == (REPO / "models" / "south_sudan.json").read_bytes()


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_and_synthetic_reproduce() -> None:
    """In-process (cheaper than a subprocess each): same builders, same bytes."""
    built = {"tiny": _script("build_tiny").build()}
    built |= {name: make() for name, make in _script("build_synthetic").MODELS.items()}
    for name, scenario in built.items():
        committed = (REPO / "models" / f"{name}.json").read_text(encoding="utf-8")
        assert dumps(scenario) == committed, name


# ----- tiny: the hand-derived access facts of models/README.md ----------------------------------
@pytest.fixture(scope="module")
def tiny() -> RoadNetwork:
    return RoadNetwork(load_scenario(REPO / "models" / "tiny.json"))


def _round_risk(net: RoadNetwork, depot: str, site: str, usability: Usability,
                effectiveness: float = 0.0) -> float:
    return -math.expm1(-net.round_trip(depot, site, "risk", usability, effectiveness))


LIGHT, HEAVY = Usability(vehicle_weight_t=8), Usability(vehicle_weight_t=20)


def test_tiny_denied_enclave_is_unreachable(tiny: RoadNetwork) -> None:
    assert math.isinf(tiny.round_trip("D1", "S11", "hours", LIGHT))
    assert math.isinf(tiny.round_trip("D2", "S11", "hours", LIGHT))


def test_tiny_bridge_stops_heavy_trucks(tiny: RoadNetwork) -> None:
    assert math.isinf(tiny.round_trip("D1", "S12", "hours", HEAVY))
    assert _round_risk(tiny, "D1", "S12", LIGHT) <= 0.05


@pytest.mark.parametrize("site", ["S01", "S02", "S03", "S04", "S08"])
def test_tiny_safe_sites(tiny: RoadNetwork, site: str) -> None:
    assert _round_risk(tiny, "D1", site, HEAVY) <= 0.05


@pytest.mark.parametrize("site", ["S05", "S06", "S07", "S09", "S10"])
def test_tiny_escort_only_sites(tiny: RoadNetwork, site: str) -> None:
    for depot in ("D1", "D2"):
        assert _round_risk(tiny, depot, site, LIGHT) > 0.05
    assert _round_risk(tiny, "D2", site, LIGHT, 0.85) <= 0.2  # the UN escort


@pytest.mark.parametrize("site", ["S09", "S10"])
def test_tiny_government_escort_cannot_enter_front_zone(tiny: RoadNetwork, site: str) -> None:
    avoid = Usability(vehicle_weight_t=8, avoid_opposed_to="gov")
    assert math.isinf(tiny.round_trip("D1", site, "hours", avoid))
