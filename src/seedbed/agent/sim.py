"""One sampled round: N prompts → n responses each → judge → selection → kept personas.

Everything is held as flat numpy arrays over responses (no Python loop per
conversation). Each assistant turn carries ground-truth labels (mistake, corrected,
false_correction, harm, agreed) and the judge's detection draws; the reward is the
shared :func:`seedbed.judge.turn_reward`, so the mean-field model and this sampler score
identical transcripts identically.

Prefix codes: 0 = none (a fresh question), 1 = clean earlier turn, 2 = mistaken earlier turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Scenario
from ..judge import episode_return, turn_reward

NONE, CLEAN, MISTAKEN = 0, 1, 2


@dataclass
class Batch:
    """A round's transcripts. Arrays over responses R = prompts × n unless noted."""

    prompt: np.ndarray         # (R,) prompt index
    prefix: np.ndarray         # (R,) prefix code of the prompt
    synthetic: np.ndarray      # (R,) bool: written by the policy
    writer: np.ndarray         # (R,) persona that wrote the prefix (−1 for fresh prompts)
    persona: np.ndarray        # (R,) responder persona
    labels: dict[str, np.ndarray]   # per turn: "t1/mistake", "t1/corrected", ... (bool arrays)
    score: np.ndarray          # (R,) what selection ranks (reward, or a two-turn return)
    reward_last: np.ndarray    # (R,) the judge's reward of the last turn


