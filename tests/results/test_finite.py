"""No metric leaves the finite range silently: a row that overflowed stops the run before
anything is written, with one line naming the metric and the field to lower."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.core.schema import ScenarioError
from seedbed.results.metrics import Rows


def test_an_infinite_reward_is_refused_naming_the_judges_scales():
    with pytest.raises(ScenarioError, match=r"'reward/mean' = inf .*judge.bonus"):
        Rows().add("scenario", 0, np.arange(3), 0, "reward/mean", np.array([1.0, np.inf, 2.0]))
    with pytest.raises(ScenarioError, match=r"'share/B' = nan"):
        Rows().add("scenario", 0, np.arange(2), 0, "share/B", np.array([0.5, np.nan]))
    rows = Rows()                                             # "not measured" stays allowed where documented
    rows.add("scenario", 0, np.arange(2), 0, "probe/eta_eff", np.array([np.nan, 0.1]))
    with pytest.raises(ScenarioError, match="probe/eta_eff"):
        rows.add("scenario", 0, np.arange(1), 0, "probe/eta_eff", np.array([-np.inf]))


def test_a_huge_bonus_on_the_agent_backend_is_one_line_exit_2_and_no_folder(tmp_path):
    from typer.testing import CliRunner

    from seedbed.cli import app

    out = tmp_path / "run"
    with np.errstate(over="ignore"):
        r = CliRunner().invoke(app, ["run", "seed", "--backend", "agent", "--seeds", "2", "--set", "judge.bonus=1e308",
                                     "--set", "agent.conversations=200", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "reward/mean" in r.output and "judge.bonus" in r.output and "Traceback" not in r.output
    assert not out.exists()
