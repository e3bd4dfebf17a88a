"""Verdicts: does this setup select for seeding, compared with its control?

The control is the same scenario with the thing under test switched off (by default the
outer loop: every prompt from the fixed human pool). The verdict compares the seeder's
final share between the two arms, paired seed by seed, and is three-way:

* **selects** — the effect (scenario − control) exceeds ``MARGIN``: for an exact
  (mean-field) run its value does; for a sampled run the lower end of its 95% interval
  over at least ``MIN_SEEDS`` seeds does;
* **does not select** — the effect (or the upper end of its interval) is at most MARGIN;
* **inconclusive** — a sampled run with fewer than MIN_SEEDS seeds, or an interval that
  straddles MARGIN: the data cannot tell.

MARGIN = 0.02 is the smallest difference in the seeder's final share that is called an
effect: two points of share, below what matters for a policy's behaviour, and above the
exact model's rounding and the sampling noise of a converged run.

**On a neural run the verdict is on the behaviour**: the compared quantity is the seeding
rate itself — the deployment first-turn error on the held-out probes, exact (teacher-forced)
— not the persona share, which is only an estimate from a persona fit. The seeder's share
stands beside it, and is flagged when the fit's RMS error in the last round exceeds
``SHARE_FIT_LIMIT`` (the network then does not look like a persona mixture, so its "share"
is not a reading of anything).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from seedbed.core.config import Scenario
from seedbed.results.metrics import SIGNED_UNIT, UNIT, final_values, fmt_ci, mean_ci

MARGIN = 0.02      # smallest share difference called an effect
MIN_SEEDS = 3      # fewest seeds a sampled run needs for a verdict
SHARE_FIT_LIMIT = 0.05   # share-fit RMS error above which a neural run's persona shares are flagged
SEEDING = "behaviour/err_deploy"   # the seeding rate a neural verdict compares (deployment first-turn error)
SELECTS, NOT_SELECTS, INCONCLUSIVE = "selects", "does not select", "inconclusive"


@dataclass
class Verdict:
    seeder: str
    control_label: str
    n_seeds: int
    exact: bool
    initial: float
    scenario_final: tuple[float, float, float]   # mean, lo, hi (lo, hi NaN without an interval)
    control_final: tuple[float, float, float]
    effect: tuple[float, float, float]           # scenario − control, paired by seed
    seeding_effect: tuple[float, float, float]   # first-turn error rate, scenario − control
    outcome: str                                 # selects | does not select | inconclusive
    reason: str                                  # why, in one sentence
    behaviour: str = "seeding"
    margin: float = MARGIN
    primary: str = "share"                       # share | seeding (the quantity the outcome is decided on)
    share_fit_rmse: float | None = None          # neural: last round's share-fit RMS error (mean over arms, seeds)

    @property
    def selects(self) -> bool:
        return self.outcome == SELECTS

    def as_dict(self) -> dict:
        d = asdict(self)
        if self.primary == "share":                # the share verdict's record, as it always was
            d.pop("primary")
            d.pop("share_fit_rmse")
        d["selects"] = self.selects
        return d

    @property
    def share_flagged(self) -> bool:
        return self.share_fit_rmse is not None and self.share_fit_rmse > SHARE_FIT_LIMIT

    @property
    def headline(self) -> str:
        verb = {SELECTS: f"SELECTS for {self.behaviour}", NOT_SELECTS: f"does not select for {self.behaviour}",
                INCONCLUSIVE: f"is INCONCLUSIVE about {self.behaviour}"}[self.outcome]
        n = self._n
        if self.primary == "seeding":
            return (f"This setup {verb}: first-turn error (the seeding rate) {fmt_ci(self.scenario_final, n)} vs "
                    f"{fmt_ci(self.control_final, n)} in the control ({self.control_label}).")
        return (f"This setup {verb}: {self.seeder}'s final share {fmt_ci(self.scenario_final, n)} vs "
                f"{fmt_ci(self.control_final, n)} in the control ({self.control_label}).")

    @property
    def detail(self) -> str:
        n = self._n
        basis = ("exact expectation (mean-field), no sampling noise" if self.exact
                 else f"paired over {self.n_seeds} seed(s), 95% Student-t interval truncated to [-1, 1]")
        if self.primary == "seeding":
            flag = (f" FLAGGED: the persona fit's RMS error is {self.share_fit_rmse:.3f} > {SHARE_FIT_LIMIT}, so the "
                    "network is not a persona mixture there and its share is no reading of one"
                    if self.share_flagged else "")
            return (f"Seeding-rate difference {fmt_ci(self.effect, n)} ({basis}); beside it, {self.seeder}'s "
                    f"estimated share differs by {fmt_ci(self.seeding_effect, n)}{flag}. {self.reason}")
        return (f"Difference {fmt_ci(self.effect, n)} ({basis}); the first-turn error rate (seeding) differs by "
                f"{fmt_ci(self.seeding_effect, n)}. {self.reason}")

    @property
    def _n(self) -> int:
        return 0 if self.exact else self.n_seeds


def decide(effect: tuple[float, float, float], n: int, exact: bool, margin: float = MARGIN) -> tuple[str, str]:
    """The three-way outcome and its reason, from the effect's mean and interval."""
    m, lo, hi = effect
    if exact:
        if m > margin:
            return SELECTS, f"The exact difference exceeds the threshold {margin}."
        return NOT_SELECTS, f"The exact difference is at most the threshold {margin}."
    if n < MIN_SEEDS:
        return INCONCLUSIVE, (f"Inconclusive: {n} seed(s); a sampled verdict needs at least {MIN_SEEDS} "
                              f"(run with --seeds {max(5, MIN_SEEDS)}).")
    if lo > margin:
        return SELECTS, f"The interval's lower end exceeds the threshold {margin}."
    if hi <= margin:
        return NOT_SELECTS, f"The interval's upper end is at most the threshold {margin}."
    return INCONCLUSIVE, (f"Inconclusive: the interval straddles the threshold {margin}; more seeds would "
                          "narrow it.")


