"""Verdicts: does this setup select for seeding, compared with its control?

The control is the same scenario with the thing under test switched off (by default the
outer loop: every prompt from the fixed human pool). The verdict compares the seeder's
final share between the two arms, seed by seed, with a 95% interval over seeds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from .config import Scenario
from .metrics import final_values, mean_ci

MARGIN = 0.02  # smallest share difference called an effect


@dataclass
class Verdict:
    seeder: str
    control_label: str
    n_seeds: int
    exact: bool
    initial: float
    scenario_final: tuple[float, float, float]   # mean, lo, hi
    control_final: tuple[float, float, float]
    effect: tuple[float, float, float]           # scenario − control, paired by seed
    seeding_effect: tuple[float, float, float]   # first-turn error rate, scenario − control
    selects: bool
    behaviour: str = "seeding"

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def headline(self) -> str:
        verb = f"SELECTS for {self.behaviour}" if self.selects else f"does not select for {self.behaviour}"
        return f"This setup {verb}: {self.seeder}'s final share {_fmt(self.scenario_final, self.exact)} vs " \
               f"{_fmt(self.control_final, self.exact)} in the control ({self.control_label})."

    @property
    def detail(self) -> str:
        basis = ("exact expectation (mean-field), no sampling noise; interval has zero width"
                 if self.exact else f"{self.n_seeds} seeds, 95% t-interval over seeds")
        return (f"Difference {_fmt(self.effect, self.exact)} ({basis}); the first-turn error rate "
                f"(seeding) differs by {_fmt(self.seeding_effect, self.exact)}. "
                f"'Selects' means the difference's lower bound exceeds {MARGIN}.")


def _fmt(t: tuple[float, float, float], exact: bool) -> str:
    m, lo, hi = t
    return f"{m:.3f}" if exact else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def judge_verdict(scn: Scenario, control: Scenario, table: pa.Table, exact: bool) -> Verdict:
    seeder = scn.seeder
    metric = f"share/{seeder}"
    a, b = final_values(table, metric, "scenario"), final_values(table, metric, "control")
    ea, eb = final_values(table, "behaviour/err_train", "scenario"), final_values(table, "behaviour/err_train", "control")
    n = min(len(a), len(b))
    effect = mean_ci(a[:n] - b[:n])
    return Verdict(
        seeder=seeder, control_label=scn.control.label, n_seeds=n, exact=exact,
        initial=float(scn.shares[scn.names.index(seeder)]),
        scenario_final=_clip01(mean_ci(a)), control_final=_clip01(mean_ci(b)), effect=effect,
        seeding_effect=mean_ci(ea[:n] - eb[:n]) if len(ea) and len(eb) else (np.nan,) * 3,
        selects=bool(effect[1] > MARGIN), behaviour=scn.behaviour,
    )


def _clip01(t: tuple[float, float, float]) -> tuple[float, float, float]:
    """A share's interval cannot leave [0, 1]."""
    return t[0], max(0.0, t[1]), min(1.0, t[2])
