"""Backends: what executes a scenario. Each is a function registered by name.

A backend advances all population members by one round; the loop around it (rounds,
members, context swapping, exploit/explore, lineage, tidy rows) is shared and lives in
:mod:`seedbed.population`. The mean-field backend is exact per member; the agent
backend samples, with one generator per (seed, round, member) split from the root seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from .config import Scenario, ScenarioError
from .metrics import Rows
from .population import Lineage, run_members


class Backend(Protocol):
    def __call__(self, scn: Scenario, arm: str, seed: int, rows: Rows,
                 progress: Callable[[int, dict[str, float]], None] | None = None,
                 lineage: Lineage | None = None, schedule: list[dict[str, Any]] | None = None,
                 workdir: Path | None = None, executor: str = "local", address: str | None = None,
                 workers: int | None = None) -> None: ...


BACKENDS: dict[str, Backend] = {}
_STOCHASTIC: set[str] = set()


def backend(name: str, stochastic: bool = False) -> Callable[[Backend], Backend]:
    """Register a backend under ``name``."""
    def deco(fn: Backend) -> Backend:
        BACKENDS[name] = fn
        if stochastic:
            _STOCHASTIC.add(name)
        return fn
    return deco


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ScenarioError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]


def is_stochastic(name: str, scn: Scenario) -> bool:
    """Whether repeated seeds can differ: a sampling backend, or a population with random
    exploit choices or random initial shares."""
    pop = scn.population
    random_pop = pop.members > 1 and (pop.interval > 0 or pop.init_spread > 0)
    return name in _STOCHASTIC or random_pop


def _configs_array(configs: list[dict[str, float]], key: str) -> np.ndarray:
    return np.array([c[key] for c in configs])


@backend("meanfield")
def run_meanfield(scn: Scenario, arm: str, seed: int, rows: Rows,
                  progress: Callable[[int, dict[str, float]], None] | None = None,
                  lineage: Lineage | None = None, schedule: list[dict[str, Any]] | None = None,
                  workdir: Path | None = None, **_: Any) -> None:
    """Exact expected dynamics; population members are the model's grid axis."""
    from .meanfield import MeanField, MFParams

    model = MeanField(MFParams.from_scenario(scn).tile(scn.population.members))

    def step(S, writer, configs, r):
        model.p.eta[:] = _configs_array(configs, "update.eta")
        model.p.kappa[:] = _configs_array(configs, "update.kappa")
        return model.step(S, writer)

    run_members(scn, step, arm, seed, rows, lineage, progress, schedule)


@backend("agent", stochastic=True)
def run_agent(scn: Scenario, arm: str, seed: int, rows: Rows,
              progress: Callable[[int, dict[str, float]], None] | None = None,
              lineage: Lineage | None = None, schedule: list[dict[str, Any]] | None = None,
              workdir: Path | None = None, **_: Any) -> None:
    """Sampled conversations: N prompts per member per round, all members in one array batch."""
    from .agent import AgentRound

    sim = AgentRound(scn)
    arm_id = 0 if arm == "scenario" else 1

    def step(S, writer, configs, r):
        rng = np.random.default_rng([seed, arm_id, r])                 # one stream per (seed, arm, round)
        return sim.step(rng, S, writer, _configs_array(configs, "update.eta"), _configs_array(configs, "update.kappa"))

    run_members(scn, step, arm, seed, rows, lineage, progress, schedule)


@backend("neural", stochastic=True)
def run_neural(scn: Scenario, arm: str, seed: int, rows: Rows,
               progress: Callable[[int, dict[str, float]], None] | None = None,
               lineage: Lineage | None = None, schedule: list[dict[str, Any]] | None = None,
               workdir: Path | None = None, executor: str = "local", address: str | None = None,
               workers: int | None = None) -> None:
    """A real transformer through the pipeline; ``neural.rounds`` rounds, checkpointed in ``workdir``.

    A population (members > 1) runs in this process, or as Ray Tune trials with
    ``executor="ray"`` (:mod:`seedbed.tune_pbt`); both write the same rows and lineage.
    """
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ScenarioError("the neural backend needs the 'neural' extra: pip install -c constraints.txt "
                            "'seedbed[neural]' (torch pinned to 2.13.0)") from None
    scn = scn.model_copy(update={"rounds": scn.neural.rounds or scn.rounds})
    if scn.population.members > 1 and executor == "ray":
        from .tune_pbt import run_population_tune
        run_population_tune(scn, arm, seed, rows, progress, lineage, workdir, address, workers)
        return
    if scn.population.members > 1:
        from .neural.pipeline import NeuralPopulation
        pop = NeuralPopulation(scn, arm, seed, workdir)
        run_members(scn, pop.step, arm, seed, rows, lineage, progress, schedule, S0=pop.initial_shares(),
                    on_exploit=pop.exploit)
        return
    from .neural.pipeline import NeuralRun
    run = NeuralRun(scn, arm, seed, workdir)
    run_members(scn, run.step, arm, seed, rows, lineage, progress, schedule, S0=run.initial_shares()[None])
