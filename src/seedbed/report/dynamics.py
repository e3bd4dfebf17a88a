"""Figures of an :class:`~seedbed.analyses.dynamics.Analysis`: bifurcation diagram, basin map, edge flow.

All axes are shares of the policy (fractions in [0, 1]) or per-round factors; legends sit
outside the axes so they never cover data; the scenario's start is always marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seedbed.analyses.dynamics.basins import end_states

SQ3 = np.sqrt(3.0) / 2.0


def _plt(where):
    from seedbed.report.plots import _plt as plt_in
    return plt_in(where)


def label(key: str) -> str:
    """A readable label for a config key (the package's one map, :func:`seedbed.report.plots.label`)."""
    from seedbed.report.plots import label as readable
    return readable(key)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path


def state_label(names: list[str], y: np.ndarray) -> str:
    """'all B' for a vertex, else 'A 0.58, B 0.42' (shares above 0.5%)."""
    big = np.flatnonzero(y > 1 - 1e-9)
    if len(big):
        return f"all {names[big[0]]}"
    return ", ".join(f"{names[i]} {y[i]:.2f}" for i in np.flatnonzero(y > 5e-3))


# ----------------------------------------------------------------------------- bifurcation

def _branches(values: np.ndarray, fixed: list[list], focus: int) -> list[list[tuple[int, object]]]:
    """Link fixed points at consecutive parameter values into branches.

    Cost of continuing a branch with a point: their distance (max over shares), plus 1 if
    the support changes, so a vertex stays a vertex through a transcritical bifurcation and
    an interior branch ends where it hits the boundary. Cheapest links first; a link must
    cost < 0.15.
    """
    branches: list[list[tuple[int, object]]] = []
    active: list[int] = []
    for p, fps in enumerate(fixed):
        costs = []
        for b in active:
            last = branches[b][-1][1]
            for k, fp in enumerate(fps):
                c = np.abs(fp.shares - last.shares).max() + (fp.support != last.support)
                if c < 0.15:
                    costs.append((c, b, k))
        used_b, used_k, still = set(), set(), []
        for c, b, k in sorted(costs):
            if b not in used_b and k not in used_k:
                branches[b].append((p, fps[k]))
                used_b.add(b)
                used_k.add(k)
                still.append(b)
        for k, fp in enumerate(fps):
            if k not in used_k:
                branches.append([(p, fp)])
                still.append(len(branches) - 1)
        active = still
    return branches


def plot_bifurcation(a, path: Path) -> Path:
    """Top: the focus strategy's share at each fixed point against the parameter; stable
    branches solid, unstable dashed. Bottom: its invasion factor into the others' resident
    state (> 1: a rare focus strategy grows)."""
    plt = _plt(path)
    b = a.bifurcation
    f, names = b.focus, b.names
    fname = names[f]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    x = b.values
    ends: dict[tuple[float, float], list[str]] = {}
    for br in _branches(x, b.fixed, f):
        xs = np.array([x[p] for p, _ in br])
        ys = np.array([fp.shares[f] for _, fp in br])
        st = np.array([fp.stable for _, fp in br])
        # Draw each run of equal stability as one line (so dashes stay dashes); neighbouring
        # runs share their boundary point. Stable on top: branches with equal focus share overlap.
        cut = np.flatnonzero(st[1:] != st[:-1]) + 1
        for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(br)]):
            seg = slice(lo, min(hi + 1, len(br)))
            stable = bool(st[lo])
            ax.plot(xs[seg], ys[seg], "-" if stable else "--", color="tab:blue" if stable else "tab:red",
                    lw=2.2 if stable else 1.4, zorder=3 if stable else 2)
            if hi - lo == 1 and hi == len(br):
                ax.plot(xs[lo], ys[lo], "o", ms=4, mfc="tab:blue" if stable else "none",
                        mec="tab:blue" if stable else "tab:red", zorder=3)
        last = br[-1][1]
        if br[-1][0] != len(x) - 1:
            continue                                 # label only the branches that reach the right edge
        ends.setdefault((float(xs[-1]), round(float(ys[-1]), 2)), []).append(
            state_label(names, last.shares) + ("" if last.stable else " (unstable)"))
    for (xe, y), labels in ends.items():  # name each branch at its right end (overlapping ones together)
        ax.annotate(" / ".join(dict.fromkeys(labels)), (xe, y), xytext=(-4, 4), textcoords="offset points",
                    ha="right", va="bottom", fontsize=7, color="0.25")
    ax.plot([], [], "-", color="tab:blue", lw=2, label="stable fixed point")
    ax.plot([], [], "--", color="tab:red", lw=1.4, label="unstable fixed point")
    ax.set(ylabel=f"share of {fname} at the fixed point", ylim=(-0.04, 1.04),
           title=f"{a.scenario}: fixed points along {label(b.key)}")
    ax2.plot(x, b.focus_invasion, "-", color="tab:purple", lw=2,
             label=f"{fname}'s invasion factor into\nthe others' resident state")
    ax2.axhline(1.0, color="0.4", lw=1, ls=":", label="1: invasion threshold")
    ax2.set(xlabel=label(b.key), ylabel=f"growth factor of rare {fname}\n(per round)")
    if b.current is not None and x.min() <= b.current <= x.max():
        for axis in (ax, ax2):
            axis.axvline(b.current, color="k", lw=0.8, ls="-.")
        ax.plot([], [], "-.", color="k", lw=0.8, label=f"scenario ({label(b.key)} = {b.current:g})")
    for axis in (ax, ax2):
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    path = _save(fig, path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- basins

def _tri_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A regular triangular grid on the unit 2-simplex: vertices (V, 3) and triangles (T, 3)."""
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


def plot_basins(a, path: Path, n: int = 40) -> Path | None:
    """Where iterating the map ends, coloured by stable state, over a map of starts.

    Three classes: a ternary plot of the whole simplex (corners = pure strategies).
    More: the slice with (first strategy, focus) shares on the axes and the rest split
    in the start's proportions. Two: the segment, as a strip. Fixed points: filled
    (stable) or open (unstable) circles; the scenario's start: a star.
    """
    fm = a.map
    Kc = fm.Kc
    if Kc < 2:
        return None
    plt = _plt(path)
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.tri import Triangulation

    f = a.focus
    o = 0 if f != 0 else 1                         # the 'first other' class for the slice / strip
    rest = np.array([c for c in range(Kc) if c not in (o, f)])
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
    stable_idx = [i for i, fp in enumerate(fixed) if fp.stable]
    palette = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#d9d9d9", "#c7e9c0", "#fdd0a2"]
    colors = [palette[k % len(palette)] for k in range(len(stable_idx))] + ["#ffffff"]
    cmap = ListedColormap(colors)
    lab_to_col = {i: k for k, i in enumerate(stable_idx)}

    fig, ax = plt.subplots(figsize=(6.4, 5.6) if Kc >= 3 else (7, 2.2))
    if Kc >= 3:
        V, T = _tri_grid(n)
        cent = V[T].mean(1)                                            # (T, 3) barycentric
        if Kc == 3:
            Y = cent.copy()                                              # classes 0, 1, 2 in corner order
            pos = lambda y: (y[:, 1] + 0.5 * y[:, 2], SQ3 * y[:, 2])     # noqa: E731 ternary projection
            xy = pos(V)
        else:
            Y = to_classes(cent[:, 0], cent[:, 1])
            xy = (V[:, 0], V[:, 1])
        lab = end_states(fm, Y, fixed)
        col = np.array([lab_to_col.get(int(l), len(stable_idx)) for l in lab])
        tri = Triangulation(xy[0], xy[1], T)
        ax.tripcolor(tri, facecolors=col, cmap=cmap, vmin=-0.5, vmax=len(colors) - 0.5, edgecolors="face",
                     linewidth=0.3, antialiased=False)
        if Kc == 3:
            corners = np.array([[0, 0], [1, 0], [0.5, SQ3], [0, 0]])
            ax.plot(corners[:, 0], corners[:, 1], "k-", lw=1)
            for k, (cx, cy, ha, va) in enumerate([(0, 0, "right", "top"), (1, 0, "left", "top"),
                                                  (0.5, SQ3, "center", "bottom")]):
                ax.text(cx, cy, f" all {fm.names[k]} ", ha=ha, va=va, fontsize=10)
            ax.set_aspect("equal")
            ax.axis("off")
            proj = lambda y: pos(np.atleast_2d(y))                       # noqa: E731
            ax.set_title(f"{a.scenario}: basins of attraction (ternary: shares of {', '.join(fm.names)})")
        else:
            ax.set(xlabel=f"share of {fm.names[o]}", ylabel=f"share of {fm.names[f]}", xlim=(0, 1), ylim=(0, 1),
                   aspect="equal",
                   title=f"{a.scenario}: basins, slice with the other {len(rest)} strategies\n"
                         "split in the start's proportions")
            proj = lambda y: (np.atleast_2d(y)[:, o], np.atleast_2d(y)[:, f])  # noqa: E731
    else:                                                              # two classes: a strip
        u = np.linspace(0, 1, 4 * n + 1)
        mid = 0.5 * (u[1:] + u[:-1])
        lab = end_states(fm, to_classes(1 - mid, mid), fixed)
        col = np.array([lab_to_col.get(int(l), len(stable_idx)) for l in lab])
        ax.pcolormesh(u, [0, 1], col[None], cmap=cmap, vmin=-0.5, vmax=len(colors) - 0.5)
        ax.set(xlabel=f"share of {fm.names[f]} (the rest: {fm.names[o]})", yticks=[], xlim=(0, 1), ylim=(0, 1),
               title=f"{a.scenario}: basins of attraction on the {fm.names[o]}–{fm.names[f]} segment")
        proj = lambda y: (np.atleast_2d(y)[:, f], np.full(len(np.atleast_2d(y)), 0.5))  # noqa: E731
    for fp in fixed:
        if Kc > 3 and np.abs(fp.shares[rest] - (1 - fp.shares[o] - fp.shares[f]) * w).max() > 1e-6:
            continue                                                   # not in the slice
        px, py = proj(fp.shares)
        ax.plot(px, py, "o", ms=8, mfc="k" if fp.stable else "white", mec="k", zorder=5, clip_on=False)
    sx, sy = proj(a.start)
    ax.plot(sx, sy, "*", ms=16, mfc="gold", mec="k", zorder=6, clip_on=False)
    shares = {id(b.state): b.share for b in a.basins if b.state is not None}
    handles = [Patch(facecolor=colors[k], edgecolor="0.5",
                     label=f"ends at {state_label(fm.names, fixed[i].shares)} "
                           f"({100 * shares.get(id(fixed[i]), 0):.0f}% of starts)")
               for k, i in enumerate(stable_idx)]
    if np.any(lab < 0):
        handles.append(Patch(facecolor="white", edgecolor="0.5", label="no stable state reached"))
    from matplotlib.lines import Line2D
    handles += [Line2D([], [], ls="", marker="o", mfc="k", mec="k", label="stable fixed point"),
                Line2D([], [], ls="", marker="o", mfc="white", mec="k", label="unstable fixed point"),
                Line2D([], [], ls="", marker="*", ms=14, mfc="gold", mec="k", label="scenario's start")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    path = _save(fig, path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- edge flow

def plot_edge_flow(a, path: Path, n: int = 401) -> Path | None:
    """s'_f − s_f along the edge from all-(first strategy) to all-(focus): the 1-D flow.

    Positive: the focus strategy's share grows there. Zeros are the fixed points on the
    edge; the arrows on the axis show the direction of motion.
    """
    fm = a.map
    if fm.Kc < 2:
        return None
    plt = _plt(path)
    f = a.focus
    o = 0 if f != 0 else 1
    x = np.linspace(0, 1, n)                                   # share of the focus strategy on the edge
    Y = np.zeros((n, fm.Kc))
    Y[:, o], Y[:, f] = 1 - x, x
    d = fm(Y)[:, f] - x
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(x, d, "-", color="tab:purple", lw=2, label=f"{fm.names[f]}'s change per round, s' − s")
    ax.axhline(0, color="0.3", lw=0.8)
    for fp in a.fixed_points:
        if fp.shares[o] + fp.shares[f] > 1 - 1e-9:
            ax.plot(fp.shares[f], 0, "o", ms=8, mfc="k" if fp.stable else "white", mec="k", zorder=5, clip_on=False)
    ax.plot([], [], "o", ls="", mfc="k", mec="k", label="stable fixed point")
    ax.plot([], [], "o", ls="", mfc="white", mec="k", label="unstable fixed point")
    tot = a.start[o] + a.start[f]
    if tot > 0:
        xs = a.start[f] / tot
        ax.axvline(xs, color="goldenrod", lw=1.5, ls="--",
                   label=f"start, projected: {fm.names[f]}/({fm.names[o]}+{fm.names[f]}) = {xs:.2f}")
    span = max(np.abs(d).max(), 1e-12)
    for xi in np.linspace(0.05, 0.95, 10):                     # flow direction arrows on the axis
        di = np.interp(xi, x, d)
        if abs(di) > 1e-3 * span:
            ax.annotate("", xy=(xi + 0.025 * np.sign(di), 0), xytext=(xi - 0.025 * np.sign(di), 0),
                        arrowprops={"arrowstyle": "->", "color": "0.3"})
    note = " (kappa > 0: the edge is not invariant)" if a.map.scn.update.kappa > 0 else ""
    ax.set(xlabel=f"share of {fm.names[f]} on the {fm.names[o]}–{fm.names[f]} edge (the rest is {fm.names[o]})",
           ylabel=f"change in {fm.names[f]}'s share per round", xlim=(0, 1),
           title=f"{a.scenario}: flow on the {fm.names[o]}–{fm.names[f]} edge{note}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    path = _save(fig, path)
    plt.close(fig)
    return path


def write_plots(a, folder: Path) -> list[Path]:
    """All figures of an analysis into ``folder``; returns the files written."""
    folder = Path(folder)
    out = [plot_basins(a, folder / "basins.png"), plot_edge_flow(a, folder / "edge_flow.png")]
    if a.bifurcation is not None:
        out.append(plot_bifurcation(a, folder / "bifurcation.png"))
    return [p for p in out if p is not None]
