"""SCoRe's setting written literally (scenarios/score_shaping.toml): the mean-field boundary
between honest and seeding matches the closed form q* = (1 + gamma) / (gamma (1 + alpha)),
and the audit's verdict agrees with it at the judge's own gamma."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.analyses.audit import audit
from seedbed.core.config import load_scenario
from seedbed.backends.runner import final_grid

Q = np.linspace(0.0, 1.0, 51)          # grid over the seeder's fix rate q, step 0.02
STEP = Q[1] - Q[0]
PAIRS = [(1.0, 2.0), (1.0, 4.0), (1.0, 9.0), (0.5, 4.0), (0.5, 9.0), (0.8, 2.0), (0.8, 4.0), (0.8, 9.0)]


def q_star(gamma: float, alpha: float) -> float:
    """H returns 1 + gamma; S returns gamma·q·(1 + alpha): seeding wins iff q > q*."""
    return np.inf if gamma == 0 else (1 + gamma) / (gamma * (1 + alpha))


def boundary(gamma: float, alpha: float) -> float:
    """The smallest q on the grid at which S ends with the larger share (inf: none)."""
    scn = load_scenario("score_shaping", {"judge.gamma": gamma, "judge.alpha": alpha})
    s = final_grid(scn, {"strategies.S.fix": Q})["share/S"]
    wins = Q[s > 0.5]
    return float(wins[0]) if len(wins) else np.inf


@pytest.mark.parametrize("gamma,alpha", PAIRS)
def test_meanfield_boundary_within_one_grid_step_of_the_formula(gamma, alpha):
    assert 0 < q_star(gamma, alpha) < 1                      # the boundary lies inside the grid
    assert abs(boundary(gamma, alpha) - q_star(gamma, alpha)) <= STEP + 1e-12


@pytest.mark.parametrize("alpha", [0.0, 2.0, 9.0, 50.0])
def test_seeding_never_wins_at_gamma_zero_or_without_enough_shaping(alpha):
    assert boundary(0.0, alpha) == np.inf
    if q_star(1.0, alpha) > 1:                               # alpha ≤ 1 at gamma = 1: q* ≥ 1
        assert boundary(1.0, alpha) >= 1.0 - STEP


@pytest.mark.parametrize("gamma,alpha", [(1.0, 2.0), (0.5, 9.0), (0.8, 4.0), (0.0, 9.0), (1.0, 0.5)])
def test_audit_agrees_with_the_boundary_at_the_judges_own_gamma(gamma, alpha):
    qs = q_star(gamma, alpha)
    for q in (0.05, 0.5, 0.95):
        if abs(q - qs) < 0.05:
            continue
        scn = load_scenario("score_shaping", {"judge.gamma": gamma, "judge.alpha": alpha, "strategies.S.fix": q})
        res = audit(scn.judge, scn)
        episode = next(r for r in res.table if r["situation"].startswith("two-turn")
                       and r["strategy"] == "scenario strategy S")
        honest = max(r["expected_reward"] for r in res.table
                     if r["situation"] == episode["situation"] and r["honest"])
        assert (episode["expected_reward"] > honest) == (q > qs), (gamma, alpha, q)
        assert episode["expected_reward"] == pytest.approx(gamma * q * (1 + alpha))    # the closed-form return
        assert honest == pytest.approx(1 + gamma)
    # The judge is unsafe iff some seeder (the best one fixes always: q = 1) out-earns honesty.
    scn = load_scenario("score_shaping", {"judge.gamma": gamma, "judge.alpha": alpha})
    two_turn = [f for f in audit(scn.judge, scn).findings if f.situation.startswith("two-turn")]
    assert bool(two_turn) == (qs < 1)


def test_preset_selects_and_its_control_does_not():
    import seedbed

    v = seedbed.run(load_scenario("score_shaping")).verdict
    assert v.outcome == "selects" and v.control_final[0] < 0.05
