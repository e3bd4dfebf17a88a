"""The mean-field round as a map of shares, s ↦ F(s), evaluated for many rows at once.

Everything in :mod:`seedbed.analyses.dynamics` is a statement about this map: its fixed points,
their Jacobians, where iterates end. Two things make it more than ``MeanField.step``:

* **Many rows, many parameter points.** A call takes shares Y (N, Kc) and, optionally, the
  parameter point of each row (N,). Parameter points come from one dotted key swept over
  values (a bifurcation axis); each row is stepped with its own point's parameters, so a
  whole sweep is one ``step`` call. MeanField objects are cached per row layout.
* **Indistinguishable strategies are merged.** Two strategies with every rate the map reads
  equal (the seed preset's C and D) look the same to the judge and to selection, so the map only
  sees their sum and every split between them is neutral: the C–D edge is a *line* of
  fixed points, which no root finder can list. The analysis therefore works on classes
  of identical strategies ("C+D"); a class's share is split among its members in the
  scenario's start proportions when it is handed to ``step`` (with kappa > 0 that split
  is the only fixed one; with kappa = 0 every split is fixed). The class dynamics is
  exact: F summed over a class depends on class sums only.
"""

from __future__ import annotations

import numpy as np

from seedbed.backends.meanfield import MeanField, MFParams
from seedbed.core.schema import ScenarioError


def check_scenario(scn) -> None:
    """Refuse what is not a single-policy pipeline scenario (the map is of one policy's shares)."""
    kind = getattr(scn, "kind", "pipeline")
    if kind != "pipeline":
        raise ScenarioError(f"{scn.name}: the analysis covers pipeline scenarios (a map of strategy shares); "
                            f"this scenario is kind {kind!r}")
    members = scn.population.members
    if members > 1:
        raise ScenarioError(f"{scn.name}: population.members = {members}: the population loop (exploit/explore "
                            "across members) is not a map of shares; the analysis covers a single policy. "
                            "Try --set population.members=1")
    if scn.update.eta == 0 and scn.update.kappa == 0:
        raise ScenarioError(f"{scn.name}: update.eta = 0 and update.kappa = 0 make the map the identity: every "
                            "mixture is a fixed point and nothing is selected; set update.eta > 0")


