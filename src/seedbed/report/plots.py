"""Plots that read only the tidy metrics (and sweep tables), never a model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from seedbed.results.metrics import BOUNDED, UNIT, mean_ci, series


def _plt(where: Path):
    """pyplot on the Agg backend. Unless the user set MPLCONFIGDIR, matplotlib's cache goes
    inside the output folder of ``where`` (a figure's path): nothing is written elsewhere."""
    where = Path(where)
    folder = where.parent if where.suffix else where
    if folder.name == "plots":
        folder = folder.parent
    os.environ.setdefault("MPLCONFIGDIR", str(folder.resolve() / ".mpl"))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update(STYLE)
    return plt


# One figure style for every plot seedbed draws (run reports, sweeps, analyses, Krueger, grading).
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.frameon": False, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.6, "figure.dpi": 110,
    "savefig.dpi": 110, "image.cmap": "viridis",
}
MARKERS = "osD^vPX*"       # one per strategy, so curves that overlap stay distinguishable


# Readable axis labels for config keys and metrics (one figure style across the package).
LABELS = {
    "judge.bonus": "correction bonus", "judge.base": "base reward", "judge.alpha": "SCoRe shaping α",
    "judge.gamma": "turn-2 weight γ", "judge.pen_ignore": "penalty for an ignored mistake",
    "judge.pen_false": "penalty for a false correction", "judge.d_mistake": "P(judge notices a mistake)",
    "prompts.phi": "self-written prompt fraction φ", "prompts.rho": "persona persistence ρ",
    "prompts.m0": "fresh prompts with a mistaken answer m0", "selection.rule": "selection rule",
    "selection.n": "responses per prompt n", "selection.q": "kept fraction q", "selection.tau": "threshold τ",
    "update.eta": "update step η", "update.kappa": "anchor κ", "population.interval": "PBT interval (rounds)",
    "reward/mean": "mean judge reward", "prompt/mistake_rate": "P(prompt carries a mistake)",
    "kept/fraction": "kept fraction", "behaviour/err_train": "first-turn error (training)",
    "behaviour/err_deploy": "first-turn error (deployment)",
}


def label(key: str) -> str:
    """A readable label for a config key or metric (strategies by name: 'B's share')."""
    if key in LABELS:
        return LABELS[key]
    parts = key.split(".")
    if key.startswith("share/"):
        return f"{key[6:]}'s share"
    if key.startswith("keep/"):
        return f"kept fraction of {key[5:]}"
    if len(parts) == 3 and parts[0] == "strategies":
        return f"{parts[1]}'s {parts[2].replace('_', ' ')}"
    return key


def final_label(metric: str) -> str:
    """'B's final share' for share/B, else 'final <label>' (axis and colour-bar labels of sweeps)."""
    if metric.startswith("share/"):
        return f"{metric[6:]}'s final share"
    return f"final {label(metric)}"


def legend_outside(ax, **kw):
    """The legend to the right of the axes, where it cannot cover data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **kw)


def band_note(table: pa.Table) -> str | None:
    """What a band is, for a legend title: '95% band over N seeds' (None for one seed: no band)."""
    n = len(pa.compute.unique(table["seed"])) if table.num_rows else 0
    return f"band: 95% t-interval\nover {n} seeds" if n > 1 else None


def _band(table: pa.Table, metric: str, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Rounds, mean, lower and upper 95% band over seeds of one metric."""
    by_seed = series(table, metric, arm)
    if not by_seed:
        return None
    rounds = next(iter(by_seed.values()))[0]
    vals = np.stack([v for _, v in by_seed.values()])            # (seeds, rounds)
    bounds = UNIT if metric.startswith(BOUNDED) else None
    stats = np.array([mean_ci(vals[:, i], bounds=bounds) for i in range(vals.shape[1])])
    lo, hi = stats[:, 1], stats[:, 2]
    one = ~np.isfinite(lo)                                       # one seed: no band
    lo[one], hi[one] = stats[one, 0], stats[one, 0]
    return rounds, stats[:, 0], lo, hi


