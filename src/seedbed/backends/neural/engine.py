"""Sampling and training for the neural policy.

* ``sample``: n completions per prompt, batched, with a KV cache. Rows are sorted by
  length and left-padded (attention mask; position ids from each row's first real
  token, so positions stay exact); each step feeds only the newest token; a row stops at
  the stop string (a newline ends a tiny-model turn, the eos a chat model's), and
  finished rows leave the batch.
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
    real token, so a padded row gives the same tokens as an unpadded one. The prompt pass
    shares what rows have in common (:func:`prefill`)."""
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
            tokens, lengths = decode_loop(model, [ids[i] for _, i, _ in chunk], gen, max_new, temperature,
                                          stop_ids, pad)
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


_KEEP: dict[type, bool] = {}      # model class → whether its forward takes logits_to_keep


def _keeps_last_logits(model) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (then the prompt pass computes
    the vocabulary projection for the last position only, not for all B·L)."""
    import inspect

    base = type(getattr(model, "get_base_model", lambda: model)())     # a LoRA model passes it on
    if base not in _KEEP:
        _KEEP[base] = "logits_to_keep" in inspect.signature(base.forward).parameters
    return _KEEP[base]


MIN_SHARED = 16     # a prefix common to a whole batch is computed once from this many tokens on


def prefill(model, seqs: list[list[int]], pad: int, device):
    """The prompt pass of one batch of token rows: the KV cache, the next-token logits (B, V),
    the attention mask (B, L) and each row's next position (B, 1).

    Work the rows share is done once, exactly (the same keys and values, up to float
    rounding in a differently shaped matmul):

    * identical rows (the n samples of one prompt) are computed once and their cache copied;
    * a prefix common to every row, of at least :data:`MIN_SHARED` tokens (a chat template's
      system turn and the start of the user turn), is computed once, for one row; each row's
      rest, left-padded, runs on top of it: [prefix | pad… | rest], the pad masked out,
      positions counting on from the prefix.

    A cache that cannot select rows (no ``batch_select_indices``) gets the plain pass."""
    import torch

    uniq: dict[tuple[int, ...], int] = {}
    index = [uniq.setdefault(tuple(q), len(uniq)) for q in seqs]
    rows = [list(q) for q in uniq]
    shared = _common_prefix(rows)
    shared = min(shared, min(len(r) for r in rows) - 1)             # every row keeps a token to run
    extra = {"logits_to_keep": 1} if _keeps_last_logits(model) else {}
    past = None
    if shared >= MIN_SHARED:
        head = model(input_ids=torch.tensor([rows[0][:shared]], device=device), use_cache=True, **extra)
        past = head.past_key_values if hasattr(head.past_key_values, "batch_select_indices") else None
    if past is not None:
        past.batch_select_indices(torch.zeros(len(rows), dtype=torch.long, device=device))
        x, m = left_pad([r[shared:] for r in rows], pad, device)
        mask = torch.cat([torch.ones((len(rows), shared), dtype=m.dtype, device=device), m], 1)
        pos = shared + (m.cumsum(1) - 1).clamp(min=0)
        out = model(input_ids=x, attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True, **extra)
    else:
        x, mask = left_pad(rows, pad, device)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        out = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=True, **extra)
    past, logits, nxt_pos = out.past_key_values, out.logits[:, -1, :], pos[:, -1:] + 1
    if len(rows) < len(seqs):
        if not hasattr(past, "batch_select_indices"):               # no row selection: the plain pass
            x, mask = left_pad(seqs, pad, device)
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            out = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=True, **extra)
            return out.past_key_values, out.logits[:, -1, :], mask, pos[:, -1:] + 1
        idx = torch.tensor(index, dtype=torch.long, device=device)
        past.batch_select_indices(idx)
        logits, mask, nxt_pos = logits[idx], mask[idx], nxt_pos[idx]
    return past, logits, mask, nxt_pos


def _common_prefix(rows: list[list[int]]) -> int:
    """The number of leading tokens every row shares."""
    first, n = rows[0], min(len(r) for r in rows)
    k = 0
    while k < n and all(r[k] == first[k] for r in rows):
        k += 1
    return k


def decode_loop(model, seqs: list[list[int]], gen, max_new: int, temperature: float, stop_ids, pad: int):
    """Autoregressive sampling with the model's KV cache over one batch of prompt token rows
    (the prompt pass: :func:`prefill`).

    Returns the new tokens (B, max_new) and each row's length (the stop token included).
    Each step is whole-batch tensor work, with no per-row Python: a finished row's tokens
    are masked out, and once a quarter of the rows still in the batch have finished they
    are dropped from it (the cache's ``batch_select_indices``), so a few long replies do
    not keep the whole batch busy."""
    import torch

    B = len(seqs)
    device = next(model.parameters()).device
    past, logits, mask, nxt_pos = prefill(model, seqs, pad, device)
    stop = torch.tensor(list(stop_ids), device=device, dtype=torch.long)
    tokens = torch.full((B, max_new), pad, dtype=torch.long, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    rows = torch.arange(B, device=device)                   # the batch's rows still being fed
    done = torch.zeros(B, dtype=torch.bool, device=device)
    can_drop = hasattr(past, "batch_select_indices")
    for t in range(max_new):
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits.float() / temperature, -1)
            nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        tokens[rows, t] = torch.where(done, pad, nxt)
        lengths[rows] += (~done).long()
        done |= torch.isin(nxt, stop)
        finished = int(done.sum())
        if t == max_new - 1 or finished == len(rows):
            break
        if can_drop and 4 * finished >= len(rows):
            keep = torch.nonzero(~done).flatten()
            past.batch_select_indices(keep)
            mask, nxt, nxt_pos, rows, done = mask[keep], nxt[keep], nxt_pos[keep], rows[keep], done[keep]
        mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=device)], 1)
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=nxt_pos, past_key_values=past,
                    use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1, :]
        nxt_pos = nxt_pos + 1
    return tokens, lengths


def _batches(tok, texts: list[str], spans: list[list[tuple[int, int]]] | None):
    """Token ids (after one begin token, as :func:`encode`), and a loss mask over the target
    tokens (all but the first id) inside the character spans."""
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    bos, bos_text = tok.bos_token_id, tok.bos_token
    ids, masks = [], []
    for k, (x, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
        if spans is None:
            mk = [1] * len(x)
        else:
            mk = [int(any(a <= o0 < b for a, b in spans[k])) for o0, _ in offs]
        if bos_text and texts[k].startswith(bos_text):     # a chat text opens with the begin token itself
            ids.append(list(x))
            masks.append(mk[1:])
        else:
            ids.append([bos] + x)
            masks.append(mk)
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


def masked_loss(model, x, m, lengths, weights=None, tokens_per_seq: float | None = None):
    """Masked next-token cross-entropy of a right-padded batch, each sequence weighted.

    ``tokens_per_seq`` given (seedbed's own loops): every target token counts the same, its
    sequence's weight times 1 — Σ_i w_i Σ_t nll_it / (Σ_i w_i · tokens_per_seq), a constant
    normaliser (the mean masked tokens per sequence of the whole training set). This is the
    maximum-likelihood loss of the training distribution: a long conversation (a harmful
    one, one with a review) weighs as much per token as a short one. Without it: the mean
    of per-sequence means, which weighs each token by 1/(its sequence's length) and so
    biases the model toward short conversations (a base pre-trained that way under-produces
    harm by about a seventh).

    No attention mask: padding comes after every real token, and a causal model's outputs
    at real positions never see what follows them (the pads' own outputs are masked out of
    the loss), so the model runs its plain causal attention.

    The output head runs at the target positions only (the mask's nonzero entries): a
    position outside the mask has weight 0, so its logits never reach the loss or the
    gradient. For a chat model that is most of the saving: SmolLM2's head is a 49k-row
    matmul and a 49k-way softmax per position, and a fine-tuning conversation of ~60 tokens
    has ~4 target tokens per answer.

    A prefix every row shares, of at least :data:`MIN_SHARED` tokens and ending before the
    first target (a chat template's system turn and the start of the user turn: about half
    of a SmolLM2 fine-tuning conversation), runs once, for one row; every row's rest runs on
    its keys and values, positions counting on from it. The gradient reaches the adapters
    through the prefix too (the copies' gradients sum, as the rows' would). The loss and
    gradients are the full pass's, up to float rounding in differently shaped matmuls.

    Where that would not hold, the plain pass runs instead (:func:`full_pass_loss`): a model
    whose forward does more than head(body) (only Llama and GPT-2 are known not to: another
    may scale or cap its logits), and, for the shared prefix alone, active dropout (one mask
    for every row's prefix) or a cache the body leaves empty (gradient checkpointing)."""
    import torch

    body, head = body_and_head(model)
    if body is None:
        return full_pass_loss(model, x, m, lengths, weights, tokens_per_seq)
    L = int(lengths.max())
    x, m = x[:, :L], m[:, :L - 1]
    rows, cols = torch.nonzero(m, as_tuple=True)           # target (sequence, position) pairs; predicts cols + 1
    shared = shared_before_targets(x, cols)
    past = None
    if shared >= MIN_SHARED and not _dropout_active(model):
        past = body(input_ids=x[:1, :shared], use_cache=True).past_key_values
        ok = hasattr(past, "batch_select_indices") and past.get_seq_length() == shared
        past = past if ok else None
    if past is not None:
        past.batch_select_indices(torch.zeros(len(x), dtype=torch.long, device=x.device))
        pos = torch.arange(shared, L, device=x.device).expand(len(x), -1)
        # (N, L − shared, d), after the final norm: row i's position shared + j at [i, j]
        hidden = body(input_ids=x[:, shared:], past_key_values=past, position_ids=pos, use_cache=True).last_hidden_state
    else:
        shared, hidden = 0, body(input_ids=x).last_hidden_state
    nll = torch.nn.functional.cross_entropy(head(hidden[rows, cols - shared]), x[rows, cols + 1],
                                            reduction="none") * m[rows, cols]
    total = torch.zeros(len(x), dtype=nll.dtype, device=nll.device).index_add(0, rows, nll)   # Σ_t per sequence
    return _normalise(total, m, weights, tokens_per_seq)


def full_pass_loss(model, x, m, lengths, weights=None, tokens_per_seq: float | None = None):
    """``masked_loss`` computed the plain way: logits at every position of every row, the mask
    applied afterwards. The reference the fast loss is held to (tests,
    ``benchmarks/smollm2_round.py``), and the loss seedbed used before it."""
    import torch

    L = int(lengths.max())
    x, m = x[:, :L], m[:, :L - 1]
    logits = model(input_ids=x).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                            reduction="none").view_as(m) * m
    return _normalise(nll.sum(1), m, weights, tokens_per_seq)


def _normalise(total, m, weights, tokens_per_seq):
    """The loss from each sequence's summed masked nll ``total`` (N,) (see ``masked_loss``)."""
    if tokens_per_seq is not None:
        if weights is None:
            return total.sum() / (len(total) * tokens_per_seq)
        return (total * weights).sum() / (weights.sum().clamp(min=1e-12) * tokens_per_seq)
    per_seq = total / m.sum(1).clamp(min=1)
    if weights is None:
        return per_seq.mean()
    return (per_seq * weights).sum() / weights.sum().clamp(min=1e-12)


def shared_before_targets(x, cols) -> int:
    """Leading tokens every row of ``x`` (N, L) shares, up to the first target position
    (``cols``: the positions whose outputs the loss reads)."""
    import torch

    differs = torch.nonzero((x != x[:1]).any(0))
    return min(int(differs[0]) if len(differs) else x.shape[1], int(cols.min()) if len(cols) else 0)


HEAD_OF_BODY = ("llama", "gpt2")    # model types whose logits are exactly head(body(x)): no scaling, no capping


def body_and_head(model):
    """A causal LM as (body: token ids → final hidden states, output head), so a loss can run
    the head where it needs logits only; (None, None) for a model type not in
    :data:`HEAD_OF_BODY`. A PEFT model's are its wrapped model's, adapters in place (LoRA
    replaces the body's linear layers themselves)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner.config, "model_type", None) not in HEAD_OF_BODY:
        return None, None
    return inner.base_model, inner.get_output_embeddings()


def _dropout_active(model) -> bool:
    """Whether a training pass of ``model`` draws dropout masks (any dropout with p > 0 in training mode)."""
    import torch

    return model.training and any(isinstance(mod, torch.nn.Dropout) and mod.p > 0 for mod in model.modules())


def lm_loss(model, ids: list[list[int]], masks: list[list[int]], weights: np.ndarray | None, pad_id: int,
            tokens_per_seq: float | None = None):
    """Masked, weighted loss of a list batch (see ``masked_loss``)."""
    import torch

    device = next(model.parameters()).device
    x, m, lengths = (t.to(device) for t in _tensors(ids, masks, pad_id))
    w = None if weights is None else torch.tensor(weights, device=device, dtype=torch.float)
    return masked_loss(model, x, m, lengths, w, tokens_per_seq)


def train_lm(model, tok, texts: list[str], steps: int, batch: int, lr: float, rng: np.random.Generator,
             on_step=None) -> list[float]:
    """Pre-train on whole conversations (AdamW, linear warm-up, cosine decay to 10%), every
    token weighted the same (maximum likelihood of the corpus; see ``masked_loss``).
    ``on_step(step, loss)`` may return True to stop early."""
    import math

    import torch

    from seedbed.backends.neural.model import quiet

    quiet()                                        # no padding advice: right padding needs no mask here
    device = next(model.parameters()).device
    ids, masks = _batches(tok, texts, None)
    X, Mk, lengths = (t.to(device) for t in _tensors(ids, masks, tok.pad_token_id))   # padded once
    per_seq = float(Mk.sum()) / max(len(ids), 1)          # the loss's constant normaliser (see masked_loss)
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
    capacity = PACK * int(lengths.max())
    for step in range(steps):
        idx = rng.integers(0, len(ids), batch)
        loss = packed_loss(model, X, Mk, lengths, idx, capacity, per_seq)
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
PACK = 2              # train_lm packs a batch's conversations into rows of PACK × the longest one


def pack(lengths: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """First-fit decreasing: each sequence's (row, offset) in rows of ``capacity`` tokens."""
    order = np.argsort(-lengths, kind="stable")
    free: list[int] = []                           # room left in each row
    row = np.zeros(len(lengths), dtype=np.int64)
    off = np.zeros(len(lengths), dtype=np.int64)
    for j in order:
        n = int(lengths[j])
        for r, room in enumerate(free):
            if room >= n:
                break
        else:
            r = len(free)
            free.append(capacity)
        row[j], off[j] = r, capacity - free[r]
        free[r] -= n
    return row, off


def packed_loss(model, X, Mk, lengths, idx: np.ndarray, capacity: int, tokens_per_seq: float):
    """The loss of ``masked_loss`` (every token its sequence's weight, constant normaliser)
    for the sequences ``idx`` of the padded set (X, Mk, lengths), computed on packed rows:
    several sequences share a row, each attending only to itself (a block-diagonal causal
    4-D mask) with positions counted from its own start, so each is computed exactly as
    alone — without the padding a batch of mixed lengths carries (about a third here)."""
    import torch

    device = X.device
    lens = lengths[torch.from_numpy(idx).to(device)].cpu().numpy()
    row, off = pack(lens, capacity)
    R, total = int(row.max()) + 1, int(lens.sum())
    start = np.repeat(np.cumsum(lens) - lens, lens)
    within = np.arange(total) - start                              # position inside its own sequence
    seq = np.repeat(np.arange(len(idx)), lens)
    r_t = torch.from_numpy(np.repeat(row, lens)).to(device)
    c_t = torch.from_numpy(np.repeat(off, lens) + within).to(device)
    src = torch.from_numpy(np.repeat(idx, lens)).to(device)
    w_t = torch.from_numpy(within).to(device)
    x = torch.zeros((R, capacity), dtype=X.dtype, device=device)
    x[r_t, c_t] = X[src, w_t]
    pos = torch.zeros((R, capacity), dtype=torch.long, device=device)
    pos[r_t, c_t] = w_t
    seg = torch.full((R, capacity), -1, dtype=torch.long, device=device)
    seg[r_t, c_t] = torch.from_numpy(seq).to(device)
    tgt = torch.zeros((R, capacity), dtype=torch.float, device=device)      # token at c is a target (of c − 1)
    keep = w_t > 0
    tgt[r_t[keep], c_t[keep]] = Mk[src[keep], w_t[keep] - 1]
    cols = torch.arange(capacity, device=device)
    allowed = (seg[:, :, None] == seg[:, None, :]) & (cols[None, None, :] <= cols[None, :, None])
    allowed |= torch.eye(capacity, dtype=torch.bool, device=device)[None]   # padding sees itself (no empty rows)
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    logits = model(input_ids=x, attention_mask=mask[:, None], position_ids=pos).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                            reduction="none").view(R, capacity - 1)
    return (nll * tgt[:, 1:]).sum() / (len(idx) * tokens_per_seq)


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
    """Weighted, masked fine-tuning on kept samples; returns the loss per step. Every trained
    token counts its sequence's weight (see ``masked_loss``), so each kept turn's choice is
    trained with its selection weight, whatever the turn's length.

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
    per_seq = float(np.average([sum(mk) for mk in masks], weights=w))   # the loss's constant normaliser
    model.train()
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(ids))
        for s in range(0, len(order), batch):
            b = order[s:s + batch]
            loss = lm_loss(model, [ids[i] for i in b], [masks[i] for i in b], w[b], tok.pad_token_id, per_seq)
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
