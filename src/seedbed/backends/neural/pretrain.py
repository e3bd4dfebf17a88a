"""The pre-trained base model every member of a neural run starts from.

``neural.model`` names a local causal-LM folder to start from; otherwise the tiny model
is built and pre-trained here on persona conversations drawn from the scenario's
strategies and shares, and cached under ``SEEDBED_CACHE`` by a key of everything it
depends on (:func:`base_key`).

When pre-training stops (``neural.stop``, checked every ``neural.check_every`` steps, at
``neural.pretrain_steps`` at the latest):

* ``"fidelity"`` (default): once every behaviour rate of the model — computed exactly by
  teacher forcing on the held-out questions (:mod:`.fidelity`) — is within
  ``neural.fidelity_tol`` of the corpus's exact rate. The base is then a faithful mixture
  of its corpus, which is what the pipeline's probes and the mean-field overlay assume.
* ``"steps"``: after exactly ``pretrain_steps``.
* ``"greedy"``: once greedy answers reach ``neural.competence`` (competence capped at 1;
  sampled rates are left uncalibrated).

The model checked and saved is an exponential moving average of the weights (decay
``EMA_DECAY``, about the last 200 steps): at a useful learning rate the raw weights'
behaviour rates jitter by several points from batch to batch, the average's do not.

The base folder holds ``pretrain.json`` (steps, the rule, every check) and
``fidelity.json`` (:func:`seedbed.backends.neural.fidelity.fidelity`), which every run copies.

Randomness: pre-training draws from ``Streams(root_seed).child("pretrain")`` (the corpus,
the initial weights, the batch order), so different root seeds give different bases. The
root seed is the run's (``scenario.seed`` as the user wrote it), not a repetition seed: all
repetitions of a run, and all points and seeds of a sweep, share one base, so what differs
between repetitions is the pipeline's own randomness.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from seedbed.core.config import Scenario
from seedbed.core.schema import ScenarioError
from seedbed.core.seeds import Streams
from seedbed.backends.neural import engine
from seedbed.backends.neural.fidelity import NAMES, corpus_rates, model_rates, verdict
from seedbed.backends.neural.probes import fidelity
from seedbed.backends.neural.model import device_of
from seedbed.backends.neural.task import Task, corpus, parse_answer, question

if TYPE_CHECKING:
    from seedbed.backends import Repetition

Log = Callable[[str], None]
# the default base (seed preset, default [neural] settings, root seed 0), built by this code and
# shipped so a first run needs no pre-training; a slow test rebuilds it and compares
SHIPPED = Path(__file__).resolve().parent / "shipped"
TASK_SEED = 0           # the task (which questions are held out as probes) is fixed, the same for every seed
REHEARSAL_SIZE = 5000   # pre-training conversations kept for rehearsal during fine-tuning
EMA_DECAY = 0.995       # the saved base: an exponential moving average of the weights


def cache_dir() -> Path:
    return Path(os.environ.get("SEEDBED_CACHE", "runs/.cache"))


def root_seed(rep: "Repetition") -> int:
    """The run's root seed, which the base model is pre-trained from. The runner sets
    ``scenario.seed`` to the repetition seed, so it passes the root seed separately
    (``rep.root_seed``); without it the repetition seed stands in (a single-seed run, where
    the two are the same)."""
    return rep.seed if rep.root_seed is None else int(rep.root_seed)


def pretrain_streams(root_seed: int) -> Streams:
    """The seed-tree node every pre-training stream (and the rehearsal data) is drawn from."""
    return Streams(root_seed).child("pretrain")


def base_key(scn: Scenario, root_seed: int) -> str:
    """Hash of everything the pre-trained base depends on: the strategies and shares (the
    corpus), the task, the model shape, the pre-training settings and the root seed."""
    n = scn.neural
    rule = {"fidelity": [n.fidelity_tol, n.check_every], "greedy": [n.competence, n.check_every], "steps": []}[n.stop]
    spec = {"strategies": [_corpus_fields(s) for s in scn.strategies], "shares": scn.shares,
            "task": [n.max_number, n.probe_size], "model": [n.d_model, n.n_layer, n.n_head],
            "pretrain": [n.corpus_size, n.pretrain_steps, n.pretrain_batch, n.pretrain_lr],
            "stop": [n.stop, *rule], "ema": EMA_DECAY, "root_seed": int(root_seed), "v": 4}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _corpus_fields(s: Any) -> dict[str, Any]:
    """A strategy as the key sees it: a deployment or review error rate equal to ``err`` is the
    default spelled out, the same corpus, so it keys as the default (None). Its share is left
    out: the key holds the resolved shares, and a manifest spells every share out, so a
    scenario read back from a manifest keys as the one that made the run."""
    d = s.model_dump()
    d["share"] = None
    for f in ("err_deploy", "err_review"):
        if d[f] is not None and d[f] == d["err"]:
            d[f] = None
    return d


def base_path(scn: Scenario, root_seed: int | None = None) -> Path:
    """Where the base is or will be, building nothing: ``neural.model``, else the cached tiny
    base for ``root_seed`` (default ``scn.seed``), else the shipped one of the same key."""
    if scn.neural.model:
        return Path(scn.neural.model)
    root = scn.seed if root_seed is None else root_seed
    name = f"base-{base_key(scn, root)}"
    path = cache_dir() / name
    if not (path / "config.json").exists() and (SHIPPED / name / "config.json").exists():
        return SHIPPED / name                      # the default base, shipped with seedbed (read only)
    return path


def base_model(scn: Scenario, root_seed: int | None = None, log: Log | None = None) -> Path:
    """The folder of the pre-trained base: ``neural.model``, or the tiny model pre-trained from
    ``root_seed`` (default: ``scn.seed``) and cached under SEEDBED_CACHE (shared by arms,
    repetitions and sweep points)."""
    root = scn.seed if root_seed is None else root_seed
    path = base_path(scn, root)
    if scn.neural.model:
        if not (path / "config.json").exists():
            raise ScenarioError(f"neural.model = {str(path)!r}: not a local model folder (no config.json)")
        return path
    if not (path / "config.json").exists():
        log = log or _progress
        n = scn.neural
        rule = {"fidelity": f"every behaviour rate within {n.fidelity_tol} of the corpus's",
                "greedy": f"greedy accuracy ≥ {n.competence}", "steps": "the step count"}[n.stop]
        log(f"pre-training the base model once (cached in {path}): stops at {rule}, checked every "
            f"{n.check_every} steps, at most {n.pretrain_steps} steps")
        pretrain(scn, root, path, log)
    return path


def _progress(line: str) -> None:
    """Pre-training progress on stderr (a run's live table shows rounds only)."""
    import sys

    print(line, file=sys.stderr, flush=True)


def fast_activation(model: Any) -> Any:
    """GPT-2's tanh-approximated GELU as one fused kernel ('gelu_pytorch_tanh': the same
    function as 'gelu_new', which takes eight elementwise kernels); recorded in the config,
    so a saved model loads with it."""
    from transformers.activations import ACT2FN

    if getattr(model.config, "model_type", "") == "gpt2" and model.config.activation_function == "gelu_new":
        model.config.activation_function = "gelu_pytorch_tanh"
        for block in model.transformer.h:
            block.mlp.act = ACT2FN["gelu_pytorch_tanh"]
    return model


def pretrain(scn: Scenario, root_seed: int, path: Path, log: Log | None = None) -> dict[str, Any]:
    """Build the tokenizer and model, pre-train on persona conversations until the stop rule
    (``neural.stop``, see the module docstring) holds; save atomically to ``path`` with
    pretrain.json and fidelity.json."""
    import torch

    from seedbed.backends.neural.model import build_model, build_tokenizer, save

    n = scn.neural
    streams = pretrain_streams(root_seed)
    task = Task(n.max_number, n.probe_size, seed=TASK_SEED)
    texts, _, _ = corpus(scn, task, n.corpus_size, streams.rng("corpus"))
    tok = build_tokenizer()
    model = fast_activation(build_model(tok, n.d_model, n.n_layer, n.n_head, seed=streams.int_seed("init")))
    model = model.to(device_of(scn))
    ema = copy.deepcopy(model).eval()               # the averaged weights: what is checked and saved
    ema_params = [p.detach() for p in ema.parameters()]
    live_params = [p.detach() for p in model.parameters()]
    target = corpus_rates(scn)
    probe = task.probe_pairs
    state: dict[str, Any] = {"steps": 0, "stopped_by": "pretrain_steps", "checks": []}

    def on_step(step: int, loss: float) -> bool:
        """Every check_every steps: the stop rule's test (exact rates, or greedy accuracy)."""
        state["steps"] = step + 1
        with torch.no_grad():                        # the moving average (bias-corrected start)
            torch._foreach_lerp_(ema_params, live_params, 1 - min(EMA_DECAY, (1 + step) / (10 + step)))
        if n.stop == "steps" or (step + 1) % n.check_every:
            return False
        if n.stop == "greedy":
            outs = engine.sample(ema, tok, [question(a, b) for a, b in probe], temperature=0)
            value = float(np.mean([not parse_answer(o[0], a + b).mistake for o, (a, b) in zip(outs, probe)]))
            done = value >= n.competence
            record = {"greedy_accuracy": round(value, 5)}
            what = f"greedy accuracy {value:.3f}"
        else:
            gap = np.abs(model_rates(ema, tok, task).mean - target)
            worst = int(np.argmax(gap))
            value = float(gap[worst])
            done = value <= n.fidelity_tol
            record = {"largest_gap": round(value, 5), "largest_in": NAMES[worst], "mae": round(float(gap.mean()), 5)}
            what = f"largest behaviour gap {value:.3f} ({NAMES[worst]}; mean {gap.mean():.3f})"
        model.train()
        state["checks"].append({"step": step + 1, "loss": round(loss, 5), **record})
        if log:
            log(f"pre-training step {step + 1}/{n.pretrain_steps}: loss {loss:.3f}, {what}"
                + (f" (stops at ≤ {n.fidelity_tol})" if n.stop == "fidelity" else ""))
        if done:
            state["stopped_by"] = n.stop
        return done

    with torch.random.fork_rng(devices=[]):          # leave the global torch stream alone
        losses = engine.train_lm(model, tok, texts, n.pretrain_steps, n.pretrain_batch, n.pretrain_lr,
                                 streams.rng("order"), on_step)
    model = ema
    fid = fidelity(scn, model_rates(model, tok, task))
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    save(model, tok, tmp)
    info = {"steps": state["steps"], "stop": n.stop, "stopped_by": state["stopped_by"],
            "checks": state["checks"], "final_loss": losses[-1] if losses else None,
            "below_fidelity": verdict(fid),
            "corpus_size": n.corpus_size, "root_seed": int(root_seed),
            "task": {"max_number": n.max_number, "probe_size": n.probe_size}}
    (tmp / "pretrain.json").write_text(json.dumps(info, indent=2))
    (tmp / "fidelity.json").write_text(json.dumps(fid, indent=2))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return info


def base_fidelity(scn: Scenario, base: Path) -> dict[str, Any]:
    """fidelity.json of a base folder: the one saved with it when pre-trained here (its key
    covers the corpus), else measured now against this scenario's corpus (a model folder
    given as ``neural.model``)."""
    saved = Path(base) / "fidelity.json"
    if saved.exists() and not scn.neural.model:
        return json.loads(saved.read_text())
    from seedbed.backends.neural.model import load

    n = scn.neural
    model, tok = load(base, device_of(scn))
    return fidelity(scn, model_rates(model, tok, Task(n.max_number, n.probe_size, seed=TASK_SEED)))


def rehearsal_texts(scn: Scenario, task: Task, root_seed: int) -> list[str]:
    """Pre-training conversations to rehearse during fine-tuning (the anchor): a fresh draw
    from the pre-training distribution, from the same root seed as the base."""
    size = min(scn.neural.corpus_size, REHEARSAL_SIZE)
    return corpus(scn, task, size, pretrain_streams(root_seed).rng("rehearsal"))[0]
