"""Throughput of the neural pipeline's sampler and LoRA fine-tuning on SmolLM2-135M-Instruct (CPU).

    python benchmarks/smollm2_throughput.py [--repeats 3] [--batch 16] [--max-new 24] [--examples 16]

* sampling: ``seedbed.backends.neural.engine.sample`` (left-padded batch, KV cache, whole-batch
  tensor steps) against ``model.generate()`` with the same left-padded batch of chat
  prompts, the same max_new_tokens, plain multinomial sampling at temperature 1 (no
  top-k/top-p) and the same stop token (the chat template's end of turn);
* fine-tuning: the pipeline's masked, weighted loss and loop (``engine.finetune``) on LoRA
  adapters (r = 8, q_proj/v_proj) against a plain loop (``model(..., labels=...)``, AdamW,
  the same batches and clipping).

Each figure is a median over ``--repeats`` runs, given as tokens/s and as a fraction of the
machine's matmul peak (a large fp32 matmul measured here, on torch's threads). Work per token:
2·N FLOPs for a forward pass (N parameters, the tied output layer included), 4·N for a
LoRA training step (forward + input gradients; the frozen base needs no weight gradients).
Sampling counts every token the model processes (prompt + generated); the generated tokens
per second are listed beside it. Counted that way, a loop that skips work can pass 100% of the
peak; fine-tuning therefore also gives the matmul work each side actually does (seedbed's
pass runs the batch's shared prefix once and the output head at the target positions only)
and the fraction of the peak that work reaches. Results:
``benchmarks/results/smollm2_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matmul_peak(n: int = 3072, repeats: int = 5) -> float:
    """FLOP/s of a large fp32 matmul (median of ``repeats`` after a warm-up)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(ts)


def chat_prompts(tok, k: int) -> list[str]:
    """k prompts of the pipeline's two kinds, of varied lengths: a question, and a question
    with an earlier answer and a request to review it."""
    import numpy as np

    from seedbed.backends.neural.model import chat_format

    rng = np.random.default_rng(7)
    out = []
    for i in range(k):
        a, b = (int(x) for x in rng.integers(0, 100, 2))
        q = [("user", f"What is {a} + {b}? Reply with the number only.")]
        if i % 2:
            q += [("assistant", str(a + b + int(rng.choice([-1, 0, 1])))), ("user", "Are you sure?")]
        out.append(chat_format(tok, q))
    return out


def generated(rows, eos: int, max_new: int) -> int:
    """Tokens generated: up to and including the end token."""
    n = 0
    for r in rows:
        n += r.index(eos) + 1 if eos in r else min(len(r), max_new)
    return n


def bench_sampling(model, tok, prompts, max_new: int, repeats: int, n: int = 1) -> dict:
    """Both samplers on the same batch: ``len(prompts)`` prompts × ``n`` samples each (best-of-n's
    layout; ``generate(num_return_sequences=n)``), tokens counted as the model sees them
    (every row's prompt + its new tokens)."""
    import torch

    from seedbed.backends.neural import engine

    eos, B = tok.eos_token_id, len(prompts) * n
    enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")   # left padding
    prompt_tokens = int(enc["attention_mask"].sum()) * n
    ours, plain, ours_new, plain_new = [], [], [], []
    engine.sample(model, tok, prompts[:2], 1, torch.Generator().manual_seed(0), max_new=2, stop=tok.eos_token)
    for rep in range(repeats):
        g = torch.Generator().manual_seed(rep)
        t = time.perf_counter()
        out = engine.sample(model, tok, prompts, n, g, max_new=max_new, temperature=1.0, batch_size=B,
                            stop=tok.eos_token)
        dt = time.perf_counter() - t
        rows = [tok(c, add_special_tokens=False)["input_ids"] + [eos] for o in out for c in o]   # the end token was cut
        new = generated([r[:max_new] for r in rows], eos, max_new)
        ours.append((prompt_tokens + new) / dt)
        ours_new.append(new / dt)
        torch.manual_seed(rep)
        t = time.perf_counter()
        with torch.no_grad():
            gen = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new,
                                 eos_token_id=eos, pad_token_id=tok.pad_token_id, num_return_sequences=n)
        dt = time.perf_counter() - t
        new = generated(gen[:, enc["input_ids"].shape[1]:].tolist(), eos, max_new)
        plain.append((prompt_tokens + new) / dt)
        plain_new.append(new / dt)
    return {"ours": statistics.median(ours), "plain": statistics.median(plain),
            "ours_new": statistics.median(ours_new), "plain_new": statistics.median(plain_new),
            "batch": B, "prompts": len(prompts), "samples_per_prompt": n, "prompt_tokens": prompt_tokens,
            "max_new": max_new}


def finetune_texts(tok, k: int) -> tuple[list[str], list]:
    """k one-answer chat transcripts and their assistant spans (the loss's targets)."""
    import numpy as np

    from seedbed.backends.neural.model import chat_spans

    rng = np.random.default_rng(3)
    texts, spans = [], []
    for _ in range(k):
        a, b = (int(x) for x in rng.integers(0, 100, 2))
        text, sp = chat_spans(tok, [("user", f"What is {a} + {b}? Reply with the number only."),
                                    ("assistant", f"{a} + {b} = {a + b}")])
        texts.append(text)
        spans.append(sp)
    return texts, spans


