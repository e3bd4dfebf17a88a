"""``seedbed evals RUN``: the three Inspect tasks on a neural run's base and on the final
checkpoint of every seed of both arms, with the paired scenario − control difference.

A plain function with typer annotations; the CLI registers it. The work is
:mod:`seedbed.evals.checkpoints`; this module holds the folder, the progress and the table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from seedbed.core.schema import ScenarioError


def evals_command(
    run: Path = typer.Argument(..., help="A finished neural run folder (`seedbed run ... --backend neural`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for evals.parquet and Inspect's logs "
                                                                 "(default RUN/evals)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Evaluate the first K seeds of each arm "
                                                                    "(default all); 2 or more for an interval."),
    n: int = typer.Option(200, "--n", min=1, help="Items per task (task argument n)."),
    max_number: Optional[int] = typer.Option(None, "--max-number", min=2, help="Operands below this (task "
                                                                            "argument max_number; default: the "
                                                                            "run's neural.max_number)."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0: greedy (independent of batching)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted evaluation in OUT (or add "
                                                        "seeds to it: models already there are not evaluated "
                                                        "again)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON only."),
) -> None:
    """Does the pipeline change what the evals measure? Evaluate the run's base and each seed's
    final checkpoint on the three tasks (incentive drop, reflexive corrections, two-turn
    self-correction) and compare scenario with control, paired by seed.

    Each model is one `inspect eval` call, everything it writes inside OUT; rows go to
    OUT/evals.parquet as each model finishes. About 2 minutes per SmolLM2 checkpoint on CPU at
    the defaults.

    Example:

        seedbed evals runs/smol-seed --seeds 5
    """
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise ScenarioError("Inspect is not installed: pip install -c constraints.txt -e '.[eval]'") from None
    from seedbed.cli.output import console, err_console
    from seedbed.evals.checkpoints import FILE, evaluate, run_max_number, run_models, summary
    from seedbed.evals.runner import TasksFailed
    from seedbed.results.folders import claim

    run = Path(run)
    models = run_models(run, seeds)                      # checks the run before anything is written
    max_number = max_number or run_max_number(run)
    folder = Path(out) if out is not None else run / "evals"
    # the seed count is not part of what is held: --resume with more seeds adds their checkpoints
    spec = {"kind": "evals", "run": str(run.resolve()), "n": n, "max_number": max_number, "temperature": temperature}

    def progress(done: int, of: int, tag: str, seconds: float) -> None:
        err_console.print(f"  {tag}: done ({done}/{of}, {seconds:.0f} s)", highlight=False)

    err_console.print(f"evals of {run}: the base and {len(models) - 1} final checkpoints, {n} items per task",
                      highlight=False)
    with claim(folder, f"evals of {run}", spec, resume):
        try:
            table = evaluate(models, folder, n=n, max_number=max_number, temperature=temperature,
                             progress=progress)
        except TasksFailed as e:
            err_console.print(f"[bold red]error:[/] {e}; the models evaluated before it are kept in {folder}, "
                              "--resume continues", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        from seedbed.results.writing import file_hashes, write_json

        # written last: a folder with a manifest holds a finished evaluation (claim reads it)
        write_json(folder / "manifest.json", {"seedbed_evals": 1, "run": str(run), "models": [m[0] for m in models],
                                              "n": n, "max_number": max_number, "temperature": temperature,
                                              "files": file_hashes(folder, [FILE])})
    rows = summary(table)
    if json_out:                                         # no interval (one seed) is null, not NaN
        clean = [{k: [None if x != x else x for x in v] if isinstance(v, tuple) else v for k, v in r.items()}
                 for r in rows]
        typer.echo(json.dumps(clean, indent=2))
        return
    from rich import box
    from rich.table import Table

    from seedbed.results.metrics import fmt_ci

    def ci(t, k: int) -> str:
        return "—" if t is None else fmt_ci(t, k)

    def base_ci(t) -> str:                              # one model: Inspect's interval over items
        return "—" if t is None else f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"

    # fits 80 columns: the metric names whole (they are unique across the tasks), intervals wrap
    tab = Table(title=f"evals of {run} (95% intervals; base: ± 1.96 Inspect stderr over items)",
                box=box.SIMPLE_HEAD, pad_edge=False)
    tab.add_column("metric", no_wrap=True)
    for c in ("base", "scenario", "control", "scenario − control"):
        tab.add_column(c, max_width=14)
    task = None
    for r in rows:
        if r["task"] != task:
            task = r["task"]
            tab.add_row(f"[bold]{task.split('/')[-1]}[/]")
        tab.add_row(r["metric"], base_ci(r.get("base")), ci(r["scenario"], r["scenario_seeds"]),
                    ci(r["control"], r["control_seeds"]), ci(r["difference"], r["paired_seeds"]))
    console.print(tab)
    console.print(f"rows: {folder / FILE}", highlight=False)
