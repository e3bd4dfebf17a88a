"""The school grading schedule (H8): draft → proofreading → corrections, each step graded.

A learner chooses k ∈ {0, …, max_errors}, the number of typos to plant in its draft.
Grades per step (expected values are exact; the learner sees sampled grades):

    draft:        1 − draft_penalty · (planted errors the grader notices, each w.p. detect)
    proofreading: proof_reward · (errors found, each planted error w.p. find)
    corrections:  fix_reward · (found errors fixed, each w.p. fix)

The learner is a softmax policy over k trained by REINFORCE. Under *schedule* credit the
draft decision is credited with the whole schedule's grade; under *step* credit (the
control) with the draft's own grade only. Planting pays only in the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from seedbed.core.schema import KindScenario, StrictModel
from seedbed.results.metrics import mean_ci


class GradingSettings(StrictModel):
    max_errors: int = Field(default=5, ge=1, le=100, description="Largest number of planted errors.")
    draft_penalty: float = Field(default=0.1, ge=0.0, description="Draft grade lost per noticed error.")
    detect: float = Field(default=0.5, ge=0.0, le=1.0, description="P(the draft's grader notices a planted error).")
    find: float = Field(default=0.9, ge=0.0, le=1.0, description="P(proofreading finds a planted error).")
    fix: float = Field(default=0.9, ge=0.0, le=1.0, description="P(a found error is fixed in corrections).")
    proof_reward: float = Field(default=0.3, ge=0.0, description="Proofreading grade per error found.")
    fix_reward: float = Field(default=0.3, ge=0.0, description="Corrections grade per error fixed.")
    steps: int = Field(default=2000, ge=1, description="REINFORCE updates per learner.")
    lr: float = Field(default=0.1, gt=0.0, description="Learning rate on the logits.")
    learners: int = Field(default=20, ge=1, description="Independent learners (seeds) per credit rule.")


class GradingScenario(KindScenario):
    """A grading-schedule experiment (kind = "grading")."""

    kind: Literal["grading"]
    grading: GradingSettings = Field(default_factory=GradingSettings)




def expected_grades(g: GradingSettings) -> dict[str, np.ndarray]:
    """Exact expected grade of each step for k = 0..max_errors planted errors."""
    k = np.arange(g.max_errors + 1)
    draft = 1 - g.draft_penalty * g.detect * k
    proof = g.proof_reward * g.find * k
    corr = g.fix_reward * g.fix * g.find * k
    return {"k": k, "draft": draft, "proofreading": proof, "corrections": corr, "schedule": draft + proof + corr}


def sample_grades(g: GradingSettings, k: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sampled (draft grade, whole-schedule grade) for planted counts k (any shape)."""
    noticed = rng.binomial(k, g.detect)
    found = rng.binomial(k, g.find)
    fixed = rng.binomial(found, g.fix)
    draft = 1 - g.draft_penalty * noticed
    return draft, draft + g.proof_reward * found + g.fix_reward * fixed


def train(g: GradingSettings, credit: str, rng: np.random.Generator) -> np.ndarray:
    """REINFORCE learners (vectorised); returns E[k] under each learner's policy per step: (learners, steps)."""
    L, A = g.learners, g.max_errors + 1
    logits = np.zeros((L, A))
    ks = np.arange(A)
    out = np.empty((L, g.steps))
    baseline = np.zeros(L)
    for t in range(g.steps):
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        out[:, t] = p @ ks
        k = (rng.random((L, 1)) > np.cumsum(p, 1)).sum(1)                # sample k ~ p per learner
        draft, schedule = sample_grades(g, k, rng)
        reward = schedule if credit == "schedule" else draft
        adv = reward - baseline
        baseline += 0.05 * (reward - baseline)                           # running-mean baseline
        grad = -p
        grad[np.arange(L), k] += 1.0                                     # ∇ log softmax
        logits += g.lr * adv[:, None] * grad
    return out


