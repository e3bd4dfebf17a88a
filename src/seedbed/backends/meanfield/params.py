"""Scenario → arrays for the mean-field model, vectorised over a grid of G points.

Every numeric field becomes an array: judge / prompt / selection / update scalars
have shape (G,), strategy rates have shape (G, K). A single run is the case G = 1, so
a whole phase diagram and one trajectory go through exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

import numpy as np

from seedbed.core.config import Scenario, ScenarioError
from seedbed.stages.judge import user_judge

STRATEGY_FIELDS = ("err", "err_deploy", "err_review", "fix", "false_fix", "harm", "agree", "share")
# optional rates that default to another field (and follow it on a grid unless set)
FALLBACK = {"err_deploy": ("deploy_err", "err"), "err_review": ("review_err", "err")}
SCALAR_FIELDS = {
    # attribute: dotted path in the scenario
    "base": "judge.base", "pen_mistake": "judge.pen_mistake", "bonus": "judge.bonus",
    "pen_ignore": "judge.pen_ignore", "pen_false": "judge.pen_false", "pen_harm": "judge.pen_harm",
    "d_mistake": "judge.d_mistake", "d_ignore": "judge.d_ignore", "d_harm": "judge.d_harm",
    "d_false": "judge.d_false", "gamma": "judge.gamma", "alpha": "judge.alpha", "syc_bonus": "judge.syc_bonus",
    "belief": "prompts.belief", "belief_wrong": "prompts.belief_wrong",
    "m0": "prompts.m0", "c0": "prompts.c0", "phi": "prompts.phi", "rho": "prompts.rho",
    "tau": "selection.tau", "q": "selection.q", "temperature": "selection.temperature",
    "eta": "update.eta", "kappa": "update.kappa",
}
# Fields that change the structure of the computation; a grid cannot vary them in one call.
STATIC_FIELDS = ("selection.rule", "selection.n", "judge.credit", "prompts.turns")


@dataclass
class MFParams:
    """Arrays for G grid points and K strategies. Shapes are in the comments."""

    names: list[str]
    rule: str
    n: int
    credit: str
    turns: int
    err: np.ndarray          # (G, K) own mistake rate, training context
    err_deploy: np.ndarray   # (G, K) own mistake rate, deployment context
    err_review: np.ndarray   # (G, K) own mistake rate when reviewing / correcting an earlier answer
    fix: np.ndarray          # (G, K)
    false_fix: np.ndarray    # (G, K)
    harm: np.ndarray         # (G, K)
    agree: np.ndarray        # (G, K) P(agree with a stated belief)
    share: np.ndarray        # (G, K) initial shares (rows on the simplex)
    base: np.ndarray         # (G,) and all scalars below
    pen_mistake: np.ndarray
    bonus: np.ndarray
    pen_ignore: np.ndarray
    pen_false: np.ndarray
    pen_harm: np.ndarray
    d_mistake: np.ndarray
    d_ignore: np.ndarray
    d_harm: np.ndarray
    d_false: np.ndarray
    gamma: np.ndarray
    alpha: np.ndarray
    syc_bonus: np.ndarray
    belief: np.ndarray       # (G,) P(prompt states a belief)
    belief_wrong: np.ndarray
    m0: np.ndarray
    c0: np.ndarray
    phi: np.ndarray
    rho: np.ndarray
    tau: np.ndarray
    q: np.ndarray
    temperature: np.ndarray
    eta: np.ndarray
    kappa: np.ndarray
    judge_fn: Callable[..., Any] | None = None   # judge.function (a label judge) in place of the reward table

    @property
    def G(self) -> int:
        return self.err.shape[0]

    @property
    def K(self) -> int:
        return self.err.shape[1]

    def subset(self, idx: np.ndarray) -> "MFParams":
        """The same parameters restricted to grid points ``idx``."""
        kw: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else v
        return MFParams(**kw)

    def tile(self, M: int) -> "MFParams":
        """M copies of a single point (G = 1), e.g. one per population member."""
        return self.subset(np.zeros(M, dtype=int))

    @classmethod
    def from_scenario(cls, scn: Scenario, grid: Mapping[str, np.ndarray] | None = None) -> "MFParams":
        """Broadcast a scenario to G points; ``grid`` maps dotted paths to (G,) value arrays."""
        grid = {k: np.asarray(v, dtype=float) for k, v in (grid or {}).items()}
        sizes = {v.shape for v in grid.values()}
        if len(sizes) > 1:
            raise ScenarioError(f"grid arrays must all have one shape; got {sorted(sizes)}")
        G = int(next(iter(sizes))[0]) if sizes else 1
        for key in grid:
            if key in STATIC_FIELDS:
                raise ScenarioError(f"grid axis {key!r} changes the computation's structure; "
                                    "sweep it by running one grid per value")
            if key not in SCALAR_FIELDS.values() and not _is_strategy_path(key, scn):
                allowed = sorted(SCALAR_FIELDS.values()) + [f"strategies.<name>.{f}" for f in STRATEGY_FIELDS]
                raise ScenarioError(f"grid axis {key!r} is not a numeric scenario field; allowed: {', '.join(allowed)}")
        _check_grid_ranges(grid)

        names = scn.names
        K = len(names)
        strat = {}
        for f in STRATEGY_FIELDS:
            base = [getattr(s, FALLBACK[f][0]) if f in FALLBACK else getattr(s, f) for s in scn.strategies]
            if f == "share":
                base = scn.shares
            arr = np.tile(np.asarray(base, dtype=float), (G, 1))
            for k, name in enumerate(names):
                key = f"strategies.{name}.{f}"
                if key in grid:
                    arr[:, k] = grid[key]
                elif (f in FALLBACK and getattr(scn.strategies[k], f) is None
                      and f"strategies.{name}.{FALLBACK[f][1]}" in grid):
                    arr[:, k] = grid[f"strategies.{name}.{FALLBACK[f][1]}"]  # follows err unless set
            strat[f] = arr
        share = strat["share"]
        if np.any(np.abs(share.sum(axis=1) - 1.0) > 1e-6):
            raise ScenarioError("grid over strategy shares must keep them summing to 1 at every point")
        scal = {}
        for attr, path in SCALAR_FIELDS.items():
            section, field = path.split(".")
            scal[attr] = grid[path].copy() if path in grid else np.full(G, float(getattr(getattr(scn, section), field)))
        if np.any(scal["m0"] + scal["c0"] > 1 + 1e-12):
            raise ScenarioError("grid makes prompts.m0 + prompts.c0 exceed 1 at some point")
        return cls(names=names, rule=scn.selection.rule, n=scn.selection.n, credit=scn.judge.credit,
                   turns=scn.prompts.turns, **strat, **scal, judge_fn=user_judge(scn.judge, reads="labels"))


def _is_strategy_path(key: str, scn: Scenario) -> bool:
    parts = key.split(".")
    return len(parts) == 3 and parts[0] == "strategies" and parts[1] in scn.names and parts[2] in STRATEGY_FIELDS


_PROBABILITY = {"d_mistake", "d_ignore", "d_harm", "d_false", "gamma", "m0", "c0", "phi", "rho", "eta", "kappa",
                "belief", "belief_wrong"}


def _check_grid_ranges(grid: Mapping[str, np.ndarray]) -> None:
    for key, v in grid.items():
        leaf = key.split(".")[-1]
        if leaf in _PROBABILITY or key.startswith("strategies."):
            if np.any((v < 0) | (v > 1)):
                raise ScenarioError(f"grid axis {key!r} leaves [0, 1] (min {v.min():g}, max {v.max():g})")
        elif leaf in ("temperature", "q") and np.any(v <= 0):
            raise ScenarioError(f"grid axis {key!r} must stay positive (min {v.min():g})")
        elif leaf.startswith("pen_") or leaf in ("bonus", "alpha", "syc_bonus"):
            if np.any(v < 0):
                raise ScenarioError(f"grid axis {key!r} must be non-negative (min {v.min():g})")
