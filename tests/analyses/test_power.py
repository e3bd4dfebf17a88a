"""Power planning (seedbed.analyses.power): exact power of the verdict rule, the plan's stated
power against simulated experiments judged by seedbed's own rule, the sequential design's
error control."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from seedbed.analyses import power as P
from seedbed.results.metrics import SIGNED_UNIT, mean_ci
from seedbed.results.verdict import MARGIN, MIN_SEEDS, decide



def seedbed_outcome(a, b):
    """Exactly what judge_verdict does with the two arms' final values."""
    n = min(len(a), len(b))
    return decide(mean_ci(a[:n] - b[:n], bounds=SIGNED_UNIT), n, exact=False)[0]


def rngs(*key):
    return np.random.default_rng(np.random.SeedSequence(list(key)))


# ----------------------------------------------------------------- the rule and its constants

def test_constants_match_seedbed():
    assert P.MARGIN == MARGIN and P.MIN_SEEDS == MIN_SEEDS


def test_standalone_rule_is_seedbeds_rule():
    rng = rngs(1)
    cases = 0
    for n in (1, 2, 3, 4, 7, 15):
        for _ in range(150):
            loc = rng.choice([0.0, 0.02, 0.05, -0.05])
            d = rng.normal(loc, rng.choice([0.0, 0.01, 0.05, 0.3]), n)
            assert P.decide_fixed(d) == decide(mean_ci(d, bounds=SIGNED_UNIT), n, exact=False)[0]
            cases += 1
    d = np.full(5, 0.02)            # at the margin, zero spread: hi = 0.02 ≤ margin
    assert P.decide_fixed(d) == decide(mean_ci(d, bounds=SIGNED_UNIT), 5, False)[0] == P.NOT_SELECTS
    assert cases > 800


def test_probs_sum_and_small_n():
    ps, pn, pi = P.outcome_probs(0.1, 0.05, 2)
    assert (ps, pn, pi) == (0.0, 0.0, 1.0)                  # fewer than 3 seeds: never a verdict
    ps, pn, pi = P.outcome_probs(0.1, 0.05, np.arange(1, 30))
    assert np.allclose(ps + pn + pi, 1) and (pi >= 0).all()


def test_exact_power_matches_simulation():
    """The noncentral-t formula is the rule's exact outcome distribution (Gaussian differences)."""
    rng = rngs(2)
    reps = 20000
    for effect, sd, n in [(0.06, 0.05, 5), (0.0, 0.03, 4), (0.03, 0.04, 12), (0.02, 0.05, 6)]:
        d = rng.normal(effect, sd, (reps, n))
        m, s = d.mean(1), d.std(1, ddof=1)
        half = stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)
        sim = np.array([np.mean(m - half > P.MARGIN), np.mean(m + half <= P.MARGIN)])
        exact = np.array(P.outcome_probs(effect, sd, n)[:2])
        se = np.sqrt(exact * (1 - exact) / reps) + 1e-4
        assert (np.abs(sim - exact) < 4 * se).all(), (effect, sd, n, sim, exact)


def test_null_at_margin_each_side_is_alpha_over_two():
    ps, pn, _ = P.outcome_probs(P.MARGIN, 0.05, np.array([3, 10, 100]))
    assert np.allclose(ps, 0.025) and np.allclose(pn, 0.025)


# ----------------------------------------------------------------- seeds for power

@pytest.mark.parametrize("effect,sd", [(0.08, 0.05), (0.05, 0.02), (0.0, 0.05), (-0.1, 0.2), (0.3, 0.01)])
def test_seeds_minimal(effect, sd):
    n = P.seeds_for_power(effect, sd)
    assert n is not None and n >= P.MIN_SEEDS
    assert P.power(effect, sd, n) >= 0.8
    if n > P.MIN_SEEDS:
        assert P.power(effect, sd, n - 1) < 0.8
    ns = np.arange(P.MIN_SEEDS, n + 40)                    # no dip back under the goal after n
    assert (P.power(effect, sd, ns)[ns >= n] >= 0.8).all()


def test_seeds_close_to_normal_formula_for_large_n():
    effect, sd = 0.03, 0.05
    n = P.seeds_for_power(effect, sd)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert abs(n - (z * sd / (effect - P.MARGIN)) ** 2) < 4     # t vs z: a few seeds more


