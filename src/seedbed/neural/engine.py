"""Sampling and training for the neural policy.

* ``sample``: n completions per prompt, batched, with a KV cache. Rows are sorted by
  length and left-padded (attention mask; position ids from each row's first real
  token, so positions stay exact); each step feeds only the newest token; a row stops at
  the stop string (a newline ends a tiny-model turn, the eos a chat model's).
* ``train_lm``: next-token pre-training on whole conversations.
* ``finetune``: masked, weighted next-token loss on chosen character spans (the last
  assistant turn, or every assistant turn for whole-transcript credit).
Randomness comes from explicit generators (torch for sampling, numpy for data order).
"""

from __future__ import annotations

import re
import numpy as np


def encode(tok, texts: list[str]) -> list[list[int]]:
    """Token ids, each after the tokenizer's begin token, unless the text starts with it
    already (a chat-formatted text, e.g. ``<|im_start|>system...``)."""
    bos_id, bos = tok.bos_token_id, tok.bos_token
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    if bos_id is None:
        return [list(x) for x in ids]
    return [list(x) if bos and t.startswith(bos) else [bos_id] + list(x) for t, x in zip(texts, ids)]


def sample(model, tok, prompts: list[str], n: int = 1, gen=None, max_new: int = 12, temperature: float = 1.0,
           batch_size: int = 512, stop: str = "\n") -> list[list[str]]:
    """n completions per prompt (greedy when temperature == 0), each cut after ``stop`` (or
    the tokenizer's eos; a chat model's turn ends with it: ``stop=tok.eos_token``).

    The P·n rows are sorted by prompt length and cut into batches of ``batch_size``; a batch
    is left-padded, with an attention mask and position ids counted from each row's first
    real token, so a padded row gives the same tokens as an unpadded one."""
    import torch

    if not prompts:
        return []
    device = next(model.parameters()).device
    ids = encode(tok, prompts)
    rows = sorted((len(ids[i]), i, j) for i in range(len(prompts)) for j in range(n))
    stop_ids = sorted(set(tok(stop, add_special_tokens=False)["input_ids"]) | {tok.eos_token_id} - {None})
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    out: list[list[str]] = [[""] * n for _ in prompts]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(rows), batch_size):
            chunk = rows[s:s + batch_size]
            x, mask = left_pad([ids[i] for _, i, _ in chunk], pad, device)
            tokens, lengths = decode_loop(model, x, mask, gen, max_new, temperature, stop_ids, pad)
            texts = tok.batch_decode([r[:k] for r, k in zip(tokens.tolist(), lengths.tolist())],
                                     skip_special_tokens=True)
            for (_, i, j), t in zip(chunk, texts):
                out[i][j] = t
    if was_training:
        model.train()
    return out


def left_pad(seqs: list[list[int]], pad: int, device):
    """(B, L) token ids left-padded with ``pad``, and the (B, L) attention mask."""
    import torch

    L = max(len(q) for q in seqs)
    x = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for b, q in enumerate(seqs):
        x[b, L - len(q):] = torch.tensor(q, dtype=torch.long)
        mask[b, L - len(q):] = 1
    return x.to(device), mask.to(device)


_KEEP: dict[type, bool] = {}


