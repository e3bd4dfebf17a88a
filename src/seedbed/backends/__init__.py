"""Backends: what executes a pipeline scenario. Each is registered by name in :data:`BACKENDS`.

A backend runs one :class:`Repetition` (one arm × seed of a run): it advances all
population members round by round, usually through the shared loop
:func:`seedbed.backends.population.run_members`, and appends tidy rows and lineage events to the
repetition's collectors. The runner (:mod:`seedbed.backends.runner`) is the only caller; nothing
above it names a backend class.

Built-ins (imported on first use): ``meanfield`` (:mod:`seedbed.backends.meanfield.backend`, exact),
``agent`` (:mod:`seedbed.backends.agent.backend`, sampled conversations), ``neural``
(:mod:`seedbed.backends.neural.backend`, a real transformer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seedbed.core.config import Scenario
from seedbed.results.metrics import Rows
from seedbed.core.registry import Registry
from seedbed.core.seeds import Streams

ProgressFn = Callable[[int, dict[str, float]], None]


@dataclass
class Repetition:
    """One arm × seed of a run: the scenario as that arm runs it (rounds resolved for the
    backend, ``seed`` set), where its rows and lineage go, and how to execute it."""

    scenario: Scenario
    arm: str                               # "scenario" or "control"
    seed: int                              # the repetition seed (the 'seed' column of the rows)
    rows: Rows = field(default_factory=Rows)
    lineage: Any = None                    # seedbed.backends.population.Lineage; None: a throwaway log
    progress: ProgressFn | None = None     # called after every round with a snapshot of metrics
    schedule: list[dict[str, Any]] | None = None   # lineage events whose decisions a population follows
    workdir: Path | None = None            # the run folder (checkpoints), if any
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    root_seed: int | None = None           # the run's root seed (scenario.seed as given); None: ``seed``

    @property
    def streams(self) -> Streams:
        """This repetition's subtree of the seed tree: every random stream it draws — its own
        arm's, or with ``control.common_streams`` the same for both arms (common random numbers)."""
        return Streams(self.seed, () if self.scenario.control.common_streams else (self.arm,))


@dataclass(frozen=True)
class Backend:
    """A registered backend.

    ``run(rep)`` executes one repetition. ``stochastic``: repeated seeds can differ even
    for a single policy. ``rounds(scn)``: the number of rounds it runs (a backend may
    have its own, e.g. ``neural.rounds``). ``final_grid(scn, grid, workers, progress)``:
    optional, final metrics at many parameter points at once (exact backends only): share/<name>
    and ``grid_metrics``.
    ``executors``: the executors its populations can use.
    ``prepare(scn, root_seed)``: shared state built once before repetitions run side by side
    (a pre-trained base), as the scenario pointed at it. ``set_up_folder(scn, root_seed,
    workdir)``: files every repetition of a run shares, written into the run folder once by
    the process that starts the workers (the neural base's fidelity table), so they are not
    each measured again by every worker.
    """

    name: str
    run: Callable[[Repetition], None]
    stochastic: bool = False
    rounds: Callable[[Scenario], int] = field(default=lambda scn: scn.rounds)
    final_grid: Callable[..., dict[str, np.ndarray]] | None = None
    grid_metrics: tuple[str, ...] = ()    # what final_grid returns besides share/<strategy>
    final_many: Callable[[list[Scenario]], list[dict[str, float]]] | None = None   # many scenarios, batched
    check: Callable[[Scenario, str], None] | None = None   # refuse what it cannot honour (scenario, executor)
    prepare: Callable[[Scenario, int], Scenario] | None = None   # build shared state once (scenario, root seed)
    set_up_folder: Callable[[Scenario, int, Path], None] | None = None   # run-folder files (scenario, root seed, folder)
    executors: tuple[str, ...] = ("local",)


BACKENDS: Registry[Backend] = Registry("backend", {
    "meanfield": "seedbed.backends.meanfield.backend", "agent": "seedbed.backends.agent.backend", "neural": "seedbed.backends.neural.backend"})


def register(backend: Backend) -> Backend:
    return BACKENDS.add(backend.name, backend)


def get_backend(name: str) -> Backend:
    return BACKENDS.get(name)


def is_stochastic(name: str, scn: Scenario) -> bool:
    """Whether repeated seeds can differ: a sampling backend, or a population with random
    exploit choices or random initial shares."""
    pop = scn.population
    random_pop = pop.members > 1 and (pop.interval > 0 or pop.init_spread > 0)
    return get_backend(name).stochastic or random_pop


def configs_array(configs: list[dict[str, float]], key: str) -> np.ndarray:
    """One explorable hyperparameter across population members, shape (M,)."""
    return np.array([c[key] for c in configs])
