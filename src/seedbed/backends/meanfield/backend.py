"""The mean-field backend: exact expected dynamics; population members are the grid axis."""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from seedbed.backends import Backend, Repetition, configs_array, register
from seedbed.core.config import Scenario
from seedbed.backends.population import run_members
from seedbed.backends.meanfield.model import ROUND_METRICS, MeanField
from seedbed.backends.meanfield.params import MFParams

# final metrics a grid evaluation returns besides the shares
FINAL_METRICS = tuple(m for m in ROUND_METRICS if m != "prompt/self_written")


def run(rep: Repetition) -> None:
    """Run one repetition exactly; each member's explored eta and kappa are passed per round.

    The round is a deterministic function of (shares, writers, eta, kappa): when a round's
    inputs equal the previous round's bit for bit (a fixed point reached), its outputs are
    reused instead of recomputed."""
    scn = rep.scenario
    model = MeanField(MFParams.from_scenario(scn).tile(scn.population.members))
    last: dict[str, object] = {}

    def step(S, writer, configs, r):
        eta, kappa = configs_array(configs, "update.eta"), configs_array(configs, "update.kappa")
        key = (S.tobytes(), writer.tobytes(), eta.tobytes(), kappa.tobytes())
        if last.get("key") != key:
            last["key"], last["out"] = key, model.step(S, writer, eta=eta, kappa=kappa)
        new, stats, keep = last["out"]
        return new.copy(), stats, keep

    run_members(rep, step)


def final_grid(scn: Scenario, grid: dict[str, np.ndarray] | None = None, workers: int | None = None,
               progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Final metrics (name → (G,)) at every point of ``grid`` (dotted path → (G,) values) for a
    single policy, in one vectorised computation, split over ``workers`` local processes
    when the grid is large."""
    from seedbed.core.executors import default_workers, run_local

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
FINAL_TOL = 1e-14     # a grid stops once no share moves more than this in a round (see MeanField.run)


def final_many(scns: list[Scenario]) -> list[dict[str, float]]:
    """Final metrics of many single-policy scenarios, as few vectorised grids as possible:
    scenarios that differ only in numeric fields (the grid-able ones) share one grid.
    Identical to running each alone (the rows of a grid do not interact)."""
    from seedbed.backends.meanfield.params import SCALAR_FIELDS, STRATEGY_FIELDS

    numeric = list(SCALAR_FIELDS.values())
    groups: dict[str, list[int]] = {}
    for i, scn in enumerate(scns):
        d = scn.model_dump(mode="json")
        for path in numeric:
            section, field = path.split(".")
            d[section].pop(field, None)
        for st in d["strategies"]:
            for f in STRATEGY_FIELDS:
                st.pop(f, None)
        groups.setdefault(json.dumps(d, sort_keys=True), []).append(i)
    out: list[dict[str, float]] = [{} for _ in scns]
    for idx in groups.values():
        first = scns[idx[0]]
        grid = {path: np.array([_get(scns[i], path) for i in idx], float) for path in numeric}
        for k, name in enumerate(first.names):
            for f in STRATEGY_FIELDS:
                grid[f"strategies.{name}.{f}"] = np.array([_strategy_value(scns[i], k, f) for i in idx], float)
        res = final_grid(first, grid, workers=1)
        for j, i in enumerate(idx):
            out[i] = {m: float(v[j]) for m, v in res.items()}
    return out


def _get(scn: Scenario, path: str) -> float:
    section, field = path.split(".")
    return float(getattr(getattr(scn, section), field))


def _strategy_value(scn: Scenario, k: int, f: str) -> float:
    st = scn.strategies[k]
    if f == "share":
        return scn.shares[k]
    return {"err_deploy": st.deploy_err, "err_review": st.review_err}.get(f, getattr(st, f, None))


def _final(args: tuple[MFParams, int]) -> dict[str, np.ndarray]:
    params, rounds = args
    traj = MeanField(params).run(rounds, keep_trajectory=False, tol=FINAL_TOL)
    out = {f"share/{n}": traj.shares[-1][:, k] for k, n in enumerate(params.names)}
    out.update({m: traj.stats[m][-1] for m in FINAL_METRICS})
    return out


BACKEND = register(Backend("meanfield", run, stochastic=False, final_grid=final_grid, grid_metrics=FINAL_METRICS,
                           final_many=final_many))
