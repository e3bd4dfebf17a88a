"""Phase diagrams: a scenario evaluated on a grid of parameter values in one computation.

Numeric axes are vectorised (the whole grid is one mean-field array computation over
G points); structural axes (selection.rule, selection.n, judge.credit, prompts.turns)
run one vectorised grid per value. Large grids are split into chunks over a process
pool (grid points are independent). Results are tidy rows: one per point × metric.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import multiprocessing as mp

import numpy as np
import pyarrow as pa

from .config import Scenario, ScenarioError, parse_value
from .meanfield import MeanField, MFParams
from .meanfield.params import STATIC_FIELDS

FINAL_METRICS = ("prompt/mistake_rate", "reward/mean", "kept/fraction", "behaviour/err_train", "behaviour/err_deploy")
PARALLEL_MIN_POINTS = 8192


@dataclass
class Axis:
    key: str
    values: list[Any]

    @property
    def numeric(self) -> bool:
        return self.key not in STATIC_FIELDS


def parse_axis(spec: str) -> Axis:
    """``key=start:stop:num`` (inclusive linspace) or ``key=v1,v2,...``."""
    if "=" not in spec:
        raise ScenarioError(f"--grid {spec!r}: expected key=start:stop:num or key=v1,v2,...")
    key, text = (x.strip() for x in spec.split("=", 1))
    if ":" in text:
        parts = text.split(":")
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise ScenarioError(f"--grid {spec!r}: expected start:stop:num with numbers, e.g. 0:1:21") from None
        if len(parts) != 3 or num < 1:
            raise ScenarioError(f"--grid {spec!r}: expected start:stop:num with num ≥ 1")
        return Axis(key, list(np.linspace(start, stop, num)))
    return Axis(key, [parse_value(v.strip()) for v in text.split(",") if v.strip()])


@dataclass
class SweepResult:
    axes: list[Axis]
    table: pa.Table             # columns: one per axis, then metric, value
    out: Path | None = None

    def grid(self, metric: str) -> np.ndarray:
        """The metric as an array of shape (len(axis 0), len(axis 1), ...)."""
        t = self.table.to_pydict()
        shape = [len(a.values) for a in self.axes]
        idx = {a.key: {_key(v): i for i, v in enumerate(a.values)} for a in self.axes}
        out = np.full(shape, np.nan)
        for j, m in enumerate(t["metric"]):
            if m == metric:
                out[tuple(idx[a.key][_key(t[a.key][j])] for a in self.axes)] = t["value"][j]
        return out


def _key(v: Any) -> Any:
    return round(v, 12) if isinstance(v, float) else v


def _final(params: MFParams, rounds: int) -> dict[str, np.ndarray]:
    traj = MeanField(params).run(rounds, keep_trajectory=False)
    out = {f"share/{n}": traj.shares[-1][:, k] for k, n in enumerate(params.names)}
    out.update({m: traj.stats[m][-1] for m in FINAL_METRICS})
    return out


def _final_chunk(args: tuple[MFParams, int]) -> dict[str, np.ndarray]:
    return _final(*args)


def evaluate_grid(scn: Scenario, grid: dict[str, np.ndarray], workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Final metrics at every grid point (arrays of shape (G,)), split over ``workers``."""
    params = MFParams.from_scenario(scn, grid)
    workers = workers or min(2, os.cpu_count() or 1)
    if workers <= 1 or params.G < PARALLEL_MIN_POINTS:
        res = _final(params, scn.rounds)
        if progress:
            progress(params.G)
        return res
    chunks = np.array_split(np.arange(params.G), workers * 2)
    parts = []
    # fork: children inherit the parameters without pickling the module state
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        for idx, part in zip(chunks, pool.map(_final_chunk, [(params.subset(c), scn.rounds) for c in chunks])):
            parts.append(part)
            if progress:
                progress(len(idx))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def sweep(scn: Scenario, axes: Sequence[Axis | str] | dict[str, Sequence[Any]], out: str | Path | None = None,
          workers: int | None = None, progress: Callable[[int], None] | None = None,
          metric: str | None = None) -> SweepResult:
    """Evaluate the scenario's final metrics on the full grid of ``axes``.

    ``axes`` is a list of ``Axis`` / ``"key=start:stop:num"`` strings, or a dict mapping
    dotted keys to value lists. With ``out`` writes sweep.parquet, sweep.json and a heat
    map (or line plot for one axis) of ``metric`` (default: the seeder's final share).
    """
    if isinstance(axes, dict):
        axes = [Axis(k, list(v)) for k, v in axes.items()]
    axes = [parse_axis(a) if isinstance(a, str) else a for a in axes]
    if not axes:
        raise ScenarioError("a sweep needs at least one --grid axis")
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ScenarioError(f"grid axes repeat a key: {keys}")
    static = [a for a in axes if not a.numeric]
    numeric = [a for a in axes if a.numeric]
    mesh = np.meshgrid(*[np.asarray(a.values, dtype=float) for a in numeric], indexing="ij") if numeric else []
    flat = {a.key: m.ravel() for a, m in zip(numeric, mesh)}
    cols: dict[str, list] = {a.key: [] for a in axes} | {"metric": [], "value": []}
    for combo in itertools.product(*[a.values for a in static]):
        variant = scn.with_overrides(dict(zip([a.key for a in static], combo))) if static else scn
        res = evaluate_grid(variant, flat, workers, progress)
        G = len(next(iter(res.values())))
        for name, vals in res.items():
            for a, v in zip(static, combo):
                cols[a.key] += [v] * G
            for a in numeric:
                cols[a.key] += flat[a.key].tolist()
            cols["metric"] += [name] * G
            cols["value"] += np.asarray(vals, dtype=float).tolist()
    result = SweepResult(axes, pa.table(cols), Path(out) if out else None)
    if out is not None:
        write_sweep(result, scn, metric or f"share/{scn.seeder}")
    return result


