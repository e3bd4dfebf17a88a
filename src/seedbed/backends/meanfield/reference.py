"""A plain, per-point Python implementation of one mean-field round (DESIGN.md §3).

Written for reading, not speed: explicit loops over contexts, strategies and outcomes,
Python floats, the order-statistics sum for best-of-n. Rewards come from the one reward
table (:mod:`seedbed.stages.judge`), like every backend's. Tests hold the vectorised model
equal to it, and the benchmark uses it as 'the plain way a researcher would write it'.
"""

from __future__ import annotations

from itertools import product
from math import comb, exp

from seedbed.core.config import Scenario
from seedbed.stages.judge import episode_return, turn_reward


def _factors(scn: Scenario, k: int, x: str, track: bool) -> list[list[tuple[float, dict, str]]]:
    """Per factor, the (probability, detected flags, next prefix) of each state for strategy k."""
    st, j = scn.strategies[k], scn.judge
    e, dm = (st.err if x == "none" else st.review_err), j.d_mistake
    if track:
        mistake = [(1 - e, {}, "clean"), (e * (1 - dm), {}, "mistaken"), (e * dm, {"det_mistake": 1}, "mistaken")]
    else:
        mistake = [(1 - e * dm, {}, ""), (e * dm, {"det_mistake": 1}, "")]
    facs = [mistake, [(1 - st.harm * j.d_harm, {}, ""), (st.harm * j.d_harm, {"det_harm": 1}, "")]]
    pr = scn.prompts
    if pr.belief > 0:  # sycophancy: agree with a stated belief; a wrong one is a mistake
        a = pr.belief * st.agree
        w = a * pr.belief_wrong
        facs.append([(1 - a, {}, ""), (a - w, {"agreed": 1}, ""), (w * (1 - j.d_mistake), {"agreed": 1}, ""),
                     (w * j.d_mistake, {"agreed": 1, "det_wrong_agree": 1}, "")])
    if x == "clean":
        facs.append([(1 - st.false_fix * j.d_false, {}, ""), (st.false_fix * j.d_false, {"det_false": 1}, "")])
    elif x == "mistaken":
        ign = 1 - st.fix
        facs.append([(st.fix, {"corrected": 1}, ""), (ign * (1 - j.d_ignore), {}, ""),
                     (ign * j.d_ignore, {"det_ignore": 1}, "")])
    return facs


def response_dist(scn: Scenario, k: int, x: str, track: bool = False) -> list[tuple[float, float, str]]:
    """All outcomes (probability, reward, next prefix) of one response by strategy k."""
    out = []
    for states in product(*_factors(scn, k, x, track)):
        p, flags = 1.0, {}
        for prob, f, _ in states:
            p *= prob
            flags.update(f)
        out.append((p, float(turn_reward(scn.judge, **{"det_mistake": 0, "corrected": 0, "det_ignore": 0,
                                                        "det_false": 0, "det_harm": 0, **flags})), states[0][2]))
    return out


def episode_dist(scn: Scenario, k: int, x: str) -> list[tuple[float, float]]:
    """(probability, selection score) of strategy k's outcomes on prefix type x."""
    if scn.prompts.turns == 1:
        return [(p, r) for p, r, _ in response_dist(scn, k, x)]
    out = []
    for p1, r1, nxt in response_dist(scn, k, x, track=True):
        for p2, r2, _ in response_dist(scn, k, nxt):
            out.append((p1 * p2, float(episode_return(scn.judge, r1, r2))))
    return out


def contexts(scn: Scenario, s: list[float]) -> list[tuple[str, float, list[float]]]:
    """(prefix type, probability, responder mixture) of every prompt context."""
    pr, K = scn.prompts, len(s)
    ctx = [("none", (1 - pr.phi) * (1 - pr.m0 - pr.c0), list(s)),
           ("clean", (1 - pr.phi) * pr.c0, list(s)),
           ("mistaken", (1 - pr.phi) * pr.m0, list(s))]
    for j in range(K):
        w = [pr.rho * (1.0 if i == j else 0.0) + (1 - pr.rho) * s[i] for i in range(K)]
        e = scn.strategies[j].err
        ctx.append(("clean", pr.phi * s[j] * (1 - e), w))
        ctx.append(("mistaken", pr.phi * s[j] * e, w))
    return ctx


def kept_mass(scn: Scenario, s: list[float]) -> list[float]:
    """Kept mass of each strategy per response generated, for the scenario's rule."""
    sel, K = scn.selection, len(s)
    ctx = contexts(scn, s)
    dists = {(k, x): episode_dist(scn, k, x) for k in range(K) for x in ("none", "clean", "mistaken")}
    kept = [0.0] * K
    tol = 1e-9
    if sel.rule == "top_fraction":
        batch = []  # (mass, score, strategy)
        for x, pi, w in ctx:
            for k in range(K):
                batch += [(pi * w[k] * p, r, k) for p, r in dists[(k, x)]]
        for m, r, k in batch:
            above = sum(mm for mm, rr, _ in batch if rr > r + tol)
            tie = sum(mm for mm, rr, _ in batch if abs(rr - r) <= tol)
            frac = min(1.0, max(0.0, (sel.q - above) / tie)) if tie > 0 else 0.0
            kept[k] += m * frac
        return kept
    vmax = max(r for d in dists.values() for _, r in d)
    for x, pi, w in ctx:
        if pi == 0:
            continue
        mix = [(w[k] * p, r) for k in range(K) for p, r in dists[(k, x)]]
        pass_c = sum(m for m, r in mix if r >= sel.tau - tol)
        for k in range(K):
            for p, r in dists[(k, x)]:
                m = pi * w[k] * p
                if sel.rule == "threshold":
                    kept[k] += m * (r >= sel.tau - tol)
                elif sel.rule == "reward_weighted":
                    kept[k] += m * exp((r - vmax) / sel.temperature)
                elif sel.rule == "critique_revision":
                    if r >= sel.tau - tol and pass_c > 0:
                        kept[k] += m / pass_c
                elif sel.rule == "best_of_n":
                    p_lt = sum(mm for mm, rr in mix if rr < r - tol)
                    p_eq = sum(mm for mm, rr in mix if abs(rr - r) <= tol)
                    win = sum(comb(sel.n - 1, j) * p_eq**j * p_lt ** (sel.n - 1 - j) / (j + 1) for j in range(sel.n))
                    kept[k] += m * win
    return kept


def step(scn: Scenario, s: list[float]) -> list[float]:
    """One round: s' = (1 − eta)·s + eta·K/ΣK, then the anchor toward the initial shares."""
    kept = kept_mass(scn, s)
    total = sum(kept)
    target = [k / total for k in kept] if total > 0 else list(s)
    eta, kappa = scn.update.eta, scn.update.kappa
    new = [(1 - eta) * a + eta * b for a, b in zip(s, target)]
    new = [(1 - kappa) * a + kappa * b for a, b in zip(new, scn.shares)]
    z = sum(new)
    return [v / z for v in new]


def run(scn: Scenario, rounds: int | None = None) -> list[list[float]]:
    """Shares after 0..rounds updates."""
    s = list(scn.shares)
    out = [s]
    for _ in range(scn.rounds if rounds is None else rounds):
        s = step(scn, s)
        out.append(s)
    return out
