"""The JSON form, refusals, and the typer command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from seedbed.analyses.dynamics import analyze
from seedbed.cli.analyze import analyze_command, parse_param
from seedbed.core.config import load_scenario
from seedbed.core.schema import ScenarioError


@pytest.fixture
def app():
    app = typer.Typer(add_completion=False)
    app.command("analyze")(analyze_command)

    @app.command("noop")   # a single-command typer app drops the subcommand name; keep it
    def _noop() -> None:
        pass

    return app


def test_json_has_the_documented_keys():
    d = analyze(load_scenario("seed"), points=32).to_json()
    json.dumps(d)
    assert {"fixed_points", "invasion", "basins", "start", "criterion"} <= set(d)
    assert "bifurcation" not in d
    fp = d["fixed_points"][0]
    assert {"shares", "stable", "eigenvalues"} <= set(fp)
    assert set(fp["shares"]) == {"A", "B", "C+D"}
    assert all(isinstance(e, list) and len(e) == 2 for e in fp["eigenvalues"])      # [re, im]
    assert {"resident", "invader", "factor", "rate"} <= set(d["invasion"][0])
    inv = d["invasion"][0]
    assert abs(inv["rate"] - __import__("math").log(inv["factor"])) < 1e-9   # the rate is ln(factor)
    assert {"state", "share", "contains_start"} <= set(d["basins"][0])
    assert "spectral radius" in d["criterion"]
    d = analyze(load_scenario("seed"), param=("prompts.phi", [0.0, 1.0]), points=8).to_json()
    assert {"param", "values", "fixed_points", "focus_invasion"} <= set(d["bifurcation"])


def test_population_scenario_is_refused():
    with pytest.raises(ScenarioError, match=r"population\.members = 8.*single policy.*population\.members=1"):
        analyze(load_scenario("h2_population"))


def test_other_kinds_are_refused():
    with pytest.raises(ScenarioError, match="pipeline"):
        analyze(load_scenario("krueger"))


@pytest.mark.parametrize("spec", ["prompts.phi", "prompts.phi=0:1", "prompts.phi=a:b:3", "prompts.phi=0:1:0",
                                  "=0:1:3", "prompts.phi=x,y"])
def test_bad_param_is_refused(spec):
    with pytest.raises(ScenarioError, match="--param"):
        parse_param(spec)


def test_param_parsing():
    key, v = parse_param("prompts.phi=0:1:101")
    assert key == "prompts.phi" and len(v) == 101 and v[0] == 0 and v[-1] == 1
    np.testing.assert_allclose(v, np.linspace(0, 1, 101))
    assert parse_param("update.eta = 0.1, 0.5")[1].tolist() == [0.1, 0.5]


def test_command_prints_tables(app):
    r = CliRunner().invoke(app, ["analyze", "seed", "--samples", "64"])
    assert r.exit_code == 0, r.output
    for text in ("Fixed points", "stable", "unstable", "Invasion", "Basins", "ends here", "spectral radius"):
        assert text in r.output


def test_command_json_is_exactly_the_json(app):
    r = CliRunner().invoke(app, ["analyze", "seed", "--json", "--samples", "64", "--set", "prompts.phi=0"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert len([fp for fp in d["fixed_points"] if fp["stable"]]) == 1


def test_command_writes_plots_and_json(app, tmp_path):
    out = tmp_path / "an"
    r = CliRunner().invoke(app, ["analyze", "seed", "--param", "prompts.phi=0:1:5", "--out", str(out),
                                 "--samples", "64"])
    assert r.exit_code == 0, r.output
    assert "Bifurcation along prompts.phi" in r.output
    for f in ("analysis.json", "basins.png", "edge_flow.png", "bifurcation.png"):
        assert (out / f).stat().st_size > 0
    assert json.loads((out / "analysis.json").read_text())["bifurcation"]["values"] == [0, 0.25, 0.5, 0.75, 1]


@pytest.mark.parametrize("spec", ["prompts.phi=0:1", "prompts.phi=0:2:5", "prompts.nope=0:1:3"])
def test_command_refuses_a_bad_param(app, spec):
    r = CliRunner().invoke(app, ["analyze", "seed", "--param", spec])
    assert isinstance(r.exception, ScenarioError)      # the CLI wrapper turns this into exit 2
    msg = str(r.exception)
    assert msg.startswith("--param") and "\n" not in msg


def test_command_refuses_a_population(app):
    r = CliRunner().invoke(app, ["analyze", "h2_population"])
    assert isinstance(r.exception, ScenarioError) and "population.members=1" in str(r.exception)
