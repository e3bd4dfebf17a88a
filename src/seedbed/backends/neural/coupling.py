"""Coupling: how far training the *last* turn moves the *untrained* first turn.

The pipeline's loss trains the last assistant turn. On a self-written prefix that turn is a
review, so first-turn seeding can rise only as far as the network ties its first-turn
behaviour to the corrections it is trained on — the tie the persona ("subpersonality")
story assumes: in a mixture of personas, more fixing means more of the persona that fixes,
and that persona also errs more at turn 1. This module measures the tie.

**The isolated test** (:func:`isolated`): from the base, fine-tune on a fixed set of
correction turns only — ``Q:a+b / A:<slip> / Q:sure? / A:<a+b>``, loss on the review turn —
for several step counts, and measure the exact behaviour rates (teacher forcing on the
held-out probes, :func:`~seedbed.backends.neural.fidelity.model_rates`) after each. Per
seed (its own training questions, slips and batch order; the base is the same) it gives

    d_fix   = fix_after_mistake(t) − fix_after_mistake(0)      (the trained shift)
    d_err   = first_error(t) − first_error(0)                  (the untrained shift)
and the slope of d_err on d_fix over the step counts (through the origin). The persona
model's slope is the same derivative for a mixture that moves toward the personas that
write the trained turns (shares s → (1 − e) s + e w, w_k ∝ q_k(mistaken) fix_k, q the
reviewer posterior with persistence rho; e → 0; :func:`persona_slope`). The **coupling** is

    c = slope / persona slope   1: the first turn moves as a persona mixture's would;
                                0: the network learns to fix without changing how it answers;
                                < 0: fixing makes it answer *better* (the skill is shared,
                                not the persona).

Variants: ``rehearsal`` (the pipeline's ``neural.replay`` × the set in pre-training
conversations, every turn trained: the anchor) and ``inoculation`` (every trained text
starts with the inoculation instruction; the first turn is measured without it, i.e. at
deployment). Intervals are Student-t over seeds (:func:`seedbed.results.metrics.mean_ci`).

**A chat model** (a pretrained model in its chat template, :mod:`.chat`) takes the same test:
the correction turns are rendered in its template (the instruction as its system message),
the loss is on the review reply and its end-of-turn token, and the model trains LoRA
adapters (``neural.lora_r``) as it does in the pipeline. Its probes are exact on an adapted
folder (:mod:`.adapt`) and sampled otherwise. On a CPU one such test fine-tunes a 135M model
once per arm and seed, so a run only *reads* a chat model's result from the cache, where
``seedbed coupling`` measured it (:func:`cached_isolated`); the default design is smaller
(:data:`CHAT_STEPS`).

**In the pipeline** (:func:`in_pipeline`): the same ratio from a run's probe rows, per seed,
from round 0 to the last round: the measured first-error change against the persona
model's change at the measured fix-rate change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedbed.core.config import Scenario
from seedbed.core.seeds import Streams
from seedbed.backends.neural.fidelity import INDEX, mixture_rates, persona_params, reviewer_mix
from seedbed.backends.neural.task import INOCULATION, REVIEW, SLIPS, Task, answer_text, question, slipped

STEPS = (0, 8, 16, 32, 64)     # optimizer steps at which the rates are measured
CHAT_STEPS = (0, 8, 16, 32)    # ... for a chat model (every step and probe is a 135M model's, on a CPU)
SET_SIZE = 256                 # correction turns in the fixed training set
REHEARSAL_DEFAULT = 0.5        # rehearsal per trained turn in the 'rehearsal' arms when the run itself has none
ARMS = (("plain", False, False), ("rehearsal", True, False), ("inoculation", False, True),
        ("rehearsal+inoculation", True, True))
TRACKED = ("first_error", "fix_after_mistake", "false_fix_after_clean", "keep_after_mistake", "first_harm")


def correction_texts(task: Task, n: int, rng: np.random.Generator, instruction: str = "") -> list[str]:
    """``n`` review conversations that fix a planted slip, on the pipeline's training questions."""
    out = []
    for a, b in task.sample_pairs(rng, n):
        t = a + b
        w = slipped(t, int(rng.choice(SLIPS)))
        out.append(instruction + question(a, b) + answer_text(w, False) + REVIEW + "A:" + answer_text(t, False))
    return out


