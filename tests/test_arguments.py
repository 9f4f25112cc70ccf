"""The argument rules (arguments.py): one seed rule at every entry point that takes a seed, library
and command line, and whole-number counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import allocate
from allocate import cli
from allocate.scenario import Scenario, load_scenario
from allocate.arguments import MAX_SEED
from allocate.sweep import insecurity_samples, sweep

TINY = Path(__file__).resolve().parents[1] / "models" / "tiny.json"


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, True, 1.0])
def test_every_entry_point_refuses_a_seed_the_solvers_cannot_take(tiny: Scenario, seed: object) -> None:
    """Named, with its value, before any work: not from numpy or CP-SAT deep in a solve."""
    from allocate.distribute import distribute
    from allocate.escorts import assign_escorts
    from allocate.generate import generate
    from allocate.routing import route
    from allocate.vrp import solve_instance

    for call in (lambda: allocate.plan(tiny, time_limit=1, seed=seed), lambda: distribute(tiny, seed=seed),
                 lambda: route(tiny, None, seed=seed), lambda: assign_escorts(tiny, [], seed=seed),
                 lambda: solve_instance("never-read.vrp", seed=seed),
                 lambda: generate(10, seed=seed), lambda: insecurity_samples(tiny, 1, seed=seed),
                 lambda: sweep([tiny], seed=seed)):
        with pytest.raises(ValueError, match=rf"^seed must be a whole number from 0 to {MAX_SEED} \(value {seed!r}\)"):
            call()


@pytest.mark.parametrize("command", [["solve", str(TINY), "-o", "unused.json"], ["distribute", str(TINY)],
                                     ["generate", "--sites", "5", "-o", "unused.json"], ["sweep", str(TINY)]])
def test_every_command_exits_2_on_a_seed_the_solvers_cannot_take(command: list[str]) -> None:
    result = CliRunner().invoke(cli.app, [*command, "--seed", "-1"])
    assert result.exit_code == 2
    assert f"--seed must be a whole number from 0 to {MAX_SEED} (value -1)" in " ".join(result.output.split())
