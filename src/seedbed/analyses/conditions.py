"""Under which conditions does the effect hold? One-at-a-time mean-field variations.

For each variation of the scenario (the self-written fraction phi, the correction bonus,
persona persistence rho, every registered selection rule) both arms are recomputed
exactly and the seeder's final share is recorded, with the number of stable end states
of the variation's map and the share of starting mixtures each attracts: where there is
more than one, the verdict holds for the scenario's start, not for every start. Computed when a run is written and
stored as tidy data (conditions.parquet) that the report reads; it takes milliseconds.
"""

from __future__ import annotations

import pyarrow as pa

from seedbed.core.config import Scenario, ScenarioError
from seedbed.results.metrics import final_values
from seedbed.backends.runner import final_many, run_repetition
from seedbed.stages.selection import RULES
from seedbed.results.verdict import MARGIN


def variations(scn: Scenario) -> list[tuple[str, str, dict]]:
    """(factor, shown value, overrides) for each one-at-a-time variation."""
    out: list[tuple[str, str, dict]] = []
    for phi in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(("prompts.phi", f"{phi:g}", {"prompts.phi": phi}))
    b = scn.judge.bonus or scn.judge.base
    for mult in (0.0, 0.5, 1.0, 2.0):
        out.append(("judge.bonus", f"{mult * b:g}", {"judge.bonus": mult * b}))
    for rho in (0.0, 0.25, 0.5):
        out.append(("prompts.rho", f"{rho:g}", {"prompts.rho": rho}))
    for rule in RULES.names():
        out.append(("selection.rule", rule, {"selection.rule": rule}))
    return out


def condition_table(scn: Scenario) -> pa.Table:
    """Seeder's final share in each variation and in its control, whether it selects, and how
    many stable end states the variation's map has (with their basin shares)."""
    seeder = scn.seeder
    cols: dict[str, list] = {"factor": [], "value": [], "is_base": [], "scenario_final": [],
                             "control_final": [], "effect": [], "selects": [], "stable_states": [], "basins": []}
    rows = []
    for factor, shown, over in variations(scn):
        try:
            var = scn.with_overrides(over)
            rows.append((factor, shown, var, var.control_scenario()))
        except ScenarioError:
            continue
    finals = _finals([s for _, _, var, ctl in rows for s in (var, ctl)], seeder)
    for i, (factor, shown, var, ctl) in enumerate(rows):
        a, c = finals[2 * i], finals[2 * i + 1]
        if a is None or c is None:                # a registered rule with no exact (mean-field) form
            continue
        section, field = factor.split(".")
        cols["factor"].append(factor)
        cols["value"].append(shown)
        cols["is_base"].append(str(getattr(getattr(scn, section), field)) == str(getattr(getattr(var, section), field)))
        cols["scenario_final"].append(a)
        cols["control_final"].append(c)
        cols["effect"].append(a - c)
        cols["selects"].append(bool(a - c > MARGIN))
        states, basins = _stable_states(var)
        cols["stable_states"].append(states)
        cols["basins"].append(basins)
    return pa.table(cols)


def _finals(scns: list[Scenario], name: str) -> list[float | None]:
    """The strategy's final share in each scenario: single policies batched into few exact
    grids, populations one run each (population mean); None where the rule has no exact form."""
    out: list[float | None] = [None] * len(scns)
    single = [i for i, s in enumerate(scns) if s.population.members == 1 and _exact_rule(s)]
    for i, res in zip(single, final_many([scns[i] for i in single])):
        out[i] = res[f"share/{name}"]
    for i, s in enumerate(scns):
        if s.population.members > 1 and _exact_rule(s):
            out[i] = float(final_values(run_repetition(s, "meanfield", s.seed), f"share/{name}")[0])
    return out


def _exact_rule(scn: Scenario) -> bool:
    from seedbed.stages.selection import Rule, get_rule
    return type(get_rule(scn.selection.rule)).exact_kept is not Rule.exact_kept


def _stable_states(scn: Scenario) -> tuple[int, str]:
    """How many stable end states the variation's mean-field map has, and the share of
    starting mixtures each attracts (e.g. "all A 47%, all B 53%"); (0, "") for populations."""
    if scn.population.members > 1:
        return 0, ""
    from seedbed.analyses.dynamics import start_dependence

    d = start_dependence(scn, samples=BASIN_SAMPLES, starts=2, max_rounds=1000)
    parts = []
    for b in d["basins"]:
        state = b["state"]
        label = "no stable state" if state is None else _state_label(state)
        parts.append(f"{label} {b['share']:.0%}" + (" (start)" if b["contains_start"] else ""))
    return d["stable_states"], ", ".join(parts)


def _state_label(state: dict[str, float]) -> str:
    top = [n for n, x in state.items() if x > 0.999]
    return f"all {top[0]}" if top else ", ".join(f"{n} {x:.2f}" for n, x in state.items() if x > 0.005)


BASIN_SAMPLES = 32      # starting mixtures per variation: a quick census, `seedbed analyze` for more
