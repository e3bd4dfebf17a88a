"""Scale-out: sweeps on Ray tasks and neural population-based training on Ray Tune.

One local 2-CPU Ray instance is shared by the module (starting one costs seconds); its
temp dir lives under pytest's tmp folder.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import seedbed
from seedbed.results import writing as rundir
from seedbed.backends import get_backend
from seedbed.core.config import ScenarioError, load_scenario
from seedbed.results.metrics import Rows, final_values
from seedbed.results.lineage import Lineage, lineage_table, read_lineage

from tests.backends.neural.test_neural import TINY, repetition

GRID = {"judge.bonus": [0.0, 1.5], "prompts.phi": [0.0, 1.0]}


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    from seedbed.core.executors import ray_session

    with ray_session(tmp_path_factory.mktemp("ray"), num_cpus=2) as ray:
        yield ray


def agent_scn():
    return load_scenario("seed", ["rounds=6", "agent.conversations=256"])


def test_ray_sweep_gives_the_local_rows(ray_local, tmp_path):
    scn = agent_scn()
    local = seedbed.sweep(scn, GRID, backend="agent", seeds=2, out=tmp_path / "local", workers=2)
    remote = seedbed.sweep(scn, GRID, backend="agent", seeds=2, out=tmp_path / "ray", executor="ray")
    a, b = (rundir.read_table(tmp_path / d / "sweep.parquet") for d in ("local", "ray"))
    assert a.equals(b) and a.num_rows > 0
    assert a.column_names[:3] == ["judge.bonus", "prompts.phi", "seed"]
    assert local.seeds == remote.seeds and len(local.seeds) == 2
    # a point's value is the final value of `seedbed.run` with the same seeds (scenario arm)
    run = seedbed.run(scn.with_overrides({"judge.bonus": 1.5, "prompts.phi": 1.0}), backend="agent", seeds=2)
    by_seed = local.values("share/B")[1, 1][np.argsort(local.seeds)]        # final_values is ordered by seed
    np.testing.assert_allclose(by_seed, final_values(run.metrics, "share/B"), rtol=1e-12)
    meta = json.loads((tmp_path / "ray" / "sweep.json").read_text())
    assert meta["executor"] == "ray" and meta["backend"] == "agent" and not meta["exact"]
    # exact sweeps: blocks of grid points as tasks, the same rows either way
    grid = ["judge.bonus=0:2:41", "prompts.phi=0:1:3", "selection.rule=threshold,top_fraction"]
    exact_local = seedbed.sweep(scn, grid, workers=2)
    exact_ray = seedbed.sweep(scn, grid, executor="ray")
    assert exact_local.table.equals(exact_ray.table) and exact_local.seeds is None


def test_a_resumed_sweep_runs_only_the_missing_points(ray_local, tmp_path):
    scn = agent_scn()
    out = tmp_path / "sw"
    full = seedbed.sweep(scn, GRID, backend="agent", seeds=2, out=out, executor="ray")
    parts = sorted((out / "parts").glob("task-*.parquet"))
    assert len(parts) == 8
    for p in parts[2:5]:
        p.unlink()
    kept = {p: p.stat().st_mtime_ns for p in parts if p.exists()}
    advanced = []
    again = seedbed.sweep(scn, GRID, backend="agent", seeds=2, out=out, executor="ray", progress=advanced.append)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept            # finished parts were not recomputed
    assert all(p.exists() for p in parts) and sum(advanced) == 8
    assert again.table.equals(full.table)
    with pytest.raises(ScenarioError, match="which differs"):
        seedbed.sweep(scn, {"judge.bonus": [0.0, 2.0]}, backend="agent", seeds=2, out=out)


def test_an_interrupted_local_sweep_resumes(tmp_path, monkeypatch):
    import seedbed.sweeps.execute as sw          # where the sweep looks its task function up

    scn = load_scenario("seed", ["rounds=4", "agent.conversations=128"])
    calls = []
    real = sw.run_task

    def counted(task):
        calls.append(task["point"])
        if len(calls) == 3 and not hasattr(counted, "crashed"):
            counted.crashed = True
            raise KeyboardInterrupt            # Ctrl-C in the middle of the sweep
        return real(task)

    monkeypatch.setattr(sw, "run_task", counted)
    with pytest.raises(KeyboardInterrupt):
        seedbed.sweep(scn, GRID, backend="agent", seeds=1, out=tmp_path, workers=1)
    assert len(list((tmp_path / "parts").glob("task-*"))) == 2
    calls.clear()
    res = seedbed.sweep(scn, GRID, backend="agent", seeds=1, out=tmp_path, workers=1)
    assert len(calls) == 2 and res.grid("share/B").shape == (2, 2)
    monkeypatch.setattr(sw, "run_task", real)
    clean = seedbed.sweep(scn, GRID, backend="agent", seeds=1, out=tmp_path / "clean", workers=1)
    assert clean.table.equals(res.table)


POP = TINY + ["neural.rounds=6", "population.members=4", "population.interval=2", "population.context_swap=true",
              "population.init_spread=0"]


def tune_run(workdir):
    """Four tiny neural members on Tune for three generations: PBT every 2 rounds, context
    swapping across trials."""
    scn = load_scenario("h2_population", POP)
    log = Lineage(workdir / "lineage.jsonl")
    (workdir / "lineage.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (workdir / "lineage.jsonl").write_text("")
    rows = Rows()
    get_backend("neural").run(repetition(scn, 3, rows=rows, lineage=log, workdir=workdir, executor="ray"))
    return scn, rows.table(), read_lineage(workdir / "lineage.jsonl")


@pytest.fixture(scope="module")
def tune_reference(ray_local, tmp_path_factory):
    return tune_run(tmp_path_factory.mktemp("tune-reference"))


def test_neural_population_on_tune_logs_a_lineage_the_local_loop_follows(tune_reference, tmp_path):
    """The local population loop following the Tune run's lineage (as its schedule) recomputes
    every row exactly: Tune's rows are the rounds its trials ran."""
    import torch

    scn, table, events = tune_reference
    assert [e["event"] for e in events].count("init") == 4
    exploits = [e for e in events if e["event"] == "exploit"]
    assert [e["round"] for e in exploits] == [2, 4]              # sync points before the last round
    assert set(lineage_table(events).column_names) >= {"round", "member", "parent", "parent_fitness"}
    assert all(e["parent_fitness"] >= e["member_fitness"] for e in exploits)
    explore = next(e for e in events if e["event"] == "explore")
    assert set(explore["changes"]) == set(scn.population.explore)
    assert set(table["member"].to_pylist()) == {0, 1, 2, 3}

    torch.set_num_threads(1)                         # as in the trials: same kernels, same bits
    local = Rows()
    get_backend("neural").run(repetition(scn, 3, rows=local, lineage=Lineage(), schedule=events,
                                         workdir=tmp_path / "local"))
    assert table.equals(local.table())


