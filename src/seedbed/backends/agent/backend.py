"""The agent-based backend: N sampled conversations per member per round, all members in one
array batch (:class:`seedbed.backends.agent.sim.RoundSampler`)."""

from __future__ import annotations

from seedbed.backends import Backend, Repetition, configs_array, register
from seedbed.backends.population import run_members
from seedbed.backends.agent.sim import RoundSampler


def run(rep: Repetition) -> None:
    """Sample one repetition; round r draws from its own stream of the seed tree."""
    sampler = RoundSampler(rep.scenario)
    streams = rep.streams

    def step(S, writer, configs, r):
        return sampler.step(streams.rng("round", r), S, writer, configs_array(configs, "update.eta"),
                            configs_array(configs, "update.kappa"))

    run_members(rep, step)


BACKEND = register(Backend("agent", run, stochastic=True))
