"""Command-line conventions: every command's help has an example and no flag reads as if it
took a value; --version; both grid spellings; contamination names each leak and its check."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from seedbed.cli import app

runner = CliRunner()
COMMANDS = sorted(get_command(app).commands)


def help_text(*args: str) -> str:
    r = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert r.exit_code == 0, r.output
    return r.output


def test_the_commands_are_all_found():
    assert {"run", "sweep", "audit", "contamination", "report", "analyze", "list"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(command):
    assert "Example" in help_text(command), f"seedbed {command} --help shows no example"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_no_flag_renders_as_taking_a_value(command):
    text = help_text(*([command] if command else []))
    assert "<bool>" not in text
    cmd = get_command(app).commands[command] if command else get_command(app)
    flags = [p for p in cmd.get_params(cmd.context_class(cmd)) if p.param_type_name == "option" and p.is_flag]
    assert "--help" in [f.opts[0] for f in flags]
    for flag in flags:                      # the flag's row shows the flag and its help, no type between
        line = next(ln for ln in text.splitlines() if ln.lstrip("│ ").startswith(flag.opts[0] + " "))
        after = line.split(flag.opts[0], 1)[1].split()
        assert not after or not after[0].startswith("<"), line


def test_version():
    from seedbed import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"seedbed {__version__}"


def test_grid_linspace_and_the_older_colon_form_mean_the_same():
    from seedbed.core.schema import ScenarioError
    from seedbed.sweeps import parse_axis

    new, old = parse_axis("prompts.phi=linspace(0,1,5)"), parse_axis("prompts.phi=0:1:5")
    assert new.key == old.key == "prompts.phi" and new.values == old.values == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_axis("judge.bonus=0.5,1,2").values == [0.5, 1, 2]
    with pytest.raises(ScenarioError, match="linspace"):
        parse_axis("prompts.phi=linspace(0,1)")
    assert "linspace(start,stop,num)" in help_text("sweep")


def test_contamination_writes_each_leak_with_its_check(tmp_path):
    from seedbed.stages.contamination import with_canary

    from tests.stages.test_contamination import CLEAN, PROBES, pool

    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(with_canary({"input": p})) + "\n" for p in PROBES))
    items, planted = pool()
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in items))
    r = runner.invoke(app, ["contamination", "--eval", str(tmp_path / "eval.jsonl"), "--train",
                            str(tmp_path / "train.jsonl"), "--leaks", str(tmp_path / "leaks.jsonl")])
    assert r.exit_code == 0, r.output
    leaks = [json.loads(ln) for ln in (tmp_path / "leaks.jsonl").read_text().splitlines()]
    assert {x["check"]: x["item"] for x in leaks} == planted            # every planted leak, named by its check
    assert all(items[x["index"]] == x["item"] for x in leaks)            # index: its line among the items
    assert not set(x["item"] for x in leaks) & set(CLEAN)
    text = " ".join(help_text("contamination").split())
    for field in ("input", "text", "prompt", "question", "messages", "metadata.canary"):
        assert field in text, field


def test_every_report_lists_the_overrides(tmp_path):
    """Pipeline, sweep and other-kind (grading) reports name the scenario and each --set, also
    when `seedbed report` rebuilds them from the folder's files; none given: 'as shipped'."""
    cases = [(["run", "seed", "--set", "prompts.phi=0.3"], "run", "`prompts.phi=0.3`"),
             (["sweep", "seed", "--set", "prompts.rho=0.5", "--grid", "judge.bonus=linspace(0,2,3)"], "sweep",
              "`prompts.rho=0.5`"),
             (["run", "h8_grading", "--set", "grading.steps=200"], "grading", "`grading.steps=200`")]
    for args, folder, listed in cases:
        r = runner.invoke(app, [*args, "--out", str(tmp_path / folder)])
        assert r.exit_code == 0, r.output
        text = (tmp_path / folder / "report.md").read_text()
        assert "overrides: " in text and listed in text, (folder, text)
        (tmp_path / folder / "report.md").unlink()
        assert runner.invoke(app, ["report", str(tmp_path / folder)]).exit_code == 0
        assert listed in (tmp_path / folder / "report.md").read_text()
    r = runner.invoke(app, ["run", "h8_grading", "--set", "grading.steps=200", "--set", "grading.learners=4",
                            "--out", str(tmp_path / "two")])
    assert r.exit_code == 0, r.output
    assert "overrides: `grading.learners=4`, `grading.steps=200`." in (tmp_path / "two" / "report.md").read_text()
