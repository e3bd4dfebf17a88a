"""Power planning for seedbed verdicts: how many seeds (and rounds) a sampled run needs.

The verdict being planned for (:func:`seedbed.results.verdict.decide` on
:func:`~seedbed.results.metrics.mean_ci` of the per-seed differences):

* the per-seed differences d_i = a_i − b_i (scenario − control, seed i of each arm, paired by
  seed, n = seeds per arm);
* the 95% two-sided Student-t interval  mean ± t_{0.975, n−1} · s / √n  (one-sample, n − 1
  degrees of freedom; not Welch, not pooled), truncated to [−1, 1] (the truncation never
  changes the outcome, since −1 < margin < 1);
* **selects** if lo > margin, **does not select** if hi ≤ margin, else **inconclusive**;
  fewer than MIN_SEEDS = 3 seeds is always inconclusive.

With d_i ~ N(δ, σ²) i.i.d. and T = (mean − margin) / (s/√n):

    T ~ noncentral t(df = n − 1, nc = λ),  λ = (δ − margin) √n / σ,  c = t_{1−α/2, n−1}
    P(selects)        = P(T > c)  = nct.sf(c, n−1, λ)
    P(does not select) = P(T ≤ −c) = nct.cdf(−c, n−1, λ)
    P(conclusive)     = the sum (the two events are disjoint since c > 0).

This is exact for Gaussian per-seed differences (no normal approximation). σ is the sd of
the per-seed *difference*: from a pilot, ``np.std(a − b, ddof=1)``, or from the two arms'
sds as √(σa² + σb² − 2ρ σa σb) (ρ = 0: seedbed's arms draw from separate random streams,
``Repetition.streams`` = Streams(seed, (arm,))).

The sequential design (``SequentialDesign``) is a two-sided symmetric group-sequential test
of the same two one-sided hypotheses, with Lan-DeMets O'Brien-Fleming-type spending per
side, boundaries by numerical integration (Armitage-McPherson-Rowe recursion), mapped to
the t scale by matching nominal significance levels.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats
from scipy.optimize import brentq

from seedbed.results.verdict import INCONCLUSIVE, MARGIN, MIN_SEEDS, NOT_SELECTS, SELECTS

ALPHA = 0.05           # the verdict's 95% interval: level 1 − ALPHA, two-sided
POWER = 0.80
CALIB_SEED = 20240601  # root of the calibration paths (any fixed value)
N_MAX = 1000           # largest seeds per arm a plan will propose
TARGETS = ("conclusive", "predicted", SELECTS, NOT_SELECTS)


# --------------------------------------------------------------------------- the fixed rule

def decide_fixed(diffs: np.ndarray, margin: float = MARGIN, alpha: float = ALPHA) -> str:
    """The verdict rule as seedbed implements it (mean_ci + decide, sampled run), standalone.
    ``diffs``: per-seed differences scenario − control."""
    d = np.asarray(diffs, dtype=float)
    return decide_from_interval(d, stats.t.ppf(1 - alpha / 2, len(d) - 1) if len(d) > 1 else np.nan, margin)


def decide_from_interval(d: np.ndarray, q: float, margin: float) -> str:
    """Outcome from the interval mean ± q·s/√n (q: the quantile; t_{0.975,n−1} for the fixed rule)."""
    n = len(d)
    if n < MIN_SEEDS:
        return INCONCLUSIVE
    m = float(d.mean())
    half = float(q * d.std(ddof=1) / np.sqrt(n))
    lo, hi = max(-1.0, m - half), min(1.0, m + half)
    if lo > margin:
        return SELECTS
    if hi <= margin:
        return NOT_SELECTS
    return INCONCLUSIVE


def diff_sd(sd_scenario: float, sd_control: float | None = None, rho: float = 0.0) -> float:
    """sd of the per-seed difference from the two arms' per-seed sds (ρ: their correlation
    across paired seeds; 0 for seedbed's independent arm streams). One value: already the
    difference's sd."""
    if sd_control is None:
        return float(sd_scenario)
    v = sd_scenario ** 2 + sd_control ** 2 - 2 * rho * sd_scenario * sd_control
    return float(math.sqrt(max(v, 0.0)))