def bench_finetune(folder, tok, k: int, batch: int, repeats: int, lr: float = 1e-4) -> dict:
    import numpy as np
    import torch

    from seedbed.backends.neural import engine
    from seedbed.backends.neural.model import LoraSettings, load, trainable_parameters

    texts, spans = finetune_texts(tok, k)
    # the plain loop's batches: the same texts, one begin token, labels only on the assistant spans
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    seqs, labels = [], []
    for ids, offs, sp in zip(enc["input_ids"], enc["offset_mapping"], spans):
        seqs.append(ids)
        labels.append([t if any(a <= o0 < b for a, b in sp) else -100 for t, (o0, _) in zip(ids, offs)])
    tokens = sum(len(s) for s in seqs)
    lora = LoraSettings(r=8, alpha=16)
    ours, plain = [], []
    for rep in range(repeats):
        model, _ = load(folder, "cpu", lora=lora)
        opt = torch.optim.AdamW(trainable_parameters(model), lr=lr)
        t = time.perf_counter()
        engine.finetune(model, opt, tok, texts, spans, np.ones(k), 1, batch, np.random.default_rng(rep))
        ours.append(tokens / (time.perf_counter() - t))
        del model, opt
        model, _ = load(folder, "cpu", lora=lora)
        opt = torch.optim.AdamW(trainable_parameters(model), lr=lr)
        order = np.random.default_rng(rep).permutation(k)
        model.train()
        t = time.perf_counter()
        for s in range(0, k, batch):
            idx = order[s:s + batch]
            L = max(len(seqs[i]) for i in idx)
            x = torch.tensor([seqs[i] + [tok.pad_token_id] * (L - len(seqs[i])) for i in idx])
            y = torch.tensor([labels[i] + [-100] * (L - len(labels[i])) for i in idx])
            att = torch.tensor([[1] * len(seqs[i]) + [0] * (L - len(seqs[i])) for i in idx])
            loss = model(input_ids=x, attention_mask=att, labels=y).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        plain.append(tokens / (time.perf_counter() - t))
        del model, opt
    return {"ours": statistics.median(ours), "plain": statistics.median(plain), "examples": k, "batch": batch,
            "tokens_per_pass": tokens, "work_done": finetune_work(model_shape(folder), tok, texts, spans, batch)}


