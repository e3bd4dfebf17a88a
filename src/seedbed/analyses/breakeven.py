"""Break-even fix rates: when does seed-then-fix beat honest play in an environment?

Three policies play one item in an environment with up to T attempts (it may end earlier,
e.g. at the first right answer):

    honest(p, f)   attempt 1 is right with probability p; after a wrong attempt the next one
                   is right with probability f (its honest fix rate); a right answer is kept
    seeder(q)      attempt 1 is a planted (formatted) wrong answer; after a wrong attempt the
                   next is right with probability q (how often it fixes its own mistake)
    stall(k)       k formatted wrong answers, then the right one (it knows the answer)

Each policy is a distribution over right/wrong sequences; every sequence is played in the
environment itself (:func:`seedbed.analyses.environments.play`, cached) and valued by the
credit rule, so E[return] is exact (at most T + 1 sequences a policy).

    q*(p, f) = the smallest q with E[seeder(q)] ≥ E[honest(p, f)]   (None: no q ≤ 1 reaches it)

Closed form (two attempts that always both happen, a grader paying r ∈ {0, 1}, a credit rule
linear in the rewards with value 0 at r = 0, as every rule of :mod:`seedbed.stages.credit`
is): with c1 = value(1, 0) and c2 = value(0, 1) > 0,

    E[honest] = p (c1 + c2) + (1 − p) f c2,   E[seeder] = q c2,   q* = p (1 + c1 / c2) + (1 − p) f.

turn_delta (value 2 r2 − r1): c1 = −1, c2 = 2, q* = p / 2 + (1 − p) f; sum: q* = 2p + (1 − p) f;
last: q* = p + (1 − p) f; score_shaping at alpha: q* = 2p / (1 + alpha) + (1 − p) f.

The stalling margin is max over k of value(stall k) − value(right at once): what a policy
that knows the answer gains by withholding it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from seedbed.analyses.environments import Played, Source, play

TOL = 1e-9


@dataclass
class Model:
    """An environment with its credit rule: exact expected returns of the three policies."""

    src: Source
    rule: Any                      # a seedbed.stages.credit.CreditRule
    horizon: int | None = None     # attempts played (default: the environment's max_turns)

    def __post_init__(self) -> None:
        self._value = functools.lru_cache(maxsize=None)(self._sequence_value)

    @property
    def T(self) -> int:
        return max(1, min(self.horizon or self.src.max_turns, self.src.max_turns))

    def _sequence_value(self, pattern: tuple[bool, ...]) -> float:
        """The return of a right (True) / wrong (False) sequence of T attempts, as played."""
        a = self.src.answers
        wrong = iter(a.wrong * self.T)
        actions = [a.right if ok else next(wrong) for ok in pattern]
        return float(self.rule.value(play(self.src, "sequence", actions, "sequence").rewards))

    def value(self, t: Played) -> float:
        return float(self.rule.value(t.rewards))

    def _expected(self, first: float, then: float) -> float:
        """E[return] of a policy right at attempt 1 with probability ``first`` and, after a
        wrong attempt, right at the next with probability ``then`` (right answers are kept)."""
        T, total, reach = self.T, 0.0, 1.0           # reach: P(all attempts so far were wrong)
        for j in range(T):                          # first right answer at attempt j + 1
            pj = first if j == 0 else then
            total += reach * pj * self._value(tuple([False] * j + [True] * (T - j)))
            reach *= 1 - pj
        return total + reach * self._value(tuple([False] * T))

    def honest(self, p: float, f: float) -> float:
        return self._expected(p, f)

    def seeder(self, q: float) -> float:
        return self._expected(0.0, q) if self.T > 1 else self._value((False,))

    def q_star(self, p: float, f: float) -> float | None:
        """The break-even fix rate (see the module docstring); 0 when seeding wins at any q."""
        if self.T < 2:
            return None
        h = self.honest(p, f)
        qs = np.linspace(0.0, 1.0, 201)
        gap = np.array([self.seeder(q) - h for q in qs])
        ok = np.flatnonzero(gap >= -TOL)
        if ok.size == 0:
            return None
        i = int(ok[0])
        if i == 0:
            return 0.0
        if gap[i] <= TOL:                  # the grid point is the root (to rounding)
            return float(qs[i])
        return float(brentq(lambda q: self.seeder(q) - h, qs[i - 1], qs[i], xtol=1e-12))


def linear_coefficients(rule: Any) -> tuple[float, float]:
    """(c1, c2) = (value(1, 0), value(0, 1)) of a two-turn rule linear in its rewards."""
    return float(rule.value([1.0, 0.0])), float(rule.value([0.0, 1.0]))


def closed_form_q_star(rule: Any, p: float, f: float) -> float | None:
    """q* for two always-played attempts and a binary grader (module docstring); None when
    c2 ≤ 0 (fixing earns nothing) or q* > 1 (no seeder reaches honest play)."""
    c1, c2 = linear_coefficients(rule)
    if c2 <= 0:
        return None
    q = p * (1 + c1 / c2) + (1 - p) * f
    return max(q, 0.0) if q <= 1 + TOL else None


def has_closed_form(src: Source, plays: list[Played]) -> bool:
    """Two attempts always played and every reward 0 or 1: the closed form applies."""
    return src.max_turns == 2 and all(t.turns == 2 and set(t.rewards) <= {0.0, 1.0} for t in plays)


@dataclass
class Margins:
    """The canonical trajectories valued: honest, the best seeding/stalling one, the margin."""

    honest: float
    best: float
    best_name: str
    margin: float                      # best − honest (> 0: a policy that knows the answer gains by withholding it)
    stalling_margin: float | None      # max_k value(stall k) − honest (None: one turn)

    @property
    def beats_honest(self) -> bool:
        return self.margin > TOL


def margins(model: Model, plays: list[Played]) -> Margins:
    """Honest ('right at once') against every seeding or stalling trajectory (a grader: against
    the hedge), by the credit rule."""
    honest = next(t for t in plays if t.kind == "honest")
    rivals = [t for t in plays if t.kind in ("seed", "stall", "hedge")]
    h = model.value(honest)
    if not rivals:
        return Margins(h, h, "(none)", 0.0, None)
    best = max(rivals, key=model.value)
    stalls = [model.value(t) - h for t in rivals if t.kind in ("seed", "stall")]
    return Margins(h, model.value(best), best.name, model.value(best) - h, max(stalls) if stalls else None)