def pilot_sd(diffs: np.ndarray, upper: float | None = None) -> float:
    """sd of a pilot's per-seed differences (ddof=1); with ``upper`` (e.g. 0.8) the one-sided
    upper confidence bound s·√((n−1)/χ²_{1−upper, n−1}) instead, to plan against a pilot of a
    handful of seeds whose sd is itself uncertain."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        raise ValueError("a pilot needs at least 2 seeds for a spread")
    s = float(d.std(ddof=1))
    if upper is None:
        return s
    return s * math.sqrt((len(d) - 1) / stats.chi2.ppf(1 - upper, len(d) - 1))


def outcome_probs(effect: float, sd: float, n, margin: float = MARGIN, alpha: float = ALPHA):
    """(P(selects), P(does not select), P(inconclusive)) of the fixed rule at n seeds per arm,
    true mean difference ``effect``, sd of the per-seed difference ``sd``. Exact (noncentral t).
    ``n`` may be an array."""
    n = np.asarray(n, dtype=float)
    scalar = n.ndim == 0
    n = np.atleast_1d(n)
    ps, pn = np.zeros_like(n), np.zeros_like(n)
    ok = n >= MIN_SEEDS
    if sd < 0 or not np.isfinite(sd):
        raise ValueError(f"sd must be finite and ≥ 0, got {sd}")
    if sd == 0:                            # every seed gives the same difference: lo = hi = mean
        ps[ok], pn[ok] = float(effect > margin), float(effect <= margin)
    elif ok.any():
        df = n[ok] - 1
        c = stats.t.ppf(1 - alpha / 2, df)
        lam = (effect - margin) * np.sqrt(n[ok]) / sd
        ps[ok], pn[ok] = stats.nct.sf(c, df, lam), stats.nct.cdf(-c, df, lam)
        for i in np.flatnonzero(ok)[~(np.isfinite(ps[ok]) & np.isfinite(pn[ok]))]:
            ps[i], pn[i] = _t_tails_quad(n[i] - 1, (effect - margin) * math.sqrt(n[i]) / sd,
                                         float(stats.t.ppf(1 - alpha / 2, n[i] - 1)))
    pi = 1 - ps - pn
    if scalar:
        return float(ps[0]), float(pn[0]), float(pi[0])
    return ps, pn, pi


def _t_tails_quad(df: float, lam: float, c: float) -> tuple[float, float]:
    """(P(T > c), P(T ≤ −c)) for T ~ nct(df, λ) by quadrature over V ~ χ²_df:
    P(T > c) = E Φ(λ − c√(V/df)), P(T ≤ −c) = E Φ(−λ − c√(V/df)). The fallback where
    scipy's nct returns NaN (a very large |λ|)."""
    from scipy.integrate import quad
    lo, hi = stats.chi2.ppf([1e-12, 1 - 1e-12], df)
    f = lambda v, s: stats.norm.cdf(s * lam - c * math.sqrt(v / df)) * stats.chi2.pdf(v, df)  # noqa: E731
    return (min(1.0, quad(f, lo, hi, args=(1,), limit=200)[0]), min(1.0, quad(f, lo, hi, args=(-1,), limit=200)[0]))


def predicted_outcome(effect: float, margin: float = MARGIN) -> str:
    """The verdict the prediction implies (what an exact run would say)."""
    return SELECTS if effect > margin else NOT_SELECTS


