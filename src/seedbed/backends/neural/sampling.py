"""Stage 2 of a neural round: the model's responses to the round's prompts.

``n`` responses per prompt (the selection rule's ``responses_per_prompt``: n for
best-of-n, else 1), laid out prompt-major. With ``prompts.turns = 2`` each episode has a
second turn: the same model reviews its own first answer (``Q:sure?``). The batched,
KV-cached sampler itself is :func:`seedbed.backends.neural.engine.sample`. For a chat model
(``prompts.chat``) the turns are chat turns and the transcripts are rendered in its chat
template (:mod:`.chat`); a turn ends at the end-of-turn token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.backends.neural import engine
from seedbed.backends.neural.prompts import RoundPrompts, turn
from seedbed.backends.neural.task import REVIEW


@dataclass
class Episodes:
    """R = P·n sampled episodes (lists and arrays of length R, prompt-major)."""

    prompt: np.ndarray            # the index of each episode's prompt
    first: list[str]              # the response to the prompt: an answer, or a review of the prompt's earlier answer
    review: list[str] | None      # turns = 2: the same model's review of its own first turn
    texts: list[str]              # whole transcripts (prompt text + turns, each ending with a newline)
    turns: list | None = None     # chat: each episode's chat turns (role, content), the texts before rendering

    def __len__(self) -> int:
        return len(self.first)


def sample_episodes(model: Any, tok: Any, prompts: RoundPrompts, n: int, turns: int, gen: Any,
                    temperature: float, **reply: Any) -> Episodes:
    """``n`` episodes per prompt from ``model`` (torch generator ``gen``); ``reply``: the
    sampler's per-turn keywords (:func:`seedbed.backends.neural.chat.reply_settings`: stop, max_new,
    batch_size)."""
    completions = engine.sample(model, tok, prompts.texts, n, gen, temperature=temperature, **reply)
    idx = np.repeat(np.arange(len(prompts)), n)
    first = [c for cs in completions for c in cs]
    if prompts.chat:
        return _chat_episodes(model, tok, prompts, idx, first, turns, gen, temperature, reply)
    texts = [prompts.texts[i] + turn(c) for c, i in zip(first, idx)]
    review = None
    if turns == 2:                                                       # the same model reviews turn 1
        asks = [t + REVIEW + "A:" for t in texts]
        review = [rv[0] for rv in engine.sample(model, tok, asks, 1, gen, temperature=temperature, **reply)]
        texts = [a + turn(rv) for a, rv in zip(asks, review)]
    return Episodes(idx, first, review, texts)


def _chat_episodes(model: Any, tok: Any, prompts: RoundPrompts, idx: np.ndarray, first: list[str], turns: int,
                   gen: Any, temperature: float, reply: dict[str, Any]) -> Episodes:
    """Chat-mode episodes: the prompt's chat turns with each reply, rendered whole."""
    from seedbed.backends.neural.chat import REVIEW_ASK, render

    assert prompts.turns is not None
    convs = [list(prompts.turns[i]) + [("assistant", c)] for c, i in zip(first, idx)]
    review = None
    if turns == 2:                                                       # the same model reviews turn 1
        convs = [c + [("user", REVIEW_ASK)] for c in convs]
        review = [rv[0] for rv in engine.sample(model, tok, [render(tok, c) for c in convs], 1, gen,
                                                temperature=temperature, **reply)]
        convs = [c + [("assistant", rv)] for c, rv in zip(convs, review)]
    return Episodes(idx, first, review, [render(tok, c) for c in convs], convs)
