"""Experiment tracking (seedbed.results.tracking): what TensorBoard and W&B receive is the run's tidy rows.

The TensorBoard and W&B tests read the files back with the tools' own readers (TensorBoard's
EventAccumulator; W&B's record protobuf over its offline log) and compare them with
``metrics.parquet``. They are skipped when the extra is not installed:
``pip install -c constraints.txt -e '.[tensorboard,wandb]'``.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import seedbed
from seedbed.cli import app
from seedbed.core.config import load_scenario
from seedbed.core.schema import ScenarioError

TINY = {"rounds": 6, "agent.conversations": 96, "agent.probes": 64}
HAS_TB = importlib.util.find_spec("tensorboard") is not None
HAS_WANDB = importlib.util.find_spec("wandb") is not None


def _parquet_series(out: Path) -> dict[tuple[str, int, int, str], dict[int, float]]:
    """(arm, seed, member, metric) → {round: value} from the run's metrics.parquet."""
    series: dict = defaultdict(dict)
    for row in pq.read_table(out / "metrics.parquet").to_pylist():
        series[(row["arm"], row["seed"], row["member"], row["metric"])][row["round"]] = row["value"]
    return dict(series)


def _isolated_home(tmp_path, monkeypatch) -> Path:
    """A fresh HOME and XDG folders, to show afterwards that nothing was written there."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    return home


@pytest.mark.skipif(not HAS_TB, reason="tensorboard not installed (pip install -c constraints.txt -e '.[tensorboard]')")
def test_tensorboard_events_equal_the_parquet_rows(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    home = _isolated_home(tmp_path, monkeypatch)
    out = tmp_path / "run"
    scn = load_scenario("seed", TINY)
    res = seedbed.run(scn, backend="agent", seeds=2, out=out, report=False, track="tensorboard")
    want = _parquet_series(out)
    assert {k[0] for k in want} == {"scenario", "control"} and len({k[1] for k in want}) == 2
    got: dict = {}
    folders = sorted(p.parent for p in (out / "tensorboard").rglob("events.out.tfevents.*"))
    assert [f.relative_to(out / "tensorboard").as_posix() for f in folders] == sorted(
        f"{arm}/seed-{s}" for arm in ("control", "scenario") for s in res.seeds)
    for folder in folders:
        arm, seed = folder.parent.name, int(folder.name.removeprefix("seed-"))
        acc = EventAccumulator(str(folder), size_guidance={SCALARS: 0})    # 0: keep every event
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            got[(arm, seed, 0, tag)] = {e.step: e.value for e in acc.Scalars(tag)}
    assert got.keys() == want.keys()
    for key, rounds in want.items():
        assert sorted(got[key]) == sorted(rounds), key
        # TensorBoard keeps every scalar as float32: equal after the same rounding
        w = np.array([rounds[r] for r in sorted(rounds)], dtype=np.float32)
        g = np.array([got[key][r] for r in sorted(rounds)], dtype=np.float32)
        np.testing.assert_array_equal(g, w, err_msg=str(key))
    assert not home.exists() or not any(home.rglob("*")), sorted(home.rglob("*"))
    assert seedbed.run(scn, backend="agent", seeds=2).metrics.equals(res.metrics)   # tracking changes nothing


def _wandb_records(path: Path) -> list:
    """The records of an offline W&B run file (a LevelDB-style log of protobuf records:
    a 7-byte header, 32 KiB blocks, chunks with a 7-byte header: crc, length, type)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:8]
    pos, block, buf, out = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):                      # a full record, or the last chunk of one
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


@pytest.mark.skipif(not HAS_WANDB, reason="wandb not installed (pip install -c constraints.txt -e '.[wandb]')")
def test_wandb_offline_history_equals_the_parquet_rows(tmp_path, monkeypatch):
    home = _isolated_home(tmp_path, monkeypatch)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    out = tmp_path / "run"
    scn = load_scenario("seed", {**TINY, "population.members": 2, "population.interval": 2})
    res = seedbed.run(scn, out=out, seeds=2, report=False, track="wandb")   # random exploit: stochastic
    want = _parquet_series(out)
    runs = sorted((out / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 4                                      # scenario and control × 2 seeds
    got: dict = {}
    for path in runs:
        recs = _wandb_records(path)
        run = next(r.run for r in recs if r.WhichOneof("record_type") == "run")
        arm, seed = run.job_type, int(run.display_name.rsplit("-", 1)[1])
        assert run.run_group == "run" and seed in res.seeds, (run.run_group, run.display_name)
        for r in recs:
            if r.WhichOneof("record_type") != "history":
                continue
            item = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            rnd = item.pop("round")
            for k, v in item.items():
                if k.startswith("_"):
                    continue
                member, metric = k.split("/", 1)
                got.setdefault((arm, seed, int(member.removeprefix("member-")), metric), {})[rnd] = v
    assert got.keys() == want.keys()
    for key, rounds in want.items():
        assert got[key] == rounds, key                          # JSON floats round-trip exactly
    assert not home.exists() or not any(home.rglob("*")), sorted(home.rglob("*"))
    for var in ("WANDB_DIR", "WANDB_MODE", "WANDB_CACHE_DIR"):     # restored after the run
        assert var not in __import__("os").environ


def test_a_missing_or_foreign_package_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    scn = load_scenario("seed", {"rounds": 3})
    monkeypatch.setitem(sys.modules, "wandb", None)                 # as if not installed
    with pytest.raises(ScenarioError, match=r"--track wandb: the 'wandb' package is not installed; pip install"):
        seedbed.run(scn, out=tmp_path / "a", track="wandb")
    assert not (tmp_path / "a").exists()
    monkeypatch.setitem(sys.modules, "wandb", types.ModuleType("wandb"))   # a package of that name, not W&B
    with pytest.raises(ScenarioError, match="is not Weights & Biases"):
        seedbed.run(scn, out=tmp_path / "b", track="wandb")
    assert not (tmp_path / "b").exists()
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    with pytest.raises(ScenarioError, match=r"\.\[tensorboard\]"):
        seedbed.run(scn, out=tmp_path / "c", track="tensorboard")
    assert not (tmp_path / "c").exists()
    with pytest.raises(ScenarioError, match="needs a run folder"):
        seedbed.run(scn, track="tensorboard")


def test_cli_track_flag_refuses_bad_values_in_one_line(tmp_path):
    for args, fragment in ((["seed", "--track", "mlflow"], "--track 'mlflow': unknown tracker; choose from "
                                                           "tensorboard, wandb"),
                           (["krueger", "--track", "tensorboard"], "--track: not used by scenarios of kind 'krueger'")):
        out = tmp_path / args[0]
        r = CliRunner().invoke(app, ["run", *args, "--out", str(out)])
        assert r.exit_code == 2, r.output
        assert len(r.output.strip().splitlines()) == 1 and fragment in r.output, r.output
        assert not out.exists()
