"""coupling.json of a neural run: the isolated coupling test of its base, the coupling inside
each arm, and what the numbers mean for the verdict.

The measurements are :mod:`seedbed.backends.neural.coupling`'s; this module puts them side by
side and reads them. The reading is about the one route by which a pipeline that trains
only the last turn can raise first-turn seeding: training corrections moves the untrained
first turn (coupling c > 0). With c ≤ 0 selection for fixers cannot raise seeding through
the trained turn, whatever the mean-field model (which assumes c = 1) predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PERSONA_LIKE = 0.5      # a coupling whose interval lies above this counts as persona-like
NOT_MEASURED = ("not measured for this base: a chat model's isolated test is long on a CPU, so a run only reads it; "
                "`seedbed coupling SCENARIO --set neural.model=FOLDER` measures it once, and later runs on that "
                "base report it")


def reading(c: list[float | None] | None, d_fix: list[float | None] | None = None) -> str:
    """One sentence on a coupling estimate [mean, lo, hi], given the trained shift of the fix
    rate [mean, lo, hi] it was measured along (a coupling is a slope: its sign reads
    differently when the training did not raise fixing)."""
    if not c or c[0] is None:
        return "not measured"
    m, lo, hi = (np.nan if x is None else x for x in c)
    if d_fix and d_fix[0] is not None and d_fix[0] <= 0:
        return (f"the training did not raise fixing where it is measured (fix shift {d_fix[0]:+.3f}); the slope "
                f"(c = {m:.2f}) is not a coupling to more fixing: the trained context does not carry over to the "
                "measured one")
    if np.isfinite(hi) and hi < 0:
        return ("anti-coupled: training corrections makes the network answer the first turn *better* "
                f"(c = {m:.2f}, interval below 0) — it shares the skill, not the persona, so selection for "
                "fixers cannot raise seeding through the trained turn")
    if np.isfinite(lo) and lo > PERSONA_LIKE:
        return (f"persona-like (c = {m:.2f}, interval above {PERSONA_LIKE}): the first turn moves with the "
                "corrections as a persona mixture's would; the mean-field prediction applies")
    if np.isfinite(hi) and hi < PERSONA_LIKE:
        return (f"weak (c = {m:.2f}, interval below {PERSONA_LIKE}): the first turn follows the corrections "
                "far less than a persona mixture's; expect a smaller seeding effect than the mean-field's")
    return f"undecided (c = {m:.2f}, interval {_fmt(lo)} to {_fmt(hi)})"


def isolated_readings(iso: dict[str, Any]) -> dict[str, str]:
    """The reading of each arm of an isolated test's summary, at its last step's fix shift."""
    out = {}
    for a in iso["arms"]:
        last = a["rows"][-1] if a["rows"] else {}
        out[a["arm"]] = reading(a.get("coupling"), last.get("d_fix"))
    return out


def coupling_report(scn: Any, table: Any, root_seed: int, isolated: bool = True) -> dict[str, Any]:
    """coupling.json: ``isolated`` (the base's test, cached per base; for a chat model only where
    ``seedbed coupling`` measured it, else None with a reading that says how to measure it),
    ``in_pipeline`` per arm, and a ``reading`` of each coupling."""
    from seedbed.backends.neural.coupling import cached_isolated, in_pipeline

    iso = cached_isolated(scn, root_seed) if isolated else None
    arms = {arm: in_pipeline(scn, table, arm) for arm in ("scenario", "control")}
    out: dict[str, Any] = {"isolated": iso, "in_pipeline": arms, "persona_like_above": PERSONA_LIKE, "reading": {}}
    if iso is None and isolated:
        out["reading"]["isolated"] = NOT_MEASURED
    if iso is not None:
        for arm, text in isolated_readings(iso).items():
            out["reading"][f"isolated/{arm}"] = text
    for arm, d in arms.items():
        out["reading"][f"in_pipeline/{arm}"] = reading(d.get("coupling"), d.get("d_fix"))
    return out


def isolated_arm(scn: Any) -> str:
    """The isolated test's arm that matches a run: rehearsal when it rehearses
    (``neural.replay`` + ``update.kappa`` > 0), the instruction when it inoculates."""
    rehearse = scn.neural.replay + scn.update.kappa > 0
    inoculate = bool(scn.neural.inoculation)
    return {(False, False): "plain", (True, False): "rehearsal", (False, True): "inoculation",
            (True, True): "rehearsal+inoculation"}[(rehearse, inoculate)]


def run_coupling(scn: Any, report: dict[str, Any], key: str = "coupling") -> float | None:
    """The coupling c of the isolated arm that matches the run (None when not measured);
    ``key="slope"``: its measured transfer slope d(first error)/d(fix) instead."""
    iso = report.get("isolated")
    if not iso:
        return None
    arm = next((a for a in iso["arms"] if a["arm"] == isolated_arm(scn)), None)
    c = None if arm is None else (arm.get(key) or [None])[0]
    return None if c is None else float(c)


def _fmt(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2f}"
