"""A run's design, planned before it runs: from a pilot run's per-seed spread and the
like-for-like prediction of the effect, the seeds and rounds a conclusive verdict needs
(:mod:`.power` does the statistics; this module reads runs).

The planned quantity is the verdict's own (:func:`seedbed.results.verdict.judge_verdict`):
the seeder's share on the agent backend, the deployment seeding rate
(``behaviour/err_deploy``) on the neural backend. Per round r of the pilot:

* **spread**: the sd over seeds of the paired difference scenario − control at round r;
* **predicted effect**: scenario − control at round r of the exact mean-field run of the
  same scenario (agent), or of the like-for-like prediction written with a neural run
  (``prediction.parquet``: the persona model fed the run's measured start, persistence,
  step and anchor). Where the prediction is missing the pilot's own mean difference stands
  in, and the plan says so (a plan on a pilot's estimate inherits its noise).

Pilots are short: a spread measured over 3 seeds is itself uncertain, so by default the
plan uses the sd's one-sided 80% upper confidence bound (:func:`.power.pilot_sd`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from seedbed.analyses.power import Plan, achieved_power, outcome_dict, pilot_sd, plan_rounds
from seedbed.results.metrics import SIGNED_UNIT, fmt_ci, mean_ci, series
from seedbed.results.verdict import INCONCLUSIVE, SEEDING


def verdict_metric(backend: str, seeder: str) -> str:
    """The quantity a backend's verdict decides on."""
    return SEEDING if backend == "neural" else f"share/{seeder}"


