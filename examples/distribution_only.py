"""The allocation alone: how much of each commodity goes from which depot to which site.

Run from the repository root:

    .venv/bin/python examples/distribution_only.py models/south_sudan.json

Prints each objective tier, the proven bound of the first, and coverage by zone; an analyst who
only needs the allocation (no routes) stops here.
"""

from __future__ import annotations

import sys

import allocate


def main(path: str) -> None:
    scenario = allocate.load_scenario(path)
    allocation = allocate.distribute(scenario, time_limit=60, seed=0)
    print(allocation.summary())
    frame = allocation.frame()
    if not frame.empty:
        by_zone = frame.groupby("zone", dropna=False)["weight_t"].sum().sort_values(ascending=False)
        print("\ntonnes allocated by zone:")
        print(by_zone.round(1).to_string())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/tiny.json")
