"""Repetitions side by side (``workers`` > 1 on the local executor): the same run as one at a time."""

from __future__ import annotations

import json

import pytest

import seedbed
from seedbed.backends.runner import plan_run, side_by_side
from seedbed.core.config import load_scenario
from seedbed.results.lineage import read_lineage

POP = ["rounds=9", "agent.conversations=300", "agent.probes=100"]


def test_side_by_side_gives_the_serial_runs_rows_lineage_and_progress(tmp_path):
    scn = load_scenario("h2_population", POP)
    seen = {1: [], 3: []}
    runs = {w: seedbed.run(scn, backend="agent", seeds=3, out=tmp_path / f"w{w}", workers=w,
                           progress=lambda arm, k, snap, w=w: seen[w].append((arm, snap["round"])))
            for w in (1, 3)}
    assert runs[3].metrics.equals(runs[1].metrics)                   # rows in the serial order, bit for bit
    events = [read_lineage(tmp_path / f"w{w}" / "lineage.jsonl") for w in (1, 3)]
    assert events[0] == events[1] and sum(e["event"] == "exploit" for e in events[0]) > 0
    assert sorted(seen[3]) == sorted(seen[1]) and len(seen[1]) == 2 * 3 * 9    # every round of every repetition
    assert runs[3].verdict.as_dict() == runs[1].verdict.as_dict()


def test_how_many_run_at_once():
    scn = load_scenario("seed")
    assert side_by_side(plan_run(scn, "agent", 3)) == 1                      # the default: one at a time
    assert side_by_side(plan_run(scn, "agent", 3, workers=4)) == 4
    assert side_by_side(plan_run(scn, "agent", 1, workers=4)) == 2          # no more than arms × seeds
    assert side_by_side(plan_run(scn, "meanfield", workers=4)) == 1         # exact: nothing to share out


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_neural_repetitions_side_by_side_match_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import seedbed.core.executors as executors
    from tests.backends.neural.test_neural import TINY

    scn = load_scenario("seed", TINY + ["neural.rounds=2"])
    serial = seedbed.run(scn, backend="neural", seeds=2, out=tmp_path / "one").metrics
    pool, started = executors.run_local, []

    def run_local(fn, tasks, *a, **kw):              # the fidelity table is there before any worker starts
        started.append((tmp_path / "two" / "fidelity.json").exists())
        return pool(fn, tasks, *a, **kw)

    monkeypatch.setattr(executors, "run_local", run_local)
    both = seedbed.run(scn, backend="neural", seeds=2, out=tmp_path / "two", workers=2).metrics
    assert started == [True]                          # so no worker measures it again
    assert both.equals(serial)                        # one thread each, as here (tests/conftest.py)
    folder = tmp_path / "two"
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "checkpoints").iterdir())
    assert json.loads((folder / "fidelity.json").read_text()) == json.loads((tmp_path / "one" / "fidelity.json").read_text())
    assert not list(folder.glob(".*.part"))          # no half-written file left by racing workers
    kept = {p: p.stat().st_mtime_ns for p in (folder / "checkpoints").glob("*/round-*/outputs.json")}
    assert len(kept) == 2 * 2 * 3                    # arms × seeds × (round 0 and rounds 1, 2)
    left = [folder / ".metrics.parquet.x1.part", folder / "checkpoints" / ".outputs.json.x2.part"]
    for p in left:                                   # what a worker killed mid-write leaves
        p.write_bytes(b"half")
    again = seedbed.run(scn, backend="neural", seeds=2, out=folder, workers=2, resume=True).metrics
    assert not any(p.exists() for p in left)
    assert again.equals(serial)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept       # every round read back, none computed again
