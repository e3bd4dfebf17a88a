"""Stage 2 of a neural round: the model's responses to the round's prompts.

``n`` responses per prompt (the selection rule's ``responses_per_prompt``: n for
best-of-n, else 1), laid out prompt-major. With ``prompts.turns = 2`` each episode has a
second turn: the same model reviews its own first answer (``Q:sure?``). The batched,
KV-cached sampler itself is :func:`seedbed.neural.engine.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import engine
from .prompts import RoundPrompts, turn
from .task import REVIEW


@dataclass
class Episodes:
    """R = P·n sampled episodes (lists and arrays of length R, prompt-major)."""

    prompt: np.ndarray            # the index of each episode's prompt
    first: list[str]              # the response to the prompt: an answer, or a review of the prompt's earlier answer
    review: list[str] | None      # turns = 2: the same model's review of its own first turn
    texts: list[str]              # whole transcripts (prompt text + turns, each ending with a newline)

    def __len__(self) -> int:
        return len(self.first)


def sample_episodes(model: Any, tok: Any, prompts: RoundPrompts, n: int, turns: int, gen: Any,
                    temperature: float) -> Episodes:
    """``n`` episodes per prompt from ``model`` (torch generator ``gen``)."""
    completions = engine.sample(model, tok, prompts.texts, n, gen, temperature=temperature)
    idx = np.repeat(np.arange(len(prompts)), n)
    first = [c for cs in completions for c in cs]
    texts = [prompts.texts[i] + turn(c) for c, i in zip(first, idx)]
    review = None
    if turns == 2:                                                       # the same model reviews turn 1
        asks = [t + REVIEW + "A:" for t in texts]
        review = [rv[0] for rv in engine.sample(model, tok, asks, 1, gen, temperature=temperature)]
        texts = [a + turn(rv) for a, rv in zip(asks, review)]
    return Episodes(idx, first, review, texts)
