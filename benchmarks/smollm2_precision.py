"""Reduced precision for SmolLM2's exact probes (CPU): does it keep the rates within 0.005 of fp32?

    python benchmarks/smollm2_precision.py [--model ADAPTED_FOLDER] [--probe-size 8] [--repeats 3]

The exact behaviour rates (``seedbed.backends.neural.fidelity.model_rates``, teacher forcing over
the answer trie in the chat template) of one adapted SmolLM2 folder, side by side in one process:

- ``fp32``: the weights as loaded (the reference);
- ``int8 dynamic``: ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``
  (weights int8, activations quantised per batch);
- ``int8 dynamic, fp32 head``: the same, the output head left in fp32;
- ``bf16``: every weight and activation in bfloat16.

Each variant is timed ``--repeats`` times (median) and its rates compared with fp32's: the
largest absolute difference over the twelve behaviours, against the 0.005 the issue allows.
A variant only counts if it is both faster and within 0.005. Results:
``benchmarks/results/smollm2_precision.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 0.005


def variants(model):
    """(name, model) pairs: fp32 first, then each reduced form (built lazily, one at a time)."""
    import torch

    yield "fp32", model
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for name, keep in (("int8 dynamic", linear), ("int8 dynamic, fp32 head", {n for n in linear if "lm_head" not in n})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # torch.ao.quantization's deprecation notice
            yield name, torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), keep, dtype=torch.qint8)
    yield "bf16", copy.deepcopy(model).to(torch.bfloat16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache = Path(os.environ.get("SEEDBED_CACHE", ROOT / "runs/.cache"))
    adapted = sorted(cache.glob("smollm2-135m-instruct-adapted-*"))
    ap.add_argument("--model", default=str(adapted[-1]) if adapted else None,
                    help="an adapted folder (seedbed prepare smollm2 --adapt); default: the newest in the cache")
    ap.add_argument("--probe-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not args.model:
        raise SystemExit("--model: no adapted SmolLM2 folder in the cache (run seedbed prepare smollm2 --adapt)")
    import numpy as np
    import torch

    from seedbed.backends.neural.fidelity import NAMES, model_rates
    from seedbed.backends.neural.model import load
    from seedbed.backends.neural.task import Task

    model, tok = load(args.model)
    model.eval()
    task = Task(10, args.probe_size, 0)
    rows, ref = [], None
    for name, m in variants(model):
        times, rates = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            rates = model_rates(m, tok, task, mode="exact").mean
            times.append(time.perf_counter() - t)
        ref = rates if ref is None else ref
        diff = np.abs(rates - ref)
        rows.append({"variant": name, "seconds_median": statistics.median(times), "seconds_all": times,
                     "max_rate_difference": float(diff.max()), "worst_behaviour": NAMES[int(diff.argmax())],
                     "rate_differences": {b: round(float(d), 6) for b, d in zip(NAMES, diff)}})
        del m
    base = rows[0]["seconds_median"]
    for r in rows:
        r["speedup"] = base / r["seconds_median"]
        r["usable"] = bool(r["speedup"] > 1 and r["max_rate_difference"] <= LIMIT)
        print(f"{r['variant']:24s} {r['seconds_median']:7.2f} s  {r['speedup']:5.2f}x  max rate difference "
              f"{r['max_rate_difference']:.4f} ({r['worst_behaviour']})  {'usable' if r['usable'] else 'not usable'}")
    out = {"model": Path(args.model).name, "probe_size": args.probe_size, "torch_threads": torch.get_num_threads(),
           "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "repeats": args.repeats,
           "limit": LIMIT, "variants": rows}
    path = ROOT / "benchmarks" / "results" / "smollm2_precision.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
