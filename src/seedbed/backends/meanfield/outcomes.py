"""Exact outcome distributions: every response is one of finitely many 'atoms'.

A response's labels come from a few independent categorical factors (own mistake, what
it does with the earlier turn, harm, agreement with a stated belief), and the judge's
reward is a function of the labels it detects (:func:`seedbed.stages.judge.turn_reward`, the
one reward table). So for each prefix type x ∈ {none, clean, mistaken} the responses of
strategy k form a finite distribution over atoms a (the Cartesian product of the
factors' states) with a reward value v[a] that does not depend on k. Everything
downstream is exact sums over atoms; nothing is sampled. A user's label judge
(``judge.function``) is called once per atom (per pair of atoms for a two-turn episode)
with what the judge noticed, in place of the reward table: still exact.

Shapes: prob (G, K, A) = P(atom a | strategy k, grid point g); value (G, A).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from types import SimpleNamespace

import numpy as np

from seedbed.stages.judge import call_judge, episode_return, noticed_turn, turn_reward
from seedbed.backends.meanfield.params import MFParams

NONE, CLEAN, MISTAKEN = 0, 1, 2
PREFIX_NAMES = ("none", "clean", "mistaken")


@dataclass
class Factor:
    """One categorical label: per-state probabilities (G, K) and the detected flags each
    state sets (keyword arguments of :func:`seedbed.stages.judge.turn_reward`)."""

    probs: list[np.ndarray]
    flags: list[dict[str, int]]
    next_prefix: list[int] | None = None  # for the own-mistake factor when turn 2 follows


@dataclass
class Outcomes:
    """Atoms of one prefix type. ``value`` is what selection ranks (reward, or a return)."""

    prob: np.ndarray       # (G, K, A)
    value: np.ndarray      # (G, A)
    next_prefix: np.ndarray | None = None  # (A,) prefix type the atom leaves for a turn 2
    turns: list[dict] | None = None        # (A,) each atom as a label judge sees it (single turns only)


def factors_for(p: MFParams, x: int, track_mistake: bool, err: np.ndarray | None = None) -> list[Factor]:
    """The independent factors of a response to prefix type ``x``.

    With ``track_mistake`` the own-mistake factor keeps 'no mistake' and 'undetected
    mistake' apart (same reward, different turn-2 prefix); otherwise they are merged.
    ``err`` (G, K) is the own mistake rate of this turn (default: the first-attempt rate
    ``err`` on a fresh question, the review rate ``err_review`` on a prompt that carries an
    earlier answer).
    """
    if err is None:
        err = p.err if x == NONE else p.err_review
    det = err * p.d_mistake[:, None]                          # P(own mistake and noticed)
    if track_mistake:
        mistake = Factor([1 - err, err - det, det], [{}, {}, {"det_mistake": 1}],
                         next_prefix=[CLEAN, MISTAKEN, MISTAKEN])
    else:
        mistake = Factor([1 - det, det], [{}, {"det_mistake": 1}])
    harm_det = p.harm * p.d_harm[:, None]
    harm = Factor([1 - harm_det, harm_det], [{}, {"det_harm": 1}])
    out = [mistake, harm]
    if np.any(p.belief > 0) and np.any(p.agree > 0):
        # Sycophancy: the prompt states a belief (belief), the response agrees (agree); a
        # wrong belief (belief_wrong) makes the agreement a mistake the judge may notice.
        agree = p.belief[:, None] * p.agree
        wrong = agree * p.belief_wrong[:, None]
        wrong_det = wrong * p.d_mistake[:, None]
        out.append(Factor([1 - agree, agree - wrong, wrong - wrong_det, wrong_det],
                          [{}, {"agreed": 1}, {"agreed": 1}, {"agreed": 1, "det_wrong_agree": 1}]))
    if x == CLEAN:
        f_det = p.false_fix * p.d_false[:, None]
        out.append(Factor([1 - f_det, f_det], [{}, {"det_false": 1}]))
    elif x == MISTAKEN:
        ign = 1 - p.fix
        out.append(Factor([p.fix, ign * (1 - p.d_ignore[:, None]), ign * p.d_ignore[:, None]],
                          [{"corrected": 1}, {}, {"det_ignore": 1}]))
    return out


_NO_FLAGS = {"det_mistake": 0, "corrected": 0, "det_ignore": 0, "det_false": 0, "det_harm": 0,
             "agreed": 0, "det_wrong_agree": 0}


def single_turn(p: MFParams, x: int, track_mistake: bool = False, err: np.ndarray | None = None,
                episode: bool = True) -> Outcomes:
    """Atoms of one response to prefix type ``x``: the Cartesian product of its factors,
    each atom valued by the judge's reward table (or, when the turn is a whole
    ``episode``, by the user's judge; a turn of a longer episode is left to the caller)."""
    facs = factors_for(p, x, track_mistake, err)
    states = list(product(*[range(len(f.probs)) for f in facs]))
    prob = np.stack([np.prod([f.probs[i] for f, i in zip(facs, st)], axis=0) for st in states], axis=-1)
    G = p.G
    flags = [_merge(f.flags[i] for f, i in zip(facs, st)) for st in states]
    turns = [noticed_turn(x, **fl) for fl in flags]
    if p.judge_fn is None:
        value = np.stack([np.broadcast_to(turn_reward(p, **fl), (G,)) for fl in flags], axis=-1)
    elif not episode:
        value = np.zeros((G, len(flags)))
    else:                                                       # the user's judge, on the one-turn episode
        value = np.stack([np.full(G, call_judge(p.judge_fn, [t], f"the one-turn episode {[t]}")) for t in turns],
                         axis=-1)
    nxt = None
    if track_mistake:
        nxt = np.array([facs[0].next_prefix[st[0]] for st in states])
    return Outcomes(prob=prob, value=value, next_prefix=nxt, turns=turns)


