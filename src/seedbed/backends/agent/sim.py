"""One sampled round for M population members: N prompts each → n responses per prompt →
judge → selection → kept personas.

Everything is held as flat numpy arrays over the responses of all members at once (no
Python loop per conversation or per member). Each assistant turn carries ground-truth
labels (mistake, corrected, false_correction, harm, agreed, wrong_agreement) and what
the judge detected; the reward is the shared :func:`seedbed.stages.judge.turn_reward`, so the
mean-field model and this sampler score identical transcripts identically.

A turn's outcome is one 'atom' of its (persona, prefix) group: a joint state of the
independent factors of DESIGN.md §3 (own mistake none / undetected / detected, what it
does with the earlier turn, harm, agreement), with that group's exact probability. Atoms
are drawn with Walker's alias method (one uniform per turn) and their labels and reward
are looked up, so the sampled distribution is the mean-field model's, term by term.

With one response per prompt, a member's conversations in a round are i.i.d., so the
prompt and responder of each are drawn as counts (one multinomial per member over the
cells synthetic × writer × prefix × responder) and expanded with ``np.repeat``: the same
distribution of transcripts as drawing them one at a time, at a fraction of the passes.

Prefix codes: 0 = none (a fresh question), 1 = clean earlier turn, 2 = mistaken earlier turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seedbed.core.config import Scenario
from seedbed.stages.judge import call_judge, episode_return, noticed_turn, turn_reward, user_judge
from seedbed.stages.selection import get_rule
from seedbed.stages.update import update_shares

NONE, CLEAN, MISTAKEN = 0, 1, 2


@dataclass
class Batch:
    """A round's transcripts, over all responses R = members × prompts × n (member-major)."""

    member: np.ndarray         # (R,) population member
    prompt: np.ndarray         # (R,) prompt index (global)
    prefix: np.ndarray         # (R,) prefix code of the prompt
    synthetic: np.ndarray      # (R,) bool: written by a policy
    writer: np.ndarray         # (R,) persona that wrote the prefix (−1 for fresh prompts)
    persona: np.ndarray        # (R,) responder persona
    labels: "Labels"           # per turn: labels["t1/mistake"], ["t1/corrected"], ... (bool arrays, lazy)
    score: np.ndarray          # (R,) what selection ranks (reward, or a two-turn return)
    cell: np.ndarray | None = None   # (R,) member · C + cell when drawn as cell counts (n = 1), else None
    counts: np.ndarray | None = None  # (M, C) the cell counts


LABELS = ("mistake", "detected_mistake", "corrected", "ignored", "detected_ignore", "false_correction",
          "detected_false", "harm", "detected_harm", "agreed", "wrong_agreement", "detected_wrong_agreement")


