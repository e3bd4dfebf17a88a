"""Python API: run directories, determinism, atomic writes, verdicts, sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest

import seedbed
from seedbed.results import writing as rundir
from seedbed.core.config import ScenarioError, load_scenario
from seedbed.results.metrics import final_values, series


def test_run_writes_a_self_describing_directory(tmp_path):
    res = seedbed.run(load_scenario("seed"), out=tmp_path / "r")
    out = tmp_path / "r"
    for f in ("manifest.json", "metrics.parquet", "conditions.parquet", "report.md", "scenario.toml",
              "plots/shares.png", "plots/prompt_mistakes.png", "plots/reward.png"):
        assert (out / f).is_file(), f
    man = json.loads((out / "manifest.json").read_text())
    assert man["scenario"]["name"] == "seed" and man["control"]["prompts"]["phi"] == 0.0
    assert man["root_seed"] == 0 and "numpy" in man["versions"] and man["code_revision"]
    table = rundir.read_table(out / "metrics.parquet")
    assert table.column_names == ["arm", "seed", "round", "member", "metric", "value"]
    rounds, values = series(table, "share/B")[0]
    assert list(rounds) == list(range(61)) and values[0] == 0.25
    # Shares per round sum to one in the tidy data too.
    total = sum(series(table, f"share/{n}")[0][1] for n in "ABCD")
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert load_scenario(out / "scenario.toml") == res.scenario


def test_report_states_the_verdict_against_the_control_and_conditions(tmp_path):
    seedbed.run(load_scenario("seed"), out=tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "This setup SELECTS for seeding" in text and "The threshold:" in text
    assert "fixed human prompts" in text and "![shares](plots/shares.png)" in text
    assert "## Under which conditions" in text and "`prompts.phi`: selects at 1;" in text
    assert "`selection.rule`: selects at" in text and "not at threshold" in text


@pytest.mark.parametrize("preset,selects", [("seed", True), ("h1_fixed_prompts", False), ("h3_transcript_credit", True),
                                            ("h5_threshold", False), ("h6_critique_revision", True),
                                            ("seed_best_of_4", True), ("persistence", True)])
def test_preset_verdicts(preset, selects):
    v = seedbed.run(load_scenario(preset)).verdict
    assert v.selects is selects, v.headline
    assert v.exact and v.n_seeds == 1


def test_same_seed_gives_identical_files(tmp_path):
    for d in ("a", "b"):
        seedbed.run(load_scenario("seed_best_of_4"), out=tmp_path / d)
    for f in ("metrics.parquet", "manifest.json", "conditions.parquet", "report.md", "scenario.toml",
              "plots/shares.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "metrics.parquet"
    rundir.write_text(target, "old")

    def crash(p):
        p.write_text("half-writ")
        raise KeyboardInterrupt  # as if the run was killed mid-write

    with pytest.raises(KeyboardInterrupt):
        rundir.atomic_write(target, crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.parquet"]


def test_report_rebuilds_from_data_only(tmp_path):
    seedbed.run(load_scenario("seed"), out=tmp_path)
    before = (tmp_path / "report.md").read_text()
    (tmp_path / "report.md").unlink()
    (tmp_path / "plots" / "shares.png").unlink()
    from seedbed.report.pipeline import write_report
    write_report(tmp_path)
    assert (tmp_path / "report.md").read_text() == before and (tmp_path / "plots" / "shares.png").exists()
    with pytest.raises(ScenarioError, match="not a finished seedbed run"):
        write_report(tmp_path / "plots")


def test_sweep_writes_parquet_and_heatmap(tmp_path):
    res = seedbed.sweep(load_scenario("seed"), ["judge.bonus=0:2:5", "prompts.phi=0:1:3"], out=tmp_path)
    z = res.grid("share/B")
    assert z.shape == (5, 3)
    assert z[-1, -1] > 0.9 and z[:, 0].max() < 0.05      # needs both a bonus and self-written prompts
    assert (tmp_path / "heatmap_share_B.png").exists() and (tmp_path / "sweep.parquet").exists()
    t = rundir.read_table(tmp_path / "sweep.parquet")
    assert set(t.column_names) == {"judge.bonus", "prompts.phi", "metric", "value"}
    assert t.num_rows == 15 * len(set(t["metric"].to_pylist()))


def test_sweep_over_a_structural_axis_and_bad_axes(tmp_path):
    res = seedbed.sweep(load_scenario("seed"), {"selection.rule": ["threshold", "top_fraction"],
                                                "prompts.phi": [0.0, 1.0]})
    z = res.grid("share/B")
    assert z[0, 1] < 0.05 and z[1, 1] > 0.9   # threshold judge immune, ranking judge not
    with pytest.raises(ScenarioError, match="not a numeric scenario field"):
        seedbed.sweep(load_scenario("seed"), ["judge.nope=0:1:3"])
    with pytest.raises(ScenarioError, match="start:stop:num"):
        seedbed.sweep(load_scenario("seed"), ["judge.bonus=0:x:3"])
    with pytest.raises(ScenarioError, match=r"leaves \[0, 1\]"):
        seedbed.sweep(load_scenario("seed"), ["prompts.phi=0:2:3"])
    with pytest.raises(ScenarioError, match="not a metric of this sweep"):
        seedbed.sweep(load_scenario("seed"), ["prompts.phi=0:1:3"], out=tmp_path, metric="share/Z")


def test_final_values_reads_last_round():
    res = seedbed.run(load_scenario("seed"))
    assert final_values(res.metrics, "share/B")[0] == pytest.approx(res.verdict.scenario_final[0])
