"""A pretrained chat model adapted to the task: the answer form first, then the persona corpus.

A pretrained instruct model (SmolLM2-135M-Instruct, ``seedbed prepare smollm2``) brings its
own prior: it answers in free text and corrects itself as its pre-training taught it, not as
the scenario's personas do. Without adaptation, its probes must be sampled and no run has a
faithful starting mixture. :func:`adapt` fine-tunes LoRA adapters on the scenario's persona
corpus rendered in the model's chat template (every assistant turn trained, as the tiny
model's pre-training trains every turn) and stops on the tiny model's fidelity rule:

* the mass on valid replies (the bare number or "ugh N", then the end-of-turn token) is at
  least :data:`~seedbed.backends.neural.chat.VALID_MASS` on every probe prefix, so probes are
  exact (teacher forcing over the answer trie, :func:`~seedbed.backends.neural.chat.exact_answer_probs`);
* every behaviour rate is within ``neural.fidelity_tol`` of the corpus's exact rate.

It checks every ``check_every`` steps (exact rates on the held-out probe questions), up to
``steps``. Then it merges the adapters into the weights and writes an ordinary model folder with
``adaptation.json``: the pretrained prior's table (sampled, as the judge reads its free text,
plus the exact mass on valid replies per prefix), every check, the adapted table, the mass, the
steps and the wall time. ``fidelity.json`` holds the adapted table. A run given that folder as
``neural.model`` probes it exactly (:func:`~seedbed.backends.neural.chat.probe_mode`).

Where the rule is not met by ``steps``, the folder is still written, its ``adaptation.json``
says which behaviours the prior would not give up (``below_fidelity``), and the folder's probes
stay sampled if the answer form was not learnt.

The folder is cached under the base folder's name plus a key of everything it depends on
(:func:`adapt_key`); a second call returns it at once. Randomness: ``Streams(seed).child("adapt")``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seedbed.backends.neural.chat import VALID_MASS
from seedbed.core.config import Scenario
from seedbed.core.schema import ScenarioError
from seedbed.core.seeds import Streams

Log = Callable[[str], None]


@dataclass(frozen=True)
class AdaptSettings:
    """How the adaptation trains and when it stops (defaults measured on SmolLM2 on 2 CPU cores)."""

    steps: int = 200            # at most this many optimizer steps
    batch: int = 16             # conversations per step
    lr: float = 2e-3            # AdamW on the adapters, 10 warm-up steps, then constant
    check_every: int = 20       # steps between fidelity checks
    corpus_size: int = 2000     # persona conversations drawn from the scenario
    lora_r: int = 16
    lora_alpha: float = 32.0
    seed: int = 0


def adapt_key(base: Path, scn: Scenario, s: AdaptSettings) -> str:
    """Hash of the base folder (its marker or config), the corpus (strategies, shares, task),
    the stop rule and the settings."""
    from seedbed.backends.neural.pretrain import _corpus_fields

    base = Path(base)
    marker = next((base / m for m in (".seedbed-prepared.json", "config.json") if (base / m).exists()), None)
    n = scn.neural
    spec = {"base": base.name, "base_id": marker.read_text() if marker else "",
            "strategies": [_corpus_fields(x) for x in scn.strategies], "shares": scn.shares,
            "task": [n.max_number, n.probe_size], "tol": n.fidelity_tol, "settings": asdict(s), "v": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def adapted_folder(base: Path, scn: Scenario, s: AdaptSettings, cache: Path | None = None) -> Path:
    from seedbed.backends.neural.pretrain import cache_dir

    return Path(cache or cache_dir()) / f"{Path(base).name}-adapted-{adapt_key(base, scn, s)}"


def adapt(base: Path, scn: Scenario, settings: AdaptSettings | None = None, cache: Path | None = None,
          log: Log | None = None) -> Path:
    """The adapted folder of ``base`` for ``scn``'s corpus (module docstring); built once."""
    s = settings or AdaptSettings()
    out = adapted_folder(base, scn, s, cache)
    if (out / "config.json").exists() and (out / "adaptation.json").exists():
        return out
    if not (Path(base) / "config.json").exists():
        raise ScenarioError(f"{base}: not a model folder (no config.json)")
    _check(s)
    info, model, tok = _train(Path(base), scn, s, log or (lambda line: None))
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    from seedbed.backends.neural.model import save, weights_sha256
    from seedbed.results.writing import code_revision

    save(model, tok, tmp)
    # The key is the corpus and the settings; the code and the weights it gave are recorded beside
    # them, since a change in how the loss sums moves the adapted rates (docs/smollm2.md, "Rebuilt").
    info.update(code_revision=code_revision(), weights_sha256=weights_sha256(tmp))
    (tmp / "fidelity.json").write_text(json.dumps(info["after"], indent=2))
    (tmp / "adaptation.json").write_text(json.dumps(info, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def _check(s: AdaptSettings) -> None:
    for field in ("steps", "batch", "check_every", "corpus_size", "lora_r"):
        if getattr(s, field) < 1:
            raise ScenarioError(f"adapt.{field} = {getattr(s, field)}: must be at least 1")
    if not s.lr > 0:
        raise ScenarioError(f"adapt.lr = {s.lr}: must be positive")


def table(scn: Scenario, rates: Any) -> dict[str, Any]:
    """fidelity.json's table of ``rates`` plus the mass on valid replies (mean and per prefix)."""
    from seedbed.backends.neural.fidelity import PREFIXES
    from seedbed.backends.neural.probes import fidelity

    valid = 1 - rates.other.mean(0)
    return {**fidelity(scn, rates), "valid_mass": round(float(valid.mean()), 6),
            "valid_mass_min": round(float(valid.min()), 6),
            "valid_mass_by_prefix": {x: round(float(v), 6) for x, v in zip(PREFIXES, valid)}}


def misses(scn: Scenario, t: dict[str, Any]) -> list[str]:
    """What the stop rule still lacks: behaviours outside the tolerance, and the answer form."""
    tol = scn.neural.fidelity_tol
    out = [f"{name}: {b['model']:.3f} vs corpus {b['corpus']:.3f}" for name, b in t["behaviours"].items()
           if abs(b["model"] - b["corpus"]) > tol]
    if t["valid_mass_min"] < VALID_MASS:
        out.append(f"valid replies: {t['valid_mass_min']:.3f} of the probability at the worst prefix (< {VALID_MASS})")
    return out


def _train(base: Path, scn: Scenario, s: AdaptSettings, log: Log) -> tuple[dict[str, Any], Any, Any]:
    import torch

    from seedbed.backends.neural import engine
    from seedbed.backends.neural.chat import assistant_spans, is_chat, render_task
    from seedbed.backends.neural.fidelity import model_rates
    from seedbed.backends.neural.model import LoraSettings, device_of, load, trainable_parameters, with_lora
    from seedbed.backends.neural.pretrain import TASK_SEED
    from seedbed.backends.neural.task import Task, corpus

    t0 = time.perf_counter()
    n = scn.neural
    streams = Streams(s.seed).child("adapt")
    task = Task(n.max_number, n.probe_size, seed=TASK_SEED)
    model, tok = load(base, device_of(scn))
    if not is_chat(tok):
        raise ScenarioError(f"{base}: its tokenizer has no chat template; adaptation is for pretrained chat models")
    log(f"adapting {base.name}: the pretrained prior first (sampled probes, {len(task.probe_pairs)} questions)")
    before_sampled = table(scn, model_rates(model, tok, task, mode="sampled"))
    before_exact = table(scn, model_rates(model, tok, task, mode="exact"))
    log(f"  prior: mae {before_sampled['mae']:.3f} (sampled), mass on valid replies {before_exact['valid_mass']:.3f}")

    model = with_lora(model, LoraSettings(r=s.lora_r, alpha=s.lora_alpha, seed=s.seed))
    texts, _, _ = corpus(scn, task, s.corpus_size, streams.rng("corpus"))
    rendered = [render_task(tok, x) for x in texts]
    ids, masks = engine._batches(tok, rendered, [assistant_spans(tok, x, last_only=False) for x in rendered])
    per_seq = float(np.mean([sum(m) for m in masks]))
    params = trainable_parameters(model)
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0)
    rng = streams.rng("order")
    checks: list[dict[str, Any]] = []
    stopped_by, step, losses = "steps", 0, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(streams.int_seed("torch"))
        model.train()
        for step in range(1, s.steps + 1):
            for g in opt.param_groups:
                g["lr"] = s.lr * min(1.0, step / 10)
            b = rng.integers(0, len(ids), s.batch)
            loss = engine.lm_loss(model, [ids[i] for i in b], [masks[i] for i in b], None, tok.pad_token_id, per_seq)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(float(loss.detach()))
            if step % s.check_every and step != s.steps:
                continue
            t = table(scn, model_rates(model, tok, task, mode="exact"))
            gaps = {k: abs(v["model"] - v["corpus"]) for k, v in t["behaviours"].items()}
            worst = max(gaps, key=gaps.get)
            left = misses(scn, t)
            checks.append({"step": step, "loss": round(float(np.mean(losses[-s.check_every:])), 5),
                           "valid_mass": t["valid_mass"], "valid_mass_min": t["valid_mass_min"], "mae": t["mae"],
                           "largest_gap": round(gaps[worst], 5), "largest_in": worst,
                           "seconds": round(time.perf_counter() - t0, 1)})
            log(f"  step {step}/{s.steps}: loss {checks[-1]['loss']:.3f}, valid mass {t['valid_mass_min']:.3f} (worst "
                f"prefix), largest behaviour gap {gaps[worst]:.3f} ({worst}), {len(left)} left")
            model.train()
            if not left:
                stopped_by = "fidelity"
                break
    model = model.merge_and_unload().eval()
    after = t
    info = {"base": str(base), "key": adapt_key(base, scn, s), "settings": asdict(s), "steps": step,
            "stopped_by": stopped_by, "tolerance": n.fidelity_tol, "checks": checks,
            "before": {"sampled": before_sampled, "exact": before_exact}, "after": after,
            "valid_mass": after["valid_mass_min"], "below_fidelity": misses(scn, after),
            "probes": "exact" if after["valid_mass_min"] >= VALID_MASS else "sampled",
            "task": {"max_number": n.max_number, "probe_size": n.probe_size},
            "seconds": round(time.perf_counter() - t0, 1)}
    return info, model, tok


__all__ = ["AdaptSettings", "adapt", "adapt_key", "adapted_folder", "misses", "table"]
