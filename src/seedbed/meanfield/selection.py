"""The mean-field round's selection stage: prompt mixes, best-of-n win probabilities, and
the scenario's rule in its exact form (the rules themselves: :mod:`seedbed.selection`).

Per prefix type x the prompt mix is

    fresh[x]   (G,)     probability of a prompt whose responders are drawn from s
    writer[x]  (G, K)   probability of a self-written prompt whose prefix persona j wrote;
                        its responders continue j with probability rho, else draw from s

Outcomes per x: prob (G, K, A) and value (G, A) (see outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from ..selection import ExactContext, get_rule
from .outcomes import Outcomes
from .params import MFParams


@dataclass
class PromptMix:
    """How the prompts of one prefix type came about (see module docstring)."""

    fresh: np.ndarray             # (G,)
    writer: np.ndarray | None     # (G, K), None when rho = 0 everywhere (merged into fresh)

    def generated(self, s: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """(G, K): share of all responses written by strategy k on this prefix type."""
        if self.writer is None:
            return self.fresh[:, None] * s
        total_w = self.writer.sum(-1, keepdims=True)
        return (self.fresh[:, None] + (1 - rho)[:, None] * total_w) * s + rho[:, None] * self.writer


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


class Selector:
    """The scenario's selection rule in its exact form, with what it precomputes per run."""

    def __init__(self, p: MFParams, out: list[Outcomes]):
        self.p, self.out = p, out
        self.rule = get_rule(p.rule)
        self.ctx = ExactContext(p, out, self.rule.exact_setup(p, out))

    def kept(self, mix: list[PromptMix], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kept mass K (G, K) per response generated, and the generated mass (G, K)."""
        gen = [m.generated(s, self.p.rho) for m in mix]
        return np.asarray(self.rule.exact_kept(self.ctx, mix, gen, s)), sum(gen)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else 0."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 1e-300)
