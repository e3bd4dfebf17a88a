"""The real ``inspect eval`` path, offline: all three tasks through seedbed's wrapper
(``python -m seedbed.evals``) on a tiny local checkpoint served by seedbed's provider.

Every HTTP(S) request in the subprocess goes to a dead proxy, so a run that needs the
network (Inspect's tiktoken download for token counts, a model hub) fails here. HOME is an
empty folder that must stay empty, and the working folder too: Inspect's logs, traces and
caches belong in the run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("torch")

TASKS = ["seedbed/first_attempt_incentive", "seedbed/reflexive_correction", "seedbed/two_turn_self_correction"]
RATES = {"first_attempt_incentive": {"control_accuracy", "incentive_accuracy", "incentive_drop"},
         "reflexive_correction": {"false_correction_rate", "true_correction_rate"},
         "two_turn_self_correction": {"turn1_accuracy", "turn2_accuracy", "incorrect_to_correct",
                                      "correct_to_incorrect"}}
DEAD_PROXY = "http://127.0.0.1:9"

BROKEN_TASK = '''
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.solver import solver


@solver
def boom():
    async def solve(state, generate):
        raise RuntimeError("deliberately broken")
    return solve


@task
def broken():
    return Task(dataset=[Sample(input="What is 1 + 2?", target="3")], solver=boom())
'''


def offline_env(home: Path) -> dict[str, str]:
    """This environment with HOME replaced, Inspect/XDG locations removed (the wrapper must set
    them), the network cut off through a dead proxy, and one CPU thread."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INSPECT_", "XDG_")) and k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    env.update(HOME=str(home), HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY, http_proxy=DEAD_PROXY,
               https_proxy=DEAD_PROXY, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def wrapper(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seedbed.evals", *args], cwd=cwd, env=offline_env(home),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture()
def folders(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    return home, cwd


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_all_three_tasks_offline_through_inspect_eval(tmp_path, folders):
    from inspect_ai.log import read_eval_log

    from seedbed.backends.neural.model import build_model, build_tokenizer, save

    home, cwd = folders
    tok = build_tokenizer()
    save(build_model(tok, 32, 1, 2, n_positions=128, seed=0), tok, tmp_path / "tiny")
    out = tmp_path / "evals"
    res = wrapper([str(out), *TASKS, "--model", f"seedbed/{tmp_path / 'tiny'}", "-T", "n=3", "-T", "max_number=6",
                   "--temperature", "0", "--display", "none", "-M", "threads=1"], cwd, home)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(": success (") == 3, res.stdout
    logs = sorted((out / "logs").glob("*.eval"))
    assert len(logs) == 3
    for path in logs:
        log = read_eval_log(str(path))
        assert log.status == "success"
        task = log.eval.task.split("/")[-1]
        assert {s.name for s in log.results.scores} == RATES[task]
        assert all(set(s.metrics) == {"mean", "stderr"} for s in log.results.scores)
        assert log.stats.model_usage[f"seedbed/{tmp_path / 'tiny'}"].total_tokens > 0   # counted by the provider
    assert everything_under(home) == [], "Inspect wrote under HOME"
    assert everything_under(cwd) == [], "Inspect wrote into the working folder"
    assert (out / ".inspect" / "data" / "inspect_ai").is_dir()          # its data went to the run folder


def test_a_failing_task_exits_nonzero(tmp_path, folders):
    """A task that raises while it runs: Inspect's own ``inspect eval`` exits 0 with an error
    log; the wrapper reads the log and exits 1, naming the task and the error."""
    home, cwd = folders
    (cwd / "broken.py").write_text(BROKEN_TASK)          # Inspect takes a task file by a relative path
    out = tmp_path / "evals"
    res = wrapper([str(out), "broken.py", "--model", "mockllm/model", "--display", "none"], cwd, home)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "broken: error: RuntimeError('deliberately broken')" in res.stdout
    assert "1 of 1 task(s) did not succeed" in res.stderr
    assert everything_under(home) == [] and everything_under(cwd) == ["broken.py"]


def test_bad_arguments_one_line_and_status_2(tmp_path, capsys):
    from seedbed.evals.runner import main

    (tmp_path / "file").write_text("x")
    assert main([str(tmp_path / "file"), "seedbed/reflexive_correction", "--model", "mockllm/model"]) == 2
    assert main([str(tmp_path / "out"), "seedbed/reflexive_correction", "--log-dir", "elsewhere"]) == 2
    assert main([str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "OUT" in err[0] and "is a file" in err[0] and "--log-dir" in err[1]
    assert "no task" in err[2]
    assert not (tmp_path / "out").exists()
