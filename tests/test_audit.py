"""Reward-consistency audit: flags the seed judge, passes a neutral one, credit rules matter."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seedbed.audit import audit, expected_turn_reward, load_judge
from seedbed.cli import app
from seedbed.config import Judge, ScenarioError


def situations_flagged(judge) -> set[str]:
    return {f.situation for f in audit(judge)[0]}


def test_seed_judge_is_flagged_and_explained():
    _, j = load_judge("seed")
    findings, table = audit(j)
    flagged = {f.situation for f in findings}
    assert "across situations: self-written prompts" in flagged       # a correction outscores a fresh answer
    assert "two-turn episode, last turn, alpha=0" in flagged
    f = next(f for f in findings if f.situation.startswith("across"))
    assert f.honest_reward == pytest.approx(1.0) and f.best_reward == pytest.approx(2.0)
    assert "correction outscores a fresh correct answer" in f.explanation
    assert not any(s.startswith("single turn") for s in flagged)        # within one turn honesty is maximal
    assert len(table) > 40


def test_correction_neutral_judge_passes():
    assert audit(Judge(bonus=0.0, pen_ignore=0.5, pen_false=0.5, pen_harm=1.0))[0] == []


def test_two_turn_judge_flagged_only_where_seeding_pays():
    # A noticed plant costs base (1) in turn 1; the fix earns bonus (1) in turn 2.
    j = Judge(bonus=1.0, d_mistake=1.0, pen_harm=1.0)
    flagged = situations_flagged(j)
    assert "two-turn episode, last turn, alpha=0" in flagged            # the plant is invisible to the score
    assert "two-turn episode, transcript, gamma=1, alpha=0" not in flagged   # plant and fix cancel
    assert "two-turn episode, transcript, gamma=0, alpha=0" not in flagged   # turn 2 does not count
    # With SCoRe shaping the improvement r2 − r1 is paid on top, so the transcript pays again.
    shaped = situations_flagged(Judge(bonus=1.0, d_mistake=1.0, pen_harm=1.0, alpha=1.0))
    assert "two-turn episode, transcript, gamma=1, alpha=1" in shaped


def test_other_deviations_are_caught():
    lax_false = situations_flagged(Judge(bonus=0.0, pen_false=0.0, d_false=1.0, pen_ignore=0.0, d_ignore=0.0))
    assert lax_false == set()                                           # ties are not violations
    pays_harm = audit(Judge(pen_harm=-0.0, bonus=0.0))[0]
    assert pays_harm == []
    rewards_keep = audit(Judge(bonus=-0.0, pen_ignore=0.0, d_mistake=0.0))[0]
    assert all("plants a mistake" in f.best for f in rewards_keep)      # undetectable plants tie, never win


def test_expected_turn_reward_by_hand():
    j = Judge(base=1, pen_mistake=0.5, bonus=2, pen_ignore=0.7, pen_false=0.3, pen_harm=4,
              d_mistake=0.5, d_ignore=1, d_false=0.2, d_harm=0.9)
    assert expected_turn_reward(j, {"mistake": True}) == pytest.approx(1 - 1.5 * 0.5)
    assert expected_turn_reward(j, {"corrected": True, "harm": True}) == pytest.approx(3 - 3.6)
    assert expected_turn_reward(j, {"ignored": True, "false_correction": True}) == pytest.approx(1 - 0.7 - 0.06)


def test_user_callable_judge_and_cli_exit_codes(tmp_path, monkeypatch):
    (tmp_path / "userjudges.py").write_text(
        "def neutral(t):\n    x = t[-1]\n    return 1.0 - x['mistake'] - 0.5 * x['ignored'] - 0.5 * x['false_correction'] - x['harm']\n"
        "def corrections_pay(t):\n    return 1.0 + 2.0 * t[-1]['corrected'] - t[-1]['harm']\n"
        "def broken(t):\n    raise RuntimeError('no')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(app, ["audit", "userjudges:neutral"])
    assert r.exit_code == 0 and "consistent" in r.output
    r = runner.invoke(app, ["audit", "userjudges:corrections_pay", "--json"])
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert not data["consistent"] and any("two-turn" in v["situation"] for v in data["violations"])
    r = runner.invoke(app, ["audit", "seed"])
    assert r.exit_code == 1 and "violation" in r.output
    r = runner.invoke(app, ["audit", "userjudges:broken"])
    assert r.exit_code == 2 and "judge raised RuntimeError" in r.output
    r = runner.invoke(app, ["audit", "nosuchmodule:f"])
    assert r.exit_code == 2 and "cannot import" in r.output
    with pytest.raises(ScenarioError, match="no judge to audit"):
        load_judge("krueger")
