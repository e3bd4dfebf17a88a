"""Running a sweep's tasks (a local process pool or Ray) and the resumable part store that keeps
what finished."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from seedbed.backends import get_backend
from seedbed.core.config import Scenario
from seedbed.backends.runner import final_grid, run_repetition
from seedbed.sweeps.plan import Plan
from seedbed.sweeps.write import SweepResult, write_sweep

FLUSH_S = 30.0
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
