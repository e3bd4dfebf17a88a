"""The runner: a pipeline scenario resolved into a run, executed through the backend registry.

The Python API (:func:`seedbed.run`), the run kind (:mod:`seedbed.kinds.pipeline`), sweeps and
the derived tables (conditions, predictions) all execute scenarios through this module;
nothing above it names a backend class.

A :class:`RunPlan` holds everything that is decided before the first round: the two arms
(the scenario and its control, which differs only by the ``[control]`` overrides), the
number of rounds the backend runs (resolved here, once), the repetition seeds spawned
from the root seed (:mod:`seedbed.core.seeds`), and the executor options. :func:`execute`
runs every arm × seed as a :class:`~seedbed.backends.Repetition` and collects the tidy
rows and the lineage log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from seedbed.backends import Repetition, get_backend, is_stochastic
from seedbed.core.config import Scenario, ScenarioError
from seedbed.results.metrics import Rows
from seedbed.results.lineage import Lineage
from seedbed.core.seeds import repetition_seeds

DEFAULT_SEEDS = 5
EXECUTORS = ("local", "ray")
# progress(arm, round, snapshot of that round's metrics)
RoundProgress = Callable[[str, int, dict[str, float]], None]


@dataclass
class RunPlan:
    """A pipeline run, resolved: arms with their rounds, seeds and executor options."""

    scenario: Scenario
    control: Scenario
    backend: str
    rounds: int                # rounds the backend runs (e.g. neural.rounds on the neural backend)
    seeds: list[int]           # repetition seeds, shared by both arms (paired)
    stochastic: bool           # whether seeds can differ (else one exact repetition)
    executor: str = "local"
    address: str | None = None
    workers: int | None = None

    @property
    def arms(self) -> list[tuple[str, Scenario]]:
        """(arm name, the scenario that arm runs, with the resolved round count)."""
        return [(arm, scn.model_copy(update={"rounds": self.rounds}))
                for arm, scn in (("scenario", self.scenario), ("control", self.control))]

    @property
    def total_rounds(self) -> int:
        """Rounds per arm over all seeds (for progress bars)."""
        return self.rounds * len(self.seeds)


def resolve_rounds(scn: Scenario, backend: str) -> int:
    """The number of rounds ``backend`` runs for ``scn`` (the one place this is decided)."""
    return get_backend(backend).rounds(scn)


def plan_run(scenario: Scenario, backend: str = "meanfield", seeds: int | None = None, executor: str = "local",
             address: str | None = None, workers: int | None = None) -> RunPlan:
    """Resolve a run. Default seeds: ``DEFAULT_SEEDS`` when the run is stochastic, else 1."""
    b = get_backend(backend)
    if executor not in EXECUTORS:
        raise ScenarioError(f"--executor {executor!r}: unknown; choose from {', '.join(EXECUTORS)}")
    if executor != "local" and (executor not in b.executors or scenario.population.members == 1):
        raise ScenarioError(f"--executor {executor} runs neural populations (--backend neural, population.members > 1) "
                            "and sweeps (seedbed sweep --executor ray); this run is one process already")
    if seeds is not None and seeds < 1:
        raise ScenarioError(f"--seeds {seeds}: need at least 1")
    control = scenario.control_scenario()
    if b.check is not None:                     # what the backend cannot honour, before anything runs
        b.check(scenario, executor)
        try:
            b.check(control, executor)
        except ScenarioError as e:
            raise ScenarioError(f"{e} (in the control arm: [control] set = {scenario.control.set})") from None
    stochastic = is_stochastic(backend, scenario) or is_stochastic(backend, control)
    count = (seeds or DEFAULT_SEEDS) if stochastic else 1
    return RunPlan(scenario, control, backend, resolve_rounds(scenario, backend), repetition_seeds(scenario.seed, count),
                   stochastic, executor, address, workers)


def execute(plan: RunPlan, workdir: Path | None = None, lineage: Lineage | None = None,
            progress: RoundProgress | None = None, rows: Rows | None = None) -> pa.Table:
    """Run every arm × seed of ``plan``; return the tidy rows. Lineage events go to ``lineage``.
    ``rows``: the collector to append to (e.g. one that also feeds experiment trackers)."""
    backend = get_backend(plan.backend)
    rows = rows if rows is not None else Rows()
    lineage = lineage if lineage is not None else Lineage()
    if side_by_side(plan) > 1:
        _execute_side_by_side(plan, workdir, lineage, progress, rows)
        return rows.table()
    for arm, scn in plan.arms:
        for seed in plan.seeds:
            cb = None
            if progress is not None:
                cb = lambda r, snap, arm=arm: progress(arm, r, snap)  # noqa: E731
            backend.run(Repetition(scn.model_copy(update={"seed": seed}), arm, seed, rows, lineage, cb, None, workdir,
                                   plan.executor, plan.address, plan.workers, root_seed=plan.scenario.seed))
    return rows.table()


def side_by_side(plan: RunPlan) -> int:
    """How many repetitions run at once: ``workers`` local processes (one thread each) when
    asked for on the local executor, else 1 (this process, every core). With Ray, ``workers``
    is the local instance's CPUs, not this."""
    if plan.executor != "local" or not plan.workers or not plan.stochastic:
        return 1                                   # an exact run is one repetition per arm: no pool
    return min(plan.workers, len(plan.arms) * len(plan.seeds))


