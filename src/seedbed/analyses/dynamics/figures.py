"""The data behind ``seedbed analyze``'s figures (``figures.json``, beside ``analysis.json``).

Everything a figure shows that is not already in analysis.json is computed here, once, so
the figures (:mod:`seedbed.report.dynamics`) only draw what the files hold:

* ``basin_map``: where iterating the map ends, cell by cell. Three classes: a regular
  triangular grid on the whole simplex (ternary projection; corners = pure strategies).
  More: the slice with (first other class, focus) shares on the axes and the rest split in
  the start's proportions. Two: the segment from the other class to the focus, as a strip.
  Per cell the index of the stable fixed point it ends at (into analysis.json's
  ``fixed_points``), or −1 when none is reached; plus the plot coordinates of the grid, of
  each fixed point (or null where it lies outside the slice) and of the start.
* ``edge_flow``: s'_f − s_f along the edge from all-(other) to all-(focus), at ``n`` points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seedbed.analyses.dynamics.basins import end_states

SQ3 = np.sqrt(3.0) / 2.0
BASIN_GRID = 40          # triangles per side of the simplex (or cells per unit on a strip: 4 n)
EDGE_POINTS = 401


def tri_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A regular triangular grid on the unit 2-simplex: vertices (V, 3) barycentric and triangles (T, 3)."""
    idx = {}
    V = []
    for i in range(n + 1):
        for j in range(n + 1 - i):
            idx[i, j] = len(V)
            V.append((i / n, j / n, 1 - (i + j) / n))
    T = []
    for i in range(n):
        for j in range(n - i):
            T.append((idx[i, j], idx[i + 1, j], idx[i, j + 1]))
            if i + j + 1 < n:
                T.append((idx[i + 1, j], idx[i + 1, j + 1], idx[i, j + 1]))
    return np.clip(np.array(V), 0.0, 1.0), np.array(T)


def _round(x: np.ndarray, digits: int = 6) -> list:
    return np.round(np.asarray(x, float), digits).tolist()


