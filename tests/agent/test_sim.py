"""Agent-based backend: sampled rounds converge to the exact mean-field round."""

from __future__ import annotations

import numpy as np
import pytest

import seedbed
from seedbed.agent import AgentRound
from seedbed.config import load_scenario
from seedbed.meanfield import MeanField, MFParams

CASES = [("seed", []), ("seed_best_of_4", []), ("h3_transcript_credit", []), ("h6_critique_revision", []),
         ("seed", ["selection.rule=reward_weighted"]), ("seed", ["selection.rule=threshold"]),
         ("sycophancy", []), ("persistence", [])]


def one_round(scn, N, seed):
    """The agent's new shares and mean reward after one round from the initial shares."""
    sim = AgentRound(scn.with_overrides({"agent.conversations": N}))
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
    b = AgentRound(scn).sample(np.random.default_rng(0), np.asarray(scn.shares))
    L = b.labels
    assert not np.any(L["t1/corrected"] & (b.prefix != 2))                 # only real mistakes are corrected
    assert not np.any(L["t1/false_correction"] & (b.prefix != 1))          # only clean turns are 'corrected'
    assert not np.any(L["t2/corrected"] & ~L["t1/mistake"])                # turn 2 reviews turn 1
    assert not np.any(L["t1/detected_mistake"] & ~L["t1/mistake"])
    assert np.all((b.prefix == 2) == np.where(b.synthetic, L["t0/mistake"], b.prefix == 2))
    assert np.all(b.writer[~b.synthetic] == -1)
