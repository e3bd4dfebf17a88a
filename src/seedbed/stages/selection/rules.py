"""The built-in selection rules, each with its exact and its sampled form (DESIGN §3, step 5).

Exact forms work on the round's prompt mix per prefix type x (see
:mod:`seedbed.backends.meanfield.selection`):

    fresh[x]   (G,)     probability of a prompt whose responders are drawn from s
    writer[x]  (G, K)   probability of a self-written prompt whose prefix persona j wrote;
                        its responders continue j with probability rho, else draw from s

so the responder mixture of writer j's context is w_j = rho·e_j + (1 − rho)·s. Every
rule is written through s-mixtures plus one 'diagonal' term, never a K × K product.
"""

from __future__ import annotations

import numpy as np

from seedbed.stages.selection.ranks import TieRanks, group_ratio, safe_div
from seedbed.stages.selection import RULES, TOL, ExactContext, Rule


@RULES.register("threshold")
class Threshold(Rule):
    """Keep every response whose score reaches tau: K_k = s_k · P(R_k ≥ tau)."""

    def exact_setup(self, p, out):
        # passes[x] (G, K): P(R ≥ tau | strategy k, prefix type x)
        ok = [(np.round(o.value - p.tau[:, None], 9) >= 0).astype(float) for o in out]
        return [np.einsum("gka,ga->gk", o.prob, m) for o, m in zip(out, ok)]

    def exact_kept(self, ctx: ExactContext, mix, gen, s):
        return sum(g * ps for g, ps in zip(gen, ctx.state))

    def weights(self, sel, score, n, group, groups, rng, jitter=1e-6):
        return self.passes(sel, score).astype(float)


@RULES.register("critique_revision")
class CritiqueRevision(Threshold):
    """Responses below tau are replaced by a revision drawn from the same context's
    mixture conditioned on passing (constitutional-AI critique-and-revision, H6)."""

    revises = True

    def exact_kept(self, ctx: ExactContext, mix, gen, s):
        # Context c keeps w_c(k)·pass(k)/pass_c: all its mass, redistributed to passing responses.
        rho = ctx.p.rho
        K = 0.0
        for m, ps in zip(mix, ctx.state):
            pass_s = (s * ps).sum(-1)                                       # (G,) fresh context
            K = K + safe_div(m.fresh, pass_s)[:, None] * s * ps
            if m.writer is not None:
                pass_j = rho[:, None] * ps + (1 - rho)[:, None] * pass_s[:, None]   # (G, K) per writer
                scale = safe_div(m.writer, pass_j)                          # (G, K) pi_j / pass_j
                K = K + ((1 - rho) * scale.sum(-1))[:, None] * s * ps + rho[:, None] * scale * ps
        return K


@RULES.register("best_of_n")
class BestOfN(Rule):
    """Keep the best of n responses per prompt, ties broken uniformly at random.

    P(a response with reward r wins) = Σ_j C(n−1, j) p_eq^j p_lt^{n−1−j} / (j + 1), computed
    in the equivalent group form: P(best lands in r's tie group) = F_le^n − F_lt^n, split
    among the group's atoms in proportion to their mass."""

    def responses_per_prompt(self, sel):
        return sel.n

    def exact_setup(self, p, out):
        # Per-strategy P(R < v_a) and P(R ≤ v_a); a context's CDF is their w-mixture.
        ranks = []
        for o in out:
            lt, eq = TieRanks(o.value).lt_eq(o.prob)              # (G, K, A) each
            ranks.append((lt, lt + eq))
        return ranks

    def exact_kept(self, ctx: ExactContext, mix, gen, s):
        p, rho = ctx.p, ctx.p.rho
        K = 0.0
        s_row = s[:, None, :]                                             # (G, 1, K)
        for m, (lt, le), o in zip(mix, ctx.state, ctx.out):
            m_lt, m_le = (s_row @ lt)[:, 0], (s_row @ le)[:, 0]           # (G, A) CDF under s
            zbar = m.fresh[:, None] * group_ratio(m_lt, m_le, p.n)       # (G, A)
            if m.writer is not None:
                r3 = rho[:, None, None]
                z = group_ratio(r3 * lt + (1 - r3) * m_lt[:, None], r3 * le + (1 - r3) * m_le[:, None], p.n)
                zbar = zbar + (1 - rho)[:, None] * (m.writer[:, None, :] @ z)[:, 0]
                K = K + rho[:, None] * m.writer * np.einsum("gka,gka->gk", z, o.prob)   # own persona
            K = K + s * (o.prob @ zbar[:, :, None])[..., 0]
        return K / p.n                                                    # one of n is kept

    def weights(self, sel, score, n, group, groups, rng, jitter=1e-6):
        sc = score.reshape(-1, n)                                         # (prompts, n)
        ties = sc >= sc.max(1, keepdims=True) - TOL
        pick = np.argmax(ties * rng.random(sc.shape, dtype=np.float32), axis=1)   # uniform among tied best
        w = np.zeros(sc.shape)
        w[np.arange(len(sc)), pick] = 1.0
        return w.ravel()


