"""``seedbed evals RUN``: the three tasks on a run's base and on each seed's final checkpoint,
through the real ``inspect eval`` path on a tiny neural run; rows, the paired difference,
resume without re-evaluating, and bad input as one line that writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("inspect_ai")
pytest.importorskip("torch")

from tests.backends.neural.test_neural import TINY  # noqa: E402
from tests.evals.test_inspect_cli import RATES  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import seedbed
    from seedbed.core.config import load_scenario

    out = tmp_path_factory.mktemp("evals") / "run"
    with pytest.MonkeyPatch.context() as mp:                # the run's base, cached for every test here
        mp.setenv("SEEDBED_CACHE", str(out.parent / "cache"))
        seedbed.run(load_scenario("seed", [*TINY, "neural.rounds=1"]), backend="neural", seeds=2, out=out)
    return out


@pytest.fixture(autouse=True)
def _run_cache(request, monkeypatch):
    if "tiny_run" in request.fixturenames:
        monkeypatch.setenv("SEEDBED_CACHE", str(request.getfixturevalue("tiny_run").parent / "cache"))


def _invoke(args):
    from typer.testing import CliRunner

    from seedbed.cli import app

    return CliRunner().invoke(app, ["evals", *args])


def test_base_and_final_checkpoints_paired_by_seed(tiny_run, monkeypatch):
    from seedbed.evals.checkpoints import FILE, run_models, summary
    from seedbed.results.writing import read_table

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tiny_run.parent / "evals-out"
    r = _invoke([str(tiny_run), "--seeds", "1", "--n", "4", "--out", str(out)])    # max_number: the run's 6
    assert r.exit_code == 0, r.output
    models = run_models(tiny_run, 1)
    assert [m[0] for m in models][0] == "base" and {m[1] for m in models} == {"base", "scenario", "control"}
    assert all(m[3].name == "round-0001" for m in models[1:])              # the last round of a 1-round run
    rows = read_table(out / FILE).to_pylist()
    for tag in (m[0] for m in models):
        got = {(x["task"].split("/")[-1], x["metric"]) for x in rows if x["model"] == tag}
        assert got == {(t, m) for t, ms in RATES.items() for m in ms}, tag
    for x in rows:
        lo = -1.0 if x["metric"] == "incentive_drop" else 0.0
        assert lo <= x["value"] <= 1.0 and x["samples"] > 0
    s = summary(read_table(out / FILE))
    for rec in s:
        sel = {x["arm"]: x["value"] for x in rows if (x["task"], x["metric"]) == (rec["task"], rec["metric"])}
        assert rec["difference"][0] == pytest.approx(sel["scenario"] - sel["control"])
        assert rec["paired_seeds"] == 1 and np.isnan(rec["difference"][1])      # one seed: no interval
        assert rec["base"][0] == pytest.approx(sel["base"])
    logs = sorted((out / "inspect").rglob("*.eval"))
    assert len(logs) == 9                                                  # 3 models × 3 tasks
    import json

    assert json.loads((out / "manifest.json").read_text())["max_number"] == 6
    r = _invoke([str(tiny_run), "--seeds", "1", "--n", "4", "--out", str(out)])
    assert r.exit_code == 2 and "finished copy" in r.output and "--resume" in r.output
    r = _invoke([str(tiny_run), "--seeds", "1", "--n", "4", "--out", str(out), "--resume"])   # the run's max_number
    assert r.exit_code == 0, r.output
    assert sorted((out / "inspect").rglob("*.eval")) == logs              # nothing evaluated again
    assert read_table(out / FILE).to_pylist() == rows
    r = _invoke([str(tiny_run), "--n", "4", "--max-number", "6", "--out", str(out), "--resume", "--json"])
    assert r.exit_code == 0, r.output                                      # a second seed is added
    assert len(sorted((out / "inspect").rglob("*.eval"))) == 15

    s2 = json.loads(r.stdout)                                              # pure JSON; progress on stderr
    assert all(x["paired_seeds"] == 2 and x["scenario_seeds"] == 2 for x in s2)
    lo_hi = [x["difference"][1:] for x in s2]
    assert all(-2 <= lo <= hi <= 2 for lo, hi in lo_hi)


def test_bad_input_is_one_line_and_writes_nothing(tiny_run, tmp_path):
    import seedbed
    from seedbed.core.config import load_scenario

    r = _invoke([str(tiny_run), "--seeds", "5", "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "--seeds 5" in r.output and "2 seeds" in r.output
    seedbed.run(load_scenario("seed", {"rounds": 2}), backend="meanfield", out=tmp_path / "mf")
    r = _invoke([str(tmp_path / "mf"), "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "neural run" in r.output
    r = _invoke([str(tmp_path / "nothing"), "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "no such run folder" in r.output
    assert not any((tmp_path / x).exists() for x in "abc")


def test_a_lora_round_checkpoint_is_a_model_for_the_provider(tmp_path):
    from seedbed.evals.provider import resolve_checkpoint

    ck = tmp_path / "checkpoints" / "scenario-1" / "round-0002"
    ck.mkdir(parents=True)
    (ck / "lora.json").write_text("{}")
    (ck / "model.safetensors").write_bytes(b"")
    assert resolve_checkpoint(ck) == ck
    assert resolve_checkpoint(tmp_path) == ck
    (ck / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no model folder"):
        resolve_checkpoint(ck)
