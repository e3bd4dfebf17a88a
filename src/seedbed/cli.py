"""Command line: ``seedbed run | sweep | report | list``.

User mistakes (a bad scenario field, an unknown backend, a missing run directory) print
one red line naming the problem and exit with status 2; no traceback.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from .config import ScenarioError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="seedbed: does this post-training setup, through an outer loop, select for mistake seeding?")
console = Console()
err_console = Console(stderr=True)


def _user_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScenarioError as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper


def _quiet_env(out: Path) -> None:
    """Keep matplotlib's cache inside the run folder, never in the home directory."""
    os.environ.setdefault("MPLCONFIGDIR", str(out.resolve() / ".mpl"))


def _round_table(title: str, names: list[str], rows: list[tuple[int, dict[str, float]]]) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("round", justify="right")
    for n in names:
        t.add_column(f"share {n}", justify="right")
    for c in ("mistakes in prompts", "mean reward", "kept"):
        t.add_column(c, justify="right")
    for r, snap in rows:
        t.add_row(str(r), *[f"{snap[f'share/{n}']:.3f}" for n in names],
                  f"{snap['prompt/mistake_rate']:.3f}", f"{snap['reward/mean']:+.3f}", f"{snap['kept/fraction']:.3f}")
    return t


def _thin(rows: list, most: int = 12) -> list:
    """At most ``most`` rows, evenly spread, always with the last."""
    if len(rows) <= most:
        return rows
    step = -(-len(rows) // most)
    picked = rows[::step]
    return picked if picked[-1] is rows[-1] else picked + [rows[-1]]


@app.command()
@_user_errors
def run(
    scenario: str = typer.Argument(..., help="Preset name (see `seedbed list`) or path to a TOML file."),
    backend: str = typer.Option("meanfield", "--backend", "-b", help="meanfield (exact), agent or neural (sampled)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<name>/<backend>)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1,
                                        help="Seeds per arm when the run is stochastic (default 5); exact runs use 1."),
    executor: str = typer.Option("local", "--executor", "-e",
                                 help="local, or ray: a neural population's members as Ray Tune PBT trials."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local instance)."),
    workers: int = typer.Option(0, "--workers", help="CPUs for a local Ray instance (0: up to 2)."),
) -> None:
    """Run a scenario and its control, print per-round tables and the verdict, write a report."""
    from .api import run as api_run
    from .config import load_scenario

    scn = load_scenario(scenario, set_ or [])
    if scn.kind != "pipeline":
        return _run_kind(scn, out)
    out = out or Path("runs") / scn.name / backend
    _quiet_env(out)
    names = scn.names
    # arm → round → the snapshot of each seed so far; tables show the mean over seeds
    history: dict[str, dict[int, list[dict[str, float]]]] = {"scenario": {}, "control": {}}

    def mean_rows(arm: str) -> list[tuple[int, dict[str, float]]]:
        return [(r, {k: sum(s[k] for s in snaps) / len(snaps) for k in snaps[0]})
                for r, snaps in sorted(history[arm].items())]

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=False)
    from .api import DEFAULT_SEEDS
    from .backends import get_backend, is_stochastic

    get_backend(backend)
    stochastic = is_stochastic(backend, scn) or is_stochastic(backend, scn.control_scenario())
    n_seeds = (seeds or DEFAULT_SEEDS) if stochastic else 1
    tasks = {arm: progress.add_task(f"{arm:8s}", total=scn.rounds * n_seeds) for arm in ("scenario", "control")}
    live_table = {"t": Table()}

    def on_round(arm: str, r: int, total: int, snap: dict[str, float]) -> None:
        history[arm].setdefault(r, []).append(snap)
        progress.advance(tasks[arm])
        live_table["t"] = _round_table(f"{scn.name} [{arm}] (last rounds)", names, mean_rows(arm)[-8:])
        live.update(Group(live_table["t"], progress))

    with Live(Group(progress), console=console, refresh_per_second=8, transient=True) as live:
        result = api_run(scn, backend=backend, out=out, seeds=seeds, progress=on_round, executor=executor,
                         address=address, workers=workers or None)
    per = f" (mean over {n_seeds} seeds)" if n_seeds > 1 else ""
    for arm, label in (("scenario", scn.name), ("control", f"{scn.name} control: {scn.control.label}")):
        console.print(_round_table(label + per, names, _thin(mean_rows(arm))))
        console.print()
    v = result.verdict
    console.print(f"[bold]{v.headline}[/]")
    console.print(v.detail)
    console.print(f"report: {out / 'report.md'}")


