"""The mean-field round's selection stage: prompt mixes, best-of-n win probabilities, and
the scenario's rule in its exact form (the rules themselves: :mod:`seedbed.stages.selection`).

Per prefix type x the prompt mix is

    fresh[x]   (G,)     probability of a prompt whose responders are drawn from s
    writer[x]  (G, K)   probability of a self-written prompt whose prefix persona j wrote;
                        its responders continue j with probability rho, else draw from s

Outcomes per x: prob (G, K, A) and value (G, A) (see outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seedbed.stages.selection import ExactContext, get_rule
from seedbed.backends.meanfield.outcomes import Outcomes
from seedbed.backends.meanfield.params import MFParams


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

    def kept_by_prefix(self, mix: list[PromptMix], s: np.ndarray) -> list[np.ndarray]:
        """Kept mass (G, K) per prefix type (NONE, CLEAN, MISTAKEN), summing to :meth:`kept`'s."""
        gen = [m.generated(s, self.p.rho) for m in mix]
        return [np.asarray(k) for k in self.rule.exact_kept_by_prefix(self.ctx, mix, gen, s)]
