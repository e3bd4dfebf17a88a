"""Figures of ``seedbed analyze``: bifurcation diagram, basin map, edge flow.

They draw only what the analysis wrote: ``analysis.json`` (fixed points, stability, basins,
the bifurcation sweep) and ``figures.json`` beside it (the basin map's cells and the edge
flow, :mod:`seedbed.analyses.dynamics.figures`); nothing here iterates the map. All axes are
shares of the policy (fractions in [0, 1]) or per-round factors; legends sit outside the
axes so they never cover data; the scenario's start is always marked.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

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


def _shares(d: dict[str, float], names: list[str]) -> np.ndarray:
    return np.array([d[n] for n in names], dtype=float)


def _point(fp: dict[str, Any], names: list[str]) -> SimpleNamespace:
    """A fixed point as the figures use it: shares (array), stable, support."""
    s = _shares(fp["shares"], names)
    return SimpleNamespace(shares=s, stable=bool(fp["stable"]), support=tuple(int(i) for i in np.flatnonzero(s > 1e-12)))


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


def plot_bifurcation(data: dict[str, Any], path: Path) -> Path:
    """Top: the focus strategy's share at each fixed point against the parameter; stable
    branches solid, unstable dashed. Bottom: its invasion factor into the others' resident
    state (> 1: a rare focus strategy grows). From analysis.json's ``bifurcation``."""
    plt = _plt(path)
    b = data["bifurcation"]
    names = b["strategies"]
    fname = data["focus"]
    f = names.index(fname)
    values = [float(v) for v in b["values"]]
    fixed: list[list[SimpleNamespace]] = [[] for _ in values]
    for fp in b["fixed_points"]:
        fixed[values.index(float(fp["value"]))].append(_point(fp, names))
    b = SimpleNamespace(key=b["param"], values=np.array(values), fixed=fixed, current=b["current"],
                        focus_invasion=np.array([r["factor"] for r in b["focus_invasion"]]))
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
           title=f"{data['scenario']}: fixed points along {label(b.key)}")
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

