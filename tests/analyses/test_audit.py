"""Reward-consistency audit: flags the seed judge, passes a neutral one, uses the judge's own
credit settings and the dynamics' outcome model, refuses broken user judges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seedbed.analyses.audit import HONEST, Behaviour, audit, behaviours, load_judge, model_scores
from seedbed.cli import app
from seedbed.core.config import Judge, ScenarioError, load_scenario
from seedbed.stages.judge import expected_turn_reward


def flagged(judge, scenario=None) -> set[str]:
    return {f.situation for f in audit(judge, scenario).findings}


def test_seed_judge_is_flagged_and_explained():
    name, j, scn = load_judge("seed")
    res = audit(j, scn, name)
    found = {f.situation for f in res.findings}
    assert "across situations: self-written prompts" in found       # a correction outscores a fresh answer
    assert "two-turn episode, last turn, alpha=0" in found
    f = next(f for f in res.findings if f.situation.startswith("across"))
    assert f.honest_reward == pytest.approx(1.0) and f.best_reward == pytest.approx(2.0)
    assert "correction outscores a fresh correct answer" in f.explanation
    assert not any(s.startswith("single turn") for s in found)        # within one turn honesty is maximal
    assert len(res.table) > 40


def test_correction_neutral_judge_passes():
    res = audit(Judge(bonus=0.0, pen_ignore=0.5, pen_false=0.5, pen_harm=1.0))
    assert res.consistent and res.findings == [] and res.worst_case == []


def test_the_judge_is_checked_at_its_own_gamma_and_alpha():
    # gamma = 0, alpha = 10: turn 2 carries no weight, so the huge shaping bonus cannot pay.
    j = Judge(bonus=0.0, pen_ignore=1.0, credit="transcript", gamma=0.0, alpha=10.0)
    res = audit(j)
    assert not any("two-turn" in f.situation for f in res.findings)
    # ...but the worst case (gamma = 1) is reported on its own line, not counted
    assert [f.situation for f in res.worst_case] == ["two-turn episode, transcript, gamma=1, alpha=10 (worst case)"]
    # A judge whose own gamma is 1 is flagged for the same episode.
    assert "two-turn episode, transcript, gamma=1, alpha=10" in flagged(j.model_copy(update={"gamma": 1.0}))


def test_two_turn_judge_flagged_only_where_seeding_pays():
    # A noticed plant costs base (1) in turn 1; the fix earns bonus (1) in turn 2.
    assert "two-turn episode, last turn, alpha=0" in flagged(Judge(bonus=1.0, d_mistake=1.0))   # plant is invisible
    transcript = Judge(bonus=1.0, d_mistake=1.0, credit="transcript", gamma=1.0)
    assert "two-turn episode, transcript, gamma=1, alpha=0" not in flagged(transcript)       # plant and fix cancel
    # With SCoRe shaping the improvement r2 − r1 is paid on top, so the transcript pays again.
    assert "two-turn episode, transcript, gamma=1, alpha=1" in flagged(transcript.model_copy(update={"alpha": 1.0}))


def test_other_deviations_are_caught():
    res = audit(Judge(bonus=0.0, pen_false=0.0, d_false=1.0, pen_ignore=0.0, d_ignore=0.0))
    assert res.consistent                                              # ties are not violations
    pays_false = audit(Judge(bonus=0.0, pen_false=-0.0, d_false=1.0, pen_ignore=0.5)).findings
    assert pays_false == []                                            # penalty-free false fixes tie, never win
    # An undetectable own mistake plus a bonus for fixes: planting pays in the two-turn episode.
    rewards_plant = audit(Judge(bonus=0.5, d_mistake=0.0)).findings
    assert rewards_plant, "expected a violation"
    assert all("plants a mistake" in f.best or "corrects a mistake" in f.best for f in rewards_plant)
    # Harm that the judge never notices ties with honesty; harm it rewards wins (a negative penalty
    # cannot be configured, so reward harm through a user judge).
    harm_pays = audit(lambda t: 1.0 + t[-1]["harm"]).findings
    assert harm_pays and all("harms" in f.best for f in harm_pays)


def test_audit_scores_agree_with_the_dynamics_outcome_model():
    # The seed preset's seeder B errs at turn 2 as in the dynamics: its episode return equals the
    # mean-field two-turn expectation, not a seeder that never errs when reviewing.
    _, j, scn = load_judge("seed")
    res = audit(j, scn)
    b_row = next(r for r in res.table if r["strategy"] == "scenario strategy B" and r["situation"].startswith("two-turn"))
    from seedbed.backends.meanfield import MFParams
    from seedbed.backends.meanfield.outcomes import NONE, two_turn
    p = MFParams.from_scenario(scn.with_overrides({"prompts.turns": 2}))
    o = two_turn(p, NONE)
    k = scn.names.index("B")
    assert b_row["expected_reward"] == pytest.approx(float(o.prob[0, k] @ o.value[0]), abs=1e-12)
    # a pure behaviour's model score is the expected reward of its labels (the reward is linear)
    seeder = Behaviour(plant=1, fix=1)
    r1 = expected_turn_reward(j, {"mistake": True})
    r2 = expected_turn_reward(j, {"corrected": True})
    assert model_scores(j, [seeder.rates()], "episode")[0] == pytest.approx(r2, abs=1e-12)   # last-turn credit
    assert model_scores(j, [seeder.rates()], "episode", "transcript", 1.0)[0] == pytest.approx(r1 + r2, abs=1e-12)


def test_every_situation_has_exactly_the_honest_behaviour_marked_honest():
    for sit in ("none", "clean", "mistaken", "episode"):
        bs = behaviours(sit)
        assert len({b.name(sit) for b in bs}) == len(bs) > 1
        assert sum(b.honest(sit) for b in bs) == 1, sit
    assert HONEST.honest("episode")


def test_user_callable_judge_and_cli_exit_codes(tmp_path, monkeypatch):
    (tmp_path / "userjudges.py").write_text(
        "def neutral(t):\n    x = t[-1]\n    return 1.0 - x['mistake'] - 0.5 * x['ignored'] - 0.5 * x['false_correction'] - x['harm']\n"
        "def corrections_pay(t):\n    return 1.0 + 2.0 * t[-1]['corrected'] - t[-1]['harm']\n"
        "def broken(t):\n    raise RuntimeError('no')\n"
        "def nan(t):\n    return float('nan')\n")
    (tmp_path / "badsyntax.py").write_text("def f(:\n")
    (tmp_path / "raises.py").write_text("raise ValueError('import-time failure')\n")
    monkeypatch.chdir(tmp_path)                       # user modules import from the working directory
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
    r = runner.invoke(app, ["audit", "userjudges:nan"])
    assert r.exit_code == 2 and "not a finite number" in r.output
    for spec, what in (("nosuchmodule:f", "ModuleNotFoundError"), ("badsyntax:f", "SyntaxError"),
                       ("raises:f", "ValueError"), ("userjudges:missing", "AttributeError")):
        r = runner.invoke(app, ["audit", spec])
        assert r.exit_code == 2 and "cannot import" in r.output and what in r.output, (spec, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output
    with pytest.raises(ScenarioError, match="no judge to audit"):
        load_judge("krueger")
