"""The neural policy: a `transformers` causal LM and a character tokenizer built here.

``build_tokenizer`` writes a character-level ``PreTrainedTokenizerFast``; ``build_model``
a small GPT-2 from a config (about 0.8M parameters by default). Both save with
``save_pretrained`` (weights as safetensors), and ``load`` reads any local causal-LM
folder through ``AutoTokenizer`` / ``AutoModelForCausalLM``, so a real pretrained model
runs through the same code (on a GPU with ``device = "cuda"``).

A real instruct model (e.g. SmolLM2-135M-Instruct, prepared offline by
:mod:`seedbed.backends.neural.pretrained`) is loaded with ``lora=LoraSettings(...)`` for
parameter-efficient fine-tuning, and spoken to in its chat template: ``chat_format``
(a prompt to sample from) and ``chat_spans`` (a transcript and its assistant spans, to
train on).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

CHARS = string.digits + string.ascii_lowercase + string.ascii_uppercase + " +-:?!.,\n"
SPECIAL = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]


def quiet() -> None:
    """No progress bars or info logs from transformers inside seedbed's own output."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def build_tokenizer():
    """A character-level tokenizer over the task's alphabet."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + list(CHARS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="[BOS]", eos_token="[EOS]", pad_token="[PAD]",
                                   unk_token="[UNK]", padding_side="left", clean_up_tokenization_spaces=False)


def build_model(tokenizer, d_model: int = 128, n_layer: int = 4, n_head: int = 4, n_positions: int = 128, seed: int = 0):
    """A small GPT-2 built from a config, initialised from ``seed`` without touching global RNG state."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=d_model, n_layer=n_layer,
                     n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg)
    return model


def save(model, tokenizer, path: Path) -> Path:
    """Model (safetensors) and tokenizer in one folder that ``load`` reads back."""
    quiet()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@dataclass(frozen=True)
class LoraSettings:
    """Parameter-efficient fine-tuning with ``peft`` LoRA (the ``smollm2`` extra installs peft).

    ``targets``: module names to adapt; None takes peft's default for the architecture
    (``q_proj``, ``v_proj`` for Llama; ``c_attn`` for GPT-2)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] | None = None
    seed: int = 0                  # the adapters' initialisation, without touching global RNG state


def weights_sha256(folder: str | Path) -> str | None:
    """The sha256 (hex) of ``folder/model.safetensors``, None without it; streamed, since a chat
    model's file is 0.5 GB. Names which weights a cached test or an adapted folder belongs to."""
    import hashlib

    w = Path(folder) / "model.safetensors"
    if not w.exists():
        return None
    with open(w, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load(path: str | Path, device: str = "cpu", lora: LoraSettings | None = None):
    """Any local causal-LM folder: (model in eval mode on ``device``, tokenizer).

    With ``lora`` the model is wrapped in ``peft`` LoRA adapters: its trainable parameters
    are the adapters' only (``trainable_parameters``), the base weights frozen."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet()
    path = Path(path)
    if not (path / "config.json").exists():
        from seedbed.core.config import ScenarioError
        raise ScenarioError(f"{path}: not a model folder (no config.json)")
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device)
    if lora is not None:
        model = with_lora(model, lora)
    model.eval()
    return model, tok


def with_lora(model, lora: LoraSettings):
    """``model`` wrapped in LoRA adapters (a ``peft`` PeftModel); only the adapters train."""
    import torch

    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        from seedbed.core.schema import ScenarioError
        raise ScenarioError("LoRA fine-tuning needs peft: pip install -c constraints.txt 'seedbed[smollm2]'") from None
    cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, bias="none",
                     target_modules=list(lora.targets) if lora.targets else None, task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(lora.seed)
        return get_peft_model(model, cfg)


def is_lora(model) -> bool:
    return hasattr(model, "peft_config")


def trainable_parameters(model) -> list:
    """The parameters an optimizer should hold: the LoRA adapters for a LoRA model, else all."""
    return [p for p in model.parameters() if p.requires_grad]


def trainable_state(model) -> dict:
    """What a checkpoint must keep: the adapters' tensors for a LoRA model (a few MB), else the
    whole state dict. ``load_trainable_state`` puts it back into the same kind of model."""
    if is_lora(model):
        from peft import get_peft_model_state_dict
        return get_peft_model_state_dict(model)
    return model.state_dict()


def load_trainable_state(model, state: dict) -> None:
    if is_lora(model):
        from peft import set_peft_model_state_dict
        set_peft_model_state_dict(model, state)
    else:
        model.load_state_dict(state, strict=False)


LORA_FILE = "lora.json"


def lora_of(model) -> tuple[Path, LoraSettings]:
    """A LoRA model's base folder and settings, read back from its peft config (what
    ``write_lora`` records). The seed is not kept by peft: it is 0 here, and matters only for
    fresh adapters (``load_folder`` overwrites every adapter tensor)."""
    cfg = model.peft_config["default"]
    targets = cfg.target_modules
    targets = tuple(sorted(targets)) if targets and not isinstance(targets, str) else (targets,) if targets else None
    return Path(cfg.base_model_name_or_path), LoraSettings(r=cfg.r, alpha=float(cfg.lora_alpha),
                                                          dropout=float(cfg.lora_dropout), targets=targets)


def write_lora(model, path: str | Path, base: str | Path, lora: LoraSettings) -> Path:
    """A LoRA checkpoint: the adapters' tensors (``model.safetensors``, a few MB) and
    ``lora.json`` naming the base folder and the settings; ``load_folder`` reads it back."""
    import json

    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in trainable_state(model).items()}
    save_file(state, path / "model.safetensors")
    (path / LORA_FILE).write_text(json.dumps({"base": str(Path(base).resolve()), "r": lora.r, "alpha": lora.alpha,
                                              "dropout": lora.dropout, "targets": lora.targets, "seed": lora.seed},
                                             indent=1) + "\n")
    return path


def load_folder(path: str | Path, device: str = "cpu"):
    """A model folder (``load``) or a LoRA checkpoint (``write_lora``: its base with these
    adapters): (model in eval mode, tokenizer)."""
    import json

    from safetensors.torch import load_file

    path = Path(path)
    if not (path / LORA_FILE).exists():
        return load(path, device)
    meta = json.loads((path / LORA_FILE).read_text())
    lora = LoraSettings(r=meta["r"], alpha=meta["alpha"], dropout=meta["dropout"],
                        targets=tuple(meta["targets"]) if meta["targets"] else None, seed=meta["seed"])
    model, tok = load(meta["base"], device, lora=lora)
    load_trainable_state(model, load_file(path / "model.safetensors", device=str(device)))
    model.eval()
    return model, tok


# ----------------------------------------------------------------------- chat format
def chat_folder(path: str | Path) -> bool:
    """Whether a model folder's tokenizer carries a chat template (read from its files, without
    loading it): the pipeline then speaks to it in that template and fine-tunes it with LoRA."""
    import json

    p = Path(path)
    if (p / "chat_template.jinja").exists() or (p / "chat_template.json").exists():
        return True
    cfg = p / "tokenizer_config.json"
    try:
        return bool(json.loads(cfg.read_text()).get("chat_template")) if cfg.exists() else False
    except (OSError, ValueError):
        return False


def has_chat_template(tok) -> bool:
    """Whether the tokenizer carries a chat template (a real instruct model; the tiny
    character tokenizer has none and speaks the task's own ``Q:``/``A:`` format)."""
    return bool(getattr(tok, "chat_template", None))


def _messages(turns) -> list[dict]:
    """Turns as chat messages: (role, text) pairs or {"role", "content"} dicts."""
    out = []
    for t in turns:
        role, content = (t["role"], t["content"]) if isinstance(t, dict) else t
        out.append({"role": str(role), "content": str(content)})
    return out


def chat_format(tok, turns, generation_prompt: bool | None = None) -> str:
    """The conversation ``turns`` as text in the tokenizer's chat template. When the last turn
    is the user's (or ``generation_prompt``), the text ends with the assistant's header, ready
    to sample its reply: the reply ends with the template's end-of-turn token, which is the
    tokenizer's eos (pass ``stop=tok.eos_token`` to ``engine.sample``). The text starts with
    the template's own begin token; ``engine.encode`` does not add a second one."""
    msgs = _messages(turns)
    if not has_chat_template(tok):
        raise ValueError(f"{getattr(tok, 'name_or_path', 'tokenizer')}: no chat template")
    if generation_prompt is None:
        generation_prompt = bool(msgs) and msgs[-1]["role"] != "assistant"
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=generation_prompt)