def judge_verdict(scn: Scenario, control: Scenario, table: pa.Table, exact: bool,
                  primary: str = "share") -> Verdict:
    """The verdict from a run's tidy rows. ``primary = "share"`` decides on the seeder's final
    share (the first-turn error beside it); ``"seeding"`` (neural runs) on the deployment
    first-turn error, with the share beside it (``seeding_effect`` then holds the share's
    difference) and the persona fit's last-round RMS error."""
    seeder = scn.seeder
    share, seeding = f"share/{seeder}", (SEEDING if primary == "seeding" else "behaviour/err_train")
    main, beside = (share, seeding) if primary == "share" else (seeding, share)
    a, b = final_values(table, main, "scenario"), final_values(table, main, "control")
    ea, eb = final_values(table, beside, "scenario"), final_values(table, beside, "control")
    n = min(len(a), len(b))
    effect = mean_ci(a[:n] - b[:n], bounds=SIGNED_UNIT)
    outcome, reason = decide(effect, n, exact)
    rmse = None
    if primary == "seeding":
        fits = np.concatenate([final_values(table, "probe/share_fit_rmse", arm) for arm in ("scenario", "control")])
        rmse = float(np.nanmean(fits)) if len(fits) and np.isfinite(fits).any() else None
    return Verdict(
        seeder=seeder, control_label=scn.control.label, n_seeds=n, exact=exact,
        initial=float(scn.shares[scn.names.index(seeder)]),
        scenario_final=mean_ci(a, bounds=UNIT), control_final=mean_ci(b, bounds=UNIT), effect=effect,
        seeding_effect=mean_ci(ea[:n] - eb[:n], bounds=SIGNED_UNIT) if len(ea) and len(eb) else (np.nan,) * 3,
        outcome=outcome, reason=reason, behaviour=scn.behaviour, primary=primary, share_fit_rmse=rmse,
    )
