"""Benchmark: the neural backend's pre-training and sampling throughput, and run wall times.

Side by side in one run, on the default tiny model (built from scenarios/seed.toml, as
seedbed builds it: pretrain.fast_activation), both loops on identical model copies:
  pre-training  seedbed.backends.neural.engine.train_lm  vs  a plain PyTorch loop (same model, same
                batches: pad per batch, attention mask, token-mean cross-entropy, AdamW),
                tokens/s, median over --repeats timed blocks;
  sampling      seedbed.backends.neural.engine.sample (KV cache, batched)  vs  plain transformers
                generate() on the same prompts as one batch, new tokens/s;
  exact probes  seedbed.backends.neural.fidelity.model_rates: teacher-forced tokens/s and seconds per
                probe of the default size;
  each as a fraction of this machine's measured fp32 matmul peak (torch.matmul, 1024²),
  counting 6·N FLOPs per trained token and 2·N per forward token (N = parameters).
With --runs, then the wall time of the demo's neural run (the seed scenario and its control,
3 seeds, the default 8 rounds of 384 prompts, as `make demo` runs it), pre-training included
unless --cached.

    python benchmarks/neural_throughput.py [--repeats 3] [--runs] [--cached]
Writes benchmarks/results/neural_throughput.json. The load average is recorded: on a shared
machine the numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from seedbed.core.config import load_scenario
from seedbed.backends.neural import engine
from seedbed.backends.neural.fidelity import model_rates, probe_prompts
from seedbed.backends.neural.model import build_model, build_tokenizer, n_params, quiet
from seedbed.backends.neural.pretrain import fast_activation
from seedbed.backends.neural.task import Task, corpus, question

DEMO: list[str] = []      # the demo's neural run (Makefile: seedbed run seed --backend neural --seeds 3)


def matmul_peak(size: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - t)


def model_of(tok, n, seed):
    return fast_activation(build_model(tok, n.d_model, n.n_layer, n.n_head, seed=seed))


def plain_train(model, ids, steps, batch, lr, rng):
    """The plain loop: pad, forward, cross-entropy on every next token, AdamW."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        b = [ids[i] for i in rng.integers(0, len(ids), batch)]
        L = max(map(len, b))
        x = torch.tensor([s + [0] * (L - len(s)) for s in b])
        att = torch.tensor([[1] * len(s) + [0] * (L - len(s)) for s in b])
        logits = model(input_ids=x, attention_mask=att).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                                 ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20, help="training steps per timed block")
    ap.add_argument("--prompts", type=int, default=512)
    ap.add_argument("--runs", action="store_true", help="also time the demo's neural run")
    ap.add_argument("--cached", action="store_true", help="time the run with the base model already cached "
                    "(SEEDBED_CACHE); else pre-training is included")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "neural_throughput.json")
    args = ap.parse_args()
    quiet()
    scn = load_scenario("seed")
    n = scn.neural
    task = Task(n.max_number, n.probe_size, 0)
    texts, _, _ = corpus(scn, task, 5000, np.random.default_rng(0))
    tok = build_tokenizer()
    peak = matmul_peak()
    N = None
    res: dict = {"benchmark": "neural_throughput", "threads": torch.get_num_threads(),
                 "load_average_before": round(os.getloadavg()[0], 2), "matmul_peak_gflops": round(peak / 1e9, 1)}

    # ---- pre-training: tokens per second (all positions of every sequence)
    ids = engine.encode(tok, texts)
    ours, plain = [], []
    for rep in range(args.repeats):                  # alternate the two loops, the same batches for both
        model = model_of(tok, n, rep)
        N = n_params(model)
        draw = np.random.default_rng(rep)                # the batches both loops draw, step by step
        toks = int(sum(len(ids[i]) for _ in range(args.steps) for i in draw.integers(0, len(ids), n.pretrain_batch)))
        t = time.perf_counter()
        engine.train_lm(model, tok, texts, args.steps, n.pretrain_batch, n.pretrain_lr, np.random.default_rng(rep))
        ours.append(toks / (time.perf_counter() - t))
        model = model_of(tok, n, rep)
        t = time.perf_counter()
        plain_train(model, ids, args.steps, n.pretrain_batch, n.pretrain_lr, np.random.default_rng(rep))
        plain.append(toks / (time.perf_counter() - t))
    tr, tp = statistics.median(ours), statistics.median(plain)
    res["params"] = N
    res["pretrain_tokens_per_s"] = {"seedbed": round(tr), "plain_loop": round(tp), "ratio": round(tr / tp, 2),
                                    "fraction_of_matmul_peak": round(6 * N * tr / peak, 3)}

    # ---- sampling: new tokens per second
    model = model_of(tok, n, 0)
    engine.train_lm(model, tok, texts, 200, 64, 3e-3, np.random.default_rng(0))
    model.eval()
    prompts = [question(a, b) for a, b in task.sample_pairs(np.random.default_rng(1), args.prompts)]
    ours, plain = [], []
    nl = tok("\n", add_special_tokens=False)["input_ids"][0]
    for rep in range(args.repeats):
        g = torch.Generator().manual_seed(rep)
        t = time.perf_counter()
        out = engine.sample(model, tok, prompts, 1, g)
        dt = time.perf_counter() - t
        new = sum(len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in out)
        ours.append(new / dt)
        enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        x = torch.cat([torch.full((len(prompts), 1), tok.bos_token_id), enc["input_ids"]], 1)
        att = torch.cat([torch.ones(len(prompts), 1, dtype=torch.long), enc["attention_mask"]], 1)
        torch.manual_seed(rep)
        t = time.perf_counter()
        gen = model.generate(input_ids=x, attention_mask=att, do_sample=True, max_new_tokens=12, eos_token_id=nl,
                             pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t
        new_plain = int(((gen[:, x.shape[1]:] != tok.pad_token_id)).sum())
        plain.append(new_plain / dt)
    sr, sp = statistics.median(ours), statistics.median(plain)
    res["sampling_new_tokens_per_s"] = {"seedbed": round(sr), "generate": round(sp), "ratio": round(sr / sp, 2),
                                        "fraction_of_matmul_peak": round(2 * N * sr / peak, 4)}

    # ---- exact probes: teacher-forced tokens per second (prompt + the answer trie, one pass per batch)
    from seedbed.backends.neural.exact import cached_trie
    probe_task = Task(n.max_number, n.probe_size, 0)
    prompts_p, _ = probe_prompts(probe_task)
    trie_len = len(cached_trie(tok, list(range(probe_task.max_value + 1))).token)
    forward_tokens = sum(len(x) + trie_len for x in engine.encode(tok, prompts_p))
    times = []
    for rep in range(args.repeats):
        t = time.perf_counter()
        model_rates(model, tok, probe_task)
        times.append(time.perf_counter() - t)
    pt = statistics.median(times)
    res["exact_probe"] = {"prompts": len(prompts_p), "trie_nodes": trie_len, "seconds": round(pt, 3),
                          "tokens_per_s": round(forward_tokens / pt),
                          "fraction_of_matmul_peak": round(2 * N * forward_tokens / pt / peak, 4)}
    print(f"model {N:,} parameters; matmul peak {peak / 1e9:.1f} GFLOP/s on {torch.get_num_threads()} threads")
    print(f"pre-training: seedbed {tr:,.0f} tok/s vs plain loop {tp:,.0f} tok/s ({tr / tp:.2f}x); "
          f"{6 * N * tr / peak:.1%} of peak")
    print(f"sampling: seedbed {sr:,.0f} new tok/s vs generate() {sp:,.0f} ({sr / sp:.2f}x); {2 * N * sr / peak:.2%} of peak")
    ep = res["exact_probe"]
    print(f"exact probe: {ep['prompts']} prompts in {ep['seconds']} s ({ep['tokens_per_s']:,} forward tok/s; "
          f"{ep['fraction_of_matmul_peak']:.2%} of peak)")
    res["load_average_after"] = round(os.getloadavg()[0], 2)

    # ---- wall time of the demo's neural run
    if args.runs:
        import seedbed
        with tempfile.TemporaryDirectory() as cache:
            if not args.cached:
                os.environ["SEEDBED_CACHE"] = cache
            t = time.perf_counter()
            r = seedbed.run(load_scenario("seed", DEMO), backend="neural", seeds=3, out=Path(tempfile.mkdtemp()) / "demo")
            dt = time.perf_counter() - t
            res["demo_run"] = {"seconds": round(dt, 1), "seeds": 3, "overrides": DEMO,
                               "pretraining_included": not args.cached, "verdict": r.verdict.headline}
            print(f"demo neural run (3 seeds, both arms): {dt:.0f} s — {r.verdict.headline}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