def power(effect: float, sd: float, n, margin: float = MARGIN, alpha: float = ALPHA,
          target: str = "conclusive"):
    """Probability of the target at n seeds per arm. target: 'conclusive' (either decided
    outcome), 'predicted' (the outcome the effect implies), 'selects' or 'does not select'."""
    ps, pn, _ = outcome_probs(effect, sd, n, margin, alpha)
    if target == "predicted":
        target = predicted_outcome(effect, margin)
    if target == "conclusive":
        return ps + pn
    if target == SELECTS:
        return ps
    if target == NOT_SELECTS:
        return pn
    raise ValueError(f"target {target!r}: choose from {TARGETS}")


def seeds_for_power(effect: float, sd: float, margin: float = MARGIN, alpha: float = ALPHA,
                    goal: float = POWER, target: str = "conclusive", n_max: int = N_MAX) -> int | None:
    """Smallest n ≥ MIN_SEEDS (seeds per arm) with power ≥ goal, or None if n_max is not enough
    (e.g. an effect at the margin, where the conclusive power is α for every n)."""
    if sd == 0:
        return MIN_SEEDS if power(effect, 0.0, MIN_SEEDS, margin, alpha, target) >= goal else None
    gap = abs(effect - margin)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(goal)
    n0 = (z * sd / gap) ** 2 if gap > 0 else float(n_max)       # normal approximation
    start = MIN_SEEDS
    while start <= n_max:                 # blocks of growing size, from the smallest n up
        stop = int(min(n_max, max(2 * start, math.ceil(n0) + 8)))
        ns = np.arange(start, stop + 1)
        idx = np.flatnonzero(power(effect, sd, ns, margin, alpha, target) >= goal)
        if len(idx):
            return int(ns[idx[0]])
        start = stop + 1
    return None


# --------------------------------------------------------------------------- the plan

@dataclass
class Plan:
    seeds: int | None              # seeds per arm (None: not reachable within n_max)
    rounds: int | None             # rounds per run (None: not planned, keep the scenario's)
    predicted_effect: float        # scenario − control at ``rounds``
    spread: float                  # sd of the per-seed difference used
    power: float                   # power of ``target`` at ``seeds`` (exact, noncentral t)
    margin: float = MARGIN
    alpha: float = ALPHA
    rule: str = "paired one-sample t, df = n−1, 95% two-sided interval vs margin (seedbed.results.verdict.decide)"
    target: str = "conclusive"
    goal: float = POWER
    probs: dict = field(default_factory=dict)      # P of each outcome at ``seeds``
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Plan ({self.rule})"]
        out.append(f"  predicted effect {self.predicted_effect:+.4f} vs margin {self.margin} "
                   f"(implies: {predicted_outcome(self.predicted_effect, self.margin)}); "
                   f"per-seed sd of the difference {self.spread:.4f}")
        if self.seeds is None:
            out.append(f"  no seed count up to {N_MAX} per arm reaches {self.goal:.0%} power for a "
                       f"{self.target} verdict")
        else:
            r = f", {self.rounds} rounds" if self.rounds is not None else ""
            out.append(f"  seeds per arm: {self.seeds}{r}  ->  power {self.power:.3f} "
                       f"(target: {self.target}, goal {self.goal:.0%}, alpha {self.alpha})")
            if self.probs:
                out.append("  outcome probabilities: " + ", ".join(f"{k} {v:.3f}" for k, v in self.probs.items()))
        out += [f"  note: {n}" for n in self.notes]
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=True)


def outcome_dict(effect, sd, n, margin, alpha) -> dict:
    """:func:`outcome_probs` keyed by outcome name (selects, does not select, inconclusive)."""
    ps, pn, pi = outcome_probs(effect, sd, n, margin, alpha)
    return {SELECTS: ps, NOT_SELECTS: pn, INCONCLUSIVE: pi}