class AtomTables:
    """Every outcome ('atom') of one assistant turn, with its labels and reward, and the
    alias tables to draw atoms for each (persona, prefix) group. Built once per scenario.

    Factors (independent given persona and prefix, as in DESIGN.md §3):
      own mistake  ∈ {none, undetected, detected}
      prefix act   ∈ {none, corrected, ignored (undetected / detected), false correction (undetected / detected)}
      harm         ∈ {none, undetected, detected}
      agreement    ∈ {none, right, wrong (undetected / detected)}   (only when beliefs are stated)
    """

    def __init__(self, scn: Scenario, err, fix, false_fix, harm, agree, err_review=None):
        j, pr = scn.judge, scn.prompts
        from itertools import product

        acts = ["none", "corrected", "ign_u", "ign_d", "false_u", "false_d"]
        harms = ["none", "u", "d"]
        agrees = ["none", "right", "wrong_u", "wrong_d"] if pr.belief > 0 else ["none"]
        states = list(product(range(3), acts, harms, agrees))
        A, K = len(states), len(err)
        probs = np.zeros((K, 3, A))
        lab = {n: np.zeros(A, dtype=bool) for n in LABELS}
        value = np.zeros(A)
        flags: list[dict[str, bool]] = []       # (A,) what the judge noticed: turn_reward's flags
        err_review = err if err_review is None else err_review
        for a, (m, act, h, ag) in enumerate(states):
            lab["mistake"][a] = m > 0
            lab["detected_mistake"][a] = m == 2
            lab["corrected"][a] = act == "corrected"
            lab["ignored"][a] = act in ("ign_u", "ign_d")
            lab["detected_ignore"][a] = act == "ign_d"
            lab["false_correction"][a] = act in ("false_u", "false_d")
            lab["detected_false"][a] = act == "false_d"
            lab["harm"][a] = h != "none"
            lab["detected_harm"][a] = h == "d"
            lab["agreed"][a] = ag != "none"
            lab["wrong_agreement"][a] = ag in ("wrong_u", "wrong_d")
            lab["detected_wrong_agreement"][a] = ag == "wrong_d"
            flags.append({"det_mistake": m == 2, "corrected": act == "corrected", "det_ignore": act == "ign_d",
                          "det_false": act == "false_d", "det_harm": h == "d", "agreed": ag != "none",
                          "det_wrong_agree": ag == "wrong_d"})
            value[a] = turn_reward(j, **flags[-1])
            for k in range(K):
                # own mistake: first-attempt rate on a fresh question, review rate otherwise
                pm = {x: [1 - e, e * (1 - j.d_mistake), e * j.d_mistake][m]
                      for x, e in ((NONE, err[k]), (CLEAN, err_review[k]), (MISTAKEN, err_review[k]))}
                ph = {"none": 1 - harm[k], "u": harm[k] * (1 - j.d_harm), "d": harm[k] * j.d_harm}[h]
                ba = pr.belief * agree[k]
                pa = {"none": 1 - ba, "right": ba * (1 - pr.belief_wrong),
                      "wrong_u": ba * pr.belief_wrong * (1 - j.d_mistake),
                      "wrong_d": ba * pr.belief_wrong * j.d_mistake}[ag] if pr.belief > 0 else 1.0
                by_prefix = {
                    NONE: {"none": 1.0},
                    CLEAN: {"none": 1 - false_fix[k], "false_u": false_fix[k] * (1 - j.d_false),
                            "false_d": false_fix[k] * j.d_false},
                    MISTAKEN: {"corrected": fix[k], "ign_u": (1 - fix[k]) * (1 - j.d_ignore),
                               "ign_d": (1 - fix[k]) * j.d_ignore},
                }
                for x in (NONE, CLEAN, MISTAKEN):
                    probs[k, x, a] = pm[x] * ph * pa * by_prefix[x].get(act, 0.0)
        self.A, self.K = A, K
        self.prob = probs                       # (K, 3, A)
        self.value = value                      # (A,)
        self.flags = flags
        self.labels = lab
        self.accept, self.alias = _alias_tables(probs.reshape(K * 3, A))


def _alias_tables(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables for each row of p (rows sum to 1)."""
    G, A = p.shape
    accept = np.ones((G, A))
    alias = np.tile(np.arange(A), (G, 1))
    for g in range(G):
        scaled = p[g] * A / p[g].sum()
        small = [i for i in range(A) if scaled[i] < 1.0]
        large = [i for i in range(A) if scaled[i] >= 1.0]
        while small and large:
            s_, l_ = small.pop(), large.pop()
            accept[g, s_], alias[g, s_] = scaled[s_], l_
            scaled[l_] -= 1.0 - scaled[s_]
            (small if scaled[l_] < 1.0 else large).append(l_)
        for i in small + large:                 # numerical leftovers are certain
            accept[g, i] = 1.0
    return accept, alias


class Labels(dict):
    """Ground-truth labels of each turn, gathered from its atoms when first asked for:
    ``labels["t1/corrected"]`` is a bool array over responses."""

    def __init__(self, tables: AtomTables):
        super().__init__()
        self.tables = tables
        self.atoms: dict[str, np.ndarray] = {}

    def add(self, tag: str, atom: np.ndarray) -> None:
        self.atoms[tag] = atom

    def __missing__(self, key: str) -> np.ndarray:
        tag, name = key.split("/", 1)
        if tag not in self.atoms or name not in self.tables.labels:
            raise KeyError(key)
        arr = np.take(self.tables.labels[name], self.atoms[tag])
        self[key] = arr
        return arr


def _draw(rng: np.random.Generator, shares: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sample a persona for each row from ``shares[rows]`` (inverse CDF, one uniform each).

    ``rows`` is sorted (members are contiguous blocks), so each member's block is one
    searchsorted against its own K-entry CDF.
    """
    cdf = np.cumsum(shares, axis=1, dtype=np.float32)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows), dtype=np.float32)
    out = np.empty(len(rows), dtype=np.intp)
    bounds = np.searchsorted(rows, np.arange(len(shares) + 1))
    for m in range(len(shares)):
        lo, hi = bounds[m], bounds[m + 1]
        if hi > lo:
            out[lo:hi] = np.searchsorted(cdf[m], u[lo:hi], side="right")
    return out


