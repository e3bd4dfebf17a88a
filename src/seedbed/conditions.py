"""Under which conditions does the effect hold? One-at-a-time mean-field variations.

For each variation of the scenario (the self-written fraction phi, the correction bonus,
persona persistence rho, the selection rule) both arms are recomputed exactly and the
seeder's final share is recorded. Stored as tidy data (conditions.parquet) that the
report reads; computing it takes milliseconds on the mean-field backend.
"""

from __future__ import annotations

import pyarrow as pa

from .config import Scenario, ScenarioError
from .meanfield import MeanField, MFParams
from .verdict import MARGIN

RULES = ("threshold", "best_of_n", "top_fraction", "reward_weighted", "critique_revision")


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
    for rule in RULES:
        out.append(("selection.rule", rule, {"selection.rule": rule}))
    return out


def final_share(scn: Scenario, name: str) -> float:
    """The strategy's final share on the mean-field backend (population mean for populations)."""
    if scn.population.members == 1:
        traj = MeanField(MFParams.from_scenario(scn)).run(scn.rounds, keep_trajectory=False)
        return float(traj.shares[-1, 0, scn.names.index(name)])
    from .backends import run_meanfield
    from .metrics import Rows, final_values

    rows = Rows()
    run_meanfield(scn, "scenario", scn.seed, rows)
    return float(final_values(rows.table(), f"share/{name}")[0])


def condition_table(scn: Scenario) -> pa.Table:
    """Seeder's final share in each variation and in its control, and whether it selects."""
    seeder = scn.seeder
    cols: dict[str, list] = {"factor": [], "value": [], "is_base": [], "scenario_final": [],
                             "control_final": [], "effect": [], "selects": []}
    for factor, shown, over in variations(scn):
        try:
            var = scn.with_overrides(over)
            ctl = var.control_scenario()
        except ScenarioError:
            continue
        a, c = final_share(var, seeder), final_share(ctl, seeder)
        section, field = factor.split(".")
        cols["factor"].append(factor)
        cols["value"].append(shown)
        cols["is_base"].append(str(getattr(getattr(scn, section), field)) == str(getattr(getattr(var, section), field)))
        cols["scenario_final"].append(a)
        cols["control_final"].append(c)
        cols["effect"].append(a - c)
        cols["selects"].append(bool(a - c > MARGIN))
    return pa.table(cols)


def summarise(table: pa.Table) -> list[str]:
    """Plain sentences: for each factor, the values at which the effect holds."""
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
