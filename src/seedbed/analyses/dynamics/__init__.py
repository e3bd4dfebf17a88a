"""Dynamical-systems analysis of the exact mean-field share map (``seedbed analyze``).

A pipeline scenario with one policy defines a map F from strategy shares to next-round
shares. :func:`analyze` lists F's fixed points with their stability, the invasion
factor of every rare strategy into every pure resident, the basins of the stable
states, and optionally a bifurcation sweep along one parameter. :func:`start_dependence`
is the short form a run report uses: does the answer depend on where training starts?
"""

from __future__ import annotations

from typing import Any

from seedbed.analyses.dynamics.basins import Basin
from seedbed.analyses.dynamics.core import CRITERION, Analysis, Bifurcation, Invasion, analyze, crossings
from seedbed.analyses.dynamics.fixed_points import FixedPoint

__all__ = ["Analysis", "Basin", "Bifurcation", "CRITERION", "FixedPoint", "Invasion", "analyze", "crossings",
           "start_dependence"]


def start_dependence(scn, samples: int = 256, starts: int = 8, max_rounds: int = 5000) -> dict[str, Any]:
    """How many stable states the scenario's map has and how much of the simplex each attracts.

    Returns ``{"stable_states": n, "basins": [{"state": {name: share}, "share": x,
    "contains_start": bool}], "start_state": {name: share} | None, "samples": samples,
    "depends_on_start": n > 1}``. ``share`` is the fraction of ``samples`` quasi-random
    starting mixtures (uniform on the simplex) that end at the state; a basin with
    ``state`` None collects starts that reached no stable state. Takes well under a
    second for the shipped presets (``samples`` = 256). Raises ScenarioError for a
    population scenario (its outer loop is not a map of shares). ``starts`` (root-finder
    starts per face) and ``max_rounds`` (iterations per basin start) trade accuracy for time.
    """
    a = analyze(scn, points=samples, starts=starts, max_rounds=max_rounds)
    j = a.to_json()
    return {"stable_states": len(a.stable_states), "basins": j["basins"], "start_state": j["start"]["ends_at"],
            "samples": samples, "depends_on_start": len(a.stable_states) > 1}