def basin_map(a: Any, n: int = BASIN_GRID) -> dict[str, Any] | None:
    """The basin map's cells and coordinates (see the module docstring); None for one class."""
    fm = a.map
    Kc = fm.Kc
    if Kc < 2:
        return None
    f = a.focus
    o = 0 if f != 0 else 1                         # the 'first other' class for the slice / strip
    rest = np.array([c for c in range(Kc) if c not in (o, f)], dtype=int)
    w = fm.start[rest] if len(rest) else np.zeros(0)
    w = w / w.sum() if w.sum() > 0 else np.full(len(rest), 1.0 / max(len(rest), 1))

    def to_classes(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(share of o, share of f) → class shares; the rest split by the start's proportions."""
        Y = np.zeros((len(u), Kc))
        Y[:, o], Y[:, f] = u, v
        if len(rest):
            Y[:, rest] = np.clip(1 - u - v, 0, None)[:, None] * w
        return Y

    fixed = a.fixed_points
    out: dict[str, Any] = {"classes": list(fm.names), "other": fm.names[o], "focus": fm.names[f], "n": n}
    if Kc >= 3:
        V, T = tri_grid(n)
        cent = V[T].mean(1)                                            # (T, 3) barycentric
        if Kc == 3:
            Y = cent.copy()                                              # classes 0, 1, 2 in corner order
            pos = lambda y: np.stack([y[:, 1] + 0.5 * y[:, 2], SQ3 * y[:, 2]], 1)   # noqa: E731 ternary
            in_view = lambda y: True                                     # noqa: E731
            out["layout"] = "ternary"
        else:
            Y = to_classes(cent[:, 0], cent[:, 1])
            pos = lambda y: np.stack([y[:, o], y[:, f]], 1) if y.shape[1] == Kc else y[:, :2]   # noqa: E731
            in_view = lambda y: np.abs(y[rest] - (1 - y[o] - y[f]) * w).max() <= 1e-6   # noqa: E731
            out["layout"] = "slice"
            out["rest"] = len(rest)
        xy = pos(V) if Kc == 3 else V[:, :2]
        out["vertices"] = _round(xy)
        out["triangles"] = T.tolist()
    else:                                                              # two classes: a strip
        u = np.linspace(0, 1, 4 * n + 1)
        mid = 0.5 * (u[1:] + u[:-1])
        Y = to_classes(1 - mid, mid)
        pos = lambda y: np.stack([y[:, f], np.full(len(y), 0.5)], 1)   # noqa: E731
        in_view = lambda y: True                                       # noqa: E731
        out["layout"] = "strip"
        out["edges"] = _round(u)
    out["ends_at"] = [int(x) for x in end_states(fm, Y, fixed)]
    out["fixed_xy"] = [(_round(pos(np.atleast_2d(fp.shares))[0]) if in_view(fp.shares) else None) for fp in fixed]
    out["start_xy"] = _round(pos(np.atleast_2d(a.start))[0])
    return out


def edge_flow(a: Any, n: int = EDGE_POINTS) -> dict[str, Any] | None:
    """s'_f − s_f at n points on the other–focus edge, the fixed points on it, the projected start."""
    fm = a.map
    if fm.Kc < 2:
        return None
    f = a.focus
    o = 0 if f != 0 else 1
    x = np.linspace(0, 1, n)                                   # share of the focus strategy on the edge
    Y = np.zeros((n, fm.Kc))
    Y[:, o], Y[:, f] = 1 - x, x
    d = fm(Y)[:, f] - x
    tot = a.start[o] + a.start[f]
    return {"other": fm.names[o], "focus": fm.names[f], "x": _round(x, 9), "change": _round(d, 12),
            "on_edge": [bool(fp.shares[o] + fp.shares[f] > 1 - 1e-9) for fp in a.fixed_points],
            "start_projected": None if tot <= 0 else float(a.start[f] / tot),
            "kappa": float(a.map.scn.update.kappa)}


ABOUT = {
    "basin_map": "where iterating the map ends, per cell of a map of starts (null with one class)",
    "basin_map.classes": "the strategy classes, as in analysis.json's strategies",
    "basin_map.other": "the first class that is not the focus (x axis of the slice; one end of the strip)",
    "basin_map.focus": "the focus (seeder) class",
    "basin_map.rest": "how many classes the slice splits in the start's proportions (slice)",
    "basin_map.layout": "ternary (3 classes: the whole simplex), slice (more: other and focus shares on the axes, "
                        "the rest split in the start's proportions) or strip (2 classes: the other-focus segment)",
    "basin_map.n": "triangles per side of the grid (strip: 4 n cells)",
    "basin_map.vertices": "plot (x, y) of each grid vertex (ternary, slice)",
    "basin_map.triangles": "the grid's cells: three indices into vertices each (ternary, slice)",
    "basin_map.edges": "cell edges on the strip, as the focus share (strip)",
    "basin_map.ends_at": "per cell: the index into analysis.json's fixed_points of the stable state its centre "
                         "ends at, -1 where none is reached",
    "basin_map.fixed_xy": "plot (x, y) of each fixed point of analysis.json, null outside the slice",
    "basin_map.start_xy": "plot (x, y) of the scenario's start",
    "edge_flow": "the 1-D flow on the edge from all-other to all-focus (null with one class)",
    "edge_flow.other": "the class at x = 0",
    "edge_flow.focus": "the class at x = 1",
    "edge_flow.x": "focus share on the edge (the rest is the other class)",
    "edge_flow.change": "s'_f - s_f at each x: the focus share's change in one round",
    "edge_flow.on_edge": "per fixed point of analysis.json: whether it lies on the edge",
    "edge_flow.start_projected": "the start's focus / (other + focus), null if both are 0",
    "edge_flow.kappa": "the update's pull to the start (> 0: the edge is not invariant)",
}


def figure_data(a: Any) -> dict[str, Any]:
    """figures.json: what the analysis figures draw beyond analysis.json (``about``: what each key is)."""
    return {"about": ABOUT, "basin_map": basin_map(a), "edge_flow": edge_flow(a)}
