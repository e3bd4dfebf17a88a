"""report.md for a pipeline run folder. Reads only files the run wrote (manifest, metrics,
lineage, and the derived tables conditions.parquet and prediction.parquet) and draws the
plots from them, so a report can be rebuilt at any time with ``seedbed report RUN_DIR``.
It imports no backend: everything it shows was computed before the files were written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seedbed.report import plots
from seedbed.results import writing as rundir
from seedbed.results.folders import verify
from seedbed.core.schema import ScenarioError
from seedbed.results.metrics import UNIT, final_values, fmt_ci, mean_ci, series
from seedbed.results.verdict import Verdict


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
    L += _fidelity_section(run_dir)              # a neural run: is the instrument faithful? before any number
    verdict = Verdict(**{k: x for k, x in v.items() if k != "selects"})
    quantity = ("the deployment first-turn error (the seeding rate, exact on the held-out probes)"
                if v.get("primary") == "seeding" else f"{verdict.seeder}'s final share")
    L += ["## Verdict", "", f"**{verdict.headline}**", "", verdict.detail, "",
          f"The threshold: a difference in {quantity} above {verdict.margin} is called an effect "
          "(two points: below what matters for a policy's behaviour, above the exact model's rounding). "
          "A sampled run needs at least 3 seeds and an interval entirely on one side of the threshold; otherwise "
          "the verdict is inconclusive. Intervals are 95% Student-t intervals over seeds (exact quantiles), "
          "truncated to the range the quantity can take.", "",
          f"Backend: `{man['backend']}`"
          + (" (members as Ray Tune PBT trials)" if man.get("executor") == "ray" else "")
          + f"; numbers: {basis}. Control: same scenario with "
          f"`{json.dumps(scn['control']['set'])}` ({man['control_label']}).", ""]
    L += _sequential_section(run_dir)
    L += _coupling_section(run_dir)

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
        from seedbed.results.lineage import read_lineage
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

    over = man.get("overrides") or {}
    L += ["## Reproduce", "",
          f"Scenario: `{man.get('source') or scn['name']}`" + (
              "; overrides: " + ", ".join(f"`{k}={json.dumps(x)}`" for k, x in over.items()) if over
              else ", as shipped (no overrides)") + ".", "",
          "From this folder (scenario.toml is the resolved scenario, overrides applied):", "",
          "```", f"seedbed run scenario.toml --backend {man['backend']}"
          + (f" --seeds {n_seeds}" if n_seeds > 1 else "")
          + (" --executor ray" if man.get("executor") == "ray" else ""), "```", "",
          f"Code revision `{man['code_revision']}`; root seed {man['root_seed']}; "
          f"versions: {', '.join(f'{k} {x}' for k, x in sorted(man['versions'].items()))}.", ""]
    return rundir.write_text(run_dir / "report.md", "\n".join(L))


PROBES = [("behaviour/err_deploy", "first-turn error (seeding)"), ("probe/fix_rate", "true corrections"),
          ("probe/false_fix_rate", "false corrections"), ("probe/harm_rate", "harm"),
          ("probe/competence", "most likely answer right"), ("probe/rho", "measured persistence rho"),
          ("probe/discrimination", "discrimination"), ("probe/err_review", "review-turn own mistakes"),
          ("probe/share_fit_rmse", "share fit RMS error")]
# the base model must meet these to count as a faithful instrument (seedbed.backends.neural.fidelity)
FIDELITY_LIMITS = {"mae": 0.04, "discrimination": 0.6, "rho": 0.8}
# behaviours compared with the like-for-like mean-field prediction: (measured metric, label, predicted metric)
COMPARED = [("behaviour/err_deploy", "first-turn error", "behaviour/err_deploy"),
            ("behaviour/err_deploy", "first-turn error (coupled prediction)", "coupled/err_deploy"),
            ("behaviour/err_deploy", "first-turn error (trait prediction)", "traits/err_deploy"),
            ("probe/fix_rate", "true corrections (trait prediction)", "traits/fix_rate"),
            ("probe/false_fix_rate", "false corrections (trait prediction)", "traits/false_fix_rate"),
            ("probe/fix_rate", "true corrections", "probe/fix_rate"),
            ("probe/false_fix_rate", "false corrections", "probe/false_fix_rate")]
PART_TOL = 0.05          # measurement and prediction 'part' where they differ by more (and by more than the interval)


def fidelity_misses(fid: dict) -> list[str]:
    """The fidelity thresholds a base misses (empty: a faithful instrument)."""
    out = []
    if fid.get("mae") is None or fid["mae"] > FIDELITY_LIMITS["mae"]:
        out.append(f"mean absolute gap {fid.get('mae', float('nan')):.3f} > {FIDELITY_LIMITS['mae']}")
    if fid.get("discrimination") is None or fid["discrimination"] < FIDELITY_LIMITS["discrimination"]:
        out.append(f"discrimination {fid.get('discrimination', float('nan')):.3f} < {FIDELITY_LIMITS['discrimination']}")
    if fid.get("rho") is None or fid["rho"] < FIDELITY_LIMITS["rho"]:
        rho = "n/a" if fid.get("rho") is None else f"{fid['rho']:.3f}"
        out.append(f"persistence rho {rho} < {FIDELITY_LIMITS['rho']}")
    return out


def fidelity_banner(run_dir: Path) -> list[str]:
    """A loud warning for the very top of report.md when the run's base model is below fidelity
    (empty when it is faithful, or when the run has no fidelity.json)."""
    f = Path(run_dir) / "fidelity.json"
    if not f.exists():
        return []
    misses = fidelity_misses(json.loads(f.read_text()))
    if not misses:
        return []
    return [f"> **WARNING: the base model is below fidelity** ({'; '.join(misses)}). It is not a faithful "
            "mixture of its pre-training corpus, so the neural trends below measure the instrument as much as "
            "the phenomenon. See 'Instrument fidelity'.", ""]


def _fidelity_section(run_dir: Path) -> list[str]:
    """The base model's behaviour rates against its corpus's (fidelity.json), with the verdict."""
    f = run_dir / "fidelity.json"
    if not f.exists():
        return []
    fid = json.loads(f.read_text())
    misses = fidelity_misses(fid)
    L = ["## Instrument fidelity (base model)", ""]
    if misses:
        L += [f"**WARNING: BELOW FIDELITY — {'; '.join(misses)}.** The base model is not a faithful mixture of "
              "its corpus: read every neural number below as a property of this instrument, not of the "
              "training setup.", ""]
    else:
        L += ["The base model is a faithful mixture of its corpus (every threshold met).", ""]
    L += ["Exact rates (teacher forcing over every valid answer string, on every held-out question) of the base "
          "model against the corpus's exact rates (its personas, each writing whole conversations).", "",
          "| behaviour | corpus | base model | gap |", "|---|---|---|---|"]
    for name, r in fid["behaviours"].items():
        L.append(f"| {name.replace('_', ' ')} | {r['corpus']:.3f} | {r['model']:.3f} | {r['model'] - r['corpus']:+.3f} |")
    rho = "n/a" if fid["rho"] is None else f"{fid['rho']:.3f}"
    ok = lambda bad: "✗" if bad else "✓"  # noqa: E731
    worst = max(fid["behaviours"].items(), key=lambda kv: abs(kv[1]["model"] - kv[1]["corpus"]))
    L += ["", f"- mean absolute gap **{fid['mae']:.3f}** (≤ {FIDELITY_LIMITS['mae']}: "
          f"{ok(fid['mae'] > FIDELITY_LIMITS['mae'])}); the largest single gap "
          f"{worst[1]['model'] - worst[1]['corpus']:+.3f} ({worst[0].replace('_', ' ')})",
          f"- discrimination **{fid['discrimination']:.3f}** = P(changes a wrong earlier answer) − P(changes a right "
          f"one) (≥ {FIDELITY_LIMITS['discrimination']}: {ok(fid['discrimination'] < FIDELITY_LIMITS['discrimination'])})",
          f"- persistence rho **{rho}**, measured directly (1: the reviewer continues the writer, as in the corpus) "
          f"(≥ {FIDELITY_LIMITS['rho']}: {ok(fid['rho'] is None or fid['rho'] < FIDELITY_LIMITS['rho'])})", ""]
    return L


def _sequential_section(run_dir: Path) -> list[str]:
    """sequential.json (``--seeds auto``): each look's seeds, effect, interval at its boundary and
    decision. The decision is the design's; the fixed-design verdict above is for reading."""
    f = run_dir / "sequential.json"
    if not f.exists():
        return []
    s = json.loads(f.read_text())
    d = s["design"]
    L = ["## Sequential decision (seeds added look by look)", "",
         f"**{s['outcome']}** after {len(s['looks'])} of {len(d['looks'])} looks. The design was fixed before the first "
         f"look (`{s['plan']}`): seeds per arm {d['looks']}, t boundaries "
         f"{', '.join(f'{b:.3f}' for b in d['t_bounds'])} (O'Brien-Fleming alpha spending, alpha {d['alpha']}), so "
         "stopping at the first decided look keeps the error rate at alpha. The interval of the verdict above uses the "
         "fixed-design quantile and is for reading only.", "",
         "| look | seeds per arm | effect (scenario − control) | interval at the look's boundary | t boundary | decision |",
         "|---|---|---|---|---|---|"]
    for look in s["looks"]:
        lo, hi = look["interval"]
        L.append(f"| {look['look']} | {look['seeds']} | {look['effect']:+.4f} | [{lo:+.4f}, {hi:+.4f}] | "
                 f"{look['t_bound']:.3f} | {look['outcome']} |")
    return L + [""]


