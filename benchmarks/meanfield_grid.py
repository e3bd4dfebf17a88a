"""Benchmark: a 200 × 200 phase diagram, 100 rounds, best-of-4, on scenarios/seed.toml.

Measured side by side in one run:
  seedbed   — seedbed.backends.runner.final_grid (vectorised over the grid; split over up to 2
              processes for large grids), median of --repeats runs;
  plain     — the per-point Python loop over the same equations
              (seedbed.backends.meanfield.reference: loops over contexts, strategies, outcomes),
              timed on --plain-points points and scaled to the full grid.
Also checks the two agree on the points the plain loop ran.

Prints the figures and writes them to benchmarks/results/meanfield_grid.json.
Target on the project's 2-core machine: grid ≤ 2 s and ≥ 50× the plain loop.

    python benchmarks/meanfield_grid.py [--size 200] [--rounds 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from seedbed.core.config import load_scenario
from seedbed.backends.meanfield import reference
from seedbed.backends.runner import final_grid as evaluate_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-points", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "meanfield_grid.json")
    args = ap.parse_args()

    scn = load_scenario("seed", ["selection.rule=best_of_n", "selection.n=4", f"rounds={args.rounds}"])
    bonus, phi = np.meshgrid(np.linspace(0, 2, args.size), np.linspace(0, 1, args.size), indexing="ij")
    grid = {"judge.bonus": bonus.ravel(), "prompts.phi": phi.ravel()}
    G = bonus.size

    fast_times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = evaluate_grid(scn, grid, workers=args.workers)
        fast_times.append(time.perf_counter() - t)
    fast = statistics.median(fast_times)

    rng = np.random.default_rng(0)
    pts = rng.choice(G, size=args.plain_points, replace=False)
    plain_times, max_diff = [], 0.0
    for i in pts:
        one = scn.with_overrides({"judge.bonus": float(grid["judge.bonus"][i]), "prompts.phi": float(grid["prompts.phi"][i])})
        t = time.perf_counter()
        shares = reference.run(one)[-1]
        plain_times.append(time.perf_counter() - t)
        max_diff = max(max_diff, abs(shares[1] - res["share/B"][i]))
    per_point = statistics.median(plain_times)
    plain_full = per_point * G
    out = {
        "benchmark": "meanfield_grid", "grid": f"{args.size}x{args.size}", "points": G, "rounds": args.rounds,
        "selection": "best_of_n, n=4", "scenario": "seed.toml",
        "seedbed_seconds_median": round(fast, 3), "seedbed_seconds_all": [round(t, 3) for t in fast_times],
        "workers": args.workers,
        "plain_seconds_per_point_median": round(per_point, 5), "plain_points_timed": args.plain_points,
        "plain_seconds_full_grid_estimate": round(plain_full, 1),
        "speedup": round(plain_full / fast, 1),
        "max_abs_difference_share_B": max_diff,
        "targets": {"grid_seconds_at_most": 2.0, "speedup_at_least": 50},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
    }
    out["meets_targets"] = bool(fast <= 2.0 and out["speedup"] >= 50)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{G} points x {args.rounds} rounds, best-of-4: seedbed {fast:.2f} s (median of {args.repeats}: "
          f"{', '.join(f'{t:.2f}' for t in fast_times)}), plain loop {per_point * 1e3:.1f} ms/point "
          f"-> {plain_full:.0f} s for the grid; speedup {out['speedup']}x; max |diff| {max_diff:.1e}")
    print(f"targets (<= 2 s, >= 50x): {'met' if out['meets_targets'] else 'NOT met'}; written to {args.out}")


if __name__ == "__main__":
    main()