class AgentRound:
    """Samples rounds of a scenario for one member. Stateless apart from the scenario."""

    def __init__(self, scn: Scenario):
        self.scn = scn
        st = scn.strategies
        self.err = np.array([s.err for s in st])
        self.err_deploy = np.array([s.deploy_err for s in st])
        self.fix = np.array([s.fix for s in st])
        self.false_fix = np.array([s.false_fix for s in st])
        self.harm = np.array([s.harm for s in st])
        self.agree = np.array([s.agree for s in st])
        self.K = len(st)
        sel = scn.selection
        self.n = sel.n if sel.rule == "best_of_n" else 1

    # ------------------------------------------------------------------ sampling
    def _turn(self, rng: np.random.Generator, persona: np.ndarray, prefix: np.ndarray,
              prefix_mistake: np.ndarray, tag: str, labels: dict[str, np.ndarray]) -> np.ndarray:
        """Sample one assistant turn per row; record labels under ``tag``; return its reward."""
        j, pr = self.scn.judge, self.scn.prompts
        R = len(persona)
        u = rng.random((8, R))                                       # one uniform per label / detection
        mistake = u[0] < self.err[persona]
        had = prefix == MISTAKEN
        corrected = had & (u[1] < self.fix[persona])
        false_corr = (prefix == CLEAN) & (u[2] < self.false_fix[persona])
        harm = u[3] < self.harm[persona]
        agreed = (u[4] < pr.belief) & (u[5] < self.agree[persona])   # belief stated, and agreed with
        wrong_agree = agreed & (rng.random(R) < pr.belief_wrong)
        d = rng.random((5, R))
        det_m = mistake & (d[0] < j.d_mistake)
        det_i = had & ~corrected & (d[1] < j.d_ignore)
        det_f = false_corr & (d[2] < j.d_false)
        det_h = harm & (d[3] < j.d_harm)
        det_w = wrong_agree & (d[4] < j.d_mistake)
        labels.update({f"{tag}/mistake": mistake, f"{tag}/corrected": corrected, f"{tag}/false_correction": false_corr,
                       f"{tag}/harm": harm, f"{tag}/agreed": agreed, f"{tag}/wrong_agreement": wrong_agree,
                       f"{tag}/detected_mistake": det_m})
        return turn_reward(j, det_m, corrected, det_i, det_f, det_h, agreed, det_w)

    def sample(self, rng: np.random.Generator, s: np.ndarray, s_writer: np.ndarray | None = None,
               prompts: int | None = None) -> Batch:
        """Sample a round's prompts and responses for responder shares ``s`` (K,).

        Self-written prompts come from ``s_writer`` (default ``s``; another member's shares
        under context swapping), as the policy stood at the start of the round.
        """
        scn, pr, K = self.scn, self.scn.prompts, self.K
        P = prompts or scn.agent.conversations
        s_writer = s if s_writer is None else s_writer
        synthetic_p = rng.random(P) < pr.phi
        fresh_prefix = rng.choice(3, size=P, p=[1 - pr.m0 - pr.c0, pr.c0, pr.m0])
        writer_p = np.where(synthetic_p, rng.choice(K, size=P, p=s_writer), -1)
        writer_mistake = synthetic_p & (rng.random(P) < self.err[np.maximum(writer_p, 0)])
        prefix_p = np.where(synthetic_p, np.where(writer_mistake, MISTAKEN, CLEAN), fresh_prefix)
        # n responses per prompt: flat arrays of length R = P·n, prompt-major
        prompt = np.repeat(np.arange(P), self.n)
        synthetic, writer, prefix = synthetic_p[prompt], writer_p[prompt], prefix_p[prompt]
        R = len(prompt)
        persona = rng.choice(K, size=R, p=s)
        persist = synthetic & (rng.random(R) < pr.rho)               # continue the writer's voice
        persona = np.where(persist, writer, persona)
        labels: dict[str, np.ndarray] = {"t0/mistake": writer_mistake[prompt]}
        r1 = self._turn(rng, persona, prefix, prefix == MISTAKEN, "t1", labels)
        if pr.turns == 2:                                            # the same persona reviews turn 1
            prefix2 = np.where(labels["t1/mistake"], MISTAKEN, CLEAN)
            r2 = self._turn(rng, persona, prefix2, labels["t1/mistake"], "t2", labels)
            score, last = episode_return(scn.judge, r1, r2), r2
        else:
            score, last = r1, r1
        return Batch(prompt, prefix, synthetic, writer, persona, labels, np.asarray(score, float),
                     np.asarray(last, float))

    # ------------------------------------------------------------------ selection
    def kept_weights(self, rng: np.random.Generator, b: Batch, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kept mass per persona (K,) and per-response kept weights (R,)."""
        sel, K = self.scn.selection, self.K
        R = len(b.score)
        tol = 1e-9
        if sel.rule == "threshold":
            w = (b.score >= sel.tau - tol).astype(float)
        elif sel.rule == "best_of_n":
            sc = b.score.reshape(-1, self.n)                          # (P, n)
            ties = sc >= sc.max(1, keepdims=True) - tol
            pick = np.argmax(ties * rng.random(sc.shape), axis=1)     # uniform among the tied best
            w = np.zeros_like(sc)
            w[np.arange(len(sc)), pick] = 1.0
            w = w.ravel()
        elif sel.rule == "top_fraction":
            keep = int(round(sel.q * R))
            order = np.lexsort((rng.random(R), -b.score))             # best first, ties in random order
            w = np.zeros(R)
            w[order[:keep]] = 1.0
        elif sel.rule == "reward_weighted":
            w = np.exp((b.score - b.score.max()) / sel.temperature)
        elif sel.rule == "critique_revision":
            return self._revise(rng, b, s)
        else:  # pragma: no cover
            raise ValueError(sel.rule)
        return np.bincount(b.persona, weights=w, minlength=K), w

    def _revise(self, rng: np.random.Generator, b: Batch, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Failing responses are replaced by the first passing revision drawn from the same
        context (same prompt prefix and writer), up to ``revision_tries`` draws."""
        sel, K, pr = self.scn.selection, self.K, self.scn.prompts
        tol = 1e-9
        ok = b.score >= sel.tau - tol
        kept = np.bincount(b.persona[ok], minlength=K).astype(float)
        fail = np.flatnonzero(~ok)
        T = self.scn.agent.revision_tries
        if len(fail):
            idx = np.repeat(fail, T)                                  # T candidates per failure
            persona = rng.choice(K, size=len(idx), p=s)
            persona = np.where(b.synthetic[idx] & (rng.random(len(idx)) < pr.rho), b.writer[idx], persona)
            labels: dict[str, np.ndarray] = {}
            r1 = self._turn(rng, persona, b.prefix[idx], b.prefix[idx] == MISTAKEN, "t1", labels)
            if pr.turns == 2:
                prefix2 = np.where(labels["t1/mistake"], MISTAKEN, CLEAN)
                r2 = self._turn(rng, persona, prefix2, labels["t1/mistake"], "t2", labels)
                score = episode_return(self.scn.judge, r1, r2)
            else:
                score = r1
            passed = (np.asarray(score) >= sel.tau - tol).reshape(len(fail), T)
            has = passed.any(1)
            first = np.argmax(passed, 1)
            chosen = persona.reshape(len(fail), T)[np.arange(len(fail)), first][has]
            kept += np.bincount(chosen, minlength=K)
        return kept, ok.astype(float)

    # ------------------------------------------------------------------ round
    def step(self, rng: np.random.Generator, s: np.ndarray, s_writer: np.ndarray | None = None,
             eta: float | None = None, kappa: float | None = None) -> tuple[np.ndarray, dict[str, float], np.ndarray]:
        """One round from shares s (K,): new shares, round metrics, keep rate per persona."""
        scn = self.scn
        eta = scn.update.eta if eta is None else eta
        kappa = scn.update.kappa if kappa is None else kappa
        b = self.sample(rng, s, s_writer)
        kept, w = self.kept_weights(rng, b, s)
        generated = np.bincount(b.persona, minlength=self.K).astype(float)
        total = kept.sum()
        target = kept / total if total > 0 else s
        new = (1 - eta) * s + eta * target
        new = (1 - kappa) * new + kappa * np.asarray(scn.shares)
        new = new / new.sum()
        keep = np.divide(kept, generated, out=np.zeros(self.K), where=generated > 0)
        R = len(b.score)
        if scn.selection.rule == "reward_weighted":
            keep = keep / max(total / R, 1e-300)
        stats = {
            "prompt/mistake_rate": float(np.mean(b.prefix[:: self.n] == MISTAKEN)),
            "prompt/self_written": float(np.mean(b.synthetic[:: self.n])),
            "reward/mean": float(b.score.mean()),
            "kept/fraction": 1.0 if scn.selection.rule == "reward_weighted" else float(total / R),
        }
        stats.update(self.probe(rng, s))
        return new, stats, keep

    def probe(self, rng: np.random.Generator, s: np.ndarray) -> dict[str, float]:
        """First-turn error rate on fresh held-out questions, training and deployment contexts."""
        N = self.scn.agent.probes
        if N == 0:
            return {"behaviour/err_train": float(s @ self.err), "behaviour/err_deploy": float(s @ self.err_deploy)}
        persona = rng.choice(self.K, size=N, p=s)
        u = rng.random((2, N))
        return {"behaviour/err_train": float(np.mean(u[0] < self.err[persona])),
                "behaviour/err_deploy": float(np.mean(u[1] < self.err_deploy[persona]))}
