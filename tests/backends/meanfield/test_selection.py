"""Exact selection: best-of-n against brute-force enumeration of all n-tuples, and the
rules' defining properties."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from seedbed.core.config import load_scenario
from seedbed.backends.meanfield import MeanField, MFParams
from seedbed.backends.meanfield import reference as ref
from seedbed.stages.selection.ranks import TieRanks, win_probability

from tests.conftest import MINIMAL


def brute_force_best_of_n(scn, s, n):
    """Kept mass per strategy by enumerating every n-tuple of responses in every context."""
    K = len(s)
    kept = np.zeros(K)
    for x, pi, w in ref.contexts(scn, s):
        if pi == 0:
            continue
        outcomes = [(w[k] * p, r, k) for k in range(K) for p, r in ref.episode_dist(scn, k, x) if w[k] * p > 0]
        for tup in product(outcomes, repeat=n):
            prob = np.prod([o[0] for o in tup])
            best = max(o[1] for o in tup)
            winners = [o for o in tup if abs(o[1] - best) <= 1e-9]
            for o in winners:
                kept[o[2]] += pi * prob / len(winners)
    return kept / n  # per response generated


@pytest.mark.parametrize("n,rho,phi", [(2, 0.0, 1.0), (3, 0.5, 1.0), (2, 0.9, 0.5), (3, 0.0, 0.3)])
def test_best_of_n_equals_brute_force(write_toml, n, rho, phi):
    path = write_toml(MINIMAL)
    scn = load_scenario(path, [f"selection.n={n}", f"prompts.rho={rho}", f"prompts.phi={phi}",
                               "prompts.m0=0.2", "prompts.c0=0.2", "judge.pen_ignore=0.5", "judge.d_ignore=0.7",
                               "judge.pen_false=0.3", "strategies.seeder.harm=0.2", "judge.d_harm=0.6"])
    s = [0.35, 0.65]
    model = MeanField(MFParams.from_scenario(scn))
    mix, _ = model.prompt_mix(np.array([s]))
    kept, _ = model.selector.kept(mix, np.array([s]))
    np.testing.assert_allclose(kept[0], brute_force_best_of_n(scn, s, n), rtol=0, atol=1e-12)


def test_win_probability_reference_form_sums_to_one_over_a_prompt():
    # Over the n responses to one prompt exactly one wins: E[Σ wins] = n·E[win] = 1.
    rng = np.random.default_rng(0)
    for n in (1, 2, 4, 7):
        mass = rng.dirichlet(np.ones(6))
        values = rng.integers(0, 3, 6).astype(float)
        lt, eq = TieRanks(values[None]).lt_eq(mass[None])
        assert abs(n * float((mass * win_probability(lt[0], eq[0], n)).sum()) - 1) < 1e-12


def test_tie_ranks_match_direct_sums():
    rng = np.random.default_rng(1)
    values = rng.integers(-2, 3, (5, 9)).astype(float)
    mass = rng.dirichlet(np.ones(9), size=5)
    lt, eq = TieRanks(values).lt_eq(mass)
    for g in range(5):
        for a in range(9):
            assert abs(lt[g, a] - mass[g][values[g] < values[g, a]].sum()) < 1e-14
            assert abs(eq[g, a] - mass[g][values[g] == values[g, a]].sum()) < 1e-14


RULE_SETS = [["selection.rule=threshold", "selection.tau=1.0"],
             ["selection.rule=best_of_n", "selection.n=3"],
             ["selection.rule=top_fraction", "selection.q=0.4"],
             ["selection.rule=reward_weighted", "selection.temperature=0.5"],
             ["selection.rule=critique_revision", "selection.tau=1.0"]]


@pytest.mark.parametrize("rule", RULE_SETS, ids=lambda r: r[0].split("=")[1])
@pytest.mark.parametrize("extra", [[], ["prompts.rho=0.6"], ["prompts.turns=2", "judge.credit=transcript", "judge.alpha=0.5"],
                                   ["prompts.m0=0.3", "prompts.c0=0.3", "prompts.phi=0.4", "update.kappa=0.2"]])
def test_vectorised_round_equals_plain_reference(write_toml, rule, extra):
    scn = load_scenario(write_toml(MINIMAL), rule + extra + ["judge.pen_ignore=0.5", "judge.pen_false=0.4",
                                                            "strategies.seeder.harm=0.1"])
    fast = MeanField(MFParams.from_scenario(scn)).run(scn.rounds).shares[:, 0]
    np.testing.assert_allclose(fast, np.array(ref.run(scn)), rtol=0, atol=1e-12)


def test_threshold_judge_ignores_bonus_once_every_correction_passes():
    # Every correcting response passes tau = base as soon as bonus ≥ base + pen_mistake + pen_harm
    # (the worst case: own mistake and harm both detected). Beyond that the bonus buys nothing.
    base = ["selection.rule=threshold", "selection.tau=1.0", "rounds=40"]
    traj = {b: MeanField(MFParams.from_scenario(load_scenario("seed", base + [f"judge.bonus={b}"]))).run(40).shares
            for b in (2.0, 3.0, 10.0, 100.0)}
    for b in (3.0, 10.0, 100.0):
        np.testing.assert_array_equal(traj[b], traj[2.0])
    # ...whereas a ranking judge keeps responding to the bonus.
    rank = {b: MeanField(MFParams.from_scenario(load_scenario("seed", [f"judge.bonus={b}"]))).run(60).shares[-1, 0, 1]
            for b in (0.5, 2.0)}
    assert rank[2.0] - rank[0.5] > 0.5


def test_top_fraction_keeps_exactly_q():
    scn = load_scenario("seed")
    model = MeanField(MFParams.from_scenario(scn))
    s = model.p.share
    for _ in range(5):
        s, stats, _ = model.step(s)
        assert abs(stats["kept/fraction"][0] - scn.selection.q) < 1e-12


def test_best_of_n_keeps_one_in_n():
    scn = load_scenario("seed_best_of_4")
    _, stats, _ = MeanField(MFParams.from_scenario(scn)).step(np.array([scn.shares]))
    assert abs(stats["kept/fraction"][0] - 1 / 4) < 1e-12
