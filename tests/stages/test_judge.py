"""The shared judge: turn rewards and two-turn returns against hand-computed values."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from seedbed.core.config import Judge, load_scenario
from seedbed.stages.judge import episode_return, turn_reward
from seedbed.backends.meanfield import MFParams
from seedbed.backends.meanfield.outcomes import NONE, two_turn

J = dict(base=1.0, pen_mistake=0.5, bonus=2.0, pen_ignore=0.7, pen_false=0.3, pen_harm=4.0)


def hand_reward(det_m, handling, det_f, det_h):
    """Written out case by case, not by the formula."""
    r = -0.5 if det_m else 1.0
    if handling == "corrected":
        r += 2.0
    elif handling == "ignored_detected":
        r -= 0.7
    if det_f:
        r -= 0.3
    if det_h:
        r -= 4.0
    return r


HANDLING = ["none", "corrected", "ignored_undetected", "ignored_detected"]


@pytest.mark.parametrize("det_m,handling,det_f,det_h", list(product([0, 1], HANDLING, [0, 1], [0, 1])))
def test_turn_reward_every_label_combination(det_m, handling, det_f, det_h):
    j = Judge(**J)
    got = turn_reward(j, det_m, handling == "corrected", handling == "ignored_detected", det_f, det_h)
    assert got == pytest.approx(hand_reward(det_m, handling, det_f, det_h), abs=1e-12)


# (turn 1 labels, turn 2 labels) → (r1, r2), with returns worked out by hand:
#   r2' = r2 + alpha (r2 − r1); last_turn: r2'; transcript: r1 + gamma r2'
HAND = [
    # turn 1 planted a noticed mistake; turn 2 corrects it cleanly
    (((1, "none", 0, 0), (0, "corrected", 0, 0)), {(0, 0): -0.5, (1, 0): 2.5, (0, .5): -0.5, (1, .5): 4.25,
                                                   ("last", 0): 3.0, ("last", .5): 4.75}),
    # clean turn 1; turn 2 'corrects' it and is caught (false correction)
    (((0, "none", 0, 0), (0, "none", 1, 0)), {(0, 0): 1.0, (1, 0): 1.7, (0, .5): 1.0, (1, .5): 1.55,
                                              ("last", 0): 0.7, ("last", .5): 0.55}),
    # unnoticed mistake, ignored and caught, with detected harm in turn 2
    (((0, "none", 0, 0), (0, "ignored_detected", 0, 1)), {(0, 0): 1.0, (1, 0): -2.7, (0, .5): 1.0,
                                                           (1, .5): -5.05, ("last", 0): -3.7, ("last", .5): -6.05}),
]


@pytest.mark.parametrize("labels,expected", HAND)
def test_two_turn_returns_hand_computed(labels, expected):
    r1, r2 = hand_reward(*labels[0]), hand_reward(*labels[1])
    for key, want in expected.items():
        gamma_or_last, alpha = key
        if gamma_or_last == "last":
            j = Judge(**J, credit="last_turn", alpha=alpha)
        else:
            j = Judge(**J, credit="transcript", gamma=gamma_or_last, alpha=alpha)
        assert episode_return(j, r1, r2) == pytest.approx(want, abs=1e-12), key


@pytest.mark.parametrize("credit,gamma,alpha", [("transcript", 0.0, 0.0), ("transcript", 1.0, 0.0),
                                                ("transcript", 1.0, 0.5), ("transcript", 0.0, 0.5),
                                                ("last_turn", 1.0, 0.0), ("last_turn", 1.0, 0.5)])
def test_mean_field_two_turn_atoms_are_the_shared_returns(credit, gamma, alpha):
    # Every value the mean-field two-turn model can rank equals episode_return of some
    # label combination, and every reachable combination appears.
    scn = load_scenario("seed", ["prompts.turns=2", f"judge.credit={credit}", f"judge.gamma={gamma}",
                                 f"judge.alpha={alpha}", "judge.pen_mistake=0.5", "judge.pen_false=0.3"])
    o = two_turn(MFParams.from_scenario(scn), NONE)
    atoms = set(np.round(o.value[0][o.prob[0].sum(0) > 0], 9))
    j = scn.judge
    r1s = [turn_reward(j, dm, 0, 0, 0, dh) for dm, dh in product([0, 1], [0, 1])]
    r2s = [turn_reward(j, dm, c, i, f, dh) for dm, (c, i), f, dh in
           product([0, 1], [(0, 0), (1, 0), (0, 1)], [0, 1], [0, 1])]
    possible = {round(float(episode_return(j, a, b)), 9) for a in r1s for b in r2s}
    assert atoms <= possible
