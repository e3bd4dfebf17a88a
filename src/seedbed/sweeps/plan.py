"""What a sweep will run: its points, seeds and tasks (:class:`Plan`), and what it may plot."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from seedbed.backends import get_backend, is_stochastic
from seedbed.core.config import Scenario, ScenarioError, scenario_to_dict
from seedbed.backends.runner import DEFAULT_SEEDS, final_grid
from seedbed.core.seeds import repetition_seeds
from seedbed.sweeps.axes import Axis, _jsonable

MF_CHUNK = 4096        # mean-field grid points per task (a fixed size, so a resumed sweep finds its parts)
FINAL_METRICS = ("prompt/mistake_rate", "prompt/self_written", "reward/mean", "kept/fraction", "behaviour/err_train",
                 "behaviour/err_deploy")
NEURAL_METRICS = ("probe/fix_rate", "probe/false_fix_rate", "probe/harm_rate", "probe/competence", "probe/rho",
                  "contamination/dropped")         # seconds between rewrites of a partial sweep.parquet while tasks finish

@dataclass(frozen=True)
class Plan:
    """The tasks of a sweep, in canonical order (result rows are concatenated in this order).

    Exact sweeps (the mean-field backend) evaluate blocks of up to ``MF_CHUNK`` grid points
    in one vectorised call per task; sampled sweeps run one task per grid point × seed.
    """

    axes: list[Axis]
    backend: str
    seeds: list[int] | None            # None: exact, one evaluation per point
    tasks: list[dict[str, Any]]
    sizes: list[int]                   # grid-point evaluations per task (for progress)

    @property
    def exact(self) -> bool:
        return self.seeds is None

def plan(scn: Scenario, axes: list[Axis], backend: str = "meanfield", seeds: int | None = None) -> Plan:
    """Split the grid (× seeds) into tasks; validates every point's overrides up front."""
    for a in axes:
        if not a.values:
            raise ScenarioError(f"--grid {a.key}: no values")
        if a.numeric and a.key != "selection.rule":
            bad = [v for v in a.values if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)]
            if bad and not a.key.startswith("population.explore"):
                raise ScenarioError(f"--grid {a.key}: {bad[0]!r} is not a finite number")
    vectorised = (get_backend(backend).final_grid is not None and not is_stochastic(backend, scn)
                  and not any(a.key.startswith("population.") for a in axes))
    if vectorised:
        static = [a for a in axes if not a.numeric]
        numeric = [a for a in axes if a.numeric]
        mesh = np.meshgrid(*[np.asarray(a.values, dtype=float) for a in numeric], indexing="ij") if numeric else []
        flat = {a.key: m.ravel() for a, m in zip(numeric, mesh)}
        G = int(np.prod([len(a.values) for a in numeric])) if numeric else 1
        tasks, sizes = [], []
        for combo in itertools.product(*[a.values for a in static]):
            fixed = dict(zip([a.key for a in static], combo))
            variant = scn.with_overrides(fixed) if fixed else scn
            # bad values fail now: one round at the grid's corners
            final_grid(variant.model_copy(update={"rounds": 1}), {k: np.array([v.min(), v.max()]) for k, v in flat.items()},
                       backend, workers=1)
            for lo in range(0, G, MF_CHUNK):
                hi = min(G, lo + MF_CHUNK)
                tasks.append({"kind": "grid", "scenario": variant, "fixed": fixed, "backend": backend,
                              "grid": {k: v[lo:hi] for k, v in flat.items()}, "G": hi - lo})
                sizes.append(hi - lo)
        return Plan(axes, backend, None, tasks, sizes)
    points = [dict(zip([a.key for a in axes], combo)) for combo in itertools.product(*[a.values for a in axes])]
    variants = [scn.with_overrides(p) for p in points]          # every bad value fails here, before any work
    if not any(is_stochastic(backend, v) for v in variants):
        seeds = 1
    seed_list = repetition_seeds(scn.seed, seeds or DEFAULT_SEEDS)
    tasks = [{"kind": "point", "scenario": v.model_copy(update={"seed": s}), "point": p, "root_seed": scn.seed,
              "backend": backend, "seed": s}
             for p, v in zip(points, variants) for s in seed_list]
    return Plan(axes, backend, seed_list, tasks, [1] * len(tasks))

def sweep_spec(scn: Scenario, p: Plan) -> dict[str, Any]:
    """What makes two sweeps the same sweep (a resumed sweep must be)."""
    return {"kind": "sweep", "scenario": scenario_to_dict(scn),
            "axes": [[a.key, [_jsonable(v) for v in a.values]] for a in p.axes],
            "backend": p.backend, "seeds": p.seeds, "tasks": len(p.tasks), "chunk": MF_CHUNK}

def check_metric(scn: Scenario, p: Plan, metric: str) -> None:
    """Refuse a metric the sweep will not produce, before any task runs."""
    known = {f"share/{n}" for n in scn.names}
    if p.exact:
        known |= set(get_backend(p.backend).grid_metrics)
    else:
        known |= {f"keep/{n}" for n in scn.names} | set(FINAL_METRICS)
        if p.backend == "neural":
            known |= set(NEURAL_METRICS)
    if metric not in known:
        raise ScenarioError(f"--metric {metric!r}: not a metric of this sweep; choose from {', '.join(sorted(known))}")
