"""CLI smoke tests: every command, and user mistakes exit 2 with one line, no traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from seedbed.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_list_shows_presets():
    r = invoke("list")
    assert r.exit_code == 0 and "seed" in r.output and "h5_threshold" in r.output


def test_run_prints_both_tables_and_the_verdict(tmp_path):
    r = invoke("run", "seed", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "seed control" in r.output and "share B" in r.output and "mistakes in" in r.output
    assert "SELECTS for seeding" in r.output
    assert (tmp_path / "run" / "report.md").exists()


def test_run_with_overrides_changes_the_answer(tmp_path):
    r = invoke("run", "seed", "--set", "selection.rule=threshold", "--set", "selection.tau=1", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert "does not select for seeding" in r.output


def test_sweep_and_report(tmp_path):
    r = invoke("sweep", "seed", "--grid", "judge.bonus=0:2:4", "--grid", "prompts.phi=0:1:3", "--out", tmp_path / "sw")
    assert r.exit_code == 0, r.output
    assert "12 points" in r.output and (tmp_path / "sw" / "heatmap_share_B.png").exists()
    invoke("run", "seed", "--out", tmp_path / "run")
    r = invoke("report", tmp_path / "run")
    assert r.exit_code == 0 and "report.md" in r.output


def test_user_errors_exit_2_with_one_clear_line(tmp_path):
    cases = [
        (["run", "seed", "--set", "judge.d_mistake=2"], "judge.d_mistake"),
        (["run", "no_such_preset"], "presets are"),
        (["run", "seed", "--backend", "quantum"], "unknown backend 'quantum'"),
        (["run", "seed", "--set", "prompts.phi"], "expected key=value"),
        (["sweep", "seed", "--grid", "judge.bonus=1:2"], "start:stop:num"),
        (["report", tmp_path], "not a finished seedbed run"),
    ]
    for args, fragment in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert fragment in r.output.replace("\n", " "), (args, r.output)
        assert "Traceback" not in r.output


def test_run_krueger_and_grading_kinds(tmp_path):
    r = invoke("run", "krueger", "--set", "krueger.steps=100", "--set", "krueger.last=20", "--set",
               "krueger.population=[10]", "--set", "krueger.trials=2", "--out", tmp_path / "k")
    assert r.exit_code == 0, r.output
    assert "P(cooperate)" in r.output and (tmp_path / "k" / "plots" / "krueger.png").exists()
    r = invoke("run", "h8_grading", "--set", "grading.steps=200", "--out", tmp_path / "g")
    assert r.exit_code == 0, r.output
    assert "Whole-schedule grading" in r.output and "planted errors" in r.output
    assert invoke("report", tmp_path / "k").exit_code == 0
    assert invoke("report", tmp_path / "g").exit_code == 0


def test_run_agent_backend_with_seeds(tmp_path):
    r = invoke("run", "seed", "--backend", "agent", "--seeds", "2", "--set", "rounds=5",
               "--set", "agent.conversations=300", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "INCONCLUSIVE" in text and "2 seed(s); a sampled verdict needs at least 3" in text
    assert "(2 seeds)" in text                                   # every interval names its seed count


def test_one_seed_run_says_it_has_no_interval_and_no_verdict(tmp_path):
    r = invoke("run", "seed", "--backend", "agent", "--seeds", "1", "--set", "rounds=3",
               "--set", "agent.conversations=200", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "INCONCLUSIVE" in text and "1 seed: no interval" in text and "1 seed(s)" in text
