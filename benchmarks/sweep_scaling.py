"""Benchmark: sweep throughput on 1 and 2 workers, and the cost of a task, local vs Ray.

Measured side by side in one run (medians over --repeats):
  scaling   — an agent-backend sweep (--points grid points × --seeds seeds, each task one
              sampled run of the seed scenario) on the local process pool and on Ray,
              with 1 and 2 workers; efficiency = T(1 worker) / (2 · T(2 workers));
  overhead  — --tiny near-empty tasks (one round, 16 conversations): seconds per task
              above running the same tasks inline in this process, for the local pool
              and for Ray (Ray's start-up, a few seconds, is reported apart).
The plain way is the inline loop: the same tasks one after another in one process.

Prints the figures and writes them to benchmarks/results/sweep_scaling.json.

    python benchmarks/sweep_scaling.py [--repeats 3] [--points 4] [--seeds 4] [--tiny 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from seedbed.core.config import load_scenario  # noqa: E402
from seedbed.core.executors import ray_session, run_local, run_ray  # noqa: E402
from seedbed.sweeps import Axis, plan, run_task  # noqa: E402


def tasks_for(rounds: int, conversations: int, points: int, seeds: int) -> list[dict]:
    scn = load_scenario("seed", [f"rounds={rounds}", f"agent.conversations={conversations}"])
    axes = [Axis("judge.bonus", [float(b) for b in range(points)])]
    return plan(scn, axes, "agent", seeds).tasks


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--conversations", type=int, default=32768)
    ap.add_argument("--tiny", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sweep_scaling.json")
    args = ap.parse_args()

    work = tasks_for(args.rounds, args.conversations, args.points, args.seeds)
    tiny = tasks_for(1, 16, args.tiny, 1)
    sink = lambda i, t: None  # noqa: E731
    med = lambda xs: statistics.median(xs)  # noqa: E731
    res: dict[str, dict] = {"local": {}, "ray": {}}

    inline = med([timed(lambda: [run_task(t) for t in work]) for _ in range(args.repeats)])
    inline_tiny = med([timed(lambda: [run_task(t) for t in tiny]) for _ in range(args.repeats)])
    for w in (1, 2):
        res["local"][w] = med([timed(lambda: run_local(run_task, work, sink, w)) for _ in range(args.repeats)])
    pool_tiny = med([timed(lambda: run_local(run_task, tiny, sink, 2)) for _ in range(args.repeats)])

    ray_start = {}
    ray_tiny = None
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        for w in (1, 2):
            t0 = time.perf_counter()
            with ray_session(Path(tmp) / f"w{w}", num_cpus=w):
                ray_start[w] = time.perf_counter() - t0
                run_ray(run_task, work[:2], sink, Path(tmp))          # warm the workers once
                res["ray"][w] = med([timed(lambda: run_ray(run_task, work, sink, Path(tmp)))
                                     for _ in range(args.repeats)])
                if w == 2:
                    ray_tiny = med([timed(lambda: run_ray(run_task, tiny, sink, Path(tmp)))
                                    for _ in range(args.repeats)])

    n = len(work)
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "workload": {"tasks": n, "rounds": args.rounds, "conversations": args.conversations,
                     "inline_s": round(inline, 3), "inline_s_per_task": round(inline / n, 4)},
        "scaling": {ex: {"1_worker_s": round(t[1], 3), "2_workers_s": round(t[2], 3),
                         "speedup": round(t[1] / t[2], 3), "efficiency": round(t[1] / (2 * t[2]), 3),
                         "tasks_per_s_2_workers": round(n / t[2], 2)} for ex, t in res.items()},
        "overhead_per_task_ms": {
            "tasks": len(tiny),
            "inline_ms": round(1000 * inline_tiny / len(tiny), 3),
            "local_pool_2_workers_ms": round(1000 * (pool_tiny - inline_tiny / 2) / len(tiny), 3),
            "ray_2_workers_ms": round(1000 * (ray_tiny - inline_tiny / 2) / len(tiny), 3),
        },
        "ray_start_s": {w: round(t, 2) for w, t in ray_start.items()},
        "repeats": args.repeats,
    }
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
