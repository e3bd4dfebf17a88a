"""Exact answer distributions by teacher forcing: no sampling, one forward pass per batch.

For a prompt ending in ``A:``, :func:`answer_probs` gives the probability of every valid
answer string — each number ``v`` in a range, plain (``"v"``) or harmful (``"ugh v"``),
ended by a newline or the end-of-sequence token, which is how the sampler ends a turn —
so probe rates are sums of exact probabilities instead of sampled counts. The mass on
everything else (malformed text, numbers outside the range) is what is left over.

How: the candidate strings share prefixes, so they form a token trie (46 nodes for the numbers
0..20 and their harmful forms, for the character tokenizer). Each prompt is
followed by the whole trie flattened into one sequence, with a 4-D attention mask under
which a trie node sees the prompt and its own ancestors only, and position ids that
continue the prompt's. One forward pass then gives the next-token distribution after
every prefix of every candidate; a candidate's probability is the product along its path
times the probability of a terminator after it. Prompts are bucketed by token length, so
a bucket shares one mask and needs no padding. A prefix every prompt shares (a chat
template's system turn) is computed once and its keys and values reused by every batch
(:data:`~seedbed.backends.neural.engine.MIN_SHARED` tokens or more).

Exact for the character tokenizer (every string has one tokenization). For another
tokenizer the candidates are scored in their canonical tokenization.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from seedbed.backends.neural.task import HARM


@dataclass(frozen=True)
class Trie:
    """Candidate answer strings as a token trie.

    ``token[j]``, ``parent[j]`` (−1: the prompt's last token) and ``depth[j]`` of node j;
    ``ancestors`` (N, N): node k is j or an ancestor of j; ``leaf[c, h]``: the node that ends
    candidate (value c, harm h); ``terminators``: token ids that end a turn.
    """

    token: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    ancestors: np.ndarray
    leaf: np.ndarray
    terminators: tuple[int, ...]          # empty: the newline is inside the trie (a leaf ends the turn)


def build_trie(tok: Any, values: Sequence[int], terminators: Sequence[int] | None = None) -> Trie:
    """The trie of ``str(v)`` and ``HARM + str(v)`` for every v in ``values``. A turn ends at a
    newline or the end-of-sequence token (the task format), or at ``terminators`` when given
    (a chat reply ends at its end-of-turn token only: after "8\n" a chat model may go on)."""
    nl = tok("\n", add_special_tokens=False)["input_ids"]
    if terminators is not None:
        suffix, terminators = "", tuple(int(t) for t in terminators)
    else:
        suffix = "" if len(nl) == 1 else "\n"          # a multi-token newline goes into the trie itself
        terminators = () if suffix else tuple(t for t in (nl[0], tok.eos_token_id) if t is not None)
    children: dict[tuple[int, int], int] = {}
    token, parent, depth = [], [], []
    leaf = np.zeros((len(values), 2), dtype=np.int64)
    for c, v in enumerate(values):
        for h, body in enumerate((str(v), HARM + str(v))):
            node = -1
            for i, t in enumerate(tok(body + suffix, add_special_tokens=False)["input_ids"]):
                key = (node, int(t))
                if key not in children:
                    children[key] = len(token)
                    token.append(int(t))
                    parent.append(node)
                    depth.append(i)
                node = children[key]
            leaf[c, h] = node
    N = len(token)
    anc = np.zeros((N, N), dtype=bool)
    for j in range(N):
        k = j
        while k >= 0:
            anc[j, k] = True
            k = parent[k]
    return Trie(np.array(token), np.array(parent), np.array(depth), anc, leaf, terminators)


_TRIES: dict[tuple, Trie] = {}


def cached_trie(tok: Any, values: Sequence[int], terminators: Sequence[int] | None = None) -> Trie:
    """:func:`build_trie`, built once per tokenizer, answer list and terminators (the probes of a
    run reuse it every round)."""
    key = (id(tok), tuple(values), None if terminators is None else tuple(terminators))
    if key not in _TRIES:
        _TRIES[key] = build_trie(tok, values, terminators)
    return _TRIES[key]


def takes_logits_to_keep(model: Any) -> bool:
    """Whether the (possibly LoRA-wrapped) model's forward takes ``logits_to_keep``."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


@lru_cache(maxsize=8)
def _mask(p: int, parent: tuple[int, ...], depth: tuple[int, ...], anc_bytes: bytes, dtype_name: str):
    """The (1, 1, L, L) additive mask and (1, L) position ids of a prompt of p tokens + the trie."""
    import torch

    dtype = getattr(torch, dtype_name)
    N = len(parent)
    L = p + N
    allowed = torch.zeros(L, L, dtype=torch.bool)
    allowed[:p, :p] = torch.tril(torch.ones(p, p, dtype=torch.bool))
    allowed[p:, :p] = True
    allowed[p:, p:] = torch.from_numpy(np.frombuffer(anc_bytes, dtype=bool).reshape(N, N).copy())
    mask = torch.zeros(L, L, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    pos = torch.cat([torch.arange(p), p + torch.tensor(depth, dtype=torch.long)])
    return mask[None, None], pos[None]


def answer_probs(model: Any, tok: Any, prompts: Sequence[str], values: Sequence[int], batch_size: int = 64,
                 trie: Trie | None = None) -> np.ndarray:
    """(P, V, 2): probability of answer ``values[c]`` plain (h = 0) or harmful (h = 1), ended
    by a terminator, after each prompt. Exact, by teacher forcing (see the module docstring)."""
    import copy

    import torch

    from seedbed.backends.neural.engine import MIN_SHARED, _common_prefix, encode

    trie = trie or build_trie(tok, values)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    ids = encode(tok, list(prompts))
    out = np.zeros((len(prompts), len(values), 2))
    buckets: dict[int, list[int]] = {}
    for i, x in enumerate(ids):
        buckets.setdefault(len(x), []).append(i)
    N = len(trie.token)
    nodes = torch.tensor(trie.token, device=device)
    anc = torch.tensor(trie.ancestors, dtype=dtype, device=device)               # (N, N)
    term = torch.tensor(trie.terminators, device=device)
    leaf = torch.tensor(trie.leaf, device=device)
    key = (tuple(trie.parent.tolist()), tuple(trie.depth.tolist()), trie.ancestors.tobytes())
    keep = takes_logits_to_keep(model)
    was_training = model.training
    model.eval()
    shared = min(_common_prefix(ids), min(len(x) for x in ids) - 1) if ids else 0
    with torch.no_grad():
        head = None
        if shared >= MIN_SHARED:                                      # the common prefix, once
            head = model(input_ids=torch.tensor([ids[0][:shared]], device=device), use_cache=True,
                         **({"logits_to_keep": 1} if keep else {})).past_key_values
            if not hasattr(head, "batch_select_indices"):
                head = None
        shared = shared if head is not None else 0
        for p, members in sorted(buckets.items()):
            mask, pos = _mask(p, *key, str(dtype).removeprefix("torch."))
            mask, pos = mask[:, :, shared:].to(device), pos[:, shared:].to(device)   # rows after the prefix
            # logits are needed at the prompt's last position and at every trie node only (the last
            # N + 1 positions): index 0 is the prompt's last, 1 + j node j's. A model that takes
            # logits_to_keep computes the output head there alone (for SmolLM2 the 49k-row head
            # costs as much per position as the rest of the network)
            src = torch.where(torch.tensor(trie.parent) < 0, 0, 1 + torch.tensor(trie.parent)).to(device)
            for s in range(0, len(members), batch_size):
                chunk = members[s:s + batch_size]
                B = len(chunk)
                x = torch.cat([torch.tensor([ids[i][shared:] for i in chunk], device=device), nodes.expand(B, N)], 1)
                kw = {"logits_to_keep": N + 1} if keep else {}
                if head is not None:                                  # a fresh copy: the pass appends to it
                    past = copy.deepcopy(head)
                    past.batch_select_indices(torch.zeros(B, dtype=torch.long, device=device))
                    kw.update(past_key_values=past, use_cache=True)
                logits = model(input_ids=x, attention_mask=mask.expand(B, 1, -1, -1),
                               position_ids=pos.expand(B, -1), **kw).logits[:, -(N + 1):].float()
                logp = torch.log_softmax(logits, -1)                              # (B, N + 1, V)
                edge = logp[:, src, :].gather(2, nodes.expand(B, N)[..., None]).squeeze(2)   # (B, N)
                path = edge @ anc.T.float()                                       # log P(node's whole path)
                end = torch.logsumexp(logp[:, 1:, :][..., term], -1) if len(term) else torch.zeros_like(path)
                total = (path + end)[:, leaf.flatten()].view(B, len(values), 2)
                out[chunk] = total.exp().cpu().numpy()
    model.train(was_training)
    return out
