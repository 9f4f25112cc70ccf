"""The work clock: under deterministic=True the heuristics' deadlines count work, not seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from allocate import clock, waves
from allocate.network import RoadNetwork
from allocate.planner import plan
from allocate.scenario import Scenario
from allocate.waves import fill_idle_trucks

ROOT = Path(__file__).resolve().parents[1]


def _many_sites(n: int = 24) -> Scenario:
    """One depot, ``n`` sites each an hour away on a safe road, two trucks: ``n`` loads to place."""
    return Scenario.from_dict(
        {
            "format": "allocate.scenario/1",
            "name": "clock",
            "horizon_h": 72,
            "commodities": [{"id": "food", "weight_t": 0.05, "volume_m3": 0.1}],
            "parties": [],
            "zones": [],
            "nodes": [{"id": "D", "kind": "depot", "lat": 0, "lon": 0, "stock": {"food": 100000}}]
            + [{"id": f"S{i:02d}", "kind": "site", "lat": 0.01 * i, "lon": 1, "need": {"food": 200},
                "severity": 1 + i % 5} for i in range(n)],
            "roads": [{"a": "D", "b": f"S{i:02d}", "km": 40, "hours": 1, "risk": 0.0} for i in range(n)],
            "organizations": [{"id": "wfp", "escort_policy": "accept", "military_assets": "never"}],
            "fleet": [{"id": "truck", "organization": "wfp", "depot": "D", "count": 2, "capacity_t": 10,
                       "capacity_m3": 40}],
            "escorts": [],
        }
    )


def _loads(scenario: Scenario) -> dict[tuple[str, str], dict[str, float]]:
    return {("D", s.id): {"food": 200.0} for s in scenario.sites}


def test_work_clock_counts_ticks_and_added_seconds() -> None:
    work = clock.WorkClock(work_end=10.0, wall_end=time.monotonic() + 60, seconds_per_step=0.5)
    with clock.using(work):
        clock.tick(4)
        clock.advance(1.5)
        clock.advance(-3.0)  # nothing taken back
        assert clock.now() == pytest.approx(3.5)
    assert work.steps == 4 and not work.cut
    # outside the block the wall clock is back
    assert abs(clock.now() - time.monotonic()) < 1.0


def test_past_the_wall_end_every_deadline_falls_due_and_the_clock_says_so() -> None:
    work = clock.WorkClock(work_end=10.0, wall_end=time.monotonic() - 1.0)
    assert work.now() == 10.0 and work.cut
    assert work.work == 0.0  # the work counted is not changed


def test_a_deadline_in_work_stops_at_the_same_load_however_slow_the_machine(monkeypatch) -> None:
    scenario = _many_sites()
    network = RoadNetwork(scenario)
    counted = clock.WorkClock(work_end=1e9, wall_end=time.monotonic() + 600, seconds_per_step=1.0)
    with clock.using(counted):
        everything = fill_idle_trucks(scenario, network, [], _loads(scenario))
    assert len(everything) == 24
    half = counted.work / 2  # a deadline half way through the work

    def run() -> list:
        with clock.using(clock.WorkClock(work_end=1e9, wall_end=time.monotonic() + 600, seconds_per_step=1.0)):
            return fill_idle_trucks(scenario, RoadNetwork(scenario), [], _loads(scenario), deadline=half)

    quick = run()
    assert 0 < len(quick) < len(everything)
    peak = waves._peak

    def slow_peak(*args, **kwargs):
        time.sleep(0.002)  # a busy machine
        return peak(*args, **kwargs)

    monkeypatch.setattr(waves, "_peak", slow_peak)
    assert run() == quick
    # on the wall clock the same slowdown reaches fewer loads by a deadline that the quick
    # run's pace would have met
    started = time.monotonic()
    monkeypatch.setattr(waves, "_peak", peak)
    fill_idle_trucks(scenario, RoadNetwork(scenario), [], _loads(scenario))
    quick_s = time.monotonic() - started
    monkeypatch.setattr(waves, "_peak", slow_peak)
    on_wall = fill_idle_trucks(scenario, RoadNetwork(scenario), [], _loads(scenario),
                               deadline=time.monotonic() + 2 * quick_s)
    assert len(on_wall) < len(everything)


def test_a_deterministic_plan_says_whether_the_same_seed_gives_it_again() -> None:
    scenario = Scenario.from_dict(json.loads((ROOT / "models" / "tiny.json").read_text()))
    first = plan(scenario, time_limit=20, seed=3, deterministic=True)
    notes = [n for n in first.solver.model_extra["notes"] if n.startswith("deterministic:")]
    assert len(notes) == 1 and "work seconds" in notes[0]
    again = plan(scenario, time_limit=20, seed=3, deterministic=True)
    assert [c.model_dump() for c in again.convoys] == [c.model_dump() for c in first.convoys]
    wall = plan(scenario, time_limit=20, seed=3)
    assert not any(n.startswith("deterministic:") for n in wall.solver.model_extra["notes"])


def test_the_note_names_each_clock_that_cut_in() -> None:
    from allocate.planner import _work_note

    work = clock.WorkClock(work_end=5.0, wall_end=time.monotonic() - 1.0)
    work.now()  # past the wall end: cut
    note = _work_note(work, "feasible", {"stopped_by": "time"})
    assert "may differ" in note
    assert "distribution MIP" in note and "routing" in note and "wall-clock end" in note
    calm = clock.WorkClock(work_end=5.0, wall_end=time.monotonic() + 60)
    assert "gives this plan again" in _work_note(calm, "optimal", {"stopped_by": "solutions"})


def test_after_a_cut_a_deadline_set_later_is_due_at_once() -> None:
    # a deadline computed after the cut lands on the frozen clock's own reading; it must still be
    # due, or a heuristic started then would run on past the time limit
    work = clock.WorkClock(work_end=5.0, wall_end=time.monotonic() - 1.0)
    with clock.using(work):
        later = clock.now() + 0.25 * max(0.0, work.work_end - clock.now())
        assert clock.due(later) and work.cut
        assert not clock.due(None)
    # the wall clock: due once the moment has come, never cut
    assert clock.due(time.monotonic() - 1.0) and not clock.due(time.monotonic() + 60)


def test_a_solver_stopped_by_the_wall_clock_marks_the_work_clock_cut() -> None:
    work = clock.WorkClock(work_end=5.0, wall_end=time.monotonic() + 60)
    with clock.using(work):
        clock.mark_cut()
    assert work.cut
    clock.mark_cut()  # on the wall clock: nothing to mark, no error