def _keeps_last_logits(model) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (then the prompt pass computes
    the vocabulary projection for the last position only, not for all B·L)."""
    import inspect

    cls = type(model)
    if cls not in _KEEP:
        base = getattr(model, "get_base_model", lambda: model)()
        _KEEP[cls] = "logits_to_keep" in inspect.signature(type(base).forward).parameters
    return _KEEP[cls]


def decode_loop(model, x, mask, gen, max_new: int, temperature: float, stop_ids, pad: int):
    """Autoregressive sampling with the model's KV cache over a left-padded batch.

    Returns the new tokens (B, max_new) and each row's length (the stop token included).
    The hot loop is whole-batch tensor work: a finished row keeps being fed (its tokens are
    masked out) instead of being dropped, so there is no per-row Python work per step."""
    import torch

    B = x.shape[0]
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    extra = {"logits_to_keep": 1} if _keeps_last_logits(model) else {}
    out = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=True, **extra)
    past, logits = out.past_key_values, out.logits[:, -1, :]
    nxt_pos = pos[:, -1:] + 1
    stop = torch.tensor(list(stop_ids), device=x.device, dtype=torch.long)
    tokens = torch.full((B, max_new), pad, dtype=torch.long, device=x.device)
    lengths = torch.zeros(B, dtype=torch.long, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    ones = torch.ones((B, 1), dtype=mask.dtype, device=x.device)
    for t in range(max_new):
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits.float() / temperature, -1)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        tokens[:, t] = torch.where(done, pad, nxt)
        lengths += (~done).long()
        done |= torch.isin(nxt, stop)
        if t == max_new - 1 or bool(done.all()):
            break
        mask = torch.cat([mask, ones], 1)
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=nxt_pos, past_key_values=past,
                    use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1, :]
        nxt_pos = nxt_pos + 1
    return tokens, lengths


def _batches(tok, texts: list[str], spans: list[list[tuple[int, int]]] | None):
    """Token ids, and a loss mask over target tokens inside the character spans."""
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    bos = tok.bos_token_id
    ids, masks = [], []
    for k, (x, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        ids.append([bos] + x)
        if spans is None:
            masks.append([1] * len(x))
        else:
            masks.append([int(any(a <= o0 < b for a, b in spans[k])) for o0, _ in offs])
    return ids, masks


def _pad(seqs: list[list[int]], value: int):
    import torch

    L = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (L - len(s)) for s in seqs])


def _tensors(ids: list[list[int]], masks: list[list[int]], pad_id: int):
    """Pad once: token ids (N, L), loss mask over next-token targets (N, L − 1), lengths (N,)."""
    import torch

    x = _pad(ids, pad_id)
    m = _pad([[0] + mk for mk in masks], 0).float()[:, 1:]
    return x, m, torch.tensor([len(s) for s in ids])


def masked_loss(model, x, m, lengths, weights=None):
    """Mean masked next-token cross-entropy of a right-padded batch, each sequence weighted.

    No attention mask: padding comes after every real token, and a causal model's outputs
    at real positions never see what follows them (the pads' own outputs are masked out of
    the loss), so the model runs its plain causal attention."""
    import torch

    L = int(lengths.max())
    x, m = x[:, :L], m[:, :L - 1]
    logits = model(input_ids=x).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                            reduction="none").view_as(m) * m
    per_seq = nll.sum(1) / m.sum(1).clamp(min=1)
    if weights is None:
        return per_seq.mean()
    return (per_seq * weights).sum() / weights.sum().clamp(min=1e-12)


def lm_loss(model, ids: list[list[int]], masks: list[list[int]], weights: np.ndarray | None, pad_id: int):
    """Masked, weighted loss of a list batch (see ``masked_loss``)."""
    import torch

    device = next(model.parameters()).device
    x, m, lengths = (t.to(device) for t in _tensors(ids, masks, pad_id))
    w = None if weights is None else torch.tensor(weights, device=device, dtype=torch.float)
    return masked_loss(model, x, m, lengths, w)


def train_lm(model, tok, texts: list[str], steps: int, batch: int, lr: float, rng: np.random.Generator,
             on_step=None) -> list[float]:
    """Pre-train on whole conversations (AdamW, linear warm-up, cosine decay to 10%).
    ``on_step(step, loss)`` may return True to stop early."""
    import math

    import torch

    from .model import quiet

    quiet()                                        # no padding advice: right padding needs no mask here
    device = next(model.parameters()).device
    ids, masks = _batches(tok, texts, None)
    X, Mk, lengths = (t.to(device) for t in _tensors(ids, masks, tok.pad_token_id))   # padded once
    opt = _adamw(model, lr, weight_decay=0.01)
    warm = max(1, min(200, steps // 10))

    def schedule(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, steps - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    losses: list[float] = []
    pending = []                                   # this block's losses, read back once per block
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(ids), batch)).to(device)
        loss = masked_loss(model, X[idx], Mk[idx], lengths[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        sched.step()
        pending.append(loss.detach())
        if len(pending) == LOSS_BLOCK or step == steps - 1 or on_step is not None:
            losses += torch.stack(pending).tolist()
            pending = []
        if on_step is not None and on_step(step, losses[-1]):
            break
    model.eval()
    return losses


LOSS_BLOCK = 50       # train_lm without a callback reads its losses back every this many steps


def _adamw(model, lr: float, weight_decay: float):
    """AdamW, with the fused kernel where this torch build has one for the device."""
    import torch

    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


ASSISTANT = re.compile(r"(?m)^A:([^\n]*\n)")


def assistant_spans(text: str, last_only: bool, start: int = 0) -> list[tuple[int, int]]:
    """Character spans of assistant turns (after 'A:', newline included) at or after ``start``."""
    spans = [(m.start(1), m.end(1)) for m in ASSISTANT.finditer(text) if m.start(1) >= start]
    return spans[-1:] if last_only else spans


def finetune(model, opt, tok, texts: list[str], spans: list[list[tuple[int, int]]], weights: np.ndarray,
             epochs: int, batch: int, rng: np.random.Generator, warmup: int = 0) -> list[float]:
    """Weighted, masked fine-tuning on kept samples; returns the loss per step.

    The optimizer persists across rounds. ``warmup``: its learning rate rises linearly over
    its first ``warmup`` steps in all, counted in the optimizer's own state (each param
    group's ``seedbed_step``, so checkpoints and PBT copies carry it), from the group's
    ``base_lr`` (its ``lr`` when none is set)."""
    import torch

    keep = np.flatnonzero(weights > 0)
    if len(keep) == 0:
        return []
    ids, masks = _batches(tok, [texts[i] for i in keep], [spans[i] for i in keep])
    w = weights[keep]
    model.train()
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(ids))
        for s in range(0, len(order), batch):
            b = order[s:s + batch]
            loss = lm_loss(model, [ids[i] for i in b], [masks[i] for i in b], w[b], tok.pad_token_id)
            warm_up(opt, warmup)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    model.eval()
    return losses


def warm_up(opt, warmup: int) -> None:
    """Set this step's learning rate: linear warm-up over the optimizer's first ``warmup`` steps."""
    for g in opt.param_groups:
        k = int(g.get("seedbed_step", 0))
        base = g.setdefault("base_lr", g["lr"])
        g["lr"] = base * min(1.0, (k + 1) / warmup) if warmup > 0 else base
        g["seedbed_step"] = k + 1