def paired_differences(table: pa.Table, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(rounds (R,), differences (seeds, R)): scenario − control per seed and round, over the
    rounds and seeds both arms have."""
    a, b = series(table, metric, "scenario"), series(table, metric, "control")
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return np.zeros(0), np.zeros((0, 0))
    R = min(min(len(a[s][1]) for s in seeds), min(len(b[s][1]) for s in seeds))
    rounds = a[seeds[0]][0][:R]
    return rounds, np.array([a[s][1][:R] - b[s][1][:R] for s in seeds])


def predicted_trajectory(pilot: Path, metric: str, backend: str, scn: Any) -> tuple[np.ndarray | None, str]:
    """The predicted effect per round (index = round) and where it comes from."""
    if backend == "neural":
        f = pilot / "prediction.parquet"
        if not f.exists():
            return None, "no prediction in the pilot"
        from seedbed.results.writing import read_table
        pred = read_table(f)
        present = set(pred["metric"].to_pylist())
        if metric == SEEDING and "traits/err_deploy" in present:
            r, d = paired_differences(pred, "traits/err_deploy")
            lam = [v for _, (_, v) in series(pred, "prediction/traits_lambda", "scenario").items()]
            return d.mean(0), ("the like-for-like trait prediction (each trained behaviour toward its own kept "
                               "target, the first turn by the base's measured transfer"
                               + (f"; persona share {lam[0][0]:.2f}" if lam else "") + "; traits/err_deploy)")
        if metric == SEEDING and "coupled/err_deploy" in present:
            r, d = paired_differences(pred, "coupled/err_deploy")
            c = [v for _, (_, v) in series(pred, "prediction/coupling", "scenario").items()]
            return d.mean(0), (f"the like-for-like prediction with the base's measured coupling "
                               f"c = {c[0][0]:.2f} (coupled/err_deploy)" if c else "the coupled prediction")
        r, d = paired_differences(pred, metric)
        return (d.mean(0), "the like-for-like mean-field prediction (persona model, coupling 1)") if d.size else \
            (None, "no prediction of that quantity")
    from seedbed.backends.runner import run_repetition
    rows = [run_repetition(arm_scn, "meanfield", 0, arm) for arm, arm_scn in
            (("scenario", scn), ("control", scn.control_scenario()))]
    r, d = paired_differences(pa.concat_tables(rows), metric)
    return d.mean(0), "the exact mean-field run of the same scenario"


def plan_from_pilot(pilot: Path, goal: float = 0.8, upper: float | None = 0.8, max_rounds: int | None = None,
                    use: str = "predicted", min_rounds: int | None = None) -> dict[str, Any]:
    """plan.json from a finished pilot run folder: the seeds and rounds for ``goal`` power,
    with everything it rests on. ``use``: 'predicted' (the prediction's effect; the pilot's own
    where there is none) or 'pilot' (the pilot's observed effect). Rounds are planned from
    ``min_rounds`` (default: the pilot's own length, so a plan never stops where the training
    has barely begun) up to ``max_rounds``."""
    from seedbed.core.config import Scenario
    from seedbed.results.folders import verify
    from seedbed.results.writing import read_table

    man = verify(pilot)
    scn = Scenario.model_validate(man["scenario"])
    backend = man["backend"]
    metric = verdict_metric(backend, scn.seeder)
    table = read_table(pilot / "metrics.parquet")
    rounds, d = paired_differences(table, metric)
    if d.shape[0] < 2:
        from seedbed.core.schema import ScenarioError
        raise ScenarioError(f"{pilot}: a pilot needs at least 2 seeds per arm for a spread (it has {d.shape[0]})")
    sds = np.array([pilot_sd(d[:, j], upper) if np.ptp(d[:, j]) > 0 else 0.0 for j in range(d.shape[1])])
    observed = d.mean(0)
    traj, source = (None, "") if use == "pilot" else predicted_trajectory(pilot, metric, backend, scn)
    predicted = traj is not None and len(traj) >= len(rounds)
    if not predicted:
        source = "the pilot's own mean difference (no prediction" + (f": {source})" if source else ")")
        traj = observed
    traj = traj[:len(rounds)]
    first = 1 if rounds[0] == 0 else 0                 # round 0 (the base) is the same in both arms
    R = len(rounds) if max_rounds is None else min(len(rounds), max_rounds + first)
    lo = R - first if min_rounds is None else max(1, min(int(min_rounds), R - first))
    plan = plan_rounds(traj[first:R], sds[first:R], goal=goal, min_round=lo)
    plan.notes.append(f"predicted effect from {source}")
    plan.notes.append(f"spread: sd over {d.shape[0]} pilot seeds of the paired difference"
                      + (f", its {upper:.0%} upper confidence bound" if upper else ""))
    out = {"pilot": str(pilot), "backend": backend, "metric": metric, "plan": json.loads(plan.to_json()),
           "per_round": [{"round": int(r), "predicted_effect": float(p), "pilot_effect": float(o),
                          "pilot_sd": float(s)} for r, p, o, s in zip(rounds, traj, observed, sds)],
           "pilot_seeds": int(d.shape[0]), "sd_bound": upper}
    if predicted and plan.seeds is not None and plan.rounds is not None:
        out["pilot_check"] = pilot_check(d[:, first + plan.rounds - 1], plan)
        out["plan"]["notes"].append(out["pilot_check"]["note"])
    return out


def pilot_check(diffs: np.ndarray, plan: Plan) -> dict[str, Any]:
    """The plan against its own pilot: the pilot's observed difference at the planned round
    (mean and 95% t interval over its seeds), and the fixed design's outcome probabilities if
    the true effect were that observed mean instead of the prediction (same seeds, same
    spread). A plan on a prediction fails when the prediction misses; this says how far the
    pilot already disagrees, before any seed is spent.

    The figure at the mean is a plug-in estimate, as noisy as the pilot's mean. Beside it, the
    worst case over the pilot's interval: the conclusive probability is lowest where the
    effect is nearest the margin, and is alpha at the margin itself (where no design decides),
    so an interval that holds the margin says the pilot cannot promise any power."""
    m, lo, hi = mean_ci(diffs, bounds=SIGNED_UNIT)
    worst = float(np.clip(plan.margin, lo, hi))           # the effect in the interval nearest the margin
    at = {x: outcome_dict(x, plan.spread, plan.seeds, plan.margin, plan.alpha) for x in (m, worst)}
    conclusive = {x: 1 - p[INCONCLUSIVE] for x, p in at.items()}
    inside = lo <= plan.predicted_effect <= hi
    note = (f"pilot's own effect {fmt_ci((m, lo, hi), len(diffs), digits=4)} "
            + ("holds" if inside else "EXCLUDES") + f" the predicted {plan.predicted_effect:+.4f}; "
            f"were the pilot's mean the truth this design would be conclusive with probability "
            f"{conclusive[m]:.3f} (a plug-in figure); worst case in the pilot's interval {conclusive[worst]:.3f}, "
            f"at {worst:+.4f}" + (" (the interval holds the margin)" if worst == plan.margin else ""))
    return {"pilot_effect": m, "pilot_interval": [lo, hi], "pilot_seeds": int(len(diffs)),
            "prediction_inside": bool(inside), "probs_at_pilot_effect": at[m],
            "worst_effect_in_interval": worst, "conclusive_at_worst": conclusive[worst], "note": note}


def achieved(run_dir: Path, planned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The power a finished run had: post-hoc, at the planned effect (plan.json beside it, or
    ``planned``) with the run's own spread at its last round."""
    from seedbed.core.config import Scenario
    from seedbed.results.folders import verify
    from seedbed.results.writing import read_table

    man = verify(run_dir)
    scn = Scenario.model_validate(man["scenario"])
    metric = verdict_metric(man["backend"], scn.seeder)
    _, d = paired_differences(read_table(run_dir / "metrics.parquet"), metric)
    if planned is None and (run_dir / "plan.json").exists():
        planned = json.loads((run_dir / "plan.json").read_text())
    effect = None if planned is None else planned["plan"]["predicted_effect"]
    return achieved_power(d[:, -1], effect) if d.size else {"n": 0}


def sequential_from_plan(plan: dict[str, Any], k: int, reps: int = 4000, seed: int = 0) -> dict[str, Any]:
    """A group-sequential design with ``k`` looks (O'Brien–Fleming alpha spending,
    :class:`.power.SequentialDesign`) for the plan's predicted effect and spread: the seeds per
    arm at each look, the t boundary each look decides with, and the simulated operating
    characteristics. Fixed before any look is run, so adding seeds until decided keeps the
    error rate at alpha."""
    from seedbed.analyses.power import sequential_plan

    p = plan["plan"]
    found = sequential_plan(p["predicted_effect"], p["spread"], k=k, goal=p["goal"], alpha=p["alpha"],
                            margin=p["margin"], reps=reps, seed=seed)
    if found is None:
        return {"looks": None, "k": k, "note": "no design within the seed limit reaches the goal"}
    design, sim = found
    out = {"k": k, "looks": list(design.looks), "t_bounds": list(design.t_bounds), "z_bounds": list(design.z_bounds),
           "t_method": design.t_method, "alpha": design.alpha, "margin": design.margin, "rounds": p["rounds"],
           "simulated": sim, "spending": "O'Brien-Fleming (Lan-DeMets), two-sided"}
    if "pilot_check" in plan:                  # the same design if the pilot's own effect were the truth
        out["simulated_at_pilot_effect"] = design.simulate(plan["pilot_check"]["pilot_effect"], p["spread"], reps, seed)
    return out


def decide_look(run_dir: Path, sequential: dict[str, Any]) -> dict[str, Any]:
    """The sequential design's decision on a finished run whose seeds per arm equal one of its
    looks: 'selects', 'does not select', 'continue' (run the next look's seeds) or, at the last
    look, 'inconclusive'. The decision uses the look's boundary, never the fixed-design one."""
    from seedbed.analyses.power import SequentialDesign
    from seedbed.core.config import Scenario
    from seedbed.core.schema import ScenarioError
    from seedbed.results.folders import verify
    from seedbed.results.writing import read_table

    man = verify(run_dir)
    scn = Scenario.model_validate(man["scenario"])
    _, d = paired_differences(read_table(run_dir / "metrics.parquet"), verdict_metric(man["backend"], scn.seeder))
    looks = list(sequential["looks"])
    n = int(d.shape[0])
    if n not in looks:
        raise ScenarioError(f"{run_dir}: {n} seeds per arm is not one of the design's looks {looks}; run the "
                            "look's seed count")
    k = looks.index(n)
    design = SequentialDesign(tuple(looks), sequential["alpha"], sequential["margin"],
                              tuple(sequential["z_bounds"]), tuple(sequential["t_bounds"]), sequential["t_method"])
    out = look_decision(d[:, -1], design, k)
    return {**out, "of": len(looks), "next_seeds": looks[k + 1] if out["outcome"] == "continue" else None}


def look_decision(last: np.ndarray, design: Any, k: int) -> dict[str, Any]:
    """Look k's (0-based) decision on the paired differences at the last round of its seeds:
    the outcome and the effect with its interval at the look's boundary (not the fixed-design
    quantile)."""
    last = np.asarray(last, dtype=float)
    n = len(last)
    mean = float(last.mean())
    half = float(design.t_bounds[k] * last.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"look": k + 1, "seeds": n, "outcome": design.decide(last, k), "effect": mean,
            "interval": [mean - half, mean + half], "t_bound": float(design.t_bounds[k])}


__all__ = ["Plan", "achieved", "decide_look", "look_decision", "sequential_from_plan", "paired_differences", "plan_from_pilot", "predicted_trajectory", "verdict_metric"]
