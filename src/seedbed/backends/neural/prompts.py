"""Stage 1 of a neural round: the round's prompts.

Each prompt is a fresh training question ``Q:a+b``, possibly carrying an earlier
assistant answer and a request to review it (a review prompt). Where the earlier answer
comes from follows the scenario's prompt pool:

* a fraction ``prompts.phi`` is self-written: the *writer* (the member's own current
  model, or under context swapping a rival's start-of-round copy) answers the question,
  and that answer, right or wrong as it comes out, becomes the prefix;
* the rest come from the fresh pool: with probability ``m0`` a mistaken earlier answer
  (a slip, off by 1 or 2), with ``c0`` a correct one, else no prefix (a fresh question).

With ``neural.inoculation`` every training prompt starts with the inoculation instruction.
Questions come from the task's training pool; any that the contamination guard flags as
a protected probe item is marked ``leaked`` (its responses never reach training).

A chat model (a tokenizer with a chat template, :mod:`.chat`) gets the same prompts as
chat turns rendered in its template (``chat`` set; ``turns`` holds them), its
self-written earlier answers as it wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from seedbed.core.config import Scenario
from seedbed.stages.contamination import Guard
from seedbed.backends.neural import engine
from seedbed.backends.neural.task import INOCULATION, REVIEW, Task, answer_text, parse_answer, question, slip

# what a prompt carries before the responder's turn
NONE, CLEAN, MISTAKEN = 0, 1, 2


def turn(text: str) -> str:
    """A sampled turn as it stands in a transcript: ending with its newline."""
    return text if text.endswith("\n") else text + "\n"


def probe_item(a: int, b: int) -> str:
    """A question as the contamination guard sees it ('Q:a+b')."""
    return question(a, b).rstrip("A:").strip()


@dataclass
class RoundPrompts:
    """The P prompts of one round (arrays and lists of length P)."""

    pairs: list[tuple[int, int]]      # the question a + b
    truth: np.ndarray                 # a + b
    prefix: np.ndarray                # NONE | CLEAN | MISTAKEN: the earlier answer the prompt carries
    previous: list[int | None]        # that answer's value (None: none, or an unparseable self-written one)
    self_written: np.ndarray          # bool: the earlier answer was written by the writer model
    texts: list[str]                  # what the responder sees, ending 'A:' (instruction included)
    leaked: np.ndarray                # bool: a protected probe question (never trained on)
    instruction: str = ""             # the training-time instruction every text starts with
    chat: bool = False                # texts are rendered in the model's chat template (:mod:`.chat`)
    turns: list | None = None         # chat: each prompt's chat turns (the texts before rendering)

    def __len__(self) -> int:
        return len(self.pairs)

    def take(self, idx: np.ndarray) -> "RoundPrompts":
        """The prompts at ``idx`` (e.g. to sample revisions for some of them)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[idx] if isinstance(v, np.ndarray) else v if v is None or isinstance(v, (str, bool)) \
                else [v[i] for i in idx]
        return RoundPrompts(**out)

    def answer(self, p: int, text: str) -> str:
        """A response to prompt ``p`` in the task's answer form, for the task's parse
        functions: as it is in the task format; a chat reply reduced to its number."""
        if not self.chat:
            return text
        from seedbed.backends.neural.chat import reply_answer
        return reply_answer(text, *self.pairs[p])


def build_prompts(scn: Scenario, task: Task, guard: Guard, writer: Any, tok: Any,
                  rng: np.random.Generator, gen: Any) -> RoundPrompts:
    """The round's ``neural.prompts_per_round`` prompts (see the module docstring).

    ``writer``: the model that writes the self-written prefixes; ``rng``: the stage's
    numpy stream (questions, pool draws, slips); ``gen``: its torch generator (the writer's
    sampling)."""
    from seedbed.backends.neural.chat import is_chat, question_turns, render, reply_answer, reply_settings, review_turns

    n, pr = scn.neural, scn.prompts
    P = n.prompts_per_round
    chat = is_chat(tok)
    instr = INOCULATION if n.inoculation and not chat else ""
    pairs = task.sample_pairs(rng, P, "train")                           # probe questions are held out
    truth = np.array([a + b for a, b in pairs])
    self_written = rng.random(P) < pr.phi
    u = rng.random(P)                                                    # the fresh pool: m0 | c0 | 1 - m0 - c0
    prefix = np.where(u < pr.m0, MISTAKEN, np.where(u < pr.m0 + pr.c0, CLEAN, NONE))
    previous: list[int | None] = [None] * P
    earlier = [""] * P                                                   # question + earlier answer
    own = np.flatnonzero(self_written)
    written: dict[int, str] = {}                                         # chat: a self-written answer as written
    if len(own):                                                         # the writer answers; its answer is the prefix
        asks = [render(tok, question_turns(*pairs[i], n.inoculation)) if chat else instr + question(*pairs[i])
                for i in own]
        answers = engine.sample(writer, tok, asks, 1, gen, temperature=n.temperature, **reply_settings(scn, tok))
        for i, ans in zip(own, answers):
            lab = parse_answer(reply_answer(ans[0], *pairs[i]) if chat else ans[0], truth[i])
            previous[i], prefix[i] = lab.value, MISTAKEN if lab.mistake else CLEAN
            earlier[i] = question(*pairs[i]) + turn(ans[0])
            written[i] = ans[0]
    for i in np.flatnonzero(~self_written & (prefix != NONE)):           # the fresh pool's earlier answers
        v = int(truth[i]) if prefix[i] == CLEAN else slip(int(truth[i]), rng)
        previous[i], earlier[i] = v, question(*pairs[i]) + answer_text(v, False)
    texts = [instr + (question(*pairs[i]) if prefix[i] == NONE else earlier[i] + REVIEW + "A:") for i in range(P)]
    turns = None
    if chat:                                                             # the same prompts as chat turns
        turns = [question_turns(*pairs[i], n.inoculation) if prefix[i] == NONE else
                 review_turns(*pairs[i], written[i] if i in written else str(previous[i]), n.inoculation)
                 for i in range(P)]
        texts = [render(tok, t) for t in turns]
    clean, _ = guard.filter([probe_item(a, b) for a, b in pairs])
    leaked = np.ones(P, bool)
    leaked[clean] = False
    return RoundPrompts(pairs, truth, prefix, previous, self_written, texts, leaked, instr, chat, turns)