def _run_kind(scn, out: Optional[Path]) -> None:
    """The Krueger unit test and the grading schedule: always sampled, their own tables."""
    from .api import run_kind

    out = out or Path("runs") / scn.name / "agent"
    _quiet_env(out)
    total = (len(scn.krueger.population) * len(scn.krueger.interval) * len(scn.krueger.swap)
             if scn.kind == "krueger" else 2)
    with Progress(TextColumn("configurations"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as prog:
        task = prog.add_task("run", total=total)
        res = run_kind(scn, out, progress=lambda k: prog.advance(task, k))
    if scn.kind == "krueger":
        t = Table(title=f"{scn.name}: P(cooperate), last {scn.krueger.last} steps (mean [95% CI] over "
                        f"{scn.krueger.trials} trials)", title_justify="left", show_edge=False)
        for c in ("swapping", "population", "PBT interval", "P(cooperate)"):
            t.add_column(c, justify="right")
        for r in res.summary:
            t.add_row("on" if r["swap"] else "off", str(r["population"]),
                      "none" if r["interval"] == 0 else str(r["interval"]),
                      f"{r['mean']:.3f} [{max(0, r['lo']):.3f}, {min(1, r['hi']):.3f}]")
        console.print(t)
    else:
        s = res.summary
        verb = "SELECTS for seeding" if s["selects"] else "does not select for seeding"
        a, b = s["schedule"], s["step"]
        console.print(f"[bold]Whole-schedule grading {verb}:[/] planted errors {a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] "
                      f"vs {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}] with per-step grading "
                      f"({scn.grading.learners} learners each).")
    console.print(f"report: {out / 'report.md'}")


@app.command()
@_user_errors
def sweep(
    scenario: str = typer.Argument(..., help="Preset name or TOML path."),
    grid: list[str] = typer.Option(..., "--grid", "-g", help="Axis: key=start:stop:num or key=v1,v2 (repeatable)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Final metric to plot (default: share/<seeder>)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default runs/<name>/sweep)."),
    backend: str = typer.Option("meanfield", "--backend", "-b", help="meanfield (exact), agent or neural."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Seeds per point on a sampled backend (default 5)."),
    executor: str = typer.Option("local", "--executor", "-e", help="local (process pool) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local instance)."),
    workers: int = typer.Option(0, "--workers", help="Local processes / local Ray CPUs (0: up to 2)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard finished parts in --out instead of resuming."),
) -> None:
    """Phase diagram: final metrics over a grid, tidy Parquet + heat map. Resumes if interrupted."""
    import numpy as np

    from .config import load_scenario
    from .sweeps import parse_axis, plan, sweep as run_sweep

    scn = load_scenario(scenario, set_ or [])
    axes = [parse_axis(g) for g in grid]
    if seeds is not None and seeds < 1:
        raise ScenarioError(f"--seeds {seeds}: need at least 1")
    p = plan(scn, axes, backend, seeds)
    total = sum(p.sizes)
    out = out or Path("runs") / scn.name / "sweep"
    _quiet_env(out)
    label = "grid points" if p.exact else f"points × {len(p.seeds)} seeds"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console) as prog:
        task = prog.add_task("sweep", total=total)
        res = run_sweep(scn, axes, out=out, workers=workers or None, metric=metric, backend=backend, seeds=seeds,
                        executor=executor, address=address, fresh=fresh, progress=lambda k: prog.advance(task, k))
    m = metric or f"share/{scn.seeder}"
    z = res.grid(m)
    how = "exact" if res.seeds is None else f"{backend}, mean of {len(res.seeds)} seeds per point"
    rounds = (scn.neural.rounds or scn.rounds) if backend == "neural" else scn.rounds
    console.print(f"{int(np.prod(z.shape))} points × {rounds} rounds ({how}, executor {executor}). "
                  f"final {m}: min {np.nanmin(z):.3f}, max {np.nanmax(z):.3f}")
    if res.seeds is not None:
        lo, hi = res.interval(m)
        console.print(f"widest 95% interval over seeds at a point: {np.nanmax(hi - lo):.3f}")
    console.print(f"results: {out / 'sweep.parquet'}; plot: {sorted(p.name for p in out.glob('*.png'))}")


@app.command()
@_user_errors
def audit(
    judge: str = typer.Argument(..., help="A scenario (preset or TOML: its judge) or a callable module:function."),
    json_out: bool = typer.Option(False, "--json", help="Print the findings and every score as JSON."),
) -> None:
    """Is honest behaviour reward-maximal in every situation? Exits 1 on any violation."""
    from .audit import audit as run_audit, load_judge, to_json

    name, j = load_judge(judge)
    findings, table = run_audit(j)
    if json_out:
        console.print_json(to_json(name, findings, table))
    else:
        if findings:
            t = Table(title=f"Reward-consistency audit of {name}: {len(findings)} violation(s)", title_justify="left")
            for c in ("situation", "honest", "winning strategy", "margin", "why"):
                t.add_column(c, overflow="fold")
            for f in findings:
                t.add_row(f.situation, f"{f.honest} ({f.honest_reward:.3f})", f"{f.best} ({f.best_reward:.3f})",
                          f"{f.margin:+.3f}", f.explanation)
            console.print(t)
        else:
            situations = len({r["situation"] for r in table})
            console.print(f"[bold green]consistent:[/] honest behaviour is reward-maximal in all {situations} "
                          f"situations checked for {name}.")
    if findings:
        raise typer.Exit(1)


@app.command()
@_user_errors
def contamination(
    eval_: list[Path] = typer.Option(..., "--eval", "-e", help="Protected items (probes, eval sets): JSONL or text."),
    train: Path = typer.Option(..., "--train", "-t", help="Candidate training items: JSONL or text."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the clean training items here."),
    no_template: bool = typer.Option(False, "--no-template", help="Skip the template check (one-template tasks)."),
    fail_on_leak: bool = typer.Option(False, "--fail-on-leak", help="Exit 1 when any item leaks."),
) -> None:
    """Find eval items leaking into training data: canary, 13-grams, 50-char substrings, templates."""
    from .contamination import Guard, read_items
    from .rundir import write_text

    protected = [x for p in eval_ for x in read_items(p, mark_canary=False)]
    items = read_items(train)
    guard = Guard(protected, use_template=not no_template)
    keep, counts = guard.filter(items)
    leaked = len(items) - len(keep)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    console.print(f"{len(items)} training items checked against {len(protected)} protected items: "
                  f"{leaked} leaked ({detail}); {len(keep)} clean.")
    if out is not None:
        lines = train.read_text().splitlines()
        nonblank = [ln for ln in lines if ln.strip()]
        write_text(out, "\n".join(nonblank[i] for i in keep) + ("\n" if keep else ""))
        console.print(f"clean items: {out}")
    if leaked and fail_on_leak:
        raise typer.Exit(1)


@app.command()
@_user_errors
def report(run_dir: Path = typer.Argument(..., help="A run directory written by `seedbed run`.")) -> None:
    """Rebuild report.md and the plots of a run directory from its data files."""
    import json

    from .report import write_report

    _quiet_env(run_dir)
    man = run_dir / "manifest.json"
    kind = json.loads(man.read_text()).get("kind", "pipeline") if man.exists() else "pipeline"
    if kind == "krueger":
        from .krueger import report_krueger
        report_krueger(run_dir)
        path = run_dir / "report.md"
    elif kind == "grading":
        from .grading import report_grading
        report_grading(run_dir)
        path = run_dir / "report.md"
    else:
        path = write_report(run_dir)
    console.print(f"report: {path}")


@app.command("list")
@_user_errors
def list_() -> None:
    """List the shipped scenario presets and what each shows."""
    from .config import list_presets, load_scenario

    t = Table(show_edge=False)
    t.add_column("preset")
    t.add_column("kind / selection")
    t.add_column("shows")
    for p in list_presets():
        s = load_scenario(p)
        t.add_row(p.stem, s.selection.rule if s.kind == "pipeline" else s.kind, s.shows)
    console.print(t)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
