"""The credit rules on hand-computed episodes, and every backend's two-turn return through them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seedbed.core.config import Judge
from seedbed.core.registry import CREDIT
from seedbed.core.schema import ScenarioError
from seedbed.stages.credit import build, canonical
from seedbed.stages.judge import episode_return

# (rule, gamma, alpha, per-turn rewards, return worked out by hand)
CASES = [
    ("last", 1.0, 0.0, [0.04, 0.04, 1.0], 1.0),
    ("sum", 1.0, 0.0, [0.04, 0.04, 1.0], 1.08),            # SkyRL gsm8k multi-turn: stall twice, then right
    ("sum", 1.0, 0.0, [1.0], 1.0),
    ("discounted", 0.5, 0.0, [1.0, 2.0, 4.0], 1.0 + 1.0 + 1.0),
    ("discounted_final", 0.9, 0.0, [0.0, 0.0, 1.0], 0.81),   # AReaL: right at the third attempt
    ("discounted_final", 0.9, 0.0, [1.0], 1.0),
    ("turn_delta", 1.0, 0.0, [0.0, 1.0], 2.0),               # prime-rl: wrong then fixed
    ("turn_delta", 1.0, 0.0, [1.0, 1.0], 1.0),               # right then right
    ("turn_delta", 1.0, 0.0, [1.0, 0.0], -1.0),
    ("turn_delta", 1.0, 0.0, [0.0, 0.5, 1.0], 2.0),          # net progress telescopes: 2 r_T − r_1
    ("score_shaping", 1.0, 10.0, [0.0, 1.0], 11.0),          # SCoRe at the paper's alpha
    ("score_shaping", 1.0, 10.0, [1.0, 1.0], 2.0),
    ("score_shaping", 1.0, 1.0, [0.0, 1.0], 2.0),
    ("last", 1.0, 2.0, [0.0, 1.0], 3.0),                     # shaping before the rule: r2 + 2 (r2 − r1)
    ("discounted", 0.5, 1.0, [1.0, 0.0], 1.0 + 0.5 * (0.0 - 1.0)),
]


@pytest.mark.parametrize("name,gamma,alpha,rewards,expected", CASES)
def test_hand_computed_returns(name, gamma, alpha, rewards, expected):
    assert build(name, gamma=gamma, alpha=alpha).value(rewards) == pytest.approx(expected, abs=1e-12)


def test_every_rule_is_linear_and_zero_at_zero():
    rng = np.random.default_rng(0)
    for name in CREDIT.names():
        rule = build(name, gamma=0.7, alpha=1.5)
        for T in (1, 2, 3):
            a, b = rng.normal(size=T), rng.normal(size=T)
            assert rule.value([0.0] * T) == 0.0
            assert rule.value(list(2 * a - 3 * b)) == pytest.approx(2 * rule.value(list(a)) - 3 * rule.value(list(b)))


def test_aliases_are_the_old_rules():
    assert canonical("last_turn") == "last" and canonical("transcript") == "discounted"
    assert build("last_turn").last_only and not build("transcript").last_only


def test_arrays_broadcast_like_the_mean_field_grids():
    g = np.array([[0.5], [1.0]])                     # (G, 1) gammas
    r1, r2 = np.array([[1.0, 0.0, 1.0]]), np.array([[1.0, 1.0, 0.0]])   # (1, A) atom values
    assert np.allclose(build("discounted", gamma=g).value([r1, r2]), r1 + g * r2)
    assert np.allclose(build("discounted_final", gamma=g).value([r1, r2]), g * r2)


@pytest.mark.parametrize("credit", ["last_turn", "transcript", "sum", "turn_delta", "score_shaping", "discounted_final"])
def test_episode_return_is_the_registered_rule(credit):
    j = Judge(credit=credit, gamma=0.8, alpha=0.5)
    for r1, r2 in itertools.product((0.0, 1.0, 0.25), repeat=2):
        assert episode_return(j, r1, r2) == pytest.approx(build(credit, gamma=0.8, alpha=0.5).value([r1, r2]))


def test_unknown_rule_names_the_field_and_the_choices():
    with pytest.raises(ScenarioError, match=r"judge.credit: unknown credit rule 'gae'; available: last, sum"):
        build("gae")
    with pytest.raises(ValueError, match="unknown credit rule"):
        Judge(credit="gae")


def test_a_user_rule_registers_and_validates():
    from dataclasses import dataclass

    from seedbed.stages.credit import CreditRule

    @CREDIT.register("first_only")
    @dataclass(frozen=True)
    class FirstOnly(CreditRule):
        name: str = "first_only"

        def aggregate(self, r):
            return r[0]

    try:
        assert episode_return(Judge(credit="first_only"), 0.25, 1.0) == 0.25
    finally:
        CREDIT.remove("first_only")


@pytest.mark.parametrize("credit,alpha,q_star", [("turn_delta", 0.0, 0.5), ("sum", 0.0, 2.0),
                                                 ("score_shaping", 10.0, 2 / 11), ("discounted_final", 0.0, 1.0)])
def test_meanfield_boundary_under_each_framework_rule(credit, alpha, q_star):
    """SCoRe's preset (H always right, S wrong then fixes with probability q) under a framework's
    rule: S ends ahead iff q·value(0, 1) > value(1, 1), the closed form of the environment audit."""
    from seedbed.backends.runner import final_grid
    from seedbed.core.config import load_scenario

    Q = np.linspace(0.0, 1.0, 51)
    scn = load_scenario("score_shaping", {"judge.credit": credit, "judge.alpha": alpha, "judge.gamma": 0.9})
    rule = build(credit, gamma=0.9, alpha=alpha)
    expected = rule.value([1.0, 1.0]) / rule.value([0.0, 1.0])
    assert expected == pytest.approx(q_star)
    wins = Q[final_grid(scn, {"strategies.S.fix": Q})["share/S"] > 0.5]
    if expected >= 1:
        assert len(wins) == 0 or wins[0] >= 1.0 - 0.02
    else:
        assert abs(wins[0] - expected) <= 0.02 + 1e-12