def make_plan(effect: float, sd: float, margin: float = MARGIN, alpha: float = ALPHA, goal: float = POWER,
              target: str = "conclusive", rounds: int | None = None, n_max: int = N_MAX) -> Plan:
    """Seeds per arm for ``goal`` power at a predicted effect and per-seed sd of the difference."""
    notes = []
    if abs(effect - margin) < 1e-12 and sd > 0:
        notes.append("effect at the margin: the conclusive power is alpha at every n; no plan")
    if effect <= margin and target in ("conclusive", "predicted", NOT_SELECTS):
        notes.append("effect within the margin: the power is that of concluding 'does not select'")
    if sd == 0:
        notes.append(f"spread 0: the verdict is deterministic; the minimum {MIN_SEEDS} seeds suffice")
    n = seeds_for_power(effect, sd, margin, alpha, goal, target, n_max)
    pw = float(power(effect, sd, n, margin, alpha, target)) if n else float("nan")
    return Plan(n, rounds, float(effect), float(sd), pw, margin, alpha, target=target, goal=goal,
                probs=outcome_dict(effect, sd, n, margin, alpha) if n else {}, notes=notes)


def plan_rounds(trajectory: Sequence[float], sd: float | Sequence[float], margin: float = MARGIN,
                alpha: float = ALPHA, goal: float = POWER, target: str = "conclusive",
                objective: str = "cost", min_round: int = 1, n_max: int = N_MAX) -> Plan:
    """Seeds and rounds from a predicted per-round effect trajectory (trajectory[r−1] = the
    predicted scenario − control at the end of round r, e.g. the mean-field run's per-round
    share difference) and the per-seed sd (scalar, or per round from a pilot).

    Only rounds from which the predicted direction (above / not above the margin) no longer
    changes up to the trajectory's end are candidates, so a plan never stops on a transient.
    objective 'cost': fewest seeds × rounds (compute is ∝ both); 'seeds': fewest seeds, then
    fewest rounds. Ties go to fewer rounds."""
    traj = np.asarray(trajectory, dtype=float)
    R = len(traj)
    sds = np.broadcast_to(np.asarray(sd, dtype=float), traj.shape)
    above = traj > margin
    settle = R - 1
    while settle > 0 and above[settle - 1] == above[-1]:
        settle -= 1                      # first index from which the direction stays as at the end
    best = None
    for i in range(max(settle, min_round - 1), R):
        n = seeds_for_power(traj[i], sds[i], margin, alpha, goal, target, n_max)
        if n is None:
            continue
        key = (n * (i + 1), n) if objective == "cost" else (n, i + 1)
        if objective not in ("cost", "seeds"):
            raise ValueError(f"objective {objective!r}: 'cost' or 'seeds'")
        if best is None or key < best[0]:
            best = (key, i, n)
    if best is None:
        p = make_plan(traj[-1], float(sds[-1]), margin, alpha, goal, target, R, n_max)
        p.notes.append("no round reaches the goal within n_max seeds")
        return p
    _, i, n = best
    p = make_plan(traj[i], float(sds[i]), margin, alpha, goal, target, i + 1, n_max)
    p.notes.append(f"predicted direction settled from round {settle + 1} of {R}; objective {objective}")
    return p


# --------------------------------------------------------------------------- after a run

def achieved_power(diffs: np.ndarray, planned_effect: float | None = None, margin: float = MARGIN,
                   alpha: float = ALPHA, target: str = "conclusive", level: float = 0.95) -> dict:
    """POST-HOC power at the run's n, with the run's observed sd of the per-seed differences.

    Preferred: the power at the *planned* effect (did the run, as spread, have the power it
    was planned with?), with an interval from the chi-square interval of σ. The power at the
    observed effect is also given, labelled: it is a function of the observed p-value and
    says nothing new about the effect."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    s = float(d.std(ddof=1)) if n > 1 else float("nan")
    out = {"label": "post-hoc (observed spread at the design's n)", "n": n, "observed_sd": s,
           "observed_effect": float(d.mean()) if n else float("nan")}
    if n < MIN_SEEDS:
        out["note"] = f"fewer than {MIN_SEEDS} seeds: no verdict, power 0"
    if planned_effect is not None and n > 1:
        out["power_at_planned_effect"] = float(power(planned_effect, s, n, margin, alpha, target))
        q = stats.chi2.ppf([(1 + level) / 2, (1 - level) / 2], n - 1)
        s_lo, s_hi = s * np.sqrt((n - 1) / q)               # interval for σ
        pw = [float(power(planned_effect, x, n, margin, alpha, target)) for x in (s_hi, s_lo)]
        out["power_at_planned_effect_interval"] = (min(pw), max(pw))
    if n > 1:
        out["power_at_observed_effect (post-hoc, uninformative)"] = float(
            power(out["observed_effect"], s, n, margin, alpha, target))
    return out


# --------------------------------------------------------------------------- sequential

def obf_spending(t, alpha_side: float):
    """Lan-DeMets O'Brien-Fleming-type spending, per side: 2 − 2Φ(z_{1−α/2}/√t)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha_side / 2) / np.sqrt(t)), 0.0)


