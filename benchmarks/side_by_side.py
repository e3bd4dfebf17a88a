"""Whole-run wall time of neural repetitions one after another vs side by side (``--workers``).

    python benchmarks/side_by_side.py [--model <adapted SmolLM2 folder>] [--seeds 1] [--rounds 1]
        [--threads 2] [--workers 2] [--repeats 3]

The same run (the seed scenario and its control, ``--seeds`` seeds, ``--rounds`` neural
rounds: 2 × seeds repetitions) is timed twice per repeat, in a fresh folder each time:

* **serial**: this process, the repetitions one after another, torch on ``--threads`` threads
  (what ``seedbed run`` does without ``--workers``);
* **side by side**: ``--workers`` processes, one thread each (``seedbed run --workers N``).

The figure is the ratio serial / side by side of the whole run's wall time (worker start-up,
model loads and round-0 probes included), median over ``--repeats``. Without ``--model``
the tiny default network (pre-trained once into the cache first, not timed); with it, the
SmolLM2 experiment's settings (docs/smollm2.md: 64 prompts a round, batch 16, probe_size 16,
lr 0.002). Results: ``benchmarks/results/side_by_side[-smollm2].json``.
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

ROOT = Path(__file__).resolve().parents[1]
SMOL = ["neural.prompts_per_round=64", "neural.batch_size=16", "neural.probe_size=16", "neural.lr=0.002",
        "neural.device=\"cpu\""]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="an adapted SmolLM2 folder (default: the tiny network)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the serial run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    import seedbed
    from seedbed.core.config import load_scenario

    sets = [f"neural.rounds={args.rounds}"]
    if args.model:
        sets += SMOL + [f"neural.model={json.dumps(str(Path(args.model).resolve()))}"]
    scn = load_scenario("seed", sets)
    load = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    if not args.model:                                    # the tiny base, built once, not timed
        seedbed.run(scn.with_overrides({"neural.rounds": 1}), backend="neural", seeds=1, report=False)
    times: dict[str, list[float]] = {"serial": [], "side_by_side": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            for name, workers in (("serial", None), ("side_by_side", args.workers)):
                t0 = time.perf_counter()
                seedbed.run(scn, backend="neural", seeds=args.seeds, workers=workers, report=False,
                            out=Path(tmp) / f"{name}-{k}")
                times[name].append(time.perf_counter() - t0)
                torch.set_num_threads(args.threads)
                print(f"repeat {k + 1}: {name} {times[name][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {
        "what": "whole-run wall time, serial (one process, --threads threads) vs side by side (--workers "
                "processes, one thread each); the same run, fresh folders",
        "model": args.model or "tiny default network", "seeds": args.seeds, "repetitions": 2 * args.seeds,
        "rounds": args.rounds, "threads": args.threads, "workers": args.workers, "repeats": args.repeats,
        "seconds": times, "median_s": med, "speedup": med["serial"] / med["side_by_side"],
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average_at_start": load,
    }
    print(f"serial {med['serial']:.1f} s, side by side {med['side_by_side']:.1f} s: {res['speedup']:.2f}x "
          f"(median of {args.repeats}, {2 * args.seeds} repetitions of {args.rounds} round(s))")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        "side_by_side-smollm2.json" if args.model else "side_by_side.json")
    out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
