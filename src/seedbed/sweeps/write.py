"""A sweep's result, its tidy table on disk and its report (plots only read the table)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from seedbed.core.config import Scenario, ScenarioError, scenario_to_dict
from seedbed.backends.runner import resolve_rounds
from seedbed.results.metrics import BOUNDED
from seedbed.sweeps.axes import Axis, _key

@dataclass
class SweepResult:
    axes: list[Axis]
    table: pa.Table             # columns: one per axis, [seed,] metric, value
    out: Path | None = None
    seeds: list[int] | None = None    # None: exact (one value per point)

    def values(self, metric: str) -> np.ndarray:
        """The metric as an array of shape (len(axis 0), ..., seeds); seeds = 1 when exact."""
        t = self.table.to_pydict()
        seeds = self.seeds or [None]
        sidx = {s: i for i, s in enumerate(seeds)}
        shape = [len(a.values) for a in self.axes] + [len(seeds)]
        idx = {a.key: {_key(v): i for i, v in enumerate(a.values)} for a in self.axes}
        out = np.full(shape, np.nan)
        for j, m in enumerate(t["metric"]):
            if m == metric:
                s = sidx[t["seed"][j]] if self.seeds else 0
                out[tuple(idx[a.key][_key(t[a.key][j])] for a in self.axes) + (s,)] = t["value"][j]
        return out

    def grid(self, metric: str) -> np.ndarray:
        """The metric (its mean over seeds) as an array of shape (len(axis 0), len(axis 1), ...)."""
        return self.values(metric).mean(axis=-1)

    def interval(self, metric: str, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided t interval over seeds at every point (NaN with one seed or when exact),
        truncated to [0, 1] for shares and rates."""
        from seedbed.results.metrics import BOUNDED, UNIT, mean_ci

        v = self.values(metric)
        flat = v.reshape(-1, v.shape[-1])
        bounds = UNIT if metric.startswith(BOUNDED) else None
        ci = np.array([mean_ci(x, level, bounds)[1:] for x in flat])
        return ci[:, 0].reshape(v.shape[:-1]), ci[:, 1].reshape(v.shape[:-1])

def write_sweep(result: SweepResult, scn: Scenario, metric: str, backend: str = "meanfield",
                executor: str = "local") -> Path:
    """sweep.parquet, sweep.json and the plot; every file atomically."""
    from seedbed.results import writing as rundir

    out = Path(result.out)
    metrics = sorted(set(result.table["metric"].to_pylist()))
    if metric not in metrics:
        raise ScenarioError(f"--metric {metric!r} is not a sweep metric; choose from {', '.join(metrics)}")
    rundir.write_table(out / "sweep.parquet", result.table)
    rundir.write_json(out / "sweep.json", {
        "scenario": scenario_to_dict(scn), "source": scn.origin.source, "overrides": scn.origin.overrides,
        "axes": [{"key": a.key, "values": a.values} for a in result.axes],
        "metric": metric, "rounds": resolve_rounds(scn, backend), "backend": backend, "exact": result.seeds is None,
        "seeds": result.seeds, "executor": executor,
        "versions": rundir.package_versions(), "code_revision": rundir.code_revision()})
    return report_sweep(out)