def _coupling_section(run_dir: Path) -> list[str]:
    """coupling.json: how far training the last turn moves the untrained first turn, and what
    it means for the verdict."""
    f = run_dir / "coupling.json"
    if not f.exists():
        return []
    c = json.loads(f.read_text())
    ci = lambda x: "n/a" if not x or x[0] is None else (  # noqa: E731
        f"{x[0]:+.3f}" + ("" if x[1] is None else f" [{x[1]:+.3f}, {x[2]:+.3f}]"))
    L = ["## Coupling: does training the corrections move the first turn?", "",
         "The pipeline trains the last turn only, so first-turn seeding can rise only as far as the network ties "
         "its first answer to the corrections it is trained on. A persona mixture does (coupling 1: more fixing "
         "means more of the persona that also errs at turn 1); a network need not. Coupling c = the measured "
         "slope of first-turn error on the fix rate / the persona mixture's slope; 95% t intervals over seeds.", ""]
    iso = c.get("isolated")
    if iso:
        L += [f"Isolated test on the base: fine-tune on {iso['set_size']} correction turns only (loss on the review "
              f"turn), steps {', '.join(map(str, iso['steps'][1:]))}; persona slope {iso['persona_slope']:+.3f}.", "",
              "| arm | seeds | fix shift (last step) | first-turn error shift | false-fix shift | coupling c | reading |",
              "|---|---|---|---|---|---|---|"]
        for a in iso["arms"]:
            last = a["rows"][-1] if a["rows"] else {}
            L.append(f"| {a['arm']} | {a['seeds']} | {ci(last.get('d_fix'))} | {ci(last.get('d_first_error'))} | "
                     f"{ci(last.get('d_false_fix'))} | {ci(a.get('coupling'))} | "
                     f"{c['reading'].get('isolated/' + a['arm'], '')} |")
        L.append("")
    elif c.get("reading", {}).get("isolated"):
        L += [f"Isolated test on the base: {c['reading']['isolated']}.", ""]
    L += ["In this run (round 0 to the last round, per seed):", "",
          "| arm | seeds | fix shift | first-turn error shift | persona's shift at that fix shift | coupling c |",
          "|---|---|---|---|---|---|"]
    for arm, d in c.get("in_pipeline", {}).items():
        L.append(f"| {arm} | {d.get('seeds', 0)} | {ci(d.get('d_fix'))} | {ci(d.get('d_first_error'))} | "
                 f"{ci(d.get('d_first_error_persona'))} | {ci(d.get('coupling'))} |")
    L += ["", "Where an arm also trains first turns directly (fresh prompts, whose answer is the last turn), its "
          "first-turn shift holds that training too: the control's fresh prompts lower first-turn error by "
          "training right answers, which the scenario's self-written prefixes do not.", ""]
    return L


