"""Exact ranking maths over finitely many reward atoms, shared by the selection rules' exact
forms and the mean-field round.

Rewards take finitely many values (atoms a with values v_a), so the chance that a response
is beaten by, ties with, or beats i.i.d. rivals is a sum over atoms: :class:`TieRanks` gives
P(R < v_a) and P(R = v_a) under any mass over the atoms; :func:`win_probability` and
:func:`group_ratio` turn those into best-of-n win chances (uniform tie-breaking).
"""

from __future__ import annotations

from math import comb

import numpy as np


def win_probability(p_lt: np.ndarray, p_eq: np.ndarray, n: int) -> np.ndarray:
    """P(a given response wins best-of-n), ties broken uniformly at random.

    Among the other n − 1 i.i.d. responses, j tie with it and n − 1 − j score lower:
        P(win) = Σ_{j=0}^{n−1} C(n−1, j) p_eq^j p_lt^{n−1−j} / (j + 1)
    This is the reference form (used by tests and the plain-loop benchmark). The
    vectorised path uses the equal group form: P(best lands in a's tie group) =
    F_le^n − F_lt^n, split among the group's atoms in proportion to their mass.
    """
    total = np.zeros(np.broadcast(p_lt, p_eq).shape)
    for j in range(n):
        total += comb(n - 1, j) * p_eq**j * p_lt ** (n - 1 - j) / (j + 1)
    return total


def ipow(x: np.ndarray, n: int) -> np.ndarray:
    """x**n for a small positive integer n by repeated squaring (faster than np.power)."""
    result = None
    base = x
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result if result is not None else np.ones_like(x)


def group_ratio(f_lt: np.ndarray, f_le: np.ndarray, n: int) -> np.ndarray:
    """z = (F_le^n − F_lt^n) / (F_le − F_lt): P(best of n is atom a) = z · mass(a)."""
    grp = f_le - f_lt
    return np.divide(ipow(f_le, n) - ipow(f_lt, n), grp, out=np.zeros_like(grp), where=grp > 1e-300)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else 0."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 1e-300)


class TieRanks:
    """For fixed atom values, P(R < v_a) and P(R = v_a) under any mass over the atoms.

    Sorting once per run (values do not change between rounds) makes each query a
    cumulative sum and two gathers. Values are compared after rounding to 1e-9 so that
    equal rewards reached through different sums tie exactly.
    """

    def __init__(self, values: np.ndarray):                     # values (G, A)
        v = np.round(values, 9)
        A = v.shape[-1]
        self.order = np.argsort(v, axis=-1, kind="stable")
        self.inv = np.argsort(self.order, axis=-1, kind="stable")
        vs = np.take_along_axis(v, self.order, -1)
        idx = np.broadcast_to(np.arange(A), vs.shape)
        first = np.ones(vs.shape, bool)
        first[..., 1:] = vs[..., 1:] != vs[..., :-1]
        last = np.ones(vs.shape, bool)
        last[..., :-1] = vs[..., 1:] != vs[..., :-1]
        self.start = np.maximum.accumulate(np.where(first, idx, 0), axis=-1)
        self.end = np.flip(np.minimum.accumulate(np.flip(np.where(last, idx, A - 1), -1), axis=-1), -1)

    def lt_eq(self, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mass (G, ..., A) → (P(R < v_a), P(R = v_a)), each (G, ..., A)."""
        extra = mass.ndim - 2
        sh = lambda a: a.reshape(a.shape[:1] + (1,) * extra + a.shape[1:])  # noqa: E731
        m = np.take_along_axis(mass, sh(self.order), -1)
        incl = np.cumsum(m, -1)
        excl = incl - m
        lt = np.take_along_axis(excl, sh(self.start), -1)
        le = np.take_along_axis(incl, sh(self.end), -1)
        inv = sh(self.inv)
        lt = np.take_along_axis(lt, inv, -1)
        eq = np.take_along_axis(le, inv, -1) - lt
        return np.clip(lt, 0.0, 1.0), np.clip(eq, 0.0, 1.0)