def report_sweep(out: Path) -> Path:
    """Draw the sweep's plot and write its report.md from sweep.json and sweep.parquet only
    (``seedbed report SWEEP_FOLDER`` rebuilds them)."""
    import json

    from seedbed.report import plots
    from seedbed.results import writing as rundir

    out = Path(out)
    try:
        spec = json.loads((out / "sweep.json").read_text())
    except (OSError, ValueError) as e:
        raise ScenarioError(f"{out / 'sweep.json'}: missing or damaged ({type(e).__name__})") from None
    table = rundir.read_table(out / "sweep.parquet")
    axes = [Axis(a["key"], a["values"]) for a in spec["axes"]]
    result = SweepResult(axes, table, out, spec["seeds"])
    metric, backend, name = spec["metric"], spec["backend"], spec["scenario"]["name"]
    rounds = spec["rounds"]
    z = result.grid(metric)
    what = "exact" if result.seeds is None else f"{backend}, mean of {len(result.seeds)} seeds"
    slug = metric.replace("/", "_")
    a0 = axes[0]
    if len(axes) >= 2 and a0.numeric and axes[1].numeric:
        a1 = axes[1]
        z2 = z.reshape(len(a0.values), len(a1.values), -1)[..., 0]
        plots.plot_heatmap(np.asarray(a0.values, float), np.asarray(a1.values, float), z2, plots.label(a0.key),
                           plots.label(a1.key), plots.final_label(metric), out / f"heatmap_{slug}.png",
                           f"{name}: {plots.final_label(metric)} after {rounds} rounds ({what})")
    else:
        # one line per combination of the other axes, coloured along the second axis (a
        # colour bar when it is numeric, a legend outside the axes otherwise); a categorical
        # first axis against one numeric axis is drawn the other way round (x: the numeric
        # axis, a line per category), so no line joins unordered categories
        plt = plots._plt(out)
        fig, ax = plt.subplots(figsize=(7, 3.8))
        zz = z.reshape(len(a0.values), -1)
        lo, hi = (a.reshape(len(a0.values), -1) for a in result.interval(metric))
        rest = axes[1:]
        if not a0.numeric and len(rest) == 1 and rest[0].numeric:
            a0, rest = rest[0], [a0]
            zz, lo, hi = zz.T, lo.T, hi.T
        xs = list(range(len(a0.values))) if not a0.numeric else a0.values
        combos = list(itertools.product(*[a.values for a in rest])) or [()]
        numeric_rest = len(rest) == 1 and rest[0].numeric and len(combos) > 6
        cmap = plt.get_cmap("viridis")
        vals = np.asarray([c[0] for c in combos], float) if numeric_rest else None
        norm = plt.Normalize(vals.min(), vals.max()) if numeric_rest else None
        for j, combo in enumerate(combos):
            color = cmap(norm(vals[j])) if numeric_rest else None
            legend = ", ".join(f"{plots.label(a.key)} = {v}" for a, v in zip(rest, combo)) or None
            marker = "o" if numeric_rest else plots.MARKERS[j % len(plots.MARKERS)]
            line, = ax.plot(xs, zz[:, j], marker=marker, ms=4, color=color, label=None if numeric_rest else legend)
            if result.seeds is not None and np.all(np.isfinite(lo[:, j])):
                band = (np.clip(lo[:, j], 0, 1), np.clip(hi[:, j], 0, 1)) if metric.startswith(BOUNDED) \
                    else (lo[:, j], hi[:, j])               # a share's band stays within [0, 1]
                ax.fill_between(xs, *band, alpha=0.2, color=line.get_color())
        if numeric_rest:
            fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=plots.label(rest[0].key))
        elif rest:
            plots.legend_outside(ax, fontsize=7)
        if not a0.numeric:
            ax.set_xticks(xs, [str(v) for v in a0.values])
        if metric.startswith(BOUNDED):
            ax.set_ylim(-0.02, 1.02)
        ax.set(xlabel=plots.label(a0.key), ylabel=plots.final_label(metric),
               title=f"{name}: {plots.final_label(metric)} after {rounds} rounds ({what})")
        plots._save(fig, out / f"line_{slug}.png")
        plt.close(fig)
    how = "exact (mean-field)" if result.seeds is None else f"{backend}, {len(result.seeds)} seeds per point"
    L = [f"# seedbed sweep: {name}", "", f"Final `{metric}` after {rounds} rounds over "
         + " × ".join(f"`{a.key}` ({len(a.values)} values)" for a in axes) + f"; {how}.", "",
         rundir.origin_line(spec.get("source"), spec.get("overrides")) + " The axes above are set at each point.", "",
         f"Range: {np.nanmin(z):.3f} to {np.nanmax(z):.3f}."]
    if result.seeds is not None and len(result.seeds) > 1:
        lo, hi = result.interval(metric)
        L.append(f"Widest 95% interval over {len(result.seeds)} seeds at a point: {np.nanmax(hi - lo):.3f}.")
    L += ["", *[f"![{p.stem}]({p.name})" for p in sorted(out.glob("*.png"))], "",
          "Data: `sweep.parquet` (one row per point [× seed] × metric); settings: `sweep.json`.", ""]
    rundir.write_text(out / "report.md", "\n".join(L))
    return out