def test_edge_cases():
    assert P.seeds_for_power(P.MARGIN, 0.05) is None                  # at the margin: power alpha forever
    assert P.seeds_for_power(0.5, 0.0) == P.MIN_SEEDS                 # spread 0: deterministic
    assert P.seeds_for_power(P.MARGIN, 0.0) == P.MIN_SEEDS            # ... 'does not select' (hi = margin)
    assert P.power(P.MARGIN, 0.0, 3, target=P.NOT_SELECTS) == 1.0
    p = P.make_plan(0.0, 0.05)                                       # within the margin
    assert p.probs[P.NOT_SELECTS] > 0.79 and any("does not select" in x for x in p.notes)
    assert P.make_plan(P.MARGIN, 0.05).seeds is None
    with pytest.raises(ValueError):
        P.outcome_probs(0.1, -1.0, 5)
    assert P.diff_sd(0.03, 0.04) == pytest.approx(0.05)
    assert P.diff_sd(0.03, 0.03, rho=1.0) == pytest.approx(0.0, abs=1e-12)


def test_targets():
    n = 6
    c = P.power(0.07, 0.05, n)
    assert c == pytest.approx(P.power(0.07, 0.05, n, target=P.SELECTS) + P.power(0.07, 0.05, n, target=P.NOT_SELECTS))
    assert P.power(0.07, 0.05, n, target="predicted") == P.power(0.07, 0.05, n, target=P.SELECTS)
    assert P.seeds_for_power(0.07, 0.05, target="predicted") >= P.seeds_for_power(0.07, 0.05)


# ----------------------------------------------------------------- the validation test

@pytest.mark.parametrize("mu_s,mu_c,sd_s,sd_c", [(0.30, 0.22, 0.04, 0.03), (0.20, 0.20, 0.03, 0.03)])
def test_plan_power_matches_simulation(mu_s, mu_c, sd_s, sd_c):
    """200 simulated experiments at the plan's seeds, judged by seedbed's own rule: the
    fraction conclusive within ±0.07 of the stated power (Gaussian per-seed final share;
    the real test will use the agent backend)."""
    plan = P.make_plan(mu_s - mu_c, P.diff_sd(sd_s, sd_c))
    assert plan.seeds is not None and plan.power >= 0.8
    root = np.random.SeedSequence(20240601)
    hits = 0
    for child in root.spawn(200):
        ra, rb = (np.random.default_rng(c) for c in child.spawn(2))    # the two arms' own streams
        a, b = ra.normal(mu_s, sd_s, plan.seeds), rb.normal(mu_c, sd_c, plan.seeds)
        hits += seedbed_outcome(a, b) != "inconclusive"
    assert abs(hits / 200 - plan.power) <= 0.07, (hits / 200, plan.power)


# ----------------------------------------------------------------- rounds, plan object, post-hoc

def test_plan_rounds_saturating_trajectory():
    r = np.arange(1, 41)
    traj = 0.10 * (1 - np.exp(-r / 8))                   # rises through the margin, saturates
    p_cost = P.plan_rounds(traj, 0.05, objective="cost")
    p_seeds = P.plan_rounds(traj, 0.05, objective="seeds")
    assert traj[p_cost.rounds - 1] > P.MARGIN and p_cost.power >= 0.8
    n_end = P.seeds_for_power(traj[-1], 0.05)
    assert p_seeds.seeds == n_end and p_seeds.rounds <= 40
    assert p_cost.seeds * p_cost.rounds <= p_seeds.seeds * p_seeds.rounds
    for i in range(40):                                  # nothing cheaper was missed
        n = P.seeds_for_power(traj[i], 0.05)
        if n is not None and traj[i] > P.MARGIN:
            assert n * (i + 1) >= p_cost.seeds * p_cost.rounds


def test_plan_rounds_ignores_transients():
    traj = np.concatenate([np.full(5, 0.2), np.full(10, -0.05)])    # early 'selects', ends below
    p = P.plan_rounds(traj, 0.05)
    assert p.rounds >= 6 and p.predicted_effect == -0.05
    assert P.plan_rounds(traj, np.full(15, 0.05), min_round=12).rounds == 12


def test_plan_lines_and_json():
    p = P.make_plan(0.08, 0.05, rounds=30)
    text = "\n".join(p.lines())
    assert f"seeds per arm: {p.seeds}, 30 rounds" in text and "power" in text
    d = json.loads(p.to_json())
    assert d["seeds"] == p.seeds and d["margin"] == 0.02 and d["alpha"] == 0.05 and "rule" in d
    assert set(d) >= {"seeds", "rounds", "predicted_effect", "spread", "power", "margin", "alpha", "rule"}


def test_achieved_power():
    rng = rngs(3)
    d = rng.normal(0.07, 0.05, 8)
    a = P.achieved_power(d, planned_effect=0.08)
    assert a["label"].startswith("post-hoc")
    assert a["power_at_planned_effect"] == pytest.approx(P.power(0.08, d.std(ddof=1), 8))
    lo, hi = a["power_at_planned_effect_interval"]
    assert lo <= a["power_at_planned_effect"] <= hi
    assert "power_at_observed_effect (post-hoc, uninformative)" in a
    assert "note" in P.achieved_power(d[:2], 0.08)


