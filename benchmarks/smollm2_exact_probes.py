"""Exact chat-mode probes on SmolLM2-135M-Instruct (CPU): the output head at the needed positions only.

    python benchmarks/smollm2_exact_probes.py [--model FOLDER] [--probe-size 8] [--repeats 3]

The probes' teacher forcing (``seedbed.backends.neural.exact.answer_probs``) needs logits at the
prompt's last position and at every trie node only. With ``logits_to_keep`` the model computes its
49k-row output head there alone; the alternative computes it at every position. Both variants run
side by side on the same probe prompts (the seed preset's, rendered in the chat template), each
timed ``--repeats`` times (median), and their probabilities are compared (max abs difference).
Results: ``benchmarks/results/smollm2_exact_probes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(os.environ.get("SEEDBED_CACHE", ROOT / "runs/.cache"))
                                           / "smollm2-135m-instruct"))
    ap.add_argument("--probe-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import numpy as np
    import torch

    from seedbed.backends.neural import chat, exact
    from seedbed.backends.neural.fidelity import probe_prompts
    from seedbed.backends.neural.model import load
    from seedbed.backends.neural.task import Task

    model, tok = load(args.model)
    task = Task(10, args.probe_size, 0)
    prompts, _ = probe_prompts(task)
    values = list(range(task.max_value + 1))
    times: dict[str, list[float]] = {"kept positions": [], "every position": []}
    probs = {}
    real = exact.takes_logits_to_keep
    for _ in range(args.repeats):
        for name, keep in (("kept positions", True), ("every position", False)):
            exact.takes_logits_to_keep = (lambda m: keep) if not keep else real
            t = time.perf_counter()
            probs[name] = chat.exact_answer_probs(model, tok, prompts, values)
            times[name].append(time.perf_counter() - t)
    exact.takes_logits_to_keep = real
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"model": Path(args.model).name, "prompts": len(prompts), "torch_threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "repeats": args.repeats,
           "seconds_median": med, "seconds_all": times, "speedup": med["every position"] / med["kept positions"],
           "max_abs_difference": float(np.abs(probs["kept positions"] - probs["every position"]).max())}
    for k, v in med.items():
        print(f"{k:15s} {v:7.2f} s for {len(prompts)} probe prompts (median of {args.repeats})")
    print(f"speedup {out['speedup']:.2f}x, max abs difference {out['max_abs_difference']:.2e}")
    path = ROOT / "benchmarks" / "results" / "smollm2_exact_probes.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
