"""Stage 3 of a neural round: the judge's score of every sampled episode.

Each assistant turn is parsed back to ground-truth labels (:mod:`seedbed.backends.neural.task`:
mistake, corrected, ignored, false_correction, harm) against the known answer, then
scored by the one reward table every backend shares (:func:`seedbed.stages.judge.score_labels`,
which draws what the judge notices with its detection probabilities d_*). A two-turn
episode's score is :func:`seedbed.stages.judge.episode_return` of its two turn rewards (SCoRe's
shaping and the credit rule). A chat model's free-text reply is first reduced to the
number it gives (``RoundPrompts.answer``, :mod:`.chat`).

With ``judge.function`` the user's judge scores each episode whole instead: a label judge
gets the turns as noticed (:func:`seedbed.stages.judge.noticed_turn`, with the same draws of what
is noticed as the reward table), a text judge gets the transcript as chat messages
(:func:`messages`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seedbed.stages.judge import call_judge, episode_return, notice, noticed_turn, score_labels, user_judge
from seedbed.backends.neural.prompts import CLEAN, MISTAKEN, NONE, RoundPrompts
from seedbed.backends.neural.sampling import Episodes
from seedbed.backends.neural.task import TurnLabels, parse_answer, parse_review


def parse(completion: str, prefix: int, truth: int, previous: int | None) -> TurnLabels:
    """Labels of a response: an answer to a fresh question, or a review of ``previous``."""
    return parse_answer(completion, truth) if prefix == NONE else parse_review(completion, truth, previous)


def score_turns(judge: Any, labels: list[TurnLabels], rng: np.random.Generator) -> np.ndarray:
    """Rewards (R,) of labelled turns, drawing what the judge notices from ``rng``."""
    def flag(name: str) -> np.ndarray:
        return np.array([getattr(lab, name) for lab in labels], bool)

    return np.asarray(score_labels(judge, rng, flag("mistake"), flag("corrected"), flag("ignored"),
                                   flag("false_correction"), flag("harm")), float)


ROLES = {"S": "system", "Q": "user", "A": "assistant"}


def messages(text: str) -> list[dict[str, str]]:
    """A transcript ('S:…', 'Q:…', 'A:…' lines) as chat messages [{'role', 'content'}]."""
    out = []
    for line in text.splitlines():
        tag, sep, content = line.partition(":")
        if sep and tag in ROLES:
            out.append({"role": ROLES[tag], "content": content})
        elif out:                                            # a continuation line
            out[-1]["content"] += "\n" + line
    return out


def noticed(judge: Any, labels: list[TurnLabels], prefixes: list[int], rng: np.random.Generator) -> list[dict]:
    """Labelled turns as a label judge sees them, drawing what is noticed exactly as
    :func:`score_turns` does (the same random numbers)."""
    def flag(name: str) -> np.ndarray:
        return np.array([getattr(lab, name) for lab in labels], bool)

    m, ig, f, h = notice(judge, rng, flag("mistake"), flag("ignored"), flag("false_correction"), flag("harm"))
    c = flag("corrected")
    return [noticed_turn(int(x), det_mistake=m[r], corrected=c[r], det_ignore=ig[r], det_false=f[r], det_harm=h[r])
            for r, x in enumerate(prefixes)]


def judge_episodes(judge: Any, prompts: RoundPrompts, episodes: Episodes, rng: np.random.Generator) -> np.ndarray:
    """The selection score (R,) of each episode: its turn's reward, or for two turns
    r1 + gamma·r2' (transcript credit) or r2' (last-turn credit), r2' = r2 + alpha·(r2 − r1);
    or the user's judge (``judge.function``) on the whole episode."""
    i = episodes.prompt
    fn = user_judge(judge)
    if fn is not None and judge.reads == "text":
        convs = [messages(t) for t in episodes.texts] if episodes.turns is None else \
            [[{"role": r, "content": c} for r, c in t] for t in episodes.turns]      # chat: the turns as sampled
        return np.array([call_judge(fn, m, f"the transcript {t!r}") for m, t in zip(convs, episodes.texts)])
    first = [parse(prompts.answer(p, c), prompts.prefix[p], prompts.truth[p], prompts.previous[p])
             for c, p in zip(episodes.first, i)]
    if fn is not None:
        turns = [[t] for t in noticed(judge, first, [prompts.prefix[p] for p in i], rng)]
        if episodes.review is not None:
            second = [parse_review(prompts.answer(p, rv), prompts.truth[p], lab.value)
                      for rv, p, lab in zip(episodes.review, i, first)]
            again = [MISTAKEN if lab.mistake else CLEAN for lab in first]
            for ep, t in zip(turns, noticed(judge, second, again, rng)):
                ep.append(t)
        return np.array([call_judge(fn, ep, f"the episode {ep}") for ep in turns])
    r1 = score_turns(judge, first, rng)
    if episodes.review is None:
        return r1
    second = [parse_review(prompts.answer(p, rv), prompts.truth[p], lab.value)
              for rv, p, lab in zip(episodes.review, i, first)]
    r2 = score_turns(judge, second, rng)
    return np.asarray(episode_return(judge, r1, r2), float)
