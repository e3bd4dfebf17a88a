"""The neural backend: a real transformer put through the pipeline, ``neural.rounds`` rounds,
checkpointed in the run folder. A population runs in this process, or as Ray Tune trials
with ``executor="ray"`` (:mod:`seedbed.tune_pbt`); both write the same rows and lineage."""

from __future__ import annotations

from ..backends import Backend, Repetition, register
from ..population import run_members
from ..schema import ScenarioError


def run(rep: Repetition) -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ScenarioError("the neural backend needs the 'neural' extra: pip install -c constraints.txt "
                            "'seedbed[neural]' (torch pinned to 2.13.0)") from None
    scn = rep.scenario
    if scn.population.members > 1 and rep.executor == "ray":
        from ..tune_pbt import run_population_tune
        run_population_tune(rep)
        return
    if scn.population.members > 1:
        from .pipeline import NeuralPopulation
        pop = NeuralPopulation(scn, rep.arm, rep.seed, rep.workdir)
        run_members(rep, pop.step, S0=pop.initial_shares(), on_exploit=pop.exploit)
        return
    from .pipeline import NeuralRun
    one = NeuralRun(scn, rep.arm, rep.seed, rep.workdir)
    run_members(rep, one.step, S0=one.initial_shares()[None])


BACKEND = register(Backend("neural", run, stochastic=True, rounds=lambda scn: scn.neural.rounds or scn.rounds,
                           executors=("local", "ray")))
