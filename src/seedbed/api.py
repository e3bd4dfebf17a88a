"""The Python API, mirroring the CLI: ``load_scenario``, ``run``, ``sweep``.

    >>> import seedbed
    >>> scn = seedbed.load_scenario("seed", {"prompts.rho": 0.3})
    >>> result = seedbed.run(scn, out="runs/seed")
    >>> result.verdict.selects
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from . import rundir
from .backends import get_backend, is_stochastic
from .population import Lineage
from .config import Scenario, ScenarioError, scenario_to_dict, to_toml
from .metrics import Rows
from .verdict import Verdict, judge_verdict

DEFAULT_SEEDS = 5
ProgressFn = Callable[[str, int, int, dict[str, float]], None]


@dataclass
class RunResult:
    """A finished run: tidy metrics for scenario and control, the verdict, where it lies."""

    scenario: Scenario
    control: Scenario
    backend: str
    seeds: list[int]
    metrics: pa.Table
    verdict: Verdict
    lineage: list
    out: Path | None
    executor: str = "local"


@dataclass
class KindResult:
    """A finished Krueger or grading experiment: its summary and where it was written."""

    scenario: object
    summary: object
    out: Path


def run_kind(scenario, out: str | Path | None = None, progress: Callable[[int], None] | None = None) -> KindResult:
    """Run a scenario of kind 'krueger' or 'grading' (always sampled; written to ``out``)."""
    out = Path(out) if out is not None else Path("runs") / scenario.name / "agent"
    out.mkdir(parents=True, exist_ok=True)
    if scenario.kind == "krueger":
        from .krueger import write_krueger
        return KindResult(scenario, write_krueger(scenario, out, progress), out)
    from .grading import write_grading
    return KindResult(scenario, write_grading(scenario, out, progress), out)


def run(scenario: Scenario, backend: str = "meanfield", out: str | Path | None = None,
        seeds: int | None = None, progress: ProgressFn | None = None, report: bool = True,
        executor: str = "local", address: str | None = None, workers: int | None = None) -> RunResult:
    """Run a scenario and its control (same scenario, outer loop off) on one backend.

    ``seeds`` > 1 repeats both arms with seeds split from the scenario's root seed, so the
    verdict can carry a confidence interval. Default: 5 when the run is stochastic (agent
    backend, or a population with random exploit), 1 when it is exact.
    With ``out`` the run directory gets manifest.json, metrics.parquet, plots and report.md.
    ``executor="ray"`` runs a neural population's members as Ray Tune trials (population-
    based training), on a local Ray or the cluster at ``address``.
    """
    if scenario.kind != "pipeline":
        return run_kind(scenario, out)  # type: ignore[return-value]
    fn = get_backend(backend)
    if executor not in ("local", "ray"):
        raise ScenarioError(f"unknown executor {executor!r}; choose from local, ray")
    if executor == "ray" and not (backend == "neural" and scenario.population.members > 1):
        raise ScenarioError("--executor ray runs neural populations (--backend neural, population.members > 1) "
                            "and sweeps (seedbed sweep --executor ray); this run is one process already")
    control = scenario.control_scenario()
    stochastic = is_stochastic(backend, scenario) or is_stochastic(backend, control)
    seed_list = _split_seeds(scenario.seed, (seeds or DEFAULT_SEEDS) if stochastic else 1)
    rows = Rows()
    lineage = Lineage()
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        lineage.path = Path(out) / "lineage.jsonl"
        lineage.path.write_text("")                # a fresh log per run; appended event by event
    t0 = time.perf_counter()
    for arm, scn in (("scenario", scenario), ("control", control)):
        for seed in seed_list:
            cb = None
            if progress is not None:
                cb = lambda r, snap, arm=arm, scn=scn: progress(arm, r, scn.rounds, snap)  # noqa: E731
            fn(scn.model_copy(update={"seed": seed}), arm, seed, rows, cb, lineage, None, Path(out) if out else None,
               executor=executor, address=address, workers=workers)
    if backend == "neural":
        add_meanfield_prediction(rows, scenario, control, rows.table())
    table = rows.table()
    verdict = judge_verdict(scenario, control, table, exact=not stochastic)
    result = RunResult(scenario, control, backend, seed_list, table, verdict, lineage.events, Path(out) if out else None,
                       executor)
    if out is not None:
        write_run(result, time.perf_counter() - t0, report=report)
    return result


def write_run(result: RunResult, seconds: float, report: bool = True) -> Path:
    """Write the run directory; every file atomically."""
    out = Path(result.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "seedbed_run": 1,
        "scenario": scenario_to_dict(result.scenario),
        "control": scenario_to_dict(result.control),
        "control_label": result.scenario.control.label,
        "backend": result.backend,
        "executor": result.executor,
        "root_seed": result.scenario.seed,
        "seeds": result.seeds,
        "versions": rundir.package_versions(),
        "code_revision": rundir.code_revision(),
        "verdict": result.verdict.as_dict(),
    }
    rundir.write_table(out / "metrics.parquet", result.metrics)
    rundir.write_text(out / "scenario.toml", to_toml(result.scenario))
    from .conditions import condition_table
    rundir.write_table(out / "conditions.parquet", condition_table(result.scenario))
    rundir.write_json(out / "manifest.json", manifest)
    rundir.write_json(out / "timing.json", {"seconds": round(seconds, 3)})
    if report:
        from .report import write_report
        write_report(out)
    return out


def _split_seeds(root: int, count: int) -> list[int]:
    """Independent child seeds from one root seed (numpy SeedSequence spawning)."""
    if count == 1:
        return [root]
    children = np.random.SeedSequence(root).spawn(count)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def add_meanfield_prediction(rows: Rows, scenario: Scenario, control: Scenario, table: pa.Table) -> None:
    """Mean-field trajectories for the same strategies, started from the neural run's measured
    shares and run with its measured persona persistence: arms 'meanfield-scenario' and
    'meanfield-control', so the report can overlay prediction and measurement."""
    from .meanfield import MeanField, MFParams
    from .metrics import series

    for arm, scn in (("scenario", scenario), ("control", control)):
        start = np.array([np.mean([v[0] for _, v in series(table, f"share/{n}", arm).values()]) for n in scn.names])
        rho = np.array([np.nanmean(v) for _, v in series(table, "probe/rho", arm).values()])
        rho_hat = float(np.nanmean(rho)) if np.any(np.isfinite(rho)) else 0.0
        over = {f"strategies.{n}.share": float(x) for n, x in zip(scn.names, start / start.sum())}
        over.update({"prompts.rho": rho_hat, "rounds": scn.neural.rounds or scn.rounds})
        pred = scn.with_overrides(over)
        traj = MeanField(MFParams.from_scenario(pred)).run(pred.rounds)
        r = np.arange(pred.rounds + 1)
        for k, n in enumerate(scn.names):
            rows.add(f"meanfield-{arm}", 0, r, 0, f"share/{n}", traj.shares[:, 0, k])
        rows.add(f"meanfield-{arm}", 0, r[1:], 0, "behaviour/err_train", traj.stats["behaviour/err_train"][:, 0])
