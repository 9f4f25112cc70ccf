"""Many plans at once: sensitivity runs, Monte-Carlo insecurity samples, benchmark sweeps.

Why: one plan answers one picture of the roads, and insecurity is exactly what an analyst is least
sure of. :func:`insecurity_samples` draws road risks around the scenario's own; :func:`sweep` plans
each case, checks it with the independent checker, and returns one row per case.

Each case runs in a worker of any :class:`concurrent.futures.Executor`: by default a local process
pool of one worker per core, each plan's CP-SAT search on one thread (``plan(threads=1)``); a
``dask.distributed`` ``Client.get_executor(pure=False)`` runs the same sweep on a cluster. Cases
travel to the workers, and plans back, as FORMAT.md JSON text, which any executor can carry.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from allocate import clock
from allocate.arguments import require_finite, require_seed, require_whole
from allocate.check import check
from allocate.errors import AllocateError
from allocate.plan import Plan
from allocate.scenario import Scenario

_ROW_COLUMNS = ("label", "scenario", "status", "ok", "violations", "weighted_coverage", "bound", "of_bound",
                "min_site_coverage", "delivered_t", "convoys", "escorted_convoys", "max_route_risk", "unmet_sites",
                "seed", "time_limit", "seconds", "error")
_COUNT_COLUMNS = ("convoys", "escorted_convoys", "unmet_sites", "seed")
MAX_SAMPLED_RISK = 0.999  # a road's risk stays below 1 (FORMAT.md §1): a sample never closes a road by itself


@dataclass(frozen=True)
class SweepCase:
    """One scenario to plan, under a label that names it in the results."""

    label: str
    scenario: Scenario


@dataclass(frozen=True)
class SweepResult:
    """One case's plan and what the checker found in it.

    ``plan`` is None, and ``error`` says why, when the case failed (the other cases still ran).
    ``violations`` are the checker's codes, each once; ``seconds`` is the case's own wall time
    in its worker (planning and checking), not the time it waited for one.
    """

    label: str
    scenario: Scenario
    plan: Plan | None
    violations: tuple[str, ...]
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The case planned, and its plan breaks no rule of FORMAT.md §3."""
        return self.plan is not None and not self.violations

    def row(self) -> dict[str, Any]:
        """The case as one flat row: the plan's headline figures, ratio to the distribution bound."""
        metrics = self.plan.metrics if self.plan else {}
        solver = self.plan.solver if self.plan else None
        coverage = metrics.get("weighted_coverage")
        bound = solver.bound if solver else None
        return {
            "label": self.label,
            "scenario": self.scenario.name,
            "status": solver.status if solver else "error",
            "ok": self.ok,
            "violations": " ".join(self.violations),
            "weighted_coverage": coverage,
            "bound": bound,
            "of_bound": coverage / bound if coverage is not None and bound else None,
            "min_site_coverage": metrics.get("min_site_coverage"),
            "delivered_t": metrics.get("delivered_t"),
            "convoys": len(self.plan.convoys) if self.plan else None,
            "escorted_convoys": metrics.get("escorted_convoys"),
            "max_route_risk": metrics.get("max_route_risk"),
            "unmet_sites": len(self.plan.unmet) if self.plan else None,
            "seed": solver.seed if solver else None,
            "time_limit": solver.time_limit if solver else None,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


def insecurity_samples(
    scenario: Scenario,
    samples: int,
    *,
    seed: int = 0,
    road_spread: float = 0.5,
    zone_spread: float = 0.5,
) -> list[SweepCase]:
    """``samples`` copies of ``scenario`` whose road risks are drawn around the given ones.

    A road's risk moves on the log-odds scale: ``logit(r') = logit(r) + z + e``, where ``e`` is the
    road's own normal draw (standard deviation ``road_spread``) and ``z`` the mean of the draws of
    the zones at its two ends (``zone_spread``; an end without a zone adds 0). Why zones: insecurity
    moves by area, so the roads of a zone get riskier or safer together. A road with risk 0 stays at
    0 (a sample moves what was recorded, it invents no incident), and no risk reaches 1
    (at most :data:`MAX_SAMPLED_RISK`). Everything else is kept as it is; each copy's name gains
    ``[insecurity k/n]`` so that its plan names the copy it answers. The same seed gives the same
    samples.
    """
    require_whole(samples, "samples", minimum=0)
    require_finite(road_spread, "road_spread")
    require_finite(zone_spread, "zone_spread")
    require_seed(seed)
    rng = np.random.default_rng(seed)
    zones = [zone.id for zone in scenario.zones]
    zone_of = {node.id: node.zone for node in scenario.nodes}
    base = scenario.to_dict()
    cases = []
    for k in range(1, samples + 1):
        zone_shift = dict(zip(zones, rng.normal(0.0, zone_spread, len(zones)) if zone_spread else [0.0] * len(zones)))
        road_shift = rng.normal(0.0, road_spread, len(base["roads"])) if road_spread else np.zeros(len(base["roads"]))
        data = {**base, "name": f"{scenario.name} [insecurity {k}/{samples}]"}
        data["roads"] = [
            {**road, "risk": _shifted_risk(road["risk"], road_shift[i] + _mean_zone_shift(road, zone_of, zone_shift))}
            for i, road in enumerate(base["roads"])
        ]
        cases.append(SweepCase(f"{scenario.name}#{k}", Scenario.from_dict(data)))
    return cases


RESOURCES = ("stock", "fleet", "escorts", "need")  # what resource_variants scales


def resource_variants(scenario: Scenario, **factors: Sequence[float]) -> list[SweepCase]:
    """One copy of ``scenario`` per factor, one resource scaled at a time: ``stock`` (every depot's
    stock), ``fleet`` (every fleet type's ``count``), ``escorts`` (every escort unit's ``count``),
    ``need`` (every site's need); e.g. ``resource_variants(s, escorts=(0.5, 2), stock=(0.8,))``,
    in the order of :data:`RESOURCES`.

    Why one at a time: the sweep's table then says which resource the plan is most sensitive to.
    Counts are whole numbers (FORMAT.md §1), so a scaled count is rounded to the nearest (halves
    up); the copy's name says the factor (``[escorts × 2]``) and its label too (``name@escorts×2``).
    """
    unknown = sorted(set(factors) - set(RESOURCES))
    if unknown:
        raise ValueError(f"resource_variants scales {', '.join(RESOURCES)}, not {', '.join(unknown)}")
    base = scenario.to_dict()
    cases = []
    for resource in RESOURCES:
        for factor in factors.get(resource, ()):
            require_finite(factor, f"{resource} factors", positive=resource == "need")
            data = {**base, "name": f"{scenario.name} [{resource} × {factor:g}]"}
            _scale(data, resource, float(factor))
            cases.append(SweepCase(f"{scenario.name}@{resource}×{factor:g}", Scenario.from_dict(data)))
    return cases


def _scale(data: dict[str, Any], resource: str, factor: float) -> None:
    """Scale one resource of scenario data in place (counts rounded to whole numbers, halves up)."""
    whole = lambda count: int(math.floor(count * factor + 0.5))  # noqa: E731
    if resource == "stock":
        data["nodes"] = [{**node, "stock": {c: units * factor for c, units in node.get("stock", {}).items()}}
                         if node["kind"] == "depot" else node for node in data["nodes"]]
    elif resource == "need":
        data["nodes"] = [{**node, "need": {c: units * factor for c, units in node["need"].items()}}
                         if node["kind"] == "site" else node for node in data["nodes"]]
    else:
        key = "fleet" if resource == "fleet" else "escorts"
        data[key] = [{**entry, "count": whole(entry["count"])} for entry in data[key]]


def sweep(
    cases: Iterable[Scenario | SweepCase],
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    executor: Executor | None = None,
    workers: int | None = None,
    threads: int | None = 1,
    on_result: Callable[[SweepResult], None] | None = None,
    **plan_options: Any,
) -> list[SweepResult]:
    """Plan and check every case; the results in the order of ``cases``.

    Each plan gets ``time_limit`` seconds and ``seed`` (recorded in it) and ``plan_options``
    (``deterministic``, ``backend``...), with ``threads`` CP-SAT workers. ``executor``: any
    :class:`concurrent.futures.Executor` (it is left running); None starts a local process pool
    of ``workers`` processes (default: one per core, at most one per case) and shuts it down after.
    ``on_result`` is called with each result as it arrives (in the order cases finish), for
    progress. A case that fails gives a result with its ``error``; the others still run.
    """
    clock.require_positive_seconds(time_limit, "time_limit")
    require_seed(seed)
    if threads is not None:
        require_whole(threads, "threads", minimum=1)
    if workers is not None:
        require_whole(workers, "workers", minimum=1)
        if executor is not None:
            raise ValueError(f"workers sizes the default process pool only; size the executor instead (value {workers!r})")
    _require_plan_options(plan_options)
    labelled = label_cases(cases)
    if not labelled:
        return []
    own = executor is None
    pool = executor or _process_pool(workers or min(len(labelled), _cores()))
    options = {**plan_options, "time_limit": time_limit, "seed": seed, "threads": threads}
    try:
        futures = {pool.submit(plan_and_check, case.scenario.to_json(), options): i for i, case in enumerate(labelled)}
        results: dict[int, SweepResult] = {}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = _result(labelled[i], future)
            if on_result is not None:
                on_result(results[i])
        return [results[i] for i in range(len(labelled))]
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def results_frame(results: Sequence[SweepResult]):
    """The results as a pandas DataFrame, one row per case (:meth:`SweepResult.row`)."""
    import pandas as pd

    frame = pd.DataFrame([result.row() for result in results], columns=list(_ROW_COLUMNS))
    # counts stay whole numbers beside a failed case's empty cells (pandas would make them floats)
    return frame.astype({column: "Int64" for column in _COUNT_COLUMNS})


def plan_and_check(scenario_json: str, options: dict[str, Any]) -> tuple[str | None, tuple[str, ...], float, str | None]:
    """A worker's job: plan the scenario, check the plan; ``(plan JSON, codes, seconds, error)``.

    Top level and on JSON text, so that a process pool or a cluster can run it. An error is
    returned as text, not raised: one failed case must not cost the others their results.
    """
    from allocate.planner import plan

    started = time.monotonic()
    try:
        scenario = Scenario.from_json(scenario_json)
        result = plan(scenario, **options)
        codes = tuple(sorted({v.code for v in check(scenario, result).violations}))
        return result.to_json(), codes, time.monotonic() - started, None
    except (AllocateError, ValueError) as exc:
        return None, (), time.monotonic() - started, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug: said in the result, with its type, so the sweep's other cases survive
        return None, (), time.monotonic() - started, f"internal error, please report: {type(exc).__name__}: {exc}"


def _result(case: SweepCase, future: Future) -> SweepResult:
    try:
        plan_json, codes, seconds, error = future.result()
    except Exception as exc:  # the worker itself died (out of memory, killed): the case says so
        return SweepResult(case.label, case.scenario, None, (), 0.0, f"worker failed: {type(exc).__name__}: {exc}")
    plan = Plan.from_json(plan_json) if plan_json is not None else None
    return SweepResult(case.label, case.scenario, plan, codes, seconds, error)


def label_cases(cases: Iterable[Scenario | SweepCase]) -> list[SweepCase]:
    """Every case with a label of its own: a bare scenario goes by its name (:func:`unique_names`)."""
    given = []
    for i, case in enumerate(cases):
        if isinstance(case, Scenario):
            case = SweepCase(case.name, case)
        elif not isinstance(case, SweepCase):
            raise TypeError(f"cases[{i}] must be a Scenario or a SweepCase, not {type(case).__name__}")
        given.append(case)
    labels = unique_names([case.label for case in given])
    return [case if label == case.label else SweepCase(label, case.scenario) for case, label in zip(given, labels)]


def unique_names(names: Sequence[str], key: Callable[[str], str] = str) -> list[str]:
    """Each name as it is, or, where an earlier one has it (compared by ``key``), with the first
    ``~k`` that no other name holds: case labels, and the file names the command line makes of them."""
    taken = {key(name) for name in names}
    used: set[str] = set()
    out = []
    for name in names:
        candidate, k = name, 1
        while key(candidate) in used or (candidate != name and key(candidate) in taken):
            k += 1
            candidate = f"{name}~{k}"
        used.add(key(candidate))
        out.append(candidate)
    return out


def _require_plan_options(options: dict[str, Any]) -> None:
    """Options a worker's ``plan()`` takes, checked here: a misspelt one fails once, naming it."""
    import inspect

    from allocate.backends import get_backend
    from allocate.planner import plan

    per_worker = {"scenario", "time_limit", "seed", "threads", "progress", "started"}  # the sweep sets these
    known = set(inspect.signature(plan).parameters) - per_worker
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"sweep() got plan options it cannot pass on: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "backend" in options:
        get_backend(options["backend"])


def _cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """Fresh interpreters ("spawn"): a forked child would inherit the solvers' threads half-held."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _shifted_risk(risk: float, shift: float) -> float:
    if risk <= 0.0 or shift == 0.0:
        return risk
    log_odds = math.log(risk / (1.0 - risk)) + shift
    return min(MAX_SAMPLED_RISK, 1.0 / (1.0 + math.exp(-log_odds)))


def _mean_zone_shift(road: dict[str, Any], zone_of: dict[str, str | None], zone_shift: dict[str, float]) -> float:
    return sum(zone_shift.get(zone_of.get(end) or "", 0.0) for end in (road["a"], road["b"])) / 2.0
