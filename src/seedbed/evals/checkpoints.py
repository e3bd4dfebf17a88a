"""Does a run change what the evals measure? The three Inspect tasks on a run's base model and
on the final checkpoint of each seed of both arms: ``seedbed evals RUN``.

One eval of one checkpoint answers "what does this model do"; whether the *pipeline* raised
false corrections or the incentive drop needs the control beside it. The scenario and its
control differ only in the thing under test and share the base, so the answer is the paired
difference scenario − control over seeds (the run's own pairing), with the base's value for
reading. Each model is one ``inspect eval`` call (:func:`seedbed.evals.runner.run_tasks`, all
Inspect writes inside the output folder); its rows are kept in ``evals.parquet`` as soon as it
is done, so an interrupted evaluation continues where it stopped (``--resume``).

Rows (tidy, one per model × metric)::

    model   'base' or '<arm>-<seed>'        arm     'base', 'scenario' or 'control'
    seed    repetition seed (0 for base)    task    Inspect task name (seedbed/...)
    metric  the task's score name           value   its mean over the task's samples
    stderr  Inspect's stderr of that mean   samples scored samples
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

from seedbed.core.schema import ScenarioError

TASKS = ("seedbed/first_attempt_incentive", "seedbed/reflexive_correction", "seedbed/two_turn_self_correction")
ARMS = ("scenario", "control")
FILE = "evals.parquet"
SIGNED = ("incentive_drop",)          # a difference of two accuracies: in [−1, 1], not [0, 1]
SCHEMA = pa.schema([("model", pa.string()), ("arm", pa.string()), ("seed", pa.int64()), ("task", pa.string()),
                    ("metric", pa.string()), ("value", pa.float64()), ("stderr", pa.float64()),
                    ("samples", pa.int64())])


def run_models(run: Path, seeds: int | None = None) -> list[tuple[str, str, int, Path]]:
    """(model tag, arm, seed, folder) for the base and the last checkpoint with weights of the
    first ``seeds`` repetition seeds (default all) of each arm, in the run's seed order."""
    from seedbed.results.folders import verify

    man = verify(run)
    if man.get("backend") != "neural":
        raise ScenarioError(f"{run}: a {man.get('backend')} run has no model checkpoints; give a neural run")
    if int((man["scenario"].get("population") or {}).get("members", 1)) > 1:
        raise ScenarioError(f"{run}: a population run (one checkpoint per member); evaluate a member's folder "
                            "with python -m seedbed.evals --model seedbed/RUN/checkpoints/ARM-SEED/member-MMM/round-RRRR")
    order = [int(s) for s in man["seeds"]][:seeds]
    if seeds is not None and seeds > len(man["seeds"]):
        raise ScenarioError(f"--seeds {seeds}: {run} has {len(man['seeds'])} seeds per arm")
    models: list[tuple[str, str, int, Path]] = []
    for arm in ARMS:
        for seed in order:
            rounds = sorted(p for p in (run / "checkpoints" / f"{arm}-{seed}").glob("round-[0-9]*")
                            if (p / "model.safetensors").exists())
            if not rounds:
                raise ScenarioError(f"{run}/checkpoints/{arm}-{seed}: no round with weights (was the run made "
                                    "with neural.keep_checkpoints = 0?)")
            models.append((f"{arm}-{seed}", arm, seed, rounds[-1]))
    base = _base_folder(models[0][3], man)
    return [("base", "base", 0, base)] + models


def _base_folder(checkpoint: Path, man: dict[str, Any]) -> Path:
    """The model every arm started from: the base a LoRA checkpoint names, else the run's
    ``neural.model`` folder."""
    lora = checkpoint / "lora.json"
    if lora.exists():
        base = Path(json.loads(lora.read_text())["base"])
    else:
        from seedbed.backends.neural.pretrain import base_path
        from seedbed.core.config import Scenario

        base = base_path(Scenario.model_validate(man["scenario"]), man.get("root_seed"))
    if not (base / "config.json").exists():
        raise ScenarioError(f"{base}: the run's base model is not here (the folder it trained from; a tiny "
                            "base lives in SEEDBED_CACHE, so set it as the run had it)")
    return base


