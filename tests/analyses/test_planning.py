"""The plan against the backend it plans for: its stated power matches the fraction of
simulated agent experiments that end conclusive, and a plan is read from a pilot run folder."""

from __future__ import annotations

import numpy as np
import pytest

from seedbed.analyses.power import make_plan
from seedbed.backends.runner import run_repetition
from seedbed.core.config import load_scenario
from seedbed.results.metrics import SIGNED_UNIT, final_values, mean_ci
from seedbed.results.verdict import decide

# a short agent design whose effect is small next to its spread, so that the plan needs ~18
# seeds and its power is a real number, not 1; at 400 conversations the agent's mean effect
# (0.044 ± 0.003 over 150 seeds) is the mean-field's (0.046), so the prediction is fair
NOISY = {"agent.conversations": 400, "rounds": 2, "agent.probes": 0}
FEW = {"agent.conversations": 100, "rounds": 4, "agent.probes": 0}


def _final_b(scn, seeds, arm):
    return np.array([final_values(run_repetition(scn, "agent", int(s), arm), "share/B", arm)[0] for s in seeds])


def test_stated_power_matches_200_simulated_agent_experiments():
    scn = load_scenario("seed", NOISY)
    ctl = scn.control_scenario()
    predicted = (final_values(run_repetition(scn, "meanfield", 0, "scenario"), "share/B", "scenario")[0]
                 - final_values(run_repetition(ctl, "meanfield", 0, "control"), "share/B", "control")[0])
    pool = np.random.SeedSequence(2026).generate_state(150 + 200 * 40) % 2**31
    pilot = pool[:150]
    sd = float(np.std(_final_b(scn, pilot, "scenario") - _final_b(ctl, pilot, "control"), ddof=1))
    plan = make_plan(predicted, sd)
    assert plan.seeds is not None and 5 <= plan.seeds <= 40 and 0.8 <= plan.power < 0.95
    conclusive = 0
    for e in range(200):                                  # each experiment: fresh seeds, both arms
        seeds = pool[150 + 40 * e: 150 + 40 * e + plan.seeds]
        d = _final_b(scn, seeds, "scenario") - _final_b(ctl, seeds, "control")
        conclusive += decide(mean_ci(d, bounds=SIGNED_UNIT), len(d), exact=False)[0] != "inconclusive"
    assert abs(conclusive / 200 - plan.power) <= 0.07, (conclusive / 200, plan.power, plan.seeds)


def test_a_plan_from_a_pilot_run_folder(tmp_path):
    import seedbed
    from seedbed.analyses.planning import achieved, plan_from_pilot

    scn = load_scenario("seed", FEW)
    seedbed.run(scn, backend="agent", seeds=4, out=tmp_path / "pilot")
    p = plan_from_pilot(tmp_path / "pilot")
    assert p["metric"] == "share/B" and p["pilot_seeds"] == 4
    assert p["per_round"][0]["pilot_sd"] == 0.0 and all(r["pilot_sd"] >= 0 for r in p["per_round"])
    assert "exact mean-field run" in " ".join(p["plan"]["notes"])
    assert p["plan"]["seeds"] >= 3 and 1 <= p["plan"]["rounds"] <= 4
    a = achieved(tmp_path / "pilot", p)
    assert a["n"] == 4 and 0 <= a["power_at_planned_effect"] <= 1


def test_a_plan_checks_its_prediction_against_its_own_pilot(tmp_path):
    """A plan on a prediction also states the pilot's observed effect at the planned round
    (mean, 95% t interval over its seeds) and the fixed design's outcome probabilities were
    that the truth: the noncentral-t probabilities at the observed mean, same seeds and
    spread. A plan on the pilot's own effect has nothing to check."""
    from scipy import stats

    import seedbed
    from seedbed.analyses.planning import paired_differences, plan_from_pilot
    from seedbed.analyses.power import outcome_probs
    from seedbed.results.writing import read_table

    seedbed.run(load_scenario("seed", FEW), backend="agent", seeds=4, out=tmp_path / "pilot")
    _, d = paired_differences(read_table(tmp_path / "pilot" / "metrics.parquet"), "share/B")
    for kw in ({}, {"max_rounds": 2}):                      # the pilot's last round, and an earlier one
        p = plan_from_pilot(tmp_path / "pilot", **kw)
        c, plan = p["pilot_check"], p["plan"]
        assert plan["rounds"] == kw.get("max_rounds", d.shape[1] - 1)
        x = d[:, plan["rounds"]]                            # column 0 is round 0, the shared base
        half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
        lo, hi = max(-1, x.mean() - half), min(1, x.mean() + half)
        assert c["pilot_seeds"] == 4 and c["pilot_effect"] == pytest.approx(x.mean())
        assert c["pilot_interval"] == pytest.approx([lo, hi])
        probs = outcome_probs(x.mean(), plan["spread"], plan["seeds"])
        assert list(c["probs_at_pilot_effect"].values()) == pytest.approx(list(probs))
        worst = min(max(0.02, lo), hi)                     # the effect in the interval nearest the margin
        assert c["worst_effect_in_interval"] == pytest.approx(worst)
        assert c["conclusive_at_worst"] == pytest.approx(sum(outcome_probs(worst, plan["spread"], plan["seeds"])[:2]))
        grid = np.linspace(lo, hi, 41)                     # it is the lowest over the interval
        assert c["conclusive_at_worst"] <= min(sum(outcome_probs(e, plan["spread"], plan["seeds"])[:2])
                                               for e in grid) + 1e-9
        assert c["prediction_inside"] == (lo <= plan["predicted_effect"] <= hi)
        assert c["note"] in plan["notes"] and ("holds" if c["prediction_inside"] else "EXCLUDES") in c["note"]
    assert "pilot_check" not in plan_from_pilot(tmp_path / "pilot", use="pilot")


