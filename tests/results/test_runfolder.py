"""Run folders never mix: one run per folder under a lock, refusals that say what differs,
complete-or-absent results, kill -9 and resume to identical files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import seedbed
from seedbed.cli import app
from seedbed.core.config import ScenarioError, load_scenario
from seedbed.results.folders import claim, default_folder, verify

DETERMINISTIC = ("metrics.parquet", "conditions.parquet", "lineage.jsonl", "scenario.toml", "start_dependence.json",
                 "manifest.json", "report.md")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def files(d: Path) -> dict[str, bytes]:
    return {f: (d / f).read_bytes() for f in DETERMINISTIC if (d / f).exists()}


def test_a_folder_holding_a_run_is_refused_then_resumed_or_replaced(tmp_path):
    out = tmp_path / "r"
    scn = load_scenario("seed", {"rounds": 5})
    seedbed.run(scn, out=out)
    first = files(out)
    with pytest.raises(ScenarioError, match="holds a finished copy of this run; --resume to continue it, --force"):
        seedbed.run(scn, out=out)
    with pytest.raises(ScenarioError, match=r"differs \(scenario.prompts.phi: 1.0 → 0.5"):
        seedbed.run(scn.with_overrides({"prompts.phi": 0.5}), out=out)
    assert files(out) == first                                   # refusals touch nothing
    seedbed.run(scn, out=out, resume=True)
    assert files(out) == first                                   # a resumed (finished) run: same files
    seedbed.run(scn.with_overrides({"prompts.phi": 0.5}), out=out, force=True)
    assert json.loads((out / "manifest.json").read_text())["scenario"]["prompts"]["phi"] == 0.5


def test_foreign_files_are_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ScenarioError, match="not empty and holds no seedbed run"):
        seedbed.run(load_scenario("seed", {"rounds": 3}), out=tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_default_folders_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        r = invoke("run", "seed", "--set", "rounds=3")
        assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "runs" / "seed").iterdir())
    assert names == ["meanfield", "meanfield-2", "meanfield-3"]
    assert default_folder(tmp_path / "runs" / "seed" / "meanfield").name == "meanfield-4"
    # the same sweep resumes in its folder; a different one gets the next
    assert invoke("sweep", "seed", "--grid", "prompts.phi=0,1").exit_code == 0
    assert invoke("sweep", "seed", "--grid", "prompts.phi=0,1").exit_code == 0
    assert invoke("sweep", "seed", "--grid", "judge.bonus=0,1").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "seed").iterdir() if "sweep" in p.name) == ["sweep", "sweep-2"]


def test_a_second_process_on_the_same_folder_is_refused_and_the_first_is_unharmed(tmp_path):
    out = tmp_path / "r"
    with claim(out, "a test run", {"x": 1}):
        with pytest.raises(ScenarioError, match="another seedbed process is writing this folder"):
            with claim(out, "a test run", {"x": 1}, resume=True):
                pass
        (out / "data.txt").write_text("first")
    assert (out / "data.txt").read_text() == "first"


def test_a_resume_clears_the_temporaries_of_unfinished_writes_only(tmp_path):
    out = tmp_path / "r"
    with claim(out, "a test run", {"x": 1}):
        (out / "sub").mkdir()
        (out / "sub" / "data.part").write_text("a file of the run")     # not a temporary's name
    left = [out / ".metrics.parquet.abc123.part", out / "sub" / ".outputs.json.def456.part"]
    for p in left:
        p.write_text("half")
    with claim(out, "a test run", {"x": 1}, resume=True):
        assert not any(p.exists() for p in left)
    assert (out / "sub" / "data.part").read_text() == "a file of the run"


def test_two_cli_processes_on_one_folder(tmp_path):
    out = tmp_path / "r"
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")}
    cmd = [sys.executable, "-m", "seedbed.cli", "run", "seed", "--set", "rounds=1500", "--out", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 60
    while not (out / "lineage.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(cmd[:-2] + ["--out", str(out), "--resume"], capture_output=True, text=True, env=env)
    assert second.returncode == 2 and "another seedbed process is writing this folder" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.wait(timeout=300) == 0, first.stderr
    verify(out)                                                  # the first run is complete and undamaged


@pytest.mark.parametrize("preset,backend,sets", [
    ("seed", "meanfield", ["rounds=800"]),
    ("h2_population", "agent", ["rounds=40", "agent.conversations=256", "agent.probes=64"]),
])
def test_kill_9_then_resume_gives_the_files_of_an_uninterrupted_run(tmp_path, preset, backend, sets):
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")}
    base = [sys.executable, "-m", "seedbed.cli", "run", preset, "--backend", backend, "--seeds", "3"]
    for s in sets:
        base += ["--set", s]
    ref = tmp_path / "ref"
    subprocess.run(base + ["--out", str(ref)], check=True, capture_output=True, env=env)
    out = tmp_path / "killed"
    rng = np.random.default_rng(len(preset))
    killed_mid_run = 0
    for attempt in range(2):                          # two kills at random points after the run started
        p = subprocess.Popen(base + ["--out", str(out)] + (["--resume"] if out.exists() else []),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while not (out / "lineage.jsonl").exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.5)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if (out / "manifest.json").exists():
            verify(out)                               # a finished folder is complete, never a mixture
        else:
            killed_mid_run += 1
            with pytest.raises(ScenarioError, match="not a finished seedbed run"):
                verify(out)                           # reports refuse an interrupted run
    assert killed_mid_run >= 1
    r = subprocess.run(base + ["--out", str(out), "--resume"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert files(out) == files(ref)


def _dies_on_2(task: int) -> int:
    if task == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return task


def test_a_killed_worker_ends_a_pool_with_a_message_not_a_traceback(tmp_path):
    from seedbed.core import executors

    dies = _dies_on_2
    done = {}
    with pytest.raises(executors.WorkerDied, match="run the same command again to resume"):
        executors.run_local(dies, list(range(6)), lambda i, r: done.__setitem__(i, r), workers=2)
    assert 2 not in done


def test_report_verifies_the_folder(tmp_path):
    out = tmp_path / "r"
    seedbed.run(load_scenario("seed", {"rounds": 3}), out=out)
    assert invoke("report", out).exit_code == 0
    data = (out / "metrics.parquet").read_bytes()
    (out / "metrics.parquet").write_bytes(data[: len(data) // 2])          # truncated
    r = invoke("report", out)
    assert r.exit_code == 2 and "metrics.parquet: changed or damaged" in r.output
    (out / "metrics.parquet").write_bytes(data)
    (out / "manifest.json").write_text("{not json")
    r = invoke("report", out)
    assert r.exit_code == 2 and "manifest.json: damaged" in r.output


def test_files_are_readable_by_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        seedbed.run(load_scenario("seed", {"rounds": 3}), out=tmp_path / "r")
    finally:
        os.umask(old)
    assert oct((tmp_path / "r" / "metrics.parquet").stat().st_mode & 0o777) == "0o644"
    assert (tmp_path / "r" / ".mpl").is_dir() or "MPLCONFIGDIR" in os.environ


def _kill_and_resume(tmp_path, base: list[str], marker: str, rng_seed: int, kills: int = 2) -> Path:
    """Run ``base`` into a folder, SIGKILL it at random points after ``marker`` appears, then
    run it again to completion; returns the folder."""
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")}
    out = tmp_path / "killed"
    rng = np.random.default_rng(rng_seed)
    for _ in range(kills):
        p = subprocess.Popen(base + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120
        while not list(out.glob(marker)) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        p.send_signal(signal.SIGKILL)
        p.wait()
    r = subprocess.run(base + ["--out", str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return out


def test_kill_9_during_a_sweep_then_rerun_gives_the_same_table(tmp_path):
    import pyarrow.parquet as pq

    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")}
    base = [sys.executable, "-m", "seedbed.cli", "sweep", "seed", "--backend", "agent", "--seeds", "2",
            "--grid", "prompts.phi=0,0.5,1", "--set", "rounds=30", "--set", "agent.conversations=2000",
            "--workers", "1"]
    ref = tmp_path / "ref"
    subprocess.run(base + ["--out", str(ref)], check=True, capture_output=True, env=env)
    out = _kill_and_resume(tmp_path, base, "parts/task-*.parquet", 3)
    assert pq.read_table(out / "sweep.parquet").equals(pq.read_table(ref / "sweep.parquet"))


@pytest.mark.slow
def test_kill_9_during_a_neural_run_then_resume_gives_identical_rows(tmp_path):
    pytest.importorskip("torch")
    import pyarrow.parquet as pq

    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl"), "SEEDBED_CACHE": str(tmp_path / "cache")}
    tiny = ["neural.rounds=3", "neural.corpus_size=400", "neural.pretrain_steps=30", "neural.prompts_per_round=24",
            "neural.probe_size=16", "neural.d_model=16", "neural.n_layer=1", "neural.n_head=2"]
    base = [sys.executable, "-m", "seedbed.cli", "run", "seed", "--backend", "neural", "--seeds", "1"]
    for s in tiny:
        base += ["--set", s]
    ref = tmp_path / "ref"
    subprocess.run(base + ["--out", str(ref)], check=True, capture_output=True, env=env)
    out = _kill_and_resume(tmp_path, base + ["--resume"], "checkpoints/*/round-0001", 5)
    assert pq.read_table(out / "metrics.parquet").equals(pq.read_table(ref / "metrics.parquet"))


@pytest.mark.slow
def test_20000_meanfield_rounds_through_the_cli_in_under_30_s_of_cpu(tmp_path):
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "seedbed.cli", "run", "seed", "--set", "rounds=20000", "--out",
                    str(tmp_path / "r")], check=True, capture_output=True,
                   env={**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 30, cpu