def _save(fig, path: Path) -> Path:
    from seedbed.results.writing import atomic_write
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight",
                                             metadata={"Software": None}))
    return path


def plot_shares(table: pa.Table, names: list[str], path: Path, title: str = "") -> Path:
    """Strategy shares per round: scenario solid, control dashed, 95% band over seeds (clipped
    to [0, 1]). Strategies whose curves coincide in both arms are drawn once and labelled
    together ("C = D"), so none hides under another. The legend sits outside the axes."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups: list[tuple[list[str], dict]] = []
    for name in names:
        bands = {arm: _band(table, f"share/{name}", arm) for arm in ("scenario", "control")}
        same = next((g for g in groups if all(_same(g[1][a], bands[a]) for a in bands)), None)
        if same is not None:
            same[0].append(name)
        else:
            groups.append(([name], bands))
    for k, (members, bands) in enumerate(groups):
        who = " = ".join(members)
        for arm, style in (("scenario", "-"), ("control", "--")):
            b = bands[arm]
            if b is None:
                continue
            r, m, lo, hi = b
            every = max(1, len(r) // 8)            # markers staggered per strategy: overlapping curves stay visible
            ax.plot(r, m, style, color=colors[k % len(colors)], marker=MARKERS[k % len(MARKERS)], ms=4,
                    markevery=(k * every // max(1, len(groups)), every), label=f"{who} ({arm})")
            if np.any(hi > lo):
                ax.fill_between(r, lo, hi, color=colors[k % len(colors)], alpha=0.2)
    ax.set(xlabel="round", ylabel="share of the policy", ylim=(-0.02, 1.02), title=title or "Strategy shares")
    legend_outside(ax, fontsize=7, title=band_note(table), title_fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a[1]) == len(b[1]) and bool(np.allclose(a[1], b[1], atol=1e-12))


def _draw_arms(ax, table: pa.Table, metric: str, unit: bool = False) -> None:
    """A metric per round on ``ax``: scenario solid, control dashed, 95% band over seeds
    (clipped to [0, 1] when ``unit``: rates and shares)."""
    for arm, style, color in (("scenario", "-", "C0"), ("control", "--", "C1")):
        b = _band(table, metric, arm)
        if b is None:
            continue
        r, m, lo, hi = b
        if unit:
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        ax.plot(r, m, style, color=color, label=arm)
        if np.any(hi > lo):
            ax.fill_between(r, lo, hi, color=color, alpha=0.2)


def plot_metric(table: pa.Table, metric: str, path: Path, ylabel: str, title: str) -> Path:
    """One metric per round, scenario vs control."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _draw_arms(ax, table, metric)
    ax.set(xlabel="round", ylabel=ylabel, title=title)
    legend_outside(ax, title=band_note(table), title_fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_heatmap(x: np.ndarray, y: np.ndarray, z: np.ndarray, xlabel: str, ylabel: str, zlabel: str,
                 path: Path, title: str = "") -> Path:
    """z[i, j] at (x[i], y[j]) as a heat map with x across and y up. Shares and rates use the
    fixed range [0, 1] (ticks 0 to 1), and the 0.5 contour is drawn as the phase boundary.

    A coarse axis (at most ``COARSE`` values) is drawn as equal cells labelled with their
    values, so the axis never shows values outside the grid; when both are coarse, every
    cell carries its value."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.grid(False)
    unit = bool(np.nanmin(z) >= 0 and np.nanmax(z) <= 1)
    x, y = np.asarray(x, float), np.asarray(y, float)
    cx, cy = len(x) <= COARSE, len(y) <= COARSE
    px = np.arange(len(x), dtype=float) if cx else x          # where each column / row is drawn
    py = np.arange(len(y), dtype=float) if cy else y
    mesh = ax.pcolormesh(px, py, z.T, shading="nearest", cmap="viridis", vmin=0 if unit else None,
                         vmax=1 if unit else None)
    cb = fig.colorbar(mesh, ax=ax, label=zlabel)
    if unit:
        cb.set_ticks([0, 0.25, 0.5, 0.75, 1])
        crosses = len(x) > 1 and len(y) > 1 and np.nanmin(z) < 0.5 < np.nanmax(z)
        if crosses and cx and cy:
            _cell_boundary(ax, z)             # coarse grid: the edges between cells on either side of 0.5
        elif crosses:
            ax.contour(px, py, z.T, levels=[0.5], colors="white", linewidths=1.5)
        if crosses:
            cb.ax.axhline(0.5, color="white", lw=1.5)
            cb.set_label(f"{zlabel}\n(white line: 0.5, the phase boundary)")
    if cx:
        ax.set_xticks(px, [f"{v:g}" for v in x])
    if cy:
        ax.set_yticks(py, [f"{v:g}" for v in y])
    if cx and cy:
        for i in range(len(x)):
            for j in range(len(y)):
                if np.isfinite(z[i, j]):
                    dark = unit and z[i, j] < 0.6
                    ax.text(px[i], py[j], f"{z[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or zlabel)
    path = _save(fig, path)
    plt.close(fig)
    return path


COARSE = 12     # a heat-map axis with at most this many values is drawn as labelled cells


def _cell_boundary(ax, z: np.ndarray) -> None:
    """White lines along the cell edges that separate values at or above 0.5 from those below
    (cells at integer positions): the phase boundary of a coarse grid, without interpolation."""
    above = z >= 0.5
    nx, ny = z.shape
    for i in range(nx):
        for j in range(ny):
            if i + 1 < nx and above[i, j] != above[i + 1, j]:
                ax.plot([i + 0.5, i + 0.5], [j - 0.5, j + 0.5], color="white", lw=2)
            if j + 1 < ny and above[i, j] != above[i, j + 1]:
                ax.plot([i - 0.5, i + 0.5], [j + 0.5, j + 0.5], color="white", lw=2)


def plot_lineage(events: list[dict], path: Path) -> Path:
    """Who copied whom in the scenario arm: one panel per seed (up to ``LINEAGE_SEEDS``), one
    row per member, an arrow from parent (dot) to child (head) at each exploit, coloured by
    the parent's fitness on one scale for all panels."""
    plt = _plt(path)
    ex_all = [e for e in events if e["event"] == "exploit" and e["arm"] == "scenario"]
    members = sorted({e["member"] for e in events if e["event"] == "init" and e["arm"] == "scenario"})
    seeds = list(dict.fromkeys(e["seed"] for e in events if e["event"] == "init" and e["arm"] == "scenario"))
    shown = seeds[:LINEAGE_SEEDS] or [None]
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 0.9 + (0.6 + 0.18 * len(members)) * len(shown)),
                             sharex=True, squeeze=False, layout="constrained")
    axes = axes[:, 0]
    last = max([e["round"] for e in ex_all] or [1])
    cmap = plt.get_cmap("viridis")
    fit = np.array([e["parent_fitness"] for e in ex_all]) if ex_all else np.zeros(1)
    norm = plt.Normalize(fit.min(), fit.max() if fit.max() > fit.min() else fit.min() + 1)
    for ax, seed in zip(axes, shown):
        ax.grid(False)
        ex = [e for e in ex_all if e["seed"] == seed]
        for m in members:
            ax.plot([0, last], [m, m], color="0.88", lw=1, zorder=0)
        for e in ex:
            color = cmap(norm(e["parent_fitness"]))
            ax.plot(e["round"] - 0.6, e["parent"], "o", ms=2.5, color=color, zorder=2)
            ax.annotate("", xy=(e["round"], e["member"]), xytext=(e["round"] - 0.6, e["parent"]),
                        arrowprops=dict(arrowstyle="->", color=color, lw=1, shrinkA=0, shrinkB=0))
        ax.set_yticks(members, [str(m) for m in members] if len(members) <= 8 else None)
        ax.set_ylim(min(members, default=0) - 0.5, max(members, default=0) + 0.5)
        ax.set_ylabel("member")
        ax.set_title(f"seed {seed}: {len(ex)} exploit events" if seed is not None else "no population members",
                     fontsize=8, loc="left")
    axes[-1].set_xlabel("round")
    more = f" (first {len(shown)} of {len(seeds)} seeds)" if len(seeds) > len(shown) else ""
    fig.suptitle(f"PBT exploit events, scenario arm{more}\n"
                 "arrow: at that round the member at the head (child) copied the weights and settings of the "
                 "member at the dot (parent), then perturbed them", fontsize=8)
    if ex_all:
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="parent fitness (mean reward)",
                     fraction=0.04, pad=0.02)
    path = _save(fig, path)
    plt.close(fig)
    return path


