"""The pipeline kind: a scenario and its control run on one backend, a verdict, a run folder.

``run`` resolves the run (:mod:`seedbed.backends.runner`), executes both arms over the seeds,
judges the verdict, computes the derived tables (the one-at-a-time conditions scan and,
for neural runs, the mean-field prediction) and writes everything before the report is
drawn, so the report (:mod:`seedbed.report.pipeline`) only reads files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa

from seedbed.results import writing as rundir
from seedbed.core.config import Scenario, scenario_to_dict, to_toml
from seedbed.core.kinds import Kind, register
from seedbed.results.lineage import Lineage
from seedbed.results.folders import claim, file_hashes
from seedbed.backends.runner import RunPlan, execute, plan_run
from seedbed.results.verdict import Verdict, judge_verdict

DATA_FILES = ["metrics.parquet", "lineage.jsonl", "scenario.toml", "conditions.parquet", "start_dependence.json",
              "prediction.parquet", "coupling.json", "sequential.json"]
STATES_SAMPLES = 128     # quasi-random starting mixtures behind a run's basin shares
KindProgress = Callable[[str, int, "dict[str, float] | None"], None]


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
    rounds: int = 0


def run(scenario: Scenario, out: str | Path | None = None, progress: KindProgress | None = None,
        backend: str | None = None, seeds: int | None = None, report: bool = True, executor: str | None = None,
        address: str | None = None, workers: int | None = None, resume: bool = False,
        force: bool = False, track: str | Sequence[str] | None = None) -> RunResult:
    """Run a scenario and its control on one backend (default meanfield); write ``out`` if given.

    ``progress(arm, 1, snapshot)`` is called after every round of every repetition; the
    snapshot holds the round's metrics (members averaged) and its number under "round".
    ``out`` must be absent or empty, unless it holds this same run and ``resume`` is set
    (finished rounds are taken from its checkpoints), or ``force`` replaces what it holds.
    ``track``: experiment trackers fed every round's tidy rows ("tensorboard", "wandb", or
    both; see :mod:`seedbed.results.tracking`); their files go inside ``out``.
    """
    from seedbed.results.tracking import check_track, parse_track

    plan = plan_run(scenario, backend or "meanfield", seeds, executor or "local", address, workers)
    trackers = parse_track(track)
    check_track(trackers, None if out is None else Path(out))
    if out is None:
        return _execute(plan, None, progress, report)
    spec = {"kind": "pipeline", "scenario": scenario_to_dict(scenario), "backend": plan.backend,
            "seeds": plan.seeds, "executor": plan.executor}
    with claim(Path(out), f"a {plan.backend} run of {scenario.name}", spec, resume, force):
        return _execute(plan, Path(out), progress, report, trackers)


def _execute(plan: RunPlan, out: Path | None, progress: KindProgress | None, report: bool,
             trackers: Sequence[str] = ()) -> RunResult:
    scenario = plan.scenario
    lineage = Lineage()
    if out is not None:
        lineage.path = out / "lineage.jsonl"
        lineage.path.write_text("")                # a fresh log per run; appended event by event
    t0 = time.perf_counter()
    cb = (lambda arm, r, snap: progress(arm, 1, {"round": r, **snap})) if progress is not None else None
    sink = None
    if trackers and out is not None:
        from seedbed.results.tracking import TrackedRows, open_trackers
        sink = open_trackers(trackers, out, scenario_to_dict(scenario), scenario.population.members)
    try:
        rows = None if sink is None else TrackedRows(sink=sink)
        table = execute(plan, out, lineage, cb, rows)
        verdict = judge_verdict(scenario, plan.control, table, exact=not plan.stochastic,
                                primary="seeding" if plan.backend == "neural" else "share")
        result = RunResult(scenario, plan.control, plan.backend, plan.seeds, table, verdict, lineage.events, out,
                           plan.executor, plan.rounds)
        if out is not None:
            write_run(result, plan, time.perf_counter() - t0, report=report)
    finally:
        if sink is not None:
            sink.close()
    return result


def write_run(result: RunResult, plan: RunPlan, seconds: float, report: bool = True) -> Path:
    """Compute the derived tables, then write the run folder (every file atomically) and the report."""
    from seedbed.analyses.conditions import condition_table

    out = Path(result.out)
    manifest = {
        "seedbed_run": 1,
        "kind": "pipeline",
        "scenario": scenario_to_dict(result.scenario),
        "control": scenario_to_dict(result.control),
        "control_label": result.scenario.control.label,
        "source": result.scenario.origin.source,
        "overrides": result.scenario.origin.overrides,
        "backend": result.backend,
        "executor": result.executor,
        "rounds": result.rounds,
        "root_seed": result.scenario.seed,
        "seeds": result.seeds,
        "versions": rundir.package_versions(),
        "code_revision": rundir.code_revision(),
        "verdict": result.verdict.as_dict(),
    }
    rundir.write_table(out / "metrics.parquet", result.metrics)
    rundir.write_text(out / "scenario.toml", to_toml(result.scenario))
    rundir.write_table(out / "conditions.parquet", condition_table(result.scenario))
    if result.scenario.population.members == 1:          # the long-run answer's dependence on the start
        from seedbed.analyses.dynamics import start_dependence
        rundir.write_json(out / "start_dependence.json", start_dependence(result.scenario, samples=STATES_SAMPLES))
    if result.backend == "neural":
        from seedbed.analyses.coupling import coupling_report, run_coupling
        from seedbed.analyses.prediction import meanfield_prediction
        coupling = coupling_report(result.scenario, result.metrics, result.scenario.seed)
        rundir.write_json(out / "coupling.json", coupling)
        rundir.write_table(out / "prediction.parquet",
                           meanfield_prediction(plan, result.metrics,
                                                {arm: run_coupling(a, coupling) for arm, a in plan.arms},
                                                {arm: run_coupling(a, coupling, "slope") for arm, a in plan.arms}))
    rundir.write_json(out / "timing.json", {"seconds": round(seconds, 3)})
    # written last: a folder with a manifest is a complete run, and these hashes prove it
    manifest["files"] = file_hashes(out, DATA_FILES)
    rundir.write_json(out / "manifest.json", manifest)
    if report:
        from seedbed.report.pipeline import write_report
        write_report(out)
    return out


def show(result: RunResult) -> list:
    """What the CLI prints after a run: each arm's per-round table (mean over seeds), the verdict."""
    from seedbed.results.tables import round_table

    scn = result.scenario
    n = len(result.seeds)
    per = f" (mean over {n} seeds)" if n > 1 else ""
    out: list = []
    for arm, label in (("scenario", scn.name), ("control", f"{scn.name} control: {scn.control.label}")):
        out += [round_table(label + per, scn.names, result.metrics, arm), ""]
    v = result.verdict
    out += [f"[bold]{v.headline}[/]", v.detail]
    if result.out is not None:
        out.append(f"report: {result.out / 'report.md'}")
    return out


def _total(scn: Scenario, backend: str | None = None, seeds: int | None = None, executor: str | None = None,
           address: str | None = None, workers: int | None = None, **_) -> dict[str, int]:
    plan = plan_run(scn, backend or "meanfield", seeds, executor or "local", address, workers)
    return {"scenario": plan.total_rounds, "control": plan.total_rounds}


def _report(out: Path):
    from seedbed.report.pipeline import write_report
    return write_report(out)


KIND = register(Kind("pipeline", Scenario, run, _report, show, _total, label=lambda scn: scn.selection.rule))
