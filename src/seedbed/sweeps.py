"""Phase diagrams: a scenario's final metrics on a grid of parameter values.

On the mean-field backend numeric axes are vectorised (a block of grid points is one
array computation); structural axes (selection.rule, selection.n, judge.credit,
prompts.turns) run one block per value. On the sampled backends (agent, neural) each
grid point × seed is one task. Tasks are independent and run on a local process pool or
on Ray (:mod:`seedbed.core.executors`); finished tasks are written as they finish, so a sweep
resumes where it stopped. Results are tidy rows: one per point (× seed) × metric.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

from seedbed.backends import get_backend, is_stochastic
from seedbed.core.config import Scenario, ScenarioError, parse_value, scenario_to_dict
from seedbed.backends.meanfield.params import STATIC_FIELDS
from seedbed.backends.runner import DEFAULT_SEEDS, final_grid, resolve_rounds, run_repetition
from seedbed.results.metrics import BOUNDED
from seedbed.core.seeds import repetition_seeds


@dataclass
class Axis:
    key: str
    values: list[Any]

    def __post_init__(self) -> None:
        # one column type per axis: "0,1.5" is two floats, not an int and a float
        if any(isinstance(v, float) for v in self.values) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values):
            self.values = [float(v) for v in self.values]

    @property
    def numeric(self) -> bool:
        return self.key not in STATIC_FIELDS


def linspace_as_colons(text: str) -> str:
    """``linspace(a,b,n)`` → ``a:b:n`` (the one grid syntax of sweeps and ``seedbed analyze``)."""
    lin = re.fullmatch(r"linspace\((.*)\)", text.replace(" ", ""))
    return ":".join(lin.group(1).split(",")) if lin else text


def parse_axis(spec: str) -> Axis:
    """``key=linspace(start,stop,num)`` (num evenly spaced values, both ends included),
    ``key=v1,v2,...``, or the older ``key=start:stop:num`` (the same as linspace; not a
    Python slice: the stop is included and the third number is a count, not a step)."""
    if "=" not in spec:
        raise ScenarioError(f"--grid {spec!r}: expected key=linspace(start,stop,num) or key=v1,v2,...")
    key, text = (x.strip() for x in spec.split("=", 1))
    text = linspace_as_colons(text)
    if ":" in text:
        parts = text.split(":")
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise ScenarioError(f"--grid {spec!r}: expected linspace(start,stop,num) or start:stop:num with numbers, "
                                "e.g. linspace(0,1,21)") from None
        if len(parts) != 3 or num < 1:
            raise ScenarioError(f"--grid {spec!r}: expected linspace(start,stop,num) with num ≥ 1")
        return Axis(key, list(np.linspace(start, stop, num)))
    return Axis(key, [parse_value(v.strip()) for v in text.split(",") if v.strip()])


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


def _key(v: Any) -> Any:
    return round(v, 12) if isinstance(v, float) else v


# ----------------------------------------------------------------------------- units of work

MF_CHUNK = 4096        # mean-field grid points per task (a fixed size, so a resumed sweep finds its parts)
FLUSH_S = 30.0
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


def run_task(task: dict[str, Any]) -> pa.Table:
    """One task's tidy rows. Module level, so process pools and Ray can ship it."""
    from seedbed.core.executors import one_thread

    one_thread()
    scn = task["scenario"]
    if task["kind"] == "grid":
        res = final_grid(scn, task["grid"], task["backend"], workers=1)
        G = task["G"]
        cols: dict[str, list] = {k: [v] * G * len(res) for k, v in task["fixed"].items()}
        for k, v in task["grid"].items():
            cols[k] = np.tile(np.asarray(v, float), len(res)).tolist()
        cols["metric"] = [m for m in res for _ in range(G)]
        cols["value"] = np.concatenate([np.asarray(res[m], float) for m in res]).tolist()
        return pa.table(cols)
    return _point_rows(scn, task["backend"], task["seed"], task["point"], task.get("workdir"), task.get("root_seed"))


def _point_rows(scn: Scenario, backend: str, seed: int, point: dict[str, Any], workdir: Path | None = None,
                root_seed: int | None = None) -> pa.Table:
    """Final values of every metric for one sampled run of the scenario arm (members averaged).
    ``workdir``: where a neural run checkpoints its rounds, so a killed task resumes."""
    t = run_repetition(scn, backend, seed, workdir=Path(workdir) if workdir else None, root_seed=root_seed).to_pydict()
    last = max(t["round"])
    acc: dict[str, list[float]] = {}
    for r, m, v in zip(t["round"], t["metric"], t["value"]):
        if r == last:
            acc.setdefault(m, []).append(v)
    metrics = sorted(acc)
    cols: dict[str, list] = {k: [v] * len(metrics) for k, v in point.items()}
    cols["seed"] = [seed] * len(metrics)
    cols["metric"] = metrics
    cols["value"] = [float(np.mean(acc[m])) for m in metrics]
    return pa.table(cols)


# ----------------------------------------------------------------------------- the sweep

