"""Stage 5 of a neural round: fine-tune the member's model on what was kept, with rehearsal.

The loss is next-token cross-entropy on the assistant turns of each kept transcript,
weighted by the selection weight:

* ``judge.credit = "last_turn"`` (or "last"): only the last assistant turn is trained on;
* any other credit rule ("transcript", "sum", "turn_delta", ...): every assistant turn after
  the instruction (the earlier answer of a review prompt too, and both turns of a two-turn
  episode).

A chat model's transcripts are rendered in its chat template; the trained spans are its
assistant turns' contents with their end-of-turn token (:func:`seedbed.backends.neural.chat.assistant_spans`).

Rehearsal (the anchor): ``(neural.replay + update.kappa) × kept`` pre-training
conversations are mixed in, every assistant turn trained on, each with the mean weight of
the kept episodes. It keeps the task knowledge while the pipeline shapes behaviour, and is
the neural counterpart of the mean-field anchor kappa (so PBT can explore it).

The optimizer (AdamW) is the member's own and persists across rounds (checkpointed with
the weights); its learning rate warms up linearly over the member's first
``neural.warmup_steps`` steps.

**What was trained on** (:class:`TrainingMix`): every trained assistant turn, parsed back to
its behaviour (which prefix it follows, what it did) with its sequence's weight (the loss
counts every token with its sequence's weight, so each turn's choice carries that weight),
for kept episodes and rehearsal apart. The round uses it to measure the effective step
(:func:`step_size`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.core.registry import CREDIT
from seedbed.backends.neural import engine
from seedbed.backends.neural.fidelity import BEHAVIOURS, PREFIXES
from seedbed.backends.neural.task import parse_conversation


def set_learning_rate(opt: Any, lr: float) -> None:
    """The round's learning rate (the base the warm-up scales)."""
    for g in opt.param_groups:
        g["lr"] = lr
        g["base_lr"] = lr


def rehearsal_batch(rehearsal: list[str], amount: float, weights: np.ndarray, rng: np.random.Generator
                    ) -> tuple[list[str], np.ndarray]:
    """round(amount × kept) rehearsal conversations drawn with replacement, and their weight
    (the mean weight of the kept episodes; 1 when nothing was kept)."""
    kept = weights[weights > 0]
    m = int(round(amount * len(kept)))
    if not m:
        return [], np.zeros(0)
    texts = [rehearsal[i] for i in rng.integers(0, len(rehearsal), m)]
    return texts, np.full(m, float(kept.mean()) if len(kept) else 1.0)


@dataclass
class TrainingMix:
    """The trained turns' behaviour, by prefix type: ``mass[src, x]`` the loss weight on
    turns after prefix x (src 0: kept episodes, 1: rehearsal) and ``rates[src, b]`` the
    weighted rate of behaviour b among them (NaN where there is no mass)."""

    mass: np.ndarray        # (2, len(PREFIXES))
    rates: np.ndarray       # (2, len(BEHAVIOURS))

    @property
    def rehearsal_share(self) -> float:
        """The share of the trained loss weight carried by rehearsal conversations."""
        total = self.mass.sum()
        return float(self.mass[1].sum() / total) if total > 0 else 0.0

    def target(self) -> tuple[np.ndarray, np.ndarray]:
        """(B,) the rate each behaviour is trained toward (kept and rehearsal pooled), and its
        prefix's loss weight (0: not trained)."""
        xi = [PREFIXES.index(x) for _, x, _ in BEHAVIOURS]
        m = self.mass[:, xi]                                  # (2, B)
        w = m.sum(0)
        r = np.nan_to_num(self.rates)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(w > 0, (m * r).sum(0) / np.where(w > 0, w, 1), np.nan)
        return t, w


def _turn_behaviour(prefix: str, lab: Any, previous: int | None, truth: int) -> dict[str, float]:
    """The behaviour flags of one trained turn (as fidelity.BEHAVIOURS' kinds)."""
    if prefix == "none":
        return {"error": float(lab.mistake), "harm": float(lab.harm)}
    keep = float(lab.parsed and lab.value == previous)
    if prefix.startswith("mistaken"):
        return {"fix": float(lab.parsed and lab.value == truth), "keep": keep, "harm": float(lab.harm)}
    return {"keep": keep, "false_fix": 1.0 - keep, "harm": float(lab.harm)}


