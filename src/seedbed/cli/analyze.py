"""``seedbed analyze``: the command-line face of :func:`seedbed.analyses.dynamics.analyze`.

A plain function with typer annotations; ``cli.py`` registers it. User mistakes raise
:class:`~seedbed.core.schema.ScenarioError` (one line), which the CLI turns into exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from seedbed.core.schema import ScenarioError


def parse_param(spec: str) -> tuple[str, np.ndarray]:
    """``key=linspace(start,stop,num)`` (or the older ``key=start:stop:num``: inclusive, like
    numpy.linspace) or ``key=v1,v2,...`` → (key, values)."""
    from seedbed.sweeps import linspace_as_colons

    bad = (f"--param {spec!r}: expected key=linspace(start,stop,num) (e.g. prompts.phi=linspace(0,1,101)) or "
           "key=v1,v2,... with numbers")
    if "=" not in spec:
        raise ScenarioError(bad)
    key, text = (x.strip() for x in spec.split("=", 1))
    text = linspace_as_colons(text)
    if not key or not text:
        raise ScenarioError(bad)
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise ScenarioError(f"--param {spec!r}: num = {num} must be at least 1")
            values = np.linspace(start, stop, num)
        else:
            values = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ScenarioError(bad) from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ScenarioError(bad)
    return key, values


def _one_line(e: Exception) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip())


def _kind(names: list[str], y: np.ndarray) -> str:
    """A state's support: 'all B', or 'a mix of A, B' (for runs of a bifurcation summary)."""
    sup = [n for n, v in zip(names, y) if v > 1e-9]
    return f"all {sup[0]}" if len(sup) == 1 else f"a mix of {', '.join(sup)}"


def print_analysis(a, console) -> None:
    """Rich tables: fixed points, invasion factors (focus highlighted), basins, bifurcation summary."""
    from rich.markup import escape
    from rich.table import Table

    from seedbed.report.dynamics import state_label

    names, f = a.names, a.focus
    start = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, a.start))
    console.print(f"[bold]{a.scenario}[/]: strategies {', '.join(names)}; focus (seeder) [bold yellow]{names[f]}[/]; "
                  f"start: {start}")
    t = Table(title="Fixed points (shares)", title_justify="left", show_edge=False)
    for n in names:
        t.add_column(n, justify="right", style="bold yellow" if n == names[f] else None)
    for c in ("stability", "spectral radius", "eigenvalues"):
        t.add_column(c, justify="right" if c != "stability" else "left")
    for fp in a.fixed_points:
        st = "[green]stable[/]" if fp.stable else ("[yellow]marginal[/]" if fp.marginal else "[red]unstable[/]")
        eig = ", ".join(f"{e.real:.4f}" if abs(e.imag) < 1e-12 else f"{e.real:.3f}{e.imag:+.3f}i"
                        for e in fp.eigenvalues)
        t.add_row(*[f"{v:.4f}" for v in fp.shares], st, f"{fp.spectral_radius:.4f}", eig)
    console.print(t)
    if a.invasion:  # (none with a single strategy)
        t = Table(title="Invasion factors (rare column strategy in all-row; > 1 invades)", title_justify="left",
                  show_edge=False)
        t.add_column("resident \\ invader")
        for n in names:
            t.add_column(n, justify="right", style="bold yellow" if n == names[f] else None)
        rate = {(i.resident, i.invader): i for i in a.invasion}
        for r in range(len(names)):
            cells = []
            for j in range(len(names)):
                inv = rate.get((r, j))
                if inv is None:
                    cells.append("—")
                    continue
                txt = f"{inv.factor:.4f}"
                cells.append(f"[bold red]{txt}[/]" if inv.factor > 1 else txt)
            fixed = "" if a.vertex_fixed[r] else " (not fixed)"
            t.add_row(f"all {names[r]}{fixed}", *cells)
        console.print(t)
        verdict = "invades" if a.focus_invasion > 1 else "cannot invade"
        console.print(f"Focus {names[f]} into the others' resident state ({state_label(names, a.focus_resident)}): "
                      f"factor [bold]{a.focus_invasion:.4f}[/] per round, so a rare {names[f]} {verdict}.")
    t = Table(title=f"Basins: where {a.samples} quasi-random starts end", title_justify="left", show_edge=False)
    t.add_column("stable state")
    t.add_column("share of starts", justify="right")
    t.add_column("scenario's start")
    for b in a.basins:
        label = "no stable state reached" if b.state is None else state_label(names, b.state.shares)
        t.add_row(label, f"{100 * b.share:.1f}%", "[bold]★ ends here[/]" if b.contains_start else "")
    console.print(t)
    if a.bifurcation is not None:
        b = a.bifurcation
        x, bn, bf = b.values, b.names, b.focus
        console.print(f"[bold]Bifurcation along {b.key}[/] ({len(x)} values, {x.min():g} to {x.max():g}):")
        runs: list[tuple[float, float, str]] = []
        for p, fps in enumerate(b.fixed):
            s = "; ".join(_kind(bn, fp.shares) for fp in fps if fp.stable) or "none"
            if runs and runs[-1][2] == s:
                runs[-1] = (runs[-1][0], float(x[p]), s)
            else:
                runs.append((float(x[p]), float(x[p]), s))
        for lo, hi, s in runs:
            console.print(f"  {b.key} in [{lo:g}, {hi:g}]: stable {s}")
        from seedbed.analyses.dynamics import crossings

        cr = crossings(x, b.focus_invasion)
        where = ", ".join(f"{c:.4g}" for c in cr) if cr else "never in this range"
        console.print(f"  {bn[bf]}'s invasion factor into the others' resident: {b.focus_invasion[0]:.4f} → "
                      f"{b.focus_invasion[-1]:.4f}; crosses 1 at: {where}")
    console.print(f"[dim]criterion: {escape(a.criterion)}[/]", highlight=False)
    for n in a.notes:
        console.print(f"[dim]note: {escape(n)}[/]", highlight=False)
    console.print(f"[dim]time: {a.timings.get('total_s', 0):.2f} s[/]", highlight=False)