@RULES.register("top_fraction")
class TopFraction(Rule):
    """Keep the top q of the batch. Exact form: the large-batch limit (keep the top q of
    the batch's reward distribution, splitting the boundary tie in proportion)."""

    ties_by_jitter = True
    pooled = True

    def exact_setup(self, p, out):
        return TieRanks(np.concatenate([o.value for o in out], -1)), np.cumsum([o.value.shape[-1] for o in out])[:-1]

    def exact_kept(self, ctx: ExactContext, mix, gen, s):
        return sum(self.exact_kept_by_prefix(ctx, mix, gen, s))

    def exact_kept_by_prefix(self, ctx: ExactContext, mix, gen, s):
        # one pooled ranking over every prefix type's atoms; each type keeps its part of it
        ranks, splits = ctx.state
        mass = np.concatenate([np.einsum("gk,gka->ga", g, o.prob) for g, o in zip(gen, ctx.out)], -1)
        lt, eq = ranks.lt_eq(mass)
        gt = 1.0 - lt - eq
        q = ctx.p.q[:, None]
        keep = np.clip(np.divide(q - gt, eq, out=(gt < q).astype(float), where=eq > 1e-15), 0.0, 1.0)
        parts = np.split(keep, splits, axis=-1)
        return [np.einsum("gk,gka,ga->gk", g, o.prob, kp) for g, o, kp in zip(gen, ctx.out, parts)]

    def weights(self, sel, score, n, group, groups, rng, jitter=1e-6):
        R = len(score)
        per = R // groups
        keep = int(round(sel.q * per))
        w = np.zeros((groups, per))
        if keep:
            key = -(score + jitter * rng.random(R)).reshape(groups, per)
            top = np.argpartition(key, keep - 1, axis=1)[:, :keep]
            np.put_along_axis(w, top, 1.0, axis=1)
        return w.ravel()


@RULES.register("reward_weighted")
class RewardWeighted(Rule):
    """Weight each response by exp(R / temperature) (policy-gradient-like):
    K_k ∝ s_k · E[exp(R_k / temperature)]."""

    relative = True

    def exact_setup(self, p, out):
        # E[exp((R − max R)/T)] per strategy; the shift cancels in K / sum(K)
        vmax = np.max(np.concatenate([o.value for o in out], -1), -1, keepdims=True)
        return [np.einsum("gka,ga->gk", o.prob, np.exp((o.value - vmax) / p.temperature[:, None])) for o in out]

    def exact_kept(self, ctx: ExactContext, mix, gen, s):
        return sum(g * e for g, e in zip(gen, ctx.state))

    def weights(self, sel, score, n, group, groups, rng, jitter=1e-6):
        top = np.full(groups, -np.inf)
        np.maximum.at(top, group, score)
        return np.exp((score - top[group]) / sel.temperature)
