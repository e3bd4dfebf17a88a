"""Plots that read only the tidy metrics (and sweep tables), never a model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from .metrics import BOUNDED, UNIT, mean_ci, series


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
    return plt


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
    if len(parts) == 3 and parts[0] == "strategies":
        return f"{parts[1]}'s {parts[2].replace('_', ' ')}"
    return key


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
    from .rundir import atomic_write
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
            ax.plot(r, m, style, color=colors[k % len(colors)], label=f"{who} ({arm})")
            if np.any(hi > lo):
                ax.fill_between(r, lo, hi, color=colors[k % len(colors)], alpha=0.2)
    ax.set(xlabel="round", ylabel="share of the policy", ylim=(-0.02, 1.02), title=title or "Strategy shares")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
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
    for arm, style in (("scenario", "-"), ("control", "--")):
        b = _band(table, metric, arm)
        if b is None:
            continue
        r, m, lo, hi = b
        if unit:
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        ax.plot(r, m, style, label=arm)
        if np.any(hi > lo):
            ax.fill_between(r, lo, hi, alpha=0.2)


def plot_metric(table: pa.Table, metric: str, path: Path, ylabel: str, title: str) -> Path:
    """One metric per round, scenario vs control."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _draw_arms(ax, table, metric)
    ax.set(xlabel="round", ylabel=ylabel, title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_heatmap(x: np.ndarray, y: np.ndarray, z: np.ndarray, xlabel: str, ylabel: str, zlabel: str,
                 path: Path, title: str = "") -> Path:
    """z[i, j] at (x[i], y[j]) as a heat map with x across and y up. Shares and rates use the
    fixed range [0, 1] (ticks 0 to 1), and the 0.5 contour is drawn as the phase boundary."""
    plt = _plt(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    unit = bool(np.nanmin(z) >= 0 and np.nanmax(z) <= 1)
    mesh = ax.pcolormesh(x, y, z.T, shading="nearest", cmap="viridis", vmin=0 if unit else None,
                         vmax=1 if unit else None)
    cb = fig.colorbar(mesh, ax=ax, label=zlabel)
    if unit:
        cb.set_ticks([0, 0.25, 0.5, 0.75, 1])
        if len(x) > 1 and len(y) > 1 and np.nanmin(z) < 0.5 < np.nanmax(z):
            cs = ax.contour(x, y, z.T, levels=[0.5], colors="white", linewidths=1.5)
            ax.clabel(cs, fmt={0.5: "0.5"}, fontsize=8)
            cb.ax.axhline(0.5, color="white", lw=1.5)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or zlabel)
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_lineage(events: list[dict], path: Path) -> Path:
    """Who copied whom: one row per member, a line from parent to child at each exploit
    (scenario arm, first seed), coloured by the parent's fitness."""
    plt = _plt(path)
    ex = [e for e in events if e["event"] == "exploit" and e["arm"] == "scenario"]
    seed = ex[0]["seed"] if ex else None
    ex = [e for e in ex if e["seed"] == seed]
    members = sorted({e["member"] for e in events if e["event"] == "init" and e["arm"] == "scenario"})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    rounds = [e["round"] for e in ex] or [0]
    for m in members:
        ax.plot([0, max(rounds)], [m, m], color="0.85", lw=1, zorder=0)
    if ex:
        fit = np.array([e["parent_fitness"] for e in ex])
        norm = plt.Normalize(fit.min(), fit.max() if fit.max() > fit.min() else fit.min() + 1)
        cmap = plt.get_cmap("viridis")
        for e in ex:
            ax.annotate("", xy=(e["round"], e["member"]), xytext=(e["round"] - 0.6, e["parent"]),
                        arrowprops=dict(arrowstyle="->", color=cmap(norm(e["parent_fitness"])), lw=1))
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, label="parent fitness (mean reward)")
    n_seeds = len({e["seed"] for e in events if e["event"] == "exploit" and e["arm"] == "scenario"})
    ax.set(xlabel="round", ylabel="member", yticks=members,
           title=f"Exploit events, scenario arm, seed {seed} (1 of {n_seeds} seeds with exploits)")
    fig.text(0.01, -0.04, "Each arrow: at that round the member at the arrow's head copied the weights and settings "
             "of its parent (tail), then perturbed them; colour: the parent's fitness.", fontsize=7)
    path = _save(fig, path)
    plt.close(fig)
    return path


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
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
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
    ax.legend(fontsize=8)
    path = _save(fig, path)
    plt.close(fig)
    return path
