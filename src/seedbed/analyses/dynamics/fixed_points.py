"""Fixed points of the share map, their stability, and invasion factors.

Coordinates. Shares live on the simplex Δ = {y ≥ 0, Σ y = 1} (classes of identical
strategies, see shares_map.py). A face is the set of points whose support is a subset S;
on a face with m members we use m − 1 coordinates (the shares of S[1:]; the first
member takes the rest). Without the anchor (kappa = 0) selection never creates a strategy
that is absent, so every face is invariant and fixed points are found face by face.

Search. Vertices are checked directly (F(e_i) = e_i). On every face with ≥ 2 members,
many quasi-random starts are pushed through a damped Newton iteration on G(c) = F(x) − x
(face coordinates, central finite-difference Jacobian), vectorised over all starts, faces
and parameter points in one ``step`` call per iteration. The distinct candidates are
polished one by one with ``scipy.optimize.root`` (hybr) and kept only if
max_k |F(x) − x|_k ≤ 1e-10 over all strategies (so off-face components vanish too) and
x lies on the simplex.

Stability. A fixed point x* of the discrete map F is asymptotically stable iff the
spectral radius of the Jacobian DF(x*) restricted to the simplex's tangent space
{v : Σ v = 0} is below 1 (and unstable if above 1; = 1 is not decided by the
linearisation). We use the basis d_i = e_i − e_r (r = the largest share) and central
differences, one-sided (second order) along directions that would leave the simplex
(a share at 0): the Jacobian of the map where it is defined. At a vertex e_i (kappa = 0)
this matrix is diagonal and its entries are the invasion factors of the other strategies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import optimize
from scipy.stats import qmc

from seedbed.analyses.dynamics.shares_map import SharesMap

FIXED_TOL = 1e-10       # |F(x) − x| that counts as a fixed point
H = 1e-6                # finite-difference step (shares); map errors are ~1e-16
MARGINAL = 1e-7         # |spectral radius − 1| below this: the linearisation does not decide


@dataclass
class FixedPoint:
    """One fixed point of F at parameter point ``point``. Shares are class shares."""

    shares: np.ndarray
    point: int = 0
    residual: float = 0.0
    eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0, complex))
    face: tuple[int, ...] | None = None   # the support searched when found by the root finder

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self.shares > 1e-12))

    @property
    def spectral_radius(self) -> float:
        return float(np.max(np.abs(self.eigenvalues))) if len(self.eigenvalues) else 0.0

    @property
    def stable(self) -> bool:
        """Asymptotically stable: spectral radius of the restricted Jacobian < 1."""
        return self.spectral_radius < 1.0 - MARGINAL

    @property
    def marginal(self) -> bool:
        return abs(self.spectral_radius - 1.0) <= MARGINAL


# ------------------------------------------------------------------------- sampling

def simplex_points(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n quasi-random points spread uniformly over the (dim)-simplex, shape (n, dim + 1).

    Scrambled Halton points u ∈ [0, 1)^dim, sorted; the spacings of 0 < u(1) < … < 1 are
    uniform on the simplex (the order-statistics construction).
    """
    if dim == 0:
        return np.ones((n, 1))
    u = qmc.Halton(d=dim, scramble=True, seed=seed).random(n)
    u = np.sort(u, axis=1)
    return np.diff(np.concatenate([np.zeros((n, 1)), u, np.ones((n, 1))], axis=1), axis=1)


def faces(Kc: int, max_full: int = 8) -> list[tuple[int, ...]]:
    """Supports to search: every subset with ≥ 2 members (edges + full simplex only when Kc > max_full)."""
    if Kc <= max_full:
        return [c for m in range(2, Kc + 1) for c in combinations(range(Kc), m)]
    return list(combinations(range(Kc), 2)) + [tuple(range(Kc))]


# ------------------------------------------------------------------------- search

