"""Exact selection rules (DESIGN.md §3, step 5).

Each rule maps a round's prompt mix and the outcome distributions to the kept mass
K[g, k] of each strategy, per response generated. Per prefix type x the prompt mix is

    fresh[x]   (G,)     probability of a prompt whose responders are drawn from s
    writer[x]  (G, K)   probability of a self-written prompt whose prefix persona j wrote;
                        its responders continue j with probability rho, else draw from s

so the responder mixture of writer j's context is w_j = rho·e_j + (1 − rho)·s. Every
rule below is written through s-mixtures plus one 'diagonal' term, never a K × K product.
Outcomes per x: prob (G, K, A) and value (G, A) (see outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from .outcomes import Outcomes, TieRanks
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


def _group_ratio(f_lt: np.ndarray, f_le: np.ndarray, n: int) -> np.ndarray:
    """z = (F_le^n − F_lt^n) / (F_le − F_lt): P(best of n is atom a) = z · mass(a)."""
    grp = f_le - f_lt
    return np.divide(ipow(f_le, n) - ipow(f_lt, n), grp, out=np.zeros_like(grp), where=grp > 1e-300)


class Selector:
    """Precomputes what does not change between rounds (atom values, per-strategy ranks)."""

    def __init__(self, p: MFParams, out: list[Outcomes]):
        self.p, self.out = p, out
        rule = p.rule
        if rule in ("threshold", "critique_revision"):
            # passes[x] (G, K): P(R ≥ tau | strategy k, prefix type x)
            ok = [(np.round(o.value - p.tau[:, None], 9) >= 0).astype(float) for o in out]
            self.passes = [np.einsum("gka,ga->gk", o.prob, m) for o, m in zip(out, ok)]
        elif rule == "reward_weighted":
            # E[exp((R − max R)/T)] per strategy; the shift cancels in K / sum(K)
            vmax = np.max(np.concatenate([o.value for o in out], -1), -1, keepdims=True)
            self.expw = [np.einsum("gka,ga->gk", o.prob, np.exp((o.value - vmax) / p.temperature[:, None]))
                         for o in out]
        elif rule == "best_of_n":
            # Per-strategy P(R < v_a) and P(R ≤ v_a); a context's CDF is their w-mixture.
            self.ranks = []
            for o in out:
                lt, eq = TieRanks(o.value).lt_eq(o.prob)          # (G, K, A) each
                self.ranks.append((lt, lt + eq))
        elif rule == "top_fraction":
            self.batch_ranks = TieRanks(np.concatenate([o.value for o in out], -1))
            self.splits = np.cumsum([o.value.shape[-1] for o in out])[:-1]
        else:  # pragma: no cover - validated by the config schema
            raise ValueError(rule)

    def kept(self, mix: list[PromptMix], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kept mass K (G, K) per response generated, and the generated mass (G, K)."""
        p, out, rho = self.p, self.out, self.p.rho
        gen = [m.generated(s, rho) for m in mix]
        generated = sum(gen)
        rule = p.rule
        if rule == "threshold":
            K = sum(g * ps for g, ps in zip(gen, self.passes))
        elif rule == "reward_weighted":
            K = sum(g * e for g, e in zip(gen, self.expw))
        elif rule == "critique_revision":
            # A failing response is replaced by a revision drawn from the same context's
            # mixture conditioned on passing, so context c keeps w_c(k)·pass(k)/pass_c.
            K = 0.0
            for m, ps in zip(mix, self.passes):
                pass_s = (s * ps).sum(-1)                                   # (G,) fresh context
                K = K + _safe_div(m.fresh, pass_s)[:, None] * s * ps
                if m.writer is not None:
                    pass_j = rho[:, None] * ps + (1 - rho)[:, None] * pass_s[:, None]   # (G, K) per writer
                    scale = _safe_div(m.writer, pass_j)                     # (G, K) pi_j / pass_j
                    K = K + ((1 - rho) * scale.sum(-1))[:, None] * s * ps + rho[:, None] * scale * ps
        elif rule == "best_of_n":
            K = 0.0
            s_row = s[:, None, :]                                            # (G, 1, K)
            for m, (lt, le), o in zip(mix, self.ranks, out):
                m_lt, m_le = (s_row @ lt)[:, 0], (s_row @ le)[:, 0]          # (G, A) CDF under s
                zbar = m.fresh[:, None] * _group_ratio(m_lt, m_le, p.n)    # (G, A)
                if m.writer is not None:
                    r3 = rho[:, None, None]
                    z = _group_ratio(r3 * lt + (1 - r3) * m_lt[:, None], r3 * le + (1 - r3) * m_le[:, None], p.n)
                    zbar = zbar + (1 - rho)[:, None] * (m.writer[:, None, :] @ z)[:, 0]
                    K = K + rho[:, None] * m.writer * np.einsum("gka,gka->gk", z, o.prob)  # own persona
                K = K + s * (o.prob @ zbar[:, :, None])[..., 0]
            K = K / p.n                                                      # one of n is kept
        elif rule == "top_fraction":
            # Large-batch limit: keep the top q of the whole batch's reward distribution,
            # splitting the boundary tie in proportion.
            mass = np.concatenate([np.einsum("gk,gka->ga", g, o.prob) for g, o in zip(gen, out)], -1)
            lt, eq = self.batch_ranks.lt_eq(mass)
            gt = 1.0 - lt - eq
            q = p.q[:, None]
            keep = np.clip(np.divide(q - gt, eq, out=(gt < q).astype(float), where=eq > 1e-15), 0.0, 1.0)
            parts = np.split(keep, self.splits, axis=-1)
            K = sum(np.einsum("gk,gka,ga->gk", g, o.prob, kp) for g, o, kp in zip(gen, out, parts))
        else:  # pragma: no cover
            raise ValueError(rule)
        return np.asarray(K), generated


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 1e-300)