def sweep(scn: Scenario, axes: Sequence[Axis | str] | dict[str, Sequence[Any]], out: str | Path | None = None,
          workers: int | None = None, progress: Callable[[int], None] | None = None,
          metric: str | None = None, backend: str = "meanfield", seeds: int | None = None,
          executor: str = "local", address: str | None = None, fresh: bool = False) -> SweepResult:
    """Evaluate the scenario's final metrics on the full grid of ``axes``.

    ``axes`` is a list of ``Axis`` / ``"key=start:stop:num"`` strings, or a dict mapping
    dotted keys to value lists. On the mean-field backend the grid is exact and
    vectorised; on a sampled backend (agent, neural) every point runs ``seeds`` seeds
    (split from the scenario's root seed exactly as ``seedbed.run`` splits them) and the
    table gains a ``seed`` column. Tasks run on ``executor`` ("local": a process pool of
    ``workers``; "ray": Ray tasks, on a local instance or the cluster at ``address``).

    With ``out``, each finished task is written at once as ``out/parts/task-NNNNNN.parquet``,
    so an interrupted sweep started again with the same arguments runs only the missing
    tasks (``fresh=True`` discards them); at the end the parts are joined in canonical
    order into ``out/sweep.parquet`` (identical for either executor), with sweep.json and
    a heat map (or line plot for one axis) of ``metric`` (default: the seeder's final share).
    """
    if isinstance(axes, dict):
        axes = [Axis(k, list(v)) for k, v in axes.items()]
    axes = [parse_axis(a) if isinstance(a, str) else a for a in axes]
    if not axes:
        raise ScenarioError("a sweep needs at least one --grid axis")
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ScenarioError(f"grid axes repeat a key: {keys}")
    from seedbed.core.executors import check_executor
    check_executor(executor, workers)
    p = plan(scn, axes, backend, seeds)
    metric = metric or f"share/{scn.seeder}"
    check_metric(scn, p, metric)
    if out is None:
        return _run_sweep(scn, p, None, workers, progress, metric, executor, address)
    from seedbed.results.folders import claim

    with claim(Path(out), f"a {backend} sweep of {scn.name}", sweep_spec(scn, p), resume=True, force=fresh,
               force_flag="--fresh"):
        return _run_sweep(scn, p, Path(out), workers, progress, metric, executor, address)


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


def _run_sweep(scn: Scenario, p: Plan, out: Path | None, workers: int | None, progress, metric: str,
               executor: str, address: str | None) -> SweepResult:
    from seedbed.core.executors import run_tasks

    backend = p.backend
    parts: list[pa.Table | None] = [None] * len(p.tasks)
    store = _PartStore(out, len(p.tasks)) if out is not None else None
    if store is not None:
        for i in store.done():
            parts[i] = store.read(i)
            if progress:
                progress(p.sizes[i])
    todo = [i for i, t in enumerate(parts) if t is None]
    prepare = get_backend(backend).prepare
    if prepare is not None and todo:       # shared state (a pre-trained base) built once, here, not in each worker
        for i in todo:
            p.tasks[i]["scenario"] = prepare(p.tasks[i]["scenario"], p.tasks[i]["root_seed"])
    if backend == "neural" and todo:
        if out is not None:                  # per-round checkpoints: a killed sweep resumes inside a point
            for i in todo:
                p.tasks[i]["workdir"] = str((Path(out) / "work" / f"task-{i:06d}").resolve())

    last_flush = [time.monotonic()]

    def on_done(j: int, table: pa.Table) -> None:
        i = todo[j]
        parts[i] = table
        if store is not None:
            store.write(i, table)
            if p.tasks[i].get("workdir"):                        # the part holds the result now
                shutil.rmtree(p.tasks[i]["workdir"], ignore_errors=True)
            if time.monotonic() - last_flush[0] > FLUSH_S:       # a partial sweep.parquet to look at meanwhile
                from seedbed.results import writing as rundir
                rundir.write_table(Path(out) / "sweep.parquet", pa.concat_tables([t for t in parts if t is not None]))
                last_flush[0] = time.monotonic()
        if progress:
            progress(p.sizes[i])

    run_tasks(run_task, [p.tasks[i] for i in todo], on_done, executor, workers, address, out)
    if out is not None and (Path(out) / "work").is_dir() and not any((Path(out) / "work").iterdir()):
        (Path(out) / "work").rmdir()
    table = pa.concat_tables(parts) if parts else pa.table({})
    result = SweepResult(p.axes, table, out, p.seeds)
    if out is not None:
        write_sweep(result, scn, metric, backend, executor)
    return result


class _PartStore:
    """Finished tasks on disk: one Parquet file per task, written atomically. The folder's
    claim (:func:`seedbed.results.folders.claim`) makes sure a resumed sweep is the same sweep."""

    def __init__(self, out: Path, n: int):
        self.dir = out / "parts"
        self.n = n

    def path(self, i: int) -> Path:
        return self.dir / f"task-{i:06d}.parquet"

    def done(self) -> list[int]:
        return [i for i in range(self.n) if self.path(i).exists()]

    def read(self, i: int) -> pa.Table:
        from seedbed.results import writing as rundir
        return rundir.read_table(self.path(i))

    def write(self, i: int, table: pa.Table) -> None:
        from seedbed.results import writing as rundir
        rundir.write_table(self.path(i), table)


def _jsonable(v: Any) -> Any:
    return float(v) if isinstance(v, (np.floating, float)) else v


def write_sweep(result: SweepResult, scn: Scenario, metric: str, backend: str = "meanfield",
                executor: str = "local") -> Path:
    """sweep.parquet, sweep.json and the plot; every file atomically."""
    from seedbed.report import plots
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