LINEAGE_SEEDS = 6       # panels in a lineage plot


def plot_panels(table: pa.Table, metrics: list[tuple[str, str]], path: Path, title: str) -> Path:
    """One small panel per metric, scenario solid and control dashed, 95% band over seeds."""
    plt = _plt(path)
    cols = 3
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3 * rows), squeeze=False)
    for ax, (metric, label) in zip(axes.ravel(), metrics):
        _draw_arms(ax, table, metric, unit=True)
        ax.set(title=label, xlabel="round", ylim=(-0.02, 1.02))
    for ax in axes.ravel()[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), borderaxespad=0,   # outside the panels
               title=band_note(table), title_fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path


# the predictions of the seeding rate a neural run carries: (metric in prediction.parquet, label, line style)
SEEDING_PREDICTIONS = (("behaviour/err_deploy", "persona model", ":"), ("coupled/err_deploy", "coupled", "--"),
                       ("traits/err_deploy", "trait by trait", "-."))


def plot_seeding_prediction(table: pa.Table, prediction: pa.Table, path: Path) -> Path | None:
    """The measured seeding rate (first-turn error, with band) per arm against each prediction
    of it the run holds, anchored at the measured start as the report's table is (None: no
    prediction of it)."""
    plt = _plt(path)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    drawn = False
    for ax, arm in zip(axes, ("scenario", "control")):
        b = _band(table, "behaviour/err_deploy", arm)
        if b is None:
            continue
        r, m, lo, hi = b
        ax.plot(r, m, "-", color="k", label="measured")
        if np.any(hi > lo):
            ax.fill_between(r, np.clip(lo, 0, 1), np.clip(hi, 0, 1), color="k", alpha=0.15)
        for metric, label, style in SEEDING_PREDICTIONS:
            p = _band(prediction, metric, arm)
            if p is None:
                continue
            shifted = np.clip(p[1] - p[1][0] + m[0], 0.0, 1.0) if p[0][0] == 0 and r[0] == 0 else p[1]
            ax.plot(p[0], shifted, style, lw=2, label=label)
            drawn = True
        ax.set(xlabel="round", title=arm, ylim=(-0.02, 1.02) if np.nanmax(m) > 0.5 else (-0.01, 0.51))
    axes[0].set_ylabel("seeding rate (first-turn error)")
    legend_outside(axes[1], title=band_note(table), title_fontsize=7)
    if not drawn:
        plt.close(fig)
        return None
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_prediction(table: pa.Table, prediction: pa.Table, name: str, path: Path) -> Path:
    """A strategy's measured share (neural, with band) against the mean-field prediction."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for arm, color in (("scenario", "C0"), ("control", "C1")):
        b = _band(table, f"share/{name}", arm)
        if b is not None:
            r, m, lo, hi = b
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
            ax.plot(r, m, "-", color=color, label=f"{arm}: measured")
            if np.any(hi > lo):
                ax.fill_between(r, lo, hi, color=color, alpha=0.2)
        p = _band(prediction, f"share/{name}", arm)
        if p is not None:
            ax.plot(p[0], p[1], ":", color=color, lw=2, label=f"{arm}: mean-field prediction")
    ax.set(xlabel="round", ylabel=f"share of {name}", ylim=(-0.02, 1.02), title=f"{name}: neural measurement vs mean-field")
    legend_outside(ax, title=band_note(table), title_fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path
