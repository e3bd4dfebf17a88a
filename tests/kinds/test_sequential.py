"""``seedbed run --seeds auto``: the plan's looks run in one folder until one decides. Each look's
decision is the design's rule on the same seeds a fixed run of that size draws (the seed tree makes
looks prefixes of each other), the folder ends as that fixed run, an interrupted run resumes to the
same files, and bad plans are refused with one line, nothing written."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import seedbed
from seedbed.analyses.planning import paired_differences
from seedbed.analyses.power import SequentialDesign
from seedbed.cli import app
from seedbed.core.config import load_scenario
from seedbed.core.schema import ScenarioError, StoppedRun
from seedbed.kinds.sequential import run_sequential
from seedbed.results.writing import read_table

FEW = {"agent.conversations": 100, "rounds": 4, "agent.probes": 0}
SETS = sum((["--set", f"{k}={v}"] for k, v in FEW.items()), [])


def _plan(path, looks=(3, 6), margin=0.02, rounds=4, backend="agent"):
    d = SequentialDesign.make(looks, margin=margin, t_method="nominal")
    seq = {"k": len(looks), "looks": list(d.looks), "t_bounds": list(d.t_bounds), "z_bounds": list(d.z_bounds),
           "t_method": d.t_method, "alpha": d.alpha, "margin": d.margin, "rounds": rounds}
    path.write_text(json.dumps({"backend": backend, "metric": "share/B", "sequential": seq}))
    return d


def _metrics(folder):
    t = read_table(folder / "metrics.parquet")
    return t.sort_by([("arm", "ascending"), ("seed", "ascending"), ("metric", "ascending"), ("round", "ascending")])


def test_each_look_decides_by_its_boundary_on_the_fixed_runs_seeds(tmp_path):
    """The default margin: look 1's wide boundary does not decide on 3 seeds, so look 2 runs 6;
    every look's record equals the design's rule applied to a fixed run of that many seeds, and
    the folder's metrics are the last look's fixed run, row for row."""
    design = _plan(tmp_path / "plan.json")
    scn = load_scenario("seed", FEW)
    starts = []
    run_sequential(scn, tmp_path / "plan.json", tmp_path / "seq", "agent",
                   before_look=lambda k, n, total: starts.append((k, n, total)))
    rec = json.loads((tmp_path / "seq" / "sequential.json").read_text())
    assert starts == [(1, 3, 3 * 4), (2, 6, 6 * 4)] and len(rec["looks"]) == 2     # this design goes on to look 2
    for k, look in enumerate(rec["looks"]):
        fixed = tmp_path / f"fixed{k}"
        seedbed.run(scn, backend="agent", seeds=look["seeds"], out=fixed)
        _, d = paired_differences(read_table(fixed / "metrics.parquet"), "share/B")
        assert look["seeds"] == design.looks[k]
        assert look["outcome"] == design.decide(d[:, -1], k)
        assert look["effect"] == pytest.approx(d[:, -1].mean())
    assert [x["outcome"] for x in rec["looks"][:-1]] == ["continue"] * (len(rec["looks"]) - 1)
    assert rec["outcome"] == rec["looks"][-1]["outcome"] != "continue"
    assert _metrics(tmp_path / "seq").equals(_metrics(tmp_path / f"fixed{len(rec['looks']) - 1}"))
    man = json.loads((tmp_path / "seq" / "manifest.json").read_text())
    assert "sequential.json" in man["files"] and len(man["seeds"]) == rec["looks"][-1]["seeds"]
    assert "## Sequential decision" in (tmp_path / "seq" / "report.md").read_text()


def test_a_decided_first_look_stops_there(tmp_path):
    """With a margin far below any effect, look 1 already says 'selects': only its seeds are run."""
    _plan(tmp_path / "plan.json", margin=-1.0)
    res = run_sequential(load_scenario("seed", FEW), tmp_path / "plan.json", tmp_path / "seq", "agent")
    rec = json.loads((tmp_path / "seq" / "sequential.json").read_text())
    assert [x["outcome"] for x in rec["looks"]] == ["selects"] and len(res.seeds) == 3
    assert set(pa.compute.unique(read_table(tmp_path / "seq" / "metrics.parquet")["seed"]).to_pylist()) == set(res.seeds)


def test_an_interrupted_sequential_run_resumes_to_the_same_files(tmp_path):
    _plan(tmp_path / "plan.json")
    scn = load_scenario("seed", FEW)
    run_sequential(scn, tmp_path / "plan.json", tmp_path / "whole", "agent")

    def stop(k, n, total):
        if k == 2:
            raise StoppedRun("stopped for the test")
    with pytest.raises(StoppedRun):
        run_sequential(scn, tmp_path / "plan.json", tmp_path / "cut", "agent", before_look=stop)
    assert (tmp_path / "cut" / "sequential.json").exists() and not (tmp_path / "cut" / "manifest.json").exists()
    with pytest.raises(ScenarioError, match="--resume"):
        run_sequential(scn, tmp_path / "plan.json", tmp_path / "cut", "agent")
    run_sequential(scn, tmp_path / "plan.json", tmp_path / "cut", "agent", resume=True)
    a, b = (json.loads((tmp_path / f / "sequential.json").read_text()) for f in ("whole", "cut"))
    for x in (a, b):
        for look in x["looks"]:
            look.pop("seconds")
    assert a == b and _metrics(tmp_path / "whole").equals(_metrics(tmp_path / "cut"))


@pytest.mark.parametrize("args, plan_kw, says", [
    (["--seeds", "auto"], None, "--seeds auto: needs --plan"),
    (["--seeds", "many"], None, "--seeds 'many': a whole number"),
    (["--seeds", "0"], None, "--seeds 0: need at least 1"),
    (["--seeds", "3", "--plan", "PLAN"], {}, "--plan: only with --seeds auto"),
    (["--seeds", "auto", "--plan", "PLAN"], {"rounds": 7}, "planned for 7 rounds, this run has 4; add --set rounds=7"),
    (["--seeds", "auto", "--plan", "PLAN"], {"backend": "neural"}, "planned for --backend neural, not agent"),
    (["--seeds", "auto", "--plan", "PLAN"], "empty", "holds no sequential design"),
    (["--seeds", "auto", "--plan", "PLAN"], "text", "not a JSON file"),
])
def test_bad_sequential_input_is_one_line_and_writes_nothing(tmp_path, args, plan_kw, says):
    plan = tmp_path / "plan.json"
    if plan_kw == "empty":
        plan.write_text("{}")
    elif plan_kw == "text":
        plan.write_text("looks: 3, 6")
    elif plan_kw is not None:
        _plan(plan, **plan_kw)
    args = [str(plan) if a == "PLAN" else a for a in args]
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", "seed", "--backend", "agent", *args, *SETS, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not out.exists()


def test_seeds_auto_through_the_cli(tmp_path):
    _plan(tmp_path / "plan.json")
    r = CliRunner().invoke(app, ["run", "seed", "--backend", "agent", "--seeds", "auto", "--plan",
                                 str(tmp_path / "plan.json"), *SETS, "--out", str(tmp_path / "seq")])
    assert r.exit_code == 0, r.output
    rec = json.loads((tmp_path / "seq" / "sequential.json").read_text())
    assert f"sequential decision: {rec['outcome']}" in r.output and "look 1 of 2 (3 seeds)" in r.output


@pytest.mark.slow
def test_a_neural_look_replays_the_earlier_looks_seeds_from_their_checkpoints(tmp_path):
    """Look 2 adds one seed: the first look's round checkpoints are read back, not retrained
    (their files are untouched), and the folder's metrics equal a fixed 4-seed run's."""
    import os

    from tests.backends.neural.test_neural import TINY

    plan = tmp_path / "plan.json"
    _plan(plan, looks=(3, 4), rounds=3, backend="neural")
    seq = json.loads(plan.read_text())
    seq["sequential"]["t_bounds"] = [1e9, seq["sequential"]["t_bounds"][1]]     # look 1 never decides
    plan.write_text(json.dumps(seq))
    scn = load_scenario("seed", TINY)
    stamps = {}

    def before(k, n, total):
        if k == 2:
            stamps.update({p: p.stat().st_mtime_ns for p in (tmp_path / "seq").rglob("*") if p.is_file()
                           and "checkpoints" in p.parts})
    run_sequential(scn, plan, tmp_path / "seq", "neural", before_look=before)
    assert stamps and all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.exists())
    seedbed.run(scn, backend="neural", seeds=4, out=tmp_path / "fixed")
    assert _metrics(tmp_path / "seq").equals(_metrics(tmp_path / "fixed"))
