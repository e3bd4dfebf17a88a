"""The Python API, mirroring the CLI: ``load_scenario``, ``run``, ``sweep``.

    >>> import seedbed
    >>> scn = seedbed.load_scenario("seed", {"prompts.rho": 0.3})
    >>> result = seedbed.run(scn, out="runs/seed")
    >>> result.verdict.selects
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from seedbed.core.kinds import get
from seedbed.kinds.common import KindResult
from seedbed.kinds.pipeline import RunResult
from seedbed.backends.runner import DEFAULT_SEEDS

__all__ = ["DEFAULT_SEEDS", "KindResult", "RunResult", "run"]

# progress(label, units done since the last call, snapshot of the latest round's metrics or None)
ProgressFn = Callable[[str, int, "dict[str, float] | None"], None]


def run(scenario: Any, backend: str | None = None, out: str | Path | None = None, seeds: int | None = None,
        progress: ProgressFn | None = None, report: bool = True, executor: str | None = None,
        address: str | None = None, workers: int | None = None, resume: bool = False,
        force: bool = False, track: str | list[str] | None = None) -> RunResult | KindResult:
    """Run a scenario of any kind and write its run folder to ``out`` (if given).

    A pipeline scenario runs with its control (the same scenario with the ``[control]``
    overrides) on ``backend`` (default meanfield). ``seeds`` > 1 repeats both arms with
    seeds split from the scenario's root seed, so the verdict carries an interval over
    seeds; default 5 when the run is stochastic (agent or neural backend, or a population
    with random exploit), 1 when it is exact. ``executor="ray"`` runs a neural
    population's members as Ray Tune trials, on a local Ray or the cluster at ``address``
    (``workers``: a local Ray's CPUs). On the local executor ``workers`` > 1 runs that many
    repetitions side by side, each in its own process with one thread; the rows are those
    of the same run one repetition at a time with one thread.
    Other kinds (krueger, grading) run their own experiment and take none of these options.
    ``out`` must be absent or empty unless it holds this same run and ``resume`` is set, or
    ``force`` replaces what it holds (see :mod:`seedbed.results.folders`). ``track``: per-round
    experiment tracking of a pipeline run into its folder, "tensorboard" and/or "wandb"
    (offline), each an extra (see :mod:`seedbed.results.tracking`).
    """
    options = {"backend": backend, "seeds": seeds, "executor": executor, "address": address, "workers": workers,
               "track": track}
    return get(scenario.kind).run(scenario, out=out, progress=progress, report=report, resume=resume, force=force,
                                  **options)
