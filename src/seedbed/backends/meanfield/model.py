"""The mean-field round: prompts → responses → judge → selection → update, in expectation.

One round (DESIGN.md §3) maps shares s (G, K) on the simplex to new shares. This module
holds the one core loop; single runs (G = 1) and phase diagrams (G = grid points) both
call :meth:`MeanField.run`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seedbed.stages.update import update_shares
from seedbed.backends.meanfield.outcomes import CLEAN, MISTAKEN, NONE, outcomes
from seedbed.backends.meanfield.params import MFParams
from seedbed.backends.meanfield.selection import PromptMix, Selector

ROUND_METRICS = ("prompt/mistake_rate", "prompt/self_written", "reward/mean", "kept/fraction",
                 "behaviour/err_train", "behaviour/err_deploy")


@dataclass
class Trajectory:
    """What a run produced. shares[r] are the shares after r updates (r = 0 is the start).

    stats[name][r − 1] is the metric of round r (computed from the shares at its start);
    keep[r − 1] (G, K) is the fraction of each strategy's responses kept in round r.
    """

    names: list[str]
    shares: np.ndarray              # (R + 1, G, K), or (1, G, K) with only the final state
    stats: dict[str, np.ndarray]    # name → (R, G)
    keep: np.ndarray                # (R, G, K)


class MeanField:
    """Exact expected dynamics for G parameter points at once."""

    def __init__(self, params: MFParams):
        self.p = params
        self.out = outcomes(params)
        self.selector = Selector(params, self.out)
        # mean_value[x] (G, K): expected reward of strategy k on prefix type x (fixed per run)
        self.mean_value = [np.einsum("gka,ga->gk", o.prob, o.value) for o in self.out]
        # With no persistence, every self-written prompt's responder is drawn from s, so
        # the per-writer contexts collapse into one per prefix type (exact, and faster).
        self.per_writer = bool(np.any(params.rho > 0))

    def prompt_mix(self, s: np.ndarray, s_writer: np.ndarray | None = None) -> tuple[list[PromptMix], np.ndarray]:
        """The round's prompt mix per prefix type, and mu (G,), the mistaken-prefix prevalence.

        Fresh prompts (1 − phi): prefix none / clean / mistaken with 1 − m0 − c0, c0, m0,
        answered by the mixture s. Self-written prompts (phi): the policy at the start of
        the round writes the prefix, so writer j leaves a mistaken prefix w.p. s_j·err_j.
        Its responder continues persona j with probability rho, else is drawn from s.
        ``s_writer`` (default s) are the writing policy's shares: another population
        member's under context swapping.
        """
        p = self.p
        s_w = s if s_writer is None else s_writer
        fresh = (1 - p.phi)[:, None] * np.stack([1 - p.m0 - p.c0, p.c0, p.m0], -1)   # (G, 3)
        syn_m = p.phi[:, None] * s_w * p.err                                           # (G, K) by writer
        syn_c = p.phi[:, None] * s_w * (1 - p.err)
        mu = fresh[:, MISTAKEN] + syn_m.sum(-1)
        mix = [PromptMix(fresh[:, NONE], None)]
        for x, syn in ((CLEAN, syn_c), (MISTAKEN, syn_m)):
            if self.per_writer:
                mix.append(PromptMix(fresh[:, x], syn))
            else:  # no persistence: a self-written prompt's responder is drawn from s too
                mix.append(PromptMix(fresh[:, x] + syn.sum(-1), None))
        return mix, mu

    def step(self, s: np.ndarray, s_writer: np.ndarray | None = None, eta: np.ndarray | None = None,
             kappa: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """One round from shares s (G, K): prompts → responses → judge → selection → update.

        ``s_writer``: the shares that write the self-written prompts (default s; another
        member's under context swapping). ``eta``, ``kappa`` (G,): this round's update step
        and anchor (default the scenario's; a population's explore step changes them).
        Returns new shares (G, K), round metrics (name → (G,)) and keep rates (G, K).
        """
        p = self.p
        mix, mu = self.prompt_mix(s, s_writer)                                         # prompts
        kept, generated = self.selector.kept(mix, s)                                   # judge + selection, (G, K) each
        total = kept.sum(-1, keepdims=True)
        new = update_shares(s, kept, p.eta if eta is None else eta, p.kappa if kappa is None else kappa, p.share)
        relative = self.selector.rule.relative
        mean_reward = sum((m.generated(s, p.rho) * mv).sum(-1) for m, mv in zip(mix, self.mean_value))
        stats = {
            "prompt/mistake_rate": mu,
            "prompt/self_written": p.phi.copy(),
            "reward/mean": mean_reward,
            "kept/fraction": np.ones(p.G) if relative else total[:, 0],
            "behaviour/err_train": (s * p.err).sum(-1),
            "behaviour/err_deploy": (s * p.err_deploy).sum(-1),
        }
        keep = np.divide(kept, generated, out=np.zeros_like(kept), where=generated > 0)
        if relative:  # relative weight (reward weighting), normalised to the policy's mean
            keep = keep / np.maximum(total, 1e-300)
        return new, stats, keep

    def run(self, rounds: int, keep_trajectory: bool = True, progress=None, tol: float = 0.0) -> Trajectory:
        """Iterate ``rounds`` rounds from the initial shares. ``progress(r)`` is called per round.

        The map is deterministic, so once a round leaves the shares bitwise unchanged every
        later round repeats it exactly: the loop stops computing there (the result is the
        same to the last bit). With ``tol`` > 0 (final values only) it also stops once no
        share moves by more than ``tol`` in a round: near a stable fixed point with contraction
        factor c the final shares are then within tol·c/(1 − c) of the exact ones."""
        s = self.p.share.copy()
        shares = [s] if keep_trajectory else []
        stats: dict[str, list[np.ndarray]] = {k: [] for k in ROUND_METRICS}
        keeps = []
        for r in range(rounds):
            new, st, keep = self.step(s)
            fixed = np.array_equal(new, s) or (tol > 0 and not keep_trajectory and np.max(np.abs(new - s)) <= tol)
            s = new
            repeat = rounds - r if fixed and keep_trajectory else 1     # a fixed point repeats to the end
            if keep_trajectory:
                shares += [s] * repeat
                keeps += [keep] * repeat
                for k in ROUND_METRICS:
                    stats[k] += [st[k]] * repeat
            if progress is not None:
                progress(r + repeat)
            if fixed:
                break
        if not keep_trajectory:
            shares = [s]
            keeps = [keep]
            for k in ROUND_METRICS:
                stats[k].append(st[k])
        return Trajectory(names=self.p.names, shares=np.stack(shares),
                          stats={k: np.stack(v) for k, v in stats.items()}, keep=np.stack(keeps))
