"""The mean-field prediction for a neural run: the same strategies, run exactly from the
shares the neural probes measured at round 0 and with the measured persona persistence.

Computed when a neural run finishes and stored as its own table (prediction.parquet, the
tidy schema of metrics.parquet with arms 'scenario' and 'control'), so the report can
overlay prediction and measurement without running anything.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .metrics import series
from .runner import RunPlan, run_repetition


def meanfield_prediction(plan: RunPlan, measured: pa.Table) -> pa.Table:
    """Tidy rows of the mean-field prediction for both arms of a neural run."""
    tables = []
    for arm, scn in plan.arms:
        start = np.array([np.mean([v[0] for _, v in series(measured, f"share/{n}", arm).values()]) for n in scn.names])
        rho = np.array([np.nanmean(v) for _, v in series(measured, "probe/rho", arm).values()])
        rho_hat = float(np.nanmean(rho)) if np.any(np.isfinite(rho)) else 0.0
        over = {f"strategies.{n}.share": float(x) for n, x in zip(scn.names, start / start.sum())}
        over.update({"prompts.rho": rho_hat, "rounds": plan.rounds, "population.members": 1})
        pred = scn.with_overrides(over)
        t = run_repetition(pred, "meanfield", 0, arm)
        keep = [m.startswith("share/") or m == "behaviour/err_train" for m in t["metric"].to_pylist()]
        tables.append(t.filter(pa.array(keep)))
    return pa.concat_tables(tables)
