"""The update stage of the simulated backends: move the policy's shares toward what was kept.

    s' = (1 − eta)·s + eta·K / sum(K)            (a step of size eta toward the kept distribution)
    s' ← (1 − kappa)·s' + kappa·s_base           (an anchor pulling back to the base mixture)

Shapes: s, kept (G, K) (grid points or population members × strategies); eta, kappa (G,);
base (K,) or (G, K). With nothing kept the policy stays where it was.
"""

from __future__ import annotations

import numpy as np


def update_shares(s: np.ndarray, kept: np.ndarray, eta: np.ndarray, kappa: np.ndarray,
                  base: np.ndarray) -> np.ndarray:
    """New shares (G, K) after one update (see the module docstring)."""
    total = kept.sum(-1, keepdims=True)
    target = np.divide(kept, total, out=s.copy(), where=total > 0)               # kept distribution
    new = (1 - eta)[:, None] * s + eta[:, None] * target
    new = (1 - kappa)[:, None] * new + kappa[:, None] * base                     # anchor to base
    return new / new.sum(-1, keepdims=True)                                      # guard rounding drift