def analyze_command(
    scenario: str = typer.Argument(..., help="Preset name (see `seedbed list`) or path to a TOML file."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value (repeatable)."),
    param: Optional[str] = typer.Option(None, "--param", help="Bifurcation axis: key=linspace(start,stop,num) or key=v1,v2,... "
                                                        "(the older key=start:stop:num means the same as linspace)."),
    json_out: bool = typer.Option(False, "--json", help="Print the analysis as JSON only."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the figures and analysis.json."),
    samples: int = typer.Option(1024, "--samples", min=1, help="Starting points sampled for the basins."),
) -> None:
    """Fixed points, stability, invasion and basins of a scenario's exact mean-field share map.

    A single-policy pipeline scenario defines a map from strategy shares to next-round
    shares. This lists its fixed points (stable iff the spectral radius of the Jacobian
    on the simplex is < 1), the growth factor of every rare strategy in every pure
    resident, and which share of starting mixtures ends at each stable state.

    Example:

        seedbed analyze seed --param prompts.phi=0:1:101 --out runs/seed/analysis
    """
    from rich.console import Console

    from seedbed.core.config import load_scenario
    from seedbed.analyses.dynamics.core import analyze
    from seedbed.analyses.dynamics.shares_map import check_scenario

    scn = load_scenario(scenario, set_ or [])
    check_scenario(scn)
    parsed = parse_param(param) if param is not None else None
    try:
        a = analyze(scn, param=parsed, points=samples)
    except ScenarioError as e:
        if parsed is None:
            raise
        msg = _one_line(e)
        raise ScenarioError(msg if msg.startswith("--param") else f"--param {param!r}: {msg}") from None
    data: dict[str, Any] = a.to_json()
    written = []
    if out is not None:
        from seedbed.analyses.dynamics.figures import figure_data
        from seedbed.report.dynamics import write_plots

        out.mkdir(parents=True, exist_ok=True)
        (out / "analysis.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / "figures.json").write_text(json.dumps(figure_data(a)) + "\n")
        written = [out / "analysis.json", out / "figures.json"] + write_plots(out)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console()
    print_analysis(a, console)
    if written:
        console.print(f"written: {', '.join(str(p) for p in written)}")