class RoundSampler:
    """Samples rounds of a scenario for any number of members at once."""

    def __init__(self, scn: Scenario):
        self.scn = scn
        st = scn.strategies
        f32 = lambda xs: np.array(xs, dtype=np.float32)  # noqa: E731  (compared with float32 uniforms)
        self.err = f32([s.err for s in st])
        self.err_deploy = f32([s.deploy_err for s in st])
        self.err_review = f32([s.review_err for s in st])
        self.fix = f32([s.fix for s in st])
        self.false_fix = f32([s.false_fix for s in st])
        self.harm = f32([s.harm for s in st])
        self.agree = f32([s.agree for s in st])
        self.K = len(st)
        self.rule = get_rule(scn.selection.rule)
        self.n = self.rule.responses_per_prompt(scn.selection)
        self.judge_fn = user_judge(scn.judge, reads="labels")
        self._user_values: np.ndarray | None = None
        self.jitter = self._tie_jitter() if self.rule.ties_by_jitter else 1e-6
        self.tables = AtomTables(scn, self.err.astype(float), self.fix.astype(float), self.false_fix.astype(float),
                                 self.harm.astype(float), self.agree.astype(float), self.err_review.astype(float))
        self._fields: dict[tuple[bool, int], dict[str, np.ndarray]] = {}
        # constant factors of the cell probabilities (see _cells)
        pr, err = scn.prompts, self.err.astype(float)
        self._fresh = (1 - pr.phi) * np.array([1 - pr.m0 - pr.c0, pr.c0, pr.m0])
        self._by_writer = pr.phi * np.stack([1 - err, err], axis=1)             # (K writers, clean/mistaken)
        self._voice = pr.rho * np.repeat(np.eye(self.K), 2, axis=0)             # writer w's two cells → w

    def _tie_jitter(self) -> float:
        """A random tie-breaking jitter smaller than any gap between distinct scores.

        The scores a judge can give are the mean-field atom values (finitely many), so a
        quarter of their smallest gap keeps the ranking of distinct scores exact."""
        from seedbed.backends.meanfield import MFParams
        from seedbed.backends.meanfield.outcomes import outcomes

        vals = np.unique(np.round(np.concatenate([o.value[0] for o in outcomes(MFParams.from_scenario(self.scn))]), 9))
        gap = np.diff(vals).min() if len(vals) > 1 else 1.0
        return float(gap) / 4

    # ------------------------------------------------------------------ sampling
    def _turn(self, rng: np.random.Generator, persona: np.ndarray, prefix: np.ndarray, tag: str,
              labels: "Labels", base: np.ndarray | None = None) -> np.ndarray:
        """Sample one assistant turn per row; register its atoms under ``tag``; return its reward.

        A turn's outcome is one atom of its (persona, prefix) group, drawn by Walker's alias
        method from a single uniform: j = ⌊u·A⌋, keep j if frac(u·A) < accept[j], else alias[j].
        """
        t = self.tables
        if base is None:                                  # offset of each row's (persona, prefix) group
            base = (persona * 3 + prefix) * t.A
        x = rng.random(len(persona)) * t.A
        j = x.astype(np.intp)
        flat = base + j
        atom = np.where(x - j < t.accept.ravel()[flat], j, t.alias.ravel()[flat])
        labels.add(tag, atom)
        return t.value[atom]

    def _cells(self, S: np.ndarray, W: np.ndarray, with_persona: bool) -> np.ndarray:
        """Probabilities (M, C) of each member's prompt 'cells': (synthetic, writer, prefix),
        and with ``with_persona`` also the responder's persona.

        Fresh-pool prompts: prefix none / clean / mistaken with probabilities 1 − m0 − c0, c0,
        m0. Self-written ones (probability phi): writer w ~ W[m], its turn mistaken with
        probability err[w]. The responder continues the writer's voice with probability
        rho, else is drawn from S[m]. Cell order is fixed by ``_cell_fields``.
        """
        pr = self.scn.prompts
        M, K = S.shape
        prompt = np.empty((M, 3 + 2 * K))
        prompt[:, :3] = self._fresh
        prompt[:, 3:] = (W[:, :, None] * self._by_writer).reshape(M, 2 * K)
        if not with_persona:
            return prompt
        resp = np.empty((M, 3 + 2 * K, K))
        resp[:, :3] = S[:, None, :]
        resp[:, 3:] = self._voice + (1 - pr.rho) * S[:, None, :]
        return (prompt[:, :, None] * resp).reshape(M, -1)

    def _cell_fields(self, with_persona: bool, M: int = 1) -> dict[str, np.ndarray]:
        """synthetic, writer, prefix (and persona, and the atom-table offset of its (persona,
        prefix) group) of each cell in ``_cells``' order, repeated for M members."""
        key = (with_persona, M)
        if key not in self._fields:
            self._fields[key] = {k: np.tile(v, M) for k, v in self._cell_fields_one(with_persona).items()}
        return self._fields[key]

    def _cell_fields_one(self, with_persona: bool) -> dict[str, np.ndarray]:
        K = self.K
        syn = np.r_[np.zeros(3, bool), np.ones(2 * K, bool)]
        writer = np.r_[np.full(3, -1), np.repeat(np.arange(K), 2)].astype(np.int16)
        prefix = np.r_[[NONE, CLEAN, MISTAKEN], np.tile([CLEAN, MISTAKEN], K)].astype(np.int8)
        if not with_persona:
            return {"synthetic": syn, "writer": writer, "prefix": prefix}
        rep = lambda a: np.repeat(a, K)  # noqa: E731
        persona = np.tile(np.arange(K), 3 + 2 * K).astype(np.int16)
        return {"synthetic": rep(syn), "writer": rep(writer), "prefix": rep(prefix), "persona": persona,
                "base": ((persona.astype(np.int32) * 3 + rep(prefix)) * self.tables.A).astype(np.int32)}

    def sample(self, rng: np.random.Generator, S: np.ndarray, W: np.ndarray | None = None,
               prompts: int | None = None) -> Batch:
        """Sample a round for members with responder shares ``S`` (M, K).

        Self-written prompts come from ``W`` (default ``S``; under context swapping the
        neighbour's shares), as the policies stood at the start of the round.

        Within a member the conversations of a round are independent and identically
        distributed, so the round is drawn as counts: one multinomial per member over the
        cells (synthetic, writer, prefix[, responder]) and each cell repeated its count of
        times. The multiset of conversations has exactly the distribution of drawing them
        one by one; rows come out grouped by cell, which nothing downstream depends on
        (selection breaks ties at random). With n > 1 responses per prompt the responders
        of one prompt are drawn separately, as they must be independent of each other.
        """
        scn, pr = self.scn, self.scn.prompts
        S = np.atleast_2d(S)
        W = S if W is None else np.atleast_2d(W)
        M, P = len(S), prompts or scn.agent.conversations
        single = self.n == 1
        probs = self._cells(S, W, single)
        probs = probs / probs.sum(1, keepdims=True)
        counts = rng.multinomial(P, probs)                            # (M, C); each row sums to P
        fields = self._cell_fields(single, M)
        cell = np.repeat(np.arange(counts.size), counts.ravel())      # member · C + cell, member-major
        pm = np.repeat(np.arange(M), P)                               # member of each prompt
        synthetic_p, writer_p, prefix_p = (np.take(fields[k], cell) for k in ("synthetic", "writer", "prefix"))
        if single:
            prompt, member, synthetic, writer, prefix = np.arange(M * P), pm, synthetic_p, writer_p, prefix_p
            persona, base = np.take(fields["persona"], cell), np.take(fields["base"], cell)
        else:                                                         # n responses per prompt, prompt-major
            prompt = np.repeat(np.arange(M * P), self.n)
            member, synthetic, writer, prefix = pm[prompt], synthetic_p[prompt], writer_p[prompt], prefix_p[prompt]
            persona = _draw(rng, S, member)
            if pr.rho > 0:                                            # continue the writer's voice
                persona = np.where(synthetic & (rng.random(len(prompt)) < pr.rho), writer, persona)
            base = None
        labels = Labels(self.tables)
        labels["t0/mistake"] = synthetic & (prefix == MISTAKEN)
        score = self._episode(rng, persona, prefix, labels, base)
        if not single:
            return Batch(member, prompt, prefix, synthetic, writer, persona, labels, score)
        return Batch(member, prompt, prefix, synthetic, writer, persona, labels, score, cell, counts)

    def _episode(self, rng: np.random.Generator, persona: np.ndarray, prefix: np.ndarray,
                 labels: "Labels", base: np.ndarray | None = None) -> np.ndarray:
        """The selection score of each row's episode: one turn, or (turns = 2) that turn and
        the same persona's review of it, combined by the judge's credit rule (or scored
        whole by the user's judge, looked up in its table of every episode)."""
        r1 = self._turn(rng, persona, prefix, "t1", labels, base)
        if self.scn.prompts.turns == 1:
            if self.judge_fn is not None:
                return self.user_values()[prefix, labels.atoms["t1"]]
            return np.asarray(r1, float)
        r2 = self._turn(rng, persona, np.where(labels["t1/mistake"], MISTAKEN, CLEAN), "t2", labels)
        if self.judge_fn is not None:
            return self.user_values()[prefix, labels.atoms["t1"], labels.atoms["t2"]]
        return np.asarray(episode_return(self.scn.judge, r1, r2), float)

    def user_values(self) -> np.ndarray:
        """The user's judge on every episode the atoms can form, computed once:
        (3, A) for one turn [prefix, atom]; (3, A, A) for two [prefix, turn-1 atom, turn-2
        atom], turn 2 reviewing a mistaken answer when turn 1 erred (noticed or not)."""
        if self._user_values is None:
            t, fn = self.tables, self.judge_fn
            turns = [[noticed_turn(x, **f) for f in t.flags] for x in (NONE, CLEAN, MISTAKEN)]
            if self.scn.prompts.turns == 1:
                v = [[call_judge(fn, [u], f"the one-turn episode {[u]}") for u in row] for row in turns]
            else:
                nxt = [MISTAKEN if t.labels["mistake"][a] else CLEAN for a in range(t.A)]
                v = [[[call_judge(fn, [u, w], f"the episode {[u, w]}") for w in turns[nxt[a]]]
                      for a, u in enumerate(row)] for row in turns]
            self._user_values = np.asarray(v, float)
        return self._user_values

    # ------------------------------------------------------------------ selection
    def kept(self, rng: np.random.Generator, b: Batch, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kept mass (M, K) and per-response kept weights (R,)."""
        if self.rule.revises:
            return self._revise(rng, b, S)
        w = self.rule.weights(self.scn.selection, b.score, self.n, b.member, len(S), rng, self.jitter)
        if b.cell is not None:                            # kept weight per cell, then per responder persona
            M, K = len(S), self.K
            return np.bincount(b.cell, weights=w, minlength=b.counts.size).reshape(M, -1, K).sum(1), w
        return self._by_member(b.member, b.persona, w, len(S)), w

    def _by_member(self, member: np.ndarray, persona: np.ndarray, w: np.ndarray | None, M: int) -> np.ndarray:
        return np.bincount(member * self.K + persona, weights=w, minlength=M * self.K).reshape(M, self.K)

    def _revise(self, rng: np.random.Generator, b: Batch, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Failing responses are replaced by the first passing revision drawn from the same
        context (same member, prefix and writer), up to ``revision_tries`` draws."""
        sel, pr, M = self.scn.selection, self.scn.prompts, len(S)
        ok = self.rule.passes(sel, b.score)
        kept = self._by_member(b.member[ok], b.persona[ok], None, M).astype(float)
        fail = np.flatnonzero(~ok)
        T = self.scn.agent.revision_tries
        if len(fail):
            idx = np.repeat(fail, T)                                  # T candidates per failure
            persona = _draw(rng, S, b.member[idx])
            if pr.rho > 0:
                persona = np.where(b.synthetic[idx] & (rng.random(len(idx)) < pr.rho), b.writer[idx], persona)
            score = self._episode(rng, persona, b.prefix[idx], Labels(self.tables))
            passed = self.rule.passes(sel, score).reshape(len(fail), T)
            has = passed.any(1)
            first = np.argmax(passed, 1)
            chosen = persona.reshape(len(fail), T)[np.arange(len(fail)), first][has]
            kept += self._by_member(b.member[fail][has], chosen, None, M)
        return kept, ok.astype(float)

    # ------------------------------------------------------------------ round
    def step(self, rng: np.random.Generator, S: np.ndarray, W: np.ndarray | None = None,
             eta: np.ndarray | float | None = None, kappa: np.ndarray | float | None = None
             ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """One round from shares S (M, K) — or (K,) for one policy, with results squeezed.

        Returns new shares, round metrics (name → (M,)) and keep rates per persona (M, K).
        """
        scn = self.scn
        single = np.ndim(S) == 1
        S = np.atleast_2d(np.asarray(S, dtype=float))
        M = len(S)
        eta = np.broadcast_to(scn.update.eta if eta is None else eta, (M,))
        kappa = np.broadcast_to(scn.update.kappa if kappa is None else kappa, (M,))
        b = self.sample(rng, S, W)                                    # prompts → responses → judge
        kept, w = self.kept(rng, b, S)                                # selection
        if b.counts is not None:
            generated = b.counts.reshape(M, -1, self.K).sum(1).astype(float)
        else:
            generated = self._by_member(b.member, b.persona, None, M).astype(float)
        total = kept.sum(1, keepdims=True)
        new = update_shares(S, kept, eta, kappa, np.asarray(scn.shares))  # update
        keep = np.divide(kept, generated, out=np.zeros_like(kept), where=generated > 0)
        per = len(b.score) // M                                       # responses per member
        if self.rule.relative:                                        # relative weights: normalise to the mean
            keep = keep / np.maximum(total / per, 1e-300)
        first = slice(None, None, self.n)                             # one row per prompt
        pm = b.member[first]
        count = np.bincount(pm, minlength=M)
        stats = {
            "prompt/mistake_rate": np.bincount(pm, weights=b.prefix[first] == MISTAKEN, minlength=M) / count,
            "prompt/self_written": np.bincount(pm, weights=b.synthetic[first], minlength=M) / count,
            "reward/mean": np.bincount(b.member, weights=b.score, minlength=M) / per,
            "kept/fraction": np.ones(M) if self.rule.relative else total[:, 0] / per,
        }
        stats.update(self.probe(rng, S))
        if single:
            return new[0], {k: float(v[0]) for k, v in stats.items()}, keep[0]
        return new, stats, keep

    def probe(self, rng: np.random.Generator, S: np.ndarray) -> dict[str, np.ndarray]:
        """First-turn error rate on fresh held-out questions, training and deployment contexts."""
        N, M = self.scn.agent.probes, len(S)
        if N == 0:
            return {"behaviour/err_train": S @ self.err, "behaviour/err_deploy": S @ self.err_deploy}
        member = np.repeat(np.arange(M), N)
        persona = _draw(rng, S, member)
        u = rng.random((2, M * N), dtype=np.float32)
        return {"behaviour/err_train": np.bincount(member, weights=u[0] < self.err[persona], minlength=M) / N,
                "behaviour/err_deploy": np.bincount(member, weights=u[1] < self.err_deploy[persona], minlength=M) / N}
