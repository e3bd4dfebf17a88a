"""Sample-level selection, shared by the agent and neural backends (DESIGN.md §3, step 5).

Given the scores of R sampled responses, return the weight each gets in the update:
1/0 for kept/dropped, or exp(R/T) for reward weighting. Critique-revision needs new
samples, so each backend implements it with its own sampler.
"""

from __future__ import annotations

import numpy as np

from .config import Selection

TOL = 1e-9


def select_weights(sel: Selection, score: np.ndarray, n: int, group: np.ndarray, groups: int,
                   rng: np.random.Generator, jitter: float = 1e-6) -> np.ndarray:
    """Weights (R,) for responses ``score`` (R,), laid out prompt-major with ``n`` per prompt
    for best-of-n, and in ``groups`` contiguous equal blocks (population members) for
    top-fraction and reward weighting.

    ``jitter`` must be below the smallest gap between distinct scores: it only orders ties
    (at random) when the top fraction cuts through them.
    """
    R = len(score)
    if sel.rule in ("threshold", "critique_revision"):
        return (score >= sel.tau - TOL).astype(float)
    if sel.rule == "best_of_n":
        sc = score.reshape(-1, n)                                     # (prompts, n)
        ties = sc >= sc.max(1, keepdims=True) - TOL
        pick = np.argmax(ties * rng.random(sc.shape, dtype=np.float32), axis=1)   # uniform among tied best
        w = np.zeros(sc.shape)
        w[np.arange(len(sc)), pick] = 1.0
        return w.ravel()
    if sel.rule == "top_fraction":
        per = R // groups
        keep = int(round(sel.q * per))
        w = np.zeros((groups, per))
        if keep:
            key = -(score + jitter * rng.random(R)).reshape(groups, per)
            top = np.argpartition(key, keep - 1, axis=1)[:, :keep]
            np.put_along_axis(w, top, 1.0, axis=1)
        return w.ravel()
    if sel.rule == "reward_weighted":
        top = np.full(groups, -np.inf)
        np.maximum.at(top, group, score)
        return np.exp((score - top[group]) / sel.temperature)
    raise ValueError(sel.rule)  # pragma: no cover - validated by the schema
