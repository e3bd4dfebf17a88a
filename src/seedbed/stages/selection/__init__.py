"""Selection rules: which sampled responses are kept for fine-tuning (the 'selection' stage).

A rule is one :class:`Rule` object that carries both of its forms:

* the **exact** form (mean-field backend): from the round's prompt mix and the outcome
  atoms, the kept mass K[g, k] of each strategy per response generated;
* the **sampled** form (agent and neural backends): from the scores of R sampled
  responses, the weight each gets in the update (1/0 kept/dropped, or a relative weight).

Rules live in :data:`RULES`, a registry: the built-ins (threshold, best_of_n,
top_fraction, reward_weighted, critique_revision; :mod:`seedbed.stages.selection.rules`) are
imported on first use, and a user rule is one class registered under a new name::

    from seedbed.stages.selection import RULES, Rule

    @RULES.register("keep_all")
    class KeepAll(Rule):
        def exact_kept(self, ctx, mix, gen, s):   # every response kept
            return sum(gen)
        def weights(self, sel, score, n, group, groups, rng, jitter):
            return np.ones(len(score))

after which ``selection.rule = "keep_all"`` is a valid scenario field on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.core.registry import RULES
TOL = 1e-9


@dataclass
class ExactContext:
    """What a rule's exact form may use: the mean-field parameters (``p``: (G,) and (G, K)
    arrays), the outcome atoms per prefix type (``out``), and whatever the rule
    precomputed once per run in :meth:`Rule.exact_setup` (``state``)."""

    p: Any
    out: list
    state: Any = None


class Rule:
    """A selection rule. Subclasses override the exact and the sampled form.

    Class attributes say how the backends treat the rule's output:
    ``relative`` — weights are relative (reward weighting), not a kept fraction: the
    backends normalise keep rates to the policy's mean and report kept/fraction = 1;
    ``revises`` — dropped responses are replaced by revisions drawn from the same context
    (critique-revision); the sampled backends draw the revisions with their own sampler
    and keep what :meth:`passes`;
    ``ties_by_jitter`` — the sampled form breaks ties by adding a small random jitter,
    which must be below the smallest gap between distinct scores;
    ``pooled`` — a response's fate depends on the whole batch, not only on the responses to
    its own prompt (top fraction): such a rule overrides :meth:`exact_kept_by_prefix`.
    """

    relative: bool = False
    revises: bool = False
    pooled: bool = False
    ties_by_jitter: bool = False

    def responses_per_prompt(self, sel: Any) -> int:
        """Responses sampled per prompt (n for best-of-n, else 1)."""
        return 1

    # ---------------------------------------------------------------- exact form
    def exact_setup(self, p: Any, out: list) -> Any:
        """Precompute what does not change between rounds (atom values are fixed per run)."""
        return None

    def exact_kept(self, ctx: ExactContext, mix: list, gen: list[np.ndarray], s: np.ndarray) -> np.ndarray:
        """Kept mass (G, K) per response generated.

        ``mix[x]``: the prompt mix of prefix type x (:class:`seedbed.backends.meanfield.selection.PromptMix`);
        ``gen[x]`` (G, K): the share of all responses written by strategy k on prefix type x;
        ``s`` (G, K): the policy's shares; atoms in ``ctx.out[x]`` (prob (G, K, A), value (G, A)).
        """
        raise NotImplementedError(f"selection rule {type(self).__name__} has no exact form")

    def exact_kept_by_prefix(self, ctx: ExactContext, mix: list, gen: list[np.ndarray], s: np.ndarray) -> list[np.ndarray]:
        """Kept mass (G, K) per response generated, split by prefix type: one array per x,
        summing to :meth:`exact_kept`. The trait-level prediction needs it (what was kept
        *in each context* is what that context's turn is trained toward).

        The default computes each prefix type alone, with the other types' prompts removed:
        exact for rules that compare a response only with responses to the same prompt
        (threshold, best-of-n, reward weighting, critique-revision). A rule that ranks the
        whole batch at once (``pooled``, e.g. top fraction) must override it."""
        if self.pooled:
            raise NotImplementedError(f"selection rule {type(self).__name__} ranks the whole batch and has no "
                                      "per-prefix exact form")
        out = []
        for x in range(len(mix)):
            only = [m if i == x else type(m)(np.zeros_like(m.fresh), None if m.writer is None else np.zeros_like(m.writer))
                    for i, m in enumerate(mix)]
            out.append(np.asarray(self.exact_kept(ctx, only, [g if i == x else np.zeros_like(g) for i, g in enumerate(gen)],
                                                  s)))
        return out

    # ---------------------------------------------------------------- sampled form
    def weights(self, sel: Any, score: np.ndarray, n: int, group: np.ndarray, groups: int,
                rng: np.random.Generator, jitter: float = 1e-6) -> np.ndarray:
        """Weights (R,) of responses with scores ``score`` (R,): laid out prompt-major with
        ``n`` per prompt, and in ``groups`` contiguous equal blocks (population members,
        ``group`` (R,) the block of each)."""
        raise NotImplementedError(f"selection rule {type(self).__name__} has no sampled form")

    def passes(self, sel: Any, score: np.ndarray) -> np.ndarray:
        """For revising rules: which responses (or revisions) pass."""
        return score >= sel.tau - TOL


def get_rule(name: str) -> Rule:
    """An instance of the rule registered as ``name``."""
    obj = RULES.get(name)
    return obj() if isinstance(obj, type) else obj
