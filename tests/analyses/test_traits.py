"""The trait-level prediction (seedbed.analyses.traits): the per-prefix kept masses it rests on
sum to the mean-field's, the 16 virtual strategies are the network exactly, targets are right
in a case solvable by hand, it reduces to the persona model at full coupling, and no rate it
predicts leaves [0, 1]."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seedbed.analyses.prediction import TRAIT_METRICS, meanfield_prediction
from seedbed.analyses.traits import BITS, TRAITS, combine, persona_share, targets, trait_path, virtual
from seedbed.backends.meanfield.model import MeanField
from seedbed.backends.meanfield.params import MFParams
from seedbed.backends.runner import plan_run
from seedbed.core.config import load_scenario
from seedbed.results.metrics import Rows, series

RULE_PRESETS = ("seed", "h5_threshold", "h6_critique_revision", "persistence", "score_shaping", "sycophancy")


@pytest.mark.parametrize("preset", RULE_PRESETS)
def test_kept_by_prefix_sums_to_the_kept_mass_for_every_builtin_rule(preset):
    scn = load_scenario(preset)
    mf = MeanField(MFParams.from_scenario(scn))
    rng = np.random.default_rng(0)
    for _ in range(3):
        s = rng.dirichlet(np.ones(len(scn.names)))[None, :]
        mix, _ = mf.prompt_mix(s)
        total, _ = mf.selector.kept(mix, s)
        parts = mf.selector.kept_by_prefix(mix, s)
        assert len(parts) == 3 and all(np.all(k >= -1e-15) for k in parts)
        np.testing.assert_allclose(sum(parts), total, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("preset", ("seed", "h5_threshold", "score_shaping"))
def test_the_virtual_strategies_are_the_network_itself(preset):
    """16 independent on/off strategies at product shares (rho = 0) give the same prompts,
    rewards and kept fraction as one strategy with the four rates."""
    scn = load_scenario(preset)
    p = MFParams.from_scenario(scn)
    r = np.array([0.27, 0.8, 0.13, 0.2])
    one = MFParams.from_scenario(scn.with_overrides({"prompts.rho": 0.0}))
    one = one.subset(np.zeros(1, int))
    one = replace(one, names=["net"], err=np.array([[r[0]]]), err_deploy=np.array([[r[0]]]),
                  err_review=np.array([[0.05]]), fix=np.array([[r[1]]]), false_fix=np.array([[r[2]]]),
                  harm=np.array([[r[3]]]), agree=np.zeros((1, 1)), share=np.ones((1, 1)))
    q, s = virtual(p, r, 0.05)
    assert s.sum() == pytest.approx(1.0) and np.allclose(s @ BITS, r)
    _, a, _ = MeanField(one).step(np.ones((1, 1)))
    _, b, _ = MeanField(q).step(s)
    for m in ("prompt/mistake_rate", "reward/mean", "kept/fraction", "behaviour/err_train"):
        assert b[m] == pytest.approx(a[m], rel=1e-12, abs=1e-15), m


def test_targets_in_a_case_solved_by_hand():
    """Seed judge, threshold 1.5: on a mistaken prefix only a correction earns base + bonus = 2
    (an ignored slip scores 0.5), and no first turn or clean review reaches 1.5. So fixing's
    target is 1 and nothing else is trained but harm (which no kept correction with detected harm
    can carry: detected harm costs 1)."""
    scn = load_scenario("seed", ["selection.rule=threshold", "selection.tau=1.5", "judge.d_harm=1.0"])
    t, trained = targets(MFParams.from_scenario(scn), np.array([0.3, 0.6, 0.2, 0.4]), 0.0)
    assert trained.tolist() == [False, True, False, True]
    assert t[TRAITS.index("fix")] == pytest.approx(1.0)
    assert t[TRAITS.index("harm")] == pytest.approx(0.0)
    assert t[TRAITS.index("err")] == 0.3 and t[TRAITS.index("false_fix")] == 0.2     # untrained: own rate


def test_an_untrained_first_turn_follows_fixing_by_the_transfer_slope():
    scn = load_scenario("seed")                      # phi = 1: every trained turn is a review
    p = MFParams.from_scenario(scn)
    r0 = np.array([0.27, 0.8, 0.13, 0.2])
    path = trait_path(p, r0, 6, 0.3, 0.0, 0.05, c=-1.0, sigma=-0.4)
    d_fix, d_err = np.diff(path[:, 1]), np.diff(path[:, 0])
    np.testing.assert_allclose(d_err, -0.4 * d_fix, atol=1e-12)
    flat = trait_path(p, r0, 6, 0.3, 0.0, 0.05, c=0.0, sigma=0.0)
    assert np.all(flat[:, 0] == r0[0])               # no coupling: seeding does not move
    assert flat[-1, 1] > r0[1]                       # while fixing is trained up


def test_the_trait_prediction_stays_a_rate():
    scn = load_scenario("seed")
    p = MFParams.from_scenario(scn)
    rng = np.random.default_rng(1)
    for _ in range(20):
        r0 = rng.uniform(0, 1, 4)
        path = trait_path(p, r0, 8, rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0, 0.2),
                          c=rng.normal(0, 5), sigma=rng.normal(0, 5))
        assert np.all((path >= 0) & (path <= 1))
        both = combine(r0, rng.uniform(-1, 2, path.shape), path)
        assert np.all((both >= 0) & (both <= 1))
    assert persona_share(-3.0) == 0.0 and persona_share(0.4) == 0.4 and persona_share(7.0) == 1.0
    assert persona_share(float("nan")) == 0.0


def _measured(scn, rounds: int) -> "object":
    """A neural run's measured table, made up: two seeds, round-0 shares near the corpus,
    a constant step and anchor, and round-0 behaviour rates."""
    rows = Rows()
    rng = np.random.default_rng(2)
    r = np.arange(rounds + 1)
    for arm in ("scenario", "control"):
        for seed in (0, 1):
            s = np.asarray(scn.shares) + rng.uniform(0, 0.02, len(scn.names))
            for n, x in zip(scn.names, s / s.sum()):
                rows.add(arm, seed, r, 0, f"share/{n}", np.full(len(r), x))
            for m, v in (("probe/rho", 0.9), ("probe/eta_eff", 0.2), ("probe/kappa_eff", 0.05),
                         ("probe/err_review", 0.04)):
                rows.add(arm, seed, r, 0, m, np.full(len(r), v))
            for name, v in zip(TRAITS, (0.27, 0.8, 0.13, 0.2)):
                rows.add(arm, seed, r, 0, TRAIT_METRICS[name][0], np.full(len(r), v + 0.01 * seed))
    return rows.table()


def test_at_full_coupling_the_trait_prediction_is_the_persona_model():
    scn = load_scenario("seed")
    plan = plan_run(scn, "neural", seeds=2)
    measured = _measured(scn, plan.rounds)
    pred = meanfield_prediction(plan, measured, coupling=1.0, slope=0.406)
    for arm in ("scenario", "control"):
        lam = next(iter(series(pred, "prediction/traits_lambda", arm).values()))[1]
        assert lam[0] == 1.0
        for name in ("err", "fix", "false_fix"):
            start, trait_metric, _ = TRAIT_METRICS[name]
            persona_metric = {"err": "behaviour/err_deploy", "fix": "probe/fix_rate",
                              "false_fix": "probe/false_fix_rate"}[name]
            (_, (r, persona)), = series(pred, persona_metric, arm).items()
            (_, (_, trait)), = series(pred, trait_metric, arm).items()
            m0 = np.mean([v[0] for _, v in series(measured, start, arm).values()])
            np.testing.assert_allclose(trait, np.clip(persona - persona[0] + m0, 0, 1), atol=1e-12)
    weak = meanfield_prediction(plan, measured, coupling=-1.0, slope=-0.4)
    (_, (_, err)), = series(weak, "traits/err_deploy", "scenario").items()
    (_, (_, fix)), = series(weak, "traits/fix_rate", "scenario").items()
    assert fix[-1] > fix[0] and err[-1] < err[0]      # anti-coupled: fixing up, seeding down
    assert next(iter(series(weak, "prediction/traits_lambda", "scenario").values()))[1][0] == 0.0


def test_a_neural_plan_takes_its_predicted_effect_from_the_trait_prediction(tmp_path):
    from seedbed.analyses.planning import predicted_trajectory
    from seedbed.results import writing
    from seedbed.results.verdict import SEEDING

    scn = load_scenario("seed")
    plan = plan_run(scn, "neural", seeds=2)
    pred = meanfield_prediction(plan, _measured(scn, plan.rounds), coupling=-1.0, slope=-0.4)
    writing.write_table(tmp_path / "prediction.parquet", pred)
    effect, source = predicted_trajectory(tmp_path, SEEDING, "neural", scn)
    (_, (_, a)), = series(pred, "traits/err_deploy", "scenario").items()
    (_, (_, b)), = series(pred, "traits/err_deploy", "control").items()
    np.testing.assert_allclose(effect, a - b)
    assert "trait prediction" in source and "persona share 0.00" in source


def test_without_a_measured_coupling_there_is_no_trait_prediction_and_each_arm_gets_its_own():
    scn = load_scenario("seed")
    plan = plan_run(scn, "neural", seeds=2)
    measured = _measured(scn, plan.rounds)
    none = set(meanfield_prediction(plan, measured)["metric"].to_pylist())
    assert not any(m.startswith("traits/") for m in none)           # not a silent "coupling 0"
    anti = set(meanfield_prediction(plan, measured, coupling=-1.0)["metric"].to_pylist())
    assert not any(m.startswith("traits/") for m in anti)           # below 0 it needs the slope too
    per_arm = meanfield_prediction(plan, measured, {"scenario": 0.3, "control": 1.5}, {"scenario": 0.1})
    lam = {arm: next(iter(series(per_arm, "prediction/traits_lambda", arm).values()))[1][0]
           for arm in ("scenario", "control")}
    assert lam == {"scenario": 0.3, "control": 1.0}