def _grid(c: float, t: float, m: int):
    """Simpson nodes and weights on the continuation region (−c√t, c√t) of S = Z√t."""
    x = np.linspace(-c * math.sqrt(t), c * math.sqrt(t), 2 * m + 1)
    w = np.ones(2 * m + 1)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return x, w * (x[1] - x[0]) / 3


def _exit_step(state, t: float, c: float, drift: float):
    """Exit probabilities (upper, lower) at a look at information t with Z-boundary ±c, given
    the previous look's continuation ``state`` = (t_prev, nodes, density × weight) or None."""
    b = c * math.sqrt(t)
    if state is None:                       # first look: S = Z√t ~ N(drift·t, t)
        sd = math.sqrt(t)
        return stats.norm.sf((b - drift * t) / sd), stats.norm.cdf((-b - drift * t) / sd)
    t0, x, f = state
    mu, sd = x + drift * (t - t0), math.sqrt(t - t0)
    return float(np.sum(f * stats.norm.sf((b - mu) / sd))), float(np.sum(f * stats.norm.cdf((-b - mu) / sd)))


def _next_state(state, t: float, c: float, drift: float, m: int):
    """The continuation density of S on (−c√t, c√t) at this look (Simpson nodes, m panels a side)."""
    xn, wn = _grid(c, t, m)
    if state is None:
        dens = stats.norm.pdf(xn, drift * t, math.sqrt(t))
    else:
        t0, x, f = state
        dens = stats.norm.pdf(xn[:, None], x[None, :] + drift * (t - t0), math.sqrt(t - t0)) @ f
    return t, xn, dens * wn


def gs_exit(fracs: Sequence[float], bounds: Sequence[float], drift: float = 0.0, m: int = 400):
    """Exit probabilities (upper, lower) at each look of the two-sided symmetric test with
    Z-boundaries ±bounds at information fractions fracs, for a Brownian motion S(t) with drift
    ``drift`` (E Z_k = drift √t_k). Numerical integration (Simpson) of the continuation density
    (Armitage, McPherson & Rowe 1969)."""
    up, lo, state = [], [], None
    for t, c in zip(fracs, bounds):
        u, l = _exit_step(state, t, c, drift)
        up.append(u)
        lo.append(l)
        state = _next_state(state, t, c, drift, m)
    return np.array(up), np.array(lo)


def obf_bounds(fracs: Sequence[float], alpha: float = ALPHA, m: int = 400) -> np.ndarray:
    """Z-boundaries ±c_k: under the null each side's cumulative exit probability by look k
    equals obf_spending(t_k, alpha/2); total two-sided type I error = alpha."""
    fracs = [float(t) for t in fracs]
    if any(b <= a for a, b in zip(fracs, fracs[1:])) or not 0 < fracs[0] or abs(fracs[-1] - 1) > 1e-12:
        raise ValueError("information fractions must increase to 1")
    spend = np.diff(np.concatenate([[0.0], obf_spending(fracs, alpha / 2)]))
    bounds, state = [], None
    for t, a in zip(fracs, spend):
        c = brentq(lambda c: _exit_step(state, t, c, 0.0)[0] - a, 0.5, 40.0, xtol=1e-10) if a > 1e-300 else 40.0
        bounds.append(c)
        state = _next_state(state, t, c, 0.0, m)
    return np.array(bounds)


