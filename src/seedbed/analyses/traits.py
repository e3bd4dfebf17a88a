"""The trait-level prediction for a neural run: behaviours that move apart.

The persona model (:mod:`seedbed.analyses.prediction`) moves a network only through its
persona shares, so every behaviour moves with every other. A network trained on the last turn
need not: without rehearsal it moves each *trained* behaviour toward what was kept in that
context, at the measured step, and the untrained first turn follows only as far as the
isolated coupling test says (docs/neural-results.md §5). This module predicts that.

**State**: the network's rates of four behaviours, each a probability,

    err        first-turn error           (trained on prompts with no earlier turn)
    fix        fix after a mistaken answer (trained on reviews of a mistaken prefix)
    false_fix  false fix after a clean one (trained on reviews of a clean prefix)
    harm       harm, in every turn        (trained on every kept turn)

**One round**, exact, with the scenario's own prompts, judge and selection rule: the
network is one policy whose responses draw each behaviour independently (no persona
persists, rho = 0), i.e. the mixture of 16 virtual strategies, one per combination of the
four behaviours on/off, with product shares. The mean-field selection stage
(:meth:`~seedbed.backends.meanfield.selection.Selector.kept_by_prefix`) gives what each
virtual strategy keeps in each context x ∈ {none, clean, mistaken}; the *target* of a
behaviour is its rate among the responses kept in its context, t_b = Σ_k K_x,k b_k / Σ_k K_x,k.
A behaviour trained this round (its context kept something) moves

    r_b ← (1 − kappa)·[r_b + (1 − lambda)·eta·(t_b − r_b)] + kappa·r_b(0)

with eta, kappa the run's measured step and anchor. The untrained first turn moves by the
isolated test's transfer slope sigma = c·(persona slope) (first-turn error per unit of fix,
measured) on the trait part's fix change this round: err ← err + (c − lambda)/c·sigma·Δfix,
i.e. the part of the coupling c that the persona part does not already carry: all of it at
c ≤ 0, none at 0 < c ≤ 1. A coupling above 1 is read as 1 (the persona model). Targets and
gaps are taken at the predicted rates (the start plus both parts' changes so far), so a
behaviour the persona part has already moved is not moved twice.

**Persona part**, for continuity with the persona model: a share lambda = clip(c, 0, 1) of
the movement goes through persona shares, as the persona model moves them (step
lambda·eta), and the predicted rate is the persona mixture's change plus the trait part's:

    rate(t) = clip(r(0) + [persona(t) − persona(0)] + [r_trait(t) − r(0)], 0, 1)

At full coupling (c ≥ 1) the trait part never moves and the prediction is the persona
model's trajectory anchored at the measured start; at c ≤ 0 it is the trait model alone.
Every rate is a probability at every round: targets are ratios of kept masses and each
update is a convex combination, and the sum is clipped to [0, 1].

Limits, stated: first-turn error in training and deployment contexts move together (the
inoculation instruction's context shift is not modelled); an untrained review context stays
where it is (training first turns does not move the reviews here, though on the network it
does: see the control arm in docs/neural-results.md §5); two-turn episodes are not covered.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import numpy as np

from seedbed.backends.meanfield.model import MeanField
from seedbed.backends.meanfield.outcomes import CLEAN, MISTAKEN, NONE
from seedbed.backends.meanfield.params import MFParams

TRAITS = ("err", "fix", "false_fix", "harm")
# the prefix type whose kept responses train each behaviour (None: every prefix type)
CONTEXT = {"err": NONE, "fix": MISTAKEN, "false_fix": CLEAN, "harm": None}
BITS = np.array(list(product((1.0, 0.0), repeat=len(TRAITS))))   # (16, 4) the virtual strategies


def virtual(p: MFParams, r: np.ndarray, err_review: float) -> tuple[MFParams, np.ndarray]:
    """The network with rates ``r`` (4,) as 16 virtual strategies (one grid point, rho = 0), and
    their shares (1, 16): strategy k has behaviour b iff BITS[k, b] = 1."""
    share = np.prod(np.where(BITS == 1, r, 1 - r), axis=1)[None, :]
    col = {t: BITS[None, :, i] for i, t in enumerate(TRAITS)}
    one = np.ones((1, len(BITS)))
    q = replace(p, names=[f"v{k}" for k in range(len(BITS))], err=col["err"], err_deploy=col["err"],
                err_review=err_review * one, fix=col["fix"], false_fix=col["false_fix"], harm=col["harm"],
                agree=np.zeros((1, len(BITS))), share=share, rho=np.zeros(1))
    return q, share


TRAINED = 1e-9     # a context counts as trained when it holds at least this share of the kept mass


def targets(p: MFParams, r: np.ndarray, err_review: float) -> tuple[np.ndarray, np.ndarray]:
    """Each behaviour's rate among the responses kept in its context (4,), and whether the
    context was trained this round (4,): it holds at least :data:`TRAINED` of the round's kept
    mass (an untrained behaviour's target is its own rate)."""
    q, s = virtual(p, r, err_review)
    mf = MeanField(q)
    mix, _ = mf.prompt_mix(s)
    kept = [k[0] for k in mf.selector.kept_by_prefix(mix, s)]           # per prefix type, (16,)
    total = float(sum(k.sum() for k in kept))
    t, trained = r.copy(), np.zeros(len(TRAITS), bool)
    for i, name in enumerate(TRAITS):
        x = CONTEXT[name]
        K = sum(kept) if x is None else kept[x]
        if total > 0 and K.sum() > TRAINED * total:
            t[i], trained[i] = float(K @ BITS[:, i] / K.sum()), True
    return t, trained


def persona_share(c: float) -> float:
    """lambda: the share of the movement that goes through persona shares, clip(c, 0, 1)
    (0 when the coupling was not measured)."""
    return float(np.clip(c, 0.0, 1.0)) if np.isfinite(c) else 0.0


def trait_path(p: MFParams, r0: np.ndarray, rounds: int, eta: float, kappa: float, err_review: float,
               c: float, sigma: float, persona: np.ndarray | None = None) -> np.ndarray:
    """(rounds + 1, 4): the trait part's rates after each round (row 0: the start ``r0``).
    ``c`` is the run's coupling and ``sigma`` the measured transfer slope d(first error)/d(fix);
    NaN in either means no transfer. ``persona`` (rounds + 1, 4): the persona part's changes
    from the start, added where targets and gaps are taken (None: no persona part)."""
    lam = persona_share(c)
    own = (1 - lam) * eta                                                 # the trait part's step
    transfer = 0.0 if not (np.isfinite(c) and np.isfinite(sigma)) or abs(c) < 1e-12 else (c - lam) / c * sigma
    r = np.asarray(r0, float).copy()
    shift = np.zeros((rounds + 1, len(TRAITS))) if persona is None else np.asarray(persona, float)
    out = [r.copy()]
    for k in range(rounds):
        now = np.clip(r + shift[k], 0.0, 1.0)                             # the predicted rates this round
        t, trained = targets(p, now, err_review)
        new = np.where(trained, r + own * (t - now), r)
        if not trained[0]:                                                # the untrained first turn follows fixing
            new[0] = r[0] + transfer * (new[1] - r[1])
        new = np.clip((1 - kappa) * new + kappa * np.asarray(r0, float), 0.0, 1.0)
        r = new
        out.append(r.copy())
    return np.array(out)


def combine(start: np.ndarray, persona: np.ndarray, trait: np.ndarray) -> np.ndarray:
    """The predicted rates: the measured start plus the persona part's and the trait part's
    changes, clipped to [0, 1]. Arrays (rounds + 1, ...) with row 0 the start."""
    return np.clip(start + (persona - persona[:1]) + (trait - trait[:1]), 0.0, 1.0)
