"""Backends: what executes a scenario. Each is a function registered by name.

A backend takes a validated scenario, an arm label, a seed and a progress callback, and
returns tidy rows (see metrics.py). The mean-field backend is exact, so its seed only
labels the rows; stochastic backends split their generators from it.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .config import Scenario, ScenarioError
from .metrics import Rows


class Backend(Protocol):
    def __call__(self, scn: Scenario, arm: str, seed: int, rows: Rows,
                 progress: Callable[[int, dict[str, float]], None] | None) -> None: ...


BACKENDS: dict[str, Backend] = {}
STOCHASTIC: set[str] = set()


def backend(name: str, stochastic: bool = False) -> Callable[[Backend], Backend]:
    """Register a backend under ``name``."""
    def deco(fn: Backend) -> Backend:
        BACKENDS[name] = fn
        if stochastic:
            STOCHASTIC.add(name)
        return fn
    return deco


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ScenarioError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]


@backend("meanfield")
def run_meanfield(scn: Scenario, arm: str, seed: int, rows: Rows,
                  progress: Callable[[int, dict[str, float]], None] | None = None) -> None:
    """Exact expected dynamics (G = 1)."""
    from .meanfield import MeanField, MFParams

    model = MeanField(MFParams.from_scenario(scn))
    s = model.p.share.copy()
    names = scn.names
    r0 = np.array([0])
    for k, name in enumerate(names):
        rows.add(arm, seed, r0, 0, f"share/{name}", s[:, k])
    for r in range(1, scn.rounds + 1):
        prev = s
        s, stats, keep = model.step(s)
        rr = np.array([r])
        for k, name in enumerate(names):
            rows.add(arm, seed, rr, 0, f"share/{name}", s[:, k])
            rows.add(arm, seed, rr, 0, f"keep/{name}", keep[:, k])
        for metric, v in stats.items():
            rows.add(arm, seed, rr, 0, metric, v)
        if progress is not None:
            snap = {f"share/{n}": float(s[0, k]) for k, n in enumerate(names)}
            snap.update({m: float(v[0]) for m, v in stats.items()})
            snap["_prev_seeder"] = float(prev[0, names.index(scn.seeder)])
            progress(r, snap)
