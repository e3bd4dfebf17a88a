"""The neural backend: a real transformer put through the iterated pipeline (DESIGN.md §5).

Each round: build prompts (fresh questions and review prompts; a phi fraction whose
earlier answer the current model wrote itself), sample n responses per prompt, parse and
judge them with the scenario's judge, select, fine-tune on the kept samples (loss on the
last assistant turn, or on every assistant turn for transcript credit), then probe on a
fixed held-out set. Every round is checkpointed (weights as safetensors, optimizer,
outputs); a rerun replays finished rounds from their checkpoints and continues.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Scenario, ScenarioError
from ..judge import episode_return, score_labels
from ..selection import get_rule
from . import engine
from .task import (INOCULATION, REVIEW, Task, corpus, parse_answer, parse_review, question, answer_text, slip)

NONE, CLEAN, MISTAKEN = 0, 1, 2


def turn(text: str) -> str:
    """A sampled turn as it stands in a transcript: ending with its newline."""
    return text if text.endswith("\n") else text + "\n"


def parse(completion: str, kind: int, truth: int, previous: int | None):
    """Labels of a completion: an answer to a fresh question, or a review of ``previous``."""
    return parse_answer(completion, truth) if kind == NONE else parse_review(completion, truth, previous)


def cache_dir() -> Path:
    return Path(os.environ.get("SEEDBED_CACHE", "runs/.cache"))


def device_of(scn: Scenario) -> str:
    import torch

    d = scn.neural.device
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cuda" and not torch.cuda.is_available():
        raise ScenarioError("neural.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return d


def base_key(scn: Scenario) -> str:
    """Hash of everything the pre-trained base depends on (strategies, task, model, corpus)."""
    n = scn.neural
    spec = {"strategies": [s.model_dump() for s in scn.strategies], "shares": scn.shares,
            "task": [n.max_number, n.probe_size], "model": [n.d_model, n.n_layer, n.n_head],
            "pretrain": [n.corpus_size, n.pretrain_steps, n.pretrain_batch, n.pretrain_lr, n.competence], "v": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def base_model(scn: Scenario, log: Callable[[str], None] | None = None) -> Path:
    """The folder of the pre-trained base: ``neural.model``, or the tiny model built from the
    corpus and cached under SEEDBED_CACHE (shared by arms and seeds)."""
    if scn.neural.model:
        p = Path(scn.neural.model)
        if not (p / "config.json").exists():
            raise ScenarioError(f"neural.model = {str(p)!r}: not a local model folder (no config.json)")
        return p
    path = cache_dir() / f"base-{base_key(scn)}"
    if (path / "config.json").exists():
        return path
    pretrain(scn, path, log)
    return path


def pretrain(scn: Scenario, path: Path, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the tokenizer and model, pre-train on persona conversations until greedy answers
    to the probe questions reach ``neural.competence``; save atomically to ``path``."""
    import torch

    from .model import build_model, build_tokenizer, save

    n = scn.neural
    task = Task(n.max_number, n.probe_size, seed=0)
    rng = np.random.default_rng([0, 0xC0])
    texts, _, _ = corpus(scn, task, n.corpus_size, rng)
    tok = build_tokenizer()
    model = build_model(tok, n.d_model, n.n_layer, n.n_head, seed=0).to(device_of(scn))
    probe = task.probe_pairs[:200]
    state = {"accuracy": 0.0, "steps": 0}

    def on_step(step: int, loss: float) -> bool:
        state["steps"] = step + 1
        if (step + 1) % 100 == 0 and step + 1 >= 300:
            outs = engine.sample(model, tok, [question(a, b) for a, b in probe], temperature=0)
            state["accuracy"] = float(np.mean([not parse_answer(o[0], a + b).mistake for o, (a, b) in zip(outs, probe)]))
            model.train()
            if log:
                log(f"pre-training step {step + 1}: loss {loss:.3f}, greedy accuracy {state['accuracy']:.3f}")
            return state["accuracy"] >= n.competence
        return False

    with torch.random.fork_rng(devices=[]):
        losses = engine.train_lm(model, tok, texts, n.pretrain_steps, n.pretrain_batch, n.pretrain_lr,
                                 np.random.default_rng([0, 0xC1]), on_step)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save(model, tok, tmp)
    info = {"steps": state["steps"], "greedy_accuracy": state["accuracy"], "final_loss": losses[-1] if losses else None,
            "corpus_size": n.corpus_size}
    (tmp / "pretrain.json").write_text(json.dumps(info, indent=2))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return info


