"""Checkpoints of neural members: written whole or not at all, read back to resume.

Round checkpoints live in the run folder, one folder per finished round::

    checkpoints/<arm>-<seed>/round-RRRR/               a single policy
    checkpoints/<arm>-<seed>/member-MMM/round-RRRR/    a population member

each with the weights (safetensors), the tokenizer, the optimizer state (optimizer.pt)
and the round's outputs (outputs.json: measured shares and stats). For a LoRA model the
weights are the adapters only (a few MB; ``lora.json`` names the base folder and the
settings, :func:`seedbed.backends.neural.model.write_lora`) and the tokenizer is the base's, not
copied; :func:`seedbed.backends.neural.model.load_folder` and the Inspect provider read such a
folder as the base with these adapters. A run started again
with the same folder *restores* finished rounds from their outputs, loads the last one's
weights and computes only what is missing (resume). Older rounds are pruned to their
outputs (see :meth:`RoundCheckpoints.prune`). Round 0 (``round-0000``) holds outputs only:
the base's measured shares, probe stats and rates, so a repetition read back does not probe
its base again (the weights are the base's own folder).

The Ray Tune path (:mod:`seedbed.backends.tune_pbt`) uses the same round checkpoints, and
:func:`write_weights` / :func:`read_weights` for its trial checkpoints and for the
start-of-round weights published to a context-swapping rival.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

OUTPUTS = "outputs.json"


def write_weights(path: Path, model: Any, opt: Any = None, tok: Any = None,
                  outputs: dict[str, Any] | None = None) -> None:
    """Weights (and optimizer state, tokenizer, round outputs when given) as one folder,
    written to ``<path>.tmp`` and moved into place, so ``path`` is whole or absent; a full
    disk is a :class:`~seedbed.core.schema.StoppedRun` (one line, the run resumable)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        _write_folder(tmp, model, opt, tok, outputs)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)          # never a half-written checkpoint
        from seedbed.core.schema import no_space
        if no_space(e):
            from seedbed.results.writing import disk_full
            raise disk_full(path) from None
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def _write_folder(tmp: Path, model: Any, opt: Any, tok: Any, outputs: dict[str, Any] | None) -> None:
    import torch

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    from seedbed.backends.neural.model import is_lora, lora_of, write_lora

    if is_lora(model):                                   # the adapters only; the base stays where it is
        base, lora = lora_of(model)
        write_lora(model, tmp, base, lora)
    else:
        model.save_pretrained(tmp, safe_serialization=True)
        if tok is not None:
            tok.save_pretrained(tmp)
    if opt is not None:
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
    if outputs is not None:
        (tmp / OUTPUTS).write_text(json.dumps(outputs))


def read_weights(path: Path, model: Any, opt: Any = None) -> None:
    """Load a folder written by :func:`write_weights` into ``model`` (and ``opt``), in place."""
    import torch
    from safetensors.torch import load_file

    from seedbed.backends.neural.model import LORA_FILE, is_lora, load_trainable_state

    device = next(model.parameters()).device
    state = load_file(Path(path) / "model.safetensors", device=str(device))
    if is_lora(model) != (Path(path) / LORA_FILE).exists():
        raise ValueError(f"{path}: a {'LoRA' if is_lora(model) else 'whole-model'} run cannot load these weights "
                         f"({'adapters' if not is_lora(model) else 'a whole model'})")
    if is_lora(model):
        load_trainable_state(model, state)
    else:
        model.load_state_dict(state, strict=False)
        if model.config.tie_word_embeddings:             # safetensors stores tied weights once
            model.tie_weights()
    if opt is not None:
        opt.load_state_dict(torch.load(Path(path) / "optimizer.pt", map_location=device, weights_only=True))


class RoundCheckpoints:
    """One member's round checkpoints in ``folder``.

    ``keep``: rounds whose weights are kept (``neural.keep_checkpoints``). In a population
    at least the previous round's weights are kept too (a crash mid-round recomputes the
    round for every member), and those of the latest exploit round (a member restored
    after a crash may still need its parent's weights).
    """

    def __init__(self, folder: Path, keep: int, members: int = 1, interval: int = 0):
        self.folder = Path(folder)
        self.keep = max(keep, 2 if members > 1 else 1)
        self.interval = interval if members > 1 else 0

    @classmethod
    def of(cls, workdir: Path | None, arm: str, seed: int, member: int, scn: Any) -> "RoundCheckpoints | None":
        """The checkpoints of ``member`` of one repetition in run folder ``workdir`` (None: no checkpoints)."""
        if workdir is None:
            return None
        pop = scn.population
        folder = Path(workdir) / "checkpoints" / f"{arm}-{seed}"
        if pop.members > 1:
            folder = folder / f"member-{member:03d}"
        return cls(folder, scn.neural.keep_checkpoints, pop.members, pop.interval)

    def path(self, r: int) -> Path:
        return self.folder / f"round-{r:04d}"

    def finished(self, r: int) -> bool:
        """Whether round r was finished (its outputs were saved)."""
        return (self.path(r) / OUTPUTS).exists()

    def outputs(self, r: int) -> dict[str, Any]:
        return json.loads((self.path(r) / OUTPUTS).read_text())

    def has_weights(self, r: int) -> bool:
        return (self.path(r) / "model.safetensors").exists()

    def save(self, r: int, model: Any, tok: Any, opt: Any, outputs: dict[str, Any]) -> None:
        """Round r's weights, optimizer state and outputs; then prune older rounds."""
        write_weights(self.path(r), model, opt, tok, outputs)
        self.prune(r)

    def save_outputs(self, r: int, outputs: dict[str, Any]) -> None:
        """Round r's outputs alone (round 0: the base's probes; the base's weights are the run's)."""
        from seedbed.results.writing import write_text

        write_text(self.path(r) / OUTPUTS, json.dumps(outputs))

    def prune(self, r: int) -> None:
        """Drop the weights of rounds older than the last ``keep`` (their outputs stay), except
        the latest exploit round before ``r``."""
        sync = r - r % self.interval if self.interval else -1
        for old in sorted(self.folder.glob("round-[0-9][0-9][0-9][0-9]"))[:-self.keep]:
            if old.name == f"round-{sync:04d}":
                continue
            for f in old.iterdir():
                if f.name != OUTPUTS:
                    f.unlink()
