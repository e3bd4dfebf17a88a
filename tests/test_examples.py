"""The worked example in examples/ runs as a user would run it, and writes what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="pandas is in the 'dev' extra (the example reads Parquet with it)")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_metric.py"


def test_custom_metric_example_runs_and_writes_its_outputs(tmp_path):
    out = tmp_path / "example"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MPLCONFIGDIR", None)                       # the script must keep matplotlib's cache in --out itself
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SELECTS for seeding" in proc.stdout, proc.stdout
    for png in ("growth_B.png", "phi_sweep.png", "run/plots/shares.png", "sweep/heatmap_share_B.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert (out / "run" / "manifest.json").is_file() and (out / "run" / "report.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example"]          # nothing beside --out

    # the custom metric is what the script says: share_B(r) / share_B(r - 1), per arm and seed
    rows = pd.read_parquet(out / "run" / "metrics.parquet")
    growth = pd.read_csv(out / "growth_B.csv")
    assert set(growth.arm) == {"scenario", "control"} and growth.seed.nunique() == 3
    assert len(growth) == 2 * 3 * 20                                           # arms × seeds × rounds 1..20
    b = rows[rows.metric == "share/B"].set_index(["arm", "seed", "round"])["value"]
    for g in growth.sample(10, random_state=0).itertuples():
        assert g.growth == pytest.approx(b[(g.arm, g.seed, g.round)] / b[(g.arm, g.seed, g.round - 1)], rel=1e-12)
    # the seeder grows in the scenario arm and shrinks in the control over the last rounds
    late = growth[growth["round"] > 10].groupby("arm")["growth"].mean()
    assert late["scenario"] > 1 > late["control"], late

    # the sweep: 3 bonuses × 11 values of phi, exact; B's final share rises with phi at bonus 2
    sweep = pd.read_parquet(out / "sweep" / "sweep.parquet")
    final_b = sweep[sweep.metric == "share/B"]
    assert len(final_b) == 33
    at2 = final_b[final_b["judge.bonus"] == 2].sort_values("prompts.phi")["value"].to_numpy()
    assert np.all(np.diff(at2) > 0) and at2[-1] > 0.5 > at2[0]
