"""Phase diagrams: a scenario's final metrics on a grid of parameter values.

On the mean-field backend numeric axes are vectorised (a block of grid points is one
array computation); structural axes (selection.rule, selection.n, judge.credit,
prompts.turns) run one block per value. On the sampled backends (agent, neural) each
grid point × seed is one task. Tasks are independent and run on a local process pool or
on Ray (:mod:`seedbed.core.executors`); finished tasks are written as they finish, so a sweep
resumes where it stopped. Results are tidy rows: one per point (× seed) × metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from seedbed.core.config import Scenario, ScenarioError
from seedbed.sweeps.axes import Axis, linspace_as_colons, parse_axis  # noqa: F401  (the package's API)
from seedbed.sweeps.execute import _run_sweep
from seedbed.sweeps.plan import Plan, check_metric, plan, sweep_spec  # noqa: F401
from seedbed.sweeps.write import SweepResult, report_sweep, write_sweep  # noqa: F401

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
