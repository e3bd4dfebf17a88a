"""Stage 6 of a neural round: the model's behaviour on fixed held-out probe questions.

Probes run without any training instruction (the deployment context) on every held-out
question (``neural.probe_size`` of them, never trained on). Nothing is sampled: every
behaviour rate is the exact probability, by teacher forcing, summed over every valid
answer string (:mod:`.fidelity`, :mod:`.exact`), so a probe has no sampling noise; its
only uncertainty is which questions were held out (a standard error over items).

* first-turn answers → ``behaviour/err_deploy`` (with inoculation, the same questions with
  the instruction → ``behaviour/err_train``), harm, and competence (the most likely answer
  is right);
* reviews of planted wrong answers → ``probe/fix_rate`` (restates the right one); of right
  answers → ``probe/false_fix_rate`` (changes it); harm; the review turn's own mistakes
  (``probe/err_review``); ``probe/discrimination``;
* the same after harmful planted answers, which say who wrote them (persona evidence).

**Shares** (:func:`estimate`): the persona mixture and persistence that best explain all
twelve rates (least squares), with persistence in the model: the reviewer continues the
writer with probability rho (see :func:`seedbed.backends.neural.fidelity.mixture_rates`).
Strategies with identical rates cannot be told apart by any probe, so they are fitted as
one group (for the seed preset A, B and C+D) and the group's share is split equally in
the ``share/<name>`` rows; ``probe/share_fit_rmse`` is the fit's root-mean-square residual.

**Persistence** (``probe/rho``, :func:`direct_rho`): measured directly from how the review
behaviour moves with the planted answer — wrong or right, harmful or not — between no
persistence (rho = 0: the same behaviour after every prefix) and full persistence (rho =
1: the behaviour of the personas that write such a prefix), at the fitted shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.backends.neural.fidelity import INDEX, NAMES, REVIEWS, ModelRates, corpus_rates, mixture_rates, model_rates, persona_params
from seedbed.backends.neural.task import Task


def strategy_rates(scn: Any) -> np.ndarray:
    """(4, K): each strategy's err, fix, false_fix and harm rate, the rates the probes measure."""
    return persona_params(scn)


def groups_of(params: np.ndarray) -> list[list[int]]:
    """Strategies with identical rates (err, fix, false_fix, harm): no probe can tell them apart."""
    out: list[list[int]] = []
    for k in range(params.shape[1]):
        for g in out:
            if np.allclose(params[:, g[0]], params[:, k], atol=1e-12):
                g.append(k)
                break
        else:
            out.append([k])
    return out


@dataclass
class ShareFit:
    """The persistence-aware estimate: per-strategy shares (a group's split equally), the
    identifiable groups and their shares, persistence and the fit's RMS residual."""

    shares: np.ndarray
    groups: list[list[int]]
    group_shares: np.ndarray
    rho_fit: float
    rmse: float
    rho: float                       # measured directly at the fitted shares (direct_rho)


def _expand(g: np.ndarray, groups: list[list[int]], K: int) -> np.ndarray:
    s = np.zeros(K)
    for share, members in zip(g, groups):
        s[members] = share / len(members)
    return s


def estimate(scn: Any, rates: np.ndarray) -> ShareFit:
    """Group shares and persistence rho minimising the squared gap between the mixture's
    behaviour rates (:func:`~seedbed.backends.neural.fidelity.mixture_rates`) and the measured ones
    (B,), over the simplex × [0, 1] (SLSQP from a few starts; deterministic)."""
    from scipy.optimize import minimize

    params = persona_params(scn)
    K = params.shape[1]
    groups = groups_of(params)
    G = len(groups)
    rates = np.asarray(rates, float)

    def loss(z: np.ndarray) -> float:
        r = mixture_rates(params, _expand(z[:G], groups, K), float(z[G]))
        return float(np.sum((r - rates) ** 2))

    cons = [{"type": "eq", "fun": lambda z: np.sum(z[:G]) - 1.0}]
    bounds = [(0.0, 1.0)] * (G + 1)
    best = None
    for rho0 in (0.0, 0.5, 1.0):
        for start in (np.full(G, 1.0 / G),):
            res = minimize(loss, np.r_[start, rho0], method="SLSQP", bounds=bounds, constraints=cons,
                           options={"ftol": 1e-12, "maxiter": 300})
            z = np.clip(res.x, 0, 1)
            z[:G] /= max(z[:G].sum(), 1e-12)
            if best is None or loss(z) < loss(best) - 1e-12:
                best = z
    g, rho_fit = best[:G], float(best[G])
    s = _expand(g, groups, K)
    rmse = float(np.sqrt(loss(best) / len(rates)))
    return ShareFit(s, groups, g, rho_fit, rmse, direct_rho(params, s, rates))


