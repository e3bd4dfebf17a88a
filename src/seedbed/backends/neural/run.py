"""The neural pipeline's orchestration: one member's rounds and a population's.

A round of :class:`NeuralRun` reads top to bottom, one module per stage:

    prompts    (:mod:`.prompts`)    fresh questions and review prompts, some self-written
    samples    (:mod:`.sampling`)   n episodes per prompt from the member's model
    judge      (:mod:`.judging`)    parse every turn, score it with the shared reward table
    selection  (:mod:`.selection`)  the scenario's rule object weights the episodes
    update     (:mod:`.update`)     fine-tune on the kept episodes, with rehearsal
    probes     (:mod:`.probes`)     exact behaviour rates on held-out questions → shares
               (:mod:`.twincheck`)  opt-in: the twin test on those questions (``leak/`` rows)

After the probes, the round measures its own effective step (:func:`.update.step_size`):
how far the exact rates moved from the previous probe toward what was trained on, as the
mean-field's eta and kappa (``probe/eta_eff``, ``probe/kappa_eff``), which the mean-field
prediction of the run then uses (:mod:`seedbed.analyses.prediction`).

Randomness: each stage of round r draws from its own named stream of the member's node
of the seed tree, ``rep.streams.child("member", m).child("round", r)`` → ``.rng(stage)``
for numpy and a torch generator seeded with ``.int_seed(stage)``. A round's result
depends only on the weights it starts from and these streams, so a round recomputed
after a crash, or by a Ray Tune trial, gives the same result.

A pretrained chat model (``neural.model`` a folder whose tokenizer has a chat template,
e.g. SmolLM2-135M-Instruct) goes through the same stages in its chat template
(:mod:`.chat`), fine-tuned with LoRA adapters (``neural.lora_r``, ``neural.lora_alpha``):
the optimizer holds the adapters only, and checkpoints keep only them.

Every round is checkpointed (:mod:`.checkpoints`); a rerun restores finished rounds and
computes the rest. :class:`NeuralPopulation` steps M members together for the shared
population loop (:func:`seedbed.backends.population.run_members`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedbed.core.config import Scenario
from seedbed.stages.contamination import Guard, with_canary
from seedbed.core.seeds import Streams
from seedbed.results.writing import write_text
from seedbed.stages.selection import get_rule
from seedbed.backends.neural.chat import reply_settings
from seedbed.backends.neural.checkpoints import RoundCheckpoints, read_weights, write_weights
from seedbed.backends.neural.judging import judge_episodes
from seedbed.backends.neural.model import chat_folder, device_of, trainable_parameters
from seedbed.backends.neural.pretrain import TASK_SEED, rehearsal_texts
from seedbed.backends.neural.fidelity import NAMES
from seedbed.backends.neural.probes import probe, rates_dict
from seedbed.backends.neural.prompts import MISTAKEN, RoundPrompts, build_prompts, probe_item
from seedbed.backends.neural.sampling import Episodes, sample_episodes
from seedbed.backends.neural.selection import Redraw, select_episodes
from seedbed.backends.neural.task import Task
from seedbed.backends.neural.twincheck import TwinCheck
from seedbed.backends.neural.update import fine_tune, set_learning_rate, step_size


@dataclass
class Setup:
    """What every member of one repetition shares, built once: the base model's folder, the
    device, the task (its probe split is fixed), the contamination guard over the probe
    questions and the rehearsal conversations (rendered in the chat template for a chat
    model: ``chat``)."""

    scn: Scenario
    base: Path
    device: str
    task: Task
    guard: Guard
    rehearsal: list[str]
    chat: bool = False

    @classmethod
    def build(cls, scn: Scenario, base: Path, root_seed: int) -> "Setup":
        n = scn.neural
        task = Task(n.max_number, n.probe_size, seed=TASK_SEED)
        # probe questions must never reach training: all arithmetic items share one template,
        # so the guard matches items exactly (after normalising) instead of by template
        guard = Guard([probe_item(a, b) for a, b in task.probe_pairs], use_template=False)
        texts = rehearsal_texts(scn, task, root_seed)
        keep, _ = guard.filter([t.split("\n")[0] for t in texts])          # rehearsal must not leak either
        guard.dropped.clear()
        texts = [texts[i] for i in keep]
        chat = chat_folder(base)
        if chat:
            from transformers import AutoTokenizer

            from seedbed.backends.neural.chat import render_task
            from seedbed.backends.neural.model import quiet

            quiet()
            tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
            texts = [render_task(tok, t) for t in texts]
        return cls(scn, Path(base), device_of(scn), task, guard, texts, chat)

    def lora(self, seed: int) -> Any:
        """The LoRA settings a member's model is wrapped in (None: fine-tune every weight):
        a chat model with ``neural.lora_r`` > 0; ``seed`` initialises the adapters."""
        n = self.scn.neural
        if not self.chat or n.lora_r == 0:
            return None
        from seedbed.backends.neural.model import LoraSettings
        return LoraSettings(r=n.lora_r, alpha=n.lora_alpha, seed=seed)


def write_probe_file(workdir: Path, scn: Scenario) -> None:
    """probes.jsonl in the run folder: the held-out probe items, each carrying the canary,
    so any later training set can be checked against them."""
    n = scn.neural
    task = Task(n.max_number, n.probe_size, seed=TASK_SEED)
    lines = [json.dumps(with_canary({"input": probe_item(a, b), "target": str(a + b)})) for a, b in task.probe_pairs]
    write_text(workdir / "probes.jsonl", "\n".join(lines) + "\n")      # atomic: side-by-side repetitions race


def stack_outputs(outs: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Members' round outputs as the population loop's step result: shares (M, K), stats
    name → (M,), and keep rates (M, K), all NaN: a model's keep rate per persona is not observed."""
    S = np.array([o["shares"] for o in outs])
    stats = {k: np.array([o["stats"][k] for o in outs]) for k in outs[0]["stats"]}
    return S, stats, np.full_like(S, np.nan)


