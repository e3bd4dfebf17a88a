"""Stage 4 of a neural round: which episodes are kept for fine-tuning, with what weight.

The scenario's selection rule (:func:`seedbed.stages.selection.get_rule`) gives each episode a
weight from the scores, in its sampled form (``n`` per prompt, this member's episodes as
one group). A revising rule (critique-revision) then replaces each dropped episode by
the first of a few fresh episodes for the same prompt that passes. Last, episodes whose
prompt is a protected probe question get weight 0, whatever the rule said: leaks never
reach training (this comes after revision, so a revision cannot bring one back).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from seedbed.stages.selection import Rule
from seedbed.backends.neural.prompts import RoundPrompts
from seedbed.backends.neural.sampling import Episodes

# redraw(prompt indices, tries) -> (tries episodes per prompt, prompt-major; their scores)
Redraw = Callable[[np.ndarray, int], tuple[Episodes, np.ndarray]]
MAX_REVISION_TRIES = 8


def select_episodes(rule: Rule, sel: Any, prompts: RoundPrompts, episodes: Episodes, score: np.ndarray,
                    rng: np.random.Generator, redraw: Redraw | None = None, tries: int = 1
                    ) -> tuple[np.ndarray, list[str]]:
    """Weights (R,) of the episodes and the texts to train on (revisions in place of the
    dropped episodes they replace)."""
    n = rule.responses_per_prompt(sel)
    weights = np.asarray(rule.weights(sel, score, n, np.zeros(len(score), int), 1, rng), float)
    texts = list(episodes.texts)
    if rule.revises and redraw is not None:
        revise(rule, sel, episodes, weights, texts, redraw, tries)
    weights[prompts.leaked[episodes.prompt]] = 0.0                        # leaks never reach training
    return weights, texts


def revise(rule: Rule, sel: Any, episodes: Episodes, weights: np.ndarray, texts: list[str], redraw: Redraw,
           tries: int) -> None:
    """Critique-revision, in place: each dropped episode (weight 0) is replaced by the first
    of ``tries`` fresh episodes for its prompt that passes the rule; with none, it stays dropped."""
    fail = np.flatnonzero(weights == 0)
    if not len(fail):
        return
    tries = min(tries, MAX_REVISION_TRIES)
    candidates, score = redraw(episodes.prompt[fail], tries)
    ok = rule.passes(sel, score).reshape(len(fail), tries)
    for j, f in enumerate(fail):
        hit = np.flatnonzero(ok[j])
        if len(hit):
            texts[f] = candidates.texts[j * tries + hit[0]]
            weights[f] = 1.0