def strategy_classes(scn, key: str | None = None, values: np.ndarray | None = None) -> list[list[int]]:
    """Groups of strategies the map cannot tell apart (indices in scenario order).

    Strategies i and j are merged when, at every swept parameter value and at a few random
    interior mixtures x, moving share between them changes nothing the map produces except
    their own split, and selection keeps them in proportion to their shares:
    F(x) and F(x') agree off {i, j} and in F_i + F_j, and F_i(x)·x_j = F_j(x)·x_i, with
    eta = 1 and kappa = 0 (the kept distribution itself). Equal rates make this exact; so do
    rates the map never reads (err_deploy; agree when no prompt states a belief).
    """
    K = len(scn.names)
    if K < 2:
        return [[0]]
    pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
    rng = np.random.default_rng(12345)
    n = 3
    X = rng.dirichlet(np.ones(K), (len(pairs), n))                         # (pairs, n, K)
    Xp = X.copy()
    for q, (i, j) in enumerate(pairs):                                     # move 40% of i+j's mass
        tot = X[q, :, i] + X[q, :, j]
        Xp[q, :, i], Xp[q, :, j] = 0.3 * tot, 0.7 * tot
    rows = np.concatenate([X.reshape(-1, K), Xp.reshape(-1, K)])           # (2·pairs·n, K)
    P = 1 if key is None or key in ("update.eta", "update.kappa") else len(values)
    grid = {"update.eta": np.ones(P * len(rows)), "update.kappa": np.zeros(P * len(rows))}
    if P > 1 or (key is not None and key not in grid):
        grid[key] = np.repeat(np.asarray(values, dtype=float), len(rows))
    new, _, _ = MeanField(MFParams.from_scenario(scn, grid=grid)).step(np.tile(rows, (P, 1)))
    new = new.reshape(P, 2, len(pairs), n, K)
    F, Fp = new[:, 0], new[:, 1]                                            # (P, pairs, n, K)
    parent = list(range(K))

    def root(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    for q, (i, j) in enumerate(pairs):
        rest = [k for k in range(K) if k not in (i, j)]
        f, fp, x = F[:, q], Fp[:, q], X[q]
        same_rest = np.abs(f[..., rest] - fp[..., rest]).max(initial=0.0) <= 1e-12
        same_sum = np.abs(f[..., i] + f[..., j] - fp[..., i] - fp[..., j]).max() <= 1e-12
        in_prop = np.abs(f[..., i] * x[:, j] - f[..., j] * x[:, i]).max() <= 1e-12
        if same_rest and same_sum and in_prop:
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for k in range(K):
        groups.setdefault(root(k), []).append(k)
    return sorted(groups.values())


class SharesMap:
    """F on class shares for P parameter points (P = 1 without a sweep).

    ``key``/``values``: an optional swept dotted key; every value is one parameter point.
    Raises ScenarioError when the key cannot be a grid axis (the caller then falls back to
    one SharesMap per value).
    """

    def __init__(self, scn, key: str | None = None, values: np.ndarray | None = None):
        check_scenario(scn)
        self.scn = scn
        self.key = key
        self.values = None if key is None else np.asarray(values, dtype=float)
        if key is not None:  # validate the axis (raises ScenarioError for a non-grid key or a bad value)
            MFParams.from_scenario(scn, grid={key: self.values})
        self.P = 1 if key is None else len(self.values)
        self.strategies: list[str] = list(scn.names)
        self.classes = strategy_classes(scn, key, self.values)
        self.names = ["+".join(self.strategies[k] for k in c) for c in self.classes]
        self.K, self.Kc = len(self.strategies), len(self.classes)
        self.member = np.zeros((self.K, self.Kc))          # one-hot: strategy k is in class c
        start = np.asarray(scn.shares, dtype=float)
        self.weight = np.zeros(self.K)                     # within-class split (start proportions)
        for c, ks in enumerate(self.classes):
            self.member[ks, c] = 1.0
            tot = start[ks].sum()
            self.weight[ks] = start[ks] / tot if tot > 0 else 1.0 / len(ks)
        self.cls = self.member.argmax(1)                   # class of each strategy
        self.start = start @ self.member                   # (Kc,) the scenario's start, in classes
        self.focus = int(self.cls[self.strategies.index(scn.seeder)])
        self._cache: dict[tuple, MeanField] = {}
        self.evaluations = 0                               # rows stepped (for timing reports)

    # --------------------------------------------------------------------- plumbing
    def point_value(self, point: int) -> float | None:
        return None if self.key is None else float(self.values[point])

    def expand(self, Y: np.ndarray) -> np.ndarray:
        """Class shares (N, Kc) → strategy shares (N, K)."""
        return Y[:, self.cls] * self.weight

    def collapse(self, X: np.ndarray) -> np.ndarray:
        """Strategy shares (N, K) → class shares (N, Kc)."""
        return X @ self.member

    def meanfield(self, points: np.ndarray) -> MeanField:
        """A MeanField whose row i has the parameters of point ``points[i]`` (cached)."""
        points = np.asarray(points, dtype=np.int64)
        ck = (len(points),) if self.key is None else (len(points), points.tobytes())
        mf = self._cache.get(ck)
        if mf is None:
            if len(self._cache) > 64:
                self._cache.clear()
            if self.key is None:
                params = MFParams.from_scenario(self.scn).tile(len(points))
            else:
                params = MFParams.from_scenario(self.scn, grid={self.key: self.values[points]})
            mf = self._cache[ck] = MeanField(params)
        return mf

    # --------------------------------------------------------------------- the map
    def __call__(self, Y: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
        """F(Y): one round from class shares Y (N, Kc); row i uses parameter point points[i]."""
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if points is None:
            points = np.zeros(len(Y), dtype=np.int64)
        if len(Y) == 0:
            return Y.copy()
        self.evaluations += len(Y)
        new, _, _ = self.meanfield(points).step(self.expand(Y))
        return self.collapse(new)

    def residual_full(self, Y: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
        """max |F(x) − x| over all K strategies (not classes) at x = expand(Y), per row."""
        Y = np.atleast_2d(Y)
        if points is None:
            points = np.zeros(len(Y), dtype=np.int64)
        X = self.expand(Y)
        new, _, _ = self.meanfield(points).step(X)
        return np.abs(new - X).max(-1)

    def shares_dict(self, y: np.ndarray, digits: int = 12) -> dict[str, float]:
        return {n: round(float(v), digits) + 0.0 for n, v in zip(self.names, y)}
