"""The mean-field prediction for a neural run, like for like: the same strategies and judge,
run exactly from what the neural run measured rather than from the scenario's settings.

From the measured table (each arm's own values, averaged over seeds):

* the start: the shares the probes measured at round 0 (``share/<name>``);
* persona persistence: ``probe/rho`` (measured directly; mean over rounds) → ``prompts.rho``;
* the step: ``probe/eta_eff`` and the anchor ``probe/kappa_eff`` (each round's measured
  movement toward what it trained on, rehearsal as an anchor; mean over rounds) →
  ``update.eta`` and ``update.kappa``, anchored at the measured start;
* the review turn's own mistakes: ``probe/err_review`` (mean over rounds) →
  ``strategies.*.err_review`` (the corpus's review turns never err; the scenario's
  default, err_review = err, would make a seeder's corrections fail half the time).

A value that was never measured (older runs, or a NaN every round) falls back to the
scenario's own and is listed in the table's ``prediction/fallback`` rows (1 = fell back).

Besides the mean-field's own rows, the prediction holds the probe rates its shares imply
(``probe/fix_rate``, ``probe/false_fix_rate``, ``behaviour/err_deploy``, ...: the persona
model of :mod:`seedbed.backends.neural.fidelity` at the predicted shares and the measured rho), so
the report can say in which behaviour and from which round measurement and prediction part.

**When traits decouple** (``coupled/err_deploy``): the persona model ties first-turn error to
the corrections (coupling 1). A network need not (:mod:`seedbed.analyses.coupling` measures
the coupling c on the run's base). The coupled prediction of the seeding rate splits the
persona model's change of first-turn error by what was trained: the share of prompts with no
earlier turn, f = (1 − phi)(1 − m0 − c0), trains first turns directly and moves them as
predicted; the rest trains review turns, which move the first turn by c times the persona
change:

    err_c(t) = clip(err(0) + [f + (1 − f) c] · (err_p(t) − err_p(0)), 0, 1)

At c = 1 it is the persona model's prediction exactly. The persona model stays the default
reading; the coupled row is the one to read where the run's coupling is not persona-like.

**Trait by trait** (``traits/*``, :mod:`seedbed.analyses.traits`): where a coupling is far
from persona-like the persona shares also give the wrong time course (without rehearsal the
network moves each trained behaviour toward what was kept in its context within a few
rounds). The trait prediction moves each behaviour toward its own kept target at the
measured step and the untrained first turn by the isolated test's transfer slope; at full
coupling it is the persona model's trajectory from the measured start.

Computed when a neural run finishes and stored as its own table (prediction.parquet, the
tidy schema of metrics.parquet with arms 'scenario' and 'control').
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seedbed.results.metrics import Rows, series
from seedbed.backends.runner import RunPlan, run_repetition

# the measured value → the scenario field it sets, and which rounds it is averaged over
MEASURED = {"probe/rho": "prompts.rho", "probe/eta_eff": "update.eta", "probe/kappa_eff": "update.kappa",
            "probe/err_review": "err_review"}
# probe rates the prediction carries (metric → behaviour of seedbed.backends.neural.fidelity)
IMPLIED = {"behaviour/err_deploy": "first_error", "probe/fix_rate": "fix_after_mistake",
           "probe/false_fix_rate": "false_fix_after_clean", "probe/keep_after_mistake": "keep_after_mistake"}


def measured_mean(measured: pa.Table, metric: str, arm: str, first_round: int = 1) -> float:
    """Mean over seeds and rounds ≥ ``first_round`` of a measured metric (NaN rounds left out;
    NaN when none is finite)."""
    vals = [v[r >= first_round] for r, v in series(measured, metric, arm).values()]
    x = np.concatenate(vals) if vals else np.zeros(0)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def prediction_settings(scn, measured: pa.Table, arm: str) -> tuple[dict, dict[str, bool]]:
    """The overrides that make the mean-field run like the measured neural one, and which
    measured values were missing (the scenario's own value stands in)."""
    start = np.array([np.mean([v[0] for _, v in series(measured, f"share/{n}", arm).values()]) for n in scn.names])
    over: dict = {f"strategies.{n}.share": float(x) for n, x in zip(scn.names, start / start.sum())}
    fallback = {}
    for metric, field in MEASURED.items():
        first = 0 if metric == "probe/rho" else 1
        v = measured_mean(measured, metric, arm, first)
        fallback[metric] = not np.isfinite(v)
        if not np.isfinite(v):
            continue
        v = float(np.clip(v, 0.0, 1.0))
        if field == "err_review":
            over.update({f"strategies.{n}.err_review": v for n in scn.names})
        else:
            over[field] = v
    if over.get("update.eta", 1.0) <= 0:              # a run that never moved: the mean-field needs eta > 0
        over["update.eta"] = 1e-6
    return over, fallback


def direct_share(scn) -> float:
    """The share of a round's prompts with no earlier turn (their answer, the first turn, is trained)."""
    p = scn.prompts
    return float((1 - p.phi) * (1 - p.m0 - p.c0))


def coupled(err_persona: np.ndarray, err0: float, direct: float, c: float) -> np.ndarray:
    """The seeding rate when the untrained first turn follows review training by c (module docstring)."""
    e = np.asarray(err_persona, float)
    return np.clip(err0 + (direct + (1 - direct) * c) * (e - e[0]), 0.0, 1.0)


PerArm = float | dict[str, float | None] | None


def meanfield_prediction(plan: RunPlan, measured: pa.Table, coupling: PerArm = None, slope: PerArm = None) -> pa.Table:
    """Tidy rows of the like-for-like mean-field prediction for both arms of a neural run;
    with ``coupling`` (the base's measured c) also the coupled seeding rate, and the trait
    prediction (``slope``: the isolated test's d(first error)/d(fix); one-turn episodes).
    Each of the two is one value for both arms or a value per arm (``{"scenario": .., "control": ..}``:
    an arm is matched to the isolated test of its own settings)."""
    tables = []
    for arm, scn in plan.arms:
        c_arm, s_arm = _of_arm(coupling, arm), _of_arm(slope, arm)
        over, fallback = prediction_settings(scn, measured, arm)
        over.update({"rounds": plan.rounds, "population.members": 1})
        pred = scn.with_overrides(over)
        t = run_repetition(pred, "meanfield", 0, arm)
        keep = [m.startswith("share/") or m == "behaviour/err_train" for m in t["metric"].to_pylist()]
        tables.append(t.filter(pa.array(keep)))
        implied = _implied(pred, t, arm, fallback)
        tables.append(implied)
        if np.isfinite(c_arm):
            tables.append(_coupled(scn, implied, measured, arm, c_arm))
        # the trait prediction needs the coupling, and below 0 also the slope it transfers by
        if scn.prompts.turns == 1 and np.isfinite(c_arm) and (c_arm >= 0 or np.isfinite(s_arm)):
            tables.append(_traits(pred, measured, arm, c_arm, s_arm))
    return pa.concat_tables(tables)


def _of_arm(x: PerArm, arm: str) -> float:
    """An arm's value of a one-or-per-arm argument (NaN when missing)."""
    v = x.get(arm) if isinstance(x, dict) else x
    return float("nan") if v is None else float(v)


# trait of seedbed.analyses.traits → (measured start metric, predicted metric, persona-model behaviour)
TRAIT_METRICS = {"err": ("behaviour/err_deploy", "traits/err_deploy", "first_error"),
                 "fix": ("probe/fix_rate", "traits/fix_rate", "fix_after_mistake"),
                 "false_fix": ("probe/false_fix_rate", "traits/false_fix_rate", "false_fix_after_clean"),
                 "harm": ("probe/harm_rate", "traits/harm_rate", "first_harm")}


def _traits(pred, measured: pa.Table, arm: str, c: float, slope: float) -> pa.Table:
    """``traits/*`` per round (:mod:`seedbed.analyses.traits`) from the arm's measured round-0
    rates, with lambda (the persona part's share) at round 0. ``pred``: the like-for-like
    scenario (measured step, anchor, rho, review-turn error)."""
    from seedbed.analyses.traits import TRAITS, combine, persona_share, trait_path
    from seedbed.backends.meanfield.params import MFParams
    from seedbed.backends.neural.fidelity import INDEX, mixture_rates, persona_params

    start = []
    for name in TRAITS:
        v = [x[0] for r, x in series(measured, TRAIT_METRICS[name][0], arm).values() if r[0] == 0 and np.isfinite(x[0])]
        start.append(float(np.mean(v)) if v else float("nan"))
    start = np.array(start)
    rows = Rows()
    if not np.all(np.isfinite(start)):
        return rows.table()
    rounds, eta, kappa = pred.rounds, pred.update.eta, pred.update.kappa
    lam = persona_share(c)
    idx = [INDEX[TRAIT_METRICS[n][2]] for n in TRAITS]
    if lam > 0:                                    # the persona part: the persona model at step lambda * eta
        t = run_repetition(pred.with_overrides({"update.eta": lam * eta}), "meanfield", 0, arm)
        S = np.stack([next(iter(series(t, f"share/{n}", arm).values()))[1] for n in pred.names], 1)
        persona = np.array([mixture_rates(persona_params(pred), s, pred.prompts.rho)[idx] for s in S])
    else:
        persona = np.zeros((rounds + 1, len(TRAITS)))
    # the review turn's own error: measured (every strategy carries it), else the start's mixture of the personas'
    err_review = float(np.dot(pred.shares, [s.review_err for s in pred.strategies]))
    path = trait_path(MFParams.from_scenario(pred), start, rounds, eta, kappa, err_review, c, slope,
                      persona=persona - persona[:1])
    both = combine(start, persona, path)
    r = np.arange(rounds + 1, dtype=float)
    for i, name in enumerate(TRAITS):
        rows.add(arm, 0, r, 0, TRAIT_METRICS[name][1], both[:, i])
    rows.add(arm, 0, np.zeros(1), 0, "prediction/traits_lambda", np.array([lam]))
    return rows.table()


def _coupled(scn, implied: pa.Table, measured: pa.Table, arm: str, c: float) -> pa.Table:
    """``coupled/err_deploy`` per round, anchored at the measured round-0 seeding rate, and
    the coupling it used (``prediction/coupling``, round 0)."""
    rows = Rows()
    (seed, (rounds, err_p)), = series(implied, "behaviour/err_deploy", arm).items()
    start = [v[0] for r, v in series(measured, "behaviour/err_deploy", arm).values() if r[0] == 0]
    err0 = float(np.mean(start)) if start else float(err_p[0])
    rows.add(arm, seed, rounds, 0, "coupled/err_deploy", coupled(err_p, err0, direct_share(scn), c))
    rows.add(arm, seed, np.zeros(1), 0, "prediction/coupling", np.array([c]))
    return rows.table()


def _implied(pred, t: pa.Table, arm: str, fallback: dict[str, bool]) -> pa.Table:
    """The probe rates the predicted shares imply (persona model, measured rho), every round,
    and the settings it used (``prediction/<field>``) and its fallbacks, at round 0."""
    from seedbed.backends.neural.fidelity import INDEX, mixture_rates, persona_params

    params = persona_params(pred)
    rows = Rows()
    per_seed = [series(t, f"share/{n}", arm) for n in pred.names]
    seed = next(iter(per_seed[0]))
    rounds = per_seed[0][seed][0]
    S = np.stack([p[seed][1] for p in per_seed], 1)
    rates = np.array([mixture_rates(params, s, pred.prompts.rho) for s in S])
    for metric, name in IMPLIED.items():
        rows.add(arm, seed, rounds, 0, metric, rates[:, INDEX[name]])
    r0 = np.zeros(1)
    settings = {"prompts.rho": pred.prompts.rho, "update.eta": pred.update.eta, "update.kappa": pred.update.kappa,
                "err_review": pred.strategies[0].review_err}
    for field, v in settings.items():
        rows.add(arm, seed, r0, 0, f"prediction/{field}", np.array([v]))
    for metric, missing in fallback.items():
        rows.add(arm, seed, r0, 0, f"prediction/fallback/{metric}", np.array([float(missing)]))
    return rows.table()
