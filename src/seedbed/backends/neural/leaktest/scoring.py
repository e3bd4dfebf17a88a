"""Teacher-forced scores of items under a causal LM, in batched forward passes.

For each item (question, answer) rendered in the model's style (:func:`.items.style_of`),
one forward pass over the whole text gives, with no per-token Python:

* ``ll``: log p(answer | prompt), summed over the answer's tokens and the token that ends the
  turn (a newline for the tiny model, the chat template's end-of-turn token for a chat model),
  in nats;
* ``greedy``: whether greedy decoding would reproduce the answer exactly: every answer token
  (and the terminator) is the argmax of its next-token distribution given the reference
  prefix, which is what greedy decoding would have produced, so no sampling is needed;
* ``minkpp``: the Min-K%++ membership score (:mod:`.membership`) over the item's own tokens
  (the question and the answer; a chat template's system and header tokens are left out).

Texts are sorted by length and right-padded with an attention mask, so a causal model's
outputs at real positions are those of the unpadded text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.backends.neural.leaktest.items import Item
from seedbed.backends.neural.leaktest.membership import DEFAULT_K, minkpp

TOKEN_BUDGET = 1 << 24      # logits floats held at once (rows × positions × vocabulary)


@dataclass
class Scores:
    """Per-item arrays (aligned with the items scored)."""

    ll: np.ndarray              # log p(answer + terminator | prompt), nats
    tokens: np.ndarray          # answer tokens scored (terminator included)
    greedy: np.ndarray          # greedy decoding reproduces the answer (bool)
    minkpp: np.ndarray          # Min-K%++ of the item's tokens


def render(tok: Any, item: Item, style: str) -> tuple[str, tuple[int, int], list[tuple[int, int]]]:
    """(text, answer span, the item's own spans) in characters. The answer span includes the
    turn's terminator; the item's own spans are what Min-K%++ reads."""
    q, a = str(item["question"]), str(item["answer"])
    if style == "plain":
        prompt = f"Q:{q}\nA:"
        text = f"{prompt}{a}\n"
        return text, (len(prompt), len(text)), [(0, len(text))]
    from seedbed.backends.neural.model import chat_spans

    text, spans = chat_spans(tok, [("user", q), ("assistant", a)])
    at = text.find(q)
    return text, spans[0], [(at, at + len(q)), spans[0]]


def _encode(tok: Any, texts: list[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and character offsets, after the tokenizer's begin token unless the text
    starts with it already (as :func:`seedbed.backends.neural.engine.encode`); the begin token's
    offset is (-1, -1), inside no span."""
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    bos_id, bos = tok.bos_token_id, tok.bos_token
    ids, offs = [], []
    for t, x, o in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        x, o = list(x), [tuple(p) for p in o]
        if bos_id is not None and not (bos and t.startswith(bos)):
            x, o = [bos_id] + x, [(-1, -1)] + o
        ids.append(x)
        offs.append(o)
    return ids, offs


def _in(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> np.ndarray:
    start = np.array([o[0] for o in offsets])
    end = np.array([o[1] for o in offsets])
    hit = np.zeros(len(offsets), dtype=bool)
    for a, b in spans:
        hit |= (start >= a) & (start < b) & (end > start)
    return hit


def shared_prefix(ids: list[list[int]], scored: list[np.ndarray]) -> int:
    """Tokens every text starts with and none of whose successors is scored: the prefix can
    run once, with its key/value cache shared by every row (0 or 1: nothing worth sharing).
    The prefix's last position predicts the first scored token, so it stops one short."""
    if len(ids) < 2:
        return 0
    first = min(int(np.argmax(m)) if m.any() else len(m) for m in scored)
    P = min(min(len(x) for x in ids) - 1, first)
    ref = np.array(ids[0][:P])
    for x in ids[1:]:
        same = np.asarray(x[:P]) == ref[:P]
        P = int(np.argmin(same)) if not same.all() else P
        ref = ref[:P]
    return P if P >= 8 else 0


def score(model: Any, tok: Any, items: list[Item], style: str, k: float = DEFAULT_K,
          token_budget: int = TOKEN_BUDGET) -> Scores:
    """Teacher-forced scores of ``items`` (see the module docstring)."""
    import torch

    n = len(items)
    rendered = [render(tok, it, style) for it in items]
    ids, offs = _encode(tok, [r[0] for r in rendered])
    ans = [_in(o, [r[1]]) for o, r in zip(offs, rendered)]
    own = [_in(o, r[2]) for o, r in zip(offs, rendered)]
    for i, a in enumerate(ans):
        if not a[1:].any():
            raise ValueError(f"item {i}: its answer {items[i]['answer']!r} covers no token")
    out = Scores(np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=bool), np.zeros(n))
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    P = shared_prefix(ids, [a | o for a, o in zip(ans, own)])
    order = sorted(range(n), key=lambda i: len(ids[i]))
    rows = max(1, token_budget // max(1, (max(len(x) for x in ids) - P + 1) * vocab))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        if P > 1:                    # the shared prefix (a chat template's system turn) runs once
            pre = model(input_ids=torch.tensor([ids[0][:P]], device=device), use_cache=True)
            past, last = pre.past_key_values, pre.logits[:, -1:].float()
        for s in range(0, n, rows):
            chunk = order[s:s + rows]
            L = max(len(ids[i]) for i in chunk)
            B = len(chunk)
            x = torch.full((B, L), pad, dtype=torch.long)
            att = torch.zeros((B, L), dtype=torch.long)
            am = np.zeros((B, L), dtype=bool)
            om = np.zeros((B, L), dtype=bool)
            for r, i in enumerate(chunk):
                x[r, :len(ids[i])] = torch.tensor(ids[i])
                att[r, :len(ids[i])] = 1
                am[r, :len(ids[i])] = ans[i]
                om[r, :len(ids[i])] = own[i]
            x, att = x.to(device), att.to(device)
            if P > 1:
                cache = copy.deepcopy(past)
                cache.batch_repeat_interleave(B)
                pos = torch.arange(P, L, device=device)[None].expand(B, -1)
                tail = model(input_ids=x[:, P:], attention_mask=att, position_ids=pos, past_key_values=cache,
                             use_cache=True).logits[:, :-1].float()
                logits = torch.cat([last.expand(B, -1, -1), tail], 1)              # predicts tokens P..L-1
                start = P
            else:
                logits = model(input_ids=x, attention_mask=att).logits[:, :-1].float()   # tokens 1..L-1
                start = 1
            logp = torch.log_softmax(logits, -1)                                   # (B, L - start, V)
            tgt = x[:, start:]
            lp = logp.gather(2, tgt[..., None]).squeeze(2)
            p = logp.exp()
            mu = (p * logp).sum(-1)
            sigma = ((p * logp.square()).sum(-1) - mu.square()).clamp(min=0).sqrt()
            hit = (logp.argmax(-1) == tgt).cpu().numpy()
            lp, mu, sigma = lp.cpu().numpy(), mu.cpu().numpy(), sigma.cpu().numpy()
            am, om = am[:, start:], om[:, start:]
            out.ll[chunk] = (lp * am).sum(1)
            out.tokens[chunk] = am.sum(1)
            out.greedy[chunk] = np.all(hit | ~am, axis=1)
            out.minkpp[chunk] = minkpp(lp, mu, sigma, om, k)
    model.train(was_training)
    return out
