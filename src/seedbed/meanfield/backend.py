"""The mean-field backend: exact expected dynamics; population members are the grid axis."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..backends import Backend, Repetition, configs_array, register
from ..config import Scenario
from ..population import run_members
from .model import ROUND_METRICS, MeanField
from .params import MFParams

# final metrics a grid evaluation returns besides the shares
FINAL_METRICS = tuple(m for m in ROUND_METRICS if m != "prompt/self_written")


def run(rep: Repetition) -> None:
    """Run one repetition exactly; each member's explored eta and kappa are passed per round."""
    scn = rep.scenario
    model = MeanField(MFParams.from_scenario(scn).tile(scn.population.members))

    def step(S, writer, configs, r):
        return model.step(S, writer, eta=configs_array(configs, "update.eta"),
                          kappa=configs_array(configs, "update.kappa"))

    run_members(rep, step)


def final_grid(scn: Scenario, grid: dict[str, np.ndarray] | None = None, workers: int | None = None,
               progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Final metrics (name → (G,)) at every point of ``grid`` (dotted path → (G,) values) for a
    single policy, in one vectorised computation, split over ``workers`` local processes
    when the grid is large."""
    from ..executors import default_workers, run_local

    params = MFParams.from_scenario(scn, grid)
    workers = workers or default_workers()
    if workers <= 1 or params.G < PARALLEL_MIN_POINTS:
        res = _final((params, scn.rounds))
        if progress:
            progress(params.G)
        return res
    chunks = np.array_split(np.arange(params.G), workers * 2)
    parts: list[dict[str, np.ndarray]] = [{}] * len(chunks)

    def on_done(i: int, part: dict[str, np.ndarray]) -> None:
        parts[i] = part
        if progress:
            progress(len(chunks[i]))

    run_local(_final, [(params.subset(c), scn.rounds) for c in chunks], on_done, workers)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


PARALLEL_MIN_POINTS = 8192


def _final(args: tuple[MFParams, int]) -> dict[str, np.ndarray]:
    params, rounds = args
    traj = MeanField(params).run(rounds, keep_trajectory=False)
    out = {f"share/{n}": traj.shares[-1][:, k] for k, n in enumerate(params.names)}
    out.update({m: traj.stats[m][-1] for m in FINAL_METRICS})
    return out


BACKEND = register(Backend("meanfield", run, stochastic=False, final_grid=final_grid))