def _face_batch(fmap: SharesMap, points: np.ndarray, S: np.ndarray, Y: np.ndarray,
                iters: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton on G(c) = (F(y) − y)[S[1:]] for rows with supports S (N, m) at Y (N, Kc).

    Returns the final rows and their residual max-norm (all strategies of the face).
    Steps are cut so shares stay ≥ 0 (fraction to the boundary 0.9).
    """
    N, m = S.shape
    rows = np.arange(N)[:, None]
    D = np.zeros((N, m - 1, fmap.Kc))              # D[n, j] = e_{S[j+1]} − e_{S[0]}
    D[np.arange(N)[:, None], np.arange(m - 1)[None], S[:, 1:]] = 1.0
    D[np.arange(N)[:, None], np.arange(m - 1)[None], S[:, :1]] = -1.0
    pts_all = np.concatenate([points] * (2 * (m - 1) + 1))
    res = np.full(N, np.inf)
    for _ in range(iters):
        h = np.minimum(H, 0.5 * Y[rows, S].min(1))[:, None, None]          # stay on the face
        probe = np.concatenate([Y[:, None, :], Y[:, None, :] + h * D, Y[:, None, :] - h * D], axis=1)
        F = fmap(probe.transpose(1, 0, 2).reshape(-1, fmap.Kc), pts_all).reshape(2 * m - 1, N, fmap.Kc)
        F = F.transpose(1, 0, 2)
        G = (F[:, 0] - Y)[rows, S[:, 1:]]                                   # (N, m − 1)
        res = np.abs(F[:, 0] - Y)[rows, S].max(1)
        J = (F[:, 1:m] - F[:, m:]) / (2 * h)                                # (N, m−1 dirs, Kc)
        J = J[rows[:, :, None], np.arange(m - 1)[None, :, None], S[:, None, 1:]].transpose(0, 2, 1)
        J = J - np.eye(m - 1)
        step = -(np.linalg.pinv(J) @ G[..., None])[..., 0]                 # (N, m − 1)
        dY = np.einsum("nj,njk->nk", step, D)
        neg = dY < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(neg, Y / np.where(neg, -dY, 1.0), np.inf).min(1)
        t = np.minimum(1.0, 0.9 * room)[:, None]
        t[~np.isfinite(t)] = 1.0
        Y = np.clip(Y + t * dY, 0.0, None)
        Y /= Y.sum(1, keepdims=True)
        if np.all(res < 1e-13):
            break
    return Y, res


def _polish(fmap: SharesMap, point: int, S: tuple[int, ...], y0: np.ndarray) -> np.ndarray:
    """scipy.optimize.root (hybr) on the face coordinates c = y[S[1:]], from y0."""
    S = list(S)
    pts = np.array([point])

    def full(c: np.ndarray) -> np.ndarray:
        y = np.zeros(fmap.Kc)
        y[S[1:]] = c
        y[S[0]] = 1.0 - c.sum()
        return y

    def g(c: np.ndarray) -> np.ndarray:
        y = full(c)
        return fmap(y[None], pts)[0][S[1:]] - c

    sol = optimize.root(g, y0[S[1:]], method="hybr", options={"xtol": 1e-14})
    return full(sol.x)


def find_fixed_points(fmap: SharesMap, starts: int = 12, seed: int = 0, polish: bool = True
                      ) -> list[list[FixedPoint]]:
    """All fixed points found at every parameter point: a list (length P) of lists.

    ``starts`` quasi-random starts per face dimension (a face with m members gets
    starts·(m − 1) + 1, its barycentre included).
    """
    P, Kc = fmap.P, fmap.Kc
    found: list[list[FixedPoint]] = [[] for _ in range(P)]
    # Vertices: check F(e_i) = e_i at every point at once.
    E = np.tile(np.eye(Kc), (P, 1))
    pE = np.repeat(np.arange(P), Kc)
    vres = fmap.residual_full(E, pE)
    for r in np.flatnonzero(vres <= FIXED_TOL):
        found[pE[r]].append(FixedPoint(shares=E[r].copy(), point=int(pE[r]), residual=float(vres[r])))
    # Faces with ≥ 2 members, grouped by size so a batch has one shape.
    by_size: dict[int, list[tuple[int, ...]]] = {}
    for f in faces(Kc):
        by_size.setdefault(len(f), []).append(f)
    for m, fs in sorted(by_size.items()):
        n0 = starts * (m - 1) + 1
        loc = np.vstack([np.full((1, m), 1.0 / m), simplex_points(n0 - 1, m - 1, seed + m)])  # (n0, m)
        S = np.repeat(np.array(fs), n0, axis=0)                               # (F·n0, m)
        Yf = np.zeros((len(S), Kc))
        Yf[np.arange(len(S))[:, None], S] = np.tile(loc, (len(fs), 1))
        S = np.tile(S, (P, 1))
        Y = np.tile(Yf, (P, 1))
        pts = np.repeat(np.arange(P), len(Yf))
        Y, res = _face_batch(fmap, pts, S, Y)
        inner = Y[np.arange(len(Y))[:, None], S].min(1) > 1e-9              # on this face, not its boundary
        ok = (res < 1e-7) & inner
        for p in range(P):
            cands: list[np.ndarray] = []
            for r in np.flatnonzero(ok & (pts == p)):
                if all(np.abs(Y[r] - c).max() > 1e-6 for c in cands):
                    cands.append(Y[r])
                    found[p].append(FixedPoint(shares=Y[r].copy(), point=p, face=tuple(int(i) for i in S[r])))
    # Polish (scipy root), verify on all strategies, deduplicate.
    out: list[list[FixedPoint]] = []
    for p in range(P):
        keep: list[FixedPoint] = []
        for fp in found[p]:
            if fp.face is not None and polish:
                y = _polish(fmap, p, fp.face, fp.shares)
                if np.all(y >= -1e-12) and fmap.residual_full(y[None], np.array([p]))[0] <= FIXED_TOL:
                    fp.shares = np.clip(y, 0.0, None) / np.clip(y, 0.0, None).sum()
            if np.any(fp.shares < -1e-12):
                continue
            fp.residual = float(fmap.residual_full(fp.shares[None], np.array([p]))[0])
            if fp.residual > FIXED_TOL:
                continue
            if all(np.abs(fp.shares - q.shares).max() > 1e-8 for q in keep):
                keep.append(fp)
        out.append(sorted(keep, key=lambda q: (-q.shares[0], tuple(-q.shares))))
    all_fps = [fp for fps in out for fp in fps]
    if all_fps:
        J = jacobians(fmap, np.array([fp.shares for fp in all_fps]), np.array([fp.point for fp in all_fps]))
        for fp, j in zip(all_fps, J):
            fp.eigenvalues = np.linalg.eigvals(j) if j.size else np.zeros(0, complex)
    return out


# ------------------------------------------------------------------------- derivatives

def jacobians(fmap: SharesMap, Y: np.ndarray, points: np.ndarray, h: float = H) -> np.ndarray:
    """DF restricted to the tangent space at rows Y (N, Kc): (N, Kc − 1, Kc − 1).

    Basis d_i = e_i − e_r, r = argmax y (so moving along ±d_i keeps y_r > 0). Along d_i,
    central differences when y_i ≥ 2h, otherwise the one-sided second-order formula
    (−3F(y) + 4F(y + h d_i) − F(y + 2h d_i)) / 2h, which only looks inside the simplex.
    Column i of the matrix holds the components j ≠ r of ∂F/∂d_i (the coefficients of a
    tangent vector in this basis).
    """
    N, Kc = Y.shape
    if Kc < 2:
        return np.zeros((N, 0, 0))
    r = Y.argmax(1)
    others = np.array([[j for j in range(Kc) if j != rr] for rr in r])      # (N, Kc − 1)
    D = np.zeros((N, Kc - 1, Kc))
    D[np.arange(N)[:, None], np.arange(Kc - 1)[None], others] = 1.0
    D[np.arange(N), :, r] = -1.0
    central = Y[np.arange(N)[:, None], others] >= 2 * h                     # (N, Kc − 1)
    a = np.where(central, h, h)[..., None] * D                              # +h d
    b = np.where(central, -h, 2 * h)[..., None] * D                         # −h d or +2h d
    probe = np.concatenate([Y[:, None], Y[:, None] + a, Y[:, None] + b], axis=1)   # (N, 2Kc − 1, Kc)
    pts = np.repeat(points, probe.shape[1])
    F = fmap(probe.reshape(-1, Kc), pts).reshape(N, 2 * Kc - 1, Kc)
    F0, Fa, Fb = F[:, :1], F[:, 1:Kc], F[:, Kc:]
    dF = np.where(central[..., None], (Fa - Fb) / (2 * h), (-3 * F0 + 4 * Fa - Fb) / (2 * h))  # (N, dir, Kc)
    J = dF[np.arange(N)[:, None, None], np.arange(Kc - 1)[None, :, None], others[:, None, :]]
    return J.transpose(0, 2, 1)                                             # rows: component, cols: direction


def invasion_factors(fmap: SharesMap, residents: np.ndarray, invaders: np.ndarray, points: np.ndarray,
                   eps: float = 1e-6) -> np.ndarray:
    """Per-round growth factor of a rare invader j in resident state y (y_j = 0), per row.

    The one-sided derivative of F_j along the path y(ε) = (1 − ε) y + ε e_j at ε = 0⁺;
    with kappa = 0, F_j(y) = 0 and this is lim s_j'/s_j (> 1: j invades). Computed from
    difference quotients Q(ε) = (F_j(y(ε)) − F_j(y)) / ε at ε and 2ε, Richardson-
    extrapolated, 2Q(ε) − Q(2ε), so the error is O(ε²) ≈ 1e-12 for a smooth map.
    """
    N = len(residents)
    E = np.zeros_like(residents)
    E[np.arange(N), invaders] = 1.0
    probe = np.concatenate([residents, (1 - eps) * residents + eps * E, (1 - 2 * eps) * residents + 2 * eps * E])
    F = fmap(probe, np.concatenate([points] * 3)).reshape(3, N, -1)[:, np.arange(N), invaders]
    q1 = (F[1] - F[0]) / eps
    q2 = (F[2] - F[0]) / (2 * eps)
    return 2 * q1 - q2