def write_grading(scn: GradingScenario, out: Path, progress: Callable[[int], None] | None = None) -> dict:
    """Run both credit rules; write results.parquet, curves.parquet, expected.parquet, manifest.json, report."""
    from seedbed.results import writing as rundir

    g = scn.grading
    cols = {"credit": [], "learner": [], "final_planted": []}
    cur = {"credit": [], "learner": [], "step": [], "planted": []}
    every = max(1, g.steps // 100)
    for i, credit in enumerate(("schedule", "step")):
        traj = train(g, credit, np.random.default_rng([scn.seed, i]))
        for j, v in enumerate(traj[:, -1]):
            cols["credit"].append(credit), cols["learner"].append(j), cols["final_planted"].append(float(v))
            steps = list(range(0, g.steps, every)) + [g.steps - 1]
            cur["credit"] += [credit] * len(steps)
            cur["learner"] += [j] * len(steps)
            cur["step"] += steps
            cur["planted"] += traj[j, steps].tolist()
        if progress:
            progress(1)
    rundir.write_table(out / "results.parquet", pa.table(cols))
    rundir.write_table(out / "curves.parquet", pa.table(cur))
    exp = expected_grades(g)
    rundir.write_table(out / "expected.parquet", pa.table({k: v.tolist() for k, v in exp.items()}))
    rundir.write_kind_manifest(out, scn)
    return report_grading(out)


def report_grading(out: Path) -> dict:
    """Verdict, plot and report.md from the files of a grading run directory."""
    import json

    from seedbed.report import plots
    from seedbed.results import writing as rundir

    from seedbed.results.folders import verify

    man = verify(out)
    scn = GradingScenario.model_validate(man["scenario"])
    g = scn.grading
    res = rundir.read_table(out / "results.parquet").to_pydict()
    fin = {c: np.array([v for cc, v in zip(res["credit"], res["final_planted"]) if cc == c]) for c in ("schedule", "step")}
    span = (0.0, float(g.max_errors))                      # planted errors lie in [0, max_errors]
    a, b = mean_ci(fin["schedule"], bounds=span), mean_ci(fin["step"], bounds=span)
    diff = mean_ci(fin["schedule"] - fin["step"], bounds=(-span[1], span[1]))
    selects = diff[1] > 0.5
    exp = rundir.read_table(out / "expected.parquet").to_pydict()
    cur = rundir.read_table(out / "curves.parquet").to_pydict()

    plt = plots._plt(out)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for credit, color in (("schedule", "C0"), ("step", "C1")):
        steps = sorted(set(st for c, st in zip(cur["credit"], cur["step"]) if c == credit))
        vals = {st: [] for st in steps}
        for c, st, v in zip(cur["credit"], cur["step"], cur["planted"]):
            if c == credit:
                vals[st].append(v)
        ci = np.array([mean_ci(np.array(vals[st]), bounds=span) for st in steps])
        ax.plot(steps, ci[:, 0], color=color, label=f"{credit} credit")
        ax.fill_between(steps, ci[:, 1], ci[:, 2], color=color, alpha=0.2)
    ax.set(xlabel="REINFORCE step", ylabel="expected planted errors", ylim=(-0.1, g.max_errors + 0.1),
           title="Planted errors: whole-schedule vs per-step grading")
    plots.legend_outside(ax, title=f"mean; band: 95% t-interval\nover {g.learners} learners", title_fontsize=8)
    plots._save(fig, out / "plots" / "grading.png")
    plt.close(fig)

    L = rundir.report_header(scn) + [rundir.origin_line(man.get("source"), man.get("overrides")), ""]
    verb = "selects for seeding" if selects else "does not select for seeding"
    L += ["## Verdict", "",
          f"**Grading the whole schedule {verb}: learners end planting {a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] errors "
          f"against {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}] when each step is graded alone (difference "
          f"{diff[0]:.2f} [{diff[1]:.2f}, {diff[2]:.2f}]; {g.learners} learners per rule, 95% t-interval).**", "",
          "## Expected grade by planted errors (exact)", "",
          "| planted | draft | proofreading | corrections | whole schedule |", "|---|---|---|---|---|"]
    for i in range(len(exp["k"])):
        L.append(f"| {exp['k'][i]} | {exp['draft'][i]:.3f} | {exp['proofreading'][i]:.3f} | "
                 f"{exp['corrections'][i]:.3f} | {exp['schedule'][i]:.3f} |")
    L += ["", "![grading](plots/grading.png)", ""]
    rundir.write_text(out / "report.md", "\n".join(L))
    return {"schedule": a, "step": b, "difference": diff, "selects": bool(selects)}


# ----------------------------------------------------------------------------- the kind

def run(scn: GradingScenario, out: Path | None = None, progress=None, report: bool = True,
        resume: bool = False, force: bool = False, **options) -> "KindResult":
    """Train learners under both credit rules and write the run folder (default ``runs/<name>/agent``)."""
    from seedbed.kinds.common import run_into_folder

    return run_into_folder(scn, out, progress, "credit rules", write_grading, resume, force, options)


def show(result: "KindResult") -> list:
    """The CLI's verdict line."""
    s, scn = result.summary, result.scenario
    verb = "SELECTS for seeding" if s["selects"] else "does not select for seeding"
    a, b = s["schedule"], s["step"]
    return [f"[bold]Whole-schedule grading {verb}:[/] planted errors {a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] "
            f"vs {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}] with per-step grading ({scn.grading.learners} learners each)."]


def _kind():
    from seedbed.core.kinds import Kind, register
    return register(Kind("grading", GradingScenario, run, report_grading, show, lambda scn, **_: {"credit rules": 2}))


KIND = _kind()