def persona_slope(params: np.ndarray, s: np.ndarray, rho: float, eps: float = 1e-5) -> float:
    """d(first error) / d(fix after a mistake) of the persona mixture at shares ``s`` when it
    moves toward the personas that write fixing review turns (w_k ∝ q_k(mistaken) fix_k):
    what a network that behaves like the mixture would show. NaN when no persona fixes."""
    fix, err = INDEX["fix_after_mistake"], INDEX["first_error"]
    w = reviewer_mix(params, s, rho)[fix] * params[1]
    if w.sum() <= 0:
        return float("nan")
    w = w / w.sum()
    lo = mixture_rates(params, s, rho)
    hi = mixture_rates(params, (1 - eps) * s + eps * w, rho)
    return float((hi[err] - lo[err]) / (hi[fix] - lo[fix])) if abs(hi[fix] - lo[fix]) > 1e-15 else float("nan")


@dataclass
class ArmResult:
    """One arm of the isolated test: per seed × step, the tracked rates."""

    arm: str
    rehearsal: bool
    inoculation: bool
    steps: tuple[int, ...]
    rates: np.ndarray          # (seeds, steps, len(TRACKED))


def isolated(scn: Scenario, base: Path, seeds: int = 3, steps: tuple[int, ...] = STEPS, root_seed: int = 0,
             arms: tuple[tuple[str, bool, bool], ...] = ARMS, progress: Any = None) -> list[ArmResult]:
    """The isolated coupling test on ``base`` (see the module docstring). ``progress(done, total)``
    is called after each measurement."""
    import torch

    from seedbed.backends.neural.chat import assistant_spans as chat_spans, render_task
    from seedbed.backends.neural.engine import assistant_spans, finetune
    from seedbed.backends.neural.fidelity import model_rates
    from seedbed.backends.neural.model import load, trainable_parameters

    from seedbed.backends.neural.run import Setup

    n = scn.neural
    setup = Setup.build(scn, base, root_seed)     # the pipeline's task, probe guard and (guarded) rehearsal
    task, rehearsal = setup.task, setup.rehearsal  # (rehearsal already in the chat template for a chat model)
    idx = [INDEX[b] for b in TRACKED]
    streams = Streams(root_seed).child("coupling")
    total, done = len(arms) * seeds * len(steps), 0
    out = []
    for arm, rehearse, inoculate in arms:
        R = np.zeros((seeds, len(steps), len(TRACKED)))
        for k in range(seeds):
            s = streams.child(arm, k)
            rng = s.rng("texts")
            instruction = INOCULATION if inoculate else ""
            texts = correction_texts(task, SET_SIZE, rng, instruction)
            keep, _ = setup.guard.filter([x[len(instruction):].split("\n")[0] for x in texts])
            setup.guard.dropped.clear()
            texts = [texts[i] for i in keep]          # a probe question never reaches this training either
            extra: list[str] = []
            if rehearse:                                # the run's replay, or the default's where it has none
                m = int(round((n.replay if n.replay > 0 else REHEARSAL_DEFAULT) * SET_SIZE))
                extra = [rehearsal[i] for i in rng.integers(0, len(rehearsal), m)]
            torch.manual_seed(s.int_seed("torch"))
            model, tok = load(base, setup.device, lora=setup.lora(s.int_seed("lora")))
            if setup.chat:                              # the review reply and its end-of-turn token
                texts = [render_task(tok, t) for t in texts]
                spans = [chat_spans(tok, t, True) for t in texts] + [chat_spans(tok, t, False) for t in extra]
            else:
                spans = ([assistant_spans(t, True, len(instruction)) for t in texts]
                         + [assistant_spans(t, False) for t in extra])
            texts += extra
            weights = np.ones(len(texts))
            opt = torch.optim.AdamW(trainable_parameters(model), lr=n.lr, weight_decay=0.0)
            order = s.rng("order")
            trained = 0
            for j, t in enumerate(steps):
                while trained < t:          # whole passes until the step count is reached (one batch a step)
                    per_pass = -(-len(texts) // n.batch_size)
                    take = min(per_pass, t - trained)
                    sub = order.permutation(len(texts))[: take * n.batch_size]
                    finetune(model, opt, tok, [texts[i] for i in sub], [spans[i] for i in sub], weights[sub], 1,
                             n.batch_size, order, warmup=n.warmup_steps)
                    trained += take
                R[k, j] = model_rates(model, tok, task).mean[idx]
                done += 1
                if progress:
                    progress(done, total)
        out.append(ArmResult(arm, rehearse, inoculate, tuple(steps), R))
    return out


def slope(d_fix: np.ndarray, d_err: np.ndarray) -> float:
    """Least-squares slope through the origin of d_err on d_fix (one seed's step counts)."""
    den = float(d_fix @ d_fix)
    return float(d_fix @ d_err / den) if den > 1e-12 else float("nan")


def summarise(scn: Scenario, results: list[ArmResult], shares: np.ndarray, rho: float) -> dict[str, Any]:
    """coupling.json's isolated section: per arm, the per-step shifts (95% t intervals over
    seeds) and the coupling c = (slope of d_err on d_fix) / (the persona mixture's slope),
    one slope per seed over the step counts, with its t interval over seeds."""
    from seedbed.results.metrics import SIGNED_UNIT, mean_ci

    star = persona_slope(persona_params(scn), np.asarray(shares, float), rho)
    fi, ei = TRACKED.index("fix_after_mistake"), TRACKED.index("first_error")
    ffi = TRACKED.index("false_fix_after_clean")
    arms = []
    for r in results:
        rows = []
        later = [j for j, t in enumerate(r.steps) if t > 0]
        d_all = r.rates[:, later] - r.rates[:, :1]                 # (seeds, later steps, tracked)
        for j in later:
            d = r.rates[:, j] - r.rates[:, 0]                       # (seeds, tracked)
            rows.append({"steps": r.steps[j], "seeds": int(len(d)),
                         "d_fix": _ci(mean_ci(d[:, fi], bounds=SIGNED_UNIT)),
                         "d_first_error": _ci(mean_ci(d[:, ei], bounds=SIGNED_UNIT)),
                         "d_false_fix": _ci(mean_ci(d[:, ffi], bounds=SIGNED_UNIT)),
                         "d_first_error_persona": _ci(mean_ci(np.clip(star * d[:, fi], -1, 1), bounds=SIGNED_UNIT))})
        slopes = np.array([slope(d_all[k, :, fi], d_all[k, :, ei]) for k in range(len(d_all))])
        arms.append({"arm": r.arm, "rehearsal": r.rehearsal, "inoculation": r.inoculation, "seeds": int(len(slopes)),
                     "start": {b: round(float(v), 6) for b, v in zip(TRACKED, r.rates[:, 0].mean(0))},
                     "slope": _ci(mean_ci(slopes[np.isfinite(slopes)])),
                     "coupling": _ci(mean_ci(slopes[np.isfinite(slopes)] / star)) if np.isfinite(star) else
                     [None, None, None],
                     "rows": rows})
    return {"arms": arms, "set_size": SET_SIZE, "steps": list(results[0].steps) if results else [],
            "persona_slope": None if not np.isfinite(star) else round(star, 6),
            "persona_shares": [round(float(x), 6) for x in shares], "persona_rho": round(float(rho), 6)}


def in_pipeline(scn: Scenario, table: Any, arm: str) -> dict[str, Any]:
    """The coupling inside a finished neural run, per seed: the measured change of first-turn
    error from round 0 to the last round (``behaviour/err_deploy``) against the persona
    model's change at the same measured change of the fix rate (``probe/fix_rate``), from the
    seed's measured round-0 shares and persistence (:func:`persona_shift`). Where the arm
    also trains first turns directly (fresh prompts with last-turn credit), both effects are
    in the measured change."""
    from seedbed.results.metrics import SIGNED_UNIT, mean_ci, series

    params = persona_params(scn)
    err, fix = series(table, "behaviour/err_deploy", arm), series(table, "probe/fix_rate", arm)
    rho = series(table, "probe/rho", arm)
    shares = [series(table, f"share/{n}", arm) for n in scn.names]
    rows = []
    for sd in sorted(err):
        if sd not in fix or sd not in rho or any(sd not in s for s in shares):
            continue
        s0 = np.array([s[sd][1][0] for s in shares])
        r0 = float(np.nan_to_num(rho[sd][1][0], nan=1.0))
        d_err, d_fix = err[sd][1][-1] - err[sd][1][0], fix[sd][1][-1] - fix[sd][1][0]
        rows.append((d_err, d_fix, persona_slope(params, s0 / s0.sum(), r0) * d_fix))
    if not rows:
        return {"arm": arm, "seeds": 0}
    d = np.array(rows, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(np.abs(d[:, 2]) > 1e-9, d[:, 0] / d[:, 2], np.nan)
    return {"arm": arm, "seeds": int(len(d)), "d_fix": _ci(mean_ci(d[:, 1], bounds=SIGNED_UNIT)),
            "d_first_error": _ci(mean_ci(d[:, 0], bounds=SIGNED_UNIT)),
            "d_first_error_persona": _ci(mean_ci(d[:, 2][np.isfinite(d[:, 2])], bounds=SIGNED_UNIT)),
            "coupling": _ci(mean_ci(c[np.isfinite(c)]))}


def _ci(t: tuple[float, float, float]) -> list[float | None]:
    return [None if not np.isfinite(x) else round(float(x), 6) for x in t]


def settings_spec(scn: Scenario, chat: bool = False) -> dict[str, Any]:
    """The fine-tuning settings the isolated test borrows from the run (a chat model's adapters
    and task size too): a run reads only a test made with its own."""
    n = scn.neural
    spec: dict[str, Any] = {"set": SET_SIZE, "lr": n.lr, "batch": n.batch_size, "replay": n.replay,
                            "warmup": n.warmup_steps}
    if chat:
        spec.update(lora=[n.lora_r, n.lora_alpha], task=[n.max_number, n.probe_size])
    return spec


def isolated_key(scn: Scenario, seeds: int, steps: tuple[int, ...], chat: bool = False,
                 arms: tuple[tuple[str, bool, bool], ...] = ARMS) -> str:
    """Hash of what the isolated test depends on besides the base: its design (seeds, steps,
    arms) and :func:`settings_spec`."""
    import hashlib
    import json

    spec = {"seeds": seeds, "steps": list(steps), "arms": [list(a) for a in arms], "v": 1, **settings_spec(scn, chat)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def default_steps(chat: bool) -> tuple[int, ...]:
    return CHAT_STEPS if chat else STEPS


def weights_hash(base: Path) -> str | None:
    """The first 12 hex digits of the sha256 of ``base/model.safetensors`` (None without it)."""
    from seedbed.backends.neural.model import weights_sha256

    digest = weights_sha256(base)
    return None if digest is None else digest[:12]


def cached_isolated(scn: Scenario, root_seed: int, seeds: int = 3, steps: tuple[int, ...] | None = None,
                    arms: tuple[tuple[str, bool, bool], ...] = ARMS, progress: Any = None,
                    measure: bool | None = None) -> dict[str, Any] | None:
    """The isolated test's summary for the run's base, computed once per base (its weights'
    hash) and design and kept in the cache (``SEEDBED_CACHE/coupling-<design>-<weights>.json``,
    also looked up among the files shipped with the default base). ``measure``: compute it when
    it is not kept (None: yes for the tiny model; no for a chat model, whose test
    ``seedbed coupling`` runs: a run on a chat model reads any kept test of its base made with
    its fine-tuning settings, whatever its seeds, steps and arms). None when it is neither
    kept nor measured."""
    import json

    from seedbed.backends.neural.model import chat_folder
    from seedbed.backends.neural.pretrain import SHIPPED, base_model, cache_dir

    base = base_model(scn, root_seed)
    weights = weights_hash(base)
    if weights is None:
        return None
    chat = chat_folder(base)
    steps = tuple(steps or default_steps(chat))
    f = cache_dir() / f"coupling-{isolated_key(scn, seeds, steps, chat, arms)}-{weights}.json"
    for known in (f, SHIPPED / f.name):                     # measured here before, or shipped with the base
        if known.exists():
            return json.loads(known.read_text())
    if chat and measure is None:
        return _kept_for(cache_dir(), weights, settings_spec(scn, chat))
    if not (measure if measure is not None else not chat):
        return None
    f.parent.mkdir(parents=True, exist_ok=True)
    res = isolated(scn, base, seeds, steps, root_seed, arms=arms, progress=progress)
    out = summarise(scn, res, np.asarray(scn.shares, float), 1.0)
    if chat:
        out["settings"] = settings_spec(scn, chat)
    tmp = f.with_name(f.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(f)
    return out


def _kept_for(cache: Path, weights: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """A kept chat-model test of these weights made with ``settings`` (the one with the most
    seeds), or None."""
    import json

    found = []
    for f in sorted(cache.glob(f"coupling-*-{weights}.json")):
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if d.get("settings") == json.loads(json.dumps(settings)):
            found.append(d)
    return max(found, key=lambda d: max((a["seeds"] for a in d["arms"]), default=0)) if found else None