# ----------------------------------------------------------------- group-sequential

def test_obf_bounds_published_values():
    # Lan-DeMets O'Brien-Fleming spending, one-sided 0.025 (gsDesign / ldbounds tables)
    assert np.allclose(P.obf_bounds([.2, .4, .6, .8, 1]), [4.877, 3.357, 2.680, 2.290, 2.031], atol=2e-3)
    assert np.allclose(P.obf_bounds([1 / 3, 2 / 3, 1]), [3.710, 2.511, 1.993], atol=2e-3)
    assert P.obf_bounds([1.0])[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-8)
    assert P.obf_spending(1.0, 0.025) == pytest.approx(0.025)


def test_gs_exit_null_total_and_power():
    fr = [0.25, 0.5, 0.75, 1]
    c = P.obf_bounds(fr)
    up, lo = P.gs_exit(fr, c)
    assert up.sum() + lo.sum() == pytest.approx(0.05, abs=2e-4)
    assert np.allclose(np.cumsum(up), P.obf_spending(fr, 0.025), atol=1e-5)
    u1, _ = P.gs_exit([1.0], [1.96], drift=2.8)                   # fixed design: Φ(2.8 − 1.96)
    assert u1[0] == pytest.approx(stats.norm.cdf(2.8 - 1.96), abs=1e-6)


def test_sequential_one_look_is_the_fixed_rule():
    des = P.SequentialDesign.make([7])
    assert des.t_bounds[0] == pytest.approx(stats.t.ppf(0.975, 6))
    rng = rngs(4)
    for _ in range(100):
        d = rng.normal(0.04, 0.05, 7)
        assert des.decide(d, 0) == P.decide_fixed(d)


def test_sequential_type_one_error_at_margin():
    """Overall type I error at δ = margin (either wrong decision) ≤ alpha, by simulation
    (fixed SeedSequence, independent of the calibration seed), up to 2 MC standard errors."""
    reps = 200_000
    for looks in [(3, 6, 9, 12), (5, 10, 15, 20)]:
        des = P.SequentialDesign.make(looks)
        r = des.simulate(P.MARGIN, 0.05, reps=reps, seed=777)
        err = r[P.SELECTS] + r[P.NOT_SELECTS]
        se = math.sqrt(0.05 * 0.95 / reps)
        assert err <= 0.05 + 2 * se, (looks, err)
        for side in (P.SELECTS, P.NOT_SELECTS):
            assert r[side] <= 0.025 + 2 * math.sqrt(0.025 * 0.975 / reps)
        assert des.t_bounds[0] > 20                                # O'Brien-Fleming: hard to stop at 3-5 seeds


def test_sequential_decide_matches_simulate_and_power():
    des = P.SequentialDesign.make((10, 20, 30))
    rng = rngs(5)
    d = rng.normal(0.2, 0.05, 30)                                   # huge effect: stop at the first look
    assert des.decide(d, 0) == P.SELECTS
    d = rng.normal(0.02, 0.05, 30)
    assert des.decide(d, 0) in ("continue", P.SELECTS, P.NOT_SELECTS)
    sim = des.simulate(0.045, 0.05, reps=20000, seed=6)
    approx = des.normal_power(0.045, 0.05)                          # known-variance approximation
    assert abs(sim[P.SELECTS] + sim[P.NOT_SELECTS] - approx) < 0.05
    assert sim["expected_seeds"] < 30


def test_sequential_plan():
    des, sim = P.sequential_plan(0.08, 0.05, k=3, reps=4000, seed=0)
    assert sim[P.SELECTS] + sim[P.NOT_SELECTS] >= 0.8
    assert des.looks[0] >= P.MIN_SEEDS and len(des.looks) == 3
    assert des.looks[-1] >= P.seeds_for_power(0.08, 0.05)


def test_quadrature_fallback_matches_nct():
    for df, lam in [(2, 0.5), (5, 1.3), (11, -2.0), (30, 3.0)]:
        c = stats.t.ppf(0.975, df)
        up, lo = P._t_tails_quad(df, lam, c)
        assert up == pytest.approx(stats.nct.sf(c, df, lam), abs=1e-8)
        assert lo == pytest.approx(stats.nct.cdf(-c, df, lam), abs=1e-8)
    assert np.isfinite(P.power(0.3, 0.01, np.arange(3, 10))).all()     # scipy's nct gives NaN here


def test_pilot_sd_upper_bound_covers():
    rng = rngs(7)
    d = rng.normal(0.0, 0.05, (4000, 5))
    ucl = np.array([P.pilot_sd(x, upper=0.8) for x in d[:400]])
    assert abs(np.mean(ucl >= 0.05) - 0.8) < 0.06
    assert P.pilot_sd(d[0]) == pytest.approx(d[0].std(ddof=1))
