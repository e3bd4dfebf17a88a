"""``analyze``: fixed points, stability, invasion, basins and a bifurcation sweep of one scenario.

The object of study is the exact mean-field round as a map F of strategy shares
(see shares_map.py). Its fixed points are the possible long-run outcomes of the inner
training loop; which one a run reaches depends on where it starts, and the basins say
how much of the space of starting mixtures leads to each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seedbed.core.schema import ScenarioError
from seedbed.analyses.dynamics.basins import Basin, basins as compute_basins
from seedbed.analyses.dynamics.fixed_points import MARGINAL, FixedPoint, find_fixed_points, invasion_factors
from seedbed.analyses.dynamics.shares_map import SharesMap, check_scenario

CRITERION = ("A fixed point x* of the discrete map s -> F(s) is asymptotically stable iff the spectral radius "
             "(largest eigenvalue modulus) of the Jacobian of F restricted to the simplex's tangent space "
             "{v: sum v = 0} is < 1, and unstable if it is > 1. The Jacobian is taken by central finite "
             "differences, one-sided (second order) in directions that would leave the simplex. "
             "At a vertex (kappa = 0) its eigenvalues are the invasion factors of the absent strategies. "
             "Eigenvalues are given as [re, im] pairs.")
INVASION_METHOD = ("one-sided derivative of F_j along the edge from the resident toward e_j at s_j = 0+, "
                   "from difference quotients at s_j = 1e-6 and 2e-6, Richardson-extrapolated (error ~1e-12); "
                   "with kappa = 0 it equals lim s_j'/s_j")


@dataclass
class Invasion:
    resident: int          # class index of the pure resident state (a vertex)
    invader: int
    factor: float          # per-round growth factor of a rare invader; > 1: it invades (its rate: ln factor)
    resident_fixed: bool   # the vertex is a fixed point (false with kappa > 0)


@dataclass
class Bifurcation:
    """Fixed points along one parameter: ``fixed[p]`` at ``values[p]``."""

    key: str
    values: np.ndarray
    fixed: list[list[FixedPoint]]
    focus_invasion: np.ndarray        # (P,) rate of the focus strategy into the others' resident state
    residents: np.ndarray             # (P, Kc) that resident state (focus share 0)
    current: float | None             # the scenario's own value of ``key``
    names: list[str] = field(default_factory=list)   # classes along the sweep (may merge less than at the
    focus: int = 0                                   # scenario's own value) and the focus's class index


@dataclass
class Analysis:
    """Everything ``analyze`` found; ``to_json()`` gives the documented JSON form."""

    scenario: str
    names: list[str]                  # class names (identical strategies merged: "C+D")
    merged: list[list[str]]           # classes with more than one strategy
    focus: int                        # class index of the focus strategy (scn.seeder)
    start: np.ndarray                 # the scenario's start, class shares
    fixed_points: list[FixedPoint]
    vertex_fixed: list[bool]
    invasion: list[Invasion]
    focus_resident: np.ndarray        # the others' resident state (focus share 0)
    focus_invasion: float             # the focus strategy's growth factor in it
    basins: list[Basin]
    start_state: FixedPoint | None    # the stable state the scenario's start ends at
    samples: int
    bifurcation: Bifurcation | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    criterion: str = CRITERION
    map: SharesMap | None = field(default=None, repr=False, compare=False)   # for plots and follow-ups

    @property
    def stable_states(self) -> list[FixedPoint]:
        return [fp for fp in self.fixed_points if fp.stable]

    def shares(self, y: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
        return {n: round(float(v), 12) + 0.0 for n, v in zip(names or self.names, y)}

    def fixed_point_json(self, fp: FixedPoint, names: list[str] | None = None) -> dict[str, Any]:
        return {"shares": self.shares(fp.shares, names), "stable": fp.stable, "marginal": fp.marginal,
                "spectral_radius": round(fp.spectral_radius, 10),
                "eigenvalues": [[round(float(e.real), 10) + 0.0, round(float(e.imag), 10) + 0.0]
                                for e in fp.eigenvalues],
                "residual": float(fp.residual)}

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "scenario": self.scenario,
            "strategies": self.names,
            "merged": self.merged,
            "focus": self.names[self.focus],
            "fixed_points": [self.fixed_point_json(fp) for fp in self.fixed_points],
            "invasion": [{"resident": self.names[i.resident], "invader": self.names[i.invader],
                          **_factor(i.factor), "resident_fixed": i.resident_fixed} for i in self.invasion],
            "focus_invasion": {"resident": self.shares(self.focus_resident), "invader": self.names[self.focus],
                               **_factor(self.focus_invasion)},
            "basins": [{"state": None if b.state is None else self.shares(b.state.shares),
                        "share": b.share, "contains_start": b.contains_start} for b in self.basins],
            "start": {"shares": self.shares(self.start),
                      "ends_at": None if self.start_state is None else self.shares(self.start_state.shares)},
            "samples": self.samples,
            "criterion": self.criterion,
            "invasion_method": INVASION_METHOD,
            "notes": self.notes,
        }
        if self.bifurcation is not None:
            b = self.bifurcation
            d["bifurcation"] = {
                "param": b.key, "values": [float(v) for v in b.values], "current": b.current,
                "strategies": b.names,
                "fixed_points": [{"value": float(b.values[p]), **self.fixed_point_json(fp, b.names),
                                  "focus_share": round(float(fp.shares[b.focus]), 12)}
                                 for p, fps in enumerate(b.fixed) for fp in fps],
                "focus_invasion": [{"value": float(v), **_factor(float(r)),
                                    "resident": self.shares(res, b.names)}
                                   for v, r, res in zip(b.values, b.focus_invasion, b.residents)],
            }
        return d


# ----------------------------------------------------------------------------- helpers

def _factor(f: float) -> dict[str, float | None]:
    """An invasion as JSON: the per-round growth factor (> 1: the invader grows) and its
    rate ln(factor) per round (> 0: it grows); None where it is undefined."""
    if f is None or not np.isfinite(f):
        return {"factor": None, "rate": None}
    return {"factor": round(float(f), 10), "rate": round(float(np.log(f)), 10) if f > 0 else None}



def others_resident(fmap: SharesMap, fixed: list[list[FixedPoint]], max_rounds: int = 5000) -> np.ndarray:
    """The state the other strategies settle in without the focus strategy, per point: (P, Kc).

    Iterates F from the scenario's start with the focus share removed (set to 0 and
    renormalised after every round, which changes nothing when kappa = 0 since the face
    is then invariant), then snaps to the nearest fixed point found with focus share 0.
    """
    f = fmap.focus
    if fmap.Kc == 1:
        return np.ones((fmap.P, 1))
    y0 = fmap.start.copy()
    y0[f] = 0.0
    if y0.sum() <= 0:
        y0 = np.ones(fmap.Kc)
        y0[f] = 0.0
    Y = np.tile(y0 / y0.sum(), (fmap.P, 1))
    pts = np.arange(fmap.P)
    if fmap.Kc > 1:
        for r in range(max_rounds):
            Z = fmap(Y, pts)
            Z[:, f] = 0.0
            Z /= Z.sum(1, keepdims=True)
            moved = np.abs(Z - Y).max()
            Y = Z
            if moved < 1e-14:
                break
    for p in range(fmap.P):
        cands = [fp.shares for fp in fixed[p] if fp.shares[f] == 0.0]
        if cands:
            d = [np.abs(c - Y[p]).max() for c in cands]
            if min(d) < 1e-6:
                Y[p] = cands[int(np.argmin(d))]
    return Y


def _current_value(scn, key: str) -> float | None:
    parts = key.split(".")
    try:
        if parts[0] == "strategies":
            node: Any = next(s for s in scn.strategies if s.name == parts[1])
            parts = parts[2:]
        else:
            node = scn
        for p in parts:
            node = getattr(node, p)
        return float(node)
    except (StopIteration, AttributeError, TypeError, ValueError):
        return None


def bifurcation(scn, key: str, values: np.ndarray, starts: int = 12, seed: int = 0) -> Bifurcation:
    """Fixed points and the focus strategy's invasion factor along ``key`` = values.

    Vectorised: one SharesMap with P = len(values) parameter points, so every Newton
    iteration of every start at every value is one ``step`` call. Keys that change the
    computation's structure (e.g. selection.n) cannot be a grid axis; they are swept one
    scenario per value.
    """
    values = np.asarray(values, dtype=float)
    try:
        fmap = SharesMap(scn, key, values)
    except ScenarioError:
        fmap = None
    if fmap is not None:
        fixed = find_fixed_points(fmap, starts=starts, seed=seed)
        res = others_resident(fmap, fixed)
        rate = invasion_factors(fmap, res, np.full(fmap.P, fmap.focus), np.arange(fmap.P))
        return Bifurcation(key, values, fixed, rate, res, _current_value(scn, key), fmap.names, fmap.focus)
    fixed, rates, residents, names, focus = [], [], [], None, 0
    scns = []
    for v in values:  # structural key: one scenario per value (all validated before any work)
        val: Any = int(round(v)) if float(v).is_integer() else float(v)
        scns.append(scn.with_overrides({key: val}, source=f"--param {key}"))
    for s in scns:
        fm = SharesMap(s)
        if names is not None and fm.names != names:
            raise ScenarioError(f"--param {key}: the strategies the map tells apart change along the sweep; "
                                "sweep another key")
        names, focus = fm.names, fm.focus
        fx = find_fixed_points(fm, starts=starts, seed=seed)
        res = others_resident(fm, fx)
        fixed.append(fx[0])
        residents.append(res[0])
        rates.append(invasion_factors(fm, res, np.array([fm.focus]), np.zeros(1, dtype=np.int64))[0])
    return Bifurcation(key, values, fixed, np.array(rates), np.array(residents), _current_value(scn, key),
                       names or [], focus)


# ----------------------------------------------------------------------------- analyze

def crossings(x: np.ndarray, r: np.ndarray) -> list[float]:
    """Parameter values where an invasion factor r crosses 1 (linear interpolation between
    the grid points x on either side)."""
    d = np.asarray(r, float) - 1.0
    return [float(x[i] + (x[i + 1] - x[i]) * d[i] / (d[i] - d[i + 1]))
            for i in np.flatnonzero(np.sign(d[1:]) * np.sign(d[:-1]) < 0)]


def analyze(scn, param: tuple[str, Any] | None = None, points: int = 1024, starts: int = 12,
            seed: int = 0, max_rounds: int = 5000) -> Analysis:
    """Fixed points (with stability), invasion factors and basins of a scenario's share map.

    scn:        a pipeline scenario with a single policy (population.members = 1).
    param:      optional (dotted key, values): adds a bifurcation sweep along that key.
    points:     starts sampled (quasi-randomly, uniform on the simplex) for the basins.
    starts:     root-finder starts per face dimension.
    max_rounds: rounds a basin start may take to reach a stable state.
    """
    check_scenario(scn)
    t0 = time.perf_counter()
    fmap = SharesMap(scn)
    fixed = find_fixed_points(fmap, starts=starts, seed=seed)
    t1 = time.perf_counter()
    Kc = fmap.Kc
    E = np.eye(Kc)
    vertex_fixed = [any(np.array_equal(fp.shares, E[i]) for fp in fixed[0]) for i in range(Kc)]
    pairs = [(i, j) for i in range(Kc) for j in range(Kc) if i != j]
    invasion: list[Invasion] = []
    if pairs:
        R = np.array([E[i] for i, _ in pairs])
        J = np.array([j for _, j in pairs])
        rates = invasion_factors(fmap, R, J, np.zeros(len(pairs), dtype=np.int64))
        invasion = [Invasion(i, j, float(r), vertex_fixed[i]) for (i, j), r in zip(pairs, rates)]
    res = others_resident(fmap, fixed)
    focus_rate = float(invasion_factors(fmap, res, np.array([fmap.focus]), np.zeros(1, dtype=np.int64))[0]) \
        if Kc > 1 else float("nan")
    bas, start_label = compute_basins(fmap, fixed[0], samples=points, seed=seed, max_rounds=max_rounds)
    t2 = time.perf_counter()
    bif = None
    if param is not None:
        bif = bifurcation(scn, param[0], np.asarray(param[1], dtype=float), starts=starts, seed=seed)
    t3 = time.perf_counter()
    notes = []
    merged = [[fmap.strategies[k] for k in c] for c in fmap.classes if len(c) > 1]
    for m in merged:
        notes.append(f"strategies {', '.join(m)} are the same to the map (equal rates where it reads them): "
                     f"it sees only their sum ({'+'.join(m)}); any split between them is neutral (eigenvalue 1 "
                     "along it when they are present) and is kept at the start's proportions")
    if scn.update.kappa > 0:
        notes.append(f"kappa = {scn.update.kappa:g} > 0 anchors every round to the start shares, so vertices "
                     "are not fixed and faces are not invariant; invasion factors at vertices are then "
                     "derivatives of F, not growth factors of a resident state")
    if scn.selection.rule == "top_fraction":
        notes.append("top_fraction splits the boundary tie in proportion, so F is only piecewise smooth; "
                     "a fixed point on a kink would get an averaged (central-difference) Jacobian")
    if any(fp.marginal for fp in fixed[0]):
        notes.append(f"some fixed points have spectral radius within {MARGINAL:g} of 1: the linearisation "
                     "does not decide their stability (reported as not stable)")
    return Analysis(
        scenario=scn.name, names=fmap.names, merged=merged, focus=fmap.focus, start=fmap.start,
        fixed_points=fixed[0], vertex_fixed=vertex_fixed, invasion=invasion, focus_resident=res[0],
        focus_invasion=focus_rate, basins=bas,
        start_state=None if start_label < 0 else fixed[0][start_label], samples=points,
        bifurcation=bif, notes=notes, map=fmap,
        timings={"fixed_points_s": t1 - t0, "invasion_basins_s": t2 - t1, "bifurcation_s": t3 - t2,
                 "total_s": t3 - t0})
