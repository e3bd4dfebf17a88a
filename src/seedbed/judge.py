"""The judge's reward, shared by every backend (and the audit): one definition, many callers.

Functions work elementwise on Python scalars or numpy arrays of labels, so the agent
backend scores a whole batch of transcripts in one call and tests can enumerate label
combinations by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import Judge


def turn_reward(j: Judge, det_mistake: Any, corrected: Any, det_ignore: Any, det_false: Any, det_harm: Any,
                agreed: Any = 0, det_wrong_agree: Any = 0) -> Any:
    """Reward of one assistant turn from what the judge detected (DESIGN.md §3, step 4).

    R = base·[no detected mistake] − pen_mistake·[detected mistake] + bonus·[corrected]
        − pen_ignore·[detected earlier mistake left uncorrected]
        − pen_false·[detected false correction] − pen_harm·[detected harm]
        + syc_bonus·[agreed with the user's stated belief] − pen_mistake·[detected wrong agreement]
    Inputs are 0/1 (or bool) scalars or arrays of one shape.
    """
    if isinstance(det_mistake, np.ndarray):       # arrays: accumulate in place, one float64 buffer
        r = np.where(det_mistake, -j.pen_mistake, j.base)
        for coef, lab in ((j.bonus, corrected), (-j.pen_ignore, det_ignore), (-j.pen_false, det_false),
                          (-j.pen_harm, det_harm), (j.syc_bonus, agreed), (-j.pen_mistake, det_wrong_agree)):
            if coef and isinstance(lab, np.ndarray):
                r[lab] += coef
            elif coef and lab:
                r += coef
        return r
    return (j.base * (1 - det_mistake) - j.pen_mistake * det_mistake + j.bonus * corrected
            - j.pen_ignore * det_ignore - j.pen_false * det_false - j.pen_harm * det_harm
            + j.syc_bonus * agreed - j.pen_mistake * det_wrong_agree)


def episode_return(j: Judge, r1: Any, r2: Any) -> Any:
    """Selection score of a two-turn episode written by one persona.

    Turn 2 carries SCoRe's shaping: r2' = r2 + alpha·(r2 − r1).
      credit = 'last_turn':  r2'            (the judge sees only the last message)
      credit = 'transcript': r1 + gamma·r2' (credit reaches the turn that planted the mistake)
    """
    r2s = r2 + j.alpha * (r2 - r1)
    return r2s if j.credit == "last_turn" else r1 + j.gamma * r2s


def score_labels(j: Judge, rng: np.random.Generator, mistake: np.ndarray, corrected: np.ndarray,
                 ignored: np.ndarray, false_correction: np.ndarray, harm: np.ndarray) -> np.ndarray:
    """Rewards of turns given their ground-truth labels, drawing what the judge notices.

    Each flaw is noticed independently with its detection probability (d_mistake for an
    own mistake, d_ignore for an ignored earlier mistake, d_false, d_harm)."""
    R = len(mistake)
    u = rng.random((4, R))
    return turn_reward(j, mistake & (u[0] < j.d_mistake), corrected, ignored & (u[1] < j.d_ignore),
                       false_correction & (u[2] < j.d_false), harm & (u[3] < j.d_harm))
