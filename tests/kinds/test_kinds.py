"""The Krueger unit test (H7) and the grading schedule (H8)."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.core.config import ScenarioError, load_scenario
from seedbed.kinds.grading import expected_grades, train, write_grading
from seedbed.kinds.krueger import simulate, summary, write_krueger


def small_krueger(**over):
    base = {"krueger.steps": 300, "krueger.trials": 4, "krueger.last": 50}
    base.update(over)
    return load_scenario("krueger", base)


def test_without_pbt_myopic_learners_defect():
    k = small_krueger().krueger
    traj = simulate(k, 100, 0, False, np.random.default_rng(0))
    # logits start N(0, 1) (the authors' protocol): P(cooperate) is 0.5 on average, then falls
    assert traj[:, 0].mean() == pytest.approx(0.5, abs=0.03)
    assert traj[:, -50:].mean() < 0.2 and traj[:, -50:].mean() < traj[:, 0].mean() - 0.3


def test_pbt_reveals_cooperation_and_swapping_removes_it():
    k = small_krueger().krueger
    pbt = simulate(k, 200, 1, False, np.random.default_rng(1))[:, -50:].mean()
    swap = simulate(k, 200, 1, True, np.random.default_rng(1))[:, -50:].mean()
    none = simulate(k, 200, 0, False, np.random.default_rng(1))[:, -50:].mean()
    assert pbt > none + 0.1 and pbt > swap + 0.1


def test_krueger_sweep_writes_table_plot_and_is_deterministic(tmp_path):
    scn = small_krueger(**{"krueger.population": [10, 50], "krueger.interval": [0, 10]})
    a = write_krueger(scn, tmp_path / "a")
    b = write_krueger(scn, tmp_path / "b")
    assert a == b and len(a) == 2 * 2 * 2
    assert (tmp_path / "a" / "results.parquet").read_bytes() == (tmp_path / "b" / "results.parquet").read_bytes()
    text = (tmp_path / "a" / "report.md").read_text()
    assert "| swapping | population | PBT interval |" in text and "plots/krueger.png" in text
    assert all(r["trials"] == 4 for r in a)


def test_krueger_bad_settings():
    with pytest.raises(ScenarioError, match="lr_low"):
        small_krueger(**{"krueger.lr_low": 2.0})
    with pytest.raises(ScenarioError, match="at least 2"):
        small_krueger(**{"krueger.population": [1]})


def test_grading_expected_grades_are_exact():
    g = load_scenario("h8_grading").grading
    e = expected_grades(g)
    # k planted: draft 1 − 0.1·0.5·k; proofreading 0.3·0.9·k; corrections 0.3·0.9·0.9·k
    np.testing.assert_allclose(e["schedule"], 1 + (-0.05 + 0.27 + 0.243) * np.arange(6), atol=1e-12)
    assert np.argmax(e["schedule"]) == 5 and np.argmax(e["draft"]) == 0


def test_schedule_credit_plants_errors_step_credit_does_not(tmp_path):
    scn = load_scenario("h8_grading", {"grading.steps": 1500, "grading.learners": 8})
    out = write_grading(scn, tmp_path)
    assert out["selects"] and out["schedule"][0] > 3.5 and out["step"][0] < 1.0
    assert "selects for seeding" in (tmp_path / "report.md").read_text()
    # With a draft penalty that outweighs the later rewards, neither credit rule plants.
    g = load_scenario("h8_grading", {"grading.draft_penalty": 3.0, "grading.steps": 600, "grading.learners": 4}).grading
    assert train(g, "schedule", np.random.default_rng(0))[:, -1].mean() < 1.0


def test_unknown_kind():
    from seedbed.core.config import scenario_model
    with pytest.raises(ScenarioError, match="unknown; allowed: pipeline"):
        scenario_model("chess", "x.toml")