def chat_spans(tok, turns) -> tuple[str, list[tuple[int, int]]]:
    """``chat_format`` of a whole conversation (no generation prompt) and the character span
    of each assistant turn's content, the end-of-turn token included (what masked
    fine-tuning trains on: ``engine.finetune(..., spans=...)``)."""
    msgs = _messages(turns)
    text = chat_format(tok, msgs, generation_prompt=False)
    eos = tok.eos_token or ""
    spans, cursor = [], 0
    for m in msgs:
        at = text.find(m["content"], cursor)
        if at < 0:
            raise ValueError(f"chat template rewrote a turn; cannot find {m['content'][:40]!r}")
        end = at + len(m["content"])
        if m["role"] == "assistant":
            stop = end + len(eos) if eos and text.startswith(eos, end) else end
            spans.append((at, stop))
        cursor = end
    return text, spans


def device_of(scn) -> str:
    """The torch device a scenario's ``neural.device`` names ('auto': CUDA when available)."""
    import torch

    from seedbed.core.schema import ScenarioError

    d = scn.neural.device
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cuda" and not torch.cuda.is_available():
        raise ScenarioError("neural.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return d


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


_NUMBER = re.compile(r"-?\d+")
_AFTER_EQUALS = re.compile(r"=\s*\$?\s*(-?\d+)")


def answer_number(text: str, operands: tuple[int, ...] | list[int] = ()) -> int | None:
    """The number a reply gives as its answer, for replies in words as well as bare numbers:
    the number right after the last '=' ("37 + 48 = 85" → 85); else the last number that is
    not one of the problem's ``operands`` ("The sum of 37 and 48 is 85." → 85, "85. I added
    37 and 48." → 85); else the last number; None when there is none."""
    text = (text or "").replace(",", "")
    eq = _AFTER_EQUALS.findall(text)
    if eq:
        return int(eq[-1])
    nums = [int(x) for x in _NUMBER.findall(text)]
    if not nums:
        return None
    others = [x for x in nums if x not in set(operands)]
    return others[-1] if others else nums[-1]
