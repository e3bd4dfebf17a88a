"""Ctrl-C (SIGINT) and SIGTERM during a run, a sweep or a neural run, sent as real signals
to a real child process: one line saying how to resume, a non-zero exit, and the folder
resumes to the files of an uninterrupted run, byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.results.test_runfolder import files

CLI = [sys.executable, "-m", "seedbed.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MPLCONFIGDIR": str(tmp_path / ".mpl"), "SEEDBED_CACHE": str(tmp_path / "cache")}


def _interrupt(tmp_path: Path, args: list[str], out: Path, marker: str, sig: int) -> subprocess.CompletedProcess:
    """Start the command, wait for ``marker`` under ``out`` (work has begun), send ``sig``."""
    p = subprocess.Popen(CLI + args + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=_env(tmp_path))
    deadline = time.monotonic() + 120
    while not list(out.glob(marker)) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert p.poll() is None, "the command finished before it could be interrupted: make it longer"
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_how_to_resume_and_resumes_to_identical_files(tmp_path, sig):
    args = ["run", "h2_population", "--backend", "agent", "--seeds", "3", "--set", "rounds=60",
            "--set", "agent.conversations=512", "--set", "agent.probes=64"]
    ref = tmp_path / "ref"
    subprocess.run(CLI + args + ["--out", str(ref)], check=True, capture_output=True, env=_env(tmp_path))
    out = tmp_path / "run"
    r = _interrupt(tmp_path, args, out, "lineage.jsonl", sig)
    assert r.returncode == (130 if sig == signal.SIGINT else 143), r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "--resume" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not (out / "manifest.json").exists()
    done = subprocess.run(CLI + args + ["--out", str(out), "--resume"], capture_output=True, text=True,
                          env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert files(out) == files(ref)


def test_an_interrupted_sweep_continues_to_the_same_table(tmp_path):
    import pyarrow.parquet as pq

    args = ["sweep", "seed", "--backend", "agent", "--seeds", "2", "--grid", "prompts.phi=0,0.25,0.5,0.75,1",
            "--set", "rounds=40", "--set", "agent.conversations=3000", "--workers", "1"]
    ref = tmp_path / "ref"
    subprocess.run(CLI + args + ["--out", str(ref)], check=True, capture_output=True, env=_env(tmp_path))
    out = tmp_path / "sweep"
    r = _interrupt(tmp_path, args, out, "parts/task-*.parquet", signal.SIGINT)
    assert r.returncode == 130 and "run the same command again" in r.stderr and "Traceback" not in r.stderr
    done = subprocess.run(CLI + args + ["--out", str(out)], capture_output=True, text=True, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert pq.read_table(out / "sweep.parquet").equals(pq.read_table(ref / "sweep.parquet"))


@pytest.mark.slow
def test_an_interrupted_neural_run_resumes_to_identical_rows(tmp_path):
    pytest.importorskip("torch")
    import pyarrow.parquet as pq

    tiny = ["neural.rounds=4", "neural.corpus_size=400", "neural.pretrain_steps=30", "neural.prompts_per_round=24",
            "neural.probe_size=16", "neural.d_model=16", "neural.n_layer=1", "neural.n_head=2"]
    args = ["run", "seed", "--backend", "neural", "--seeds", "1"] + [x for s in tiny for x in ("--set", s)]
    ref = tmp_path / "ref"
    subprocess.run(CLI + args + ["--out", str(ref)], check=True, capture_output=True, env=_env(tmp_path))
    out = tmp_path / "run"
    r = _interrupt(tmp_path, args, out, "checkpoints/*/round-0001", signal.SIGTERM)
    assert r.returncode == 143 and "--resume" in r.stderr and "Traceback" not in r.stderr
    done = subprocess.run(CLI + args + ["--out", str(out), "--resume"], capture_output=True, text=True,
                          env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert pq.read_table(out / "metrics.parquet").equals(pq.read_table(ref / "metrics.parquet"))


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc: no extra package)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


SIDE = ["run", "h2_population", "--backend", "agent", "--seeds", "3", "--set", "rounds=60",
        "--set", "agent.conversations=512", "--set", "agent.probes=64", "--workers", "2"]


@pytest.fixture(scope="module")
def side_reference(tmp_path_factory) -> Path:
    """The uninterrupted side-by-side run, made once for both ways of stopping one."""
    tmp = tmp_path_factory.mktemp("side-ref")
    subprocess.run(CLI + SIDE + ["--out", str(tmp / "ref")], check=True, capture_output=True, env=_env(tmp))
    return tmp / "ref"


@pytest.mark.parametrize("how", ["SIGTERM to the run", "SIGKILL to a worker"])
def test_a_side_by_side_run_stops_at_once_and_resumes_to_identical_files(tmp_path, how, side_reference):
    """--workers 2: a signal to the run stops its workers too (it does not wait for their
    repetitions), a killed worker stops the run with the resume hint, and --resume gives the
    files of an uninterrupted run."""
    ref = side_reference
    out = tmp_path / "run"
    p = subprocess.Popen(CLI + SIDE + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=_env(tmp_path))
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(_children(p.pid)) < 2 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = _children(p.pid)
        assert p.poll() is None and len(workers) >= 2, "the run finished before it could be interrupted"
        time.sleep(0.5)                                          # the workers are inside their repetitions
        t0 = time.monotonic()
        if how == "SIGTERM to the run":
            p.send_signal(signal.SIGTERM)
        else:
            os.kill(workers[-1], signal.SIGKILL)
        _, stderr = p.communicate(timeout=60)
    except BaseException:                        # a failure must not leave the run or its workers behind
        _kill_all([p.pid] + workers)
        raise
    assert time.monotonic() - t0 < 15, "the run waited for its workers' repetitions"
    assert p.returncode == (143 if how == "SIGTERM to the run" else 1), stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "--resume" in lines[0], stderr
    assert "Traceback" not in stderr and not (out / "manifest.json").exists()
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    _kill_all(left)
    assert not left, "a worker outlived the run"
    done = subprocess.run(CLI + SIDE + ["--out", str(out), "--resume"], capture_output=True, text=True,
                          env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert files(out) == files(ref)