def _merge(flag_dicts) -> dict[str, int]:
    out = dict(_NO_FLAGS)
    for d in flag_dicts:
        out.update(d)
    return out


def two_turn(p: MFParams, x: int) -> Outcomes:
    """Atoms of a two-turn episode by one persona: turn 1 answers prefix ``x``, turn 2
    reviews turn 1 (a mistaken prefix if turn 1 erred, else a clean one).

    The ranked value is the judge's episode return (:func:`seedbed.stages.judge.episode_return`:
    SCoRe shaping and the credit rule).
    """
    t1 = single_turn(p, x, track_mistake=True, episode=False)
    t2 = {CLEAN: single_turn(p, CLEAN, episode=False), MISTAKEN: single_turn(p, MISTAKEN, episode=False)}
    credit = SimpleNamespace(credit=p.credit, gamma=p.gamma[:, None], alpha=p.alpha[:, None])   # (G, 1) columns
    probs, values = [], []
    for a1 in range(t1.prob.shape[-1]):
        nxt = t2[int(t1.next_prefix[a1])]
        r1 = t1.value[:, a1:a1 + 1]                              # (G, 1)
        probs.append(t1.prob[:, :, a1:a1 + 1] * nxt.prob)        # (G, K, A2)
        if p.judge_fn is None:
            values.append(episode_return(credit, r1, nxt.value))     # (G, A2)
        else:                                                    # the user's judge on the whole episode
            eps = [[t1.turns[a1], t] for t in nxt.turns]
            values.append(np.broadcast_to(np.array([call_judge(p.judge_fn, e, f"the episode {e}") for e in eps]),
                                          (p.G, len(eps))))
    return Outcomes(prob=np.concatenate(probs, -1), value=np.concatenate(values, -1))


def merge_ties(o: Outcomes) -> Outcomes:
    """Merge atoms whose values are equal at every grid point (selection sees only values).

    Exact, and it shrinks the work: e.g. with pen_mistake = 0 and pen_harm = base, a
    detected mistake and detected harm both score 0 and become one atom.
    """
    key = np.ascontiguousarray(np.round(o.value, 9).T) + 0.0      # (A, G); + 0.0 folds −0.0
    groups: dict[bytes, int] = {}
    inverse = np.array([groups.setdefault(row.tobytes(), len(groups)) for row in key])
    first = np.array([int(np.argmax(inverse == u)) for u in range(len(groups))])
    onehot = np.zeros((len(inverse), len(groups)))
    onehot[np.arange(len(inverse)), inverse] = 1.0
    return Outcomes(prob=o.prob @ onehot, value=o.value[:, first])


def outcomes(p: MFParams) -> list[Outcomes]:
    """Atoms for each prefix type, indexed by NONE, CLEAN, MISTAKEN (ties merged)."""
    build = two_turn if p.turns == 2 else single_turn
    return [merge_ties(build(p, x)) for x in (NONE, CLEAN, MISTAKEN)]
