"""Basins of attraction: where iterating the share map from many starts ends.

Starts are a scrambled-Halton sample spread uniformly over the simplex of *strategies*
(not classes), collapsed to class shares, so a basin share is the fraction of the
uniform (Lebesgue) measure on all starting mixtures that ends at a state. All starts
are iterated together: one ``step`` call per round for every remaining start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seedbed.analyses.dynamics.fixed_points import FixedPoint, simplex_points
from seedbed.analyses.dynamics.shares_map import SharesMap


@dataclass
class Basin:
    """The starts that end at one stable fixed point (``state`` None: no stable state reached)."""

    state: FixedPoint | None
    share: float
    contains_start: bool


def capture_radius(fp: FixedPoint, fixed: list[FixedPoint]) -> float:
    """How close an iterate must come to stable ``fp`` to be counted as ending there.

    A tenth of the distance to the nearest other fixed point (at most 0.05), and
    ``end_states`` also asks that the iterate is still approaching: close enough that the
    linearisation (spectral radius < 1) governs and no other state is nearer.
    """
    d = [np.abs(fp.shares - q.shares).max() for q in fixed if q is not fp]
    return min([0.05] + [0.1 * x for x in d])


def end_states(fmap: SharesMap, Y: np.ndarray, fixed: list[FixedPoint], point: int = 0,
               max_rounds: int = 5000, chunk: int = 10) -> np.ndarray:
    """Index into ``fixed`` of the stable state each row of Y (N, Kc) ends at; −1: none within max_rounds.

    Iterates the map on all unresolved rows at once, checking every ``chunk`` rounds
    whether a row has entered a stable state's capture radius.
    """
    stable = [i for i, fp in enumerate(fixed) if fp.stable]
    label = np.full(len(Y), -1)
    if not stable:
        return label
    targets = np.array([fixed[i].shares for i in stable])                    # (M, Kc)
    radius = np.array([capture_radius(fixed[i], fixed) for i in stable])
    todo = np.arange(len(Y))
    Y = Y.copy()
    prev = np.full((len(Y), len(stable)), np.inf)                          # distances one chunk ago
    done_rounds = 0
    while len(todo) and done_rounds <= max_rounds:
        dist = np.abs(Y[todo, None, :] - targets[None]).max(-1)             # (n, M)
        hit = (dist <= radius) & ((dist < prev[todo]) | (dist < 1e-12))
        prev[todo] = dist
        got = hit.any(1)
        label[todo[got]] = np.asarray(stable)[hit[got].argmax(1)]
        todo = todo[~got]
        if not len(todo):
            break
        pts = np.full(len(todo), point)
        Z = Y[todo]
        for _ in range(chunk):
            Z = fmap(Z, pts)
        Y[todo] = Z
        done_rounds += chunk
    return label


def basins(fmap: SharesMap, fixed: list[FixedPoint], samples: int = 1024, seed: int = 0,
           point: int = 0, max_rounds: int = 5000) -> tuple[list[Basin], int]:
    """Basin shares of the stable states from ``samples`` starts; also which one holds the start.

    Returns (basins, start_label) where start_label indexes ``fixed`` (−1: the scenario's
    start reaches no stable state). Basins with no sample are still listed (share 0).
    """
    X = simplex_points(samples, fmap.K - 1, seed)                          # strategies' simplex
    Y = np.vstack([fmap.start[None], fmap.collapse(X)])                     # row 0: the scenario's start
    label = end_states(fmap, Y, fixed, point, max_rounds)
    start_label, lab = int(label[0]), label[1:]
    out = [Basin(fp, float(np.mean(lab == i)), start_label == i) for i, fp in enumerate(fixed) if fp.stable]
    rest = float(np.mean(lab == -1))
    if rest > 0 or start_label == -1:
        out.append(Basin(None, rest, start_label == -1))
    return out, start_label