def _execute_side_by_side(plan: RunPlan, workdir: Path | None, lineage: Lineage, progress: RoundProgress | None,
                          rows: Rows) -> None:
    """``execute`` on a local process pool: the same repetitions, rows and lineage, in the
    same order as one after another (a repetition's results are added once every one
    before it has finished), so the table is the serial run's. Each repetition's rounds
    reach ``progress`` when it finishes. Shared state (a pre-trained base, the run folder's
    fidelity table) is built here first, so the workers find it rather than race to build it."""
    from seedbed.core.executors import run_local

    backend = get_backend(plan.backend)
    prepare, root = backend.prepare, plan.scenario.seed
    if workdir is not None and backend.set_up_folder is not None:      # as the first repetition would
        _, first = plan.arms[0]
        backend.set_up_folder(first.model_copy(update={"seed": plan.seeds[0]}), root, workdir)
    tasks = []
    for arm, scn in plan.arms:
        scn = prepare(scn, root) if prepare is not None else scn
        tasks += [{"scenario": scn.model_copy(update={"seed": seed}), "arm": arm, "seed": seed,
                   "backend": plan.backend, "workdir": workdir, "root_seed": root} for seed in plan.seeds]
    done: dict[int, tuple] = {}
    added = 0

    def on_done(i: int, result: tuple) -> None:
        nonlocal added
        table, events, rounds = result
        if progress is not None:
            for r, snap in rounds:
                progress(tasks[i]["arm"], r, snap)
        done[i] = (table, events)
        while added in done:                       # in repetition order, as a serial run adds them
            table, events = done.pop(added)
            rows.extend(table)
            for e in events:
                lineage.write(e)
            added += 1

    run_local(run_repetition_task, tasks, on_done, side_by_side(plan), method="spawn")   # one BLAS thread each


def run_repetition_task(task: dict) -> tuple[pa.Table, list[dict], list[tuple[int, dict]]]:
    """One repetition in a worker process: its rows, lineage events and per-round snapshots
    (module level, so a process pool can ship it)."""
    from seedbed.core.executors import one_thread

    one_thread()
    lineage, rounds = Lineage(), []
    table = run_repetition(task["scenario"], task["backend"], task["seed"], task["arm"], task["workdir"],
                           lineage=lineage, root_seed=task["root_seed"],
                           progress=lambda r, snap: rounds.append((r, snap)))
    return table, lineage.events, rounds


def run_repetition(scn: Scenario, backend: str, seed: int, arm: str = "scenario", workdir: Path | None = None,
                   schedule: list[dict] | None = None, lineage: Lineage | None = None,
                   root_seed: int | None = None, progress: Callable[[int, dict], None] | None = None) -> pa.Table:
    """One repetition of one arm (a sweep point, a condition, a replay, a side-by-side task): its
    tidy rows. ``root_seed``: the run's root seed (default ``scn.seed``), which shared state such
    as a pre-trained base model is derived from. ``progress(round, snapshot)`` after each round."""
    rows = Rows()
    root = scn.seed if root_seed is None else root_seed
    scn = scn.model_copy(update={"rounds": resolve_rounds(scn, backend), "seed": seed})
    get_backend(backend).run(Repetition(scn, arm, seed, rows, lineage, progress, schedule, workdir, root_seed=root))
    return rows.table()


def final_grid(scn: Scenario, grid: dict[str, np.ndarray] | None = None, backend: str = "meanfield",
               workers: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Final metrics at every point of a parameter grid, on a backend that evaluates grids
    at once (the exact mean-field backend, for a single policy)."""
    fn = get_backend(backend).final_grid
    if fn is None:
        raise ScenarioError(f"backend {backend!r} does not evaluate grids at once; run one repetition per point")
    return fn(scn, grid, workers=workers, progress=progress)


def final_many(scns: list[Scenario], backend: str = "meanfield") -> list[dict[str, float]]:
    """Final metrics of many single-policy scenarios on an exact backend, batched into as few
    grid evaluations as their structure allows."""
    fn = get_backend(backend).final_many
    if fn is None:
        raise ScenarioError(f"backend {backend!r} does not evaluate many scenarios at once")
    return fn(scns)