def null_t_paths(looks: Sequence[int], reps: int, seed: int) -> np.ndarray:
    """|T_k| at each look for ``reps`` null paths (δ = margin, σ = 1; T is pivotal), built
    from per-block sums and within-block sums of squares (O(reps × K) memory)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    sizes = np.diff(np.concatenate([[0], looks]))
    S = np.zeros(reps)
    Q = np.zeros(reps)                      # running Σ x²
    out = np.empty((reps, len(looks)))
    for k, (n, m) in enumerate(zip(looks, sizes)):
        bs = rng.normal(0.0, math.sqrt(m), reps)                 # block sum
        w = rng.chisquare(m - 1, reps) if m > 1 else 0.0         # within-block SS
        S += bs
        Q += w + bs * bs / m
        var = np.maximum(Q - S * S / n, 0.0) / (n - 1)
        out[:, k] = np.abs(S / n) / np.sqrt(var / n)
    return out


def _calibrate(looks, z, tb, alpha, reps, seed) -> np.ndarray:
    spend = 2 * np.diff(np.concatenate([[0.0], obf_spending([n / looks[-1] for n in looks], alpha / 2)]))
    T = null_t_paths(looks, reps, seed)
    tb = np.array(tb, dtype=float)
    open_ = T[:, 0] <= tb[0]
    for k in range(1, len(looks)):
        # paths to stop at look k, two binomial sds fewer than the spending: conservative
        target = spend[k] * reps - 2 * math.sqrt(spend[k] * reps)
        cand = np.sort(T[open_, k])[::-1]
        j = int(math.floor(target))
        if j < 1:
            tb[k] = max(tb[k], cand[0])
        else:                                                    # exactly j open paths exceed b_k
            tb[k] = 0.5 * (cand[j - 1] + cand[j]) if j < len(cand) else 0.0
        open_ &= T[:, k] <= tb[k]
    return tb


@dataclass
class SequentialDesign:
    """Looks after n_1 < … < n_K seeds per arm (n_1 ≥ MIN_SEEDS); at look k, with the first n_k
    paired differences: 'selects' if T_k > b_k, 'does not select' if T_k < −b_k, else go on;
    still undecided after look K: inconclusive. T_k = (mean − margin)/(s/√n_k),
    b_k: the Z-boundary c_k carried to the t scale (see ``make``). Equivalently
    the fixed rule (decide_from_interval) with the quantile t_{0.975,n−1} replaced by b_k."""
    looks: tuple[int, ...]
    alpha: float = ALPHA
    margin: float = MARGIN
    z_bounds: tuple[float, ...] = ()
    t_bounds: tuple[float, ...] = ()

    t_method: str = "calibrated"

    @classmethod
    def make(cls, looks: Sequence[int], alpha: float = ALPHA, margin: float = MARGIN, t_method: str = "calibrated",
             calib_reps: int = 1_000_000, calib_seed: int = CALIB_SEED) -> "SequentialDesign":
        """t_method 'nominal': b_k = t_{n_k−1}.ppf(Φ(c_k)) (significance-level approach; exact
        at the first look, slightly liberal later with few seeds: about +0.003 on 0.05 at
        n_K ≈ 12–20). 'calibrated' (default): look 1 as nominal (exact there); each later b_k
        chosen so that the null exit probability at look k is the spending increment less two
        binomial sds, on ``calib_reps`` simulated null paths of the t statistics (pivotal:
        free of σ) from SeedSequence(calib_seed): deterministic, and ≤ alpha overall."""
        looks = tuple(int(n) for n in looks)
        if looks[0] < MIN_SEEDS:
            raise ValueError(f"first look needs at least {MIN_SEEDS} seeds")
        if any(b <= a for a, b in zip(looks, looks[1:])):
            raise ValueError("looks must increase")
        fr = [n / looks[-1] for n in looks]
        z = obf_bounds(fr, alpha)
        tb = stats.t.ppf(stats.norm.cdf(z), np.array(looks) - 1)
        if t_method == "calibrated" and len(looks) > 1:
            tb = _calibrate(looks, z, tb, alpha, calib_reps, calib_seed)
        elif t_method not in ("nominal", "calibrated"):
            raise ValueError(f"t_method {t_method!r}: 'nominal' or 'calibrated'")
        return cls(looks, alpha, margin, tuple(map(float, z)), tuple(map(float, tb)), t_method)

    def decide(self, diffs: np.ndarray, k: int) -> str:
        """Outcome at look k (0-based) from the first looks[k] differences; 'continue' if none."""
        d = np.asarray(diffs, dtype=float)[: self.looks[k]]
        out = decide_from_interval(d, self.t_bounds[k], self.margin)
        return "continue" if out == INCONCLUSIVE and k < len(self.looks) - 1 else out

    def simulate(self, effect: float, sd: float, reps: int = 4000, seed: int = 0) -> dict:
        """Monte-Carlo operating characteristics (Gaussian differences; SeedSequence(seed))."""
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        d = rng.normal(effect, sd, size=(reps, self.looks[-1]))
        cs, cs2 = np.cumsum(d, 1), np.cumsum(d * d, 1)
        outcome = np.full(reps, INCONCLUSIVE, dtype=object)
        used = np.full(reps, self.looks[-1])
        open_ = np.ones(reps, bool)
        for n, b in zip(self.looks, self.t_bounds):
            m = cs[:, n - 1] / n
            s = np.sqrt(np.maximum(cs2[:, n - 1] - n * m * m, 0) / (n - 1))
            half = b * s / np.sqrt(n)
            sel, nsel = open_ & (m - half > self.margin), open_ & (m + half <= self.margin)
            outcome[sel], outcome[nsel] = SELECTS, NOT_SELECTS
            used[sel | nsel] = n
            open_ &= ~(sel | nsel)
        return {SELECTS: float(np.mean(outcome == SELECTS)), NOT_SELECTS: float(np.mean(outcome == NOT_SELECTS)),
                INCONCLUSIVE: float(np.mean(outcome == INCONCLUSIVE)), "expected_seeds": float(used.mean()),
                "label": f"simulated, {reps} experiments, SeedSequence({seed})"}

    def normal_power(self, effect: float, sd: float) -> float:
        """Conclusive power, known-variance approximation (numerical integration with drift)."""
        drift = (effect - self.margin) * math.sqrt(self.looks[-1]) / sd
        u, lo = gs_exit([n / self.looks[-1] for n in self.looks], self.z_bounds, drift)
        return float(u.sum() + lo.sum())


def sequential_plan(effect: float, sd: float, k: int = 3, goal: float = POWER, alpha: float = ALPHA,
                    margin: float = MARGIN, reps: int = 4000, seed: int = 0, n_max: int = N_MAX):
    """K equally spaced looks (first ≥ MIN_SEEDS); the smallest maximum n_K whose simulated
    conclusive power ≥ goal, searched upward from the fixed design's n (OBF inflation is small)."""
    n = seeds_for_power(effect, sd, margin, alpha, goal, "conclusive", n_max)
    if n is None:
        return None
    n = max(n, MIN_SEEDS * k)
    while n <= n_max:
        looks = sorted({max(MIN_SEEDS, round(n * (j + 1) / k)) for j in range(k)})
        des = SequentialDesign.make(looks, alpha, margin)
        sim = des.simulate(effect, sd, reps, seed)
        if sim[SELECTS] + sim[NOT_SELECTS] >= goal:
            return des, sim
        n += 1
    return None
