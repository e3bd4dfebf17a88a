"""report.md for a pipeline run folder. Reads only files the run wrote (manifest, metrics,
lineage, and the derived tables conditions.parquet and prediction.parquet) and draws the
plots from them, so a report can be rebuilt at any time with ``seedbed report RUN_DIR``.
It imports no backend: everything it shows was computed before the files were written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import plots, rundir
from .runfolder import verify
from .schema import ScenarioError
from .metrics import UNIT, final_values, fmt_ci, mean_ci, series
from .verdict import Verdict


def _fmt(t, n: int) -> str:
    """A mean with its interval and seed count (n = 0: an exact value)."""
    return fmt_ci(tuple(t), n)


def write_report(run_dir: str | Path) -> Path:
    """(Re)draw the plots and write report.md from the files in ``run_dir``."""
    run_dir = Path(run_dir)
    man = verify(run_dir)                       # complete, undamaged, or a one-line error
    if man.get("kind", "pipeline") != "pipeline" or "verdict" not in man:
        raise ScenarioError(f"{run_dir}: manifest.json is not a pipeline run's")
    table = rundir.read_table(run_dir / "metrics.parquet")
    scn, v = man["scenario"], man["verdict"]
    names = [s["name"] for s in scn["strategies"]]
    exact = v["exact"]
    n_seeds = 0 if exact else len(man["seeds"])          # 0: exact values, no interval
    pdir = run_dir / "plots"
    plots.plot_shares(table, names, pdir / "shares.png",
                      f"{scn['name']}: shares (solid: scenario, dashed: control)")
    plots.plot_metric(table, "prompt/mistake_rate", pdir / "prompt_mistakes.png",
                      "P(prompt carries a mistake)", "Mistake prevalence in the round's prompts")
    plots.plot_metric(table, "reward/mean", pdir / "reward.png", "mean judge reward", "Mean reward of all responses")

    basis = "exact (mean-field), 1 evaluation" if exact else f"{n_seeds} seed(s), 95% interval over seeds"
    L = [f"# seedbed report: {scn['name']}", ""]
    if scn.get("shows"):
        L += [f"*{scn['shows'].strip()}*", ""]
    if scn.get("description"):
        L += [scn["description"].strip(), ""]
    verdict = Verdict(**{k: x for k, x in v.items() if k != "selects"})
    L += ["## Verdict", "", f"**{verdict.headline}**", "", verdict.detail, "",
          f"The threshold: a difference in {verdict.seeder}'s final share above {verdict.margin} is called an effect "
          "(two points of share: below what matters for a policy's behaviour, above the exact model's rounding). "
          "A sampled run needs at least 3 seeds and an interval entirely on one side of the threshold; otherwise "
          "the verdict is inconclusive. Intervals are 95% Student-t intervals over seeds (exact quantiles), "
          "truncated to the range the quantity can take.", "",
          f"Backend: `{man['backend']}`"
          + (" (members as Ray Tune PBT trials)" if man.get("executor") == "ray" else "")
          + f"; numbers: {basis}. Control: same scenario with "
          f"`{json.dumps(scn['control']['set'])}` ({man['control_label']}).", ""]

    L += ["## Shares", "", "| strategy | initial | final (scenario) | final (control) | kept in round 1 (scenario) | kept in round 1 (control) |",
          "|---|---|---|---|---|---|"]
    for s in scn["strategies"]:
        nm = s["name"]
        fs = mean_ci(final_values(table, f"share/{nm}", "scenario"), bounds=UNIT)
        fc = mean_ci(final_values(table, f"share/{nm}", "control"), bounds=UNIT)
        k1 = []
        for arm in ("scenario", "control"):
            first = [vals[0] for _, vals in series(table, f"keep/{nm}", arm).values()]
            k1.append(_fmt(mean_ci(np.array(first)), n_seeds) if first else "–")
        L.append(f"| {nm} | {s['share']:.3f} | {_fmt(fs, n_seeds)} | {_fmt(fc, n_seeds)} | {k1[0]} | {k1[1]} |")
    L += ["", "'Kept in round 1' is the fraction of that strategy's responses the selection kept "
          "(for best-of-n at most 1/n on average; for reward-weighted and critique-revision a relative weight).", ""]
    L += ["![shares](plots/shares.png)", "", "![prompt mistakes](plots/prompt_mistakes.png)", "",
          "![reward](plots/reward.png)", ""]

    # H4 / inoculation: seeding measured in training contexts next to deployment contexts
    if any(s.get("err_deploy") is not None for s in scn["strategies"]) or scn.get("neural", {}).get("inoculation"):
        L += ["## Seeding in training vs deployment", "",
              "First-turn error rate on fresh questions, measured in a training context and in a deployment "
              "context, at the last round.", "",
              "| arm | training context | deployment context |", "|---|---|---|"]
        for arm in ("scenario", "control"):
            tr = mean_ci(final_values(table, "behaviour/err_train", arm), bounds=UNIT)
            de = mean_ci(final_values(table, "behaviour/err_deploy", arm), bounds=UNIT)
            L.append(f"| {arm} | {_fmt(tr, n_seeds)} | {_fmt(de, n_seeds)} |")
        L += ["", "A gap between the columns means the behaviour depends on the context: a training-time "
              "metric then sees what a deployment-time metric misses (or the reverse).", ""]

    lin = run_dir / "lineage.jsonl"
    if lin.exists() and lin.stat().st_size:
        from .lineage import read_lineage
        events = read_lineage(lin)
        exploits = [e for e in events if e["event"] == "exploit"]
        if exploits:
            plots.plot_lineage(events, pdir / "lineage.png")
            n_arm = {a: sum(1 for e in exploits if e["arm"] == a) for a in ("scenario", "control")}
            L += ["## Population lineage", "",
                  f"{len(exploits)} exploit events ({n_arm['scenario']} in the scenario arm, {n_arm['control']} in "
                  "the control) are logged in `lineage.jsonl`, each followed by its explore record.", "",
                  "![lineage](plots/lineage.png)", ""]

    if (run_dir / "prediction.parquet").exists():
        prediction = rundir.read_table(run_dir / "prediction.parquet")
        L += _neural_sections(table, prediction, names, v["seeder"], pdir, n_seeds)

    cond = run_dir / "conditions.parquet"
    if cond.exists():
        ct = rundir.read_table(cond)
        L += ["## Under which conditions", "",
              f"Each line varies one setting of this scenario and recomputes both arms on the mean-field backend "
              f"(exact per member; populations use the root seed for exploit choices); 'selects' means "
              f"{v['seeder']}'s final share exceeds the control's by more than 0.02.", ""]
        L += summarise(ct)
        rows = ct.to_pylist()
        states = "stable_states" in ct.column_names and any(r["stable_states"] for r in rows)
        L += ["", "| setting | value | final share (scenario) | final share (control) | difference | selects |"
              + (" stable end states (share of starts) |" if states else ""),
              "|---|---|---|---|---|---|" + ("---|" if states else "")]
        for r in rows:
            base = " (this run)" if r["is_base"] else ""
            ends = f" {r['stable_states']}: {r['basins']} |" if states else ""
            L.append(f"| `{r['factor']}` | {r['value']}{base} | {r['scenario_final']:.3f} | {r['control_final']:.3f} | "
                     f"{r['effect']:+.3f} | {'yes' if r['selects'] else 'no'} |{ends}")
        if states and any(r["stable_states"] > 1 for r in rows):
            L += ["", "Where a setting has more than one stable end state, its 'selects' holds for this scenario's "
                  "start (marked '(start)'), not for every start: the shares say how many of 32 quasi-random starting "
                  "mixtures end in each state (`seedbed analyze` gives the fixed points, their stability and the "
                  "invasion rates)."]
        L.append("")

    sd = run_dir / "start_dependence.json"
    if sd.exists():
        L += _start_section(json.loads(sd.read_text()), v["seeder"])

    L += ["## Reproduce", "", "From this folder (scenario.toml is the resolved scenario, overrides applied):", "",
          "```", f"seedbed run scenario.toml --backend {man['backend']}"
          + (f" --seeds {n_seeds}" if n_seeds > 1 else "")
          + (" --executor ray" if man.get("executor") == "ray" else ""), "```", "",
          f"Code revision `{man['code_revision']}`; root seed {man['root_seed']}; "
          f"versions: {', '.join(f'{k} {x}' for k, x in sorted(man['versions'].items()))}.", ""]
    return rundir.write_text(run_dir / "report.md", "\n".join(L))


PROBES = [("behaviour/err_deploy", "first-turn error (seeding)"), ("probe/fix_rate", "true corrections"),
          ("probe/false_fix_rate", "false corrections"), ("probe/harm_rate", "harm"),
          ("probe/competence", "greedy accuracy"), ("probe/rho", "measured persistence rho")]


def _neural_sections(table, prediction, names: list[str], seeder: str, pdir: Path, n_seeds: int) -> list[str]:
    """Probe trajectories, and the measured shares against the mean-field prediction."""
    plots.plot_panels(table, PROBES, pdir / "probes.png", "Probes on held-out questions (scenario solid, control dashed)")
    plots.plot_prediction(table, prediction, seeder, pdir / "neural_vs_meanfield.png")
    L = ["## Probes", "", "Measured every round on a fixed set of held-out questions that are never trained on "
         f"(mean and 95% interval over {n_seeds} seeds).", "", "![probes](plots/probes.png)", "",
         "| probe | scenario, last round | control, last round |", "|---|---|---|"]
    for metric, label in PROBES:
        a = final_values(table, metric, "scenario")
        c = final_values(table, metric, "control")
        L.append(f"| {label} | {_fmt(mean_ci(a, bounds=UNIT), n_seeds)} | {_fmt(mean_ci(c, bounds=UNIT), n_seeds)} |")
    L += ["", "## Neural vs mean-field", "",
          f"Persona shares are estimated from the probe rates (least squares on the simplex). The mean-field "
          f"prediction starts from the measured round-0 shares and uses the measured persistence rho.", "",
          "![neural vs mean-field](plots/neural_vs_meanfield.png)", ""]
    for arm in ("scenario", "control"):
        meas = series(table, f"share/{seeder}", arm)
        pred = series(prediction, f"share/{seeder}", arm)
        if not meas or not pred:
            continue
        r, m = np.mean([v[1] for v in meas.values()], axis=0), None
        rounds = next(iter(meas.values()))[0]
        p = next(iter(pred.values()))[1][: len(rounds)]
        gap = r - p
        part = np.flatnonzero(np.abs(gap) > 0.1)
        where = f"they part from round {int(rounds[part[0]])} on" if len(part) else "they stay within 0.1 throughout"
        L.append(f"- {arm}: {seeder}'s share ends at {r[-1]:.3f} measured vs {p[-1]:.3f} predicted "
                 f"(largest gap {gap[np.argmax(np.abs(gap))]:+.3f}); {where}.")
    L.append("")
    return L


def _start_section(d: dict, seeder: str) -> list[str]:
    """Does the long-run answer depend on where training starts? (from start_dependence.json)"""
    L = ["## Where the answer depends on the start", ""]
    if not d["depends_on_start"]:
        L += [f"The scenario's mean-field map has {d['stable_states']} stable end state: every start ends there, so "
              "the verdict does not depend on the starting mixture.", ""]
        return L
    L += [f"The scenario's mean-field map has **{d['stable_states']} stable end states**, so the long-run answer "
          f"depends on the start. Of {d['samples']} quasi-random starting mixtures (uniform on the simplex):", ""]
    for b in d["basins"]:
        state = "no stable state reached" if b["state"] is None else ", ".join(
            f"{n} {x:.3f}" for n, x in b["state"].items())
        L.append(f"- {b['share']:.0%} end at {state}" + (" — this scenario's start ends here" if b["contains_start"]
                                                           else ""))
    L += ["", f"The verdict about {seeder} holds for this scenario's start; run `seedbed analyze scenario.toml` "
          "for the fixed points, their stability and whether a rare seeder can invade.", ""]
    return L


def summarise(table) -> list[str]:
    """Plain sentences from conditions.parquet: for each factor, the values at which the effect holds."""
    lines = []
    rows = table.to_pylist()
    for factor in dict.fromkeys(r["factor"] for r in rows):
        sub = [r for r in rows if r["factor"] == factor]
        yes = [r["value"] for r in sub if r["selects"]]
        no = [r["value"] for r in sub if not r["selects"]]
        if not yes:
            lines.append(f"- `{factor}`: no value tried selects for seeding ({', '.join(no)}).")
        elif not no:
            lines.append(f"- `{factor}`: every value tried selects for seeding ({', '.join(yes)}).")
        else:
            lines.append(f"- `{factor}`: selects at {', '.join(yes)}; not at {', '.join(no)}.")
    return lines
