"""The experiment scripts in experiments/: carrying a run folder between machines without its
weights keeps every finished repetition and continues the run to the same rows."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import seedbed  # noqa: E402
from seedbed.core.config import load_scenario  # noqa: E402
from tests.backends.neural.test_neural import TINY  # noqa: E402

CARRY = Path(__file__).resolve().parents[1] / "experiments" / "smollm2-8-rounds" / "carry.py"


def _carry():
    spec = importlib.util.spec_from_file_location("carry", CARRY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cut(BaseException):
    """A machine taken away mid-run (not an Exception: nothing in seedbed catches it)."""


def test_a_carried_state_holds_no_weights_and_resumes_to_the_same_rows(tmp_path, monkeypatch, capsys):
    from seedbed.backends.neural.run import NeuralRun

    carry = _carry()
    scn = load_scenario("seed", TINY)
    reference = seedbed.run(scn, backend="neural", seeds=2, out=tmp_path / "ref").metrics
    original = NeuralRun.round
    seen = []

    def cutting(self, r):                                   # the second control repetition, at round 2
        if self.streams.path[0] == "control" and r == 2:
            seen.append(r)
            if len(seen) == 2:
                raise Cut()
        return original(self, r)

    monkeypatch.setattr(NeuralRun, "round", cutting)
    with pytest.raises(Cut):
        seedbed.run(scn, backend="neural", seeds=2, out=tmp_path / "machine-1")
    monkeypatch.setattr(NeuralRun, "round", original)

    carry.pack(tmp_path / "machine-1", tmp_path / "state")
    assert "3 finished repetitions carried, 1 unfinished left out" in capsys.readouterr().out
    files = [p.relative_to(tmp_path / "state") for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert files and not [f for f in files if f.name in ("model.safetensors", "optimizer.pt", ".seedbed.lock")]
    held = sorted(p.name.split("-")[0] for p in (tmp_path / "state" / "checkpoints").iterdir())
    assert held == ["control", "scenario", "scenario"]

    carry.unpack(tmp_path / "state", tmp_path / "machine-2")
    with pytest.raises(SystemExit, match="exists"):
        carry.unpack(tmp_path / "state", tmp_path / "machine-2")
    resumed = seedbed.run(scn, backend="neural", seeds=2, out=tmp_path / "machine-2", resume=True).metrics
    assert resumed.equals(reference)

    carry.pack(tmp_path / "machine-2", tmp_path / "state")                 # the state moves on
    assert "4 finished repetitions carried, 0 unfinished" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="holds 1 finished repetitions that .*machine-1 lacks"):
        carry.pack(tmp_path / "machine-1", tmp_path / "state")             # a stale folder cannot undo it
    assert len(list((tmp_path / "state" / "checkpoints").iterdir())) == 4


def test_the_base_check_records_once_and_refuses_another_base(tmp_path):
    carry = _carry()
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "a" / "model.safetensors").write_bytes(b"weights a")
    (tmp_path / "b" / "model.safetensors").write_bytes(b"weights b")
    carry.base(tmp_path / "a", tmp_path / "base.sha256")
    carry.base(tmp_path / "a", tmp_path / "base.sha256")                       # the same base: fine
    with pytest.raises(SystemExit, match="cannot be continued on this base"):
        carry.base(tmp_path / "b", tmp_path / "base.sha256")
    (tmp_path / "base.sha256").unlink()
    (tmp_path / "state").mkdir()
    with pytest.raises(SystemExit, match="the state's base is unknown"):
        carry.base(tmp_path / "b", tmp_path / "base.sha256")
    assert not (tmp_path / "base.sha256").exists()


def test_the_experiment_script_parses():
    proc = subprocess.run(["bash", "-n", str(CARRY.with_name("run.sh"))], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