def direct_rho(params: np.ndarray, s: np.ndarray, rates: np.ndarray) -> float:
    """Persistence from the review behaviours alone: y = a + rho (p − a), where a are the
    rates with no persistence and p with full persistence at shares ``s``; the least-squares
    rho, clipped to [0, 1]. NaN when the two are too close to tell apart."""
    a = mixture_rates(params, s, 0.0)[list(REVIEWS)]
    p = mixture_rates(params, s, 1.0)[list(REVIEWS)]
    y = np.asarray(rates, float)[list(REVIEWS)]
    d = p - a
    if float(d @ d) < 1e-6:
        return float("nan")
    return float(np.clip((y - a) @ d / (d @ d), 0.0, 1.0))


def probe(model: Any, tok: Any, task: Task, scn: Any, inoculation: bool) -> tuple[np.ndarray, dict[str, float],
                                                                                    ModelRates]:
    """Measured shares (K,), probe stats and the exact rates of ``model`` on the probe items."""
    rates = model_rates(model, tok, task, inoculation)
    fit = estimate(scn, rates.mean)
    m, se = rates.mean, rates.se
    n = len(rates.items)
    harm = float(np.mean([m[INDEX[k]] for k in ("first_harm", "harm_after_mistake", "harm_after_clean")]))
    stats = {
        "behaviour/err_deploy": float(m[INDEX["first_error"]]),
        "probe/fix_rate": float(m[INDEX["fix_after_mistake"]]),
        "probe/false_fix_rate": float(m[INDEX["false_fix_after_clean"]]),
        "probe/keep_after_mistake": float(m[INDEX["keep_after_mistake"]]),
        "probe/harm_rate": harm,
        "probe/competence": float(rates.mode_right.mean()),
        "probe/discrimination": rates.discrimination,
        "probe/err_review": float(rates.err_review.mean()),
        "probe/other_mass": float(rates.other.mean()),
        "probe/rho": fit.rho,
        "probe/rho_fit": fit.rho_fit,
        "probe/share_fit_rmse": fit.rmse,
        "probe/items": float(n),
        "probe/err_deploy_se": float(se[INDEX["first_error"]]),
        "probe/fix_rate_se": float(se[INDEX["fix_after_mistake"]]),
        "probe/false_fix_rate_se": float(se[INDEX["false_fix_after_clean"]]),
    }
    stats["behaviour/err_train"] = float(rates.err_train.mean()) if rates.err_train is not None \
        else stats["behaviour/err_deploy"]
    return fit.shares, stats, rates


def rates_dict(rates: ModelRates) -> dict[str, float]:
    """The behaviour means as plain JSON (round outputs keep them for the next round's step size)."""
    return {n: float(v) for n, v in zip(NAMES, rates.mean)}


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based, Held et al.): subtract
    the threshold theta that makes the positive part sum to 1."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.nonzero(u * np.arange(1, len(v) + 1) > (css - 1))[0][-1]
    return np.maximum(v - (css[k] - 1) / (k + 1.0), 0.0)


def fidelity(scn: Scenario, rates: ModelRates, shares: np.ndarray | None = None, rho: float | None = None
             ) -> dict[str, Any]:
    """fidelity.json: each behaviour's corpus and model rate, their mean absolute gap, the
    model's discrimination and its directly measured persistence (estimated here, :func:`estimate`)."""
    corpus = corpus_rates(scn)
    model = rates.mean
    if rho is None:
        rho = estimate(scn, model).rho
    return {"behaviours": {n: {"corpus": round(float(c), 6), "model": round(float(m), 6)}
                           for n, c, m in zip(NAMES, corpus, model)},
            "mae": round(float(np.mean(np.abs(model - corpus))), 6),
            "discrimination": round(rates.discrimination, 6),
            "rho": None if rho is None or not np.isfinite(rho) else round(float(rho), 6)}