@pytest.mark.slow     # 90 s on the 2-core machine: run with -m slow (the default suite keeps the other Tune tests)
def test_a_crashed_tune_population_resumes_without_losing_a_round(tune_reference, tmp_path):
    _, reference, ref_events = tune_reference
    blocker = tmp_path / "checkpoints" / "scenario-3" / "member-001" / "round-0003.tmp"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("")                            # member 1 cannot save round 3: its trial dies there
    with pytest.raises(RuntimeError, match="resume"):
        tune_run(tmp_path)
    assert not (blocker.parent / "round-0003").exists() and (blocker.parent / "round-0002").exists()
    blocker.unlink()
    _, table, events = tune_run(tmp_path)             # the same folder: finished rounds are restored
    assert table.equals(reference)
    strip = lambda ev: sorted(json.dumps(e, sort_keys=True) for e in ev)  # noqa: E731  (init order may vary)
    assert strip(events) == strip(ref_events)


def test_local_neural_context_swap_writes_with_the_rivals_start_of_round_weights(tmp_path, monkeypatch):
    import torch

    from seedbed.backends.neural.run import NeuralRun

    seen = {}
    real = NeuralRun.round

    def spy(self, r):
        flat = lambda m: torch.cat([p.detach().flatten().clone() for p in m.parameters()])  # noqa: E731
        seen[(self.member, r)] = (flat(self.model), None if self.writer is None else flat(self.writer))
        return real(self, r)

    monkeypatch.setattr(NeuralRun, "round", spy)
    scn = load_scenario("h2_population", TINY + ["neural.rounds=2", "population.members=3", "population.interval=0",
                                                 "population.context_swap=true", "neural.lr=0.01",
                                                 "population.init_spread=0"])
    get_backend("neural").run(repetition(scn, 1, workdir=tmp_path))
    for m in range(3):
        own, writer = seen[(m, 2)]
        rival = seen[((m + 1) % 3, 2)][0]
        assert torch.equal(writer, rival) and not torch.equal(writer, own)   # members differ after round 1


def test_executor_errors(monkeypatch):
    with pytest.raises(ScenarioError, match="neural populations"):
        seedbed.run(load_scenario("seed"), executor="ray")
    with pytest.raises(ScenarioError, match="--executor 'dask': unknown"):
        seedbed.sweep(load_scenario("seed"), GRID, executor="dask")
    monkeypatch.setitem(sys.modules, "ray", None)              # as if the extra were not installed
    with pytest.raises(ScenarioError, match=r"'ray' extra"):
        seedbed.sweep(load_scenario("seed"), GRID, executor="ray")
