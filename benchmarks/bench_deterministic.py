"""Is a deterministic plan the same on a busy machine? (issue 5: every solve reproducible)

For each crisis: ``plan(scenario, time_limit, seed, deterministic=True)`` once on a quiet machine
and once while ``--hogs`` processes burn CPU (a machine that many times slower), each in a child
process; and the same with the wall clock (``deterministic=False``) as the peer. Reported per
run: wall seconds, weighted coverage over the bound, a digest of the convoys, and the plan's
``deterministic:`` note; per crisis whether the two runs gave the same convoys.

    .venv/bin/python benchmarks/bench_deterministic.py [--time-limit 90] [--seed 0] [--hogs 2] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
CRISES = ("cote_divoire_like", "haiti_like", "darfur_like_large")

_CHILD = """
import hashlib, json, sys, time
from allocate.planner import plan
from allocate.scenario import Scenario
path, limit, seed, deterministic = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
scenario = Scenario.from_dict(json.load(open(path)))
started = time.monotonic()
p = plan(scenario, time_limit=limit, seed=seed, deterministic=deterministic)
seconds = time.monotonic() - started
convoys = json.dumps([c.model_dump(mode="json") for c in p.convoys], sort_keys=True)
notes = [n for n in p.solver.model_extra.get("notes", []) if n.startswith("deterministic:")]
print(json.dumps({"seconds": seconds, "ratio": p.metrics["weighted_coverage"] / p.solver.bound,
                  "digest": hashlib.sha1(convoys.encode()).hexdigest()[:10], "note": notes[0] if notes else ""}))
"""


def _burn(stop_at: float) -> None:
    """Keep one core busy until ``stop_at`` (time.monotonic())."""
    x = 0
    while time.monotonic() < stop_at:
        x = (x * 31 + 7) % 1000003


def run(crisis: str, limit: float, seed: int, deterministic: bool, hogs: int) -> dict:
    """One plan in a child process, with ``hogs`` processes burning CPU beside it."""
    burners = [multiprocessing.Process(target=_burn, args=(time.monotonic() + 3 * limit,)) for _ in range(hogs)]
    for b in burners:
        b.start()
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(MODELS / f"{crisis}.json"), str(limit), str(seed),
                              "1" if deterministic else "0"], capture_output=True, text=True, check=True)
    finally:
        for b in burners:
            b.terminate()
            b.join()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=list(CRISES))
    args = parser.parse_args()
    print("| crisis | mode | quiet: s, cov./bound, convoys digest | busy: s, cov./bound, convoys digest | same plan |")
    print("|---|---|---|---|---|")
    notes = []
    for crisis in args.only:
        for deterministic in (True, False):
            quiet = run(crisis, args.time_limit, args.seed, deterministic, 0)
            busy = run(crisis, args.time_limit, args.seed, deterministic, args.hogs)
            mode = "deterministic" if deterministic else "wall clock"
            cell = lambda r: f"{r['seconds']:.1f}, {r['ratio']:.4f}, `{r['digest']}`"  # noqa: E731
            print(f"| {crisis} | {mode} | {cell(quiet)} | {cell(busy)} | "
                  f"{'yes' if quiet['digest'] == busy['digest'] else 'no'} |", flush=True)
            if deterministic:
                notes += [f"- {crisis}, quiet: {quiet['note']}", f"- {crisis}, busy: {busy['note']}"]
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