def write_sweep(result: SweepResult, scn: Scenario, metric: str) -> Path:
    from . import plots, rundir
    from .config import scenario_to_dict

    out = Path(result.out)
    metrics = sorted(set(result.table["metric"].to_pylist()))
    if metric not in metrics:
        raise ScenarioError(f"--metric {metric!r} is not a sweep metric; choose from {', '.join(metrics)}")
    rundir.write_table(out / "sweep.parquet", result.table)
    rundir.write_json(out / "sweep.json", {
        "scenario": scenario_to_dict(scn), "axes": [{"key": a.key, "values": a.values} for a in result.axes],
        "metric": metric, "rounds": scn.rounds, "backend": "meanfield", "exact": True,
        "versions": rundir.package_versions(), "code_revision": rundir.code_revision()})
    z = result.grid(metric)
    slug = metric.replace("/", "_")
    a0 = result.axes[0]
    if len(result.axes) >= 2 and a0.numeric and result.axes[1].numeric:
        a1 = result.axes[1]
        z2 = z.reshape(len(a0.values), len(a1.values), -1)[..., 0]
        plots.plot_heatmap(np.asarray(a0.values, float), np.asarray(a1.values, float), z2, a0.key, a1.key,
                           f"final {metric}", out / f"heatmap_{slug}.png",
                           f"{scn.name}: final {metric} after {scn.rounds} rounds (exact)")
    else:
        plt = plots._plt()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        zz = z.reshape(len(a0.values), -1)
        xs = list(range(len(a0.values))) if not a0.numeric else a0.values
        for j in range(zz.shape[1]):
            ax.plot(xs, zz[:, j], marker="o")
        if not a0.numeric:
            ax.set_xticks(xs, [str(v) for v in a0.values])
        ax.set(xlabel=a0.key, ylabel=f"final {metric}", title=f"{scn.name}: final {metric}")
        plots._save(fig, out / f"line_{slug}.png")
        plt.close(fig)
    return out
