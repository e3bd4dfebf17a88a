"""Exact chat-mode probes on SmolLM2-135M-Instruct (CPU): the output head at the needed positions only.

    python benchmarks/smollm2_exact_probes.py [--model FOLDER] [--probe-size 8] [--repeats 3]

The probes' teacher forcing (``seedbed.backends.neural.exact.answer_probs``) needs logits at the
prompt's last position and at every trie node only. With ``logits_to_keep`` the model computes its
49k-row output head there alone; the alternative computes it at every position. And every probe
prompt opens with the same chat system turn, whose keys and values are computed once and reused
(``shared prefix``). Three variants run side by side on the same probe prompts (the seed preset's,
rendered in the chat template): both savings, the head saving only, neither; each timed
``--repeats`` times (median), their probabilities compared with the plain pass (max abs
difference). Results: ``benchmarks/results/smollm2_exact_probes.json``.
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

    from seedbed.backends.neural import chat, engine, exact
    from seedbed.backends.neural.fidelity import probe_prompts
    from seedbed.backends.neural.model import load
    from seedbed.backends.neural.task import Task

    model, tok = load(args.model)
    task = Task(10, args.probe_size, 0)
    prompts, _ = probe_prompts(task)
    values = list(range(task.max_value + 1))
    rendered = [chat.render_task(tok, p) for p in prompts]
    shared_tokens = engine._common_prefix(engine.encode(tok, rendered))
    variants = (("shared prefix, kept positions", True, engine.MIN_SHARED), ("kept positions", True, 10 ** 9),
                ("every position", False, 10 ** 9))
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    probs = {}
    real, real_min = exact.takes_logits_to_keep, engine.MIN_SHARED
    for _ in range(args.repeats):
        for name, keep, min_shared in variants:
            exact.takes_logits_to_keep = (lambda m: keep) if not keep else real
            engine.MIN_SHARED = min_shared
            t = time.perf_counter()
            probs[name] = chat.exact_answer_probs(model, tok, prompts, values)
            times[name].append(time.perf_counter() - t)
    exact.takes_logits_to_keep, engine.MIN_SHARED = real, real_min
    med = {k: statistics.median(v) for k, v in times.items()}
    plain = "every position"
    out = {"model": Path(args.model).name, "prompts": len(prompts), "shared_prefix_tokens": shared_tokens,
           "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
           "repeats": args.repeats, "seconds_median": med, "seconds_all": times,
           "speedup_over_plain": {k: med[plain] / v for k, v in med.items()},
           "max_abs_difference_from_plain": {k: float(np.abs(p - probs[plain]).max()) for k, p in probs.items()}}
    for k, v in med.items():
        print(f"{k:30s} {v:7.2f} s for {len(prompts)} probe prompts (median of {args.repeats}): "
              f"{out['speedup_over_plain'][k]:.2f}x, max abs difference {out['max_abs_difference_from_plain'][k]:.1e}")
    print(f"shared prefix: {shared_tokens} tokens")
    path = ROOT / "benchmarks" / "results" / "smollm2_exact_probes.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