def training_mix(tok: Any, texts: list[str], spans: list[list[tuple[int, int]]], weights: np.ndarray,
                 source: np.ndarray) -> TrainingMix:
    """What a fine-tuning set trains (see :class:`TrainingMix`); ``source``: 0 kept, 1 rehearsal."""
    from seedbed.backends.neural.chat import is_chat, parse_conversation as parse_chat

    chat = is_chat(tok)
    mass = np.zeros((2, len(PREFIXES)))
    acc = np.zeros((2, len(BEHAVIOURS)))
    for text, sp, w, src in zip(texts, spans, weights, source):
        if w <= 0 or not sp:
            continue
        try:
            if chat:
                truth, labels, starts = parse_chat(tok, text)
            else:
                truth, labels = parse_conversation(text)
                starts = [m.start(1) for m in engine.ASSISTANT.finditer(text)]
        except (ValueError, IndexError):
            continue
        for a, _ in sp:
            if a not in starts or starts.index(a) >= len(labels):
                continue
            t = starts.index(a)
            lab = labels[t]
            if t == 0:
                prefix, previous = "none", None
            else:
                first = labels[0]
                if not first.parsed:
                    continue
                prefix = ("mistaken" if first.mistake else "clean") + ("_harm" if first.harm else "")
                previous = first.value
            share = float(w)
            x = PREFIXES.index(prefix)
            mass[src, x] += share
            flags = _turn_behaviour(prefix, lab, previous, truth)
            for bi, (_, bx, kind) in enumerate(BEHAVIOURS):
                if bx == prefix:
                    acc[src, bi] += share * flags[kind]
    xi = [PREFIXES.index(x) for _, x, _ in BEHAVIOURS]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(mass[:, xi] > 0, acc / np.where(mass[:, xi] > 0, mass[:, xi], 1), np.nan)
    return TrainingMix(mass, rates)


def fine_tune(model: Any, opt: Any, tok: Any, texts: list[str], weights: np.ndarray, credit: str, start: int,
              rehearsal: list[str], amount: float, epochs: int, batch: int, rng: np.random.Generator,
              warmup: int = 0) -> tuple[list[float], TrainingMix]:
    """One round's update: weighted fine-tuning on ``texts`` (assistant turns from character
    ``start``, i.e. after the instruction; see the module docstring for ``credit``) plus
    rehearsal. Returns the loss per step and what was trained (:class:`TrainingMix`)."""
    from seedbed.backends.neural.chat import assistant_spans as chat_spans, is_chat

    find = (lambda t, last, at=0: chat_spans(tok, t, last, at)) if is_chat(tok) else engine.assistant_spans
    last_only = CREDIT.get(credit, "judge.credit").last_only
    spans = [find(t, last_only, start) for t in texts]
    extra, extra_w = rehearsal_batch(rehearsal, amount, weights, rng)
    source = np.r_[np.zeros(len(texts), int), np.ones(len(extra), int)]
    texts = texts + extra
    spans = spans + [find(t, False) for t in extra]
    weights = np.concatenate([weights, extra_w])
    mix = training_mix(tok, texts, spans, weights, source)
    return engine.finetune(model, opt, tok, texts, spans, weights, epochs, batch, rng, warmup=warmup), mix


def step_size(before: np.ndarray, after: np.ndarray, mix: TrainingMix) -> dict[str, float]:
    """The round's effective step, measured: how far the exact behaviour rates moved from
    ``before`` to ``after`` toward what was trained on (kept and rehearsal pooled), as a
    fraction of the gap — the least-squares eta_n in ``after − before = eta_n (target −
    before)`` over the trained behaviours, each weighted by its prefix's loss weight.

    In the mean-field's terms (s' = (1 − kappa)[(1 − eta) s + eta t] + kappa s0), rehearsal
    with loss share w is an anchor: kappa_eff = eta_n w and eta_eff = eta_n (1 − w) /
    (1 − eta_n w). NaN when nothing trained differs from the model."""
    target, w = mix.target()
    ok = (w > 0) & np.isfinite(target)
    gap = (target - before)[ok]
    move = (after - before)[ok]
    ww = w[ok] / w[ok].sum() if ok.any() else w[ok]
    den = float((ww * gap * gap).sum())
    nan = float("nan")
    if den < 1e-8:
        return {"probe/step": nan, "probe/eta_eff": nan, "probe/kappa_eff": nan,
                "probe/rehearsal_share": mix.rehearsal_share}
    eta_n = float(np.clip((ww * move * gap).sum() / den, 0.0, 1.0))
    share = mix.rehearsal_share
    return {"probe/step": eta_n, "probe/eta_eff": eta_n * (1 - share) / max(1 - eta_n * share, 1e-12),
            "probe/kappa_eff": eta_n * share, "probe/rehearsal_share": share}
