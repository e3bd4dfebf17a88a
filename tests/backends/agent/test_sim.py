"""Agent-based backend: sampled rounds converge to the exact mean-field round."""

from __future__ import annotations

import numpy as np
import pytest

import seedbed
from seedbed.backends.agent import RoundSampler
from seedbed.core.config import load_scenario
from seedbed.backends.meanfield import MeanField, MFParams

CASES = [("seed", []), ("seed_best_of_4", []), ("h3_transcript_credit", []), ("h6_critique_revision", []),
         ("seed", ["selection.rule=reward_weighted"]), ("seed", ["selection.rule=threshold"]),
         ("sycophancy", []), ("persistence", [])]


def one_round(scn, N, seed):
    """The agent's new shares and mean reward after one round from the initial shares."""
    sim = RoundSampler(scn.with_overrides({"agent.conversations": N}))
    s, st, _ = sim.step(np.random.default_rng(seed), np.asarray(scn.shares))
    return np.concatenate([s, [st["reward/mean"], st["prompt/mistake_rate"]]])


@pytest.mark.parametrize("name,extra", CASES, ids=[f"{n}{'+' + e[0] if e else ''}" for n, e in CASES])
def test_agent_round_is_within_a_few_standard_errors_of_mean_field(name, extra):
    scn = load_scenario(name, extra)
    s1, st, _ = MeanField(MFParams.from_scenario(scn)).step(np.array([scn.shares]))
    exact = np.concatenate([s1[0], st["reward/mean"], st["prompt/mistake_rate"]])
    samples = np.array([one_round(scn, 4000, seed) for seed in range(12)])
    se = samples.std(0, ddof=1) / np.sqrt(len(samples)) + 1e-6
    z = np.abs(samples.mean(0) - exact) / se
    assert np.all(z < 4.5), (z, samples.mean(0), exact)


def test_error_shrinks_like_one_over_sqrt_n():
    scn = load_scenario("seed_best_of_4")
    s1, _, _ = MeanField(MFParams.from_scenario(scn)).step(np.array([scn.shares]))
    rmse = {}
    for N in (500, 8000):
        errs = np.array([one_round(scn, N, seed)[:4] - s1[0] for seed in range(16)])
        rmse[N] = np.sqrt(np.mean(errs**2))
    ratio = rmse[500] / rmse[8000]          # sqrt(16) = 4 expected
    assert 2.5 < ratio < 6.5, (ratio, rmse)


def test_a_run_averaged_over_seeds_tracks_the_mean_field_trajectory():
    scn = load_scenario("seed", ["rounds=15", "agent.conversations=4000"])
    mf = seedbed.run(scn).verdict
    ag = seedbed.run(scn, backend="agent", seeds=4).verdict
    assert abs(ag.scenario_final[0] - mf.scenario_final[0]) < 0.05
    assert abs(ag.control_final[0] - mf.control_final[0]) < 0.05


def test_seeded_runs_are_identical_and_seeds_differ():
    scn = load_scenario("seed", ["rounds=5", "agent.conversations=500"])
    a = seedbed.run(scn, backend="agent", seeds=2).metrics
    b = seedbed.run(scn, backend="agent", seeds=2).metrics
    assert a.equals(b)
    c = seedbed.run(scn.with_overrides({"seed": 1}), backend="agent", seeds=2).metrics
    assert not a.equals(c)


def test_transcripts_carry_consistent_ground_truth_labels():
    scn = load_scenario("h3_transcript_credit", ["agent.conversations=3000", "prompts.phi=0.5", "prompts.m0=0.2",
                                                 "prompts.c0=0.2"])
    b = RoundSampler(scn).sample(np.random.default_rng(0), np.asarray(scn.shares))
    L = b.labels
    assert not np.any(L["t1/corrected"] & (b.prefix != 2))                 # only real mistakes are corrected
    assert not np.any(L["t1/false_correction"] & (b.prefix != 1))          # only clean turns are 'corrected'
    assert not np.any(L["t2/corrected"] & ~L["t1/mistake"])                # turn 2 reviews turn 1
    assert not np.any(L["t1/detected_mistake"] & ~L["t1/mistake"])
    assert np.all((b.prefix == 2) == np.where(b.synthetic, L["t0/mistake"], b.prefix == 2))
    assert np.all(b.writer[~b.synthetic] == -1)


@pytest.mark.parametrize("n", [1, 3])
def test_prompt_writer_and_responder_frequencies_match_their_probabilities(n):
    """Counts-based sampling (n = 1) and per-response sampling (n > 1) both draw each
    conversation's (synthetic, writer, prefix, responder) with the model's probabilities,
    with writers from W (another member's shares, as under context swapping)."""
    rule = ["selection.rule=best_of_n", f"selection.n={n}"] if n > 1 else []
    scn = load_scenario("seed", ["prompts.phi=0.6", "prompts.m0=0.2", "prompts.c0=0.3", "prompts.rho=0.7",
                                 "agent.conversations=200000"] + rule)
    sim = RoundSampler(scn)
    S = np.array([[0.1, 0.2, 0.3, 0.4]])
    W = np.array([[0.4, 0.3, 0.2, 0.1]])
    b = sim.sample(np.random.default_rng(5), S, W)
    pr, err = scn.prompts, np.array([s.err for s in scn.strategies])
    K = 4
    expected, observed = [], []
    for k in range(K):                 # fresh prompts: prefix from the pool, responder from S
        for x, px in ((0, 1 - pr.m0 - pr.c0), (1, pr.c0), (2, pr.m0)):
            expected.append((1 - pr.phi) * px * S[0, k])
            observed.append(np.mean(~b.synthetic & (b.prefix == x) & (b.persona == k)))
    for w in range(K):                 # self-written: writer from W, mistaken w.p. err[w], voice kept w.p. rho
        for x, px in ((1, 1 - err[w]), (2, err[w])):
            for k in range(K):
                pk = pr.rho * (k == w) + (1 - pr.rho) * S[0, k]
                expected.append(pr.phi * W[0, w] * px * pk)
                observed.append(np.mean(b.synthetic & (b.writer == w) & (b.prefix == x) & (b.persona == k)))
    expected, observed = np.array(expected), np.array(observed)
    assert abs(expected.sum() - 1) < 1e-12 and abs(observed.sum() - 1) < 1e-12
    se = np.sqrt(expected * (1 - expected) / (len(b.persona) // n))      # conservative: prompts, not responses
    assert np.all(np.abs(observed - expected) < 5 * se + 1e-12)
