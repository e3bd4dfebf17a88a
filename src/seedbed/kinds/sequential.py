"""A pipeline run that adds seeds until decided, with valid error control: ``seedbed run
SCENARIO --seeds auto --plan plan.json``.

The design is fixed before the first look: the plan's group-sequential design
(``seedbed plan --looks K``; O'Brien–Fleming alpha spending, :class:`~seedbed.analyses.power.SequentialDesign`)
gives the seeds per arm n_1 < … < n_K at each look and the t boundary b_k each look decides
with. Look k runs both arms over the first n_k repetition seeds of the root seed (the seed tree
makes them a prefix of look k+1's, so a look only adds seeds), then decides on the paired
differences of the verdict's quantity at the last round: *selects*, *does not select*, or
*continue* to the next look; still undecided at look K it is inconclusive. Stopping on the
boundaries, never on the fixed-design interval, is what keeps the error rate at the design's
alpha (peeking at the fixed interval after every seed would not).

Everything happens in one run folder: a neural look reuses the earlier looks' round
checkpoints (their seeds are replayed, not retrained), ``sequential.json`` is rewritten after
every look (what was decided, when), and the folder ends as an ordinary run over the seeds the
last look used, its report carrying the sequential decision beside the fixed-design verdict.
An interrupted run continues with ``--resume`` from the look it was in.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from seedbed.analyses.planning import look_decision, paired_differences, verdict_metric
from seedbed.analyses.power import SequentialDesign
from seedbed.backends.runner import execute, plan_run
from seedbed.core.config import Scenario, scenario_to_dict
from seedbed.core.schema import ScenarioError
from seedbed.results import writing as rundir
from seedbed.results.folders import claim
from seedbed.results.lineage import Lineage
from seedbed.results.verdict import judge_verdict

FILE = "sequential.json"
KEYS = ("looks", "t_bounds", "z_bounds", "alpha", "margin", "t_method")


def read_design(path: Path) -> dict[str, Any]:
    """The sequential design in a plan.json (``seedbed plan --looks K``); a one-line error naming
    the file and what is missing."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text())
    except OSError as e:
        raise ScenarioError(f"--plan {path}: cannot be read ({e.strerror or type(e).__name__})") from None
    except (UnicodeDecodeError, ValueError):
        raise ScenarioError(f"--plan {path}: not a JSON file (give the plan.json that seedbed plan wrote)") from None
    seq = plan.get("sequential") if isinstance(plan, dict) else None
    if not isinstance(seq, dict) or not seq.get("looks"):
        raise ScenarioError(f"--plan {path}: holds no sequential design; plan one with "
                            "seedbed plan SCENARIO --looks K")
    missing = [k for k in KEYS if k not in seq]
    if missing:
        raise ScenarioError(f"--plan {path}: sequential.{missing[0]} is missing")
    looks = seq["looks"]
    if (not all(isinstance(n, int) and n >= 2 for n in looks) or any(b <= a for a, b in zip(looks, looks[1:]))
            or len(seq["t_bounds"]) != len(looks)):
        raise ScenarioError(f"--plan {path}: sequential.looks must be increasing seed counts ≥ 2, one t bound each")
    return {**{k: seq[k] for k in KEYS}, "rounds": seq.get("rounds"), "backend": plan.get("backend"),
            "metric": plan.get("metric"), "plan": str(path)}


def check_design(design: dict[str, Any], scn: Scenario, backend: str, rounds: int) -> None:
    """Refuse a design planned for another backend or number of rounds than this run's."""
    if design.get("backend") and design["backend"] != backend:
        raise ScenarioError(f"--plan {design['plan']}: planned for --backend {design['backend']}, not {backend}")
    if design.get("rounds") and int(design["rounds"]) != rounds:
        field = "neural.rounds" if backend == "neural" else "rounds"
        raise ScenarioError(f"--plan {design['plan']}: planned for {design['rounds']} rounds, this run has {rounds}; "
                            f"add --set {field}={design['rounds']}")


def decide(table: Any, scn: Scenario, backend: str, design: SequentialDesign, k: int) -> dict[str, Any]:
    """Look k's (0-based) decision from a run table over its first looks[k] seeds
    (:func:`~seedbed.analyses.planning.look_decision` on the verdict quantity's last round)."""
    _, d = paired_differences(table, verdict_metric(backend, scn.seeder))
    return look_decision(d[:, -1], design, k)


def run_sequential(scenario: Scenario, plan_file: Path, out: Path, backend: str,
                   progress: Callable[[str, int, dict | None], None] | None = None,
                   on_look: Callable[[dict[str, Any]], None] | None = None,
                   before_look: Callable[[int, int, int], None] | None = None,
                   executor: str | None = None, address: str | None = None, workers: int | None = None,
                   resume: bool = False, force: bool = False, report: bool = True):
    """Run the plan's looks in ``out`` until one decides; return the last look's RunResult.
    ``before_look(k, seeds, rounds)`` is called as look k (1-based) starts, ``on_look(record)``
    after it with what it decided."""
    from seedbed.kinds.pipeline import RunResult, write_run

    design_d = read_design(plan_file)
    if backend == "meanfield":
        raise ScenarioError("--seeds auto: the meanfield backend is exact (one evaluation decides); "
                            "use --backend agent or neural")
    first = plan_run(scenario, backend, design_d["looks"][0], executor or "local", address, workers)
    if not first.stochastic:
        raise ScenarioError("--seeds auto: this run is exact on its backend (seeds cannot differ)")
    check_design(design_d, scenario, backend, first.rounds)
    design = SequentialDesign(tuple(design_d["looks"]), design_d["alpha"], design_d["margin"],
                              tuple(design_d["z_bounds"]), tuple(design_d["t_bounds"]), design_d["t_method"])
    spec = {"kind": "pipeline", "scenario": scenario_to_dict(scenario), "backend": backend,
            "seeds": "auto", "sequential": {k: design_d[k] for k in KEYS}, "executor": first.executor}
    out = Path(out)
    with claim(out, f"a sequential {backend} run of {scenario.name}", spec, resume, force):
        t0 = time.perf_counter()
        record: dict[str, Any] = {"plan": design_d["plan"], "design": {k: design_d[k] for k in KEYS},
                                  "metric": verdict_metric(backend, scenario.seeder), "looks": [], "outcome": None}
        for k, n in enumerate(design.looks):
            plan = plan_run(scenario, backend, n, executor or "local", address, workers)
            if before_look is not None:
                before_look(k + 1, n, plan.total_rounds)
            lineage = Lineage()
            lineage.path = out / "lineage.jsonl"
            lineage.path.write_text("")
            cb = (lambda arm, r, snap: progress(arm, 1, {"round": r, **snap})) if progress is not None else None
            table = execute(plan, out, lineage, cb)
            look = decide(table, scenario, backend, design, k)
            look["seconds"] = round(time.perf_counter() - t0, 3)
            record["looks"].append(look)
            record["outcome"] = look["outcome"]
            rundir.write_json(out / FILE, record)
            if on_look is not None:
                on_look({**look, "of": len(design.looks)})
            if look["outcome"] != "continue":
                break
        verdict = judge_verdict(scenario, plan.control, table, exact=False,
                                primary="seeding" if backend == "neural" else "share")
        result = RunResult(scenario, plan.control, backend, plan.seeds, table, verdict, lineage.events, out,
                           plan.executor, plan.rounds)
        write_run(result, plan, time.perf_counter() - t0, report=report)
    return result


__all__ = ["FILE", "check_design", "decide", "read_design", "run_sequential"]