def log_rows(logs: Sequence[Path], tag: str, arm: str, seed: int) -> list[dict[str, Any]]:
    """One row per score of each Inspect log."""
    from inspect_ai.log import read_eval_log

    rows = []
    for path in logs:
        head = read_eval_log(str(path), header_only=True)
        for score in head.results.scores:
            m = score.metrics
            rows.append({"model": tag, "arm": arm, "seed": seed, "task": head.eval.task, "metric": score.name,
                         "value": float(m["mean"].value), "stderr": float(m["stderr"].value),
                         "samples": int(head.results.completed_samples)})
    return rows


def run_max_number(run: Path) -> int:
    """The operand bound the run's task used (``neural.max_number``): the evals' default."""
    return int(json.loads((run / "manifest.json").read_text())["scenario"]["neural"]["max_number"])


def evaluate(models: Sequence[tuple[str, str, int, Path]], out: Path, tasks: Sequence[str] = TASKS, n: int = 200,
             max_number: int = 10, temperature: float = 0.0, batch_size: int = 32,
             progress: Callable[[int, int, str, float], None] | None = None) -> pa.Table:
    """Evaluate ``models`` (:func:`run_models`: the base and each final checkpoint); rows kept in
    ``out/evals.parquet`` after every model, models already there skipped (the caller holds
    ``out``, see ``claim``). Returns the rows of these models.
    ``progress(done, total, tag, seconds)`` after each model."""
    import time

    from seedbed.evals.runner import TasksFailed, run_tasks
    from seedbed.results.writing import read_table, write_table

    have = read_table(out / FILE).to_pylist() if (out / FILE).exists() else []
    done = {r["model"] for r in have}
    rows = list(have)
    for i, (tag, arm, seed, folder) in enumerate(models):
        if tag in done:
            continue
        t0 = time.perf_counter()
        args = [*tasks, "--model", f"seedbed/{folder}", "-T", f"n={n}", "-T", f"max_number={max_number}",
                "--temperature", str(temperature), "-M", f"batch_size={batch_size}", "-M", "device=cpu",
                "--display", "none"]
        logs = run_tasks(out / "inspect" / tag, args, stream=sys.stderr)
        got = log_rows(logs, tag, arm, seed)
        if {r["task"] for r in got} != set(tasks):
            raise TasksFailed(f"{tag}: Inspect wrote logs for {sorted({r['task'] for r in got})}, not {list(tasks)}")
        rows += got
        write_table(out / FILE, pa.Table.from_pylist(rows, schema=SCHEMA))
        if progress is not None:
            progress(i + 1, len(models), tag, time.perf_counter() - t0)
    asked = {m[0] for m in models}                      # the folder may hold more seeds than asked for now
    return pa.Table.from_pylist([r for r in rows if r["model"] in asked], schema=SCHEMA)


def summary(table: pa.Table) -> list[dict[str, Any]]:
    """Per task and metric: the base's value (± 1.96 Inspect stderr), each arm's mean over its
    seeds and the paired scenario − control difference, with exact t intervals and the seed
    counts. Rates stay in [0, 1] and the incentive drop in [−1, 1]; differences of two in twice
    that range."""
    from seedbed.results.metrics import mean_ci

    rows = table.to_pylist()
    out = []
    keys = list(dict.fromkeys((r["task"], r["metric"]) for r in rows))
    for task, metric in keys:
        sel = [r for r in rows if (r["task"], r["metric"]) == (task, metric)]
        lo_b, hi_b = (-1.0, 1.0) if metric in SIGNED else (0.0, 1.0)
        base = [r for r in sel if r["arm"] == "base"]
        by_arm = {a: {r["seed"]: r["value"] for r in sel if r["arm"] == a} for a in ARMS}
        paired = sorted(set(by_arm["scenario"]) & set(by_arm["control"]))
        d = np.array([by_arm["scenario"][s] - by_arm["control"][s] for s in paired])
        rec: dict[str, Any] = {"task": task, "metric": metric}
        if base:
            v, se = base[0]["value"], base[0]["stderr"]
            rec["base"] = (v, max(lo_b, v - 1.96 * se), min(hi_b, v + 1.96 * se))
        for a in ARMS:
            x = np.array(list(by_arm[a].values()))
            rec[a] = mean_ci(x, bounds=(lo_b, hi_b)) if len(x) else None
            rec[f"{a}_seeds"] = len(x)
        rec["difference"] = mean_ci(d, bounds=(lo_b - hi_b, hi_b - lo_b)) if len(d) else None
        rec["paired_seeds"] = len(d)
        out.append(rec)
    return out


__all__ = ["ARMS", "FILE", "TASKS", "evaluate", "log_rows", "run_max_number", "run_models", "summary"]