def round_outputs(r: int, prompts: RoundPrompts, score: np.ndarray, weights: np.ndarray, relative: bool,
                  shares: np.ndarray, probe_stats: dict[str, float]) -> dict[str, Any]:
    """What a round reports (and checkpoints): the measured shares and the round's stats."""
    stats = {
        "prompt/mistake_rate": float(np.mean(prompts.prefix == MISTAKEN)),
        "prompt/self_written": float(np.mean(prompts.self_written)),
        "reward/mean": float(score.mean()),
        "kept/fraction": 1.0 if relative else float(weights.sum() / len(weights)),
        "contamination/dropped": float(prompts.leaked.sum()),
        **probe_stats,
    }
    return {"round": r, "shares": shares.tolist(), "stats": stats}


class NeuralRun:
    """One policy (one arm × seed × population member) of the pipeline on a real model.

    ``config`` holds the member's explorable hyperparameters: ``update.eta`` scales the
    learning rate relative to the scenario's (so PBT's explore perturbs the learning rate)
    and ``update.kappa`` adds rehearsal of pre-training conversations (the anchor).
    ``writer``: the model that writes this member's self-written prompts (None: its own;
    under context swapping, a rival's start-of-round copy).
    """

    def __init__(self, setup: Setup, streams: Streams, checkpoints: RoundCheckpoints | None = None, member: int = 0):
        import torch

        from seedbed.backends.neural.model import load

        scn = setup.scn
        self.setup, self.scn, self.streams, self.checkpoints, self.member = setup, scn, streams, checkpoints, member
        self.model, self.tok = load(setup.base, setup.device, lora=setup.lora(streams.int_seed("lora")))
        self.opt = torch.optim.AdamW(trainable_parameters(self.model), lr=scn.neural.lr, weight_decay=0.0)
        self.rule = get_rule(scn.selection.rule)
        self.config = {"update.eta": scn.update.eta, "update.kappa": scn.update.kappa}
        self.writer: Any = None
        self.pending: Path | None = None       # a restored round's weights, loaded before the next computed round
        self.before: np.ndarray | None = None  # exact behaviour rates of the current weights (the last probe)
        self.before_key: Any = None            # the weights they belong to (fingerprint; "restored": pending)
        self.initial_stats: dict[str, float] = {}
        every = scn.neural.twin_test_every                 # the twin test on the probe questions (opt-in)
        self.twins = TwinCheck.build(setup.task.probe_pairs, scn.neural.max_number, self.tok, streams) \
            if every else None

    # ----------------------------------------------------------------- one round
    def round(self, r: int) -> dict[str, Any]:
        """Round r from the current weights: prompts → samples → judge → selection → update → probes."""
        scn, n, s = self.scn, self.scn.neural, self.streams.child("round", r)
        set_learning_rate(self.opt, self.learning_rate())
        writer = self.model if self.writer is None else self.writer
        prompts = build_prompts(scn, self.setup.task, self.setup.guard, writer, self.tok, s.rng("prompts"),
                                self.generator(s, "prompts"))
        episodes = sample_episodes(self.model, self.tok, prompts, self.rule.responses_per_prompt(scn.selection),
                                   scn.prompts.turns, self.generator(s, "samples"), n.temperature,
                                   **reply_settings(scn, self.tok))
        score = judge_episodes(scn.judge, prompts, episodes, s.rng("judge"))
        weights, texts = select_episodes(self.rule, scn.selection, prompts, episodes, score, s.rng("selection"),
                                         self.redraw(prompts, s), scn.agent.revision_tries)
        before = self.current_rates()
        _, mix = fine_tune(self.model, self.opt, self.tok, texts, weights, scn.judge.credit, len(prompts.instruction),
                           self.setup.rehearsal, n.replay + self.config["update.kappa"], n.epochs, n.batch_size,
                           s.rng("update"), warmup=n.warmup_steps)
        shares, probe_stats, rates = self.measure(s)
        probe_stats.update(step_size(before, rates.mean, mix))
        probe_stats.update(self.twin_stats(r))
        self.before, self.before_key = rates.mean, fingerprint(self.model)
        out = round_outputs(r, prompts, score, weights, self.rule.relative, shares, probe_stats)
        out["rates"] = rates_dict(rates)
        return out

    def current_rates(self) -> np.ndarray:
        """The exact behaviour rates of the current weights: the last probe's, or measured now
        (after a restore whose outputs predate them)."""
        key = fingerprint(self.model)
        if self.before is None or self.before_key != key:
            from seedbed.backends.neural.fidelity import model_rates
            self.before, self.before_key = model_rates(self.model, self.tok, self.setup.task).mean, key
        return self.before

    def learning_rate(self) -> float:
        """neural.lr × (the member's eta / the scenario's eta): PBT's explore scales it."""
        return self.scn.neural.lr * self.config["update.eta"] / self.scn.update.eta

    def generator(self, streams: Streams, stage: str) -> Any:
        """A torch generator on the model's device for one stage's sampling."""
        import torch

        return torch.Generator(device=self.setup.device).manual_seed(streams.int_seed(stage))

    def redraw(self, prompts: RoundPrompts, s: Streams) -> Redraw:
        """Critique-revision's candidates: fresh episodes for some prompts, judged (on the
        selection stage's streams)."""
        rng, gen = s.rng("selection", "revisions"), self.generator(s, "selection")

        def draw(idx: np.ndarray, tries: int) -> tuple[Episodes, np.ndarray]:
            some = prompts.take(idx)
            eps = sample_episodes(self.model, self.tok, some, tries, self.scn.prompts.turns, gen,
                                  self.scn.neural.temperature, **reply_settings(self.scn, self.tok))
            return eps, judge_episodes(self.scn.judge, some, eps, rng)

        return draw

    def measure(self, s: Streams) -> tuple[np.ndarray, dict[str, float], Any]:
        """The probes stage: measured shares, probe stats and exact rates of the current
        weights (exact: nothing is drawn, so ``s`` is not used)."""
        return probe(self.model, self.tok, self.setup.task, self.scn, self.scn.neural.inoculation)

    def twin_stats(self, r: int) -> dict[str, float]:
        """The twin test's ``leak/`` stats of the current weights when round ``r`` is due one
        (``neural.twin_test_every`` = k: round 0 and every k-th round), else nothing
        (:mod:`.twincheck`)."""
        every = self.scn.neural.twin_test_every
        if self.twins is None or r % every:
            return {}
        return self.twins.stats(self.model, self.tok)

    def initial_shares(self) -> np.ndarray:
        """The base model's measured shares (round 0); its probe stats stay in ``initial_stats``.

        Kept with the checkpoints (round 0: outputs only, no weights), so a repetition
        resumed, or read again at a later look of a sequential run, does not probe its
        base again (on SmolLM2 that costs about half a round)."""
        if self.finished(0):
            out = self.checkpoints.outputs(0)
            self.initial_stats, rates = out["stats"], out["rates"]
            self.before, self.before_key = np.array([rates[k] for k in NAMES]), fingerprint(self.model)
            return np.array(out["shares"])
        shares, self.initial_stats, rates = self.measure(self.streams.child("round", 0))
        self.initial_stats.update(self.twin_stats(0))
        self.before, self.before_key = rates.mean, fingerprint(self.model)
        if self.checkpoints is not None:
            self.checkpoints.save_outputs(0, {"round": 0, "shares": np.asarray(shares).tolist(),
                                              "stats": self.initial_stats, "rates": rates_dict(rates)})
        return shares

    # ----------------------------------------------------------------- resume
    def finished(self, r: int) -> bool:
        """Whether round r is in the checkpoints already (an earlier, interrupted run finished it)."""
        return self.checkpoints is not None and self.checkpoints.finished(r)

    def restore(self, r: int) -> dict[str, Any]:
        """A finished round's outputs; its weights (if kept) become pending."""
        assert self.checkpoints is not None
        if self.checkpoints.has_weights(r):
            self.pending = self.checkpoints.path(r)
        out = self.checkpoints.outputs(r)
        rates = out.get("rates")
        self.before = np.array([rates[k] for k in NAMES]) if rates and all(k in rates for k in NAMES) else None
        self.before_key = "restored" if self.pending is not None else None
        return out

    def load_pending(self) -> None:
        """Load a restored round's weights and optimizer state, if any are pending."""
        if self.pending is not None:
            read_weights(self.pending, self.model, self.opt)
            self.pending = None
            if self.before_key == "restored":
                self.before_key = fingerprint(self.model)

    def compute(self, r: int) -> dict[str, Any]:
        """Run round r from the current weights and checkpoint it."""
        self.load_pending()
        out = self.round(r)
        if self.checkpoints is not None:
            self.checkpoints.save(r, self.model, self.tok, self.opt, out)
        return out

    def refuse_weightless(self, r: int) -> None:
        """Refuse to compute round r of a single policy when round r − 1 was restored from
        outputs whose weights are gone (a run folder copied without its weight files): the
        round would train the base instead, silently. A round this run computed, or restored
        with its weights, leaves them (checkpoints keep at least the last round's)."""
        cp = self.checkpoints
        if cp is None or r < 2 or self.finished(r) or not cp.finished(r - 1) or cp.has_weights(r - 1):
            return
        from seedbed.core.schema import ScenarioError
        raise ScenarioError(f"{cp.path(r - 1)}: round {r - 1} has outputs but no weights, so round {r} cannot "
                            f"continue from it; delete {cp.folder} to run this repetition again")

    def advance(self, r: int) -> dict[str, Any]:
        """Round r's outputs: restored if finished, else computed."""
        return self.restore(r) if self.finished(r) else self.compute(r)

    def step(self, S: np.ndarray, writer: np.ndarray, configs: list[dict[str, float]], r: int):
        """The population loop's step for one policy (M = 1)."""
        self.config = dict(configs[0])
        self.refuse_weightless(r)
        return stack_outputs([self.advance(r)])

    # ----------------------------------------------------------------- weights
    def copy_from(self, other: "NeuralRun") -> None:
        """Exploit: take ``other``'s weights and optimizer state (or its pending checkpoint)."""
        self.before = None if other.before is None else other.before.copy()
        self.before_key = other.before_key
        if other.pending is not None:
            self.pending = other.pending
            return
        self.pending = None
        self.model.load_state_dict(other.model.state_dict())
        self.opt.load_state_dict(copy.deepcopy(other.opt.state_dict()))

    def write_weights(self, path: Path, optimizer: bool = True) -> None:
        """The current weights (and optimizer state) as a checkpoint folder, written whole."""
        write_weights(path, self.model, self.opt if optimizer else None)


