"""Strategies the map cannot tell apart are merged; degenerate scenarios are handled."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seedbed.analyses.dynamics import analyze
from seedbed.core.config import load_scenario
from seedbed.core.schema import ScenarioError


def test_rates_the_map_never_reads_do_not_split_a_class():
    # err_deploy only feeds a deployment metric; agree only matters when a prompt states a belief
    # and agreeing changes the reward (syc_bonus > 0).
    scn = load_scenario("seed", {"strategies.D.err_deploy": 0.9, "strategies.D.agree": 0.5})
    assert analyze(scn, points=16).names == ["A", "B", "C+D"]
    scn = load_scenario("seed", {"strategies.D.agree": 0.5, "prompts.belief": 0.5, "judge.syc_bonus": 0.5})
    assert analyze(scn, points=16).names == ["A", "B", "C", "D"]


def test_a_sweep_keeps_apart_what_differs_somewhere_along_it():
    scn = load_scenario("seed", {"strategies.D.agree": 0.5, "judge.syc_bonus": 0.5})
    a = analyze(scn, param=("prompts.belief", [0.0, 0.5]), points=16)
    assert a.names == ["A", "B", "C+D"]                     # at belief = 0 they are the same
    assert a.bifurcation.names == ["A", "B", "C", "D"]      # at belief = 0.5 they are not
    d = a.to_json()["bifurcation"]
    assert all(set(fp["shares"]) == {"A", "B", "C", "D"} for fp in d["fixed_points"])


def test_a_swept_strategy_field_splits_a_class():
    a = analyze(load_scenario("seed"), param=("strategies.C.err", [0.2, 0.3]), points=16)
    assert a.bifurcation.names == ["A", "B", "C", "D"]


def test_single_strategy(write_toml):
    scn = load_scenario(write_toml("""
name = "one"
[[strategies]]
name = "X"
err = 0.1
fix = 0.0
[selection]
rule = "threshold"
"""))
    a = analyze(scn, points=8)
    d = json.loads(json.dumps(a.to_json(), allow_nan=False))
    assert d["fixed_points"][0]["stable"] and d["invasion"] == [] and d["basins"][0]["share"] == 1.0


def test_identity_map_is_refused():
    with pytest.raises(ScenarioError, match="identity"):
        analyze(load_scenario("seed", {"update.eta": 0.0}))
    a = analyze(load_scenario("seed", {"update.eta": 0.0, "update.kappa": 0.3}), points=8)   # not the identity
    assert len(a.fixed_points) == 1 and a.fixed_points[0].stable
    np.testing.assert_allclose(a.fixed_points[0].shares, a.start, atol=1e-10)             # s' = 0.7 s + 0.3 start
