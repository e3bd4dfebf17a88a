"""The neural policy: a `transformers` causal LM and a character tokenizer built here.

``build_tokenizer`` writes a character-level ``PreTrainedTokenizerFast``; ``build_model``
a small GPT-2 from a config (about 0.8M parameters by default). Both save with
``save_pretrained`` (weights as safetensors), and ``load`` reads any local causal-LM
folder through ``AutoTokenizer`` / ``AutoModelForCausalLM``, so a real pretrained model
runs through the same code (on a GPU with ``device = "cuda"``).
"""

from __future__ import annotations

import string
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


def load(path: str | Path, device: str = "cpu"):
    """Any local causal-LM folder: (model in eval mode on ``device``, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet()
    path = Path(path)
    if not (path / "config.json").exists():
        from ..config import ScenarioError
        raise ScenarioError(f"{path}: not a model folder (no config.json)")
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device)
    model.eval()
    return model, tok


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
