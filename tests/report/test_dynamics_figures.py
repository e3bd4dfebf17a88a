"""The analysis figures are drawn from the files the analysis wrote (analysis.json and
figures.json) and compute nothing: redrawn with the mean-field map made unusable, they are
the same figures."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seedbed.cli import app


def test_the_figures_redraw_from_the_files_alone(tmp_path, monkeypatch):
    out = tmp_path / "an"
    r = CliRunner().invoke(app, ["analyze", "seed", "--param", "prompts.phi=linspace(0,1,5)", "--samples", "64",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    figs = json.loads((out / "figures.json").read_text())
    cells = figs["basin_map"]
    assert cells["layout"] == "ternary" and len(cells["ends_at"]) == len(cells["triangles"]) == 40 * 40
    data = json.loads((out / "analysis.json").read_text())
    assert set(cells["ends_at"]) <= set(range(len(data["fixed_points"]))) | {-1}
    first = {p: (out / p).read_bytes() for p in ("basins.png", "edge_flow.png", "bifurcation.png")}

    import seedbed.analyses.dynamics.basins as basins
    import seedbed.analyses.dynamics.shares_map as shares_map

    def computes(*a, **k):
        raise AssertionError("a figure computed something")

    monkeypatch.setattr(basins, "end_states", computes)
    monkeypatch.setattr(shares_map.SharesMap, "__call__", computes)
    from seedbed.report.dynamics import write_plots

    for p in first:
        (out / p).unlink()
    written = write_plots(out)
    assert sorted(p.name for p in written) == sorted(first)
    for p, png in first.items():
        assert (out / p).read_bytes() == png, p                # the same figure, from the files alone


def test_a_figure_names_what_it_shows(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "an"
    assert CliRunner().invoke(app, ["analyze", "seed", "--samples", "32", "--out", str(out)]).exit_code == 0
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from seedbed.report import dynamics

    captured = []
    orig = dynamics._save
    dynamics._save = lambda fig, path: (captured.append(fig), orig(fig, path))[1]
    try:
        dynamics.write_plots(out)
    finally:
        dynamics._save = orig
    titles = [ax.get_title() for fig in captured for ax in fig.axes]
    assert any("basins of attraction" in t for t in titles) and any("flow on the A–B edge" in t for t in titles)
    labels = [t.get_text() for fig in captured for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any(lab.startswith("ends at all A") for lab in labels) and "scenario's start" in labels
    plt.close("all")


def test_the_figures_need_no_analysis_code(tmp_path):
    """Redrawn in a fresh interpreter where seedbed.analyses cannot be imported at all, from
    the two files alone: the same PNGs. figures.json says what each of its arrays is."""
    import subprocess
    import sys

    out = tmp_path / "an"
    r = CliRunner().invoke(app, ["analyze", "seed", "--param", "prompts.phi=linspace(0,1,3)", "--samples", "32",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    figs = json.loads((out / "figures.json").read_text())
    for part in ("basin_map", "edge_flow"):
        assert part in figs["about"] and {f"{part}.{k}" for k in figs[part]} <= set(figs["about"])
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert sorted(first) == ["basins.png", "bifurcation.png", "edge_flow.png"]
    redraw = tmp_path / "redraw"
    redraw.mkdir()
    for name in ("analysis.json", "figures.json"):
        (redraw / name).write_bytes((out / name).read_bytes())
    code = ("import sys; sys.modules['seedbed.analyses'] = None\n"
            "from pathlib import Path\nfrom seedbed.report.dynamics import write_plots\n"
            f"write_plots(Path({str(redraw)!r}))\n"
            "assert not any(m.startswith('seedbed.analyses') for m in sys.modules if sys.modules[m] is not None)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**__import__("os").environ, "MPLCONFIGDIR": str(tmp_path / ".mpl")})
    assert p.returncode == 0, p.stderr
    assert {q.name: q.read_bytes() for q in redraw.glob("*.png")} == first
