"""``seedbed contamination --model PATH``: the twin test and Min-K%++ on a checkpoint.

The checkpoint is a model folder (seedbed's tiny model, a LoRA checkpoint, any local
causal-LM folder such as SmolLM2-135M-Instruct) or a seedbed run folder (its latest
``checkpoints/scenario-*/round-*``). The items are, for a seedbed checkpoint (a run folder or one of
its checkpoints, or a base with its pretrain.json), its own task's held-out probe questions;
for any other model the built-in eval items (the Inspect tasks' addition problems); or the
user's JSONL set from ``--eval`` with a twin generator ``--twins module:function``. Built-in
twins come from each item's stratum (digit counts of the operands and of the sum).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from typing import Optional

import typer

from seedbed.core.schema import ScenarioError
from seedbed.backends.neural.leaktest.items import DEFAULT_ITEMS, DEFAULT_MAX_NUMBER, addition_items, addition_twin, read_eval_set, style_of, user_generator
from seedbed.backends.neural.leaktest.twins import ALPHA, DEFAULT_TWINS, TwinResult, twin_test


def resolve_model(path: str | Path) -> Path:
    """The model folder of a model folder, a LoRA checkpoint or a run folder (its latest
    scenario-arm round checkpoint); ScenarioError naming --model otherwise."""
    p = Path(path)
    if (p / "config.json").exists() or (p / "lora.json").exists():
        return p
    cks = sorted(q for q in (p / "checkpoints").glob("scenario-*/round-*") if (q / "model.safetensors").exists())
    if cks:
        return max(cks, key=lambda q: q.name)
    raise ScenarioError(f"--model {path}: not a model folder (no config.json or lora.json) and no run folder with "
                        "checkpoints/scenario-*/round-*")


def own_task(folder: Path) -> tuple[int, int] | None:
    """(max_number, probe_size) of the seedbed task a checkpoint was trained on: from the run
    folder it sits in (its scenario.toml, up to three levels up) or from a base's
    pretrain.json; None for any other model."""
    folder = Path(folder).resolve()
    for up in [folder, *list(folder.parents)[:3]]:
        if (up / "scenario.toml").exists() and (up / "manifest.json").exists():
            from seedbed.core.config import load_scenario
            n = load_scenario(up / "scenario.toml").neural
            return n.max_number, n.probe_size
    info = folder / "pretrain.json"
    if info.exists():
        task = json.loads(info.read_text()).get("task")
        if task:
            return int(task["max_number"]), int(task["probe_size"])
    return None


def model_check(model: Path, eval_paths: list[Path] | None = None, twins: str | None = None, k: int = DEFAULT_TWINS,
                report: Path | None = None, seed: int = 0, alpha: float = ALPHA,
                log: Callable[[str], None] = print) -> TwinResult:
    """Run the twin test on ``model``, print it, and write ``report`` (JSON: the summary and one
    row per item and twin) when given. Bad input raises ScenarioError before anything runs."""
    import torch

    from seedbed.backends.neural.model import load_folder

    if k < 1:
        raise ScenarioError(f"--n-twins = {k}: must be at least 1")
    if eval_paths and twins is None:
        raise ScenarioError("--model with --eval needs --twins module:function (a generator of fresh items like "
                            "yours); without --eval the built-in items and their generator are used")
    items = [x for p in eval_paths for x in read_eval_set(p)] if eval_paths else None
    gen = user_generator(twins) if twins is not None else addition_twin
    if len(items or [0, 0]) < 2:
        raise ScenarioError("--eval: the twin test needs at least 2 items")
    if report is not None:
        from seedbed.results.folders import check_writable
        if report.is_dir():
            raise ScenarioError(f"--twin-report {report}: is a folder; give a file name")
        check_writable(report.parent, "--twin-report")
    folder = resolve_model(model)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    t0 = time.perf_counter()
    m, tok = load_folder(folder)
    style = style_of(tok)
    if items is None:
        task = own_task(folder) if style == "plain" else None
        if task is not None:                   # a seedbed checkpoint: its own task's held-out questions
            max_number, probe_size = task
            from seedbed.backends.neural.leaktest.items import addition_item
            from seedbed.backends.neural.pretrain import TASK_SEED
            from seedbed.backends.neural.task import Task
            items = [addition_item(a, b, max_number, style) for a, b in
                     Task(max_number, probe_size, seed=TASK_SEED).probe_pairs]
            log(f"items: the checkpoint's own task, its {len(items)} held-out probe questions (a, b < {max_number}); "
                "twins from each item's stratum")
        else:
            items = addition_items(DEFAULT_ITEMS, seed, DEFAULT_MAX_NUMBER, style)
    log(f"loaded {folder} in {time.perf_counter() - t0:.1f} s; scoring {len(items)} items and {k} twins each")
    res = twin_test(m, tok, items, gen, k=k, seed=seed, style=style, alpha=alpha, name=str(folder))
    for line in res.lines():
        log(line)
    if report is not None:
        from seedbed.results.writing import write_text
        write_text(report, json.dumps({**res.summary(), "rows": res.rows}, indent=1, default=_jsonable) + "\n")
        log(f"twin-test report (summary and one row per item and twin): {report}")
    return res


def _jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    return str(x)



def contamination(
    eval_: Optional[list[Path]] = typer.Option(None, "--eval", "-e", help="Protected items (probes, eval sets): JSONL or text."),
    train: Optional[Path] = typer.Option(None, "--train", "-t", help="Candidate training items: JSONL or text."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the clean training items here."),
    no_template: bool = typer.Option(False, "--no-template", help="Skip the template check (one-template tasks)."),
    fail_on_leak: bool = typer.Option(False, "--fail-on-leak", help="Exit 1 when any item leaks."),
    leaks: Optional[Path] = typer.Option(None, "--leaks", help="Write each leaked item (JSONL: index, item, check)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Twin test + Min-K%++ on this checkpoint "
                                         "(model, LoRA or run folder): built-in items, or --eval with --twins."),
    twins: Optional[str] = typer.Option(None, "--twins", help="Twin generator module:function(item, rng) -> item."),
    n_twins: int = typer.Option(5, "--n-twins", help="Twins per eval item."),
    twin_report: Optional[Path] = typer.Option(None, "--twin-report", help="Write the twin test (JSON) here."),
) -> None:
    """Find eval items leaking into training data: canary, 13-grams, 50-char substrings, templates.

    JSONL files are read one record per line: a JSON string, or an object whose text is the
    first of the fields input, text, prompt, question, or messages (a list of {content}); in
    --train records, metadata.canary equal to seedbed's canary also counts as the canary.
    Other files: one item per line. Example:
    seedbed contamination --eval probes.jsonl --train pool.jsonl --leaks leaked.jsonl --out clean.jsonl
    """
    from seedbed.cli.output import console
    from seedbed.results.writing import write_text
    from seedbed.stages.contamination import Guard, read_items

    if model is None and (train is None or not eval_):
        raise ScenarioError("contamination needs --eval and --train (string checks), or --model (twin test)")
    if model is not None:                      # leaks no string match can see (seedbed.analyses.leaks)
        from seedbed.cli.contamination import model_check
        res = model_check(model, eval_ if (train is None or twins) else None, twins, n_twins, twin_report)
        if train is None:
            raise typer.Exit(1 if res.detected and fail_on_leak else 0)
    for flag, path in (("--out", out), ("--leaks", leaks)):
        if path is not None:
            from seedbed.results.folders import check_writable
            if path.is_dir():
                raise ScenarioError(f"{flag} {path}: is a folder; give a file name")
            check_writable(path.parent, flag)
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
    if leaks is not None:
        import json
        write_text(leaks, "".join(json.dumps(x) + "\n" for x in guard.leaks(items)))
        console.print(f"leaked items, each with the check that caught it: {leaks}")
    if leaked and fail_on_leak:
        raise typer.Exit(1)