def _groups(run_dir: Path, names: list[str]) -> list[list[str]]:
    """Strategies no probe can tell apart (identical err, fix, false_fix, harm), from the manifest."""
    try:
        st = json.loads((run_dir / "manifest.json").read_text())["scenario"]["strategies"]
    except (OSError, ValueError, KeyError):
        return [[n] for n in names]
    key = lambda s: tuple(float(s.get(k) or 0.0) for k in ("err", "fix", "false_fix", "harm"))  # noqa: E731
    out: dict[tuple, list[str]] = {}
    for s in st:
        out.setdefault(key(s), []).append(s["name"])
    return list(out.values())


def _mean_by_round(table, metric: str, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Rounds, mean over seeds and the 95% half-width over seeds (NaN with one seed)."""
    by_seed = series(table, metric, arm)
    if not by_seed:
        return None
    rounds = next(iter(by_seed.values()))[0]
    vals = np.stack([v for _, v in by_seed.values()])
    ci = np.array([mean_ci(vals[:, i]) for i in range(vals.shape[1])])
    return rounds, ci[:, 0], (ci[:, 2] - ci[:, 1]) / 2


def _neural_sections(table, prediction, names: list[str], seeder: str, pdir: Path, n_seeds: int) -> list[str]:
    """Probe trajectories and the measurement against the like-for-like
    mean-field prediction (behaviour by behaviour, with the round they part)."""
    run_dir = pdir.parent
    L: list[str] = []
    plots.plot_panels(table, PROBES, pdir / "probes.png", "Probes on held-out questions (scenario solid, control dashed)")
    plots.plot_prediction(table, prediction, seeder, pdir / "neural_vs_meanfield.png")
    seeding_plot = plots.plot_seeding_prediction(table, prediction, pdir / "seeding_vs_predictions.png")
    items = final_values(table, "probe/items", "scenario")
    n_items = int(items[0]) if len(items) else 0
    L += ["## Probes", "",
          f"Exact teacher-forced rates on all {n_items} held-out questions, every round (nothing sampled: no sampling "
          f"noise). Last round: mean and 95% interval over {n_seeds} seed(s); in brackets, ±1.96 standard errors over "
          "the questions (the spread of held-out items, in the first seed).", "",
          "![probes](plots/probes.png)", "",
          "| probe | scenario, last round | control, last round |", "|---|---|---|"]
    for metric, label in PROBES:
        a = final_values(table, metric, "scenario")
        c = final_values(table, metric, "control")
        if not len(a) and not len(c):
            continue
        cells = []
        for arm, v in (("scenario", a), ("control", c)):
            cell = _fmt(mean_ci(v, bounds=UNIT), n_seeds) if len(v) else "–"
            se = final_values(table, metric.replace("behaviour/", "probe/") + "_se", arm)
            if len(se) and np.isfinite(se[0]):
                cell += f" (±{1.96 * se[0]:.3f} over items)"
            cells.append(cell)
        L.append(f"| {label} | {cells[0]} | {cells[1]} |")
    groups = [g for g in _groups(run_dir, names) if len(g) > 1]
    L += ["", "Shares are the persona mixture and persistence that best explain all twelve exact rates (least squares, "
          "persistence in the model)."
          + (f" Strategies with identical rates cannot be told apart by any probe: {', '.join('+'.join(g) for g in groups)} "
             "is fitted as one group and its share split equally in the share rows." if groups else ""), ""]

    L += ["## Neural vs mean-field (like for like)", "",
          "The mean-field prediction starts from the measured round-0 shares and uses what the neural run measured: "
          "persistence rho, the effective step eta and the anchor kappa (each round's movement of the exact rates "
          "toward what it trained on; rehearsal acts as the anchor) and the review turn's own mistake rate. "
          "Predicted probe rates are those the predicted shares imply (persona model, measured rho), shifted to "
          "start at the measured round-0 value, so a gap is a difference in how the two move.", "",
          "![neural vs mean-field](plots/neural_vs_meanfield.png)", "",
          "Three predictions of the seeding rate: the **persona model** (coupling 1), the **coupled** one (the persona "
          "change of first-turn error scaled by the base's measured coupling c) and the **trait** one (each trained "
          "behaviour moves toward what was kept in its own context at the measured step; the untrained first turn "
          "follows by the isolated test's transfer slope; a share clip(c, 0, 1) of the movement goes through persona "
          "shares, so at c ≥ 1 it is the persona model). Read the trait rows where the coupling is not persona-like.", "",
          *(["![seeding rate against its predictions](plots/seeding_vs_predictions.png)", ""] if seeding_plot else []),
          "| arm | rho | eta (effective) | kappa (effective) | review-turn error | fell back to the scenario's |",
          "|---|---|---|---|---|---|"]
    for arm in ("scenario", "control"):
        vals = {}
        for f in ("prompts.rho", "update.eta", "update.kappa", "err_review"):
            v = final_values(prediction, f"prediction/{f}", arm)
            vals[f] = f"{v[0]:.3f}" if len(v) else "–"
        fb = [m.split("/")[-1] for m in ("probe/rho", "probe/eta_eff", "probe/kappa_eff", "probe/err_review")
              if len(x := final_values(prediction, f"prediction/fallback/{m}", arm)) and x[0] > 0]
        L.append(f"| {arm} | {vals['prompts.rho']} | {vals['update.eta']} | {vals['update.kappa']} | "
                 f"{vals['err_review']} | {', '.join(fb) or 'nothing'} |")
    L += ["", "| arm | behaviour | measured, last round | predicted, last round | largest gap | they part |",
          "|---|---|---|---|---|---|"]
    parted = []
    for arm in ("scenario", "control"):
        for metric, label, predicted in [(f"share/{seeder}", f"{seeder}'s share", f"share/{seeder}")] + COMPARED:
            meas, pred = _mean_by_round(table, metric, arm), _mean_by_round(prediction, predicted, arm)
            if meas is None or pred is None:
                continue
            rounds, m, half = meas
            pr = dict(zip(pred[0].tolist(), pred[1].tolist()))
            keep = np.array([r in pr for r in rounds])
            rounds, m, half = rounds[keep], m[keep], half[keep]
            if not len(rounds):
                continue
            p = np.array([pr[r] for r in rounds])
            if rounds[0] == 0:                    # anchored at the measured start (the persona fit's misfit of the base),
                p = np.clip(p - p[0] + m[0], 0.0, 1.0)   # and still a rate: never outside [0, 1]
            gap = m - p
            tol = np.maximum(PART_TOL, np.nan_to_num(half, nan=0.0))
            part = np.flatnonzero(np.abs(gap) > tol)
            where = f"from round {int(rounds[part[0]])}" if len(part) else "no (within 0.05 or the interval)"
            if len(part):
                parted.append((int(rounds[part[0]]), arm, label, float(gap[part[0]])))
            worst = int(np.argmax(np.abs(gap)))
            L.append(f"| {arm} | {label} | {m[-1]:.3f} | {p[-1]:.3f} | {gap[worst]:+.3f} (round {int(rounds[worst])}) "
                     f"| {where} |")
    if parted:
        r, arm, label, g = min(parted)
        L += ["", f"**They first part in round {r}, in {label} ({arm} arm: measured {'above' if g > 0 else 'below'} "
              f"the prediction by {abs(g):.3f}).** 'Part': the seed mean differs from the prediction by more than "
              f"{PART_TOL} and more than its 95% interval's half-width."]
    else:
        L += ["", "Measurement and prediction stay within 0.05 (or the interval over seeds) in every compared "
              "behaviour and round."]
    L.append("")
    return L + _twin_section(table)


def _twin_section(table) -> list[str]:
    """The twin test on the held-out probe questions (``neural.twin_test_every``), if it ran:
    per arm, the last tested round of the first seed, and how many (seed, round) tests fired."""
    if not len(final_values(table, "leak/twin_p", "scenario")):
        return []
    L = ["## Twin test on the probe questions", "",
         "Log-likelihood of each held-out probe question's answer minus the mean of its 5 twins (fresh questions of "
         "the same kind, in this task the pipeline's own prompt questions), nats, with the 95% t interval over the "
         "items; p: one-sided stratified permutation test (9,999 draws). A p below 0.05 means the model does better "
         "on questions it never trained on than on their twins: a leak no string guard caught "
         "(docs/howto-leaks.md).", "",
         "| arm | rounds tested | last tested round, first seed: effect [95% CI] (n items, 5 twins) | p | "
         "tests with p < 0.05 |", "|---|---|---|---|---|"]
    for arm in ("scenario", "control"):
        p = series(table, "leak/twin_p", arm)
        if not p:
            continue
        s0 = min(p)
        rounds = p[s0][0]
        last = {m: series(table, f"leak/twin_{m}", arm)[s0][1][-1] for m in ("effect", "ci_low", "ci_high", "items")}
        fired = sum(int(np.sum(v < 0.05)) for _, v in p.values())
        total = sum(len(v) for _, v in p.values())
        L.append(f"| {arm} | {', '.join(str(int(r)) for r in rounds)} | round {int(rounds[-1])}: "
                 f"{last['effect']:+.3f} [{last['ci_low']:+.3f}, {last['ci_high']:+.3f}] (n = {int(last['items'])}) | "
                 f"{p[s0][1][-1]:.3g} | {fired}/{total} ({len(p)} seed(s)) |")
    return L + [""]


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