def plot_basins(data: dict[str, Any], cells: dict[str, Any] | None, path: Path) -> Path | None:
    """Where iterating the map ends, coloured by stable state, over a map of starts
    (figures.json's ``basin_map``: its layout, cells and coordinates).

    Three classes: a ternary plot of the whole simplex (corners = pure strategies).
    More: the slice with (first strategy, focus) shares on the axes and the rest split
    in the start's proportions. Two: the segment, as a strip. Fixed points: filled
    (stable) or open (unstable) circles; the scenario's start: a star.
    """
    if cells is None:
        return None
    plt = _plt(path)
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.tri import Triangulation

    names = data["strategies"]
    fixed = [_point(fp, names) for fp in data["fixed_points"]]
    stable_idx = [i for i, fp in enumerate(fixed) if fp.stable]
    palette = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#d9d9d9", "#c7e9c0", "#fdd0a2"]
    colors = [palette[k % len(palette)] for k in range(len(stable_idx))] + ["#ffffff"]
    cmap = ListedColormap(colors)
    lab_to_col = {i: k for k, i in enumerate(stable_idx)}
    lab = np.array(cells["ends_at"])
    col = np.array([lab_to_col.get(int(x), len(stable_idx)) for x in lab])
    layout, other, focus = cells["layout"], cells["other"], cells["focus"]

    fig, ax = plt.subplots(figsize=(6.4, 5.6) if layout != "strip" else (7, 2.2))
    if layout != "strip":
        xy = np.array(cells["vertices"])
        tri = Triangulation(xy[:, 0], xy[:, 1], np.array(cells["triangles"]))
        ax.tripcolor(tri, facecolors=col, cmap=cmap, vmin=-0.5, vmax=len(colors) - 0.5, edgecolors="face",
                     linewidth=0.3, antialiased=False)
        if layout == "ternary":
            corners = np.array([[0, 0], [1, 0], [0.5, SQ3], [0, 0]])
            ax.plot(corners[:, 0], corners[:, 1], "k-", lw=1)
            for k, (cx, cy, ha, va) in enumerate([(0, 0, "right", "top"), (1, 0, "left", "top"),
                                                  (0.5, SQ3, "center", "bottom")]):
                ax.text(cx, cy, f" all {names[k]} ", ha=ha, va=va, fontsize=10)
            ax.set_aspect("equal")
            ax.axis("off")
            ax.set_title(f"{data['scenario']}: basins of attraction (ternary: shares of {', '.join(names)})")
        else:
            ax.set(xlabel=f"share of {other}", ylabel=f"share of {focus}", xlim=(0, 1), ylim=(0, 1),
                   aspect="equal",
                   title=f"{data['scenario']}: basins, slice with the other {cells['rest']} strategies\n"
                         "split in the start's proportions")
    else:                                                              # two classes: a strip
        ax.pcolormesh(np.array(cells["edges"]), [0, 1], col[None], cmap=cmap, vmin=-0.5, vmax=len(colors) - 0.5)
        ax.set(xlabel=f"share of {focus} (the rest: {other})", yticks=[], xlim=(0, 1), ylim=(0, 1),
               title=f"{data['scenario']}: basins of attraction on the {other}–{focus} segment")
    for fp, at in zip(fixed, cells["fixed_xy"]):
        if at is None:
            continue                                                   # not in the slice
        ax.plot(at[0], at[1], "o", ms=8, mfc="k" if fp.stable else "white", mec="k", zorder=5, clip_on=False)
    sx, sy = cells["start_xy"]
    ax.plot(sx, sy, "*", ms=16, mfc="gold", mec="k", zorder=6, clip_on=False)
    shares = {json.dumps(b["state"], sort_keys=True): b["share"] for b in data["basins"] if b["state"] is not None}
    handles = [Patch(facecolor=colors[k], edgecolor="0.5",
                     label=f"ends at {state_label(names, fixed[i].shares)} "
                           f"({100 * shares.get(json.dumps(data['fixed_points'][i]['shares'], sort_keys=True), 0):.0f}% "
                           "of starts)")
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

def plot_edge_flow(data: dict[str, Any], flow: dict[str, Any] | None, path: Path) -> Path | None:
    """s'_f − s_f along the edge from all-(first strategy) to all-(focus): the 1-D flow
    (figures.json's ``edge_flow``).

    Positive: the focus strategy's share grows there. Zeros are the fixed points on the
    edge; the arrows on the axis show the direction of motion.
    """
    if flow is None:
        return None
    plt = _plt(path)
    names = data["strategies"]
    o_name, f_name = flow["other"], flow["focus"]
    f = names.index(f_name)
    x, d = np.array(flow["x"]), np.array(flow["change"])
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(x, d, "-", color="tab:purple", lw=2, label=f"{f_name}'s change per round, s' − s")
    ax.axhline(0, color="0.3", lw=0.8)
    for fp, on in zip((_point(p, names) for p in data["fixed_points"]), flow["on_edge"]):
        if on:
            ax.plot(fp.shares[f], 0, "o", ms=8, mfc="k" if fp.stable else "white", mec="k", zorder=5, clip_on=False)
    ax.plot([], [], "o", ls="", mfc="k", mec="k", label="stable fixed point")
    ax.plot([], [], "o", ls="", mfc="white", mec="k", label="unstable fixed point")
    xs = flow["start_projected"]
    if xs is not None:
        ax.axvline(xs, color="goldenrod", lw=1.5, ls="--",
                   label=f"start, projected: {f_name}/({o_name}+{f_name}) = {xs:.2f}")
    span = max(np.abs(d).max(), 1e-12)
    for xi in np.linspace(0.05, 0.95, 10):                     # flow direction arrows on the axis
        di = np.interp(xi, x, d)
        if abs(di) > 1e-3 * span:
            ax.annotate("", xy=(xi + 0.025 * np.sign(di), 0), xytext=(xi - 0.025 * np.sign(di), 0),
                        arrowprops={"arrowstyle": "->", "color": "0.3"})
    note = " (kappa > 0: the edge is not invariant)" if flow["kappa"] > 0 else ""
    ax.set(xlabel=f"share of {f_name} on the {o_name}–{f_name} edge (the rest is {o_name})",
           ylabel=f"change in {f_name}'s share per round", xlim=(0, 1),
           title=f"{data['scenario']}: flow on the {o_name}–{f_name} edge{note}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    path = _save(fig, path)
    plt.close(fig)
    return path


def write_plots(folder: Path) -> list[Path]:
    """All figures of the analysis in ``folder`` (its analysis.json and figures.json) into
    ``folder``; returns the files written."""
    folder = Path(folder)
    data = json.loads((folder / "analysis.json").read_text())
    figs = json.loads((folder / "figures.json").read_text())
    out = [plot_basins(data, figs.get("basin_map"), folder / "basins.png"),
           plot_edge_flow(data, figs.get("edge_flow"), folder / "edge_flow.png")]
    if data.get("bifurcation") is not None:
        out.append(plot_bifurcation(data, folder / "bifurcation.png"))
    return [p for p in out if p is not None]