def estimate_shares(rates: np.ndarray, R: np.ndarray, iters: int = 2000) -> np.ndarray:
    """Persona shares s on the simplex that best explain observed rates: min ||R s − rates||²
    by projected gradient descent (R: (rates, K) of the strategies' rates)."""
    K = R.shape[1]
    s = np.full(K, 1.0 / K)
    step = 1.0 / max(np.linalg.norm(R, 2) ** 2, 1e-9)
    for _ in range(iters):
        s = _project_simplex(s - step * R.T @ (R @ s - rates))
    return s


def _project_simplex(v: np.ndarray) -> np.ndarray:
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.nonzero(u * np.arange(1, len(v) + 1) > (css - 1))[0][-1]
    return np.maximum(v - (css[k] - 1) / (k + 1.0), 0.0)


def stack_outputs(outs: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Members' round outputs as the population loop's step result: shares (M, K), stats
    name → (M,), and keep rates (M, K), all NaN: a model's keep rate per persona is not observed."""
    S = np.array([o["shares"] for o in outs])
    stats = {k: np.array([o["stats"][k] for o in outs]) for k in outs[0]["stats"]}
    return S, stats, np.full_like(S, np.nan)


class NeuralRun:
    """One policy (one arm × seed × population member) of the pipeline on a real model,
    checkpointed every round.

    ``config`` holds the member's explorable hyperparameters: ``update.eta`` scales the
    learning rate relative to the scenario's (so PBT's explore perturbs the learning rate)
    and ``update.kappa`` adds rehearsal of pre-training conversations (the anchor).
    ``writer``: the model that writes this policy's self-written prompts (None: itself;
    under context swapping, a rival's).
    """

    def __init__(self, scn: Scenario, arm: str, seed: int, workdir: Path | None,
                 log: Callable[[str], None] | None = None, member: int = 0):
        import torch

        from .model import load

        self.scn, self.arm, self.seed, self.log, self.member = scn, arm, seed, log, member
        self.config = {"update.eta": scn.update.eta, "update.kappa": scn.update.kappa}
        self.writer = None
        n = scn.neural
        self.device = device_of(scn)
        self.task = Task(n.max_number, n.probe_size, seed=0)
        self.base = base_model(scn, log)
        self.model, self.tok = load(self.base, self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=n.lr, weight_decay=0.0)
        self.ckdir = None
        if workdir is not None:
            self.ckdir = Path(workdir) / "checkpoints" / f"{arm}-{seed}"
            if scn.population.members > 1:
                self.ckdir = self.ckdir / f"member-{member:03d}"
        self.pending: Path | None = None           # checkpoint to load before the next computed round
        st = scn.strategies
        self.rates = np.array([[s.err for s in st], [s.fix for s in st], [s.false_fix for s in st], [s.harm for s in st]])
        self.arm_id = 0 if arm == "scenario" else 1
        self.replay_texts = corpus(scn, self.task, min(n.corpus_size, 5000), np.random.default_rng([0, 0xC2]))[0]
        # Probe questions must never reach training: every round's prompts pass this guard. All
        # arithmetic items share one template, so items are matched exactly (after normalising).
        from ..contamination import Guard, with_canary
        probe_items = [question(a, b).rstrip("A:").strip() for a, b in self.task.probe_pairs]
        self.guard = Guard(probe_items, use_template=False)
        keep, _ = self.guard.filter([t.split("\n")[0] for t in self.replay_texts])   # rehearsal must not leak either
        self.replay_texts = [self.replay_texts[i] for i in keep]
        self.guard.dropped.clear()
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            lines = [json.dumps(with_canary({"input": q, "target": str(a + b)}))
                     for q, (a, b) in zip(probe_items, self.task.probe_pairs)]
            (workdir / "probes.jsonl").write_text("\n".join(lines) + "\n")

    # ----------------------------------------------------------------- checkpoints
    def _ck(self, r: int) -> Path:
        return self.ckdir / f"round-{r:04d}"

    def _save(self, r: int, outputs: dict[str, Any]) -> None:
        import torch

        if self.ckdir is None:
            return
        final = self._ck(r)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.tok.save_pretrained(tmp)
        torch.save(self.opt.state_dict(), tmp / "optimizer.pt")
        (tmp / "outputs.json").write_text(json.dumps(outputs))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)                                            # a round is saved whole or not at all
        # older rounds keep only their outputs, except in a population: always the previous
        # round (a crash mid-round recomputes it for every member) and the latest
        # exploit round (a member restored after a crash may still need its parent's weights)
        pop = self.scn.population
        keep = max(self.scn.neural.keep_checkpoints, 2 if pop.members > 1 else 1)
        sync = r - r % pop.interval if pop.members > 1 and pop.interval else -1
        for old in sorted(self.ckdir.glob("round-[0-9][0-9][0-9][0-9]"))[:-keep]:
            if old.name == f"round-{sync:04d}":
                continue
            for f in old.iterdir():
                if f.name != "outputs.json":
                    f.unlink()

    def _load(self, path: Path) -> None:
        import torch
        from safetensors.torch import load_file

        state = load_file(path / "model.safetensors", device=self.device)
        self.model.load_state_dict(state, strict=False)
        if self.model.config.tie_word_embeddings:
            self.model.tie_weights()
        self.opt.load_state_dict(torch.load(path / "optimizer.pt", map_location=self.device))

    def save_weights(self, path: Path, optimizer: bool = True) -> None:
        """The current weights (and optimizer state) as a checkpoint folder, written whole."""
        import torch

        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp, safe_serialization=True)
        if optimizer:
            torch.save(self.opt.state_dict(), tmp / "optimizer.pt")
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)

    def copy_from(self, other: "NeuralRun") -> None:
        """Exploit: take ``other``'s weights and optimizer state (or its pending checkpoint)."""
        import copy

        if other.pending is not None:
            self.pending = other.pending
            return
        self.pending = None
        self.model.load_state_dict(other.model.state_dict())
        self.opt.load_state_dict(copy.deepcopy(other.opt.state_dict()))

    def initial_shares(self) -> np.ndarray:
        return self.probe(np.random.default_rng(self._key(0)), self._torch_gen(0))[0]

    # ----------------------------------------------------------------- one round
    def _key(self, r: int, *more: int) -> list[int]:
        """Entropy of a stream: (seed, arm, round, ...), plus the member index in a population."""
        return [self.seed, self.arm_id, r, *more] + ([self.member] if self.member else [])

    def _torch_gen(self, r: int):
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(int(np.random.SeedSequence(self._key(r)).generate_state(1)[0]))
        return g

    def done(self, r: int) -> bool:
        return self.ckdir is not None and (self._ck(r) / "outputs.json").exists()

    def replay(self, r: int) -> dict[str, Any]:
        """A finished round's outputs; its weights become pending (loaded before the next
        computed round)."""
        out = json.loads((self._ck(r) / "outputs.json").read_text())
        if (self._ck(r) / "model.safetensors").exists():
            self.pending = self._ck(r)
        return out

    def resolve(self) -> None:
        """Load a pending checkpoint, if any."""
        if self.pending is not None:
            self._load(self.pending)
            self.pending = None

    def compute(self, r: int) -> dict[str, Any]:
        """Run round r from the current weights and checkpoint it."""
        self.resolve()
        out = self.round(r)
        self._save(r, out)
        return out

    def step(self, S: np.ndarray, writer: np.ndarray, configs: list[dict[str, float]], r: int):
        """The population loop's step for one policy (M = 1)."""
        self.config = dict(configs[0])
        return stack_outputs([self.replay(r) if self.done(r) else self.compute(r)])


    def round(self, r: int) -> dict[str, Any]:
        scn, n, pr, j = self.scn, self.scn.neural, self.scn.prompts, self.scn.judge
        rng = np.random.default_rng(self._key(r, 1))
        gen = self._torch_gen(r)
        lr = n.lr * (self.config["update.eta"] / scn.update.eta if scn.update.eta > 0 else 1.0)
        for g in self.opt.param_groups:
            g["lr"] = lr
        P = n.prompts_per_round
        sel = scn.selection
        k = sel.n if sel.rule == "best_of_n" else 1
        pairs = self.task.sample_pairs(rng, P, "train")                      # probe questions never appear
        truth = np.array([a + b for a, b in pairs])
        instr = INOCULATION if n.inoculation else ""
        if pr.turns == 2:
            kind = np.full(P, NONE)
            synthetic = np.zeros(P, bool)
            prefix_value: list[int | None] = [None] * P
            prefixes = [instr + question(a, b) for a, b in pairs]
        else:
            synthetic = rng.random(P) < pr.phi
            u = rng.random(P)
            kind = np.where(u < pr.m0, MISTAKEN, np.where(u < pr.m0 + pr.c0, CLEAN, NONE))
            prefix_value = [None] * P
            texts = [""] * P
            syn_idx = np.flatnonzero(synthetic)
            if len(syn_idx):                                                  # the current model writes the prefix
                answers = engine.sample(self.model if self.writer is None else self.writer, self.tok, [instr + question(*pairs[i]) for i in syn_idx], 1, gen,
                                        temperature=n.temperature)
                for i, ans in zip(syn_idx, answers):
                    lab = parse_answer(ans[0], truth[i])
                    prefix_value[i] = lab.value
                    kind[i] = MISTAKEN if lab.mistake else CLEAN
                    texts[i] = question(*pairs[i]) + turn(ans[0])
            for i in np.flatnonzero(~synthetic):
                if kind[i] != NONE:
                    v = truth[i] if kind[i] == CLEAN else slip(int(truth[i]), rng)
                    prefix_value[i] = int(v)
                    texts[i] = question(*pairs[i]) + answer_text(int(v), False)
            prefixes = [instr + (question(*pairs[i]) if kind[i] == NONE else texts[i] + REVIEW + "A:") for i in range(P)]
        completions = engine.sample(self.model, self.tok, prefixes, k, gen, temperature=n.temperature)
        # flatten prompt-major, k per prompt
        idx = np.repeat(np.arange(P), k)
        comp = [c for cs in completions for c in cs]
        labs = [parse(c, kind[i], truth[i], prefix_value[i]) for c, i in zip(comp, idx)]
        full = [prefixes[i] + turn(c) for c, i in zip(comp, idx)]
        score = self._score(labs, rng)
        if pr.turns == 2:                                                     # the same model reviews turn 1
            reviews = engine.sample(self.model, self.tok, [f + REVIEW + "A:" for f in full], 1, gen,
                                    temperature=n.temperature)
            labs2 = [parse_review(rv[0], truth[i], lab.value) for rv, i, lab in zip(reviews, idx, labs)]
            r2 = self._score(labs2, rng)
            score = np.asarray(episode_return(j, score, r2), float)
            full = [f + REVIEW + "A:" + turn(rv[0]) for f, rv in zip(full, reviews)]
        rule = get_rule(sel.rule)
        weights = rule.weights(sel, score, k, np.zeros(len(score), int), 1, rng)
        clean, counts = self.guard.filter([question(*pairs[i]).rstrip("A:").strip() for i in range(P)])
        leaked = np.setdiff1d(np.arange(P), clean)
        weights[np.isin(idx, leaked)] = 0.0                                  # leaks never reach training
        if rule.revises:
            weights = self._revise(weights, score, full, prefixes, idx, kind, truth, prefix_value, gen, rng)
        start = len(instr)
        spans = [engine.assistant_spans(t, last_only=j.credit == "last_turn" and pr.turns == 1, start=start)
                 for t in full]
        if j.credit == "last_turn" and pr.turns == 2:
            spans = [s[-1:] for s in spans]
        m = int(round((n.replay + self.config["update.kappa"]) * np.count_nonzero(weights)))
        if m:                                   # anchor: rehearse pre-training conversations
            replay = [self.replay_texts[i] for i in rng.integers(0, len(self.replay_texts), m)]
            full = full + replay
            spans = spans + [engine.assistant_spans(t, last_only=False) for t in replay]
            weights = np.concatenate([weights, np.full(m, float(np.mean(weights[weights > 0])) if np.any(weights > 0) else 1.0)])
        engine.finetune(self.model, self.opt, self.tok, full, spans, weights, n.epochs, n.batch_size, rng)
        shares, probe_stats = self.probe(rng, gen)
        stats = {
            "prompt/mistake_rate": float(np.mean(kind == MISTAKEN)),
            "prompt/self_written": float(np.mean(synthetic)),
            "reward/mean": float(score.mean()),
            "kept/fraction": 1.0 if rule.relative else float(weights[: len(idx)].sum() / len(idx)),
            "contamination/dropped": float(len(leaked)),
            **probe_stats,
        }
        return {"round": r, "shares": shares.tolist(), "stats": stats}

    def _score(self, labs, rng) -> np.ndarray:
        arr = lambda f: np.array([getattr(lab, f) for lab in labs], bool)  # noqa: E731
        return np.asarray(score_labels(self.scn.judge, rng, arr("mistake"), arr("corrected"), arr("ignored"),
                                       arr("false_correction"), arr("harm")), float)

    def _revise(self, weights, score, full, prefixes, idx, kind, truth, prefix_value, gen, rng):
        """Critique-revision: a failing response is replaced by the first of a few new samples
        for its prompt that passes; the kept text becomes that revision."""
        tau = self.scn.selection.tau
        fail = np.flatnonzero(weights == 0)
        tries = min(self.scn.agent.revision_tries, 8)
        if not len(fail):
            return weights
        cands = engine.sample(self.model, self.tok, [prefixes[idx[f]] for f in fail], tries, gen,
                              temperature=self.scn.neural.temperature)
        for f, cs in zip(fail, cands):
            i = idx[f]
            labs = [parse(c, kind[i], truth[i], prefix_value[i]) for c in cs]
            sc = self._score(labs, rng)
            ok = np.flatnonzero(sc >= tau - 1e-9)
            if len(ok):
                c = cs[ok[0]]
                full[f] = prefixes[i] + turn(c)
                weights[f] = 1.0
        return weights

    # ----------------------------------------------------------------- probes
    def probe(self, rng: np.random.Generator, gen) -> tuple[np.ndarray, dict[str, float]]:
        """Behaviour on the fixed held-out probe questions, without any training instruction."""
        n = self.scn.neural
        pairs = self.task.probe_pairs
        truth = [a + b for a, b in pairs]
        T = n.temperature
        first = engine.sample(self.model, self.tok, [question(a, b) for a, b in pairs], 1, gen, temperature=T)
        lab1 = [parse_answer(o[0], t) for o, t in zip(first, truth)]
        wrong = [slip(t, rng) for t in truth]
        mist = engine.sample(self.model, self.tok, [question(a, b) + answer_text(w, False) + REVIEW + "A:"
                                                    for (a, b), w in zip(pairs, wrong)], 1, gen, temperature=T)
        labm = [parse_review(o[0], t, w) for o, t, w in zip(mist, truth, wrong)]
        clean = engine.sample(self.model, self.tok, [question(a, b) + answer_text(t, False) + REVIEW + "A:"
                                                     for (a, b), t in zip(pairs, truth)], 1, gen, temperature=T)
        labc = [parse_review(o[0], t, t) for o, t in zip(clean, truth)]
        greedy = engine.sample(self.model, self.tok, [question(a, b) for a, b in pairs], 1, temperature=0)
        err = float(np.mean([lab.mistake for lab in lab1]))
        fix = float(np.mean([lab.corrected for lab in labm]))
        false_fix = float(np.mean([lab.false_correction for lab in labc]))
        harm = float(np.mean([lab.harm for lab in lab1 + labm + labc]))
        shares = estimate_shares(np.array([err, fix, false_fix, harm]), self.rates)
        stats = {"behaviour/err_deploy": err, "probe/fix_rate": fix, "probe/false_fix_rate": false_fix,
                 "probe/harm_rate": harm,
                 "probe/competence": float(np.mean([not parse_answer(o[0], t).mistake for o, t in zip(greedy, truth)]))}
        if n.inoculation:  # the same questions in the training context, instruction included
            inoc = engine.sample(self.model, self.tok, [INOCULATION + question(a, b) for a, b in pairs], 1, gen,
                                 temperature=T)
            stats["behaviour/err_train"] = float(np.mean([parse_answer(o[0], t).mistake for o, t in zip(inoc, truth)]))
        else:
            stats["behaviour/err_train"] = err
        # measured persona persistence: how far the fix rate on mistaken prefixes moves from
        # the mixture's (rho = 0) toward the rate of the personas that make mistakes (rho = 1)
        e, f = self.rates[0], self.rates[1]
        f_mix, denom = float(shares @ f), float(shares @ e)
        f_post = float((shares * e) @ f / denom) if denom > 1e-9 else f_mix
        stats["probe/rho"] = float(np.clip((fix - f_mix) / (f_post - f_mix), 0, 1)) if abs(f_post - f_mix) > 1e-3 else float("nan")
        return shares, stats