def model_shape(folder) -> tuple[int, int]:
    """(parameters outside the output head, output head parameters) of the folder's model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(folder, local_files_only=True)
    head = cfg.vocab_size * cfg.hidden_size                # tied to the input embedding: counted once in n
    with torch.device("meta"):
        n = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
    return n - head, head


def finetune_work(shape: tuple[int, int], tok, texts, spans, batch: int) -> dict:
    """The matmul work seedbed's fine-tuning pass does, against the plain loop's, per pass
    (4 FLOPs per parameter per position a training step, forward and input gradients; padded
    positions count, since both compute them; attention's own products are left out): the
    body runs the batch's shared prefix once and the rest of every row, the head the target
    positions only; the plain loop runs both at every position. The batches are the first
    repeat's (``engine.finetune``'s order from ``default_rng(0)``); the tokens per second the
    fractions use count real tokens, as the ratio does."""
    import numpy as np
    import torch

    from seedbed.backends.neural import engine

    body, head = shape
    ids, masks = engine._batches(tok, texts, spans)
    done = plain = 0.0
    order = np.random.default_rng(0).permutation(len(ids))
    for s in range(0, len(order), batch):
        b = order[s:s + batch]
        x, m, lengths = engine._tensors([ids[i] for i in b], [masks[i] for i in b], tok.pad_token_id)
        L = int(lengths.max())
        rows, cols = torch.nonzero(m[:, :L - 1], as_tuple=True)
        shared = engine.shared_before_targets(x[:, :L], cols)
        shared = shared if shared >= engine.MIN_SHARED else 0
        done += 4 * body * (shared + len(b) * (L - shared)) + 4 * head * len(rows)
        plain += 4 * (body + head) * len(b) * L
    return {"flops_per_pass": done, "plain_flops_per_pass": plain}


def _sampling_row(s: dict, N: int, peak: float, wall: float) -> dict:
    """One sampling comparison as written to the results file. The fraction of peak counts the
    tokens the batch holds at 2·N FLOPs each: where the shared prompt pass computes a prefix or
    a repeated prompt once, it is the effective fraction, above the work actually done."""
    return {"batch": s["batch"], "prompts": s["prompts"], "samples_per_prompt": s["samples_per_prompt"],
            "prompt_tokens": s["prompt_tokens"], "max_new": s["max_new"],
            "tokens_per_s": {"seedbed": round(s["ours"], 1), "generate": round(s["plain"], 1)},
            "new_tokens_per_s": {"seedbed": round(s["ours_new"], 1), "generate": round(s["plain_new"], 1)},
            "ratio": round(s["ours"] / s["plain"], 3),
            "fraction_of_matmul_peak": {"seedbed": round(2 * N * s["ours"] / peak, 4),
                                        "generate": round(2 * N * s["plain"] / peak, 4)},
            "wall_s": round(wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16, help="sampling: prompts in the batch")
    ap.add_argument("--max-new", type=int, default=24)
    ap.add_argument("--examples", type=int, default=16, help="fine-tuning: transcripts per pass")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--only-sampling", action="store_true", help="skip the fine-tuning comparison")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

    import torch

    from seedbed.backends.neural.model import load, n_params
    from seedbed.backends.neural.pretrained import prepare_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = prepare_smollm2(args.cache)
    load_avg = os.getloadavg()
    peak = matmul_peak()
    model, tok = load(folder, "cpu")
    N = n_params(model)
    t0 = time.perf_counter()
    s = bench_sampling(model, tok, chat_prompts(tok, args.batch), args.max_new, args.repeats)
    sampling_wall = time.perf_counter() - t0
    t0 = time.perf_counter()                     # best-of-4's layout: a quarter of the prompts, 4 samples each
    s4 = bench_sampling(model, tok, chat_prompts(tok, max(1, args.batch // 4)), args.max_new, args.repeats, n=4)
    sampling4_wall = time.perf_counter() - t0
    del model
    t0 = time.perf_counter()
    f = None if args.only_sampling else bench_finetune(folder, tok, args.examples, args.train_batch, args.repeats)
    finetune_wall = time.perf_counter() - t0
    peak_after = matmul_peak()
    res = {
        "benchmark": "smollm2_throughput", "model": "SmolLM2-135M-Instruct fp32", "params": N, "device": "cpu",
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "load_average_at_start": [round(x, 2) for x in load_avg], "repeats": args.repeats,
        "matmul_peak_gflops": round(peak / 1e9, 1), "matmul_peak_gflops_after": round(peak_after / 1e9, 1),
        "sampling": _sampling_row(s, N, peak, sampling_wall),
        "sampling_best_of_4": _sampling_row(s4, N, peak, sampling4_wall),
        "lora_finetune": None if f is None else {
            "examples": f["examples"], "batch": f["batch"], "tokens_per_pass": f["tokens_per_pass"], "lora_r": 8,
            "tokens_per_s": {"seedbed": round(f["ours"], 1), "plain_loop": round(f["plain"], 1)},
            "ratio": round(f["ours"] / f["plain"], 3),
            "fraction_of_matmul_peak": {"seedbed": round(4 * N * f["ours"] / peak, 4),
                                        "plain_loop": round(4 * N * f["plain"] / peak, 4)},
            "work_fraction_of_plain": round(f["work_done"]["flops_per_pass"] / f["work_done"]["plain_flops_per_pass"], 4),
            "fraction_of_matmul_peak_work_done": {
                "seedbed": round(f["work_done"]["flops_per_pass"] / (f["tokens_per_pass"] / f["ours"]) / peak, 4),
                "plain_loop": round(f["work_done"]["plain_flops_per_pass"] / (f["tokens_per_pass"] / f["plain"]) / peak, 4)},
            "wall_s": round(finetune_wall, 1)},
    }
    print(f"SmolLM2-135M-Instruct, {N:,} parameters; matmul peak {peak / 1e9:.1f} GFLOP/s "
          f"({peak_after / 1e9:.1f} after) on {torch.get_num_threads()} threads; load average {load_avg[0]:.1f}")
    for key in ("sampling", "sampling_best_of_4"):
        sm = res[key]
        print(f"{key} (batch {sm['batch']} = {sm['prompts']} prompts x {sm['samples_per_prompt']}, {sm['max_new']} new): "
              f"seedbed {sm['tokens_per_s']['seedbed']:.0f} tok/s ({sm['new_tokens_per_s']['seedbed']:.1f} new/s), "
              f"generate() {sm['tokens_per_s']['generate']:.0f} tok/s ({sm['new_tokens_per_s']['generate']:.1f} new/s): "
              f"{sm['ratio']:.2f}x; effective of peak (every token at 2N, shared work counted as done) {sm['fraction_of_matmul_peak']['seedbed']:.1%} vs "
              f"{sm['fraction_of_matmul_peak']['generate']:.1%}")
    ft = res["lora_finetune"]
    if ft is not None:
            print(f"LoRA fine-tuning (batch {ft['batch']}): seedbed {ft['tokens_per_s']['seedbed']:.0f} tok/s, plain "
              f"loop {ft['tokens_per_s']['plain_loop']:.0f} tok/s: {ft['ratio']:.2f}x; seedbed does "
              f"{ft['work_fraction_of_plain']:.0%} of the plain loop's matmul work; of peak (work done) "
              f"{ft['fraction_of_matmul_peak_work_done']['seedbed']:.1%} vs "
              f"{ft['fraction_of_matmul_peak_work_done']['plain_loop']:.1%}")
    dest = ROOT / "benchmarks" / "results" / "smollm2_throughput.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
