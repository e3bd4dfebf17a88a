"""Benchmark: agent-backend throughput, and the Krueger sweep's wall time.

Side by side in one run, on scenarios/seed.toml with 8 population members:
  seedbed — the agent backend's round (seedbed.backends.agent.RoundSampler.step, arrays over members × conversations);
  plain   — a straightforward per-conversation Python implementation of the same round
            (random.Random, one loop iteration per prompt and response building a labelled
            transcript record, then sort-based top-fraction selection), as a researcher
            would first write it. Both sides produce every label of every transcript.
Reports simulated assistant responses per second (median over --repeats repetitions; a
seedbed repetition is --inner rounds, since one round takes about 2 ms) and the ratio. Then runs the full Krueger preset (3 sizes × 4 intervals × 2 swap settings × 10
trials × 1000 steps) and reports its wall time.

    python benchmarks/agent_throughput.py [--conversations 4096] [--repeats 5] [--no-krueger]
Writes benchmarks/results/agent_throughput.json. Target: seedbed ≥ 100× the plain loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from seedbed.backends.agent import RoundSampler
from seedbed.backends.agent.sim import LABELS
from seedbed.core.config import load_scenario
from seedbed.stages.judge import turn_reward


def plain_round(scn, s, writer_s, rng: random.Random, conversations: int):
    """One round for one member, one conversation at a time."""
    pr, j, st = scn.prompts, scn.judge, scn.strategies
    K = len(st)
    responses = []                                   # (score, persona)
    for _ in range(conversations):
        if rng.random() < pr.phi:
            w = rng.choices(range(K), weights=writer_s)[0]
            prefix = "mistaken" if rng.random() < st[w].err else "clean"
        else:
            w = -1
            u = rng.random()
            prefix = "mistaken" if u < pr.m0 else ("clean" if u < pr.m0 + pr.c0 else "none")
        k = w if (w >= 0 and rng.random() < pr.rho) else rng.choices(range(K), weights=s)[0]
        mistake = rng.random() < st[k].err
        corrected = prefix == "mistaken" and rng.random() < st[k].fix
        false_corr = prefix == "clean" and rng.random() < st[k].false_fix
        harm = rng.random() < st[k].harm
        det_m = mistake and rng.random() < j.d_mistake
        det_i = prefix == "mistaken" and not corrected and rng.random() < j.d_ignore
        det_f = false_corr and rng.random() < j.d_false
        det_h = harm and rng.random() < j.d_harm
        turn = {"persona": k, "prefix": prefix, "writer": w, "mistake": mistake, "detected_mistake": det_m,
                "corrected": corrected, "detected_ignore": det_i, "false_correction": false_corr,
                "detected_false": det_f, "harm": harm, "detected_harm": det_h}
        turn["reward"] = turn_reward(j, det_m, corrected, det_i, det_f, det_h)
        responses.append((turn["reward"], rng.random(), turn))     # the labelled transcript
    responses.sort(key=lambda r: (r[0], r[1]), reverse=True)       # top fraction, random tie-break
    kept = [0.0] * K
    for _, _, turn in responses[: round(scn.selection.q * len(responses))]:
        kept[turn["persona"]] += 1
    total = sum(kept)
    eta = scn.update.eta
    return [(1 - eta) * a + eta * b / total for a, b in zip(s, kept)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=4096)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--inner", type=int, default=20, help="seedbed rounds per timed repetition")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-krueger", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "agent_throughput.json")
    args = ap.parse_args()

    scn = load_scenario("seed", {"agent.conversations": args.conversations, "agent.probes": 0})
    sim = RoundSampler(scn)
    M, N = args.members, args.conversations
    S = np.tile(scn.shares, (M, 1))
    fast, plain = [], []
    for rep in range(args.repeats):
        t = time.perf_counter()
        for i in range(args.inner):                                 # a round takes ~2 ms: time several
            rng = np.random.default_rng([rep, i])
            b = sim.sample(rng, S, S)                               # all members in one batch
            for name in LABELS:                                     # materialise every label, like the plain loop
                b.labels[f"t1/{name}"]
            sim.kept(rng, b, S)
        fast.append(args.inner * M * N / (time.perf_counter() - t))
        t = time.perf_counter()
        for m in range(M):
            plain_round(scn, list(S[m]), list(S[m]), random.Random(rep * 100 + m), N)
        plain.append(M * N / (time.perf_counter() - t))
    f, p = statistics.median(fast), statistics.median(plain)
    out = {"benchmark": "agent_throughput", "scenario": "seed.toml", "members": M, "conversations_per_member": N,
           "responses_per_round": M * N, "repeats": args.repeats, "seedbed_rounds_per_repeat": args.inner,
           "seedbed_responses_per_s_median": round(f), "plain_responses_per_s_median": round(p),
           "speedup": round(f / p, 1), "target_speedup": 100, "cpus": os.cpu_count()}
    print(f"agent backend: {f:,.0f} responses/s vs plain loop {p:,.0f} responses/s "
          f"(median of {args.repeats} repetitions, rounds of {M}×{N}): {f / p:.0f}x (target ≥ 100x)")
    if not args.no_krueger:
        from seedbed.kinds.krueger import run_krueger
        kr = load_scenario("krueger")
        t = time.perf_counter()
        run_krueger(kr)
        out["krueger_sweep_seconds"] = round(time.perf_counter() - t, 2)
        k = kr.krueger
        out["krueger_sweep"] = (f"{len(k.population)} sizes x {len(k.interval)} intervals x {len(k.swap)} swap x "
                                f"{k.trials} trials x {k.steps} steps")
        print(f"Krueger sweep ({out['krueger_sweep']}): {out['krueger_sweep_seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