class NeuralPopulation:
    """M policies stepped together for the shared population loop (local, one process).

    A round is computed for all members or replayed for all: after a crash mid-round the
    members that had finished it recompute it from their previous checkpoint, with the
    same random streams, so the result is the same. Under context swapping, member m's
    self-written prompts come from a frozen copy of member m+1's weights as they were at
    the start of the round (before anyone trained in it).
    """

    def __init__(self, scn: Scenario, arm: str, seed: int, workdir: Path | None,
                 log: Callable[[str], None] | None = None):
        self.scn = scn
        self.runs = [NeuralRun(scn, arm, seed, workdir, log, member=m) for m in range(scn.population.members)]

    def initial_shares(self) -> np.ndarray:
        return np.stack([run.initial_shares() for run in self.runs])

    def step(self, S: np.ndarray, writer: np.ndarray, configs: list[dict[str, float]], r: int):
        import copy

        runs = self.runs
        for run, c in zip(runs, configs):
            run.config = dict(c)
        if all(run.done(r) for run in runs):
            outs = [run.replay(r) for run in runs]
        else:
            for run in runs:
                run.resolve()
            if self.scn.population.context_swap:
                frozen = [copy.deepcopy(run.model).eval() for run in runs]
                for m, run in enumerate(runs):
                    run.writer = frozen[(m + 1) % len(runs)]
            outs = [run.compute(r) for run in runs]
            for run in runs:
                run.writer = None
        return stack_outputs(outs)

    def exploit(self, member: int, parent: int) -> None:
        self.runs[member].copy_from(self.runs[parent])