def test_sd_bound_sets_the_spread_a_plan_rests_on(tmp_path):
    """--sd-bound 0 plans on the pilot's sd itself, the default on its 80% one-sided upper
    bound s·√((n−1)/χ²_{0.2, n−1}); the larger spread never asks for fewer seeds."""
    import json

    from scipy import stats
    from typer.testing import CliRunner

    import seedbed
    from seedbed.analyses.planning import paired_differences
    from seedbed.cli import app
    from seedbed.results.writing import read_table

    seedbed.run(load_scenario("seed", FEW), backend="agent", seeds=4, out=tmp_path / "pilot")
    sets = sum((["--set", f"{k}={v}"] for k, v in FEW.items()), [])
    plans = {}
    for bound in ("0", "0.8"):
        r = CliRunner().invoke(app, ["plan", "seed", "--backend", "agent", "--pilot", str(tmp_path / "pilot"),
                                     "--sd-bound", bound, "--out", str(tmp_path / bound), *sets])
        assert r.exit_code == 0, r.output
        plans[bound] = json.loads((tmp_path / bound / "plan.json").read_text())
    _, d = paired_differences(read_table(tmp_path / "pilot" / "metrics.parquet"), "share/B")
    s = d.std(0, ddof=1)
    point = [r["pilot_sd"] for r in plans["0"]["per_round"]]
    upper = [r["pilot_sd"] for r in plans["0.8"]["per_round"]]
    assert point == pytest.approx(s.tolist())
    assert upper == pytest.approx((s * np.sqrt(3 / stats.chi2.ppf(0.2, 3))).tolist())
    assert "upper confidence bound" not in " ".join(plans["0"]["plan"]["notes"])
    assert plans["0"]["sd_bound"] is None and plans["0.8"]["sd_bound"] == 0.8
    assert plans["0.8"]["plan"]["seeds"] >= plans["0"]["plan"]["seeds"]
    r = CliRunner().invoke(app, ["plan", "seed", "--backend", "agent", "--pilot", str(tmp_path / "pilot"),
                                 "--sd-bound", "1.5", "--out", str(tmp_path / "bad"), *sets])
    assert r.exit_code == 2 and "--sd-bound" in r.output and not (tmp_path / "bad").exists()


def test_plan_refuses_an_exact_backend():
    from typer.testing import CliRunner

    from seedbed.cli import app

    r = CliRunner().invoke(app, ["plan", "seed", "--backend", "meanfield"])
    assert r.exit_code == 2 and "sampled backend" in r.output


def test_a_sequential_design_decides_at_its_looks_through_the_cli(tmp_path):
    """--looks puts a group-sequential design in plan.json; --achieved on a run with a look's
    seed count decides with that look's boundary (wider than the fixed design's); a run whose
    seeds are not a look gets its fixed-design power and a note, no sequential decision."""
    import json

    from typer.testing import CliRunner

    from seedbed.analyses.power import SequentialDesign
    from seedbed.cli import app

    run = CliRunner().invoke
    scn = load_scenario("seed", FEW)
    import seedbed

    seedbed.run(scn, backend="agent", seeds=4, out=tmp_path / "pilot")
    r = run(app, ["plan", "seed", "--backend", "agent", "--pilot", str(tmp_path / "pilot"), "--looks", "2",
                  "--out", str(tmp_path / "plan"), *sum((["--set", f"{k}={v}"] for k, v in FEW.items()), [])])
    assert r.exit_code == 0, r.output
    seq = json.loads((tmp_path / "plan" / "plan.json").read_text())["sequential"]
    assert len(seq["looks"]) == 2 and seq["looks"][0] >= 3 and seq["t_bounds"][0] > seq["t_bounds"][1]
    assert seq["simulated"]["selects"] + seq["simulated"]["does not select"] >= 0.8 - 0.03
    design = SequentialDesign(tuple(seq["looks"]), seq["alpha"], seq["margin"], tuple(seq["z_bounds"]),
                              tuple(seq["t_bounds"]), seq["t_method"])
    check = json.loads((tmp_path / "plan" / "plan.json").read_text())["pilot_check"]
    spread = json.loads((tmp_path / "plan" / "plan.json").read_text())["plan"]["spread"]
    assert seq["simulated_at_pilot_effect"] == design.simulate(check["pilot_effect"], spread, 4000, 0)
    assert "at the pilot's own effect" in r.output
    n1 = seq["looks"][0]
    seedbed.run(load_scenario("seed", {**FEW, "rounds": seq["rounds"] or FEW["rounds"]}), backend="agent",
                seeds=n1, out=tmp_path / "look1")
    r = run(app, ["plan", "seed", "--backend", "agent", "--out", str(tmp_path / "plan"), "--achieved",
                  str(tmp_path / "look1"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)["sequential"]
    assert s["look"] == 1 and s["outcome"] in ("selects", "does not select", "continue")
    assert s["t_bound"] == pytest.approx(design.t_bounds[0])
    assert (s["next_seeds"] == seq["looks"][1]) == (s["outcome"] == "continue")
    r = run(app, ["plan", "seed", "--backend", "agent", "--out", str(tmp_path / "plan"), "--achieved",
                  str(tmp_path / "pilot"), "--json"])
    assert r.exit_code == 0 and "is not one of the sequential design's looks" in json.loads(r.output)["sequential_note"]
    from seedbed.analyses.planning import decide_look
    from seedbed.core.schema import ScenarioError

    with pytest.raises(ScenarioError, match="is not one of the design's looks"):
        decide_look(tmp_path / "pilot", seq)
