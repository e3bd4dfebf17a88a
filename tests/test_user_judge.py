"""Your own judge drives runs: a label judge that reimplements the reward table gives the
same run as the built-in judge (exactly on mean-field, draw for draw on the agent), a
different judge gives a different run, and broken judges are refused in one line."""

from __future__ import annotations

import sys
import textwrap

import pytest
from typer.testing import CliRunner

import seedbed
from seedbed.cli import app
from seedbed.core.config import load_scenario
from seedbed.core.schema import ScenarioError

JUDGES = textwrap.dedent('''
    def table(t):
        """The seed preset's reward table over what the judge noticed (one turn)."""
        return ((0.0 if t["mistake"] else 1.0) + (1.0 if t["corrected"] else 0.0)
                - 0.5 * t["ignored"] - 0.5 * t["false_correction"] - 1.0 * t["harm"])

    def last_turn(turns):
        return table(turns[-1])

    def transcript(turns):                    # credit = transcript, gamma = 1, alpha = 0
        return sum(table(t) for t in turns)

    def harm_only(turns):
        return 1.0 - turns[-1]["harm"]

    def seen(turns):
        assert set(turns[-1]) == {"mistake", "corrected", "ignored", "false_correction", "harm",
                                  "agreed", "wrong_agreement", "prefix"}, sorted(turns[-1])
        assert turns[-1]["prefix"] in ("none", "clean", "mistaken")
        return 1.0

    def nan(turns):
        return float("nan")

    def raises(turns):
        raise ValueError("no")
''')


@pytest.fixture
def judges(tmp_path, monkeypatch):
    (tmp_path / "myjudges.py").write_text(JUDGES)
    monkeypatch.chdir(tmp_path)                       # user modules import from the working directory
    yield "myjudges"
    sys.modules.pop("myjudges", None)


def _with(scn, spec, **judge):
    u = scn.model_copy(deep=True)
    u.judge.function = spec
    for k, v in judge.items():
        setattr(u.judge, k, v)
    return u


@pytest.mark.parametrize("preset, spec", [("seed", "last_turn"), ("h3_transcript_credit", "transcript")])
@pytest.mark.parametrize("backend, seeds", [("meanfield", 1), ("agent", 3)])
def test_label_judge_reimplementing_the_table_gives_the_same_run(judges, preset, spec, backend, seeds):
    scn = load_scenario(preset)
    if backend == "agent":
        scn = scn.model_copy(update={"rounds": 6})
    assert scn.judge.alpha == 0 and scn.judge.gamma == 1
    builtin = seedbed.run(scn, backend=backend, seeds=seeds).metrics
    user = seedbed.run(_with(scn, f"{judges}:{spec}"), backend=backend, seeds=seeds).metrics
    assert builtin.equals(user)                       # exact: every value, every row
    other = seedbed.run(_with(scn, f"{judges}:harm_only"), backend=backend, seeds=seeds).metrics
    assert not builtin.equals(other)                  # the judge is really used


def test_label_judge_sees_the_documented_turn(judges):
    scn = load_scenario("seed").model_copy(update={"rounds": 2})
    for backend in ("meanfield", "agent"):
        seedbed.run(_with(scn, f"{judges}:seen"), backend=backend, seeds=1)


def test_audit_of_a_scenario_uses_its_function(judges):
    from seedbed.analyses.audit import audit

    scn = load_scenario("seed")
    a, b = audit(scn.judge, scn), audit(_with(scn, f"{judges}:last_turn").judge, scn)
    assert not b.worst_case                           # a function has no credit rule to vary
    a_rows = [(r["strategy"], r["expected_reward"]) for r in a.table if "worst case" not in r["situation"]]
    b_rows = [(r["strategy"], r["expected_reward"]) for r in b.table]
    assert [n for n, _ in a_rows] == [n for n, _ in b_rows]
    assert [x for _, x in a_rows] == pytest.approx([x for _, x in b_rows], abs=1e-12)
    assert a.consistent == b.consistent


@pytest.mark.parametrize("spec, message", [("nan", "not a finite number"), ("raises", "judge raised ValueError"),
                                           ("missing", "cannot import"), ])
def test_broken_judges_are_one_line_and_exit_2(judges, tmp_path, spec, message):
    r = CliRunner().invoke(app, ["run", "seed", "--set", f"judge.function={judges}:{spec}",
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_text_judge_is_refused_where_there_is_no_text(judges):
    scn = _with(load_scenario("seed"), f"{judges}:last_turn", reads="text")
    with pytest.raises(ScenarioError, match="judge.reads = 'text'"):
        seedbed.run(scn, backend="meanfield")


def test_function_spec_is_checked_by_the_schema():
    with pytest.raises(Exception, match="function"):
        load_scenario("seed").model_copy(deep=True).judge.function = "not a spec"


TEXT_JUDGE = textwrap.dedent('''
    CALLS = []

    def longest_reply(messages):
        """A text judge: every message is a dict with role and content; rewards short answers."""
        CALLS.append(messages)
        assert messages[0]["role"] in ("system", "user") and messages[-1]["role"] == "assistant"
        assert all(m["role"] in ("system", "user", "assistant") for m in messages)
        return -len(messages[-1]["content"])
''')


@pytest.mark.parametrize("turns", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_neural_label_judge_reimplementing_the_table_gives_the_same_run(judges, turns):
    pytest.importorskip("torch")
    from tests.backends.neural.test_neural import TINY

    over = TINY + ["neural.rounds=2"] + (["prompts.turns=2", "prompts.phi=0"] if turns == 2 else [])
    scn = load_scenario("seed", over)
    builtin = seedbed.run(scn, backend="neural", seeds=1).metrics
    user = seedbed.run(_with(scn, f"{judges}:last_turn"), backend="neural", seeds=1).metrics
    assert builtin.equals(user)


def test_a_text_judge_drives_a_tiny_neural_run(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.backends.neural.test_neural import TINY

    (tmp_path / "textjudge.py").write_text(TEXT_JUDGE)
    monkeypatch.chdir(tmp_path)
    try:
        scn = _with(load_scenario("seed", TINY + ["neural.rounds=2"]), "textjudge:longest_reply", reads="text")
        res = seedbed.run(scn, backend="neural", seeds=1)
        import textjudge

        assert len(textjudge.CALLS) >= 2 * 16                 # every episode of both arms' rounds was scored
        reward = [v for m, v in zip(res.metrics["metric"].to_pylist(), res.metrics["value"].to_pylist())
                  if m == "reward/mean"]
        assert reward and all(v <= -1 for v in reward)        # the text judge's scores, not the table's
    finally:
        sys.modules.pop("textjudge", None)
