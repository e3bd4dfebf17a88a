"""Sampling and training for the neural policy.

* ``sample``: n completions per prompt, batched, with a KV cache. Prompts are bucketed
  by token length so a batch needs no padding (positions stay exact); each step feeds
  only the newest token; a row stops at the stop string (a newline ends a turn).
* ``train_lm``: next-token pre-training on whole conversations.
* ``finetune``: masked, weighted next-token loss on chosen character spans (the last
  assistant turn, or every assistant turn for whole-transcript credit).
Randomness comes from explicit generators (torch for sampling, numpy for data order).
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np


def encode(tok, texts: list[str]) -> list[list[int]]:
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return [bos + ids for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def sample(model, tok, prompts: list[str], n: int = 1, gen=None, max_new: int = 12, temperature: float = 1.0,
           batch_size: int = 512, stop: str = "\n") -> list[list[str]]:
    """n completions per prompt (greedy when temperature == 0), each cut after ``stop``."""
    import torch

    device = next(model.parameters()).device
    ids = encode(tok, prompts)
    out: list[list[str]] = [[] for _ in prompts]
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, x in enumerate(ids):
        buckets[len(x)].append(i)
    stop_ids = set(tok(stop, add_special_tokens=False)["input_ids"]) | {tok.eos_token_id}
    model.eval()
    with torch.no_grad():
        for L in sorted(buckets):
            members = [(i, j) for i in buckets[L] for j in range(n)]
            for s in range(0, len(members), batch_size):
                chunk = members[s:s + batch_size]
                x = torch.tensor([ids[i] for i, _ in chunk], device=device)
                generated = _decode_loop(model, x, gen, max_new, temperature, stop_ids)
                for (i, _), g in zip(chunk, generated):
                    out[i].append(tok.decode(g, skip_special_tokens=True))
    return out


def _decode_loop(model, x, gen, max_new: int, temperature: float, stop_ids: set[int]) -> list[list[int]]:
    """Autoregressive sampling with the model's KV cache; returns new token ids per row."""
    import torch

    B = x.shape[0]
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    new: list[list[int]] = [[] for _ in range(B)]
    out = model(input_ids=x, use_cache=True)
    past, logits = out.past_key_values, out.logits[:, -1, :]
    stop = torch.tensor(sorted(stop_ids), device=x.device)
    for _ in range(max_new):
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits.float() / temperature, -1)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        for b in torch.nonzero(~done).flatten().tolist():
            new[b].append(int(nxt[b]))
        done |= torch.isin(nxt, stop)
        if bool(done.all()):
            break
        out = model(input_ids=nxt[:, None], past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1, :]
    return new


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
    """Mean masked next-token cross-entropy of a padded batch, each sequence weighted."""
    import torch

    L = int(lengths.max())
    x, m = x[:, :L], m[:, :L - 1]
    att = (torch.arange(L, device=x.device)[None] < lengths[:, None]).long()
    logits = model(input_ids=x, attention_mask=att).logits[:, :-1]
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

    device = next(model.parameters()).device
    ids, masks = _batches(tok, texts, None)
    X, Mk, lengths = (t.to(device) for t in _tensors(ids, masks, tok.pad_token_id))   # padded once
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, min(200, steps // 10))

    def schedule(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, steps - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    model.train()
    losses = []
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(ids), batch)).to(device)
        loss = masked_loss(model, X[idx], Mk[idx], lengths[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if on_step is not None and on_step(step, losses[-1]):
            break
    model.eval()
    return losses


ASSISTANT = re.compile(r"(?m)^A:([^\n]*\n)")


def assistant_spans(text: str, last_only: bool, start: int = 0) -> list[tuple[int, int]]:
    """Character spans of assistant turns (after 'A:', newline included) at or after ``start``."""
    spans = [(m.start(1), m.end(1)) for m in ASSISTANT.finditer(text) if m.start(1) >= start]
    return spans[-1:] if last_only else spans


def finetune(model, opt, tok, texts: list[str], spans: list[list[tuple[int, int]]], weights: np.ndarray,
             epochs: int, batch: int, rng: np.random.Generator) -> list[float]:
    """Weighted, masked fine-tuning on kept samples; returns the loss per step."""
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
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    model.eval()
    return losses