def fingerprint(model: Any) -> tuple[float, ...]:
    """A cheap fingerprint of a model's trainable weights (which weights a set of measured
    rates belongs to; a LoRA model's frozen base never changes)."""
    import torch

    with torch.no_grad():
        return tuple(float(p.double().sum()) for p in trainable_parameters(model))


def member_run(setup: Setup, streams: Streams, workdir: Path | None, arm: str, seed: int, member: int) -> NeuralRun:
    """Member ``member`` of one repetition (streams: the repetition's node of the seed tree)."""
    return NeuralRun(setup, streams.child("member", member),
                     RoundCheckpoints.of(workdir, arm, seed, member, setup.scn), member)


class NeuralPopulation:
    """M policies stepped together for the shared population loop (local, one process).

    A round is computed for all members or restored for all: after a crash mid-round the
    members that had finished it recompute it from their previous checkpoint, with the
    same random streams, so the result is the same. Under context swapping, member m's
    self-written prompts come from a frozen copy of member m+1's weights as they were at
    the start of the round (before anyone trained in it).
    """

    def __init__(self, setup: Setup, streams: Streams, workdir: Path | None, arm: str, seed: int):
        self.scn = setup.scn
        self.runs = [member_run(setup, streams, workdir, arm, seed, m) for m in range(self.scn.population.members)]

    def initial_shares(self) -> np.ndarray:
        return np.stack([run.initial_shares() for run in self.runs])

    def step(self, S: np.ndarray, writer: np.ndarray, configs: list[dict[str, float]], r: int):
        runs = self.runs
        for run, c in zip(runs, configs):
            run.config = dict(c)
        if all(run.finished(r) for run in runs):
            return stack_outputs([run.restore(r) for run in runs])
        for run in runs:
            run.load_pending()
        if self.scn.population.context_swap:                # writers: rivals' start-of-round weights
            frozen = [copy.deepcopy(run.model).eval() for run in runs]
            for m, run in enumerate(runs):
                run.writer = frozen[(m + 1) % len(runs)]
        outs = [run.compute(r) for run in runs]
        for run in runs:
            run.writer = None
        return stack_outputs(outs)

    def exploit(self, member: int, parent: int) -> None:
        self.runs[member].copy_from(self.runs[parent])
