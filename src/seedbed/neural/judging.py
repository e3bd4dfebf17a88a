"""Stage 3 of a neural round: the judge's score of every sampled episode.

Each assistant turn is parsed back to ground-truth labels (:mod:`seedbed.neural.task`:
mistake, corrected, ignored, false_correction, harm) against the known answer, then
scored by the one reward table every backend shares (:func:`seedbed.judge.score_labels`,
which draws what the judge notices with its detection probabilities d_*). A two-turn
episode's score is :func:`seedbed.judge.episode_return` of its two turn rewards (SCoRe's
shaping and the credit rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..judge import episode_return, score_labels
from .prompts import NONE, RoundPrompts
from .sampling import Episodes
from .task import TurnLabels, parse_answer, parse_review


def parse(completion: str, prefix: int, truth: int, previous: int | None) -> TurnLabels:
    """Labels of a response: an answer to a fresh question, or a review of ``previous``."""
    return parse_answer(completion, truth) if prefix == NONE else parse_review(completion, truth, previous)


def score_turns(judge: Any, labels: list[TurnLabels], rng: np.random.Generator) -> np.ndarray:
    """Rewards (R,) of labelled turns, drawing what the judge notices from ``rng``."""
    def flag(name: str) -> np.ndarray:
        return np.array([getattr(lab, name) for lab in labels], bool)

    return np.asarray(score_labels(judge, rng, flag("mistake"), flag("corrected"), flag("ignored"),
                                   flag("false_correction"), flag("harm")), float)


def judge_episodes(judge: Any, prompts: RoundPrompts, episodes: Episodes, rng: np.random.Generator) -> np.ndarray:
    """The selection score (R,) of each episode: its turn's reward, or for two turns
    r1 + gamma·r2' (transcript credit) or r2' (last-turn credit), r2' = r2 + alpha·(r2 − r1)."""
    i = episodes.prompt
    first = [parse(c, prompts.prefix[p], prompts.truth[p], prompts.previous[p]) for c, p in zip(episodes.first, i)]
    r1 = score_turns(judge, first, rng)
    if episodes.review is None:
        return r1
    second = [parse_review(rv, prompts.truth[p], lab.value) for rv, p, lab in zip(episodes.review, i, first)]
    r2 = score_turns(judge, second, rng)
    return np.asarray(episode_return(judge, r1, r2), float)
