"""The figures' content, checked on the matplotlib objects before they are saved: labels,
phase boundaries, bands within range, legends outside the axes, every seed shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seedbed.report import plots
from seedbed.results.metrics import Rows


@pytest.fixture
def figures(monkeypatch):
    """Collect the figures the plot functions save (and still write them)."""
    kept = []
    save = plots._save

    def keep(fig, path):
        kept.append(fig)
        return save(fig, path)
    monkeypatch.setattr(plots, "_save", keep)
    return kept


def _legend_outside(ax) -> bool:
    leg = ax.get_legend() or ax.figure.legends[0]
    fig = ax.figure
    fig.canvas.draw()
    return leg.get_window_extent().x0 >= ax.get_window_extent().x1


def test_coarse_heatmap_stays_within_its_grid_and_draws_the_boundary_between_cells(tmp_path, figures):
    x, y = np.linspace(0, 2, 9), np.array([0.0, 0.5, 1.0])
    z = np.where((x[:, None] >= 1) & (y[None, :] == 1), 1.0, 0.0)
    plots.plot_heatmap(x, y, z, plots.label("judge.bonus"), plots.label("prompts.phi"), plots.final_label("share/B"),
                       tmp_path / "h.png")
    ax, cax = figures[0].axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5", "1"]
    lo, hi = ax.get_ylim()
    assert lo >= -0.5 and hi <= 2.5                          # no axis value outside the grid (was −0.25 to 1.25)
    assert ax.get_xlabel() == "correction bonus" and ax.get_ylabel() == "self-written prompt fraction φ"
    assert 0.0 in list(cax.get_yticks()) and "phase boundary" in cax.get_ylabel()
    white = [ln for ln in ax.lines if ln.get_color() == "white"]
    assert len(white) == 5 + 1                                # 5 cells' top edges + the step at bonus 1
    assert len(ax.texts) == 27                                # every cell carries its value


def _rows(values: dict[tuple[str, str], np.ndarray], seeds: int = 3) -> Rows:
    rows = Rows()
    rng = np.random.default_rng(0)
    for (arm, metric), v in values.items():
        for s in range(seeds):
            rows.add(arm, s, np.arange(len(v)), 0, metric, np.clip(v + rng.normal(0, 0.2, len(v)), 0, 1))
    return rows


def test_share_plot_keeps_overlapping_strategies_visible_and_bands_in_range(tmp_path, figures):
    t = np.linspace(0, 1, 30)
    rows = _rows({(arm, f"share/{n}"): v for arm in ("scenario", "control")
                  for n, v in (("A", 1 - t), ("B", t * 0.5), ("C", 0.02 + 0 * t), ("D", 0.02 + 0 * t))})
    plots.plot_shares(rows.table(), list("ABCD"), tmp_path / "s.png")
    ax = figures[0].axes[0]
    by = {ln.get_label(): ln for ln in ax.lines}
    assert by["C (scenario)"].get_marker() != by["D (scenario)"].get_marker()         # C not hidden under D
    assert by["C (scenario)"].get_markevery() != by["D (scenario)"].get_markevery()
    for poly in ax.collections:                                                        # 95% bands within [0, 1]
        ys = np.concatenate([p.vertices[:, 1] for p in poly.get_paths()])
        assert ys.min() >= 0 and ys.max() <= 1
    assert _legend_outside(ax) and "3 seeds" in ax.get_legend().get_title().get_text()


def test_lineage_plot_shows_every_seed(tmp_path, figures):
    events = [{"event": "init", "arm": "scenario", "seed": s, "round": 0, "member": m} for s in (11, 12, 13)
              for m in range(4)]
    events += [{"event": "exploit", "arm": "scenario", "seed": s, "round": r, "member": 0, "parent": 3,
                "member_fitness": 0.5, "parent_fitness": 1.0 + r / 10} for s in (11, 12, 13) for r in (2, 4)]
    plots.plot_lineage(events, tmp_path / "l.png")
    panels = [ax for ax in figures[0].axes if ax.get_ylabel() == "member"]
    assert [ax.get_title(loc="left") for ax in panels] == [f"seed {s}: 2 exploit events" for s in (11, 12, 13)]
    assert "parent" in figures[0]._suptitle.get_text() and "child" in figures[0]._suptitle.get_text()


def test_sweep_of_a_rule_by_phi_draws_one_line_per_rule_over_phi(tmp_path, figures):
    import seedbed
    from seedbed.core.config import load_scenario

    scn = load_scenario("seed", {"rounds": 10})
    seedbed.sweep(scn, {"selection.rule": ["threshold", "best_of_n", "top_fraction"],
                        "prompts.phi": list(np.linspace(0, 1, 11))}, out=tmp_path / "sw", workers=1)
    ax = figures[-1].axes[0]
    assert ax.get_xlabel() == "self-written prompt fraction φ" and ax.get_ylabel() == "B's final share"
    assert sorted(ln.get_label() for ln in ax.lines) == [f"selection rule = {r}" for r in
                                                         ("best_of_n", "threshold", "top_fraction")]
    assert all(len(ln.get_xdata()) == 11 for ln in ax.lines)
    assert _legend_outside(ax)
